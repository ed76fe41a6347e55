"""Numbers as people read them: bytes, latencies and rates with their unit
(``1.8 MB/s``, ``12.3 ms``).  Tables and the summary use these; json and csv keep
the raw numbers."""

from __future__ import annotations

from ..ingest.events import convert


def bytes_text(n) -> str:
    """Decimal units, as disks and links are sold: ``1.8 MB``."""
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{n:,.0f} B"
        n /= 1000.0


def latency_us_text(us) -> str:
    """A latency in the unit that reads best: ``850 µs``, ``12.3 ms``, ``1.25 s``."""
    if us is None:
        return "-"
    if us < 1000:
        return f"{us:.0f} µs" if us >= 10 else f"{us:.1f} µs"
    if us < 1_000_000:
        ms = convert(us, "us", "ms")
        return f"{ms:.2f} ms" if us < 10_000 else f"{ms:.1f} ms"
    return f"{convert(us, 'us', 'seconds'):.2f} s"


def count_text(n) -> str:
    """A large count or rate shortened: ``950``, ``12.5 k``, ``3.4 M``."""
    if n is None:
        return "-"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= 10 * size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,.0f}" if n == int(n) or abs(n) >= 100 else f"{n:.2f}"
