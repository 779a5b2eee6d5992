"""The run engine: job instances that really execute their pipeline, their activity runs, schedules.

Its neighbours: ``expressions.py`` evaluates the pipeline expression language for it (through
``Scope``), ``activity_runs.py`` answers queries over the activity runs it records, ``scheduler.py``
decides when a schedule fires, ``routes_jobs.py`` is the HTTP face.

What runs (see docs/ARCHITECTURE.md and the pipelines brief):

- ``JobEngine.run(...)`` inserts a job instance (``NotStarted``) and starts one daemon thread for it
  (``InProgress`` -> ``Completed`` | ``Failed`` | ``Cancelled``). One thread per run rather than a
  bounded pool because ``ExecutePipeline`` with ``waitOnCompletion`` makes a run wait for another
  run: a bounded pool full of waiting parents would deadlock.
- The run follows ``pipeline-content.json``: activities start when their ``dependsOn`` conditions
  hold (each in its own thread, so independent branches run in parallel); activities whose
  conditions can no longer hold are ``Skipped``. The run's outcome uses the service's rule: look at
  every leaf activity (one nothing depends on); a skipped leaf is replaced by its parents; the run
  succeeds only if every node looked at succeeded (so try/catch with an "on Failed" handler succeeds).
- Durations are simulated: ``Wait`` sleeps ``waitTimeInSeconds * time_factor``; activity types
  without special meaning (Copy, Notebook, ...) take ``activity_duration_seconds * time_factor`` and
  succeed unless ``activity_faults`` (config: ``{"NameOrType": "fail" | "fail_once"}``) says otherwise.
- Cancelling sets an event every sleep waits on, so a run stops within milliseconds; activities
  running at that moment end ``Cancelled`` and a waited-on child run is cancelled too.
- Restart policy: runs cannot be resumed mid-activity (their threads are gone), so runs that were
  ``NotStarted``/``InProgress`` when the emulator stopped are marked ``Failed`` with errorCode
  ``JobInterrupted`` -- at shutdown when it is orderly, otherwise at the next start.
- Expressions: a small, safe subset of the pipeline expression language is *interpreted* (never
  ``eval``'d): see ``expressions.py``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fabric_resources.activities import NESTED_ACTIVITY_KEYS, dependency_problem

from .expressions import ExpressionError, equals, resolve, resolve_lenient, to_string
from .http import utc_now
from .payloads import decode_payload
from .scheduler import Scheduler
from .store import Store, dumps, find_item, loads
from .variable_libraries import library_variable_values

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS job_instances (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    created REAL NOT NULL,                  -- epoch seconds: list order (newest first)
    status TEXT NOT NULL,
    request TEXT NOT NULL DEFAULT '{}',     -- {"parameters": {...}, "executionData": {...}}
    data TEXT NOT NULL                      -- the public ItemJobInstance
);
CREATE INDEX IF NOT EXISTS job_instances_item ON job_instances (item_id, created);
CREATE INDEX IF NOT EXISTS job_instances_status ON job_instances (status);
CREATE TABLE IF NOT EXISTS activity_runs (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS activity_runs_job ON activity_runs (job_id, seq);
CREATE TABLE IF NOT EXISTS schedules (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    job_type TEXT NOT NULL,
    created REAL NOT NULL,
    revision TEXT NOT NULL,                 -- changes on every update: the scheduler re-anchors
    data TEXT NOT NULL                      -- the public ItemSchedule
);
CREATE INDEX IF NOT EXISTS schedules_item ON schedules (item_id, created);
"""

# Registered at import: server.py imports this module before it opens the store.
Store.register_schema(SCHEMA)


PIPELINE_ITEM_TYPE = "DataPipeline"
#: Job type spellings in use for pipelines (docs: Pipeline; spec: execute / Execute).
PIPELINE_JOB_TYPES = ("Pipeline", "execute", "Execute")
TERMINAL = ("Completed", "Failed", "Cancelled", "Deduped")
DEFAULT_RETRY_INTERVAL_SECONDS = 30.0
PIPELINE_CONTENT = "pipeline-content.json"


def is_pipeline_job_type(job_type: str) -> bool:
    return job_type.casefold() in ("pipeline", "execute")


# -- read-only accessors of the core tables (the core routes own them) ------------------------


