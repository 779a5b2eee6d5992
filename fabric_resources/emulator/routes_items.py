"""Items (generic, and the ``dataPipelines`` / ``variableLibraries`` twins), definitions and folders (/v1)."""

from __future__ import annotations

import base64
import json
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .catalog import TAG_BY_ID
from .context import EmulatorContext
from .http import (
    ApiError,
    absolute_url,
    check_uuid,
    empty_response,
    is_uuid,
    json_body,
    json_response,
    opt_str,
    page,
    path_uuid,
    query_bool,
    req_str,
    require_role,
)
from .payloads import decode_payload
from .routes_operations import APPLIERS, start_operation, wants_lro
from .routes_workspaces import delete_item_rows, workspace_object_scope, workspace_scope
from .store import dumps, find_item, loads

if TYPE_CHECKING:
    from .identity import Principal
from .variable_libraries import (
    DEFAULT_VALUE_SET,
    VARIABLE_LIBRARY,
    check_active_value_set,
    default_variable_library_definition,
    definition_keeps_active_set,
    validate_variable_library,
)

ITEM_NAME_MAX = 256
ITEM_DESCRIPTION_MAX = 256
FOLDER_NAME_MAX = 255
FOLDER_MAX_DEPTH = 10
PIPELINE = "DataPipeline"
PIPELINE_CONTENT = "pipeline-content.json"
PLATFORM = ".platform"
PLATFORM_SCHEMA = "https://developer.microsoft.com/json-schemas/fabric/gitIntegration/platformProperties/2.0.0/schema.json"
DEFAULT_PIPELINE_CONTENT: dict[str, Any] = {"properties": {"activities": []}}
#: Item types with their own endpoints (the spec's type-specific twins): collection and id parameter.
TWINS: dict[str, tuple[str, str]] = {
    PIPELINE: ("dataPipelines", "dataPipelineId"),
    VARIABLE_LIBRARY: ("variableLibraries", "variableLibraryId"),
}
TWIN_COLLECTIONS = {item_type: base for item_type, (base, _param) in TWINS.items()}

#: Item types of the spec's ItemType enum (common/definitions.json).
ITEM_TYPES = frozenset(["Dashboard", "Report", "SemanticModel", "PaginatedReport", "Datamart", "Lakehouse", "Eventhouse", "Environment", "KQLDatabase", "KQLQueryset", "KQLDashboard", "DataPipeline", "Notebook", "SparkJobDefinition", "MLExperiment", "MLModel", "Warehouse", "Eventstream", "SQLEndpoint", "MirroredWarehouse", "MirroredDatabase", "Reflex", "GraphQLApi", "MountedDataFactory", "SQLDatabase", "CopyJob", "VariableLibrary", "Dataflow", "ApacheAirflowJob", "WarehouseSnapshot", "DigitalTwinBuilder", "DigitalTwinBuilderFlow", "MirroredAzureDatabricksCatalog", "Map", "AnomalyDetector", "UserDataFunction", "GraphModel", "GraphQuerySet", "SnowflakeDatabase", "OperationsAgent", "CosmosDBDatabase", "Ontology", "EventSchemaSet", "DataAgent", "MirroredCatalog", "AppBackend", "OrgApp", "OrgAppAudience", "DataBuildToolJob", "AzureDatabricksStorage", "Plan"])



# -- helpers ------------------------------------------------------------------------------------


def item_id_of(request: Request, param: str) -> str:
    return path_uuid(request, param, "ItemNotFound", "The requested item '{}' was not found.")


def load_item(conn: sqlite3.Connection, workspace_id: str, item_id: str, *,
              pipeline_only: bool = False, item_type: str | None = None) -> dict[str, Any]:
    """The item, or the service's 404 ``ItemNotFound``; type-specific endpoints (``pipeline_only``,
    ``item_type``) also answer 404 for an item of another type."""
    data = find_item(conn, workspace_id, item_id)
    wanted = PIPELINE if pipeline_only else item_type
    if data is None or (wanted is not None and data["type"] != wanted):
        raise ApiError(404, "ItemNotFound", f"The requested item '{item_id}' was not found.",
                       related_resource={"resourceId": item_id, "resourceType": "Item"})
    return data


@dataclass(frozen=True)
class ItemCall:
    """The caller and the workspace/item an item route addresses (items, definitions, jobs, schedules).

    Building it checks the ids' syntax (404 for ids that are not UUIDs); ``open_item`` checks the
    caller's role and that the item exists -- with the type of a type-specific endpoint (``twin``:
    ``/dataPipelines``, ``/variableLibraries``), whose other items answer 404 too.
    """

    ctx: EmulatorContext
    principal: Principal
    workspace_id: str
    item_id: str
    twin: str | None = None

    @classmethod
    def of(cls, request: Request, param: str, twin: str | None = None) -> ItemCall:
        ctx, principal, workspace_id = workspace_scope(request)
        return cls(ctx, principal, workspace_id, item_id_of(request, param), twin)

    def open_item(self, conn: sqlite3.Connection, minimum: str) -> dict[str, Any]:
        require_role(self.ctx, conn, self.workspace_id, self.principal, minimum)
        return load_item(conn, self.workspace_id, self.item_id, item_type=self.twin)


