"""Capacities, workspaces, capacity assignment and workspace role assignments (/v1)."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .context import EmulatorContext
from .http import (
    ROLE_ORDER,
    ApiError,
    absolute_url,
    check_uuid,
    empty_response,
    json_body,
    json_response,
    opt_str,
    page,
    path_uuid,
    principal_of,
    req_str,
    require_role,
    role_of,
)
from .store import dumps, loads

if TYPE_CHECKING:
    from .identity import Principal

#: Preconfigured capacities (fixed ids so docs and tests can name them).
CAPACITIES: list[dict[str, str]] = [
    {"id": "0f084df7-c13d-451b-af5f-ed0c466403b2", "displayName": "Emulator F2", "sku": "F2",
     "region": "West Central US", "state": "Active"},
    {"id": "56bac802-080d-4f73-8a42-1b406eb1fcac", "displayName": "Emulator F64", "sku": "F64",
     "region": "North Europe", "state": "Active"},
    {"id": "e6d3c5a1-7b4f-4c2e-9a8d-3f1b2c4d5e6f", "displayName": "Emulator Trial", "sku": "FT1",
     "region": "East US", "state": "Active"},
]
_CAPACITY_BY_ID = {c["id"]: c for c in CAPACITIES}

WORKSPACE_NAME_MAX = 256
WORKSPACE_DESCRIPTION_MAX = 4000
PRINCIPAL_TYPES = ("User", "Group", "ServicePrincipal", "ServicePrincipalProfile")


def ctx_of(request: Request) -> EmulatorContext:
    ctx: EmulatorContext = request.app.state.ctx
    return ctx


def workspace_id_of(request: Request) -> str:
    return path_uuid(request, "workspaceId", "WorkspaceNotFound", "The requested workspace '{}' was not found.")


def workspace_scope(request: Request) -> tuple[EmulatorContext, Principal, str]:
    """Context, caller and workspace id of a ``/v1/workspaces/{workspaceId}/...`` request.

    The caller is resolved before the id is parsed, so an unauthenticated request answers 401
    even when its workspace id is malformed.
    """
    ctx = ctx_of(request)
    principal: Principal = principal_of(request)
    return ctx, principal, workspace_id_of(request)


def workspace_object_scope(
    request: Request, id_of: Callable[[Request], str]
) -> tuple[EmulatorContext, Principal, str, str]:
    """``workspace_scope`` and the id of the one object the path names (a folder, a role assignment),
    parsed last: 401 for no caller, then 404 for a malformed workspace id, then for the object's."""
    ctx, principal, workspace_id = workspace_scope(request)
    return ctx, principal, workspace_id, id_of(request)


# -- capacities ---------------------------------------------------------------------------------


async def list_capacities(request: Request) -> Response:
    principal_of(request)
    return json_response(page(request, ctx_of(request), [dict(c) for c in CAPACITIES]))


async def get_capacity(request: Request) -> Response:
    principal_of(request)
    cap = _CAPACITY_BY_ID.get(str(request.path_params["capacityId"]).lower())
    if cap is None:
        raise ApiError(404, "CapacityNotFound", "The requested capacity was not found.")
    return json_response(dict(cap))


def _capacity_or_404(capacity_id: Any) -> dict[str, str]:
    if not isinstance(capacity_id, str):
        raise ApiError(400, "InvalidInput", "The field 'capacityId' is required and must be a string.")
    cap = _CAPACITY_BY_ID.get(capacity_id.lower())
    if cap is None:
        raise ApiError(404, "CapacityNotFound", f"The capacity '{capacity_id}' was not found.",
                       related_resource={"resourceId": capacity_id, "resourceType": "Capacity"})
    return cap


# -- workspace rows -----------------------------------------------------------------------------


def load_workspace(conn: sqlite3.Connection, workspace_id: str) -> dict[str, Any]:
    row = conn.execute("SELECT data FROM workspaces WHERE id = ?", (workspace_id,)).fetchone()
    if row is None:
        raise ApiError(404, "WorkspaceNotFound", f"The requested workspace '{workspace_id}' was not found.",
                       related_resource={"resourceId": workspace_id, "resourceType": "Workspace"})
    data: dict[str, Any] = loads(row["data"])
    return data


