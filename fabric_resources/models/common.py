"""Shared pieces of the Fabric API payloads.

Every model uses snake_case attributes with the API's camelCase names as aliases, accepts both
on input, and keeps unknown fields (``extra="allow"``) so that fields Fabric adds later survive a
read-modify-write round trip instead of being silently dropped.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from fabric_resources.formats import GUID_PATTERN

__all__ = [
    "ErrorRelatedResource",
    "ErrorResponse",
    "ErrorResponseDetails",
    "FabricModel",
    "Guid",
    "OperationState",
    "Principal",
]

#: A Fabric id as a pydantic type (inputs of the resources, for example).
Guid = Annotated[str, Field(pattern=GUID_PATTERN)]


class FabricModel(BaseModel):
    """Base of all API payload models."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow", defer_build=True)

    def to_api(self) -> dict[str, Any]:
        """The JSON body Fabric expects: camelCase keys, unset (None) fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ErrorRelatedResource(FabricModel):
    resource_id: str | None = None
    resource_type: str | None = None


class ErrorResponseDetails(FabricModel):
    error_code: str = ""
    message: str = ""
    related_resource: ErrorRelatedResource | None = None


class ErrorResponse(ErrorResponseDetails):
    request_id: str | None = None
    more_details: list[ErrorResponseDetails] | None = None
    is_retriable: bool | None = None


class OperationState(FabricModel):
    """State of a long-running operation (GET /operations/{id})."""

    status: str
    created_time_utc: str | None = None
    last_updated_time_utc: str | None = None
    percent_complete: int | None = None
    error: ErrorResponse | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in ("Succeeded", "Failed")


class Principal(FabricModel):
    """A user, service principal or group (``type`` says which)."""

    id: str
    type: str
    display_name: str | None = None
