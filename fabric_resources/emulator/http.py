"""HTTP helpers shared by every emulator route module (core, jobs).

Stable API (see docs/ARCHITECTURE.md):

- ``ApiError(status, error_code, message, more_details=None, headers=None, related_resource=None)``:
  raise it from a handler; the app renders it as the spec's ``ErrorResponse``.
- ``error_response(request, status, error_code, message, headers=None)``: the same, as a Response.
- ``principal_of(request)``: the caller (``identity.Principal``) set by the auth middleware.
- ``require_role(ctx, conn, workspace_id, principal, minimum) -> str``: the caller's role, or
  404 WorkspaceNotFound / 403 InsufficientPrivileges.
- ``page(request, ctx, items) -> dict``: one page ``{value, continuationToken?, continuationUri?}``.
- ``json_body(request) -> dict``: the parsed JSON object body, 400/413 for bad bodies.
- ``absolute_url(ctx, path, request=None) -> str``: ``https://host:port`` + path, on the host the
  client dialled (``request_origin(request, fallback)``), else on ``ctx.base_url``.
- ``json_response`` / ``empty_response``: bodies with and without a JSON content type.
- Small validators: ``opt_str``, ``req_str``, ``query_bool``, ``check_uuid``, ``path_uuid``, ``utc_now``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sqlite3
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from .context import EmulatorContext

#: Largest request body accepted (the service documents nothing; 4 MB keeps huge bodies cheap to refuse).
MAX_BODY_BYTES = 4 * 1024 * 1024

#: Workspace roles, weakest first.
ROLE_ORDER: dict[str, int] = {"Viewer": 1, "Contributor": 2, "Member": 3, "Admin": 4}


class ApiError(Exception):
    """An error answered as the spec's ErrorResponse. ``error_code`` is the stable contract."""

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        more_details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        related_resource: dict[str, str] | None = None,
        is_retriable: bool | None = None,
    ) -> None:
        super().__init__(f"{status} {error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.more_details = more_details
        self.headers = headers or {}
        self.related_resource = related_resource
        self.is_retriable = is_retriable


def request_id_of(request: Request | None) -> str:
    """The id the middleware assigned to this request (a fresh one when there is none)."""
    if request is not None:
        rid = request.scope.get("state", {}).get("request_id")
        if rid:
            return str(rid)
    return str(uuid.uuid4())


def error_body(
    request_id: str,
    error_code: str,
    message: str,
    more_details: list[dict[str, Any]] | None = None,
    related_resource: dict[str, str] | None = None,
    is_retriable: bool | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"requestId": request_id, "errorCode": error_code, "message": message}
    if more_details:
        body["moreDetails"] = more_details
    if related_resource:
        body["relatedResource"] = related_resource
    if is_retriable is not None:
        body["isRetriable"] = is_retriable
    return body


def error_headers(request_id: str, error_code: str) -> dict[str, str]:
    # Clients (and the official SDKs) read the code from this header without parsing the body.
    return {"x-ms-public-api-error-code": error_code, "requestId": request_id, "x-ms-request-id": request_id}


def render_api_error(request: Request | None, exc: ApiError) -> JSONResponse:
    rid = request_id_of(request)
    headers = {**error_headers(rid, exc.error_code), **exc.headers}
    body = error_body(rid, exc.error_code, exc.message, exc.more_details, exc.related_resource, exc.is_retriable)
    return JSONResponse(body, status_code=exc.status, headers=headers)


def error_response(request: Request | None, status: int, error_code: str, message: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """What raising this ``ApiError`` answers, for exception handlers that must return a Response.

    Errors with more fields (moreDetails, relatedResource, isRetriable) are raised as ``ApiError``.
    """
    return render_api_error(request, ApiError(status, error_code, message, headers=headers))


# -- responses ----------------------------------------------------------------------------------


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=headers)


def empty_response(status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A response without a body and without a JSON content type (clients check this)."""
    return Response(status_code=status, headers=headers)


#: What a Host header may hold: a DNS name, IPv4 or bracketed IPv6 literal, and an optional port.
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$")


def request_origin(request: Request | None, fallback: str = "") -> str:
    """``scheme://host[:port]`` as the client dialled it (its Host header), else ``fallback``'s origin.

    Clients (ours included) refuse to send credentials to a host other than the one they called, so
    every absolute URL we hand out must name that host: ``https://localhost:PORT`` when reached as
    localhost, even though the server was started as 127.0.0.1. A Host header that does not look like
    a host name (absent, or junk from a hostile client) falls back to the configured origin.
    """
    if request is not None:
        host = request.headers.get("host", "")
        scheme = request.url.scheme if request.url.scheme in ("http", "https") else "https"
        if _HOST_RE.match(host):
            return f"{scheme}://{host}"
    parts = urlsplit(fallback)
    if parts.scheme and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return ""


def absolute_url(ctx: EmulatorContext, path: str, request: Request | None = None) -> str:
    """Absolute URL of ``path`` (which starts with ``/``) on this emulator.

    The origin is the one the request was sent to (see ``request_origin``); without a request
    (background work) it is ``ctx.base_url``'s origin (a trailing ``/v1`` there does no harm).
    """
    return request_origin(request, ctx.base_url or "") + path


def utc_now() -> str:
    """Current time as the service writes it: ISO 8601, UTC, ``Z`` suffix, milliseconds."""
    return utc_iso(datetime.now(UTC))


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# -- caller and roles ---------------------------------------------------------------------------


def principal_of(request: Request) -> Any:
    """The authenticated ``identity.Principal`` (the auth middleware sets ``request.state.principal``)."""
    principal = request.scope.get("state", {}).get("principal")
    if principal is None:
        raise ApiError(401, "Unauthorized", "The request has no authenticated caller.")
    return principal


def role_of(conn: sqlite3.Connection, workspace_id: str, principal_id: str) -> str | None:
    row = conn.execute(
        "SELECT role FROM role_assignments WHERE workspace_id = ? AND principal_id = ?",
        (workspace_id, principal_id),
    ).fetchone()
    return None if row is None else str(row["role"])


def require_role(
    ctx: EmulatorContext, conn: sqlite3.Connection, workspace_id: str, principal: Any, minimum: str
) -> str:
    """Return the caller's role in the workspace if it is at least ``minimum``.

    - unknown workspace (or not a UUID) -> 404 WorkspaceNotFound
    - caller has no role in it -> 403 InsufficientPrivileges (we do not hide existence: clearer for
      the people debugging a deployment, and the service itself answers 403 for most such calls)
    - caller's role too weak -> 403 InsufficientPrivileges
    """
    row = conn.execute("SELECT 1 FROM workspaces WHERE id = ?", (workspace_id.lower(),)).fetchone()
    if row is None:
        raise ApiError(404, "WorkspaceNotFound", f"The requested workspace '{workspace_id}' was not found.",
                       related_resource={"resourceId": workspace_id, "resourceType": "Workspace"})
    role = role_of(conn, workspace_id.lower(), str(principal.object_id))
    if role is None:
        raise ApiError(403, "InsufficientPrivileges",
                       "The caller does not have any role in the workspace.")
    if ROLE_ORDER[role] < ROLE_ORDER[minimum]:
        raise ApiError(403, "InsufficientPrivileges",
                       f"The caller's workspace role '{role}' does not allow this operation "
                       f"(at least '{minimum}' is required).")
    return role


# -- request bodies and parameters --------------------------------------------------------------


async def json_body(request: Request, *, required: bool = True) -> dict[str, Any]:
    """The request body parsed as a JSON object.

    413 RequestBodyTooLarge above ``MAX_BODY_BYTES``; 400 InvalidRequest for an empty body (when
    required), malformed JSON, or JSON that is not an object. Empty body with ``required=False`` -> {}.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, "RequestBodyTooLarge",
                       f"The request body exceeds the limit of {MAX_BODY_BYTES} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, "RequestBodyTooLarge",
                           f"The request body exceeds the limit of {MAX_BODY_BYTES} bytes.")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        if required:
            raise ApiError(400, "InvalidRequest", "The request body is required and must be a JSON object.")
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "InvalidRequest", f"The request body is not valid JSON: {exc}.") from None
    except RecursionError:
        raise ApiError(400, "InvalidRequest", "The request body is nested too deeply.") from None
    if not isinstance(value, dict):
        raise ApiError(400, "InvalidRequest", "The request body must be a JSON object.")
    # JSON may spell a lone UTF-16 surrogate ("\\ud800"); Python accepts it, but such text cannot be
    # stored or sent back as UTF-8 (SQLite raises deep inside a handler). Only bodies that spell a
    # surrogate escape at all are walked.
    if _SURROGATE_ESCAPE.search(raw):
        where = _unencodable_text(value)
        if where is not None:
            raise ApiError(400, "InvalidRequest",
                           f"The request body holds text that cannot be encoded as UTF-8 (a lone UTF-16 "
                           f"surrogate escape such as \\ud800) at {where[:200]}.")
    return value


