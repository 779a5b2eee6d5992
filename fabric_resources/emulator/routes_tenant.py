"""Tenant-level lookups and item tags (/v1): tags, applyTags / unapplyTags, connections."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .catalog import CONNECTION_BY_ID, CONNECTIONS, TAG_BY_ID, TAGS
from .http import (
    ApiError,
    empty_response,
    json_body,
    json_response,
    page,
    path_uuid,
    principal_of,
    require_role,
)
from .routes_items import item_id_of, load_item, save_item
from .routes_workspaces import ctx_of, workspace_scope


async def list_tags(request: Request) -> Response:
    principal_of(request)
    return json_response(page(request, ctx_of(request), [dict(t) for t in TAGS]))


def _tag_ids(body: dict[str, Any]) -> list[str]:
    raw = body.get("tags")
    if not isinstance(raw, list) or not raw or not all(isinstance(t, str) for t in raw):
        raise ApiError(400, "InvalidInputs", "The field 'tags' is required and must be a non-empty array of tag ids.")
    ids: list[str] = []
    for tag_id in raw:
        key = tag_id.lower()
        if key not in TAG_BY_ID:
            raise ApiError(404, "EntityNotFound", f"The tag '{tag_id}' does not exist.",
                           related_resource={"resourceId": tag_id, "resourceType": "Tag"})
        if key not in ids:
            ids.append(key)
    return ids


def _tagging(apply: bool) -> Any:
    async def handler(request: Request) -> Response:
        ctx, principal, workspace_id = workspace_scope(request)
        item_id = item_id_of(request, "itemId")
        ids = _tag_ids(await json_body(request))
        with ctx.store.tx() as conn:
            require_role(ctx, conn, workspace_id, principal, "Contributor")
            item = load_item(conn, workspace_id, item_id)
            current: list[str] = list(item.get("tags") or [])
            if apply:
                current += [t for t in ids if t not in current]
            else:
                current = [t for t in current if t not in ids]
            item["tags"] = current
            save_item(conn, item)
        return empty_response(200)
    return handler


async def list_connections(request: Request) -> Response:
    principal_of(request)
    return json_response(page(request, ctx_of(request), [dict(c) for c in CONNECTIONS]))


async def get_connection(request: Request) -> Response:
    principal_of(request)
    connection_id = path_uuid(request, "connectionId", "ConnectionNotFound", "The connection '{}' was not found.")
    connection = CONNECTION_BY_ID.get(connection_id)
    if connection is None:
        raise ApiError(404, "ConnectionNotFound", f"The connection '{connection_id}' was not found.",
                       related_resource={"resourceId": connection_id, "resourceType": "Connection"})
    return json_response(dict(connection))


def routes() -> list[Route]:
    item = "/v1/workspaces/{workspaceId}/items/{itemId}"
    return [
        Route("/v1/tags", list_tags, methods=["GET"]),
        Route(item + "/applyTags", _tagging(True), methods=["POST"]),
        Route(item + "/unapplyTags", _tagging(False), methods=["POST"]),
        Route("/v1/connections", list_connections, methods=["GET"]),
        Route("/v1/connections/{connectionId}", get_connection, methods=["GET"]),
    ]