Handler = Callable[[Request], Awaitable[Response]]
ItemHandler = Callable[[Request, ItemCall], Awaitable[Response]]


def item_route(handler: ItemHandler, param: str, twin: str | None = None) -> Handler:
    """The route handler of an item route: the request's ``ItemCall`` first (ids checked), then ``handler``."""

    async def route(request: Request) -> Response:
        return await handler(request, ItemCall.of(request, param, twin))

    return route


def item_view(data: dict[str, Any], *, typed: bool = False) -> dict[str, Any]:
    """The public Item; ``typed`` (type-specific endpoints such as variableLibraries) adds ``properties``."""
    view = {"id": data["id"], "type": data["type"], "displayName": data["displayName"],
            "description": data.get("description", ""), "workspaceId": data["workspaceId"]}
    if data.get("folderId"):
        view["folderId"] = data["folderId"]
    if data.get("tags"):
        view["tags"] = [{"id": t, "displayName": TAG_BY_ID[t]["displayName"]} for t in data["tags"] if t in TAG_BY_ID]
    if typed and data["type"] == VARIABLE_LIBRARY:
        view["properties"] = {"activeValueSetName": data.get("activeValueSetName") or DEFAULT_VALUE_SET}
    return view


def _taken_by(conn: sqlite3.Connection, query: str, params: tuple[str, ...], except_id: str | None) -> str | None:
    """The id of the row ``query`` finds, unless that is ``except_id`` (the object being renamed)."""
    row = conn.execute(query, params).fetchone()
    return None if row is None or row["id"] == except_id else str(row["id"])


def _check_item_name_free(conn: sqlite3.Connection, workspace_id: str, item_type: str, name: str,
                          except_id: str | None = None) -> None:
    if _taken_by(conn, "SELECT id FROM items WHERE workspace_id = ? AND type = ? AND name_key = ?",
                 (workspace_id, item_type, name.lower()), except_id):
        raise ApiError(409, "ItemDisplayNameAlreadyInUse",
                       f"An item of type '{item_type}' named '{name}' already exists in the workspace.")


def _check_logical_id_free(conn: sqlite3.Connection, workspace_id: str, logical_id: str,
                           except_id: str | None = None) -> None:
    """A workspace cannot hold two items with one logicalId (it is the item's identity across
    workspaces, used by git integration and deployment tools to say "the same item")."""
    other = _taken_by(conn, "SELECT id FROM items WHERE workspace_id = ? AND json_extract(data, '$.logicalId') = ?",
                      (workspace_id, logical_id), except_id)
    if other:
        raise ApiError(409, "ItemLogicalIdAlreadyInUse",
                       f"An item with logicalId '{logical_id}' already exists in the workspace.",
                       related_resource={"resourceId": other, "resourceType": "Item"})


def _platform_logical_id(decoded: dict[str, bytes]) -> str | None:
    """``config.logicalId`` of a sent ``.platform`` (lower case), or None when absent or unreadable.

    The all-zero GUID is what git integration writes for "not yet assigned": it asks for a new one.
    """
    config = _platform_section(decoded, "config")
    value = config.get("logicalId") if config is not None else None
    if not isinstance(value, str) or not is_uuid(value) or uuid.UUID(value).int == 0:
        return None
    return value.lower()


def _check_folder_exists(conn: sqlite3.Connection, workspace_id: str, folder_id: str | None) -> str:
    if not folder_id:
        return ""
    fid = folder_id.lower() if is_uuid(folder_id) else folder_id
    row = conn.execute("SELECT 1 FROM folders WHERE id = ? AND workspace_id = ?", (fid, workspace_id)).fetchone()
    if row is None:
        raise ApiError(404, "FolderNotFound", f"The folder '{folder_id}' was not found in the workspace.")
    return fid


