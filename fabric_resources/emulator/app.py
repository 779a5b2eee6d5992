"""The emulator's ASGI application: routes, the /v1 request gate, and the admin control plane.

Every /v1 request passes one gate (a pure ASGI middleware, cheaper than Starlette's
BaseHTTPMiddleware and able to drop connections), in this order:

1. stats: counted by route template (``"GET /v1/workspaces/{workspaceId}"``), faulted or not,
   because tests assert how many calls a client made;
2. faults: added latency, dropped connections (``drop_rate``), random 500/503 (``error_rate``);
3. authentication: bearer token -> ``identity.Principal`` on ``request.state.principal``;
4. throttling per principal (needs to know the caller, hence after authentication);
5. the handler, whose answer is then lost for a ``drop_after_rate`` fraction of requests (the work is
   done, the connection closes before the response is complete).

Every response carries ``requestId``/``x-ms-request-id``; errors are the spec's ErrorResponse.
"""

from __future__ import annotations

import asyncio
import copy
import fnmatch
import math
import random
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route

from . import routes_core, routes_jobs, routes_operations
from .context import DEFAULT_CONFIG, EmulatorContext
from .http import (
    ApiError,
    empty_response,
    error_body,
    error_headers,
    error_response,
    json_body,
    json_response,
)
from .http import render_api_error as _render_api_error
from .store import dumps

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _Throttle:
    """Fixed-window request counter per principal (thread-safe, config read live)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}
        self._settings: tuple[int, float] = (0, 0.0)

    def admit(self, key: str, limit: int, window: float) -> float | None:
        """None when the request may pass; otherwise the seconds left in the caller's window."""
        now = time.monotonic()
        with self._lock:
            if (limit, window) != self._settings:
                # New limits start from a clean slate (a test switching settings expects that).
                self._settings = (limit, window)
                self._windows.clear()
            start, count = self._windows.get(key, (now, 0))
            if now - start >= window:
                start, count = now, 0
            if count >= limit:
                self._windows[key] = (start, count)
                return max(0.0, start + window - now)
            self._windows[key] = (start, count + 1)
            return None


async def _send_error(send: Send, request_id: str, status: int, code: str, message: str,
                      extra_headers: dict[str, str] | None = None) -> None:
    response = json_response(error_body(request_id, code, message), status,
                             {**error_headers(request_id, code), **(extra_headers or {})})
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