def save_workspace(conn: sqlite3.Connection, data: dict[str, Any]) -> None:
    conn.execute("UPDATE workspaces SET name_key = ?, data = ? WHERE id = ?",
                 (data["displayName"].lower(), dumps(data), data["id"]))


def workspace_view(ctx: EmulatorContext, data: dict[str, Any]) -> dict[str, Any]:
    """The public Workspace shape; capacity progress is derived from timestamps (no timers)."""
    view: dict[str, Any] = {
        "id": data["id"], "displayName": data["displayName"], "description": data.get("description", ""),
        "type": "Workspace",
    }
    if data.get("domainId"):
        view["domainId"] = data["domainId"]
    change = data.get("capacityChange")
    if data.get("capacityId"):
        view["capacityId"] = data["capacityId"]
        cap = _CAPACITY_BY_ID.get(data["capacityId"])
        if cap is not None:
            view["capacityRegion"] = cap["region"]
    if change is not None:
        duration = float(ctx.cfg("capacity_assignment_seconds")) * float(ctx.cfg("time_factor"))
        done = time.time() >= float(change["at"]) + duration
        view["capacityAssignmentProgress"] = "Completed" if done else "InProgress"
        if done and "failedFrom" in change:
            # capacity_assignment_fails: the assignment ended in failure; the workspace is back where it was.
            view["capacityAssignmentProgress"] = "Failed"
            view.pop("capacityId", None)
            view.pop("capacityRegion", None)
            if change["failedFrom"]:
                view["capacityId"] = change["failedFrom"]
    return view


def capacity_change(ctx: EmulatorContext, previous: str | None) -> dict[str, Any]:
    """The record of a capacity (un)assignment starting now (fails later under capacity_assignment_fails)."""
    change: dict[str, Any] = {"at": time.time()}
    if ctx.cfg("capacity_assignment_fails"):
        change["failedFrom"] = previous or ""
    return change


def _check_name_free(conn: sqlite3.Connection, name: str, except_id: str | None = None) -> None:
    row = conn.execute("SELECT id FROM workspaces WHERE name_key = ?", (name.lower(),)).fetchone()
    if row is not None and row["id"] != except_id:
        raise ApiError(409, "WorkspaceNameAlreadyExists", f"A workspace named '{name}' already exists.")


def principal_entry(ctx: EmulatorContext, principal_id: str, principal_type: str) -> dict[str, Any]:
    """The spec's Principal object, enriched with display details for principals we know."""
    entry: dict[str, Any] = {"id": principal_id, "type": principal_type}
    known = None
    finder = getattr(ctx.identity, "find_principal", None)
    if finder is not None:
        try:
            known = finder(object_id=principal_id)
        except TypeError:
            known = None
    if known is not None:
        entry["displayName"] = known.display_name
        if getattr(known, "upn", None):
            entry["userDetails"] = {"userPrincipalName": known.upn}
        if getattr(known, "client_id", None):
            entry["servicePrincipalDetails"] = {"aadAppId": known.client_id}
    return entry


def principal_type_of(principal: Any) -> str:
    kind = str(getattr(principal, "kind", "User"))
    return kind if kind in PRINCIPAL_TYPES else "User"


# -- workspaces ---------------------------------------------------------------------------------


