"""Times in and out of the query layer.

In: ``--since 1h`` (relative to now), ISO 8601 (``2026-11-23T18:00``, naive means
local time), epoch seconds (``1795455835.5``), ``now``; library callers may also pass
datetime objects or numbers.  Out: the database's integer ns since the epoch, and
human local times with the zone for people.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

NS = 1_000_000_000

_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)\s*(?:ago)?\s*$")
# Numbers this large are ns already (epoch seconds will not reach 1e14 for millions of years).
_NS_THRESHOLD = 10**14


class BadTime(ValueError):
    """A time the user wrote that we cannot read; the message says what is accepted."""


def now_ns() -> int:
    return time.time_ns()


def parse_duration(text: str) -> float:
    """``90s``, ``5m``, ``1h``, ``2d``, ``1w`` or plain seconds to seconds."""
    m = _RELATIVE.match(str(text))
    if m:
        return float(m.group(1)) * _UNITS[m.group(2)]
    try:
        value = float(text)
    except ValueError:
        raise BadTime(f"{text!r} is not a duration: use e.g. 90s, 5m, 1h, 2d") from None
    if value <= 0:
        raise BadTime(f"{text!r} is not a positive duration")
    return value


def to_ns(value, *, now: int | None = None) -> int:
    """Any accepted time (str, datetime, number) to epoch ns."""
    now = now_ns() if now is None else now
    if isinstance(value, datetime):
        return _datetime_ns(value)
    if isinstance(value, bool):
        raise BadTime(f"{value!r} is not a time")
    if isinstance(value, (int, float)):
        return int(value) if abs(value) >= _NS_THRESHOLD else int(round(value * NS))
    text = str(value).strip()
    if text.lower() == "now":
        return now
    m = _RELATIVE.match(text)
    if m:
        return now - int(float(m.group(1)) * _UNITS[m.group(2)] * NS)
    try:
        return to_ns(float(text), now=now)
    except ValueError:
        pass
    try:
        return _datetime_ns(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise BadTime(
            f"cannot read the time {text!r}: use a duration back from now (15m, 1h, 2d), "
            "ISO 8601 (2026-11-23T18:00, local time unless it has a zone) or epoch seconds"
        ) from None


def _datetime_ns(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.astimezone()  # naive datetimes are local time
    delta = dt - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * NS + delta.microseconds * 1000


def window(since="1h", until="now", *, now: int | None = None) -> tuple[int, int]:
    """(start_ns, end_ns) from two user times; refuses an empty or inverted window."""
    now = now_ns() if now is None else now
    start, end = to_ns(since, now=now), to_ns(until, now=now)
    if end <= start:
        raise BadTime(f"the window is empty: --since {since} is not before --until {until}")
    return start, end


def local(ns: int | None, *, ms: bool = True) -> str | None:
    """Local time with its zone, e.g. ``2026-11-23 18:06:26.123 UTC``."""
    if ns is None:
        return None
    dt = datetime.fromtimestamp(ns / NS).astimezone()
    text = dt.strftime("%Y-%m-%d %H:%M:%S")
    if ms:
        text += f".{(ns // 1_000_000) % 1000:03d}"
    return f"{text} {dt.strftime('%Z') or dt.strftime('%z')}"


def iso(ns: int | None, *, ms: bool = False) -> str | None:
    """ISO 8601 with the local offset, e.g. ``2026-12-02T14:00:00+00:00``: what
    json/csv rows carry, since datetime.fromisoformat, SQLite and jq read it."""
    if ns is None:
        return None
    dt = datetime.fromtimestamp(ns // NS, timezone.utc).astimezone()
    if ms:
        return dt.replace(microsecond=(ns // 1_000_000) % 1000 * 1000).isoformat(timespec="milliseconds")
    return dt.isoformat(timespec="seconds")


def stamp(ns: int, *, ms: bool = False) -> dict:
    """The two time fields of a query row: ``time`` (ISO 8601) and ``timestamp_ns``."""
    return {"time": iso(ns, ms=ms), "timestamp_ns": ns}


def from_iso(text: str) -> str:
    """An ISO 8601 row time as people read it in a table: local time with the zone,
    milliseconds only when the row had them (times.local's form)."""
    dt = datetime.fromisoformat(text).astimezone()
    out = dt.strftime("%Y-%m-%d %H:%M:%S")
    if dt.microsecond:
        out += f".{dt.microsecond // 1000:03d}"
    return f"{out} {dt.strftime('%Z') or dt.strftime('%z')}"


def span(seconds: float) -> str:
    """A duration for people: ``45 s``, ``12 min``, ``3.5 h``, ``2.0 d``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


_STEPS = (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 6 * 3600, 86400)


def auto_step(start_ns: int, end_ns: int, rows: int = 12) -> int:
    """A round step in seconds that cuts the window into at most about ``rows`` rows."""
    seconds = (end_ns - start_ns) / NS
    for step in _STEPS:
        if seconds / step <= rows:
            return step
    return _STEPS[-1]
