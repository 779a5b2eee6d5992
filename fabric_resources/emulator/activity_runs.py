"""Activity runs as ``queryactivityruns`` answers them: reading a run's records, filtering, ordering.

The run engine (jobs.py) writes the ``activity_runs`` rows; this module only reads them.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from fabric_resources.scheduling import parse_utc

from .expressions import to_string
from .store import loads

__all__ = ["QueryError", "public_activity_run", "query_activity_runs", "read_activity_runs"]


def public_activity_run(record: dict[str, Any]) -> dict[str, Any]:
    """The record as the API shows it (the engine's private ``_`` keys left out)."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


def read_activity_runs(conn: sqlite3.Connection, job_id: str) -> list[dict[str, Any]]:
    """Every activity run of a job instance, in the order they started."""
    rows = conn.execute("SELECT data FROM activity_runs WHERE job_id = ? ORDER BY seq", (job_id,)).fetchall()
    return [public_activity_run(loads(r["data"])) for r in rows]


_OPERANDS = {
    "activityname": "activityName", "activitytype": "activityType", "status": "status",
    "activityrunid": "activityRunId", "pipelinerunid": "pipelineRunId", "pipelinename": "pipelineName",
    "linkedservicename": "linkedServiceName", "activityrunstart": "activityRunStart",
    "activityrunend": "activityRunEnd", "retryattempt": "retryAttempt",
}
_ORDER_KEYS = {
    "activityrunstart": "activityRunStart", "activityrunend": "activityRunEnd",
    "activityname": "activityName", "status": "status", "activitytype": "activityType",
    "durationinms": "durationInMs", "pipelinename": "pipelineName",
}


class QueryError(ValueError):
    """A queryactivityruns body the service would refuse (400); ``field`` names the bad part."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _last_updated(run: dict[str, Any]) -> datetime:
    return parse_utc(run.get("activityRunEnd") or run["activityRunStart"])


def query_activity_runs(runs: list[dict[str, Any]], body: dict[str, Any]) -> list[dict[str, Any]]:
    """Filter and order activity runs as ``queryactivityruns`` does.

    filters: [{operand, operator Equals|NotEquals|In|NotIn, values}] (string comparison is
    case-insensitive); orderBy: [{orderBy, order ASC|DESC}] (default ActivityRunStart ASC);
    lastUpdatedAfter / lastUpdatedBefore: ISO date-times bounding the run's last update.
    """
    result = list(runs)
    filters = body.get("filters") or []
    if not isinstance(filters, list):
        raise QueryError("filters", "filters must be an array.")
    for i, flt in enumerate(filters):
        if not isinstance(flt, dict):
            raise QueryError(f"filters[{i}]", "each filter must be an object.")
        key = _OPERANDS.get(str(flt.get("operand", "")).casefold())
        if key is None:
            raise QueryError(f"filters[{i}].operand", f"unsupported operand {flt.get('operand')!r}; use one of "
                             "ActivityName, ActivityType, Status, ActivityRunId, PipelineName, PipelineRunId, "
                             "LinkedServiceName, ActivityRunStart, ActivityRunEnd, RetryAttempt.")
        operator = str(flt.get("operator", "")).casefold()
        if operator not in ("equals", "notequals", "in", "notin"):
            raise QueryError(f"filters[{i}].operator", f"unsupported operator {flt.get('operator')!r}; use one of "
                             "Equals, NotEquals, In, NotIn.")
        values = flt.get("values")
        if not isinstance(values, list) or not values:
            raise QueryError(f"filters[{i}].values", "values must be a non-empty array.")
        wanted = {to_string(v).casefold() for v in values}

        def matches(run: dict[str, Any], key: str = key, wanted: set[str] = wanted) -> bool:
            return to_string(run.get(key)).casefold() in wanted

        positive = operator in ("equals", "in")
        result = [r for r in result if matches(r) == positive]
    for name in ("lastUpdatedAfter", "lastUpdatedBefore"):
        raw = body.get(name)
        if raw in (None, ""):
            continue
        try:
            bound = parse_utc(str(raw))
        except ValueError:
            raise QueryError(name, f"{name} is not a valid ISO 8601 date-time.") from None
        if name == "lastUpdatedAfter":
            result = [r for r in result if _last_updated(r) >= bound]
        else:
            result = [r for r in result if _last_updated(r) <= bound]
    order = body.get("orderBy") or [{"orderBy": "ActivityRunStart", "order": "ASC"}]
    if not isinstance(order, list):
        raise QueryError("orderBy", "orderBy must be an array.")
    for i, spec in reversed(list(enumerate(order))):  # stable sorts, last key first
        if not isinstance(spec, dict):
            raise QueryError(f"orderBy[{i}]", "each orderBy entry must be an object.")
        key = _ORDER_KEYS.get(str(spec.get("orderBy", "")).casefold())
        if key is None:
            raise QueryError(f"orderBy[{i}].orderBy", f"unsupported orderBy {spec.get('orderBy')!r}; use one of "
                             "ActivityRunStart, ActivityRunEnd, ActivityName, ActivityType, Status, DurationInMs.")
        direction = str(spec.get("order", "ASC")).upper()
        if direction not in ("ASC", "DESC"):
            raise QueryError(f"orderBy[{i}].order", "order must be ASC or DESC.")

        def sort_key(run: dict[str, Any], key: str = key) -> tuple[int, Any]:
            value = run.get(key)
            if value is None:  # unfinished runs sort after finished ones ascending
                return (1, "")
            if isinstance(value, (int, float)):
                return (0, value)
            return (0, str(value).casefold() if key not in ("activityRunStart", "activityRunEnd") else str(value))

        result.sort(key=sort_key, reverse=direction == "DESC")
    return result