async def create_workspace(request: Request) -> Response:
    ctx = ctx_of(request)
    principal = principal_of(request)
    body = await json_body(request)
    name = req_str(body, "displayName", max_length=WORKSPACE_NAME_MAX)
    if name.strip().lower() == "admin monitoring":
        raise ApiError(400, "InvalidInput", "'Admin monitoring' is a reserved workspace name.")
    description = opt_str(body, "description", max_length=WORKSPACE_DESCRIPTION_MAX) or ""
    capacity_id = body.get("capacityId")
    if capacity_id is None and ctx.cfg("default_capacity_id"):
        # The tenant's default capacity: the workspace comes back on a capacity nobody asked for.
        capacity_id = str(ctx.cfg("default_capacity_id"))
    domain_id = opt_str(body, "domainId")
    if domain_id is not None:
        domain_id = check_uuid(domain_id, "domainId")
    workspace_id = str(uuid.uuid4())
    data: dict[str, Any] = {"id": workspace_id, "displayName": name, "description": description}
    if capacity_id is not None:
        data["capacityId"] = _capacity_or_404(capacity_id)["id"]
        data["capacityChange"] = capacity_change(ctx, None)
    if domain_id:
        data["domainId"] = domain_id
    with ctx.store.tx() as conn:
        _check_name_free(conn, name)
        conn.execute("INSERT INTO workspaces (id, name_key, data) VALUES (?, ?, ?)",
                     (workspace_id, name.lower(), dumps(data)))
        ptype = principal_type_of(principal)
        conn.execute(
            "INSERT INTO role_assignments (workspace_id, principal_id, role, data) VALUES (?, ?, ?, ?)",
            (workspace_id, principal.object_id, "Admin", dumps({"type": ptype})),
        )
    location = absolute_url(ctx, f"/v1/workspaces/{workspace_id}", request)
    return json_response(workspace_view(ctx, data), 201, {"Location": location})


async def list_workspaces(request: Request) -> Response:
    ctx = ctx_of(request)
    principal = principal_of(request)
    roles_param = request.query_params.get("roles")
    wanted: set[str] | None = None
    if roles_param:
        wanted = set()
        for raw in roles_param.split(","):
            role = raw.strip()
            match = next((r for r in ROLE_ORDER if r.lower() == role.lower()), None)
            if match is None:
                raise ApiError(400, "InvalidParameter", f"Invalid workspace role '{role}'.")
            wanted.add(match)
    with ctx.store.read() as conn:
        rows = conn.execute(
            "SELECT w.data, r.role FROM role_assignments r JOIN workspaces w ON w.id = r.workspace_id "
            "WHERE r.principal_id = ? ORDER BY w.rowid",
            (principal.object_id,),
        ).fetchall()
    views = [workspace_view(ctx, loads(r["data"])) for r in rows if wanted is None or r["role"] in wanted]
    return json_response(page(request, ctx, views))


async def get_workspace(request: Request) -> Response:
    ctx, principal, workspace_id = workspace_scope(request)
    with ctx.store.read() as conn:
        require_role(ctx, conn, workspace_id, principal, "Viewer")
        data = load_workspace(conn, workspace_id)
    return json_response(workspace_view(ctx, data))


async def update_workspace(request: Request) -> Response:
    ctx, principal, workspace_id = workspace_scope(request)
    body = await json_body(request)
    name = opt_str(body, "displayName", max_length=WORKSPACE_NAME_MAX)
    description = opt_str(body, "description", max_length=WORKSPACE_DESCRIPTION_MAX)
    if name is not None and not name.strip():
        raise ApiError(400, "InvalidInput", "The field 'displayName' must not be empty.")
    with ctx.store.tx() as conn:
        require_role(ctx, conn, workspace_id, principal, "Admin")
        data = load_workspace(conn, workspace_id)
        if name is not None:
            _check_name_free(conn, name, except_id=workspace_id)
            data["displayName"] = name
        if description is not None:
            data["description"] = description
        save_workspace(conn, data)
    return json_response(workspace_view(ctx, data))


def delete_item_rows(ctx: EmulatorContext, conn: sqlite3.Connection, item_id: str) -> None:
    """Remove an item and everything hanging off it (definition; jobs/schedules via ctx.jobs)."""
    conn.execute("DELETE FROM definitions WHERE item_id = ?", (item_id,))
    conn.execute("DELETE FROM items WHERE id = ?", (item_id,))
    if ctx.jobs is not None:
        ctx.jobs.on_item_deleted(conn, item_id)


async def delete_workspace(request: Request) -> Response:
    ctx, principal, workspace_id = workspace_scope(request)
    with ctx.store.tx() as conn:
        require_role(ctx, conn, workspace_id, principal, "Admin")
        for row in conn.execute("SELECT id FROM items WHERE workspace_id = ?", (workspace_id,)).fetchall():
            delete_item_rows(ctx, conn, row["id"])
        conn.execute("DELETE FROM folders WHERE workspace_id = ?", (workspace_id,))
        conn.execute("DELETE FROM role_assignments WHERE workspace_id = ?", (workspace_id,))
        conn.execute("DELETE FROM workspaces WHERE id = ?", (workspace_id,))
    return empty_response(200)


