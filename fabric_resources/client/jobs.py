"""Job instances (on-demand runs) and pipeline activity runs."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from fabric_resources.client._base import Area, expect_object, seg
from fabric_resources.client._paging import iterate_values
from fabric_resources.client._transport import response_json
from fabric_resources.errors import DeadlineExceededError, FabricError, OperationFailedError
from fabric_resources.formats import utc_iso
from fabric_resources.models.jobs import ActivityRun, JobInstance

__all__ = ["Jobs"]

JobProgress = Callable[[JobInstance], None]


def _bound(value: datetime | str | None, default: datetime) -> str:
    """A query window bound: the caller's text as given, else the moment (or ``default``) in UTC."""
    if isinstance(value, str):
        return value
    return utc_iso(value or default)


def _instance_id_from(location: str) -> str | None:
    """The job instance id at the end of a ``.../jobs/instances/{id}`` Location URL."""
    parts = [p for p in urlsplit(location).path.split("/") if p]
    if len(parts) >= 2 and parts[-2] == "instances":
        return unquote(parts[-1])
    return None


class Jobs(Area):
    def _instances(self, workspace_id: str, item_id: str) -> str:
        return f"workspaces/{seg(workspace_id)}/items/{seg(item_id)}/jobs/instances"

    def run(self, workspace_id: str, item_id: str, *, job_type: str = "Pipeline",
            parameters: Sequence[Mapping[str, Any]] | None = None,
            execution_data: Mapping[str, Any] | None = None) -> JobInstance:
        """Start a job (202 + Location) and return its instance as first seen.

        Not retried once it may have reached the service: a second POST would start a second run.
        """
        body: dict[str, Any] = {}
        if execution_data is not None:
            body["executionData"] = dict(execution_data)
        if parameters is not None:
            body["parameters"] = [dict(p) for p in parameters]
        resp = self._t.request(
            "POST", f"workspaces/{seg(workspace_id)}/items/{seg(item_id)}/jobs/{seg(job_type)}/instances",
            json=body,
        )
        location = resp.headers.get("Location")
        if not location:
            body_json = response_json(resp)
            if isinstance(body_json, dict) and body_json.get("id"):
                return JobInstance.model_validate(body_json)
            raise FabricError("run job: the service accepted the job but sent no Location to follow")
        try:
            return JobInstance.model_validate(expect_object(self._json("GET", location), "job instance"))
        except FabricError:
            # The job has started (202): losing its id now would invite a second run. The Location
            # names the instance, so hand that back; its status is read on the next poll.
            instance_id = _instance_id_from(location)
            if instance_id is None:
                raise
            return JobInstance(id=instance_id, item_id=item_id, job_type=job_type, status="NotStarted")

    def get(self, workspace_id: str, item_id: str, job_instance_id: str) -> JobInstance:
        return JobInstance.model_validate(
            self._json("GET", f"{self._instances(workspace_id, item_id)}/{seg(job_instance_id)}"))

    def list(self, workspace_id: str, item_id: str) -> Iterator[JobInstance]:
        for v in iterate_values(self._t, self._instances(workspace_id, item_id)):
            yield JobInstance.model_validate(v)

    def cancel(self, workspace_id: str, item_id: str, job_instance_id: str) -> None:
        # Cancelling twice is harmless: retry freely.
        self._t.request("POST", f"{self._instances(workspace_id, item_id)}/{seg(job_instance_id)}/cancel",
                        idempotent=True)

    def wait(self, workspace_id: str, item_id: str, job_instance_id: str, *, timeout: float | None = None,
             poll_interval: float | None = None, on_progress: JobProgress | None = None,
             raise_on_failure: bool = False) -> JobInstance:
        """Poll until the job reaches a terminal status; returns the final instance.

        ``on_progress`` sees every polled instance. Without ``poll_interval`` the interval starts at
        0.5 s and grows to 10 s, so short runs finish fast and long ones do not flood the API.
        ``raise_on_failure`` turns a Failed run into OperationFailedError (failureReason inside).
        """
        clock, sleep = self._t.clock, self._t.sleep
        deadline = clock() + (self._client.job_timeout if timeout is None else timeout)
        interval = poll_interval if poll_interval is not None else 0.5
        while True:
            job = self.get(workspace_id, item_id, job_instance_id)
            if on_progress is not None:
                on_progress(job)
            if job.is_terminal:
                if raise_on_failure and job.status == "Failed":
                    reason = job.failure_reason
                    raise OperationFailedError(
                        reason.error_code if reason else "JobFailed",
                        reason.message if reason else f"job {job.id} failed",
                        operation_id=job.id, request_id=reason.request_id if reason else None,
                    )
                return job
            if clock() + interval > deadline:
                raise DeadlineExceededError(f"job {job_instance_id} still {job.status} when the wait timed out")
            sleep(interval)
            if poll_interval is None:
                interval = min(interval * 1.5, 10.0)

    def query_activity_runs(self, workspace_id: str, job_instance_id: str, *,
                            filters: Sequence[Mapping[str, Any]] | None = None,
                            order_by: Sequence[Mapping[str, Any]] | None = None,
                            last_updated_after: datetime | str | None = None,
                            last_updated_before: datetime | str | None = None) -> builtins.list[ActivityRun]:
        """Activity runs of a pipeline run (the job instance id is the run id).

        The window defaults to the last 30 days up to a day ahead (the service wants both bounds).
        """
        now = datetime.now(UTC)
        body = {
            "filters": [dict(f) for f in filters or []],
            "orderBy": [dict(o) for o in order_by] if order_by else [{"orderBy": "ActivityRunStart", "order": "ASC"}],
            "lastUpdatedAfter": _bound(last_updated_after, now - timedelta(days=30)),
            "lastUpdatedBefore": _bound(last_updated_before, now + timedelta(days=1)),
        }
        # A query, not a mutation: retry freely.
        data = self._json(
            "POST",
            f"workspaces/{seg(workspace_id)}/datapipelines/pipelineruns/{seg(job_instance_id)}/queryactivityruns",
            json=body, idempotent=True,
        )
        runs = data.get("value", []) if isinstance(data, dict) else data
        if not isinstance(runs, list):
            raise FabricError("queryactivityruns: expected a JSON array of activity runs")
        return [ActivityRun.model_validate(r) for r in runs]

