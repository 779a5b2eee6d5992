"""Job instances, schedules and activity runs of the emulator's /v1 API.

Routes (``{ws}`` = ``/v1/workspaces/{workspaceId}``; each item route also exists under
``{ws}/dataPipelines/{dataPipelineId}`` as in dataPipeline/swagger.json):

- ``POST {ws}/items/{itemId}/jobs/{jobType}/instances`` and legacy ``POST .../jobs/instances?jobType=``
  -> 202, ``Location`` (the job instance), ``Retry-After``, no body.
- ``GET .../jobs/instances`` (newest first, paginated), ``GET .../jobs/instances/{id}``, and the
  same under ``.../jobs/{jobType}/instances``; ``POST .../instances/{id}/cancel`` -> 202.
- ``.../jobs/{jobType}/schedules[/{scheduleId}]``: POST (201 + Location), GET, PATCH, DELETE, list.
- ``POST {ws}/datapipelines/pipelineruns/{jobId}/queryactivityruns`` -> a bare JSON array.

Bodies follow the spec's schemas (tests/integration/test_emulator_jobs_conformance.py): job
instances leave out ``startTimeUtc``/``endTimeUtc``/``failureReason`` until they have a value (the
spec does not make them nullable); run parameters need a ``type`` of ItemJobParameterType.

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
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fabric_resources.scheduling import (
    MAX_SCHEDULES_PER_ITEM,
    ScheduleValidationError,
    validate_configuration,
)

from .activity_runs import QueryError, query_activity_runs, read_activity_runs
from .context import EmulatorContext
from .http import (
    ApiError,
    absolute_url,
    empty_response,
    json_body,
    json_response,
    page,
    require_role,
    utc_now,
)
from .jobs import PIPELINE_ITEM_TYPE, JobEngine, is_pipeline_job_type
from .routes_items import ItemCall, item_route
from .routes_workspaces import workspace_scope
from .store import dumps, loads

if TYPE_CHECKING:
    from .identity import Principal

#: Seconds clients are told to wait before polling a job instance (small: emulated runs are short).
RETRY_AFTER_SECONDS = "1"
#: The spec's ItemJobParameterType values (common/job_scheduling.json); a run parameter's ``type``.
PARAMETER_TYPES = ("VariableReference", "Integer", "Number", "Text", "Boolean", "DateTime", "Guid", "Automatic")
Handler = Callable[[Request], Awaitable[Response]]


def _engine(ctx: EmulatorContext) -> JobEngine:
    if ctx.jobs is None:
        raise ApiError(503, "ServiceUnavailable", "The jobs engine of the emulator is not running.")
    engine: JobEngine = ctx.jobs
    return engine


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
            if entry.get("type") not in PARAMETER_TYPES:
                # The spec's Parameter requires ``type`` (an ItemJobParameterType).
                raise _invalid(f"parameters[{i}].type", f"must be one of {', '.join(PARAMETER_TYPES)}.")
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


def _public_job(data: dict[str, Any]) -> dict[str, Any]:
    """The ItemJobInstance as answered: fields without a value are left out.

    The engine stores ``startTimeUtc``/``endTimeUtc``/``failureReason`` as null until they are
    known, but the spec types them as a string and an ErrorResponse object (not nullable), so a
    null would not validate; an absent optional field does.
    """
    return {key: value for key, value in data.items() if value is not None}


def _run_job(param: str, twin: str | None, path_job_type: bool) -> Handler:
    async def handler(request: Request) -> Response:
        call = ItemCall.of(request, param, twin)
        job_type = (request.path_params.get("jobType") if path_job_type
                    else request.query_params.get("jobType"))
        body = await json_body(request, required=False)
        params, execution_data = _run_parameters(body)
        engine = _engine(call.ctx)
        with call.ctx.store.tx() as conn:
            item = call.open_item(conn, "Contributor")
            _check_job_type(job_type, item)
            job = engine.run(call.workspace_id, call.item_id, str(job_type), item=item, parameters=params,
                             execution_data=execution_data, conn=conn)
        return _job_accepted(request, call, job["id"])
    return handler


def _job_accepted(request: Request, call: ItemCall, job_id: str) -> Response:
    """202 pointing at the job instance (run and cancel answer the same way)."""
    location = absolute_url(call.ctx, _job_url(call.workspace_id, call.item_id, job_id), request)
    return empty_response(202, {"Location": location, "Retry-After": RETRY_AFTER_SECONDS})


def _load_of_item(conn: sqlite3.Connection, table: str, item_id: str, object_id: str,
                  missing: ApiError) -> dict[str, Any]:
    """The stored JSON of a job instance or schedule (``table``) of the item, else raise ``missing``."""
    row = conn.execute(f"SELECT data FROM {table} WHERE id = ? AND item_id = ?",  # table: a fixed name, never input
                       (object_id.lower(), item_id)).fetchone()
    if row is None:
        raise missing
    data: dict[str, Any] = loads(row["data"])
    return data


def _load_job(conn: sqlite3.Connection, item_id: str, job_id: str) -> dict[str, Any]:
    return _load_of_item(conn, "job_instances", item_id, job_id, ApiError(
        404, "JobInstanceNotFound", f"The job instance '{job_id}' was not found.",
        related_resource={"resourceId": job_id, "resourceType": "ItemJobInstance"}))


async def _get_job(request: Request, call: ItemCall) -> Response:
    with call.ctx.store.read() as conn:
        call.open_item(conn, "Viewer")
        job = _load_job(conn, call.item_id, str(request.path_params["jobInstanceId"]))
    return json_response(_public_job(job))


async def _list_jobs(request: Request, call: ItemCall) -> Response:
    with call.ctx.store.read() as conn:
        call.open_item(conn, "Viewer")
        rows = conn.execute("SELECT data FROM job_instances WHERE item_id = ? ORDER BY created DESC, rowid DESC",
                            (call.item_id,)).fetchall()
    return json_response(page(request, call.ctx, [_public_job(loads(r["data"])) for r in rows]))


async def _cancel_job(request: Request, call: ItemCall) -> Response:
    job_id = str(request.path_params["jobInstanceId"]).lower()
    with call.ctx.store.read() as conn:
        call.open_item(conn, "Contributor")
        _load_job(conn, call.item_id, job_id)
    # Cancelling a finished job is accepted and changes nothing (idempotent; the spec also lists
    # JobAlreadyCompleted, but clients and tests rely on the repeatable 202).
    _engine(call.ctx).cancel(job_id)
    return _job_accepted(request, call, job_id)


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


def _owner(principal: Principal) -> dict[str, str]:
    kind = str(getattr(principal, "kind", "User"))
    return {"id": str(principal.object_id), "type": kind if kind in ("User", "ServicePrincipal") else "User"}


def _load_schedule(conn: sqlite3.Connection, item_id: str, schedule_id: str) -> dict[str, Any]:
    return _load_of_item(conn, "schedules", item_id, schedule_id, ApiError(
        404, "ScheduleNotFound", f"The schedule '{schedule_id}' was not found.",
        related_resource={"resourceId": schedule_id, "resourceType": "ItemSchedule"}))


def _open_schedules(request: Request, call: ItemCall, conn: sqlite3.Connection, minimum: str) -> str:
    """Role and item checks of a schedule route; returns the path's job type once checked."""
    return _check_job_type(str(request.path_params["jobType"]), call.open_item(conn, minimum))


