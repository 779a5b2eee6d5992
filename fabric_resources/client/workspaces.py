"""Workspaces, capacity assignment and workspace role assignments."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fabric_resources.client._base import Area, create_with_recovery, given, seg
from fabric_resources.client._paging import iterate_values
from fabric_resources.client._transport import parse_retry_after
from fabric_resources.errors import DeadlineExceededError, OperationFailedError
from fabric_resources.models.workspaces import Workspace, WorkspaceRoleAssignment

__all__ = ["RoleAssignments", "Workspaces"]


class Workspaces(Area):
    def create(self, display_name: str, *, description: str | None = None,
               capacity_id: str | None = None, domain_id: str | None = None,
               find: Callable[[], Workspace | None] | None = None) -> Workspace:
        """Create a workspace (names are unique in the tenant: a lost answer is recovered by name,
        or by ``find`` when given; see ``create_with_recovery``)."""
        body: dict[str, Any] = {"displayName": display_name}
        if description is not None:
            body["description"] = description
        if capacity_id:
            body["capacityId"] = capacity_id
        if domain_id:
            body["domainId"] = domain_id

        def send() -> Workspace:
            return Workspace.model_validate(self._lro.result(self._t.request("POST", "workspaces", json=body)))

        return create_with_recovery(send, find or (lambda: self.find(display_name)),
                                    rounds=self._t.policy.max_attempts)

    def get(self, workspace_id: str) -> Workspace:
        return Workspace.model_validate(self._json("GET", f"workspaces/{seg(workspace_id)}"))

    def list(self, *, roles: Iterable[str] | None = None) -> Iterator[Workspace]:
        params = {"roles": ",".join(roles) if roles else None}
        for v in iterate_values(self._t, "workspaces", params):
            yield Workspace.model_validate(v)

    def find(self, display_name: str) -> Workspace | None:
        """The workspace with this display name (names are unique, compared case-insensitively)."""
        wanted = display_name.casefold()
        return next((w for w in self.list() if w.display_name.casefold() == wanted), None)

    def update(self, workspace_id: str, *, display_name: str | None = None,
               description: str | None = None) -> Workspace:
        body = given({"displayName": display_name, "description": description})
        if not body:
            return self.get(workspace_id)
        return Workspace.model_validate(self._json("PATCH", f"workspaces/{seg(workspace_id)}", json=body))

    def delete(self, workspace_id: str) -> None:
        self._t.request("DELETE", f"workspaces/{seg(workspace_id)}")

    # -- capacity ---------------------------------------------------------------------------------
    def assign_to_capacity(self, workspace_id: str, capacity_id: str, *, wait: bool = True,
                           timeout: float | None = None) -> Workspace:
        """Assign to a capacity; with ``wait`` poll until ``capacityAssignmentProgress`` settles."""
        # Assigning to the same capacity twice has the same effect: safe to retry.
        resp = self._t.request("POST", f"workspaces/{seg(workspace_id)}/assignToCapacity",
                               json={"capacityId": capacity_id}, idempotent=True)
        if not wait:
            return self.get(workspace_id)
        return self._wait_assignment(workspace_id, capacity_id, parse_retry_after(resp.headers.get("Retry-After")),
                                     timeout)

    def unassign_from_capacity(self, workspace_id: str, *, wait: bool = True,
                               timeout: float | None = None) -> Workspace:
        resp = self._t.request("POST", f"workspaces/{seg(workspace_id)}/unassignFromCapacity", idempotent=True)
        if not wait:
            return self.get(workspace_id)
        return self._wait_assignment(workspace_id, None, parse_retry_after(resp.headers.get("Retry-After")), timeout)

    def wait_for_capacity(self, workspace_id: str, capacity_id: str | None, *,
                          timeout: float | None = None) -> Workspace:
        """Poll until the workspace's capacity assignment has settled on ``capacity_id`` (e.g. the one
        started by a create with ``capacityId``); raises OperationFailedError when it failed."""
        return self._wait_assignment(workspace_id, capacity_id, None, timeout)

    def _wait_assignment(self, workspace_id: str, capacity_id: str | None, advised: float | None,
                         timeout: float | None) -> Workspace:
        clock, sleep = self._t.clock, self._t.sleep
        deadline = clock() + (self._client.capacity_timeout if timeout is None else timeout)
        interval = min(max(advised if advised is not None else 0.5, 0.05), self._lro.max_interval)
        while True:
            ws = self.get(workspace_id)
            progress = ws.capacity_assignment_progress
            if progress == "Failed":
                raise OperationFailedError(
                    "CapacityAssignmentFailed",
                    f"assigning workspace {workspace_id} to capacity {capacity_id or '(none)'} failed",
                    operation_id=workspace_id,
                )
            if progress != "InProgress" and (ws.capacity_id or None) == (capacity_id or None):
                return ws
            if clock() + interval > deadline:
                raise DeadlineExceededError(
                    f"workspace {workspace_id} capacity assignment still {progress or 'pending'} at the deadline"
                )
            sleep(interval)
            # Back off gently: assignments can take minutes on a busy capacity.
            interval = min(interval * 1.5, self._lro.max_interval)


class RoleAssignments(Area):
    def _base(self, workspace_id: str) -> str:
        return f"workspaces/{seg(workspace_id)}/roleAssignments"

    def add(self, workspace_id: str, *, principal_id: str, principal_type: str, role: str,
            find: Callable[[], WorkspaceRoleAssignment | None] | None = None) -> WorkspaceRoleAssignment:
        """Grant a role. A principal holds one role per workspace, so an answer that leaves the outcome
        unknown is settled by looking the principal up (or by ``find``), as creates are."""
        body = {"principal": {"id": principal_id, "type": principal_type}, "role": role}

        def send() -> WorkspaceRoleAssignment:
            return WorkspaceRoleAssignment.model_validate(self._json("POST", self._base(workspace_id), json=body))

        return create_with_recovery(send, find or (lambda: self.find(workspace_id, principal_id)),
                                    rounds=self._t.policy.max_attempts)

    def get(self, workspace_id: str, assignment_id: str) -> WorkspaceRoleAssignment:
        return WorkspaceRoleAssignment.model_validate(
            self._json("GET", f"{self._base(workspace_id)}/{seg(assignment_id)}"))

    def list(self, workspace_id: str) -> Iterator[WorkspaceRoleAssignment]:
        for v in iterate_values(self._t, self._base(workspace_id)):
            yield WorkspaceRoleAssignment.model_validate(v)

    def find(self, workspace_id: str, principal_id: str) -> WorkspaceRoleAssignment | None:
        """The principal's assignment (a principal holds at most one role per workspace); ids are
        GUIDs, compared case-insensitively."""
        wanted = principal_id.lower()
        return next((a for a in self.list(workspace_id) if a.principal.id.lower() == wanted), None)

    def update(self, workspace_id: str, assignment_id: str, *, role: str) -> WorkspaceRoleAssignment:
        return WorkspaceRoleAssignment.model_validate(
            self._json("PATCH", f"{self._base(workspace_id)}/{seg(assignment_id)}", json={"role": role}))

    def delete(self, workspace_id: str, assignment_id: str) -> None:
        self._t.request("DELETE", f"{self._base(workspace_id)}/{seg(assignment_id)}")