def _decode_b64(payload: str, path: str) -> bytes:
    try:
        return decode_payload(payload)
    except ValueError:
        raise ApiError(400, "CorruptedPayload", f"The payload of part '{path}' is not valid base64.") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def validate_definition(raw: Any, item_type: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Check a definition object; return it unchanged (kept verbatim) plus its decoded parts."""
    if not isinstance(raw, dict):
        raise ApiError(400, "InvalidInput", "The field 'definition' must be an object with 'parts'.")
    parts = raw.get("parts")
    if not isinstance(parts, list):
        raise ApiError(400, "InvalidInput", "The field 'definition.parts' is required and must be an array.")
    fmt = raw.get("format")
    if fmt is not None and not isinstance(fmt, str):
        raise ApiError(400, "InvalidInput", "The field 'definition.format' must be a string.")
    decoded: dict[str, bytes] = {}
    for index, part in enumerate(parts):
        if not isinstance(part, dict):
            raise ApiError(400, "InvalidInput", f"definition.parts[{index}] must be an object.")
        path, payload, ptype = part.get("path"), part.get("payload"), part.get("payloadType")
        if not isinstance(path, str) or not path:
            raise ApiError(400, "InvalidInput", f"definition.parts[{index}].path is required and must be a string.")
        if not isinstance(payload, str):
            raise ApiError(400, "InvalidInput", f"definition.parts[{index}].payload is required and must be a string.")
        if ptype != "InlineBase64":
            raise ApiError(400, "InvalidInput",
                           f"definition.parts[{index}].payloadType must be 'InlineBase64'.")
        if path in decoded:
            raise ApiError(400, "InvalidDefinition", f"The definition has more than one part with path '{path}'.")
        decoded[path] = _decode_b64(payload, path)
    if item_type == PIPELINE:
        if PIPELINE_CONTENT not in decoded:
            raise ApiError(400, "InvalidDefinition",
                           f"A DataPipeline definition must contain the part '{PIPELINE_CONTENT}'.")
        # Only the content is checked: the spec's own examples send a placeholder `.platform`
        # that is not JSON, so an unreadable `.platform` is kept but its metadata is not applied.
        try:
            parsed = json.loads(decoded[PIPELINE_CONTENT])
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "CorruptedPayload", f"The part '{PIPELINE_CONTENT}' is not valid JSON.") from None
        if not isinstance(parsed, dict):
            raise ApiError(400, "CorruptedPayload", f"The part '{PIPELINE_CONTENT}' must be a JSON object.")
    elif item_type == VARIABLE_LIBRARY:
        validate_variable_library(decoded)
    return raw, decoded


def _definition_size(definition: dict[str, Any]) -> int:
    return sum(len(str(p.get("payload", ""))) for p in definition.get("parts", []) if isinstance(p, dict))


def _platform_metadata(decoded: dict[str, bytes]) -> dict[str, Any] | None:
    return _platform_section(decoded, "metadata")


def _platform_section(decoded: dict[str, bytes], name: str) -> dict[str, Any] | None:
    """``metadata`` or ``config`` of a sent ``.platform``; None when absent or unreadable."""
    if PLATFORM not in decoded:
        return None
    try:
        parsed = json.loads(decoded[PLATFORM])
    except (ValueError, UnicodeDecodeError):
        return None
    section = parsed.get(name) if isinstance(parsed, dict) else None
    return section if isinstance(section, dict) else None


def definition_response(conn: sqlite3.Connection, item: dict[str, Any]) -> dict[str, Any]:
    """The stored definition with ``.platform`` always present and describing the item as it is now.

    Stored parts are returned byte for byte. A stored ``.platform`` is returned verbatim when its
    metadata still matches the item; otherwise (or when absent) it is synthesised from the item,
    keeping the item's logicalId.
    """
    row = conn.execute("SELECT data FROM definitions WHERE item_id = ?", (item["id"],)).fetchone()
    stored: dict[str, Any] = loads(row["data"]) if row is not None else {"parts": []}
    parts = [dict(p) for p in stored.get("parts", []) if p.get("path") != PLATFORM]
    if item["type"] == PIPELINE and not any(p.get("path") == PIPELINE_CONTENT for p in parts):
        parts.insert(0, {"path": PIPELINE_CONTENT, "payload": _b64(json.dumps(DEFAULT_PIPELINE_CONTENT).encode()),
                         "payloadType": "InlineBase64"})
    if item["type"] == VARIABLE_LIBRARY and not parts:
        parts = [{"path": path, "payload": _b64(data), "payloadType": "InlineBase64"}
                 for path, data in default_variable_library_definition().items()]
    stored_platform = next((p for p in stored.get("parts", []) if p.get("path") == PLATFORM), None)
    platform_part = None
    if stored_platform is not None:
        try:
            parsed = json.loads(decode_payload(stored_platform["payload"]))
            meta = parsed.get("metadata", {})
            config = parsed.get("config", {})
            if (meta.get("type") == item["type"] and meta.get("displayName") == item["displayName"]
                    and (meta.get("description") or "") == (item.get("description") or "")
                    and str(config.get("logicalId", "")).lower() == item["logicalId"]):
                platform_part = dict(stored_platform)
        except (ValueError, TypeError, AttributeError):
            platform_part = None
    if platform_part is None:
        platform = {
            "$schema": PLATFORM_SCHEMA,
            "metadata": {"type": item["type"], "displayName": item["displayName"],
                         "description": item.get("description", "")},
            "config": {"version": "2.0", "logicalId": item["logicalId"]},
        }
        platform_part = {"path": PLATFORM, "payload": _b64(json.dumps(platform, indent=2).encode()),
                         "payloadType": "InlineBase64"}
    parts.append(platform_part)
    result: dict[str, Any] = {"parts": parts}
    if stored.get("format"):
        result = {"format": stored["format"], "parts": parts}
    return {"definition": result}


def _stored_files(conn: sqlite3.Connection, item_id: str) -> dict[str, bytes]:
    """The decoded parts of the item's stored definition ({} when it has none)."""
    row = conn.execute("SELECT data FROM definitions WHERE item_id = ?", (item_id,)).fetchone()
    stored: dict[str, Any] = loads(row["data"]) if row is not None else {"parts": []}
    return {p["path"]: decode_payload(p["payload"]) for p in stored.get("parts", []) if p.get("path") != PLATFORM}


def _active_value_set_field(body: dict[str, Any]) -> str | None:
    props = body.get("properties")
    if props is None:
        return None
    if not isinstance(props, dict):
        raise ApiError(400, "InvalidRequest", "The field 'properties' must be an object.")
    active = props.get("activeValueSetName")
    if active is None:
        return None
    if not isinstance(active, str) or not active.strip():
        raise ApiError(400, "InvalidRequest", "The field 'properties.activeValueSetName' must be a value set name.")
    return active


def _store_definition(conn: sqlite3.Connection, item_id: str, definition: dict[str, Any]) -> None:
    conn.execute("INSERT OR REPLACE INTO definitions (item_id, data) VALUES (?, ?)", (item_id, dumps(definition)))


# -- LRO appliers -------------------------------------------------------------------------------


def _apply_create(ctx: EmulatorContext, conn: sqlite3.Connection, work: dict[str, Any]) -> dict[str, Any]:
    item = work["item"]
    if conn.execute("SELECT 1 FROM workspaces WHERE id = ?", (item["workspaceId"],)).fetchone() is None:
        raise ApiError(404, "WorkspaceNotFound", "The workspace was deleted before the item was created.")
    _check_item_name_free(conn, item["workspaceId"], item["type"], item["displayName"])
    _check_logical_id_free(conn, item["workspaceId"], item["logicalId"])
    _check_item_limit(ctx, conn, item["workspaceId"])
    _insert_item(conn, item, work.get("definition"))
    return item_view(item)


def _apply_update_definition(ctx: EmulatorContext, conn: sqlite3.Connection, work: dict[str, Any]) -> None:
    item = load_item(conn, work["workspaceId"], work["itemId"])
    _update_definition_now(conn, item, work["definition"], work.get("metadata"), work.get("logicalId"))


APPLIERS["createItem"] = _apply_create
APPLIERS["updateDefinition"] = _apply_update_definition


def _insert_item(conn: sqlite3.Connection, item: dict[str, Any], definition: dict[str, Any] | None) -> None:
    conn.execute(
        "INSERT INTO items (id, workspace_id, type, name_key, folder_id, data) VALUES (?, ?, ?, ?, ?, ?)",
        (item["id"], item["workspaceId"], item["type"], item["displayName"].lower(), item.get("folderId") or "",
         dumps(item)),
    )
    if definition is not None:
        _store_definition(conn, item["id"], definition)


def save_item(conn: sqlite3.Connection, item: dict[str, Any]) -> None:
    conn.execute("UPDATE items SET name_key = ?, folder_id = ?, data = ? WHERE id = ?",
                 (item["displayName"].lower(), item.get("folderId") or "", dumps(item), item["id"]))


def _update_definition_now(conn: sqlite3.Connection, item: dict[str, Any], definition: dict[str, Any],
                           metadata: dict[str, Any] | None, logical_id: str | None = None) -> None:
    """Store a new definition; with ``updateMetadata=true`` (``metadata`` given) also apply the
    ``.platform``'s name, description and ``logicalId`` (``logical_id``) to the item."""
    if logical_id is not None and logical_id != item["logicalId"]:
        _check_logical_id_free(conn, item["workspaceId"], logical_id, except_id=item["id"])
        item["logicalId"] = logical_id
        save_item(conn, item)
    if item["type"] == VARIABLE_LIBRARY:
        _parts, decoded = validate_definition(definition, VARIABLE_LIBRARY)
        definition_keeps_active_set(item, validate_variable_library(decoded))
    if metadata is not None:
        name = metadata.get("displayName")
        if isinstance(name, str) and name.strip() and name != item["displayName"]:
            if len(name) > ITEM_NAME_MAX:
                raise ApiError(400, "InvalidInput", f"displayName cannot exceed {ITEM_NAME_MAX} characters.")
            _check_item_name_free(conn, item["workspaceId"], item["type"], name, except_id=item["id"])
            item["displayName"] = name
        description = metadata.get("description")
        if isinstance(description, str):
            if len(description) > ITEM_DESCRIPTION_MAX:
                raise ApiError(400, "InvalidInput",
                               f"description cannot exceed {ITEM_DESCRIPTION_MAX} characters.")
            item["description"] = description
        save_item(conn, item)
    _store_definition(conn, item["id"], definition)


# -- items --------------------------------------------------------------------------------------


def _create_item(twin: str | None) -> Handler:
    async def handler(request: Request) -> Response:
        ctx, principal, workspace_id = workspace_scope(request)
        body = await json_body(request)
        name = req_str(body, "displayName", max_length=ITEM_NAME_MAX)
        description = opt_str(body, "description", max_length=ITEM_DESCRIPTION_MAX) or ""
        if twin is not None:
            item_type = twin
        else:
            raw_type = body.get("type")
            if not isinstance(raw_type, str) or not raw_type:
                raise ApiError(400, "InvalidInput", "The field 'type' is required and must be a string.")
            if raw_type not in ITEM_TYPES:
                raise ApiError(400, "InvalidItemType", f"Item type '{raw_type}' is invalid.")
            item_type = raw_type
        folder_id = opt_str(body, "folderId")
        raw_definition = body.get("definition")
        if raw_definition is not None and body.get("creationPayload") is not None:
            raise ApiError(400, "InvalidInput", "Use 'definition' or 'creationPayload', not both.")
        definition: dict[str, Any] | None = None
        logical_id: str | None = None
        if raw_definition is not None:
            definition, decoded = validate_definition(raw_definition, item_type)
            # Fabric respects a `.platform` sent at create: its logicalId becomes the item's.
            logical_id = _platform_logical_id(decoded)
        item: dict[str, Any] = {
            "id": str(uuid.uuid4()), "type": item_type, "displayName": name, "description": description,
            "workspaceId": workspace_id, "logicalId": logical_id or str(uuid.uuid4()),
        }
        with ctx.store.tx() as conn:
            require_role(ctx, conn, workspace_id, principal, "Contributor")
            fid = _check_folder_exists(conn, workspace_id, folder_id)
            if fid:
                item["folderId"] = fid
            _check_item_name_free(conn, workspace_id, item_type, name)
            _check_logical_id_free(conn, workspace_id, item["logicalId"])
            _check_item_limit(ctx, conn, workspace_id)
            if definition is not None and wants_lro(ctx, _definition_size(definition)):
                return start_operation(ctx, conn, request, kind="createItem", owner=principal.object_id,
                                       work={"item": item, "definition": definition})
            _insert_item(conn, item, definition)
        base = TWIN_COLLECTIONS.get(twin or "", "items")
        location = absolute_url(ctx, f"/v1/workspaces/{workspace_id}/{base}/{item['id']}", request)
        return json_response(item_view(item, typed=twin is not None), 201, {"Location": location})
    return handler


def _check_item_limit(ctx: EmulatorContext, conn: sqlite3.Connection, workspace_id: str) -> None:
    limit = int(ctx.cfg("workspace_item_limit") or 0)
    count = conn.execute("SELECT COUNT(*) AS n FROM items WHERE workspace_id = ?", (workspace_id,)).fetchone()["n"]
    if limit and count >= limit:
        raise ApiError(400, "WorkspaceItemsLimitExceeded",
                       f"The workspace already holds the maximum of {limit} items.")


def _folder_tree(conn: sqlite3.Connection, workspace_id: str) -> dict[str, str]:
    """folder id -> parent id ('' = root) for the workspace."""
    rows = conn.execute("SELECT id, parent_id FROM folders WHERE workspace_id = ?", (workspace_id,)).fetchall()
    return {r["id"]: r["parent_id"] for r in rows}


def _descendants(tree: dict[str, str], root: str) -> set[str]:
    found = {root}
    changed = True
    while changed:
        changed = False
        for fid, parent in tree.items():
            if parent in found and fid not in found:
                found.add(fid)
                changed = True
    return found


def _folder_scope(conn: sqlite3.Connection, request: Request, workspace_id: str) -> set[str] | None:
    """Folder ids to include per ``rootFolderId``/``recursive``; None means everything."""
    recursive = query_bool(request, "recursive", default=True)
    root = request.query_params.get("rootFolderId")
    if root:
        root_id = _check_folder_exists(conn, workspace_id, root)
        return _descendants(_folder_tree(conn, workspace_id), root_id) if recursive else {root_id}
    return None if recursive else {""}


def _list_items(twin: str | None) -> Handler:
    async def handler(request: Request) -> Response:
        ctx, principal, workspace_id = workspace_scope(request)
        item_type = twin or request.query_params.get("type")
        if item_type is not None and item_type not in ITEM_TYPES:
            raise ApiError(400, "InvalidItemType", f"Item type '{item_type}' is invalid.")
        with ctx.store.read() as conn:
            require_role(ctx, conn, workspace_id, principal, "Viewer")
            scope = _folder_scope(conn, request, workspace_id)
            if item_type is None:
                rows = conn.execute("SELECT folder_id, data FROM items WHERE workspace_id = ? ORDER BY rowid",
                                    (workspace_id,)).fetchall()
            else:
                rows = conn.execute(
                    "SELECT folder_id, data FROM items WHERE workspace_id = ? AND type = ? ORDER BY rowid",
                    (workspace_id, item_type)).fetchall()
        views = [item_view(loads(r["data"]), typed=twin is not None) for r in rows
                 if scope is None or r["folder_id"] in scope]
        return json_response(page(request, ctx, views))
    return handler


async def _get_item(request: Request, call: ItemCall) -> Response:
    with call.ctx.store.read() as conn:
        item = call.open_item(conn, "Viewer")
    return json_response(item_view(item, typed=call.twin is not None))


async def _update_item(request: Request, call: ItemCall) -> Response:
    body = await json_body(request)
    name = opt_str(body, "displayName", max_length=ITEM_NAME_MAX)
    if name is not None and not name.strip():
        raise ApiError(400, "InvalidInput", "The field 'displayName' must not be empty.")
    description = opt_str(body, "description", max_length=ITEM_DESCRIPTION_MAX)
    active = _active_value_set_field(body) if call.twin == VARIABLE_LIBRARY else None
    with call.ctx.store.tx() as conn:
        item = call.open_item(conn, "Contributor")
        if name is not None:
            _check_item_name_free(conn, call.workspace_id, item["type"], name, except_id=call.item_id)
            item["displayName"] = name
        if description is not None:
            item["description"] = description
        if active is not None:
            check_active_value_set(_stored_files(conn, call.item_id), active)
            item["activeValueSetName"] = active
        save_item(conn, item)
    return json_response(item_view(item, typed=call.twin is not None))


async def _delete_item(request: Request, call: ItemCall) -> Response:
    hard = query_bool(request, "hardDelete", default=False)
    with call.ctx.store.tx() as conn:
        # Soft delete needs write access; permanent deletion is reserved to workspace Admins.
        call.open_item(conn, "Admin" if hard else "Contributor")
        delete_item_rows(call.ctx, conn, call.item_id)
    return empty_response(200)


async def _get_definition(request: Request, call: ItemCall) -> Response:
    with call.ctx.store.tx() as conn:
        item = call.open_item(conn, "Contributor")
        result = definition_response(conn, item)
        if wants_lro(call.ctx, _definition_size(result["definition"])):
            return start_operation(call.ctx, conn, request, kind="getDefinition",
                                   owner=call.principal.object_id, result=result)
    return json_response(result)


async def _update_definition(request: Request, call: ItemCall) -> Response:
    update_metadata = query_bool(request, "updateMetadata", default=False)
    body = await json_body(request)
    with call.ctx.store.tx() as conn:
        item = call.open_item(conn, "Contributor")
        definition, decoded = validate_definition(body.get("definition"), item["type"])
        metadata = _platform_metadata(decoded) if update_metadata else None
        # Without updateMetadata the `.platform` sent is stored but not applied: the item keeps
        # its logicalId (getDefinition then describes the item, not the ignored file).
        logical_id = _platform_logical_id(decoded) if update_metadata else None
        if logical_id is not None and logical_id != item["logicalId"]:
            _check_logical_id_free(conn, call.workspace_id, logical_id, except_id=call.item_id)
        if wants_lro(call.ctx, _definition_size(definition)):
            return start_operation(call.ctx, conn, request, kind="updateDefinition",
                                   owner=call.principal.object_id,
                                   work={"workspaceId": call.workspace_id, "itemId": call.item_id,
                                         "definition": definition, "metadata": metadata,
                                         "logicalId": logical_id})
        _update_definition_now(conn, item, definition, metadata, logical_id)
    return empty_response(200)


async def move_item(request: Request) -> Response:
    call = ItemCall.of(request, "itemId")
    body = await json_body(request, required=False)
    target = opt_str(body, "targetFolderId")
    with call.ctx.store.tx() as conn:
        item = call.open_item(conn, "Contributor")
        fid = _check_folder_exists(conn, call.workspace_id, target)
        if fid:
            item["folderId"] = fid
        else:
            item.pop("folderId", None)
        save_item(conn, item)
    # The spec answers MovedItems: the moved item plus nothing else for a single move.
    return json_response({"value": [item_view(item)]})


# -- folders ------------------------------------------------------------------------------------


def folder_view(data: dict[str, Any]) -> dict[str, Any]:
    view = {"id": data["id"], "displayName": data["displayName"], "workspaceId": data["workspaceId"]}
    if data.get("parentFolderId"):
        view["parentFolderId"] = data["parentFolderId"]
    return view


def _folder_id_of(request: Request) -> str:
    return path_uuid(request, "folderId", "FolderNotFound", "The folder '{}' was not found.")


def _load_folder(conn: sqlite3.Connection, workspace_id: str, folder_id: str) -> dict[str, Any]:
    row = conn.execute("SELECT data FROM folders WHERE id = ? AND workspace_id = ?",
                       (folder_id, workspace_id)).fetchone()
    if row is None:
        raise ApiError(404, "FolderNotFound", f"The folder '{folder_id}' was not found in the workspace.")
    data: dict[str, Any] = loads(row["data"])
    return data


def _folder_name(body: dict[str, Any]) -> str:
    name = req_str(body, "displayName", max_length=FOLDER_NAME_MAX)
    if name != name.strip() or any(ch in name for ch in '~"#%&*:<>?/\\{|}') or any(ord(c) < 32 for c in name):
        raise ApiError(400, "InvalidInput",
                       "Folder names cannot start or end with a space or contain any of ~\"#%&*:<>?/\\{|}.")
    return name


def _check_folder_name_free(conn: sqlite3.Connection, workspace_id: str, parent: str, name: str,
                            except_id: str | None = None) -> None:
    if _taken_by(conn, "SELECT id FROM folders WHERE workspace_id = ? AND parent_id = ? AND name_key = ?",
                 (workspace_id, parent, name.lower()), except_id):
        raise ApiError(409, "FolderDisplayNameAlreadyInUse",
                       f"A folder named '{name}' already exists in the destination folder.")


def _depth(tree: dict[str, str], folder_id: str) -> int:
    depth = 0
    current = folder_id
    while current:
        depth += 1
        current = tree.get(current, "")
    return depth


def _subtree_height(tree: dict[str, str], folder_id: str) -> int:
    children = [f for f, p in tree.items() if p == folder_id]
    return 1 + max((_subtree_height(tree, c) for c in children), default=0)


def _save_folder(conn: sqlite3.Connection, data: dict[str, Any]) -> None:
    conn.execute("UPDATE folders SET parent_id = ?, name_key = ?, data = ? WHERE id = ?",
                 (data.get("parentFolderId") or "", data["displayName"].lower(), dumps(data), data["id"]))


async def create_folder(request: Request) -> Response:
    ctx, principal, workspace_id = workspace_scope(request)
    body = await json_body(request)
    name = _folder_name(body)
    parent_raw = opt_str(body, "parentFolderId")
    with ctx.store.tx() as conn:
        require_role(ctx, conn, workspace_id, principal, "Contributor")
        parent = _check_folder_exists(conn, workspace_id, parent_raw)
        if parent and _depth(_folder_tree(conn, workspace_id), parent) >= FOLDER_MAX_DEPTH:
            raise ApiError(400, "FolderDepthOutOfRange",
                           f"Folders can be nested at most {FOLDER_MAX_DEPTH} levels deep.")
        _check_folder_name_free(conn, workspace_id, parent, name)
        data: dict[str, Any] = {"id": str(uuid.uuid4()), "displayName": name, "workspaceId": workspace_id}
        if parent:
            data["parentFolderId"] = parent
        conn.execute("INSERT INTO folders (id, workspace_id, parent_id, name_key, data) VALUES (?, ?, ?, ?, ?)",
                     (data["id"], workspace_id, parent, name.lower(), dumps(data)))
    location = absolute_url(ctx, f"/v1/workspaces/{workspace_id}/folders/{data['id']}", request)
    return json_response(folder_view(data), 201, {"Location": location})


async def list_folders(request: Request) -> Response:
    ctx, principal, workspace_id = workspace_scope(request)
    with ctx.store.read() as conn:
        require_role(ctx, conn, workspace_id, principal, "Viewer")
        recursive = query_bool(request, "recursive", default=True)
        root = request.query_params.get("rootFolderId")
        rows = conn.execute("SELECT id, parent_id, data FROM folders WHERE workspace_id = ? ORDER BY rowid",
                            (workspace_id,)).fetchall()
        tree = {r["id"]: r["parent_id"] for r in rows}
        if root:
            root_id = _check_folder_exists(conn, workspace_id, root)
            wanted = (_descendants(tree, root_id) - {root_id}) if recursive else {
                f for f, p in tree.items() if p == root_id}
        else:
            wanted = set(tree) if recursive else {f for f, p in tree.items() if p == ""}
    views = [folder_view(loads(r["data"])) for r in rows if r["id"] in wanted]
    return json_response(page(request, ctx, views))


async def get_folder(request: Request) -> Response:
    ctx, principal, workspace_id, folder_id = workspace_object_scope(request, _folder_id_of)
    with ctx.store.read() as conn:
        require_role(ctx, conn, workspace_id, principal, "Viewer")
        data = _load_folder(conn, workspace_id, folder_id)
    return json_response(folder_view(data))


async def update_folder(request: Request) -> Response:
    ctx, principal, workspace_id, folder_id = workspace_object_scope(request, _folder_id_of)
    body = await json_body(request)
    name = _folder_name(body)
    with ctx.store.tx() as conn:
        require_role(ctx, conn, workspace_id, principal, "Contributor")
        data = _load_folder(conn, workspace_id, folder_id)
        _check_folder_name_free(conn, workspace_id, data.get("parentFolderId") or "", name, except_id=folder_id)
        data["displayName"] = name
        _save_folder(conn, data)
    return json_response(folder_view(data))


async def delete_folder(request: Request) -> Response:
    ctx, principal, workspace_id, folder_id = workspace_object_scope(request, _folder_id_of)
    with ctx.store.tx() as conn:
        require_role(ctx, conn, workspace_id, principal, "Contributor")
        _load_folder(conn, workspace_id, folder_id)
        has_child = conn.execute("SELECT 1 FROM folders WHERE workspace_id = ? AND parent_id = ? LIMIT 1",
                                 (workspace_id, folder_id)).fetchone()
        has_item = conn.execute("SELECT 1 FROM items WHERE workspace_id = ? AND folder_id = ? LIMIT 1",
                                (workspace_id, folder_id)).fetchone()
        if has_child or has_item:
            raise ApiError(409, "FolderNotEmpty", "The folder is not empty; move or delete its content first.")
        conn.execute("DELETE FROM folders WHERE id = ?", (folder_id,))
    return empty_response(200)


async def move_folder(request: Request) -> Response:
    ctx, principal, workspace_id, folder_id = workspace_object_scope(request, _folder_id_of)
    body = await json_body(request, required=False)
    target_raw = opt_str(body, "targetFolderId")
    if target_raw is not None:
        target_raw = check_uuid(target_raw, "targetFolderId")
    with ctx.store.tx() as conn:
        require_role(ctx, conn, workspace_id, principal, "Contributor")
        data = _load_folder(conn, workspace_id, folder_id)
        target = _check_folder_exists(conn, workspace_id, target_raw)
        tree = _folder_tree(conn, workspace_id)
        if target and target in _descendants(tree, folder_id):
            raise ApiError(400, "InfiniteFolderHierarchyLoop",
                           "A folder cannot be moved into itself or one of its descendants.")
        if target and _depth(tree, target) + _subtree_height(tree, folder_id) > FOLDER_MAX_DEPTH:
            raise ApiError(400, "FolderDepthOutOfRange",
                           f"Folders can be nested at most {FOLDER_MAX_DEPTH} levels deep.")
        _check_folder_name_free(conn, workspace_id, target, data["displayName"], except_id=folder_id)
        if target:
            data["parentFolderId"] = target
        else:
            data.pop("parentFolderId", None)
        _save_folder(conn, data)
    return json_response(folder_view(data))


def routes() -> list[Route]:
    ws = "/v1/workspaces/{workspaceId}"
    out: list[Route] = []
    twins: list[tuple[str, str, str | None]] = [("items", "itemId", None)]
    twins += [(base, param, item_type) for item_type, (base, param) in TWINS.items()]
    for base, param, twin in twins:
        coll = f"{ws}/{base}"
        one = f"{coll}/{{{param}}}"
        out += [
            Route(coll, _create_item(twin), methods=["POST"]),
            Route(coll, _list_items(twin), methods=["GET"]),
            Route(one, item_route(_get_item, param, twin), methods=["GET"]),
            Route(one, item_route(_update_item, param, twin), methods=["PATCH"]),
            Route(one, item_route(_delete_item, param, twin), methods=["DELETE"]),
            Route(one + "/getDefinition", item_route(_get_definition, param, twin), methods=["POST"]),
            Route(one + "/updateDefinition", item_route(_update_definition, param, twin), methods=["POST"]),
        ]
    out += [
        Route(ws + "/items/{itemId}/move", move_item, methods=["POST"]),
        Route(ws + "/folders", create_folder, methods=["POST"]),
        Route(ws + "/folders", list_folders, methods=["GET"]),
        Route(ws + "/folders/{folderId}", get_folder, methods=["GET"]),
        Route(ws + "/folders/{folderId}", update_folder, methods=["PATCH"]),
        Route(ws + "/folders/{folderId}", delete_folder, methods=["DELETE"]),
        Route(ws + "/folders/{folderId}/move", move_folder, methods=["POST"]),
    ]
    return out