#: A JSON escape of a UTF-16 surrogate code unit (high or low half).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unencodable_text(value: Any) -> str | None:
    """JSONPath-like location of the first key or string that is not valid Unicode, else None.

    Iterative: the body may be nested as deeply as the JSON parser allowed.
    """
    stack: list[tuple[str, Any]] = [("$", value)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, str):
            if not _encodes(node):
                return where
        elif isinstance(node, dict):
            for key, child in node.items():
                if not _encodes(key):
                    return f"{where} (a property name)"
                stack.append((f"{where}.{key}", child))
        elif isinstance(node, list):
            stack.extend((f"{where}[{index}]", child) for index, child in enumerate(node))
    return None


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "InvalidInput", message,
                    more_details=[{"errorCode": "InvalidParameter", "message": f"{field}: {message}"}])


def req_str(body: dict[str, Any], field: str, *, max_length: int | None = None) -> str:
    """A required, non-blank string field (400 InvalidInput otherwise)."""
    value = body.get(field)
    if value is None:
        raise _invalid(field, f"The field '{field}' is required.")
    if not isinstance(value, str):
        raise _invalid(field, f"The field '{field}' must be a string.")
    if not value.strip():
        raise _invalid(field, f"The field '{field}' must not be empty.")
    if max_length is not None and len(value) > max_length:
        raise _invalid(field, f"The field '{field}' cannot contain more than {max_length} characters.")
    return value


