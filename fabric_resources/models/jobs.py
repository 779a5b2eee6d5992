"""Job instances (runs of an item) and pipeline activity runs."""

from __future__ import annotations

from typing import Any

from fabric_resources.models.common import ErrorResponse, FabricModel

__all__ = ["JOB_TERMINAL_STATUSES", "ActivityRun", "ActivityRunError", "JobInstance"]

# NotStarted and InProgress are the only non-terminal statuses.
JOB_TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Cancelled", "Deduped"})


class JobInstance(FabricModel):
    id: str
    item_id: str | None = None
    job_type: str | None = None
    invoke_type: str | None = None  # Scheduled | Manual
    status: str = "NotStarted"  # NotStarted | InProgress | Completed | Failed | Cancelled | Deduped
    root_activity_id: str | None = None
    start_time_utc: str | None = None
    end_time_utc: str | None = None
    failure_reason: ErrorResponse | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in JOB_TERMINAL_STATUSES


class ActivityRunError(FabricModel):
    error_code: str | None = None
    message: str | None = None
    failure_type: str | None = None
    target: str | None = None
    details: Any = None


class ActivityRun(FabricModel):
    """One activity execution inside a pipeline run (queryactivityruns)."""

    pipeline_name: str | None = None
    pipeline_run_id: str | None = None
    activity_name: str
    activity_type: str | None = None
    activity_run_id: str | None = None
    linked_service_name: str | None = None
    status: str | None = None
    activity_run_start: str | None = None
    activity_run_end: str | None = None
    duration_in_ms: int | None = None
    input: Any = None
    output: Any = None
    error: ActivityRunError | None = None
    retry_attempt: int | None = None
    iteration_hash: str | None = None
    user_properties: dict[str, Any] | None = None
    recovery_status: str | None = None
    integration_runtime_names: list[str] | None = None
    execution_details: Any = None
    id: str | None = None
