"""WorkspaceRoleAssignment: one principal's role in a workspace.

Fabric keys an assignment by the principal (a principal holds at most one role per workspace), so the
resource id is the assignment id Fabric returns. Moving to another workspace or principal replaces the
assignment; a role change is an in-place update.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from fabric_resources.errors import FabricError
from fabric_resources.providers._base import (
    FabricProvider,
    FabricProviderError,
    InputsModel,
    allow_not_found,
    describe_error,
    lower_id,
    read_outputs,
    translate_errors,
)

__all__ = ["WorkspaceRoleAssignment", "WorkspaceRoleAssignmentProvider"]

ALREADY_ASSIGNED_CODES = frozenset({"PrincipalAlreadyHasWorkspaceRolePermissions"})


class WorkspaceRoleAssignmentProvider(FabricProvider):
    kind = "WorkspaceRoleAssignment"
    inputs_model = InputsModel("WorkspaceRoleAssignmentArgs")
    replace_on = ("workspace_id", "principal_id", "principal_type")
    compared = ("role",)
    normalizers: ClassVar[dict[str, Any]] = {"workspace_id": lower_id, "principal_id": lower_id}

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = self.changed_properties(olds, news)
        replaces = [name for name in changed if name in self.replace_on]
        # A principal holds one role per workspace: a replacement for the same principal in the same
        # workspace (e.g. a corrected principal_type) cannot be created while the old assignment
        # exists, so the old one goes first. Another workspace or principal keeps create-then-delete.
        same_holder = bool(replaces) and "workspace_id" not in changed and "principal_id" not in changed
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=same_holder)

    @staticmethod
    def _outputs(workspace_id: str, assignment: Any, props: dict[str, Any]) -> dict[str, Any]:
        principal = assignment.principal
        return {
            "workspace_id": workspace_id,
            "principal_id": principal.id,
            "principal_type": principal.type,
            "role": assignment.role,
            "adopt_existing": bool(props.get("adopt_existing")),
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = self.client
        ws_id = props["workspace_id"]
        principal_id = lower_id(props["principal_id"])
        role = props["role"]
        try:
            assignment = client.role_assignments.add(
                ws_id, principal_id=principal_id, principal_type=props["principal_type"], role=role
            )
        except FabricError as exc:
            if getattr(exc, "error_code", None) not in ALREADY_ASSIGNED_CODES:
                raise FabricProviderError(
                    f"granting {role} on workspace {ws_id} to {principal_id} failed: {describe_error(exc)}"
                ) from None
            assignment = self._existing(ws_id, principal_id, props, describe_error(exc))
        else:
            if not self._as_declared(assignment, props):
                # A lost answer settled by lookup found the principal holding another role: that
                # assignment was not made by this create.
                assignment = self._existing(ws_id, principal_id, props, "found after a lost answer")
        return CreateResult(assignment.id, self._outputs(ws_id, assignment, props))

    @staticmethod
    def _as_declared(assignment: Any, props: dict[str, Any]) -> bool:
        return bool(assignment.role == props["role"] and assignment.principal.type == props["principal_type"]
                    and lower_id(assignment.principal.id) == lower_id(props["principal_id"]))

    def _existing(self, ws_id: str, principal_id: str, props: dict[str, Any], reason: str) -> Any:
        """The principal already holds a role here. Ours (an earlier create of this resource whose
        answer or state write was lost) when it is exactly the declared principal, type and role in a
        workspace this deployer administers; adopted when asked; otherwise refused."""
        client = self.client
        role = props["role"]
        with translate_errors(f"looking up the role assignment of {principal_id} in workspace {ws_id}"):
            assignment = client.role_assignments.find(ws_id, principal_id)
            if assignment is None:
                raise FabricProviderError(
                    f"principal {principal_id} is reported as assigned in workspace {ws_id} "
                    "but no such assignment is listed"
                )
            ours = self._as_declared(assignment, props) and self._deployer_is_admin(ws_id)
        if ours:
            pulumi.log.info(
                f"principal {principal_id} already holds {role} in workspace {ws_id}, exactly as declared, in a "
                "workspace this deployer administers: an earlier deployment made it without recording it; "
                "taking it over"
            )
            return assignment
        if not props.get("adopt_existing"):
            raise FabricProviderError(
                f"principal {principal_id} already has a role in workspace {ws_id} ({assignment.role}, "
                f"{assignment.principal.type}; {reason}); set adopt_existing=True to manage that assignment"
            )
        if assignment.role != role:
            with translate_errors(f"adopting the role assignment of {principal_id} in workspace {ws_id}"):
                assignment = client.role_assignments.update(ws_id, assignment.id, role=role)
        return assignment

    def _deployer_is_admin(self, ws_id: str) -> bool:
        me = self.client.caller_object_id()
        return me is not None and any(
            lower_id(a.principal.id) == me and a.role == "Admin" for a in self.client.role_assignments.list(ws_id)
        )

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        ws_id = props["workspace_id"]
        return read_outputs(id_, f"reading role assignment {id_} in workspace {ws_id}",
                            lambda: self.client.role_assignments.get(ws_id, id_),
                            lambda assignment: self._outputs(ws_id, assignment, props))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        ws_id = news["workspace_id"]
        with translate_errors(f"changing role assignment {id_} in workspace {ws_id} to {news['role']}"):
            assignment = self.client.role_assignments.update(ws_id, id_, role=news["role"])
        return UpdateResult(self._outputs(ws_id, assignment, news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        ws_id = props["workspace_id"]
        allow_not_found(f"removing role assignment {id_} from workspace {ws_id}",
                        lambda: self.client.role_assignments.delete(ws_id, id_))


_PROVIDER = WorkspaceRoleAssignmentProvider()


class WorkspaceRoleAssignment(Resource, module="fabric", name="WorkspaceRoleAssignment"):
    """A principal's role (Admin | Member | Contributor | Viewer) in a workspace."""

    workspace_id: pulumi.Output[str]
    principal_id: pulumi.Output[str]
    principal_type: pulumi.Output[str]
    role: pulumi.Output[str]
    adopt_existing: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        workspace_id: pulumi.Input[str],
        principal_id: pulumi.Input[str],
        principal_type: pulumi.Input[str],
        role: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
        *,
        adopt_existing: bool = False,
    ) -> None:
        props = {
            "workspace_id": workspace_id,
            "principal_id": principal_id,
            "principal_type": principal_type,
            "role": role,
            "adopt_existing": adopt_existing,
        }
        super().__init__(_PROVIDER, resource_name, props, opts)