def _open_schedule(request: Request, call: ItemCall, conn: sqlite3.Connection, minimum: str) -> dict[str, Any]:
    """The schedule the path names (``{scheduleId}``), after the role, item and job type checks."""
    _open_schedules(request, call, conn, minimum)
    return _load_schedule(conn, call.item_id, str(request.path_params["scheduleId"]))


async def _create_schedule(request: Request, call: ItemCall) -> Response:
    body = _schedule_body(await json_body(request), partial=False)
    with call.ctx.store.tx() as conn:
        job_type = _open_schedules(request, call, conn, "Contributor")
        count = conn.execute("SELECT COUNT(*) FROM schedules WHERE item_id = ?", (call.item_id,)).fetchone()[0]
        if count >= MAX_SCHEDULES_PER_ITEM:
            raise ApiError(409, "ScheduleExceedsLimit",
                           f"An item can have at most {MAX_SCHEDULES_PER_ITEM} schedules; delete one first.")
        schedule_id = str(uuid.uuid4())
        data: dict[str, Any] = {"id": schedule_id, "enabled": body["enabled"], "createdDateTime": utc_now(),
                                "configuration": body["configuration"], "owner": _owner(call.principal)}
        if "executionData" in body:
            data["executionData"] = body["executionData"]
        conn.execute(
            "INSERT INTO schedules (id, workspace_id, item_id, job_type, created, revision, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (schedule_id, call.workspace_id, call.item_id, job_type, time.time(), str(uuid.uuid4()), dumps(data)),
        )
    _engine(call.ctx).scheduler.wake()
    location = absolute_url(call.ctx, f"/v1/workspaces/{call.workspace_id}/items/{call.item_id}"
                                      f"/jobs/{job_type}/schedules/{schedule_id}", request)
    return json_response(data, 201, {"Location": location})


async def _get_schedule(request: Request, call: ItemCall) -> Response:
    with call.ctx.store.read() as conn:
        data = _open_schedule(request, call, conn, "Viewer")
    return json_response(data)


