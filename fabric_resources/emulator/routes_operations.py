"""Long-running operations: 202 + Location, then GET /v1/operations/{id} and /result.

An operation row holds the deferred work and its due time. The work is applied by a timer thread at
the due time, or lazily by whichever request observes the operation first after that time, or at
start-up for operations that fell due while the server was down -- so state survives restarts and
nothing depends on a timer having fired.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .context import EmulatorContext
from .http import ApiError, absolute_url, empty_response, is_uuid, json_response, principal_of, utc_iso
from .store import dumps, loads

#: Work appliers by operation kind: (ctx, conn, work) -> result body or None; raise ApiError to fail.
Applier = Callable[[EmulatorContext, sqlite3.Connection, dict[str, Any]], "dict[str, Any] | None"]
APPLIERS: dict[str, Applier] = {}


def wants_lro(ctx: EmulatorContext, payload_size: int) -> bool:
    """Whether an operation of this payload size answers 202 (``lro_mode``: never|always|size)."""
    mode = str(ctx.cfg("lro_mode") or "never")
    if mode == "always":
        return True
    if mode == "size":
        return payload_size > int(ctx.cfg("lro_size_threshold") or 0)
    return False


def start_operation(
    ctx: EmulatorContext,
    conn: sqlite3.Connection,
    request: Request,
    *,
    kind: str,
    owner: str,
    work: dict[str, Any] | None = None,
    result: dict[str, Any] | None = None,
) -> Response:
    """Record an operation inside the caller's transaction and build its 202 response.

    ``work`` is applied later by ``APPLIERS[kind]``; ``result`` is a precomputed result body (for
    read-only operations such as getDefinition).
    """
    op_id = str(uuid.uuid4())
    now = time.time()
    duration = max(0.0, float(ctx.cfg("lro_duration_seconds") or 0.0))
    op = {
        "id": op_id, "kind": kind, "owner": owner, "created": now, "due": now + duration,
        "fail": bool(ctx.cfg("lro_fail")), "undefined": bool(ctx.cfg("lro_undefined")), "state": "pending", "work": work, "result": result,
        "error": None, "finished": None,
    }
    conn.execute("INSERT INTO operations (id, data) VALUES (?, ?)", (op_id, dumps(op)))
    _schedule(ctx, op_id, duration)
    retry_after = math.ceil(duration) if duration > 0 else 0
    return empty_response(202, {
        "Location": absolute_url(ctx, f"/v1/operations/{op_id}", request),
        "x-ms-operation-id": op_id,
        "Retry-After": str(retry_after),
    })


def _schedule(ctx: EmulatorContext, op_id: str, delay: float) -> None:
    timer = threading.Timer(delay + 0.01, _complete_in_tx, args=(ctx, op_id))
    timer.daemon = True
    timer.start()


def _complete_in_tx(ctx: EmulatorContext, op_id: str) -> None:
    try:
        with ctx.store.tx() as conn:
            row = conn.execute("SELECT data FROM operations WHERE id = ?", (op_id,)).fetchone()
            if row is not None:
                complete_if_due(ctx, conn, loads(row["data"]))
    except Exception:  # noqa: BLE001 - a timer must never kill the server; requests retry lazily
        pass


def complete_if_due(ctx: EmulatorContext, conn: sqlite3.Connection, op: dict[str, Any]) -> dict[str, Any]:
    """Apply the operation's work once it is due (idempotent). Must run inside ``store.tx()``."""
    if op["state"] != "pending" or time.time() < float(op["due"]):
        return op
    if op["fail"]:
        op["state"] = "failed"
        op["error"] = {"errorCode": "OperationFailed",
                       "message": "The operation failed (fault injected by the emulator's lro_fail)."}
    else:
        try:
            applier = APPLIERS.get(op["kind"])
            if applier is not None and op.get("work") is not None:
                produced = applier(ctx, conn, op["work"])
                if produced is not None and not ctx.cfg("lro_no_result"):
                    op["result"] = produced
            op["state"] = "succeeded"
        except ApiError as exc:
            op["state"] = "failed"
            op["error"] = {"errorCode": exc.error_code, "message": exc.message}
    op["finished"] = time.time()
    op["work"] = None  # applied (or abandoned): the payload is no longer needed
    conn.execute("UPDATE operations SET data = ? WHERE id = ?", (dumps(op), op["id"]))
    return op


