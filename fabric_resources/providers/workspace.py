"""Workspace: a Fabric workspace, optionally assigned to a capacity."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, UpdateResult
from pydantic import BaseModel, ConfigDict, Field

from fabric_resources.errors import AlreadyExistsError, FabricError
from fabric_resources.models.common import Guid
from fabric_resources.providers._base import (
    FabricProvider,
    FabricProviderError,
    allow_not_found,
    describe_error,
    optional_text,
    translate_errors,
)

__all__ = ["Workspace", "WorkspaceArgs", "WorkspaceProvider"]

class WorkspaceArgs(BaseModel):
    """Inputs of a Workspace (validated by `check`, before any API call)."""

    model_config = ConfigDict(extra="forbid")

    display_name: Annotated[str, Field(min_length=1, max_length=256)]
    description: Annotated[str, Field(max_length=4000)] | None = None
    capacity_id: Guid | None = None
    adopt_existing: bool = False


class WorkspaceProvider(FabricProvider):
    kind = "Workspace"
    inputs_model = WorkspaceArgs
    compared = ("display_name", "description", "capacity_id")
    normalizers: ClassVar[dict[str, Any]] = {"description": optional_text, "capacity_id": optional_text}

    @staticmethod
    def _outputs(ws: Any, adopt_existing: Any) -> dict[str, Any]:
        return {
            "display_name": ws.display_name,
            "description": optional_text(ws.description),
            "capacity_id": optional_text(ws.capacity_id),
            "adopt_existing": bool(adopt_existing),
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = self.client
        name = props["display_name"]
        description = optional_text(props.get("description"))
        capacity_id = optional_text(props.get("capacity_id"))
        try:
            ws = client.workspaces.create(name, description=description, capacity_id=capacity_id)
        except AlreadyExistsError as exc:
            if not props.get("adopt_existing"):
                raise FabricProviderError(
                    f"a workspace named '{name}' already exists ({describe_error(exc)}); set "
                    "adopt_existing=True to take it over, or choose another display_name"
                ) from None
            with translate_errors(f"adopting workspace '{name}'"):
                found = client.workspaces.find(name)
            if found is None:
                raise FabricProviderError(
                    f"workspace '{name}' is reported as taken but is not visible to this principal; "
                    "it must be shared with the deployer before it can be adopted"
                ) from None
            ws = self._converge(found.id, found, description, capacity_id, name)
        except FabricError as exc:
            raise FabricProviderError(f"creating workspace '{name}' failed: {describe_error(exc)}") from None
        if capacity_id and optional_text(ws.capacity_id) != capacity_id:
            # Created by an API version that ignores capacityId on create: assign explicitly.
            with translate_errors(f"assigning workspace '{name}' to capacity {capacity_id}"):
                ws = client.workspaces.assign_to_capacity(ws.id, capacity_id, wait=True)
        return CreateResult(ws.id, self._outputs(ws, props.get("adopt_existing")))

    def _converge(
        self, ws_id: str, current: Any, description: str | None, capacity_id: str | None, name: str
    ) -> Any:
        client = self.client
        ws = current
        if optional_text(current.description) != description or current.display_name != name:
            with translate_errors(f"updating workspace '{name}'"):
                ws = client.workspaces.update(ws_id, display_name=name, description=description or "")
        if optional_text(ws.capacity_id) != capacity_id:
            ws = self._set_capacity(ws_id, capacity_id, name)
        return ws

    def _set_capacity(self, ws_id: str, capacity_id: str | None, name: str) -> Any:
        """Assign the workspace to ``capacity_id`` (None: unassign) and wait until that settles."""
        workspaces = self.client.workspaces
        with translate_errors(f"changing the capacity of workspace '{name}'"):
            if capacity_id:
                return workspaces.assign_to_capacity(ws_id, capacity_id, wait=True)
            return workspaces.unassign_from_capacity(ws_id, wait=True)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        ws = allow_not_found(f"reading workspace {id_}", lambda: self.client.workspaces.get(id_))
        if ws is None:
            return ReadResult("", {})
        outs = self._outputs(ws, props.get("adopt_existing"))
        return ReadResult(id_, outs, dict(outs))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        client = self.client
        name = news["display_name"]
        description = optional_text(news.get("description"))
        capacity_id = optional_text(news.get("capacity_id"))
        ws: Any = None
        if name != olds.get("display_name") or description != optional_text(olds.get("description")):
            with translate_errors(f"updating workspace '{name}'"):
                # "" clears a description; None would leave it untouched.
                ws = client.workspaces.update(id_, display_name=name, description=description or "")
        if capacity_id != optional_text(olds.get("capacity_id")):
            ws = self._set_capacity(id_, capacity_id, name)
        if ws is None:
            with translate_errors(f"reading workspace '{name}'"):
                ws = client.workspaces.get(id_)
        return UpdateResult(self._outputs(ws, news.get("adopt_existing")))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        allow_not_found(f"deleting workspace {id_}", lambda: self.client.workspaces.delete(id_))


_PROVIDER = WorkspaceProvider()


class Workspace(Resource, module="fabric", name="Workspace"):
    """A Fabric workspace. The resource id is the workspace id."""

    display_name: pulumi.Output[str]
    description: pulumi.Output[str | None]
    capacity_id: pulumi.Output[str | None]
    adopt_existing: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        display_name: pulumi.Input[str],
        description: pulumi.Input[str] | None = None,
        capacity_id: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        *,
        adopt_existing: bool = False,
    ) -> None:
        props = {
            "display_name": display_name,
            "description": description,
            "capacity_id": capacity_id,
            "adopt_existing": adopt_existing,
        }
        super().__init__(_PROVIDER, resource_name, props, opts)
