"""Schedules of item jobs: validation, "next fire time" maths and the firing loop.

Design (why):
- The calendar maths are pure functions (``next_fire_time(config, after)``) over aware UTC
  datetimes so they can be unit-tested without a server or a clock.
- ``startDateTime``/``endDateTime`` are UTC (the spec says so; values without an offset are read as
  UTC). ``times`` ("HH:MM") are wall-clock times in ``localTimeZoneId``, a *Windows* time zone id
  (what the service uses) mapped to an IANA zone for ``zoneinfo``.
- DST: a local slot is converted with ``fold=0``. A slot inside the spring-forward gap therefore
  fires at the instant the pre-transition offset gives (02:30 in a skipped hour = 03:30 after the
  shift); a slot inside the repeated autumn hour fires once, at its first occurrence.
- Cron fires at ``startDateTime + k * interval`` (k >= 0); slots are aligned on the start, so a
  start in the past does not fire "instantly" but at the next aligned slot.
- Monthly: months are counted from the local month of ``startDateTime``; every ``recurrence``-th
  month fires. ``DayOfMonth`` 31 skips months without a 31st; ``OrdinalWeekday`` ``Fifth`` skips
  months without a fifth such weekday.
- Time compression: every schedule runs on its own *virtual clock* that starts equal to the real
  clock when the schedule is created/updated (or the emulator starts) and then runs ``1/time_factor``
  times faster. With time_factor f a Cron interval of m minutes therefore fires every ``m*60*f``
  real seconds; Daily/Weekly/Monthly slots come correspondingly sooner. Changing time_factor at run
  time re-anchors the clocks (virtual time stays continuous). Slots missed while the emulator was
  down are not replayed; slots missed because the loop fell behind fire once, not once per slot.
"""

from __future__ import annotations

import calendar
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# The rules a schedule must follow live in fabric_resources.scheduling, shared with the provider (so
# the emulator refuses exactly what a preview refuses); their users import them from there.
from fabric_resources.scheduling import (
    WEEK_INDEXES,
    WEEKDAYS,
    parse_times,
    parse_utc,
    parse_weekdays,
    zone_for,
)

__all__ = ["Scheduler", "next_fire_time"]

log = logging.getLogger(__name__)

# -- next fire time --------------------------------------------------------------------------


def _local_slot(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    # fold=0: gap times take the pre-transition offset, repeated times their first occurrence.
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone, fold=0).astimezone(UTC)


def _month_day(year: int, month: int, occurrence: dict[str, Any]) -> int | None:
    """Day of the month an occurrence falls on, or None when that month has no such day."""
    days_in_month = calendar.monthrange(year, month)[1]
    if occurrence["occurrenceType"] == "DayOfMonth":
        day = int(occurrence["dayOfMonth"])
        return day if day <= days_in_month else None
    weekday = WEEKDAYS.index(occurrence["weekday"])
    first = date(year, month, 1).weekday()
    day = 1 + (weekday - first) % 7 + 7 * WEEK_INDEXES.index(occurrence["weekIndex"])
    return day if day <= days_in_month else None