class V1Gate:
    """Stats, faults, authentication and throttling for /v1; request ids for everything."""

    def __init__(self, app: ASGIApp, ctx: EmulatorContext, routes: list[BaseRoute]) -> None:
        self.app = app
        self.ctx = ctx
        self.routes = routes
        self.throttle = _Throttle()
        self.random = random.Random()

    def _template(self, scope: Scope) -> str:
        partial = None
        for route in self.routes:
            if isinstance(route, Mount):
                continue
            match, _child = route.matches(scope)
            if match == Match.FULL and isinstance(route, Route):
                return route.path
            if match == Match.PARTIAL and partial is None and isinstance(route, Route):
                partial = route.path
        return partial or "(unknown route)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"requestid" not in names:
                    headers.append((b"requestId", request_id.encode()))
                if b"x-ms-request-id" not in names:
                    headers.append((b"x-ms-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        path: str = scope.get("path", "")
        if not (path == "/v1" or path.startswith("/v1/")):
            await self.app(scope, receive, send_with_id)
            return

        ctx = self.ctx
        route = f"{scope['method']} {self._template(scope)}"
        ctx.stats.record(route)
        ctx.stats.begin()
        try:
            await self._serve_v1(scope, receive, send, send_with_id, request_id, route)
        finally:
            ctx.stats.end()

    async def _serve_v1(self, scope: Scope, receive: Receive, send: Send, send_with_id: Send,
                        request_id: str, route: str) -> None:
        ctx = self.ctx
        # fault_route narrows the random faults (not route_errors, which names its routes itself).
        pattern = str(ctx.cfg("fault_route") or "")
        faulty = not pattern or fnmatch.fnmatchcase(route, pattern)

        latency = float(ctx.cfg("latency_ms") or 0) if faulty else 0.0
        if latency > 0:
            await asyncio.sleep(latency / 1000.0)
        if faulty and self.random.random() < float(ctx.cfg("drop_rate") or 0):
            await _cut_connection(send)  # the request was not processed
            return
        forced = (ctx.cfg("route_errors") or {}).get(route)
        if forced is not None:
            await _send_error(send_with_id, request_id, int(forced),
                              "ServiceUnavailable" if str(forced) == "503" else "InternalServerError",
                              f"This route fails on purpose (the emulator's route_errors for '{route}').",
                              {"Retry-After": "1"} if str(forced) == "503" else None)
            return
        if faulty and self.random.random() < float(ctx.cfg("error_rate") or 0):
            if self.random.random() < 0.5:
                await _send_error(send_with_id, request_id, 500, "InternalServerError",
                                  "An internal error occurred (fault injected by the emulator).")
            else:
                await _send_error(send_with_id, request_id, 503, "ServiceUnavailable",
                                  "The service is temporarily unavailable (fault injected by the emulator).",
                                  {"Retry-After": "1"})
            return

        auth = _header(scope, b"authorization")
        try:
            principal = ctx.identity.verify(auth)
        except Exception as exc:  # identity.InvalidToken; anything else is a bad token too
            reason = getattr(exc, "reason", "invalid")
            if reason == "expired":
                code, message = "TokenExpired", "Access token has expired, resubmit with a new access token."
            elif reason == "missing":
                code, message = "Unauthorized", "The request has no bearer token in its Authorization header."
            else:
                code, message = "InvalidToken", "The access token is invalid."
            await _send_error(send_with_id, request_id, 401, code, message,
                              {"WWW-Authenticate": 'Bearer realm="fabric-emulator"'})
            return
        scope["state"]["principal"] = principal

        limit = int(ctx.cfg("throttle_limit") or 0)
        if limit > 0:
            window = float(ctx.cfg("throttle_window_seconds") or 1.0)
            wait = self.throttle.admit(str(principal.object_id), limit, window)
            if wait is not None:
                ctx.stats.record_throttled()
                if ctx.cfg("throttle_retry_after_window"):
                    retry_after = str(max(1, math.ceil(wait)))
                else:
                    retry_after = str(int(ctx.cfg("throttle_retry_after") or 1))
                await _send_error(send_with_id, request_id, 429, "RequestBlocked",
                                  f"Request is blocked by the upstream service until: retry after {retry_after}s.",
                                  {"Retry-After": retry_after})
                return
        if faulty and self.random.random() < float(ctx.cfg("drop_after_rate") or 0):
            # The handler runs to completion (its transaction commits, a job starts) but its answer
            # never reaches the client: the case where resending a POST would do the work twice.
            try:
                await self.app(scope, receive, _discard)
            finally:
                await _cut_connection(send)
            return
        held = float(ctx.cfg("latency_after_ms") or 0) if faulty else 0.0
        if held > 0:
            # The work is done and committed; its answer is held back: the window in which a killed
            # client has made an object it never learns about.
            async def send_late(message: Message) -> None:
                if message["type"] == "http.response.start":
                    await asyncio.sleep(held / 1000.0)
                await send_with_id(message)

            await self.app(scope, receive, send_late)
            return
        await self.app(scope, receive, send_with_id)


async def _discard(message: Message) -> None:
    """An ASGI ``send`` that loses the response."""


async def _cut_connection(send: Send) -> None:
    """Start a response and stop mid-body: uvicorn then closes the connection, which the client sees
    as a broken connection / incomplete read, with no usable answer.

    (ASGI cannot close a connection before the status line; returning without any response makes
    uvicorn answer 500 instead, which a client would read as an answer.)
    """
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")]})
    await send({"type": "http.response.body", "body": b'{"value": [', "more_body": True})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


# -- admin control plane (outside /v1) -----------------------------------------------------------


def _is_str_mapping(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def _admin_routes(ctx: EmulatorContext) -> list[BaseRoute]:
    async def get_config(request: Request) -> Response:
        return json_response({**DEFAULT_CONFIG, **ctx.config})

    async def put_config(request: Request) -> Response:
        body = await json_body(request)
        unknown = sorted(set(body) - set(DEFAULT_CONFIG))
        if unknown:
            raise ApiError(400, "InvalidInput", f"Unknown config keys: {', '.join(unknown)}.")
        for key, value in body.items():
            default = DEFAULT_CONFIG[key]
            ok = (isinstance(value, bool) if isinstance(default, bool)
                  else isinstance(value, str) if isinstance(default, str)
                  else _is_str_mapping(value) if isinstance(default, dict)
                  else isinstance(value, int | float) and not isinstance(value, bool))
            if not ok:
                raise ApiError(400, "InvalidInput", f"Config key '{key}' has the wrong type.")
        if "lro_mode" in body and body["lro_mode"] not in ("never", "always", "size"):
            raise ApiError(400, "InvalidInput", "lro_mode must be never, always or size.")
        for key, value in body.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
                raise ApiError(400, "InvalidInput", f"Config key '{key}' cannot be negative.")
        for key in ("error_rate", "drop_rate", "drop_after_rate"):
            if key in body and body[key] > 1:
                raise ApiError(400, "InvalidInput", f"Config key '{key}' is a fraction between 0 and 1.")
        if any(str(v) not in ("500", "503") for v in (body.get("route_errors") or {}).values()):
            raise ApiError(400, "InvalidInput", "route_errors maps 'METHOD /v1/<route>' to \"500\" or \"503\".")
        if "page_size" in body and (not isinstance(body["page_size"], int) or body["page_size"] < 1):
            raise ApiError(400, "InvalidInput", "page_size must be a whole number of at least 1.")
        ctx.config.update(body)
        return json_response({**DEFAULT_CONFIG, **ctx.config})

    async def reset_config(request: Request) -> Response:
        # In place: other components hold a reference to this dict.
        ctx.config.clear()
        ctx.config.update(copy.deepcopy(DEFAULT_CONFIG))
        return json_response(dict(ctx.config))

    async def get_stats(request: Request) -> Response:
        return json_response(ctx.stats.snapshot())

    async def reset_stats(request: Request) -> Response:
        ctx.stats.reset()
        return empty_response(200)

    async def issue_token(request: Request) -> Response:
        body = await json_body(request)
        client_id, upn = body.get("client_id"), body.get("user_principal_name") or body.get("upn")
        if client_id is not None and not isinstance(client_id, str):
            raise ApiError(400, "InvalidInput", "client_id must be a string.")
        if upn is not None and not isinstance(upn, str):
            raise ApiError(400, "InvalidInput", "user_principal_name must be a string.")
        if client_id:
            principal = ctx.identity.find_principal(client_id=client_id)
        elif upn:
            principal = ctx.identity.find_principal(upn=upn)
        else:
            raise ApiError(400, "InvalidInput", "Give client_id or user_principal_name.")
        if principal is None:
            raise ApiError(404, "PrincipalNotFound", "No such principal in the emulator's tenant.")
        lifetime = body.get("lifetime_seconds")
        if lifetime is not None and (not isinstance(lifetime, int | float) or isinstance(lifetime, bool)):
            raise ApiError(400, "InvalidInput", "lifetime_seconds must be a number.")
        token = ctx.identity.issue_token(principal, lifetime_seconds=lifetime)
        return json_response({"access_token": token, "token_type": "Bearer"})

    async def put_raw_definition(request: Request) -> Response:
        # Stores parts verbatim, skipping the API's checks: live data the API would refuse (content
        # that is not JSON, say) is how clients' read paths are tested against what they cannot parse.
        body = await json_body(request)
        parts = body.get("parts")
        if not isinstance(parts, list) or not all(
            isinstance(p, dict) and isinstance(p.get("path"), str) and isinstance(p.get("payload"), str)
            for p in parts
        ):
            raise ApiError(400, "InvalidInput", "Give {\"parts\": [{\"path\", \"payload\"}, ...]}.")
        item_id = str(request.path_params["itemId"]).lower()
        with ctx.store.tx() as conn:
            if conn.execute("SELECT 1 FROM items WHERE id = ?", (item_id,)).fetchone() is None:
                raise ApiError(404, "ItemNotFound", "No such item.")
            stored = {"parts": [{"payloadType": "InlineBase64", **p} for p in parts]}
            conn.execute("INSERT OR REPLACE INTO definitions (item_id, data) VALUES (?, ?)",
                         (item_id, dumps(stored)))
        return empty_response(200)

    return [
        Route("/_emulator/items/{itemId}/definition", put_raw_definition, methods=["PUT"]),
        Route("/_emulator/config", get_config, methods=["GET"]),
        Route("/_emulator/config", put_config, methods=["PUT"]),
        Route("/_emulator/config", reset_config, methods=["DELETE"]),
        Route("/_emulator/stats", get_stats, methods=["GET"]),
        Route("/_emulator/stats", reset_stats, methods=["DELETE"]),
        Route("/_emulator/token", issue_token, methods=["POST"]),
    ]


# -- assembly ------------------------------------------------------------------------------------


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(request, 404, "EntityNotFound" if request.url.path.startswith("/v1/")
                              else "UnknownRoute", f"No API route matches '{request.url.path}'.")
    if exc.status_code == 405:
        # Starlette names only the first route of the path; a path may have one route per method.
        allowed: set[str] = set()
        for route in request.app.routes:
            if isinstance(route, Route) and route.path_regex.match(request.url.path):
                allowed |= set(route.methods or ())
        return error_response(request, 405, "MethodNotAllowed",
                              f"The method {request.method} is not allowed on '{request.url.path}'.",
                              headers={"Allow": ", ".join(sorted(allowed))})
    return error_response(request, exc.status_code, "InvalidRequest", str(exc.detail))


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _render_api_error(request, exc)


async def _unexpected(request: Request, exc: Exception) -> Response:
    return error_response(request, 500, "InternalServerError", "An unexpected error occurred in the emulator.")


def create_app(ctx: EmulatorContext) -> Starlette:
    """The whole emulator as one Starlette app (see module docstring)."""
    api_routes: list[BaseRoute] = [*routes_core.routes(), *routes_jobs.routes()]
    identity_routes: list[BaseRoute] = list(ctx.identity.routes())
    all_routes = [*api_routes, *_admin_routes(ctx), *identity_routes]
    app = Starlette(
        routes=all_routes,
        exception_handlers={
            HTTPException: _http_exception,
            ApiError: _api_error,
            Exception: _unexpected,
        },
    )
    app.state.ctx = ctx
    app.add_middleware(V1Gate, ctx=ctx, routes=api_routes)
    routes_operations.resume_pending(ctx)
    return app


__all__ = ["V1Gate", "create_app"]
