"""Item job schedules (common/job_scheduling.json).

``configuration`` is a discriminated union on ``type``; the monthly ``occurrence`` is a second
union on ``occurrenceType``. Times stay strings in the API's own formats ("hh:mm",
"YYYY-MM-DDTHH:mm:ssZ") so that what is sent is exactly what the user wrote.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from fabric_resources.models.common import FabricModel, Principal

__all__ = [
    "CronScheduleConfig",
    "DailyScheduleConfig",
    "DayOfMonthOccurrence",
    "ItemSchedule",
    "MonthlyOccurrence",
    "MonthlyScheduleConfig",
    "OrdinalWeekdayOccurrence",
    "ScheduleConfig",
    "WeeklyScheduleConfig",
]


class _ScheduleConfigBase(FabricModel):
    start_date_time: str
    end_date_time: str
    local_time_zone_id: str


class CronScheduleConfig(_ScheduleConfigBase):
    type: Literal["Cron"] = "Cron"
    interval: int = Field(ge=1, le=5270400)  # minutes


class DailyScheduleConfig(_ScheduleConfigBase):
    type: Literal["Daily"] = "Daily"
    times: list[str] = Field(min_length=1, max_length=100)


class WeeklyScheduleConfig(_ScheduleConfigBase):
    type: Literal["Weekly"] = "Weekly"
    times: list[str] = Field(min_length=1, max_length=100)
    weekdays: list[str] = Field(min_length=1, max_length=7)


class DayOfMonthOccurrence(FabricModel):
    occurrence_type: Literal["DayOfMonth"] = "DayOfMonth"
    day_of_month: int = Field(ge=1, le=31)


class OrdinalWeekdayOccurrence(FabricModel):
    occurrence_type: Literal["OrdinalWeekday"] = "OrdinalWeekday"
    week_index: str  # First | Second | Third | Fourth | Fifth
    weekday: str


MonthlyOccurrence = Annotated[
    DayOfMonthOccurrence | OrdinalWeekdayOccurrence, Field(discriminator="occurrence_type")
]


class MonthlyScheduleConfig(_ScheduleConfigBase):
    type: Literal["Monthly"] = "Monthly"
    recurrence: int = Field(ge=1, le=12)
    occurrence: MonthlyOccurrence
    times: list[str] = Field(min_length=1, max_length=100)


ScheduleConfig = Annotated[
    CronScheduleConfig | DailyScheduleConfig | WeeklyScheduleConfig | MonthlyScheduleConfig,
    Field(discriminator="type"),
]


class ItemSchedule(FabricModel):
    id: str
    enabled: bool
    created_date_time: str | None = None
    configuration: ScheduleConfig | None = None
    owner: Principal | None = None