def resume_pending(ctx: EmulatorContext) -> None:
    """At start-up: re-arm timers for operations still pending (e.g. after a restart)."""
    with ctx.store.read() as conn:
        rows = conn.execute("SELECT data FROM operations").fetchall()
    now = time.time()
    for row in rows:
        op = loads(row["data"])
        if op.get("state") == "pending":
            _schedule(ctx, op["id"], max(0.0, float(op["due"]) - now))


def _iso(epoch: float) -> str:
    return utc_iso(datetime.fromtimestamp(epoch, UTC))


def _load_for_caller(request: Request) -> tuple[EmulatorContext, dict[str, Any]]:
    ctx: EmulatorContext = request.app.state.ctx
    principal = principal_of(request)
    op_id = str(request.path_params["operationId"]).lower()
    if not is_uuid(op_id):
        raise ApiError(404, "OperationNotFound", f"The operation '{op_id}' was not found.")
    with ctx.store.tx() as conn:
        row = conn.execute("SELECT data FROM operations WHERE id = ?", (op_id,)).fetchone()
        stored = None if row is None else loads(row["data"])
        # Operations are private to the caller that started them, as in the service.
        if stored is None or stored["owner"] != principal.object_id:
            raise ApiError(404, "OperationNotFound", f"The operation '{op_id}' was not found.")
        op = complete_if_due(ctx, conn, stored)
    return ctx, op


async def get_operation_state(request: Request) -> Response:
    ctx, op = _load_for_caller(request)
    now = time.time()
    body: dict[str, Any] = {"createdTimeUtc": _iso(op["created"])}
    headers = {"x-ms-operation-id": op["id"]}
    if op["state"] == "pending":
        span = max(1e-6, float(op["due"]) - float(op["created"]))
        percent = int(min(99, max(0, (now - float(op["created"])) / span * 100)))
        body.update(status="Running", lastUpdatedTimeUtc=_iso(now), percentComplete=percent)
        remaining = max(0.0, float(op["due"]) - now)
        headers["Retry-After"] = str(math.ceil(remaining) if remaining > 0 else 0)
        headers["Location"] = absolute_url(ctx, f"/v1/operations/{op['id']}", request)
    elif op["state"] == "succeeded" and not op.get("undefined"):
        body.update(status="Succeeded", lastUpdatedTimeUtc=_iso(op["finished"]), percentComplete=100)
        if op.get("result") is not None:
            headers["Location"] = absolute_url(ctx, f"/v1/operations/{op['id']}/result", request)
    elif op.get("undefined"):
        # lro_undefined: the work was applied, but the state says nothing about it (no result either).
        body.update(status="Undefined", lastUpdatedTimeUtc=_iso(op["finished"]))
    else:
        body.update(status="Failed", lastUpdatedTimeUtc=_iso(op["finished"]), percentComplete=100,
                    error=op["error"])
    return json_response({"id": op["id"], **body}, 200, headers)


async def get_operation_result(request: Request) -> Response:
    _ctx, op = _load_for_caller(request)
    if op["state"] == "pending":
        raise ApiError(400, "OperationNotCompleted", "The operation is still running; poll its state first.")
    if op["state"] == "failed":
        err = op["error"] or {}
        raise ApiError(400, "OperationFailed", f"The operation failed: {err.get('message', '')}")
    if op.get("result") is None:
        return empty_response(200)
    return json_response(op["result"])


def routes() -> list[Route]:
    return [
        Route("/v1/operations/{operationId}", get_operation_state, methods=["GET"]),
        Route("/v1/operations/{operationId}/result", get_operation_result, methods=["GET"]),
    ]
