"""Fabric's rules for item job schedules (common/job_scheduling.json), in one place for every layer.

The provider refuses a malformed schedule at preview with these rules and the emulator refuses it
with the same ones, so "valid" means one thing: Windows time zone ids from one table (mapped to IANA
zones for the emulator's calendar maths), ``HH:MM`` times, weekday and week-index names, Monthly
occurrence rules, start before end, and the spec's bounds. Standard library only (like
``formats.py``), so the emulator and the program side import it without pydantic.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "CRON_MAX_INTERVAL_MINUTES",
    "MAX_SCHEDULES_PER_ITEM",
    "MAX_TIME_SLOTS",
    "SCHEDULE_TYPES",
    "WEEKDAYS",
    "WEEK_INDEXES",
    "WINDOWS_TO_IANA",
    "ScheduleValidationError",
    "parse_times",
    "parse_utc",
    "parse_weekdays",
    "validate_configuration",
    "zone_for",
]

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

    def __init__(self, field: str, message: str, *, subject: str | None = None) -> None:
        # ``subject`` names what holds the configuration (a resource), for messages in a program.
        super().__init__(f"{subject}: invalid 'configuration': {field}: {message}" if subject
                         else f"{field}: {message}")
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


def parse_times(raw: Any, field: str) -> list[tuple[int, int]]:
    if not isinstance(raw, list) or not raw:
        raise ScheduleValidationError(field, "must be a non-empty list of \"HH:MM\" times.")
    if len(raw) > MAX_TIME_SLOTS:
        raise ScheduleValidationError(field, f"allows at most {MAX_TIME_SLOTS} time slots.")
    slots: list[tuple[int, int]] = []
    for value in raw:
        parts = value.split(":") if isinstance(value, str) else []
        if len(parts) != 2 or not all(p.isdigit() and 1 <= len(p) <= 2 for p in parts):
            raise ScheduleValidationError(
                field, f"{value!r} is not a time in the \"HH:MM\" format; write times such as \"06:30\".")
        hour, minute = int(parts[0]), int(parts[1])
        if hour > 23 or minute > 59:
            raise ScheduleValidationError(
                field, f"{value!r} is not a valid time of day; use \"00:00\" to \"23:59\".")
        slots.append((hour, minute))
    return sorted(set(slots))


def parse_weekdays(raw: Any, field: str) -> set[int]:
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
        raise ScheduleValidationError(
            p + "endDateTime",
            f"must be later than startDateTime ({config['startDateTime']}); move the end after the start.")
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
        parse_times(config.get("times"), p + "times")
        out["times"] = list(config["times"])
    if kind == "Weekly":
        parse_weekdays(config.get("weekdays"), p + "weekdays")
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
