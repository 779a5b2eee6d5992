"""How Fabric writes ids and timestamps, for every layer (no pydantic, no requests: the CLI's ``--help``
and ``definitions.py`` import this without paying for them)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["GUID_PATTERN", "is_guid", "parse_utc", "utc_iso"]

#: Every Fabric id (workspace, item, capacity, principal, schedule, job instance) is a GUID.
GUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_GUID = re.compile(GUID_PATTERN)


def is_guid(text: str) -> bool:
    return _GUID.match(text) is not None


def utc_iso(moment: datetime) -> str:
    """``moment`` as the timestamps Fabric reads: ISO 8601 in UTC with a ``Z``; naive means UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_utc(value: object) -> datetime | None:
    """A timestamp as Fabric sends it (``Z`` suffix, up to 7 fractional digits), timezone-aware;
    None for a missing or unreadable value. A naive value is taken as UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Fabric sends 7 fractional digits; fromisoformat takes at most 6.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