def opt_str(body: dict[str, Any], field: str, *, max_length: int | None = None) -> str | None:
    """An optional string field: None when absent or null, 400 InvalidInput for other types."""
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(field, f"The field '{field}' must be a string.")
    if max_length is not None and len(value) > max_length:
        raise _invalid(field, f"The field '{field}' cannot contain more than {max_length} characters.")
    return value


def check_uuid(value: str, field: str) -> str:
    """Lower-cased UUID text, or 400 InvalidInput."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise _invalid(field, f"The value of '{field}' is not a valid UUID.") from None


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def path_uuid(request: Request, param: str, error_code: str, message: str) -> str:
    """The UUID path parameter ``param``, lower-cased. Anything else cannot name an object, so it is
    answered like an unknown id: 404 ``error_code`` with ``message`` (its ``{}`` is the raw value)."""
    raw = str(request.path_params[param])
    if not is_uuid(raw):
        raise ApiError(404, error_code, message.format(raw))
    return raw.lower()


def query_bool(request: Request, name: str, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise _invalid(name, f"The query parameter '{name}' must be true or false.")


# -- pagination ---------------------------------------------------------------------------------


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def _decode_token(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offset = data["o"]
        if not isinstance(offset, int) or offset < 0:
            raise ValueError
        return offset
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "InvalidContinuationToken", "The continuation token is not valid.") from None


def page(request: Request, ctx: EmulatorContext, items: list[dict[str, Any]]) -> dict[str, Any]:
    """One page of ``items`` (already filtered and ordered) for this request.

    Page size comes from ``ctx.config["page_size"]`` at request time. The continuation token is
    opaque to clients (base64 of an offset); ``continuationUri`` is the absolute URL of this request
    with its query parameters kept and the token replaced. Both are absent on the last page.
    """
    size = max(1, int(ctx.cfg("page_size") or 100))
    token = request.query_params.get("continuationToken")
    offset = _decode_token(token) if token else 0
    chunk = items[offset:offset + size]
    body: dict[str, Any] = {"value": chunk}
    next_offset = offset + size
    if next_offset < len(items):
        next_token = _encode_token(next_offset)
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "continuationToken"]
        params.append(("continuationToken", next_token))
        body["continuationToken"] = next_token
        body["continuationUri"] = absolute_url(ctx, request.url.path, request) + "?" + urlencode(params)
    return body
