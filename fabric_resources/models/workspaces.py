"""Workspaces and workspace role assignments."""

from __future__ import annotations

from fabric_resources.models.common import FabricModel, Principal

__all__ = ["WORKSPACE_ROLES", "Workspace", "WorkspaceIdentity", "WorkspaceRoleAssignment"]

# Ordered weakest first; the API accepts exactly these names.
WORKSPACE_ROLES = ("Viewer", "Contributor", "Member", "Admin")


class WorkspaceIdentity(FabricModel):
    application_id: str | None = None
    service_principal_id: str | None = None


class Workspace(FabricModel):
    """A workspace (GET /workspaces/{id} returns the WorkspaceInfo superset)."""

    id: str
    display_name: str
    description: str | None = None
    type: str | None = None
    capacity_id: str | None = None
    capacity_region: str | None = None
    domain_id: str | None = None
    api_endpoint: str | None = None
    # Completed | Failed | InProgress; only on GET of a single workspace.
    capacity_assignment_progress: str | None = None
    workspace_identity: WorkspaceIdentity | None = None


class WorkspaceRoleAssignment(FabricModel):
    id: str
    principal: Principal
    role: str
