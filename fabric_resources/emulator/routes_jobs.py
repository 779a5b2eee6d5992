"""Job instances, schedules and activity runs of the emulator's /v1 API.

Routes (``{ws}`` = ``/v1/workspaces/{workspaceId}``; each item route also exists under
``{ws}/dataPipelines/{dataPipelineId}`` as in dataPipeline/swagger.json):

- ``POST {ws}/items/{itemId}/jobs/{jobType}/instances`` and legacy ``POST .../jobs/instances?jobType=``
  -> 202, ``Location`` (the job instance), ``Retry-After``, no body.
- ``GET .../jobs/instances`` (newest first, paginated), ``GET .../jobs/instances/{id}``, and the
  same under ``.../jobs/{jobType}/instances``; ``POST .../instances/{id}/cancel`` -> 202.
- ``.../jobs/{jobType}/schedules[/{scheduleId}]``: POST (201 + Location), GET, PATCH, DELETE, list.
- ``POST {ws}/datapipelines/pipelineruns/{jobId}/queryactivityruns`` -> a bare JSON array.

Status codes chosen where the spec names only error codes: 400 InvalidJobType (a job type the item
does not have), 404 JobInstanceNotFound / ScheduleNotFound, 409 ScheduleExceedsLimit (the item
already has 20 schedules: a conflict with existing state, not a malformed request), 400 InvalidInput
with ``moreDetails`` naming the field for bad schedule configurations and activity-run queries.
Permissions: Viewer reads; Contributor (or more) runs, cancels and manages schedules.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .context import EmulatorContext
from .http import (
    ApiError,
    absolute_url,
    empty_response,
    is_uuid,
    json_body,
    json_response,
    page,
    principal_of,
    require_role,
    utc_now,
)
from .jobs import (
    PIPELINE_ITEM_TYPE,
    JobEngine,
    QueryError,
    is_pipeline_job_type,
    load_item,
    query_activity_runs,
)
from .scheduler import MAX_SCHEDULES_PER_ITEM, ScheduleValidationError, validate_configuration
from .store import dumps, loads

#: Seconds clients are told to wait before polling a job instance (small: emulated runs are short).
RETRY_AFTER_SECONDS = "1"
Handler = Callable[[Request], Awaitable[Response]]


def _ctx(request: Request) -> EmulatorContext:
    ctx: EmulatorContext = request.app.state.ctx
    return ctx


def _engine(ctx: EmulatorContext) -> JobEngine:
    if ctx.jobs is None:
        raise ApiError(503, "ServiceUnavailable", "The jobs engine of the emulator is not running.")
    engine: JobEngine = ctx.jobs
    return engine


def _workspace_id(request: Request) -> str:
    raw = str(request.path_params["workspaceId"])
    if not is_uuid(raw):
        raise ApiError(404, "WorkspaceNotFound", f"The requested workspace '{raw}' was not found.")
    return raw.lower()


def _item_id(request: Request, param: str) -> str:
    raw = str(request.path_params[param])
    if not is_uuid(raw):
        raise ApiError(404, "ItemNotFound", f"The requested item '{raw}' was not found.")
    return raw.lower()


def _item_or_404(conn: sqlite3.Connection, workspace_id: str, item_id: str, pipeline_only: bool) -> dict[str, Any]:
    item = load_item(conn, workspace_id, item_id)
    if item is None or (pipeline_only and item.get("type") != PIPELINE_ITEM_TYPE):
        raise ApiError(404, "ItemNotFound", f"The requested item '{item_id}' was not found.",
                       related_resource={"resourceId": item_id, "resourceType": "Item"})
    return item


def _check_job_type(job_type: str | None, item: dict[str, Any]) -> str:
    if not job_type:
        raise ApiError(400, "InvalidJobType", "The job type is required (for pipelines: Pipeline or Execute).")
    if item.get("type") != PIPELINE_ITEM_TYPE or not is_pipeline_job_type(job_type):
        raise ApiError(400, "InvalidJobType",
                       f"The job type '{job_type}' is not valid for an item of type '{item.get('type')}' "
                       "(pipelines accept Pipeline, Execute or execute).")
    return job_type


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "InvalidInput", f"{field}: {message}",
                    more_details=[{"errorCode": "InvalidParameter", "message": f"{field}: {message}"}])


def _job_url(workspace_id: str, item_id: str, job_id: str) -> str:
    return f"/v1/workspaces/{workspace_id}/items/{item_id}/jobs/instances/{job_id}"


# -- run parameters -----------------------------------------------------------------------------


def _run_parameters(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(parameters, executionData) of a run request.

    Two shapes are in use: ``executionData.parameters`` as an object (docs, older API) and a
    top-level ``parameters`` array of ``{name, type, value}`` (spec, newer API; an object is also
    accepted). The top-level form wins when both name the same parameter.
    """
    execution_data = body.get("executionData")
    if execution_data is None:
        execution_data = {}
    if not isinstance(execution_data, dict):
        raise _invalid("executionData", "must be an object.")
    params: dict[str, Any] = {}
    legacy = execution_data.get("parameters")
    if legacy is not None:
        if not isinstance(legacy, dict):
            raise _invalid("executionData.parameters", "must be an object of name -> value.")
        params.update(legacy)
    top = body.get("parameters")
    if isinstance(top, dict):
        params.update(top)
    elif isinstance(top, list):
        seen: set[str] = set()
        for i, entry in enumerate(top):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or "value" not in entry:
                raise _invalid(f"parameters[{i}]", "must be an object with 'name', 'type' and 'value'.")
            name = entry["name"]
            if len(name) > 256:
                raise _invalid(f"parameters[{i}].name", "cannot be longer than 256 characters.")
            if name.casefold() in seen:
                raise _invalid(f"parameters[{i}].name", f"the parameter '{name}' is given twice.")
            seen.add(name.casefold())
            params[name] = entry["value"]
    elif top is not None:
        raise _invalid("parameters", "must be an array of {name, type, value}.")
    return params, execution_data


