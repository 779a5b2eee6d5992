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
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)

#: The service allows at most this many schedules per item.
MAX_SCHEDULES_PER_ITEM = 20
CRON_MAX_INTERVAL_MINUTES = 5270400
MAX_TIME_SLOTS = 100
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEK_INDEXES = ("First", "Second", "Third", "Fourth", "Fifth")
SCHEDULE_TYPES = ("Cron", "Daily", "Weekly", "Monthly")

#: Windows time zone ids (as used by the service and the Windows registry) -> IANA zone names.
#: The common zones of every region; "UTC" variants included. Unknown ids are refused.
WINDOWS_TO_IANA: dict[str, str] = {
    "Dateline Standard Time": "Etc/GMT+12",
    "UTC-11": "Etc/GMT+11",
    "Hawaiian Standard Time": "Pacific/Honolulu",
    "Alaskan Standard Time": "America/Anchorage",
    "Pacific Standard Time (Mexico)": "America/Tijuana",
    "Pacific Standard Time": "America/Los_Angeles",
    "US Mountain Standard Time": "America/Phoenix",
    "Mountain Standard Time (Mexico)": "America/Mazatlan",
    "Mountain Standard Time": "America/Denver",
    "Central America Standard Time": "America/Guatemala",
    "Central Standard Time": "America/Chicago",
    "Central Standard Time (Mexico)": "America/Mexico_City",
    "Canada Central Standard Time": "America/Regina",
    "SA Pacific Standard Time": "America/Bogota",
    "Eastern Standard Time (Mexico)": "America/Cancun",
    "Eastern Standard Time": "America/New_York",
    "US Eastern Standard Time": "America/Indiana/Indianapolis",
    "Venezuela Standard Time": "America/Caracas",
    "Paraguay Standard Time": "America/Asuncion",
    "Atlantic Standard Time": "America/Halifax",
    "Central Brazilian Standard Time": "America/Cuiaba",
    "SA Western Standard Time": "America/La_Paz",
    "Pacific SA Standard Time": "America/Santiago",
    "Newfoundland Standard Time": "America/St_Johns",
    "E. South America Standard Time": "America/Sao_Paulo",
    "SA Eastern Standard Time": "America/Cayenne",
    "Argentina Standard Time": "America/Argentina/Buenos_Aires",
    "Greenland Standard Time": "America/Godthab",
    "Montevideo Standard Time": "America/Montevideo",
    "UTC-02": "Etc/GMT+2",
    "Azores Standard Time": "Atlantic/Azores",
    "Cape Verde Standard Time": "Atlantic/Cape_Verde",
    "UTC": "Etc/UTC",
    "Coordinated Universal Time": "Etc/UTC",
    "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "Morocco Standard Time": "Africa/Casablanca",
    "W. Europe Standard Time": "Europe/Berlin",
    "Central Europe Standard Time": "Europe/Budapest",
    "Romance Standard Time": "Europe/Paris",
    "Central European Standard Time": "Europe/Warsaw",
    "W. Central Africa Standard Time": "Africa/Lagos",
    "Jordan Standard Time": "Asia/Amman",
    "GTB Standard Time": "Europe/Bucharest",
    "Middle East Standard Time": "Asia/Beirut",
    "Egypt Standard Time": "Africa/Cairo",
    "E. Europe Standard Time": "Europe/Chisinau",
    "Syria Standard Time": "Asia/Damascus",
    "South Africa Standard Time": "Africa/Johannesburg",
    "FLE Standard Time": "Europe/Kiev",
    "Israel Standard Time": "Asia/Jerusalem",
    "Kaliningrad Standard Time": "Europe/Kaliningrad",
    "Arabic Standard Time": "Asia/Baghdad",
    "Turkey Standard Time": "Europe/Istanbul",
    "Arab Standard Time": "Asia/Riyadh",
    "Belarus Standard Time": "Europe/Minsk",
    "Russian Standard Time": "Europe/Moscow",
    "E. Africa Standard Time": "Africa/Nairobi",
    "Iran Standard Time": "Asia/Tehran",
    "Arabian Standard Time": "Asia/Dubai",
    "Azerbaijan Standard Time": "Asia/Baku",
    "Mauritius Standard Time": "Indian/Mauritius",
    "Georgian Standard Time": "Asia/Tbilisi",
    "Caucasus Standard Time": "Asia/Yerevan",
    "Afghanistan Standard Time": "Asia/Kabul",
    "West Asia Standard Time": "Asia/Tashkent",
    "Ekaterinburg Standard Time": "Asia/Yekaterinburg",
    "Pakistan Standard Time": "Asia/Karachi",
    "India Standard Time": "Asia/Kolkata",
    "Sri Lanka Standard Time": "Asia/Colombo",
    "Nepal Standard Time": "Asia/Kathmandu",
    "Central Asia Standard Time": "Asia/Almaty",
    "Bangladesh Standard Time": "Asia/Dhaka",
    "Myanmar Standard Time": "Asia/Yangon",
    "SE Asia Standard Time": "Asia/Bangkok",
    "N. Central Asia Standard Time": "Asia/Novosibirsk",
    "China Standard Time": "Asia/Shanghai",
    "North Asia Standard Time": "Asia/Krasnoyarsk",
    "Singapore Standard Time": "Asia/Singapore",
    "W. Australia Standard Time": "Australia/Perth",
    "Taipei Standard Time": "Asia/Taipei",
    "Ulaanbaatar Standard Time": "Asia/Ulaanbaatar",
    "North Asia East Standard Time": "Asia/Irkutsk",
    "Tokyo Standard Time": "Asia/Tokyo",
    "Korea Standard Time": "Asia/Seoul",
    "Cen. Australia Standard Time": "Australia/Adelaide",
    "AUS Central Standard Time": "Australia/Darwin",
    "E. Australia Standard Time": "Australia/Brisbane",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "West Pacific Standard Time": "Pacific/Port_Moresby",
    "Tasmania Standard Time": "Australia/Hobart",
    "Yakutsk Standard Time": "Asia/Yakutsk",
    "Vladivostok Standard Time": "Asia/Vladivostok",
    "Central Pacific Standard Time": "Pacific/Guadalcanal",
    "Magadan Standard Time": "Asia/Magadan",
    "New Zealand Standard Time": "Pacific/Auckland",
    "UTC+12": "Etc/GMT-12",
    "Fiji Standard Time": "Pacific/Fiji",
    "Tonga Standard Time": "Pacific/Tongatapu",
    "Samoa Standard Time": "Pacific/Apia",
}

