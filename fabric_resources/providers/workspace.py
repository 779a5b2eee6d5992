"""Workspace: a Fabric workspace, optionally assigned to a capacity."""

from __future__ import annotations

from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, UpdateResult

from fabric_resources.errors import AlreadyExistsError, FabricError
from fabric_resources.providers._base import (
    FabricProvider,
    FabricProviderError,
    InputsModel,
    allow_not_found,
    describe_error,
    optional_text,
    read_outputs,
    translate_errors,
)

__all__ = ["Workspace", "WorkspaceProvider"]


class WorkspaceProvider(FabricProvider):
    kind = "Workspace"
    inputs_model = InputsModel("WorkspaceArgs")
    compared = ("display_name", "description", "capacity_id")
    unmanaged_when_unset = ("description", "capacity_id")
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
        settled: list[Any] = []

        def find_by_name() -> Any:
            # A lost answer is settled by this lookup; what it finds is proven ours below.
            found = client.workspaces.find(name)
            if found is not None:
                settled.append(found)
            return found

        # Whether the workspace is this resource's own (made by this create or an earlier,
        # unrecorded one), so undoing a failed capacity assignment cannot delete someone's workspace.
        ours = True
        try:
            ws = client.workspaces.create(name, description=description, capacity_id=capacity_id,
                                          find=find_by_name)
            if settled and ws is settled[-1]:
                ws, ours = self._existing(ws, props, "settled by lookup")
        except AlreadyExistsError as exc:
            with translate_errors(f"looking up workspace '{name}'"):
                found = client.workspaces.find(name)
            if found is None:
                raise FabricProviderError(
                    f"a workspace named '{name}' already exists ({describe_error(exc)}) but is not visible "
                    "to this principal; choose another display_name, or have it shared with the deployer "
                    "and set adopt_existing=True"
                ) from None
            ws, ours = self._existing(found, props, describe_error(exc))
        except FabricError as exc:
            raise FabricProviderError(f"creating workspace '{name}' failed: {describe_error(exc)}") from None
        if capacity_id:
            ws = self._settle_capacity(ws, capacity_id, name, undo=ours)
        elif props.get("capacity_id") == "" and ws.capacity_id:
            # Explicitly no capacity, but the tenant put the new workspace on its default one.
            ws = self._set_capacity(ws.id, None, name)
        return CreateResult(ws.id, self._outputs(ws, props.get("adopt_existing")))

    def _settle_capacity(self, ws: Any, capacity_id: str, name: str, *, undo: bool) -> Any:
        """Finish the declared capacity assignment of a workspace not yet in the state. If it fails,
        the workspace would be left outside the state: delete it again (when it is ours) so the next
        `up` starts clean, and say so."""
        workspaces = self.client.workspaces
        try:
            if optional_text(ws.capacity_id) != capacity_id:
                # Created by an API version that ignores capacityId on create: assign explicitly.
                return workspaces.assign_to_capacity(ws.id, capacity_id, wait=True)
            return workspaces.wait_for_capacity(ws.id, capacity_id)
        except FabricError as exc:
            failure = f"assigning workspace '{name}' ({ws.id}) to capacity {capacity_id} failed: {describe_error(exc)}"
        if not undo:
            raise FabricProviderError(f"{failure}; the adopted workspace was left as it is")
        try:
            workspaces.delete(ws.id)
        except FabricError as exc:
            raise FabricProviderError(
                f"{failure}; deleting the new workspace again failed too ({describe_error(exc)}): the next "
                "`up` recognises it as this stack's own (empty, only the deployer as Admin) and resumes"
            ) from None
        raise FabricProviderError(f"{failure}; the new workspace was deleted again, so the next `up` starts clean")

    def _existing(self, ws: Any, props: dict[str, Any], reason: str) -> tuple[Any, bool]:
        """A workspace of the declared name exists and is visible: (converged workspace, ours).

        Workspaces carry no logicalId, so "ours" is what an interrupted create of this resource
        leaves and nobody else's workspace looks like: no items, no folders, and no role assignment
        but the deploying principal's Admin. Anything else is refused unless adopt_existing.
        """
        name = props["display_name"]
        with translate_errors(f"looking into workspace '{ws.display_name}' ({ws.id})"):
            why_not = self._why_not_ours(ws.id)
        settled = reason == "settled by lookup"
        if why_not is None:
            if not settled:
                pulumi.log.info(
                    f"workspace '{ws.display_name}' ({ws.id}) is empty and administered by this deployer alone: an "
                    "earlier deployment created it without recording it; taking it over"
                )
        elif not props.get("adopt_existing"):
            raise FabricProviderError(
                f"a workspace named '{name}' already exists ({reason}) and is not provably this stack's own "
                f"({why_not}); set adopt_existing=True to take it over, or choose another display_name"
            )
        converged = self._converge(ws.id, ws, props.get("description"), props.get("capacity_id"), name,
                                   capacity=False)
        return converged, why_not is None

    def _why_not_ours(self, ws_id: str) -> str | None:
        client = self.client
        items = sum(1 for _ in client.items.list(ws_id))
        if items:
            return f"it holds {items} item{'s' if items != 1 else ''}"
        if next(iter(client.folders.list(ws_id)), None) is not None:
            return "it holds folders"
        me = client.caller_object_id()
        if me is None:
            return "the deploying principal cannot be identified from its token"
        others = [a for a in client.role_assignments.list(ws_id)
                  if not (a.principal.id.lower() == me and a.role == "Admin")]
        if others:
            return f"{len(others)} role assignment{'s' if len(others) != 1 else ''} besides the deployer's Admin"
        return None

    def _converge(
        self, ws_id: str, current: Any, description: str | None, capacity_id: str | None, name: str,
        *, capacity: bool = True,
    ) -> Any:
        """Name, and description and capacity where declared (None: not managed; "": none); the
        capacity only if ``capacity`` (create settles a declared capacity itself, and can undo its
        own workspace if that fails)."""
        client = self.client
        ws = current
        new_description = description is not None and optional_text(current.description) != optional_text(description)
        if new_description or current.display_name != name:
            with translate_errors(f"updating workspace '{name}'"):
                # None leaves the description untouched; "" clears it.
                ws = client.workspaces.update(ws_id, display_name=name, description=description)
        if capacity and capacity_id is not None and optional_text(ws.capacity_id) != optional_text(capacity_id):
            ws = self._set_capacity(ws_id, optional_text(capacity_id), name)
        return ws

    def _set_capacity(self, ws_id: str, capacity_id: str | None, name: str) -> Any:
        """Assign the workspace to ``capacity_id`` (None: unassign) and wait until that settles."""
        workspaces = self.client.workspaces
        with translate_errors(f"changing the capacity of workspace '{name}'"):
            if capacity_id:
                return workspaces.assign_to_capacity(ws_id, capacity_id, wait=True)
            return workspaces.unassign_from_capacity(ws_id, wait=True)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return read_outputs(id_, f"reading workspace {id_}", lambda: self.client.workspaces.get(id_),
                            lambda ws: self._outputs(ws, props.get("adopt_existing")))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        client = self.client
        name = news["display_name"]
        # None: not managed, left as it is; "" clears the description / unassigns the capacity.
        description = news.get("description")
        capacity_id = news.get("capacity_id")
        ws: Any = None
        new_description = description is not None and optional_text(description) != optional_text(olds.get("description"))
        if name != olds.get("display_name") or new_description:
            with translate_errors(f"updating workspace '{name}'"):
                ws = client.workspaces.update(id_, display_name=name, description=description if new_description else None)
        if capacity_id is not None and optional_text(capacity_id) != optional_text(olds.get("capacity_id")):
            ws = self._set_capacity(id_, optional_text(capacity_id), name)
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