async def _list_schedules(request: Request, call: ItemCall) -> Response:
    with call.ctx.store.read() as conn:
        _open_schedules(request, call, conn, "Viewer")
        rows = conn.execute("SELECT data FROM schedules WHERE item_id = ? ORDER BY created, rowid",
                            (call.item_id,)).fetchall()
    return json_response(page(request, call.ctx, [loads(r["data"]) for r in rows]))


async def _update_schedule(request: Request, call: ItemCall) -> Response:
    changes = _schedule_body(await json_body(request), partial=True)
    with call.ctx.store.tx() as conn:
        data = _open_schedule(request, call, conn, "Contributor")
        data.update(changes)
        data["owner"] = _owner(call.principal)  # the spec: "created this schedule or last modified it"
        conn.execute("UPDATE schedules SET data = ?, revision = ? WHERE id = ?",
                     (dumps(data), str(uuid.uuid4()), data["id"]))
    _engine(call.ctx).scheduler.wake()
    return json_response(data)


async def _delete_schedule(request: Request, call: ItemCall) -> Response:
    with call.ctx.store.tx() as conn:
        data = _open_schedule(request, call, conn, "Contributor")
        conn.execute("DELETE FROM schedules WHERE id = ?", (data["id"],))
    _engine(call.ctx).scheduler.wake()
    return empty_response(200)


# -- activity runs ------------------------------------------------------------------------------


async def query_activity_runs_handler(request: Request) -> Response:
    ctx, principal, workspace_id = workspace_scope(request)
    job_id = str(request.path_params["jobId"]).lower()
    body = await json_body(request, required=False)
    with ctx.store.read() as conn:
        require_role(ctx, conn, workspace_id, principal, "Viewer")
        row = conn.execute("SELECT id FROM job_instances WHERE id = ? AND workspace_id = ?",
                           (job_id, workspace_id)).fetchone()
        if row is None:
            raise ApiError(404, "JobInstanceNotFound", f"The pipeline run '{job_id}' was not found.",
                           related_resource={"resourceId": job_id, "resourceType": "ItemJobInstance"})
        runs = read_activity_runs(conn, job_id)
    try:
        result = query_activity_runs(runs, body)
    except QueryError as exc:
        raise _invalid(exc.field, str(exc)) from None
    return json_response(result)


# -- assembly -----------------------------------------------------------------------------------


def routes() -> list[Route]:
    ws = "/v1/workspaces/{workspaceId}"
    out: list[Route] = []
    for base, param, twin in (("items", "itemId", None), ("dataPipelines", "dataPipelineId", PIPELINE_ITEM_TYPE)):
        one = f"{ws}/{base}/{{{param}}}/jobs"
        out += [
            # Literal "instances" routes first so "/jobs/instances/{id}" is never read as a job type.
            Route(f"{one}/instances", _run_job(param, twin, False), methods=["POST"]),
            Route(f"{one}/instances", item_route(_list_jobs, param, twin), methods=["GET"]),
            Route(f"{one}/instances/{{jobInstanceId}}", item_route(_get_job, param, twin), methods=["GET"]),
            Route(f"{one}/instances/{{jobInstanceId}}/cancel", item_route(_cancel_job, param, twin), methods=["POST"]),
            Route(f"{one}/{{jobType}}/instances", _run_job(param, twin, True), methods=["POST"]),
            Route(f"{one}/{{jobType}}/instances", item_route(_list_jobs, param, twin), methods=["GET"]),
            Route(f"{one}/{{jobType}}/instances/{{jobInstanceId}}", item_route(_get_job, param, twin), methods=["GET"]),
            Route(f"{one}/{{jobType}}/instances/{{jobInstanceId}}/cancel", item_route(_cancel_job, param, twin),
                  methods=["POST"]),
            Route(f"{one}/{{jobType}}/schedules", item_route(_create_schedule, param, twin), methods=["POST"]),
            Route(f"{one}/{{jobType}}/schedules", item_route(_list_schedules, param, twin), methods=["GET"]),
            Route(f"{one}/{{jobType}}/schedules/{{scheduleId}}", item_route(_get_schedule, param, twin),
                  methods=["GET"]),
            Route(f"{one}/{{jobType}}/schedules/{{scheduleId}}", item_route(_update_schedule, param, twin),
                  methods=["PATCH"]),
            Route(f"{one}/{{jobType}}/schedules/{{scheduleId}}", item_route(_delete_schedule, param, twin),
                  methods=["DELETE"]),
        ]
    for spelling in ("datapipelines", "dataPipelines"):
        out.append(Route(f"{ws}/{spelling}/pipelineruns/{{jobId}}/queryactivityruns", query_activity_runs_handler,
                         methods=["POST"]))
    return out