def load_pipeline_content(conn: sqlite3.Connection, item_id: str) -> dict[str, Any] | None:
    """The decoded ``pipeline-content.json`` of an item; None when it has no such part.

    Raises ValueError when the part is not valid base64 JSON."""
    row = conn.execute("SELECT data FROM definitions WHERE item_id = ?", (item_id,)).fetchone()
    if row is None:
        return None
    definition = loads(row["data"]) or {}
    for part in definition.get("parts") or []:
        if str(part.get("path", "")).lstrip("/") == PIPELINE_CONTENT:
            try:
                content = json.loads(decode_payload(str(part.get("payload") or "")))
            except ValueError as exc:
                raise ValueError(f"{PIPELINE_CONTENT} is not valid base64-encoded JSON: {exc}") from None
            if not isinstance(content, dict):
                raise ValueError(f"{PIPELINE_CONTENT} must hold a JSON object")
            return content
    return None


# -- run state ---------------------------------------------------------------------------------


class Cancelled(Exception):
    """The run was cancelled (or the emulator is shutting down) while an activity ran."""


class ActivityFailure(Exception):
    """An activity failed; carries the error shape of activity runs."""

    def __init__(self, error_code: str, message: str, failure_type: str = "UserError") -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.failure_type = failure_type


@dataclass
class Run:
    """In-memory state of one executing job instance."""

    job_id: str
    workspace_id: str
    item_id: str
    item_name: str
    invoke_type: str
    parameters: dict[str, Any]
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    shutdown: bool = False
    variables: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    children: list[str] = field(default_factory=list)
    trigger_time: str = field(default_factory=utc_now)
    # The pipeline's libraryVariables, read from the active value sets when the run starts.
    library_variables: dict[str, Any] = field(default_factory=dict)

    def pipeline_info(self) -> dict[str, Any]:
        return {
            "parameters": self.parameters, "RunId": self.job_id, "Pipeline": self.item_id,
            "PipelineName": self.item_name, "DataFactory": self.workspace_id,
            "TriggerType": self.invoke_type, "TriggerTime": self.trigger_time, "GroupId": self.job_id,
            "libraryVariables": self.library_variables,
        }

    def get_variable(self, name: str) -> Any:
        with self.lock:
            if name not in self.variables:
                raise ExpressionError(f"the variable '{name}' is not declared in the pipeline")
            return self.variables[name]

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake (and raise Cancelled) as soon as the run is cancelled."""
        if self.cancel.wait(max(0.0, seconds)):
            raise Cancelled()


@dataclass
class Scope:
    """Where an activity runs: the run, the current ForEach item, and the activity results visible."""

    run: Run
    parent: Scope | None = None
    item: Any = None
    has_item: bool = False
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    def pipeline_info(self) -> dict[str, Any]:
        return self.run.pipeline_info()

    def get_variable(self, name: str) -> Any:
        return self.run.get_variable(name)

    def child(self, item: Any = None, has_item: bool = False) -> Scope:
        return Scope(self.run, self, item if has_item else self.item, has_item or self.has_item)

    def current_item(self) -> Any:
        if not self.has_item:
            raise ExpressionError("item() can only be used inside a ForEach activity")
        return self.item

    def activity_result(self, name: str) -> dict[str, Any]:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.results:
                return scope.results[name]
            scope = scope.parent
        raise ExpressionError(f"the activity '{name}' has not run (or is not visible from here)")


@dataclass
class _ContainerOutcome:
    ok: bool
    failed_activity: str | None = None
    error: dict[str, Any] | None = None


def _coerce_parameter(value: Any, declared: str | None) -> Any:
    """Convert a run-request value to a parameter's declared type (callers often send text)."""
    kind = (declared or "").casefold()
    try:
        if kind == "int" and isinstance(value, str):
            return int(value.strip())
        if kind in ("float", "number") and isinstance(value, str):
            return float(value.strip())
        if kind == "bool" and isinstance(value, str) and value.strip().casefold() in ("true", "false"):
            return value.strip().casefold() == "true"
        if kind in ("array", "object", "securestring_json") and isinstance(value, str):
            return json.loads(value)
    except ValueError:
        return value
    return value


def _condition_met(status: str, conditions: Iterable[str]) -> bool:
    for cond in conditions:
        c = str(cond).casefold()
        if c == "completed" and status in ("Succeeded", "Failed"):
            return True
        if c == status.casefold():
            return True
    return False


# -- the engine --------------------------------------------------------------------------------


