"""Run and watch pipelines: ``run``, ``runs``, ``status``, ``cancel``, ``activities``.

Pipelines and workspaces are named by display name or id. Without ``--workspace`` every workspace
the identity can see is searched, so a pipeline name must be unique across them (an ambiguous name
is reported with the candidates' ids). A run is found from its id alone by asking each candidate
pipeline for it; ``--workspace`` / ``--pipeline`` narrow (and speed up) that search.

``--output json`` prints stable, camelCase keys (Fabric's own spelling), documented per command:

* run object (``run``, ``status``, ``cancel``, each entry of ``runs``): ``id, workspaceId,
  workspaceName, pipelineId, pipelineName, jobType, invokeType, status, startTimeUtc, endTimeUtc,
  durationSeconds, failureReason`` (``failureReason`` is ``{errorCode, message}`` or null);
  ``run --wait`` adds ``activities``.
* activity object (``activities``): ``activityName, activityType, activityRunId, status,
  activityRunStart, activityRunEnd, durationSeconds, error`` (``error`` is ``{errorCode, message}``
  or null).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from fabric_resources.cli._common import (
    EXIT_CODES_HELP,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_TIMEOUT,
    CliError,
    build_client,
    command,
    connection_parent,
    default_workspace,
    format_duration,
    output_format,
    print_json,
    redact,
    render_table,
)
from fabric_resources.errors import NotFoundError, PermissionDeniedError
from fabric_resources.formats import is_guid, parse_utc, utc_iso

if TYPE_CHECKING:  # the models come with the client, which commands build lazily (`--help` stays light)
    from fabric_resources.client import FabricClient
    from fabric_resources.models import (
        ActivityRun,
        ActivityRunError,
        ErrorResponse,
        Item,
        JobInstance,
        Workspace,
    )

PIPELINE_TYPE = "DataPipeline"
Named = TypeVar("Named", "Workspace", "Item")
Number = TypeVar("Number", int, float)
WORKSPACE_HELP = (
    "workspace display name or id (default: with --stack, the stack's fabric-resources:workspaceName; "
    "otherwise every workspace you can see is searched)"
)


# -- argument parsing ----------------------------------------------------------------------------


def _positive(convert: Callable[[str], Number], kind: str) -> Callable[[str], Number]:
    """An argparse type: ``convert(text)``, refused unless it is greater than 0."""

    def parse(text: str) -> Number:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {kind}: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0: {text!r}")
        return value

    return parse


_positive_float = _positive(float, "a number")
_positive_int = _positive(int, "an integer")


def _param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value


def register(subparsers: Any) -> None:
    parent = connection_parent()

    def add(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = subparsers.add_parser(
            name, parents=[parent], help=help_text, description=description, epilog=EXIT_CODES_HELP
        )
        return parser

    p = add(
        "run",
        "start a pipeline run (optionally wait for it, showing progress)",
        "Start a run of PIPELINE (display name or id). With --wait, show activities as they start and "
        "finish and exit 0 if the run completes, 1 if it fails or is cancelled.",
    )
    p.add_argument("pipeline", metavar="PIPELINE", help="pipeline display name or id")
    p.add_argument("--workspace", "-w", metavar="W", help=WORKSPACE_HELP)
    p.add_argument(
        "--param",
        "-p",
        dest="params",
        metavar="NAME=VALUE",
        action="append",
        type=_param,
        default=[],
        help="pipeline parameter (repeatable); values are passed as strings",
    )
    p.add_argument("--wait", action="store_true", help="follow the run until it ends")
    p.add_argument("--timeout", metavar="S", type=_positive_float, help="with --wait: give up after S seconds")
    p.add_argument(
        "--poll-interval",
        metavar="S",
        type=_positive_float,
        default=2.0,
        help="with --wait: seconds between status checks (default 2)",
    )
    p.set_defaults(func=cmd_run)

    p = add("runs", "list recent runs of a pipeline", "List the most recent runs of PIPELINE, newest first.")
    p.add_argument("pipeline", metavar="PIPELINE", help="pipeline display name or id")
    p.add_argument("--workspace", "-w", metavar="W", help=WORKSPACE_HELP)
    p.add_argument("--limit", "-n", metavar="N", type=_positive_int, default=20, help="at most N runs (default 20)")
    p.set_defaults(func=cmd_runs)

    p = add("status", "show one run", "Show the status of the run RUN_ID (a job instance id).")
    _run_locator(p)
    p.set_defaults(func=cmd_status)

    p = add("cancel", "cancel a run", "Ask Fabric to cancel the run RUN_ID; prints the status afterwards.")
    _run_locator(p)
    p.set_defaults(func=cmd_cancel)

    p = add(
        "activities",
        "list the activity runs of a run",
        "List the activity runs of RUN_ID: name, type, status, duration and error.",
    )
    _run_locator(p)
    p.add_argument("--status", "-s", metavar="S", help="only activities with this status (e.g. Failed)")
    p.set_defaults(func=cmd_activities)


def _run_locator(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", metavar="RUN_ID", help="the run (job instance) id")
    parser.add_argument("--workspace", "-w", metavar="W", help=WORKSPACE_HELP)
    parser.add_argument("--pipeline", "-P", metavar="P", help="pipeline display name or id (narrows the search)")


# -- presenting API models -----------------------------------------------------------------------


def _short_time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _error_of(error: ErrorResponse | ActivityRunError | None) -> dict[str, str] | None:
    """A job's failureReason or an activity run's error as {errorCode, message}."""
    if error is None:
        return None
    code = error.error_code or ""
    message = " ".join((error.message or "").split())
    if not code and not message:
        return None  # activity runs carry an all-empty error object when nothing failed
    return {"errorCode": code, "message": message}


def _error_text(error: dict[str, str] | None) -> str:
    if not error:
        return ""
    if error["errorCode"] and error["message"]:
        return f"{error['message']} ({error['errorCode']})"
    return error["message"] or error["errorCode"]


# -- name resolution -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineRef:
    workspace_id: str
    workspace_name: str
    pipeline_id: str
    pipeline_name: str

    def locator_args(self) -> str:
        return f"--workspace {self.workspace_id} --pipeline {self.pipeline_id}"


def _is_not_found_or_denied(exc: BaseException) -> bool:
    # Asking a workspace we cannot read about an id is a miss, not a failure of the search.
    return isinstance(exc, NotFoundError | PermissionDeniedError)


def _match_by_name(objs: Iterable[Named], name: str) -> list[Named]:
    """Exact display-name matches; failing those, case-insensitive ones (Fabric names ignore case)."""
    listed = list(objs)
    exact = [o for o in listed if o.display_name == name]
    if exact:
        return exact
    folded = name.casefold()
    return [o for o in listed if o.display_name.casefold() == folded]


class Resolver:
    """Turns the user's names or ids into workspace / pipeline / run ids."""

    def __init__(self, client: FabricClient) -> None:
        self.client = client
        self._workspaces: list[Workspace] | None = None

    def all_workspaces(self) -> list[Workspace]:
        if self._workspaces is None:
            self._workspaces = list(self.client.workspaces.list())
        return self._workspaces

    def workspaces(self, ref: str | None) -> list[Workspace]:
        """The workspace named by ``ref`` (a one-element list), or all of them when ref is None."""
        if ref is None:
            return self.all_workspaces()
        if is_guid(ref):
            try:
                return [self.client.workspaces.get(ref)]
            except Exception as exc:
                if not _is_not_found_or_denied(exc):
                    raise
        matches = _match_by_name(self.all_workspaces(), ref)
        if not matches:
            raise CliError(f"workspace {ref!r} not found (no workspace with that name or id is visible to you)")
        if len(matches) > 1:
            ids = ", ".join(w.id for w in matches)
            raise CliError(f"workspace name {ref!r} is ambiguous: {len(matches)} workspaces match ({ids}); use the id")
        return matches

    def pipelines(self, ref: str, workspace_ref: str | None) -> list[PipelineRef]:
        """Every pipeline matching ``ref`` (id or display name) in the chosen workspace(s)."""
        found: list[PipelineRef] = []
        for ws in self.workspaces(workspace_ref):
            if is_guid(ref):
                item = self._get_item(ws.id, ref)
                if item is not None:
                    found.append(_ref(ws, item))
                    continue
            items = self._pipelines_in(ws.id, workspace_ref)
            found.extend(_ref(ws, item) for item in _match_by_name(items, ref))
        return found

    def _pipelines_in(self, ws_id: str, workspace_ref: str | None) -> list[Item]:
        try:
            return list(self.client.items.list(ws_id, type=PIPELINE_TYPE))
        except Exception as exc:
            # Searching every workspace: one we may list but not read is simply skipped.
            if workspace_ref is None and _is_not_found_or_denied(exc):
                return []
            raise

    def _get_item(self, ws_id: str, item_id: str) -> Item | None:
        try:
            item = self.client.items.get(ws_id, item_id)
        except Exception as exc:
            if _is_not_found_or_denied(exc):
                return None
            raise
        return item if item.type == PIPELINE_TYPE else None

    def pipeline(self, ref: str, workspace_ref: str | None) -> PipelineRef:
        matches = self.pipelines(ref, workspace_ref)
        where = f"workspace {workspace_ref!r}" if workspace_ref else "any workspace visible to you"
        if not matches:
            raise CliError(f"pipeline {ref!r} not found in {where}")
        if len(matches) > 1:
            candidates = "; ".join(
                f"{m.pipeline_id} in workspace {m.workspace_name!r} ({m.workspace_id})" for m in matches
            )
            hint = "use the pipeline id" if workspace_ref else "use --workspace or the pipeline id"
            raise CliError(f"pipeline name {ref!r} is ambiguous, {len(matches)} match: {candidates}; {hint}")
        return matches[0]

    def run(self, run_id: str, workspace_ref: str | None, pipeline_ref: str | None) -> tuple[PipelineRef, JobInstance]:
        """Find the pipeline that owns ``run_id`` and return it with the job instance."""
        if not is_guid(run_id):
            raise CliError(f"{run_id!r} is not a run id (a job instance id is a GUID)")
        candidates: Iterable[PipelineRef]
        if pipeline_ref is not None:
            candidates = [self.pipeline(pipeline_ref, workspace_ref)]
        else:
            candidates = self._all_pipelines(workspace_ref)
        for candidate in candidates:
            try:
                job = self.client.jobs.get(candidate.workspace_id, candidate.pipeline_id, run_id)
            except Exception as exc:
                if _is_not_found_or_denied(exc):
                    continue
                raise
            return candidate, job
        scope = " ".join(
            part
            for part in (
                f"of pipeline {pipeline_ref!r}" if pipeline_ref else "",
                f"in workspace {workspace_ref!r}" if workspace_ref else "",
            )
            if part
        )
        raise CliError(f"run {run_id} not found {scope or 'in any pipeline visible to you'}".rstrip())

    def _all_pipelines(self, workspace_ref: str | None) -> Iterator[PipelineRef]:
        for ws in self.workspaces(workspace_ref):
            for item in self._pipelines_in(ws.id, workspace_ref):
                yield _ref(ws, item)