# -- job instances ------------------------------------------------------------------------------


def _run_job(param: str, pipeline_only: bool, path_job_type: bool) -> Handler:
    async def handler(request: Request) -> Response:
        ctx = _ctx(request)
        principal = principal_of(request)
        workspace_id = _workspace_id(request)
        item_id = _item_id(request, param)
        job_type = (request.path_params.get("jobType") if path_job_type
                    else request.query_params.get("jobType"))
        body = await json_body(request, required=False)
        params, execution_data = _run_parameters(body)
        engine = _engine(ctx)
        with ctx.store.tx() as conn:
            require_role(ctx, conn, workspace_id, principal, "Contributor")
            item = _item_or_404(conn, workspace_id, item_id, pipeline_only)
            _check_job_type(job_type, item)
            job = engine.run(workspace_id, item_id, str(job_type), parameters=params,
                             execution_data=execution_data, conn=conn)
        return empty_response(202, {"Location": absolute_url(ctx, _job_url(workspace_id, item_id, job["id"]), request),
                                    "Retry-After": RETRY_AFTER_SECONDS})
    return handler


def _load_job(conn: sqlite3.Connection, item_id: str, job_id: str) -> dict[str, Any]:
    row = conn.execute("SELECT data FROM job_instances WHERE id = ? AND item_id = ?",
                       (job_id.lower(), item_id)).fetchone()
    if row is None:
        raise ApiError(404, "JobInstanceNotFound", f"The job instance '{job_id}' was not found.",
                       related_resource={"resourceId": job_id, "resourceType": "ItemJobInstance"})
    data: dict[str, Any] = loads(row["data"])
    return data


def _get_job(param: str, pipeline_only: bool) -> Handler:
    async def handler(request: Request) -> Response:
        ctx = _ctx(request)
        principal = principal_of(request)
        workspace_id = _workspace_id(request)
        item_id = _item_id(request, param)
        with ctx.store.read() as conn:
            require_role(ctx, conn, workspace_id, principal, "Viewer")
            _item_or_404(conn, workspace_id, item_id, pipeline_only)
            job = _load_job(conn, item_id, str(request.path_params["jobInstanceId"]))
        return json_response(job)
    return handler


def _list_jobs(param: str, pipeline_only: bool) -> Handler:
    async def handler(request: Request) -> Response:
        ctx = _ctx(request)
        principal = principal_of(request)
        workspace_id = _workspace_id(request)
        item_id = _item_id(request, param)
        with ctx.store.read() as conn:
            require_role(ctx, conn, workspace_id, principal, "Viewer")
            _item_or_404(conn, workspace_id, item_id, pipeline_only)
            rows = conn.execute("SELECT data FROM job_instances WHERE item_id = ? ORDER BY created DESC, rowid DESC",
                                (item_id,)).fetchall()
        return json_response(page(request, ctx, [loads(r["data"]) for r in rows]))
    return handler


def _cancel_job(param: str, pipeline_only: bool) -> Handler:
    async def handler(request: Request) -> Response:
        ctx = _ctx(request)
        principal = principal_of(request)
        workspace_id = _workspace_id(request)
        item_id = _item_id(request, param)
        job_id = str(request.path_params["jobInstanceId"]).lower()
        with ctx.store.read() as conn:
            require_role(ctx, conn, workspace_id, principal, "Contributor")
            _item_or_404(conn, workspace_id, item_id, pipeline_only)
            _load_job(conn, item_id, job_id)
        # Cancelling a finished job is accepted and changes nothing (idempotent, like the service's 202).
        _engine(ctx).cancel(job_id)
        return empty_response(202, {"Location": absolute_url(ctx, _job_url(workspace_id, item_id, job_id), request),
                                    "Retry-After": RETRY_AFTER_SECONDS})
    return handler


