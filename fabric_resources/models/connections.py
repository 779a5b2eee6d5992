"""Connections (GET /connections): what a pipeline's `externalReferences.connection` points at."""

from __future__ import annotations

from fabric_resources.models.common import FabricModel

__all__ = ["Connection", "ConnectionDetails"]


class ConnectionDetails(FabricModel):
    type: str
    path: str | None = None


class Connection(FabricModel):
    id: str
    display_name: str | None = None
    connectivity_type: str
    connection_details: ConnectionDetails
    gateway_id: str | None = None
    privacy_level: str | None = None

    @property
    def type(self) -> str:
        """The connection type (``SQL``, ``Web``, ...), as `connectionDetails.type` names it."""
        return self.connection_details.type