def _ref(ws: Workspace, item: Item) -> PipelineRef:
    return PipelineRef(ws.id, ws.display_name, item.id, item.display_name)


# -- presenting runs and activities --------------------------------------------------------------


def _span(start_text: str | None, end_text: str | None,
          duration_ms: int | None = None) -> tuple[str | None, str | None, float | None]:
    """(start, end, seconds) of a run or activity run: times in UTC ``Z`` form, the duration the
    service measured when it gave one (an activity still running reports 0), else end - start."""
    start, end = parse_utc(start_text), parse_utc(end_text)
    seconds: float | None = None
    if duration_ms is not None and (end is not None or duration_ms > 0):
        seconds = round(duration_ms / 1000.0, 3)
    elif start and end:
        seconds = round((end - start).total_seconds(), 3)
    return (utc_iso(start) if start else None), (utc_iso(end) if end else None), seconds


def run_json(ref: PipelineRef, job: JobInstance) -> dict[str, Any]:
    start, end, seconds = _span(job.start_time_utc, job.end_time_utc)
    return {
        "id": job.id,
        "workspaceId": ref.workspace_id,
        "workspaceName": ref.workspace_name,
        "pipelineId": ref.pipeline_id,
        "pipelineName": ref.pipeline_name,
        "jobType": job.job_type,
        "invokeType": job.invoke_type,
        "status": job.status,
        "startTimeUtc": start,
        "endTimeUtc": end,
        "durationSeconds": seconds,
        "failureReason": _error_of(job.failure_reason),
    }


