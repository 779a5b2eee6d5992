"""Next-fire-time maths of schedules (all four types, time zones, DST, bounds) and the firing loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fabric_resources.emulator.scheduler import Scheduler, next_fire_time
from fabric_resources.scheduling import ScheduleValidationError, parse_utc, validate_configuration, zone_for


def utc(text: str) -> datetime:
    return parse_utc(text)


def cfg(kind: str, **fields: Any) -> dict[str, Any]:
    base = {"type": kind, "startDateTime": "2024-01-01T00:00:00", "endDateTime": "2026-01-01T00:00:00",
            "localTimeZoneId": "UTC"}
    base.update(fields)
    return base


def fires(config: dict[str, Any], after: str, count: int) -> list[str]:
    """The next `count` fire times after `after`, as compact UTC strings."""
    out: list[str] = []
    moment = utc(after)
    for _ in range(count):
        nxt = next_fire_time(config, moment)
        if nxt is None:
            break
        out.append(nxt.strftime("%Y-%m-%dT%H:%MZ"))
        moment = nxt
    return out


# -- Cron --------------------------------------------------------------------------------------


def test_cron_fires_every_interval_aligned_on_the_start() -> None:
    config = cfg("Cron", interval=10, startDateTime="2024-04-28T00:00:00", endDateTime="2024-04-28T00:35:00")
    assert fires(config, "2024-04-27T12:00:00Z", 10) == [
        "2024-04-28T00:00Z", "2024-04-28T00:10Z", "2024-04-28T00:20Z", "2024-04-28T00:30Z"]
    # From the middle of an interval: the next aligned slot, not "now + interval".
    assert next_fire_time(config, utc("2024-04-28T00:12:34Z")) == utc("2024-04-28T00:20:00Z")
    # Exactly on a slot: strictly after.
    assert next_fire_time(config, utc("2024-04-28T00:10:00Z")) == utc("2024-04-28T00:20:00Z")
    assert next_fire_time(config, utc("2024-04-28T00:30:00Z")) is None


def test_cron_ignores_the_time_zone() -> None:
    a = cfg("Cron", interval=60, localTimeZoneId="Tokyo Standard Time")
    b = cfg("Cron", interval=60, localTimeZoneId="Pacific Standard Time")
    after = utc("2024-06-01T10:30:00Z")
    assert next_fire_time(a, after) == next_fire_time(b, after) == utc("2024-06-01T11:00:00Z")


# -- Daily -------------------------------------------------------------------------------------


def test_daily_times_are_local_to_the_time_zone() -> None:
    # Central Standard Time observes DST: UTC-5 in April.
    config = cfg("Daily", times=["15:00", "09:00"], localTimeZoneId="Central Standard Time")
    assert fires(config, "2024-04-28T00:00:00Z", 3) == [
        "2024-04-28T14:00Z", "2024-04-28T20:00Z", "2024-04-29T14:00Z"]
    # UTC-6 in January.
    assert next_fire_time(config, utc("2024-01-10T00:00:00Z")) == utc("2024-01-10T15:00:00Z")


def test_daily_slot_on_the_previous_local_date_counts() -> None:
    # 23:30 in Tokyo (UTC+9) is 14:30 UTC the same day; from 14:00 UTC the slot is only 30 min away.
    config = cfg("Daily", times=["23:30"], localTimeZoneId="Tokyo Standard Time")
    assert next_fire_time(config, utc("2024-06-01T14:00:00Z")) == utc("2024-06-01T14:30:00Z")
    # India Standard Time has a half-hour offset (UTC+5:30).
    config = cfg("Daily", times=["00:15"], localTimeZoneId="India Standard Time")
    assert next_fire_time(config, utc("2024-06-01T12:00:00Z")) == utc("2024-06-01T18:45:00Z")


def test_daily_spring_forward_gap_fires_once_at_the_shifted_instant() -> None:
    # 2024-03-10 02:30 does not exist in Chicago; it fires at 08:30 UTC (= 03:30 CDT).
    config = cfg("Daily", times=["02:30"], localTimeZoneId="Central Standard Time")
    assert fires(config, "2024-03-09T09:00:00Z", 3) == [
        "2024-03-10T08:30Z", "2024-03-11T07:30Z", "2024-03-12T07:30Z"]


def test_daily_fall_back_repeated_hour_fires_once() -> None:
    # 2024-11-03 01:30 happens twice in Chicago; only the first (CDT, 06:30 UTC) fires.
    config = cfg("Daily", times=["01:30"], localTimeZoneId="Central Standard Time")
    assert fires(config, "2024-11-02T07:00:00Z", 3) == [
        "2024-11-03T06:30Z", "2024-11-04T07:30Z", "2024-11-05T07:30Z"]


def test_european_dst_shift() -> None:
    # W. Europe: CET (UTC+1) until 2024-03-31, then CEST (UTC+2).
    config = cfg("Daily", times=["09:00"], localTimeZoneId="W. Europe Standard Time")
    assert fires(config, "2024-03-30T00:00:00Z", 2) == ["2024-03-30T08:00Z", "2024-03-31T07:00Z"]


# -- Weekly ------------------------------------------------------------------------------------


def test_weekly_only_on_the_listed_weekdays() -> None:
    config = cfg("Weekly", times=["18:09"], weekdays=["Friday", "Monday"], localTimeZoneId="India Standard Time",
                 startDateTime="2030-04-28T00:00:00Z", endDateTime="2030-06-30T00:00:00Z")
    # 2030-04-28 is a Sunday; 18:09 IST = 12:39 UTC.
    assert fires(config, "2030-04-01T00:00:00Z", 4) == [
        "2030-04-29T12:39Z", "2030-05-03T12:39Z", "2030-05-06T12:39Z", "2030-05-10T12:39Z"]
    for moment in fires(config, "2030-04-01T00:00:00Z", 10):
        assert datetime.fromisoformat(moment.replace("Z", "+00:00")).weekday() in (0, 4)


def test_weekly_weekday_is_the_local_weekday() -> None:
    # Monday 08:00 in Tokyo is Sunday 23:00 UTC.
    config = cfg("Weekly", times=["08:00"], weekdays=["Monday"], localTimeZoneId="Tokyo Standard Time")
    assert next_fire_time(config, utc("2024-06-05T00:00:00Z")) == utc("2024-06-09T23:00:00Z")


# -- Monthly -----------------------------------------------------------------------------------


def test_monthly_day_of_month_skips_short_months() -> None:
    config = cfg("Monthly", recurrence=1, times=["12:00"],
                 occurrence={"occurrenceType": "DayOfMonth", "dayOfMonth": 31})
    assert fires(config, "2024-01-31T12:00:00Z", 3) == [
        "2024-03-31T12:00Z", "2024-05-31T12:00Z", "2024-07-31T12:00Z"]


def test_monthly_recurrence_counts_from_the_start_month() -> None:
    config = cfg("Monthly", recurrence=2, times=["06:00"], startDateTime="2024-01-10T00:00:00",
                 occurrence={"occurrenceType": "DayOfMonth", "dayOfMonth": 1})
    # January 1st is before the start; then every second month from January.
    assert fires(config, "2023-12-01T00:00:00Z", 3) == [
        "2024-03-01T06:00Z", "2024-05-01T06:00Z", "2024-07-01T06:00Z"]


def test_monthly_ordinal_weekday() -> None:
    fifth_sunday = cfg("Monthly", recurrence=1, times=["06:00"],
                       occurrence={"occurrenceType": "OrdinalWeekday", "weekIndex": "Fifth", "weekday": "Sunday"})
    # 2024: only March, June, September and December have five Sundays.
    assert fires(fifth_sunday, "2024-01-01T00:00:00Z", 4) == [
        "2024-03-31T06:00Z", "2024-06-30T06:00Z", "2024-09-29T06:00Z", "2024-12-29T06:00Z"]
    second_tuesday = cfg("Monthly", recurrence=1, times=["10:00"], localTimeZoneId="Pacific Standard Time",
                         occurrence={"occurrenceType": "OrdinalWeekday", "weekIndex": "Second",
                                     "weekday": "Tuesday"})
    # Patch Tuesdays 2024: Feb 13 (PST, UTC-8), Mar 12 (PDT, UTC-7).
    assert fires(second_tuesday, "2024-02-01T00:00:00Z", 2) == ["2024-02-13T18:00Z", "2024-03-12T17:00Z"]


# -- bounds ------------------------------------------------------------------------------------


def test_start_and_end_bounds() -> None:
    config = cfg("Daily", times=["09:00", "15:00"], startDateTime="2024-05-01T12:00:00Z",
                 endDateTime="2024-05-02T10:00:00Z")
    assert fires(config, "2024-04-01T00:00:00Z", 10) == ["2024-05-01T15:00Z", "2024-05-02T09:00Z"]
    assert next_fire_time(config, utc("2024-05-02T09:00:00Z")) is None
    monthly = cfg("Monthly", recurrence=1, times=["06:00"], endDateTime="2024-02-15T00:00:00Z",
                  occurrence={"occurrenceType": "DayOfMonth", "dayOfMonth": 20})
    assert fires(monthly, "2024-01-01T00:00:00Z", 5) == ["2024-01-20T06:00Z"]


def test_start_in_utc_with_or_without_offset() -> None:
    a = cfg("Cron", interval=5, startDateTime="2024-04-28T00:00:00")
    b = cfg("Cron", interval=5, startDateTime="2024-04-28T02:00:00+02:00")
    c = cfg("Cron", interval=5, startDateTime="2024-04-28T00:00:00.0000000Z")
    after = utc("2024-04-27T00:00:00Z")
    assert next_fire_time(a, after) == next_fire_time(b, after) == next_fire_time(c, after) == utc(
        "2024-04-28T00:00:00Z")


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "field"), [
    ({"localTimeZoneId": "Mars Standard Time"}, "configuration.localTimeZoneId"),
    ({"type": "Cron", "interval": 0}, "configuration.interval"),
    ({"type": "Cron", "interval": 5270401}, "configuration.interval"),
    ({"type": "Cron", "interval": True}, "configuration.interval"),
    ({"times": []}, "configuration.times"),
    ({"times": ["9am"]}, "configuration.times"),
    ({"times": ["24:00"]}, "configuration.times"),
    ({"endDateTime": "2023-01-01T00:00:00"}, "configuration.endDateTime"),
    ({"startDateTime": "yesterday"}, "configuration.startDateTime"),
    ({"type": "Weekly", "weekdays": []}, "configuration.weekdays"),
    ({"type": "Weekly", "weekdays": ["monday"]}, "configuration.weekdays"),
    ({"type": "Monthly", "recurrence": 13, "occurrence": {"occurrenceType": "DayOfMonth", "dayOfMonth": 1}},
     "configuration.recurrence"),
    ({"type": "Monthly", "recurrence": 1, "occurrence": {"occurrenceType": "DayOfMonth", "dayOfMonth": 32}},
     "configuration.occurrence.dayOfMonth"),
    ({"type": "Monthly", "recurrence": 1, "occurrence": {"occurrenceType": "OrdinalWeekday", "weekIndex": "Last",
                                                         "weekday": "Monday"}},
     "configuration.occurrence.weekIndex"),
    ({"type": "Monthly", "recurrence": 1, "occurrence": {"occurrenceType": "Weekly"}},
     "configuration.occurrence.occurrenceType"),
    ({"type": "Yearly"}, "configuration.type"),
])
def test_validation_names_the_field(change: dict[str, Any], field: str) -> None:
    config = cfg("Daily", times=["09:00"])
    config.update(change)
    with pytest.raises(ScheduleValidationError) as info:
        validate_configuration(config)
    assert info.value.field == field


def test_validation_keeps_the_callers_values() -> None:
    config = cfg("Weekly", times=["18:09", "17:12"], weekdays=["Monday", "Tuesday"],
                 localTimeZoneId="Central Standard Time", extra="dropped")
    out = validate_configuration(config)
    assert out == {k: v for k, v in config.items() if k != "extra"}


def test_windows_zone_ids() -> None:
    assert zone_for("UTC").key == "Etc/UTC"
    assert zone_for("central standard time").key == "America/Chicago"
    assert zone_for("W. Europe Standard Time").key == "Europe/Berlin"
    with pytest.raises(ValueError):
        zone_for("America/Chicago")  # IANA names are not Windows ids


# -- the firing loop ---------------------------------------------------------------------------


class FakeJobs:
    def __init__(self, schedules: list[dict[str, Any]]) -> None:
        self.schedules = schedules
        self.fired: list[str] = []
        self.factor = 0.01

    def scheduler(self) -> Scheduler:
        return Scheduler(lambda: list(self.schedules), lambda s: self.fired.append(s["id"]), lambda: self.factor)


def test_time_factor_compresses_the_schedule_clock() -> None:
    t0 = 1_800_000_000.0
    start = datetime.fromtimestamp(t0, UTC) + timedelta(minutes=5)
    schedule = {"id": "s1", "revision": "r1", "configuration": cfg(
        "Cron", interval=1, startDateTime=start.isoformat(), endDateTime="2099-01-01T00:00:00")}
    jobs = FakeJobs([schedule])
    sched = jobs.scheduler()
    # time_factor 0.01: virtual 5 min = 3 real seconds; then every 0.6 s.
    sched.tick(t0)
    sched.tick(t0 + 2.9)
    assert jobs.fired == []
    sched.tick(t0 + 3.0)
    assert jobs.fired == ["s1"]
    sched.tick(t0 + 3.5)
    assert jobs.fired == ["s1"]
    delay = sched.tick(t0 + 3.61)
    assert jobs.fired == ["s1", "s1"]
    assert 0 < delay <= Scheduler.TICK_SECONDS
    # Falling far behind fires once, not once per missed slot.
    sched.tick(t0 + 30.0)
    assert jobs.fired == ["s1"] * 3
    # Back to real time: the next slot is a (virtual = real) minute away at most.
    jobs.factor = 1.0
    sched.tick(t0 + 30.1)
    assert jobs.fired == ["s1"] * 3
    sched.tick(t0 + 30.1 + 60.0)
    assert jobs.fired == ["s1"] * 4


def test_updated_or_removed_schedules_are_reread() -> None:
    t0 = 1_800_000_000.0
    start = datetime.fromtimestamp(t0, UTC) + timedelta(minutes=1)
    config = cfg("Cron", interval=1, startDateTime=start.isoformat(), endDateTime="2099-01-01T00:00:00")
    jobs = FakeJobs([{"id": "s1", "revision": "r1", "configuration": config}])
    sched = jobs.scheduler()
    sched.tick(t0)
    # A new revision moves the start ten minutes later: the old slot must not fire.
    later = dict(config, startDateTime=(start + timedelta(minutes=10)).isoformat())
    jobs.schedules = [{"id": "s1", "revision": "r2", "configuration": later}]
    sched.tick(t0 + 1.0)
    assert jobs.fired == []
    # Re-anchored at t0+1: the new start is 659 virtual seconds away = 6.59 real seconds.
    sched.tick(t0 + 7.5)
    assert jobs.fired == []
    sched.tick(t0 + 7.6)
    assert jobs.fired == ["s1"]
    jobs.schedules = []
    sched.tick(t0 + 60.0)
    assert jobs.fired == ["s1"]