# -- schedules ----------------------------------------------------------------------------------


def _schedule_body(body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "enabled" in body or not partial:
        if not isinstance(body.get("enabled"), bool):
            raise _invalid("enabled", "is required and must be true or false.")
        out["enabled"] = body["enabled"]
    if "configuration" in body or not partial:
        try:
            out["configuration"] = validate_configuration(body.get("configuration"))
        except ScheduleValidationError as exc:
            raise _invalid(exc.field, exc.message) from None
    if body.get("executionData") is not None:
        if not isinstance(body["executionData"], dict):
            raise _invalid("executionData", "must be an object.")
        out["executionData"] = body["executionData"]
    return out


def _owner(principal: Any) -> dict[str, str]:
    kind = str(getattr(principal, "kind", "User"))
    return {"id": str(principal.object_id), "type": kind if kind in ("User", "ServicePrincipal") else "User"}


def _load_schedule(conn: sqlite3.Connection, item_id: str, schedule_id: str) -> dict[str, Any]:
    row = conn.execute("SELECT data FROM schedules WHERE id = ? AND item_id = ?",
                       (schedule_id.lower(), item_id)).fetchone()
    if row is None:
        raise ApiError(404, "ScheduleNotFound", f"The schedule '{schedule_id}' was not found.",
                       related_resource={"resourceId": schedule_id, "resourceType": "ItemSchedule"})
    data: dict[str, Any] = loads(row["data"])
    return data


def _schedule_prelude(request: Request, param: str, pipeline_only: bool, conn: sqlite3.Connection,
                      minimum: str) -> tuple[str, str, str]:
    ctx = _ctx(request)
    workspace_id = _workspace_id(request)
    item_id = _item_id(request, param)
    require_role(ctx, conn, workspace_id, principal_of(request), minimum)
    item = _item_or_404(conn, workspace_id, item_id, pipeline_only)
    job_type = _check_job_type(str(request.path_params["jobType"]), item)
    return workspace_id, item_id, job_type


def _create_schedule(param: str, pipeline_only: bool) -> Handler:
    async def handler(request: Request) -> Response:
        ctx = _ctx(request)
        principal = principal_of(request)
        body = _schedule_body(await json_body(request), partial=False)
        with ctx.store.tx() as conn:
            workspace_id, item_id, job_type = _schedule_prelude(request, param, pipeline_only, conn, "Contributor")
            count = conn.execute("SELECT COUNT(*) FROM schedules WHERE item_id = ?", (item_id,)).fetchone()[0]
            if count >= MAX_SCHEDULES_PER_ITEM:
                raise ApiError(409, "ScheduleExceedsLimit",
                               f"An item can have at most {MAX_SCHEDULES_PER_ITEM} schedules; delete one first.")
            schedule_id = str(uuid.uuid4())
            data: dict[str, Any] = {"id": schedule_id, "enabled": body["enabled"], "createdDateTime": utc_now(),
                                    "configuration": body["configuration"], "owner": _owner(principal)}
            if "executionData" in body:
                data["executionData"] = body["executionData"]
            conn.execute(
                "INSERT INTO schedules (id, workspace_id, item_id, job_type, created, revision, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (schedule_id, workspace_id, item_id, job_type, time.time(), str(uuid.uuid4()), dumps(data)),
            )
        _engine(ctx).scheduler.wake()
        location = absolute_url(
            ctx, f"/v1/workspaces/{workspace_id}/items/{item_id}/jobs/{job_type}/schedules/{schedule_id}", request)
        return json_response(data, 201, {"Location": location})
    return handler


def _get_schedule(param: str, pipeline_only: bool) -> Handler:
    async def handler(request: Request) -> Response:
        ctx = _ctx(request)
        with ctx.store.read() as conn:
            _, item_id, _ = _schedule_prelude(request, param, pipeline_only, conn, "Viewer")
            data = _load_schedule(conn, item_id, str(request.path_params["scheduleId"]))
        return json_response(data)
    return handler


def _list_schedules(param: str, pipeline_only: bool) -> Handler:
    async def handler(request: Request) -> Response:
        ctx = _ctx(request)
        with ctx.store.read() as conn:
            _, item_id, _ = _schedule_prelude(request, param, pipeline_only, conn, "Viewer")
            rows = conn.execute("SELECT data FROM schedules WHERE item_id = ? ORDER BY created, rowid",
                                (item_id,)).fetchall()
        return json_response(page(request, ctx, [loads(r["data"]) for r in rows]))
    return handler


def _update_schedule(param: str, pipeline_only: bool) -> Handler:
    async def handler(request: Request) -> Response:
        ctx = _ctx(request)
        principal = principal_of(request)
        changes = _schedule_body(await json_body(request), partial=True)
        with ctx.store.tx() as conn:
            _, item_id, _ = _schedule_prelude(request, param, pipeline_only, conn, "Contributor")
            data = _load_schedule(conn, item_id, str(request.path_params["scheduleId"]))
            data.update(changes)
            data["owner"] = _owner(principal)  # the spec: "created this schedule or last modified it"
            conn.execute("UPDATE schedules SET data = ?, revision = ? WHERE id = ?",
                         (dumps(data), str(uuid.uuid4()), data["id"]))
        _engine(ctx).scheduler.wake()
        return json_response(data)
    return handler


def _delete_schedule(param: str, pipeline_only: bool) -> Handler:
    async def handler(request: Request) -> Response:
        ctx = _ctx(request)
        with ctx.store.tx() as conn:
            _, item_id, _ = _schedule_prelude(request, param, pipeline_only, conn, "Contributor")
            data = _load_schedule(conn, item_id, str(request.path_params["scheduleId"]))
            conn.execute("DELETE FROM schedules WHERE id = ?", (data["id"],))
        _engine(ctx).scheduler.wake()
        return empty_response(200)
    return handler


# -- activity runs ------------------------------------------------------------------------------


async def query_activity_runs_handler(request: Request) -> Response:
    ctx = _ctx(request)
    principal = principal_of(request)
    workspace_id = _workspace_id(request)
    job_id = str(request.path_params["jobId"]).lower()
    body = await json_body(request, required=False)
    engine = _engine(ctx)
    with ctx.store.read() as conn:
        require_role(ctx, conn, workspace_id, principal, "Viewer")
        row = conn.execute("SELECT id FROM job_instances WHERE id = ? AND workspace_id = ?",
                           (job_id, workspace_id)).fetchone()
        if row is None:
            raise ApiError(404, "JobInstanceNotFound", f"The pipeline run '{job_id}' was not found.",
                           related_resource={"resourceId": job_id, "resourceType": "ItemJobInstance"})
        runs = engine.activity_runs(conn, job_id)
    try:
        result = query_activity_runs(runs, body)
    except QueryError as exc:
        raise _invalid(exc.field, str(exc)) from None
    return json_response(result)


# -- assembly -----------------------------------------------------------------------------------


def routes() -> list[Route]:
    ws = "/v1/workspaces/{workspaceId}"
    out: list[Route] = []
    for base, param, pipeline_only in (("items", "itemId", False), ("dataPipelines", "dataPipelineId", True)):
        one = f"{ws}/{base}/{{{param}}}/jobs"
        out += [
            # Literal "instances" routes first so "/jobs/instances/{id}" is never read as a job type.
            Route(f"{one}/instances", _run_job(param, pipeline_only, False), methods=["POST"]),
            Route(f"{one}/instances", _list_jobs(param, pipeline_only), methods=["GET"]),
            Route(f"{one}/instances/{{jobInstanceId}}", _get_job(param, pipeline_only), methods=["GET"]),
            Route(f"{one}/instances/{{jobInstanceId}}/cancel", _cancel_job(param, pipeline_only), methods=["POST"]),
            Route(f"{one}/{{jobType}}/instances", _run_job(param, pipeline_only, True), methods=["POST"]),
            Route(f"{one}/{{jobType}}/instances", _list_jobs(param, pipeline_only), methods=["GET"]),
            Route(f"{one}/{{jobType}}/instances/{{jobInstanceId}}", _get_job(param, pipeline_only), methods=["GET"]),
            Route(f"{one}/{{jobType}}/instances/{{jobInstanceId}}/cancel", _cancel_job(param, pipeline_only),
                  methods=["POST"]),
            Route(f"{one}/{{jobType}}/schedules", _create_schedule(param, pipeline_only), methods=["POST"]),
            Route(f"{one}/{{jobType}}/schedules", _list_schedules(param, pipeline_only), methods=["GET"]),
            Route(f"{one}/{{jobType}}/schedules/{{scheduleId}}", _get_schedule(param, pipeline_only),
                  methods=["GET"]),
            Route(f"{one}/{{jobType}}/schedules/{{scheduleId}}", _update_schedule(param, pipeline_only),
                  methods=["PATCH"]),
            Route(f"{one}/{{jobType}}/schedules/{{scheduleId}}", _delete_schedule(param, pipeline_only),
                  methods=["DELETE"]),
        ]
    for spelling in ("datapipelines", "dataPipelines"):
        out.append(Route(f"{ws}/{spelling}/pipelineruns/{{jobId}}/queryactivityruns", query_activity_runs_handler,
                         methods=["POST"]))
    return out