def activity_json(activity: ActivityRun) -> dict[str, Any]:
    start, end, seconds = _span(activity.activity_run_start, activity.activity_run_end, activity.duration_in_ms)
    return {
        "activityName": activity.activity_name,
        "activityType": activity.activity_type,
        "activityRunId": activity.activity_run_id,
        "status": activity.status,
        "activityRunStart": start,
        "activityRunEnd": end,
        "durationSeconds": seconds,
        "error": _error_of(activity.error),
    }


def _runs_table(runs: list[dict[str, Any]]) -> str:
    return render_table(
        ["RUN ID", "STATUS", "INVOKE", "STARTED (UTC)", "DURATION", "FAILURE"],
        [
            [
                r["id"],
                r["status"],
                r["invokeType"],
                _short_time(parse_utc(r["startTimeUtc"])),
                format_duration(r["durationSeconds"]),
                _error_text(r["failureReason"]) or None,
            ]
            for r in runs
        ],
    )


def _activities_table(activities: list[dict[str, Any]]) -> str:
    return render_table(
        ["NAME", "TYPE", "STATUS", "DURATION", "ERROR"],
        [
            [
                a["activityName"],
                a["activityType"],
                a["status"],
                format_duration(a["durationSeconds"]),
                _error_text(a["error"]) or None,
            ]
            for a in activities
        ],
    )