class JobEngine:
    """Runs job instances and schedules of one emulator (``ctx.jobs``)."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.store: Store = ctx.store
        self.store.register_schema(SCHEMA)
        self._runs: dict[str, Run] = {}
        self._runs_lock = threading.Lock()
        self._seq = 0
        self._seq_lock = threading.Lock()
        self._stopping = threading.Event()
        self.scheduler = Scheduler(self._enabled_schedules, self._fire_schedule, self._time_factor)

    # -- config ---------------------------------------------------------------------------
    def _cfg(self, key: str, default: Any) -> Any:
        value = self.ctx.config.get(key) if isinstance(self.ctx.config, dict) else None
        return default if value is None else value

    def _time_factor(self) -> float:
        try:
            return max(0.0, float(self._cfg("time_factor", 1.0)))
        except (TypeError, ValueError):
            return 1.0

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping.clear()
        self._fail_interrupted("The emulator stopped while this job was running; runs are not resumed.")
        self.scheduler.start()

    def stop(self) -> None:
        self._stopping.set()
        self.scheduler.stop()
        with self._runs_lock:
            runs = list(self._runs.values())
        for run in runs:
            run.shutdown = True
            run.cancel.set()
        deadline = time.monotonic() + 5.0
        for run in runs:
            run.done.wait(max(0.0, deadline - time.monotonic()))
        self._fail_interrupted("The emulator stopped while this job was running.")

    def _fail_interrupted(self, message: str) -> None:
        with self.store.tx() as conn:
            rows = conn.execute(
                "SELECT id, data FROM job_instances WHERE status IN ('NotStarted', 'InProgress')").fetchall()
            for row in rows:
                if row["id"] in self._runs and not self._stopping.is_set():
                    continue
                data = loads(row["data"])
                data.update(status="Failed", endTimeUtc=utc_now(),
                            failureReason={"errorCode": "JobInterrupted", "message": message})
                conn.execute("UPDATE job_instances SET status = ?, data = ? WHERE id = ?",
                             ("Failed", dumps(data), row["id"]))
                for arow in conn.execute("SELECT id, data FROM activity_runs WHERE job_id = ?",
                                         (row["id"],)).fetchall():
                    adata = loads(arow["data"])
                    if adata.get("status") in ("InProgress", "Queued"):
                        adata.update(status="Cancelled", activityRunEnd=utc_now())
                        conn.execute("UPDATE activity_runs SET data = ? WHERE id = ?", (dumps(adata), arow["id"]))

    def on_item_deleted(self, conn: sqlite3.Connection, item_id: str) -> None:
        """Called inside the deleting transaction: cancel the item's runs, drop its jobs/schedules."""
        with self._runs_lock:
            for run in self._runs.values():
                if run.item_id == item_id:
                    run.cancel.set()
        conn.execute("DELETE FROM activity_runs WHERE job_id IN (SELECT id FROM job_instances WHERE item_id = ?)",
                     (item_id,))
        conn.execute("DELETE FROM job_instances WHERE item_id = ?", (item_id,))
        conn.execute("DELETE FROM schedules WHERE item_id = ?", (item_id,))
        self.scheduler.wake()

    # -- job instances --------------------------------------------------------------------
    def run(self, workspace_id: str, item_id: str, job_type: str, *, item: dict[str, Any],
            invoke_type: str = "Manual", parameters: dict[str, Any] | None = None,
            execution_data: dict[str, Any] | None = None, conn: sqlite3.Connection | None = None) -> dict[str, Any]:
        """Create a job instance and start executing it; returns the public ItemJobInstance.

        ``item`` is the item's stored JSON, which every caller has just loaded (and checked)."""
        job_id = str(uuid.uuid4())
        data = {
            "id": job_id, "itemId": item_id, "jobType": job_type, "invokeType": invoke_type,
            "status": "NotStarted", "rootActivityId": str(uuid.uuid4()),
            "startTimeUtc": None, "endTimeUtc": None, "failureReason": None,
        }
        request = {"parameters": parameters or {}, "executionData": execution_data or {}}
        with self.store.tx() if conn is None else _joined(conn) as c:
            c.execute(
                "INSERT INTO job_instances (id, workspace_id, item_id, created, status, request, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (job_id, workspace_id, item_id, time.time(), "NotStarted", dumps(request), dumps(data)),
            )
        run = Run(job_id, workspace_id, item_id, str(item.get("displayName", item_id)),
                   invoke_type, dict(parameters or {}))
        with self._runs_lock:
            self._runs[job_id] = run
        # The thread's first write waits for the caller's transaction (process-wide write lock).
        threading.Thread(target=self._execute, args=(run,), name=f"job-{job_id[:8]}", daemon=True).start()
        return data

    def cancel(self, job_id: str) -> bool:
        """Request cancellation; False when the job is already finished."""
        with self._runs_lock:
            run = self._runs.get(job_id)
        if run is not None:
            run.cancel.set()
            return True
        with self.store.tx() as conn:
            row = conn.execute("SELECT data FROM job_instances WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return False
            data = loads(row["data"])
            if data["status"] in TERMINAL:
                return False
            data.update(status="Cancelled", endTimeUtc=utc_now())
            conn.execute("UPDATE job_instances SET status = ?, data = ? WHERE id = ?",
                         ("Cancelled", dumps(data), job_id))
        return True

    def wait(self, job_id: str, timeout: float | None = None) -> bool:
        """Block until the run's thread is finished (True) or the timeout passes."""
        with self._runs_lock:
            run = self._runs.get(job_id)
        return True if run is None else run.done.wait(timeout)

    def _update_job(self, job_id: str, **changes: Any) -> dict[str, Any] | None:
        with self.store.tx() as conn:
            row = conn.execute("SELECT data FROM job_instances WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            data: dict[str, Any] = loads(row["data"])
            data.update(changes)
            conn.execute("UPDATE job_instances SET status = ?, data = ? WHERE id = ?",
                         (data["status"], dumps(data), job_id))
            return data

    def _execute(self, run: Run) -> None:
        try:
            self._execute_inner(run)
        except Exception as exc:  # never leave a run InProgress because of an emulator bug
            log.exception("job %s crashed", run.job_id)
            self._update_job(run.job_id, status="Failed", endTimeUtc=utc_now(),
                             failureReason={"errorCode": "InternalError", "message": f"Emulator error: {exc}"})
        finally:
            with self._runs_lock:
                self._runs.pop(run.job_id, None)
            run.done.set()

    def _execute_inner(self, run: Run) -> None:
        with self.store.tx() as conn:
            row = conn.execute("SELECT data FROM job_instances WHERE id = ?", (run.job_id,)).fetchone()
            if row is None:
                return  # the creating transaction rolled back, or the item was deleted meanwhile
            data = loads(row["data"])
            if data["status"] != "NotStarted":
                return
            data.update(status="InProgress", startTimeUtc=utc_now())
            conn.execute("UPDATE job_instances SET status = ?, data = ? WHERE id = ?",
                         ("InProgress", dumps(data), run.job_id))
            unreadable: str | None = None
            unresolved: str | None = None
            try:
                content = load_pipeline_content(conn, run.item_id) or {}
            except ValueError as exc:
                content, unreadable = {}, str(exc)
            try:
                body = _obj(content.get("properties")) if isinstance(content.get("properties"), dict) else content
                declared = body.get("libraryVariables")
                run.library_variables = library_variable_values(conn, run.workspace_id, declared)
            except ValueError as exc:
                unresolved = str(exc)
        if run.cancel.is_set():
            self._finish(run, _ContainerOutcome(ok=False))
            return
        if unreadable is not None:
            self._finish(run, _ContainerOutcome(False, None, {
                "errorCode": "InvalidPipelineDefinition", "message": unreadable}))
            return
        if unresolved is not None:
            self._finish(run, _ContainerOutcome(False, None, {
                "errorCode": "LibraryVariableNotFound", "message": unresolved}))
            return
        props = _obj(content.get("properties")) if isinstance(content.get("properties"), dict) else content
        activities = props.get("activities") or []
        declared = _obj(props.get("parameters"))
        params: dict[str, Any] = {}
        for name, spec in declared.items():
            spec = spec if isinstance(spec, dict) else {}
            params[name] = _coerce_parameter(run.parameters[name], spec.get("type")) \
                if name in run.parameters else spec.get("defaultValue")
        for name, value in run.parameters.items():
            params.setdefault(name, value)
        run.parameters = params
        variables = _obj(props.get("variables"))
        run.variables = {n: (v.get("defaultValue") if isinstance(v, dict) else None) for n, v in variables.items()}
        if not isinstance(activities, list):
            self._finish(run, _ContainerOutcome(False, None, {
                "errorCode": "InvalidPipelineDefinition", "message": "properties.activities must be an array"}))
            return
        outcome = self._run_container(run, activities, Scope(run))
        self._finish(run, outcome)

    def _finish(self, run: Run, outcome: _ContainerOutcome) -> None:
        reason: dict[str, Any] | None
        if run.shutdown:
            status, reason = "Failed", {"errorCode": "JobInterrupted",
                                        "message": "The emulator stopped while this job was running."}
        elif run.cancel.is_set():
            status, reason = "Cancelled", None
        elif outcome.ok:
            status, reason = "Completed", None
        else:
            err = outcome.error or {}
            message = err.get("message") or "The pipeline run failed."
            if outcome.failed_activity:
                message = f"Operation on target {outcome.failed_activity} failed: {message}"
            reason = {"errorCode": err.get("errorCode") or "PipelineRunFailed", "message": message}
            if outcome.failed_activity:
                reason["relatedResource"] = {"resourceId": outcome.failed_activity, "resourceType": "Activity"}
            status = "Failed"
        self._update_job(run.job_id, status=status, endTimeUtc=utc_now(), failureReason=reason)

    # -- activities -----------------------------------------------------------------------
    def _run_container(self, run: Run, activities: list[dict[str, Any]], scope: Scope) -> _ContainerOutcome:
        """Run a list of activities honouring dependsOn; parallel where the graph allows."""
        problem = dependency_problem(
            [a.get("name") for a in activities],
            [[d.get("activity") if isinstance(d, dict) else None for d in a.get("dependsOn") or []]
             for a in activities],
            scope="activities",
        )
        if problem is not None:
            return _ContainerOutcome(False, None, {"errorCode": "InvalidPipelineDefinition",
                                                   "message": problem.message})
        by_name = {a["name"]: a for a in activities}
        status: dict[str, str] = {}
        errors: dict[str, dict[str, Any]] = {}
        pending = [a["name"] for a in activities]
        running: set[str] = set()
        cond = threading.Condition()

        def worker(name: str) -> None:
            try:
                final, error = self._execute_activity(run, by_name[name], scope)
            except Exception as exc:  # an emulator bug fails the activity, not the thread silently
                log.exception("activity %s crashed", name)
                final, error = "Failed", {"errorCode": "InternalError", "message": str(exc)}
            with cond:
                status[name] = final
                if error:
                    errors[name] = error
                running.discard(name)
                cond.notify_all()

        with cond:
            while True:
                progressed = True
                while progressed and not run.cancel.is_set():
                    progressed = False
                    for name in list(pending):
                        deps = [d for d in by_name[name].get("dependsOn") or [] if isinstance(d, dict)]
                        if any(d["activity"] not in status for d in deps):
                            continue
                        pending.remove(name)
                        progressed = True
                        if all(_condition_met(status[d["activity"]], d.get("dependencyConditions") or
                                              ["Succeeded"]) for d in deps):
                            running.add(name)
                            threading.Thread(target=worker, args=(name,), daemon=True,
                                             name=f"act-{name[:20]}").start()
                        else:
                            status[name] = "Skipped"
                            self._record_skipped(run, by_name[name], scope)
                if not running and (not pending or run.cancel.is_set()):
                    break
                cond.wait(0.5)

        if run.cancel.is_set():
            return _ContainerOutcome(False)
        # The service's rule: leaves decide; a skipped leaf defers to its parents.
        depended = {d["activity"] for a in activities for d in a.get("dependsOn") or [] if isinstance(d, dict)}
        leaves = [a["name"] for a in activities if a["name"] not in depended]
        failed: list[str] = []
        seen: set[str] = set()

        def evaluate(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            st = status.get(name)
            if st == "Skipped":
                for dep in by_name[name].get("dependsOn") or []:
                    evaluate(dep["activity"])
            elif st != "Succeeded":
                failed.append(name)

        for leaf in leaves:
            evaluate(leaf)
        if not failed:
            return _ContainerOutcome(True)
        first = failed[0]
        return _ContainerOutcome(False, first, errors.get(first) or {
            "errorCode": "ActivityFailed", "message": f"Activity '{first}' failed."})

    def _next_seq(self) -> int:
        with self._seq_lock:
            self._seq += 1
            return self._seq

    def _new_activity_run(self, run: Run, act: dict[str, Any], attempt: int, inputs: Any,
                          status: str = "InProgress") -> dict[str, Any]:
        run_id = str(uuid.uuid4())
        started = utc_now()
        record = {
            "pipelineName": run.item_id, "pipelineId": run.item_id, "pipelineRunId": run.job_id,
            "activityName": act.get("name"), "activityType": act.get("type"), "activityRunId": run_id,
            "linkedServiceName": "", "status": status, "activityRunStart": started, "activityRunEnd": None,
            "durationInMs": None, "input": inputs if isinstance(inputs, dict) else {"value": inputs},
            "output": {}, "error": {"errorCode": "", "message": "", "failureType": "", "target": act.get("name"),
                                    "details": ""},
            "retryAttempt": attempt or None, "iterationHash": "", "userProperties": act.get("userProperties") or {},
            "recoveryStatus": "None", "integrationRuntimeNames": None, "executionDetails": None,
            "id": (f"/SUBSCRIPTIONS/{uuid.UUID(int=0)}/RESOURCEGROUPS/{uuid.UUID(int=0)}/PROVIDERS/MICROSOFT.TRIDENT"
                   f"/WORKSPACES/{run.workspace_id}/pipelineruns/{run.job_id}/activityruns/{run_id}"),
            "_started": time.time(), "_seq": self._next_seq(),
        }
        with self.store.tx() as conn:
            conn.execute("INSERT INTO activity_runs (id, job_id, seq, data) VALUES (?, ?, ?, ?)",
                         (run_id, run.job_id, record["_seq"], dumps(record)))
        return record

    def _end_activity_run(self, record: dict[str, Any], status: str, output: Any = None,
                          error: ActivityFailure | None = None) -> None:
        record["status"] = status
        record["activityRunEnd"] = utc_now()
        record["durationInMs"] = int(round((time.time() - record["_started"]) * 1000))
        record["output"] = output if isinstance(output, dict) else ({} if output is None else {"value": output})
        if error is not None:
            record["error"] = {"errorCode": error.error_code, "message": error.message,
                               "failureType": error.failure_type, "target": record["activityName"], "details": ""}
        elif status == "Cancelled":
            record["error"] = {"errorCode": "ActivityCancelled", "message": "The pipeline run was cancelled.",
                               "failureType": "UserError", "target": record["activityName"], "details": ""}
        with self.store.tx() as conn:
            conn.execute("UPDATE activity_runs SET data = ? WHERE id = ?", (dumps(record), record["activityRunId"]))

    def _record_skipped(self, run: Run, act: dict[str, Any], scope: Scope) -> None:
        record = self._new_activity_run(run, act, 0, {}, status="Skipped")
        self._end_activity_run(record, "Skipped")
        scope.results[act["name"]] = {"status": "Skipped", "output": {}, "error": None}

    def _execute_activity(self, run: Run, act: dict[str, Any], scope: Scope) -> tuple[str, dict[str, Any] | None]:
        """Run one activity with its retry policy; returns (final status, error or None)."""
        name = act["name"]
        if str(act.get("state", "Active")).casefold() == "inactive":
            marked = act.get("onInactiveMarkAs") or "Succeeded"
            marked = marked if marked in ("Succeeded", "Failed", "Skipped") else "Succeeded"
            record = self._new_activity_run(run, act, 0, {})
            failure = ActivityFailure("ActivityMarkedAsFailed", f"The inactive activity '{name}' is marked as "
                                      "failed.") if marked == "Failed" else None
            self._end_activity_run(record, marked, {}, failure)
            scope.results[name] = {"status": marked, "output": {}, "error": None}
            return marked, ({"errorCode": failure.error_code, "message": failure.message} if failure else None)
        policy = _obj(act.get("policy"))
        try:
            retries = max(0, int(resolve(policy.get("retry", 0), scope) or 0))
            interval = float(resolve(policy.get("retryIntervalInSeconds", DEFAULT_RETRY_INTERVAL_SECONDS), scope))
        except (ExpressionError, TypeError, ValueError):
            retries, interval = 0, DEFAULT_RETRY_INTERVAL_SECONDS
        attempt = 0
        while True:
            type_props = _obj(act.get("typeProperties"))
            inputs = _inputs_of(type_props, scope)
            record = self._new_activity_run(run, act, attempt, inputs)
            try:
                output = self._perform(run, act, type_props, scope, attempt)
            except Cancelled:
                self._end_activity_run(record, "Cancelled")
                scope.results[name] = {"status": "Cancelled", "output": {}, "error": None}
                return "Cancelled", None
            except ExpressionError as exc:
                failure = ActivityFailure("InvalidTemplate", f"The expression could not be evaluated: {exc}")
            except ActivityFailure as exc:
                failure = exc
            else:
                self._end_activity_run(record, "Succeeded", output)
                scope.results[name] = {"status": "Succeeded", "output": record["output"], "error": None}
                return "Succeeded", None
            self._end_activity_run(record, "Failed", {}, failure)
            error = {"errorCode": failure.error_code, "message": failure.message}
            scope.results[name] = {"status": "Failed", "output": {}, "error": error}
            if attempt >= retries or run.cancel.is_set():
                return "Failed", error
            attempt += 1
            try:
                run.sleep(interval * self._time_factor())
            except Cancelled:
                return "Cancelled", None

    def _perform(self, run: Run, act: dict[str, Any], props: dict[str, Any], scope: Scope,
                 attempt: int) -> Any:
        """Do what the activity type means; return its output or raise ActivityFailure/Cancelled."""
        kind = str(act.get("type", ""))
        name = act["name"]
        tf = self._time_factor()
        if run.cancel.is_set():
            raise Cancelled()
        if kind == "Wait":
            seconds = resolve(props.get("waitTimeInSeconds", 1), scope)
            try:
                seconds = float(seconds)
            except (TypeError, ValueError):
                raise ActivityFailure("InvalidTemplate", f"waitTimeInSeconds must be a number, got {seconds!r}") \
                    from None
            run.sleep(seconds * tf)
            return {}
        if kind in ("SetVariable", "AppendVariable"):
            var = str(resolve(props.get("variableName", ""), scope))
            value = resolve(props.get("value"), scope)
            if kind == "SetVariable" and props.get("setSystemVariable") and var == "pipelineReturnValue":
                return {"name": var, "value": value}
            with run.lock:
                if var not in run.variables:
                    raise ActivityFailure("InvalidVariable", f"The variable '{var}' is not declared in the pipeline.")
                if kind == "AppendVariable":
                    current = run.variables[var] if isinstance(run.variables[var], list) else []
                    run.variables[var] = [*current, value]
                else:
                    run.variables[var] = value
                new_value = run.variables[var]
            return {"name": var, "value": new_value}
        if kind == "IfCondition":
            result = resolve(props.get("expression"), scope)
            if not isinstance(result, bool):
                raise ActivityFailure("InvalidTemplate", f"The IfCondition expression must be a boolean, got {result!r}.")
            branch = props.get("ifTrueActivities" if result else "ifFalseActivities") or []
            self._run_inner(run, branch, scope.child(), name)
            return {"ifExpressionResult": result}
        if kind == "Switch":
            on = to_string(resolve(props.get("on"), scope))
            cases = props.get("cases") or []
            branch = next((c.get("activities") or [] for c in cases if equals(str(c.get("value")), on)),
                          props.get("defaultActivities") or [])
            self._run_inner(run, branch, scope.child(), name)
            return {"caseValue": on}
        if kind == "ForEach":
            return self._for_each(run, props, scope, name)
        if kind in ("ExecutePipeline", "InvokePipeline"):
            return self._execute_pipeline(run, props, scope, name)
        if kind == "Fail":
            message = to_string(resolve(props.get("message", ""), scope))
            code = to_string(resolve(props.get("errorCode", ""), scope)) or "PipelineFailure"
            raise ActivityFailure(code, message or f"The activity '{name}' failed.")
        # Any other type: a simulated duration and a configurable fault.
        duration = float(self._cfg("activity_duration_seconds", 0.5)) * tf
        run.sleep(duration)
        faults = parse_faults(self._cfg("activity_faults", {}))
        rule = faults.get(name, faults.get(kind))
        if rule == "fail" or (rule == "fail_once" and attempt == 0):
            raise ActivityFailure("ActivityFaultInjected",
                                  f"Activity '{name}' ({kind}) failed: fault injected by the emulator "
                                  f"(activity_faults rule '{rule}').", "SystemError")
        return {"executionDuration": round(duration, 3)}

    def _run_inner(self, run: Run, activities: Any, scope: Scope, owner: str) -> None:
        if not isinstance(activities, list):
            raise ActivityFailure("InvalidPipelineDefinition", f"The inner activities of '{owner}' must be an array.")
        outcome = self._run_container(run, activities, scope)
        if run.cancel.is_set():
            raise Cancelled()
        if not outcome.ok:
            err = outcome.error or {}
            raise ActivityFailure(
                err.get("errorCode") or "ActivityFailed",
                f"Activity failed because an inner activity failed; Inner activity name: "
                f"{outcome.failed_activity}, Error: {err.get('message', '')}",
            )

    def _for_each(self, run: Run, props: dict[str, Any], scope: Scope, name: str) -> Any:
        items = resolve(props.get("items"), scope)
        if not isinstance(items, list):
            raise ActivityFailure("InvalidTemplate", f"The ForEach items must be an array, got {items!r}.")
        inner = props.get("activities") or []
        sequential = bool(resolve(props.get("isSequential", False), scope))
        try:
            batch = max(1, min(50, int(resolve(props.get("batchCount", 20), scope) or 20)))
        except (TypeError, ValueError):
            batch = 20
        failures: list[str] = []

        def iteration(value: Any) -> None:
            if run.cancel.is_set():
                return
            try:
                self._run_inner(run, inner, scope.child(value, has_item=True), name)
            except ActivityFailure as exc:
                failures.append(exc.message)
            except Cancelled:
                pass

        if sequential:
            for value in items:
                iteration(value)
        elif items:
            with ThreadPoolExecutor(max_workers=min(batch, len(items)),
                                    thread_name_prefix=f"foreach-{name[:12]}") as pool:
                list(pool.map(iteration, items))
        if run.cancel.is_set():
            raise Cancelled()
        if failures:
            raise ActivityFailure("ActivityFailed", failures[0])
        return {"itemsCount": len(items)}

    def _execute_pipeline(self, run: Run, props: dict[str, Any], scope: Scope, name: str) -> Any:
        ref = _obj(props.get("pipeline"))
        child_id = str(resolve(ref.get("referenceName") or props.get("pipelineId") or "", scope)).lower()
        workspace_id = str(resolve(props.get("workspaceId") or run.workspace_id, scope)).lower()
        params = resolve(props.get("parameters") or {}, scope)
        wait = bool(resolve(props.get("waitOnCompletion", False), scope))
        with self.store.read() as conn:
            item = find_item(conn, workspace_id, child_id) if child_id else None
        if item is None or item.get("type") != PIPELINE_ITEM_TYPE:
            raise ActivityFailure("PipelineNotFound",
                                  f"The pipeline '{child_id}' to execute was not found in workspace {workspace_id}.")
        child = self.run(workspace_id, child_id, "Pipeline", item=item,
                         parameters=params if isinstance(params, dict) else {})
        run.children.append(child["id"])
        output = {"pipelineRunId": child["id"], "pipelineName": item.get("displayName")}
        if not wait:
            return output
        while not self.wait(child["id"], timeout=0.05):
            if run.cancel.is_set():
                self.cancel(child["id"])
                self.wait(child["id"], timeout=5)
                raise Cancelled()
        with self.store.read() as conn:
            row = conn.execute("SELECT data FROM job_instances WHERE id = ?", (child["id"],)).fetchone()
        final = loads(row["data"]) if row is not None else {"status": "Failed"}
        if final["status"] == "Completed":
            return output
        if run.cancel.is_set():
            raise Cancelled()
        reason = _obj(final.get("failureReason"))
        raise ActivityFailure(reason.get("errorCode") or "ChildPipelineFailed",
                              f"The child pipeline run {child['id']} ended {final['status']}: "
                              f"{reason.get('message', '')}".rstrip(": "))

    # -- schedules ------------------------------------------------------------------------
    def _enabled_schedules(self) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            rows = conn.execute("SELECT workspace_id, item_id, job_type, revision, data FROM schedules").fetchall()
        result = []
        for row in rows:
            data = loads(row["data"])
            if data.get("enabled"):
                result.append({**data, "revision": row["revision"], "workspaceId": row["workspace_id"],
                               "itemId": row["item_id"], "jobType": row["job_type"]})
        return result

    def _fire_schedule(self, schedule: dict[str, Any]) -> None:
        if self._stopping.is_set():
            return
        with self.store.tx() as conn:
            item = find_item(conn, schedule["workspaceId"], schedule["itemId"])
            if item is None:
                return
            self.run(schedule["workspaceId"], schedule["itemId"], schedule["jobType"], item=item,
                     invoke_type="Scheduled", execution_data=schedule.get("executionData") or {}, conn=conn)


def _obj(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (pipeline JSON is user input)."""
    return value if isinstance(value, dict) else {}


def parse_faults(raw: Any) -> dict[str, str]:
    """The ``activity_faults`` rules: {activity name or type: "fail" | "fail_once"}."""
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


class _joined:
    """Context manager reusing a caller's open transaction (no commit of its own)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        return None


def _inputs_of(props: dict[str, Any], scope: Scope) -> dict[str, Any]:
    """The ``input`` of an activity run: its typeProperties with expressions evaluated where the
    emulator can, nested activity lists left out."""
    shown = {k: v for k, v in props.items() if k not in NESTED_ACTIVITY_KEYS}
    value = resolve_lenient(shown, scope)
    return value if isinstance(value, dict) else {}





__all__ = [
    "PIPELINE_ITEM_TYPE", "PIPELINE_JOB_TYPES", "SCHEMA", "ActivityFailure", "JobEngine", "Scope",
    "is_pipeline_job_type", "load_pipeline_content",
]