_ZONES_BY_FOLDED_ID = {k.casefold(): v for k, v in WINDOWS_TO_IANA.items()}

#: A date *and* time (``parse_utc`` alone would also take a bare date, which we would then echo
#: back in a field the spec types as ``date-time``). The offset may be left out, as in the spec's
#: own examples; fractional seconds are allowed (the service writes seven digits).
_DATE_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})?$")


class ScheduleValidationError(ValueError):
    """A schedule configuration the service would refuse; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def zone_for(windows_id: str) -> ZoneInfo:
    """The zoneinfo zone of a Windows time zone id (case-insensitive); ValueError when unknown."""
    iana = _ZONES_BY_FOLDED_ID.get(windows_id.strip().casefold()) if isinstance(windows_id, str) else None
    if iana is None:
        raise ValueError(f"unknown Windows time zone id {windows_id!r}")
    try:
        return ZoneInfo(iana)
    except ZoneInfoNotFoundError as exc:  # tzdata missing on the host: say so instead of crashing
        raise ValueError(f"time zone data for {iana!r} is not installed") from exc


def parse_utc(value: str) -> datetime:
    """An ISO 8601 date-time as aware UTC; values without an offset are UTC (the spec's format)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python 3.11 refuses more than 6 fractional digits; the service writes 7.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        tail = rest[len(digits):]
        text = f"{head}.{digits[:6].ljust(6, '0')}{tail}"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _parse_times(raw: Any, field: str) -> list[tuple[int, int]]:
    if not isinstance(raw, list) or not raw:
        raise ScheduleValidationError(field, "must be a non-empty list of \"HH:MM\" times.")
    if len(raw) > MAX_TIME_SLOTS:
        raise ScheduleValidationError(field, f"allows at most {MAX_TIME_SLOTS} time slots.")
    slots: list[tuple[int, int]] = []
    for value in raw:
        parts = value.split(":") if isinstance(value, str) else []
        if len(parts) != 2 or not all(p.isdigit() and 1 <= len(p) <= 2 for p in parts):
            raise ScheduleValidationError(field, f"{value!r} is not a time in the \"HH:MM\" format.")
        hour, minute = int(parts[0]), int(parts[1])
        if hour > 23 or minute > 59:
            raise ScheduleValidationError(field, f"{value!r} is not a valid time of day.")
        slots.append((hour, minute))
    return sorted(set(slots))


def _parse_weekdays(raw: Any, field: str) -> set[int]:
    if not isinstance(raw, list) or not raw or len(raw) > 7:
        raise ScheduleValidationError(field, "must list between 1 and 7 weekdays.")
    days: set[int] = set()
    for value in raw:
        if value not in WEEKDAYS:
            raise ScheduleValidationError(field, f"{value!r} is not one of {', '.join(WEEKDAYS)}.")
        days.add(WEEKDAYS.index(value))
    return days


def _int_field(config: dict[str, Any], name: str, low: int, high: int, prefix: str) -> int:
    value = config.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ScheduleValidationError(f"{prefix}{name}", f"must be an integer between {low} and {high}.")
    return value


def _date_time_field(config: dict[str, Any], name: str, prefix: str) -> datetime:
    value = config[name]  # not stripped: the value is echoed back exactly as sent
    try:
        if not _DATE_TIME_RE.match(value):
            raise ValueError(value)
        return parse_utc(value)
    except ValueError:
        raise ScheduleValidationError(prefix + name, "is not a valid date-time (YYYY-MM-DDTHH:mm:ssZ).") from None


def validate_configuration(config: Any) -> dict[str, Any]:
    """Check a schedule ``configuration`` and return it normalised (the fields the spec defines).

    Raises ScheduleValidationError naming the field (``configuration.<field>``).
    """
    p = "configuration."
    if not isinstance(config, dict):
        raise ScheduleValidationError("configuration", "is required and must be an object.")
    kind = config.get("type")
    if kind not in SCHEDULE_TYPES:
        raise ScheduleValidationError(p + "type", f"must be one of {', '.join(SCHEDULE_TYPES)}.")
    out: dict[str, Any] = {"type": kind}
    for name in ("startDateTime", "endDateTime", "localTimeZoneId"):
        if not isinstance(config.get(name), str) or not config[name].strip():
            raise ScheduleValidationError(p + name, "is required.")
    start = _date_time_field(config, "startDateTime", p)
    end = _date_time_field(config, "endDateTime", p)
    if end <= start:
        raise ScheduleValidationError(p + "endDateTime", "must be later than startDateTime.")
    try:
        zone_for(config["localTimeZoneId"])
    except ValueError:
        raise ScheduleValidationError(
            p + "localTimeZoneId",
            f"{config['localTimeZoneId']!r} is not a supported Windows time zone id "
            "(for example 'UTC', 'Central Standard Time', 'W. Europe Standard Time').",
        ) from None
    # Keep the caller's spelling of the times and zone: clients diff what they sent against this.
    out["startDateTime"] = config["startDateTime"]
    out["endDateTime"] = config["endDateTime"]
    out["localTimeZoneId"] = config["localTimeZoneId"]
    if kind == "Cron":
        out["interval"] = _int_field(config, "interval", 1, CRON_MAX_INTERVAL_MINUTES, p)
    else:
        _parse_times(config.get("times"), p + "times")
        out["times"] = list(config["times"])
    if kind == "Weekly":
        _parse_weekdays(config.get("weekdays"), p + "weekdays")
        out["weekdays"] = list(config["weekdays"])
    if kind == "Monthly":
        out["recurrence"] = _int_field(config, "recurrence", 1, 12, p)
        occ = config.get("occurrence")
        q = p + "occurrence."
        if not isinstance(occ, dict):
            raise ScheduleValidationError(p + "occurrence", "is required and must be an object.")
        occ_type = occ.get("occurrenceType")
        if occ_type == "DayOfMonth":
            out["occurrence"] = {"occurrenceType": occ_type,
                                 "dayOfMonth": _int_field(occ, "dayOfMonth", 1, 31, q)}
        elif occ_type == "OrdinalWeekday":
            if occ.get("weekIndex") not in WEEK_INDEXES:
                raise ScheduleValidationError(q + "weekIndex", f"must be one of {', '.join(WEEK_INDEXES)}.")
            if occ.get("weekday") not in WEEKDAYS:
                raise ScheduleValidationError(q + "weekday", f"must be one of {', '.join(WEEKDAYS)}.")
            out["occurrence"] = {"occurrenceType": occ_type, "weekIndex": occ["weekIndex"],
                                 "weekday": occ["weekday"]}
        else:
            raise ScheduleValidationError(q + "occurrenceType", "must be DayOfMonth or OrdinalWeekday.")
    return out


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
    slots = _parse_times(config["times"], "times")
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
        weekdays = set(range(7)) if kind == "Daily" else _parse_weekdays(config["weekdays"], "weekdays")
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