def _run_details(run: dict[str, Any]) -> str:
    rows = [
        ("Run", run["id"]),
        ("Pipeline", f"{run['pipelineName']} ({run['pipelineId']})"),
        ("Workspace", f"{run['workspaceName']} ({run['workspaceId']})"),
        ("Status", run["status"]),
        ("Job type", run["jobType"]),
        ("Invoked", run["invokeType"]),
        ("Started", _short_time(parse_utc(run["startTimeUtc"]))),
        ("Ended", _short_time(parse_utc(run["endTimeUtc"]))),
        ("Duration", format_duration(run["durationSeconds"])),
    ]
    if run["failureReason"]:
        rows.append(("Failure", _error_text(run["failureReason"])))
    width = max(len(k) for k, _ in rows) + 1
    return "\n".join(f"{(k + ':').ljust(width)} {v if v is not None else '-'}" for k, v in rows)


def _sort_activities(activities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Start order reads like the run's story; not-yet-started (no start time) go last.
    return sorted(activities, key=lambda a: (a["activityRunStart"] is None, a["activityRunStart"] or ""))


def _query_activities(client: FabricClient, ref: PipelineRef, run_id: str) -> list[dict[str, Any]]:
    runs = client.jobs.query_activity_runs(ref.workspace_id, run_id)
    return _sort_activities([activity_json(a) for a in runs])


def _cancel_hint(run_id: str, ref: PipelineRef) -> str:
    return f"fabric-resources cancel {run_id} {ref.locator_args()}"


def _workspace_arg(args: argparse.Namespace) -> str | None:
    """``--workspace``, else the workspace the ``--stack`` deploys to (None: search them all)."""
    return args.workspace or default_workspace(args)


def _named_run(args: argparse.Namespace) -> tuple[FabricClient, PipelineRef, JobInstance]:
    """The client, the pipeline and the job instance that RUN_ID [--workspace] [--pipeline] name."""
    client = build_client(args)
    ref, job = Resolver(client).run(args.run_id, _workspace_arg(args), args.pipeline)
    return client, ref, job


# -- commands ------------------------------------------------------------------------------------


def _show(args: argparse.Namespace, data: Any, text: str) -> int:
    """``data`` as JSON with ``--output json``, else ``text`` for people; the command's exit code."""
    if output_format(args) == "json":
        print_json(data)
    else:
        print(text)
    return EXIT_OK


@command
def cmd_run(args: argparse.Namespace) -> int:
    if args.timeout is not None and not args.wait:
        raise CliError("--timeout only applies with --wait")
    client = build_client(args)
    ref = Resolver(client).pipeline(args.pipeline, _workspace_arg(args))
    params = dict(args.params)
    # Pipelines take their parameters through executionData (the documented pipeline form).
    execution_data = {"parameters": params} if params else None
    job = client.jobs.run(ref.workspace_id, ref.pipeline_id, execution_data=execution_data)
    run_id = job.id
    as_json = output_format(args) == "json"
    if not as_json:
        print(f"Started run {run_id} of pipeline {ref.pipeline_name!r} in workspace {ref.workspace_name!r}.")
    if not args.wait:
        if as_json:
            print_json(run_json(ref, job))
        else:
            print(f"Follow it with: fabric-resources status {run_id} {ref.locator_args()}")
        return EXIT_OK
    # In JSON mode stdout carries only the final document; progress goes to stderr.
    progress = sys.stderr if as_json else sys.stdout
    watcher = Watcher(client, ref, run_id, progress)
    try:
        job, activities = watcher.watch(timeout=args.timeout, poll_interval=args.poll_interval)
    except KeyboardInterrupt:
        print(
            f"\nInterrupted: run {run_id} is still going. To cancel it: {_cancel_hint(run_id, ref)}",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_INTERRUPTED
    except _WatchTimeout as exc:
        print(
            f"error: still {exc.status} after {format_duration(args.timeout)}; run {run_id} goes on. "
            f"To cancel it: {_cancel_hint(run_id, ref)}",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_TIMEOUT
    run = run_json(ref, job)
    if as_json:
        print_json({**run, "activities": activities})
    status = run["status"]
    if status == "Completed":
        if not as_json:
            print(f"Run {run_id} Completed in {format_duration(run['durationSeconds'])}.")
        return EXIT_OK
    # Failed, Cancelled, Deduped: say why on stderr (scripts read stdout JSON, people see both).
    failed = [a for a in activities if a["status"] == "Failed"]
    lines = [f"Run {run_id} {status}" + (f": {_error_text(run['failureReason'])}" if run["failureReason"] else "")]
    for activity in failed:
        error = _error_text(activity["error"]) or "no error details"
        lines.append(f"  failed activity {activity['activityName']!r} ({activity['activityType']}): {error}")
    print(redact("\n".join(lines)), file=sys.stderr, flush=True)
    return EXIT_RUN_FAILED


class _WatchTimeout(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


@dataclass
class Watcher:
    """Polls a run and its activity runs, printing each change once."""

    client: FabricClient
    ref: PipelineRef
    run_id: str
    out: TextIO
    clock: Callable[[], float] = field(default=time.monotonic, kw_only=True)
    sleep: Callable[[float], None] = field(default=time.sleep, kw_only=True)
    _job_status: str | None = field(default=None, init=False)
    _activity_status: dict[str, str] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._started = self.clock()

    def _say(self, text: str) -> None:
        elapsed = self.clock() - self._started
        self.out.write(redact(f"[{format_duration(elapsed):>7}] {text}") + "\n")
        self.out.flush()

    def watch(self, *, timeout: float | None, poll_interval: float) -> tuple[JobInstance, list[dict[str, Any]]]:
        deadline = None if timeout is None else self._started + timeout
        while True:
            # Job first, activities second: once the job is terminal the activity list read after it
            # is final too, so the last poll prints every finish.
            job = self.client.jobs.get(self.ref.workspace_id, self.ref.pipeline_id, self.run_id)
            status = job.status
            activities = _query_activities(self.client, self.ref, self.run_id)
            # A run starts before its activities and ends after them: order the lines that way.
            if status != self._job_status and not job.is_terminal:
                self._say(f"run {status}")
            for activity in activities:
                self._report(activity)
            if status != self._job_status and job.is_terminal:
                self._say(f"run {status}")
            self._job_status = status
            if job.is_terminal:
                return job, activities
            now = self.clock()
            if deadline is not None and now >= deadline:
                raise _WatchTimeout(status)
            pause = poll_interval if deadline is None else min(poll_interval, max(deadline - now, 0.0))
            self.sleep(pause)

    def _report(self, activity: dict[str, Any]) -> None:
        key = str(activity["activityRunId"] or activity["activityName"])
        status = str(activity["status"] or "Unknown")
        previous = self._activity_status.get(key)
        if previous == status:
            return
        self._activity_status[key] = status
        label = f"{activity['activityName']} ({activity['activityType']})"
        if status in ("InProgress", "Queued", "NotStarted"):
            self._say(f"started   {label}")
            return
        line = f"{status:<9} {label}"
        if activity["durationSeconds"] is not None:
            line += f" in {format_duration(activity['durationSeconds'])}"
        error = _error_text(activity["error"])
        if error and status != "Succeeded":
            line += f": {error}"
        self._say(line)


@command
def cmd_runs(args: argparse.Namespace) -> int:
    client = build_client(args)
    ref = Resolver(client).pipeline(args.pipeline, _workspace_arg(args))
    runs = [run_json(ref, job) for job in client.jobs.list(ref.workspace_id, ref.pipeline_id)]
    # Newest first; runs not started yet (no start time) are the newest of all.
    runs = [r for r in runs if r["startTimeUtc"] is None] + sorted(
        (r for r in runs if r["startTimeUtc"] is not None), key=lambda r: r["startTimeUtc"], reverse=True
    )
    runs = runs[: args.limit]
    empty = f"No runs of pipeline {ref.pipeline_name!r} in workspace {ref.workspace_name!r}."
    return _show(args, runs, _runs_table(runs) if runs else empty)


@command
def cmd_status(args: argparse.Namespace) -> int:
    _client, ref, job = _named_run(args)
    run = run_json(ref, job)
    return _show(args, run, _run_details(run))


@command
def cmd_cancel(args: argparse.Namespace) -> int:
    client, ref, job = _named_run(args)
    if job.is_terminal:
        raise CliError(f"run {args.run_id} already ended ({job.status}); nothing to cancel")
    client.jobs.cancel(ref.workspace_id, ref.pipeline_id, args.run_id)
    job = client.jobs.get(ref.workspace_id, ref.pipeline_id, args.run_id)
    run = run_json(ref, job)
    return _show(args, run, f"Cancellation requested for run {args.run_id}; status now {run['status']}.")


@command
def cmd_activities(args: argparse.Namespace) -> int:
    client, ref, _job = _named_run(args)
    activities = _query_activities(client, ref, args.run_id)
    if args.status:
        wanted = args.status.casefold()
        activities = [a for a in activities if str(a["status"] or "").casefold() == wanted]
    suffix = f" with status {args.status}" if args.status else ""
    empty = f"No activity runs{suffix} for run {args.run_id}."
    return _show(args, activities, _activities_table(activities) if activities else empty)


__all__ = ["PipelineRef", "Resolver", "Watcher", "activity_json", "register", "run_json"]
