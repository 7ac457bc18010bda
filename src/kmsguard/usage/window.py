"""`--since` / `--until` values -> the half-open eventTime window, as CloudTrail's ISO text."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from kmsguard.errors import InputError

_RELATIVE = re.compile(r"^(\d+)([dh])$")


def _fmt(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_when(text: str, *, end: bool = False, now: datetime | None = None) -> str:
    """`2025-05-20` (a whole day: `end` moves to the next midnight), an ISO date-time, or a
    relative `90d` / `12h` before now. Returns `YYYY-MM-DDTHH:MM:SSZ`."""
    value = text.strip()
    m = _RELATIVE.match(value)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        delta = timedelta(days=n) if unit == "d" else timedelta(hours=n)
        return _fmt((now or datetime.now(UTC)) - delta)
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            start = datetime(d.year, d.month, d.day, tzinfo=UTC)
            return _fmt(start + timedelta(days=1) if end else start)
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"`{text}` is not a date",
            hint="use YYYY-MM-DD, an ISO date-time (2025-05-20T10:00:00Z) or 90d / 12h",
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return _fmt(dt)


def to_date(iso: str | None, *, end: bool = False) -> date | None:
    """The calendar day of a window bound (for the exclusive end, the day before)."""
    if iso is None:
        return None
    dt = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")
    if end:
        dt -= timedelta(seconds=1)
    return dt.date()