async def assign_to_capacity(request: Request) -> Response:
    ctx, principal, workspace_id = workspace_scope(request)
    body = await json_body(request)
    cap = _capacity_or_404(body.get("capacityId"))
    with ctx.store.tx() as conn:
        require_role(ctx, conn, workspace_id, principal, "Admin")
        data = load_workspace(conn, workspace_id)
        data["capacityChange"] = capacity_change(ctx, data.get("capacityId"))
        data["capacityId"] = cap["id"]
        save_workspace(conn, data)
    return empty_response(202)


async def unassign_from_capacity(request: Request) -> Response:
    ctx, principal, workspace_id = workspace_scope(request)
    with ctx.store.tx() as conn:
        require_role(ctx, conn, workspace_id, principal, "Admin")
        data = load_workspace(conn, workspace_id)
        data.pop("capacityId", None)
        data["capacityChange"] = {"at": time.time()}
        save_workspace(conn, data)
    return empty_response(202)


# -- role assignments ---------------------------------------------------------------------------


def _assignment_view(ctx: EmulatorContext, principal_id: str, role: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": principal_id, "principal": principal_entry(ctx, principal_id, data.get("type", "User")),
            "role": role}


def _role_field(body: dict[str, Any]) -> str:
    role = body.get("role")
    if not isinstance(role, str) or role not in ROLE_ORDER:
        raise ApiError(400, "InvalidInput",
                       "The field 'role' is required and must be one of Admin, Member, Contributor, Viewer.")
    return role


def _assignment_id_of(request: Request) -> str:
    return path_uuid(request, "workspaceRoleAssignmentId", "WorkspaceRoleAssignmentNotFound",
                     "The role assignment '{}' was not found.")


def _load_assignment(conn: sqlite3.Connection, workspace_id: str, assignment_id: str) -> sqlite3.Row:
    row = conn.execute(
        "SELECT principal_id, role, data FROM role_assignments WHERE workspace_id = ? AND principal_id = ?",
        (workspace_id, assignment_id),
    ).fetchone()
    if row is None:
        raise ApiError(404, "WorkspaceRoleAssignmentNotFound",
                       f"The role assignment '{assignment_id}' was not found in the workspace.")
    return row


def _admin_count(conn: sqlite3.Connection, workspace_id: str) -> int:
    row = conn.execute("SELECT COUNT(*) AS n FROM role_assignments WHERE workspace_id = ? AND role = 'Admin'",
                       (workspace_id,)).fetchone()
    return int(row["n"])


async def add_role_assignment(request: Request) -> Response:
    ctx, caller, workspace_id = workspace_scope(request)
    body = await json_body(request)
    principal = body.get("principal")
    if not isinstance(principal, dict):
        raise ApiError(400, "InvalidInput", "The field 'principal' is required and must be an object.")
    pid = principal.get("id")
    if not isinstance(pid, str):
        raise ApiError(400, "InvalidInput", "The field 'principal.id' is required and must be a string.")
    pid = check_uuid(pid, "principal.id")
    ptype = principal.get("type")
    if ptype not in PRINCIPAL_TYPES:
        raise ApiError(400, "PrincipalTypeNotSupported",
                       f"The principal type must be one of {', '.join(PRINCIPAL_TYPES)}.")
    role = _role_field(body)
    with ctx.store.tx() as conn:
        caller_role = require_role(ctx, conn, workspace_id, caller, "Member")
        # Members may grant Member or weaker; only an Admin grants Admin.
        if ROLE_ORDER[role] > ROLE_ORDER[caller_role]:
            raise ApiError(403, "InsufficientPrivileges",
                           f"A '{caller_role}' cannot grant the '{role}' role.")
        if role_of(conn, workspace_id, pid) is not None:
            raise ApiError(409, "PrincipalAlreadyHasWorkspaceRolePermissions",
                           f"The principal '{pid}' already has a role in this workspace.")
        data = {"type": ptype}
        conn.execute(
            "INSERT INTO role_assignments (workspace_id, principal_id, role, data) VALUES (?, ?, ?, ?)",
            (workspace_id, pid, role, dumps(data)),
        )
    location = absolute_url(ctx, f"/v1/workspaces/{workspace_id}/roleAssignments/{pid}", request)
    return json_response(_assignment_view(ctx, pid, role, data), 201, {"Location": location})


