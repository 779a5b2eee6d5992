"""Item job schedules (Cron / Daily / Weekly / Monthly)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import TypeAdapter

from fabric_resources.client._base import Area, seg
from fabric_resources.client._paging import iterate_values
from fabric_resources.models.schedules import ItemSchedule, ScheduleConfig

__all__ = ["Schedules"]

_CONFIG = TypeAdapter(ScheduleConfig)


def _config_json(configuration: Any) -> dict[str, Any]:
    """Validate (dict or model) against the discriminated union, then render camelCase JSON."""
    if isinstance(configuration, Mapping):
        configuration = _CONFIG.validate_python(dict(configuration))
    result: dict[str, Any] = _CONFIG.dump_python(configuration, mode="json", by_alias=True, exclude_none=True)
    return result


class Schedules(Area):
    def _base(self, workspace_id: str, item_id: str, job_type: str) -> str:
        return f"workspaces/{seg(workspace_id)}/items/{seg(item_id)}/jobs/{seg(job_type)}/schedules"

    def create(self, workspace_id: str, item_id: str, *, job_type: str = "Pipeline", enabled: bool,
               configuration: Any) -> ItemSchedule:
        body = {"enabled": enabled, "configuration": _config_json(configuration)}
        return ItemSchedule.model_validate(self._json("POST", self._base(workspace_id, item_id, job_type), json=body))

    def get(self, workspace_id: str, item_id: str, schedule_id: str, *, job_type: str = "Pipeline") -> ItemSchedule:
        return ItemSchedule.model_validate(
            self._json("GET", f"{self._base(workspace_id, item_id, job_type)}/{seg(schedule_id)}"))

    def list(self, workspace_id: str, item_id: str, *, job_type: str = "Pipeline") -> Iterator[ItemSchedule]:
        for v in iterate_values(self._t, self._base(workspace_id, item_id, job_type)):
            yield ItemSchedule.model_validate(v)

    def update(self, workspace_id: str, item_id: str, schedule_id: str, *, job_type: str = "Pipeline",
               enabled: bool, configuration: Any) -> ItemSchedule:
        body = {"enabled": enabled, "configuration": _config_json(configuration)}
        return ItemSchedule.model_validate(
            self._json("PATCH", f"{self._base(workspace_id, item_id, job_type)}/{seg(schedule_id)}", json=body))

    def delete(self, workspace_id: str, item_id: str, schedule_id: str, *, job_type: str = "Pipeline") -> None:
        self._t.request("DELETE", f"{self._base(workspace_id, item_id, job_type)}/{seg(schedule_id)}")