def next_fire_time(config: dict[str, Any], after: datetime) -> datetime | None:
    """The first instant strictly after ``after`` at which the schedule fires, within
    [startDateTime, endDateTime]; None when it never fires again. ``after`` must be aware."""
    start = parse_utc(config["startDateTime"])
    end = parse_utc(config["endDateTime"])
    after = after.astimezone(UTC)
    kind = config["type"]
    if kind == "Cron":
        step = timedelta(minutes=int(config["interval"]))
        if after < start:
            candidate = start
        else:
            k = int((after - start) // step) + 1
            candidate = start + k * step
        return candidate if candidate <= end else None

    zone = zone_for(config["localTimeZoneId"])
    slots = parse_times(config["times"], "times")
    lower = max(after, start - timedelta(microseconds=1))  # fire times must be >= start and > after

    def first_on(day: date) -> datetime | None:
        for hour, minute in slots:
            moment = _local_slot(day, hour, minute, zone)
            if moment > lower:
                return moment
        return None

    # Begin a day early: a slot on the previous local date may still lie after `lower` in UTC.
    first_day = lower.astimezone(zone).date() - timedelta(days=1)
    if kind in ("Daily", "Weekly"):
        weekdays = set(range(7)) if kind == "Daily" else parse_weekdays(config["weekdays"], "weekdays")
        day = first_day
        for _ in range(9):  # within any 9 consecutive days every weekday occurs
            if day.weekday() in weekdays:
                found = first_on(day)
                if found is not None:
                    return found if found <= end else None
            day += timedelta(days=1)
        return None
    if kind == "Monthly":
        recurrence = int(config["recurrence"])
        start_local = start.astimezone(zone)
        base = start_local.year * 12 + start_local.month - 1
        index = first_day.year * 12 + first_day.month - 1
        # 12 * 12 * 2 months covers every recurrence and the rarest day-of-month / weekday pattern.
        for _ in range(12 * 12 * 2):
            year, month = divmod(index, 12)
            month += 1
            if index >= base and (index - base) % recurrence == 0:
                dom = _month_day(year, month, config["occurrence"])
                if dom is not None:
                    found = first_on(date(year, month, dom))
                    if found is not None:
                        return found if found <= end else None
            if datetime(year, month, 1, tzinfo=UTC) - timedelta(days=2) > end:
                return None
            index += 1
        return None
    raise ValueError(f"unknown schedule type {kind!r}")


# -- the firing loop ---------------------------------------------------------------------------


@dataclass
class _Clock:
    """A schedule's virtual clock: virtual = anchor_virtual + (real - anchor_real) / factor."""

    revision: str
    anchor_real: float
    anchor_virtual: datetime
    factor: float
    next_virtual: datetime | None

    def virtual(self, real: float) -> datetime:
        return self.anchor_virtual + timedelta(seconds=(real - self.anchor_real) / self.factor)

    def real(self, virtual: datetime) -> float:
        return self.anchor_real + (virtual - self.anchor_virtual).total_seconds() * self.factor


#: What the scheduler needs from the jobs engine: list enabled schedules, start a scheduled run.
ListSchedules = Callable[[], list[dict[str, Any]]]
FireSchedule = Callable[[dict[str, Any]], None]


class Scheduler:
    """A background thread that starts runs for enabled schedules when their slots come.

    ``list_schedules()`` returns dicts with at least ``id``, ``revision`` (changes on every update),
    ``configuration``; ``fire(schedule)`` starts a run. ``time_factor()`` is read on every tick so
    live config changes apply.
    """

    TICK_SECONDS = 0.25

    def __init__(self, list_schedules: ListSchedules, fire: FireSchedule,
                 time_factor: Callable[[], float]) -> None:
        self._list = list_schedules
        self._fire = fire
        self._factor = time_factor
        self._clocks: dict[str, _Clock] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="fabric-emulator-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def wake(self) -> None:
        """Re-read schedules now (called after a schedule is created/updated/deleted)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                delay = self.tick(time.time())
            except Exception:  # the loop must survive a bad row or a failing run start
                log.exception("scheduler tick failed")
                delay = self.TICK_SECONDS
            self._wake.wait(timeout=max(0.01, min(delay, self.TICK_SECONDS)))
            self._wake.clear()

    def tick(self, now_real: float) -> float:
        """Fire every due schedule; return the seconds until the next known slot."""
        factor = max(float(self._factor() or 1.0), 1e-6)
        schedules = {s["id"]: s for s in self._list()}
        for gone in set(self._clocks) - set(schedules):
            del self._clocks[gone]
        delay = self.TICK_SECONDS
        for sid, schedule in schedules.items():
            clock = self._clocks.get(sid)
            if clock is None or clock.revision != schedule["revision"]:
                anchor = datetime.fromtimestamp(now_real, UTC)
                clock = _Clock(schedule["revision"], now_real, anchor, factor,
                               next_fire_time(schedule["configuration"], anchor - timedelta(microseconds=1)))
                self._clocks[sid] = clock
            elif clock.factor != factor:
                anchor = clock.virtual(now_real)
                clock.anchor_real, clock.anchor_virtual, clock.factor = now_real, anchor, factor
            if clock.next_virtual is None:
                continue
            if clock.real(clock.next_virtual) <= now_real:
                try:
                    self._fire(schedule)
                finally:
                    # Skip every slot already past: one run per catch-up, never a burst.
                    clock.next_virtual = next_fire_time(schedule["configuration"], clock.virtual(now_real))
            if clock.next_virtual is not None:
                delay = min(delay, clock.real(clock.next_virtual) - now_real)
        return delay