async def list_role_assignments(request: Request) -> Response:
    ctx, caller, workspace_id = workspace_scope(request)
    with ctx.store.read() as conn:
        require_role(ctx, conn, workspace_id, caller, "Member")
        rows = conn.execute(
            "SELECT principal_id, role, data FROM role_assignments WHERE workspace_id = ? ORDER BY rowid",
            (workspace_id,),
        ).fetchall()
    views = [_assignment_view(ctx, r["principal_id"], r["role"], loads(r["data"])) for r in rows]
    return json_response(page(request, ctx, views))


async def get_role_assignment(request: Request) -> Response:
    ctx, caller, workspace_id, assignment_id = workspace_object_scope(request, _assignment_id_of)
    with ctx.store.read() as conn:
        require_role(ctx, conn, workspace_id, caller, "Member")
        row = _load_assignment(conn, workspace_id, assignment_id)
    return json_response(_assignment_view(ctx, row["principal_id"], row["role"], loads(row["data"])))


async def update_role_assignment(request: Request) -> Response:
    ctx, caller, workspace_id, assignment_id = workspace_object_scope(request, _assignment_id_of)
    body = await json_body(request)
    role = _role_field(body)
    with ctx.store.tx() as conn:
        require_role(ctx, conn, workspace_id, caller, "Admin")
        row = _load_assignment(conn, workspace_id, assignment_id)
        if row["role"] == "Admin" and role != "Admin" and _admin_count(conn, workspace_id) <= 1:
            raise ApiError(409, "LastWorkspaceAdmin",
                           "The workspace must keep at least one Admin; add another Admin first.")
        conn.execute("UPDATE role_assignments SET role = ? WHERE workspace_id = ? AND principal_id = ?",
                     (role, workspace_id, assignment_id))
    return json_response(_assignment_view(ctx, assignment_id, role, loads(row["data"])))


async def delete_role_assignment(request: Request) -> Response:
    ctx, caller, workspace_id, assignment_id = workspace_object_scope(request, _assignment_id_of)
    with ctx.store.tx() as conn:
        require_role(ctx, conn, workspace_id, caller, "Admin")
        row = _load_assignment(conn, workspace_id, assignment_id)
        if row["role"] == "Admin" and _admin_count(conn, workspace_id) <= 1:
            raise ApiError(409, "LastWorkspaceAdmin",
                           "The workspace must keep at least one Admin; the last Admin cannot be removed.")
        conn.execute("DELETE FROM role_assignments WHERE workspace_id = ? AND principal_id = ?",
                     (workspace_id, assignment_id))
    return empty_response(200)


def routes() -> list[Route]:
    ws = "/v1/workspaces/{workspaceId}"
    ra = ws + "/roleAssignments"
    return [
        Route("/v1/capacities", list_capacities, methods=["GET"]),
        Route("/v1/capacities/{capacityId}", get_capacity, methods=["GET"]),
        Route("/v1/workspaces", create_workspace, methods=["POST"]),
        Route("/v1/workspaces", list_workspaces, methods=["GET"]),
        Route(ws, get_workspace, methods=["GET"]),
        Route(ws, update_workspace, methods=["PATCH"]),
        Route(ws, delete_workspace, methods=["DELETE"]),
        Route(ws + "/assignToCapacity", assign_to_capacity, methods=["POST"]),
        Route(ws + "/unassignFromCapacity", unassign_from_capacity, methods=["POST"]),
        Route(ra, add_role_assignment, methods=["POST"]),
        Route(ra, list_role_assignments, methods=["GET"]),
        Route(ra + "/{workspaceRoleAssignmentId}", get_role_assignment, methods=["GET"]),
        Route(ra + "/{workspaceRoleAssignmentId}", update_role_assignment, methods=["PATCH"]),
        Route(ra + "/{workspaceRoleAssignmentId}", delete_role_assignment, methods=["DELETE"]),
    ]
