"""What the query functions share: the db/time argument handling, histogram
summaries (through kernelsight.ingest.histogram) and counter rates."""

from __future__ import annotations

import functools
from typing import Iterable, Sequence

from . import times
from .db import as_database, where

NS = times.NS


def windowed(fn):
    """Lets ``fn(db, start, end, ...)`` take a path or Database, and any accepted times.

    Inside, ``db`` is an open Database and start/end are epoch ns.
    """

    @functools.wraps(fn)
    def wrapper(db, start="1h", end="now", *args, **kw):
        now = times.now_ns()
        start_ns, end_ns = times.to_ns(start, now=now), times.to_ns(end, now=now)
        database, owned = as_database(db)
        try:
            return fn(database, start_ns, end_ns, *args, **kw)
        finally:
            if owned:
                database.close()

    return wrapper


def r3(x):
    """Round for people (3 decimals), keeping None."""
    return None if x is None else round(x, 3)


def hist_fields(hists: Iterable, prefix: str = "", scale: float = 1.0, unit: str = "us",
                quantiles: Sequence[int] = (50, 90, 99)) -> dict:
    """Merge stored histograms and read count, percentiles and max off the merged one.

    Percentiles of a window come from the merged buckets, never from averaging the
    per-interval percentiles.  ``scale`` converts us into ``unit`` (1e-3 for ms).
    """
    from ..ingest import histogram  # here: commands without histograms start without it

    merged = histogram.merge(h for h in hists if h)
    p = f"{prefix}_" if prefix else ""
    out: dict = {f"{p}samples": histogram.total(merged)}
    for q in quantiles:
        v = histogram.percentile(merged, q)
        out[f"{p}p{q}_{unit}"] = None if v is None else r3(v * scale)
    mx = histogram.max_value(merged)
    out[f"{p}max_{unit}"] = None if mx is None else r3(mx * scale)
    return out


def counter_deltas(values: Sequence[int | float | None]) -> list[float]:
    """Increments between consecutive readings of a cumulative counter.

    A reading below the previous one is a reset (reboot, interface re-created): the
    counter restarted from zero, so the increment is the new reading, never negative.
    """
    out: list[float] = []
    prev = None
    for v in values:
        if v is None:
            continue
        if prev is not None:
            out.append(v - prev if v >= prev else v)
        prev = v
    return out


def counter_rate(ts: Sequence[int], values: Sequence[int | float | None]) -> tuple[float, float]:
    """(total increase, per second) of a counter read at times ``ts`` (ns)."""
    pairs = [(t, v) for t, v in zip(ts, values) if v is not None]
    if len(pairs) < 2:
        return 0.0, None
    total = sum(counter_deltas([v for _, v in pairs]))
    seconds = (pairs[-1][0] - pairs[0][0]) / NS
    return total, (total / seconds if seconds > 0 else None)


def step_of(start: int, end: int, step) -> int:
    """Step in seconds: the caller's (number or "5m"), or a round one for the window."""
    if step in (None, "", 0, "auto"):
        return times.auto_step(start, end)
    if isinstance(step, (int, float)):
        return max(int(step), 1)
    return max(int(times.parse_duration(step)), 1)


def bucket_start(ts: int, step_s: int) -> int:
    """Start (ns) of the step-long bucket that holds ``ts``, aligned to the epoch."""
    step_ns = step_s * NS
    return ts - ts % step_ns


def covered_seconds(first_ns: int, last_ns: int, interval_ns: int | None) -> float:
    """Seconds that interval rows stamped from first to last describe: each row
    reports the interval that ends at its timestamp, so the first one adds its own."""
    return (last_ns - first_ns + (interval_ns or NS)) / NS


def counter_increases(db, table: str, keys: tuple[str, ...], cols: tuple[str, ...], cond: str,
                      params: list, bucket_ns: int | None = None) -> list[dict]:
    """Per key (and per time bucket when ``bucket_ns``): the first and last timestamp
    and the increase of each cumulative counter column over the window.

    The rule of counter_deltas (a reading below the previous one is a reset: the
    increase is the new reading), in one streaming pass over the rows in series
    order.  Measured on an hour of block_stats: 25 ms of CPU, against 45 ms for the
    same sums with SQLite's lag() window function over seven columns.
    """
    nk, n = len(keys), len(cols)
    cur = db.conn.cursor()
    cur.row_factory = None  # plain tuples: this loop touches every value
    cur.execute(f"SELECT {', '.join(keys)}, timestamp, {', '.join(cols)} FROM {table} WHERE {cond} "
                f"ORDER BY {', '.join(keys)}, timestamp", params)
    acc: dict = {}
    prev = None
    for r in cur:
        if prev is None or r[:nk] != prev[:nk]:
            prev = r  # a new series: its first reading is the baseline
            continue
        ts = r[nk]
        key = r[:nk] + ((ts - ts % bucket_ns,) if bucket_ns else ())
        a = acc.get(key)
        if a is None:
            a = acc[key] = [prev[nk], ts, [0] * n]
        a[1] = ts
        inc = a[2]
        for i in range(n):
            v, p = r[nk + 1 + i], prev[nk + 1 + i]
            if v is not None and p is not None:
                inc[i] += v - p if v >= p else v
        prev = r
    out = []
    for key, (first, last, inc) in acc.items():
        row = dict(zip(keys, key[:nk]))
        if bucket_ns:
            row["t0"] = key[nk]
        row.update(first=first, last=last, **dict(zip(cols, inc)))
        out.append(row)
    return out


def interval_rows(db, table: str, cols: Sequence[str], start: int, end: int, host=None,
                  extra: str = "", params: Sequence = (), step_s: int | None = None) -> list:
    """Rows of an interval table over [start, end): ``first_ts``, ``last_ts``,
    ``interval_ns`` and ``cols``, oldest first.

    The whole minutes inside the window come from the table's per-minute rollup
    (ingest/events.py Rollup: sums added, histograms merged, sixty times fewer rows),
    the ragged edges from the table itself, so sums and merged histograms are the
    same as over every row.  ``cols`` and ``extra`` may name only the rollup's keys,
    sums and histograms.  Steps that are not whole minutes read every row.
    """
    from ..ingest import events as ev

    minute = ev.ROLLUP_NS
    rollup = table + ev.ROLLUP_SUFFIX
    m0, m1 = -(-start // minute) * minute, end // minute * minute
    raw = f"SELECT timestamp AS first_ts, timestamp AS last_ts, interval_ns, {', '.join(cols)} FROM {table}"
    if m0 >= m1 or not db.has(rollup) or (step_s and step_s * NS % minute):
        cond, p = where(start, end, host, extra)
        return db.rows(f"{raw} WHERE {cond} ORDER BY timestamp", [*p, *params])
    out = []
    for a, b in ((start, m0), (m1, end)):
        if a < b:
            cond, p = where(a, b, host, extra)
            out += db.rows(f"{raw} WHERE {cond}", [*p, *params])
    cond, p = where(m0, m1, host, extra)
    out += db.rows(f"SELECT first_ts, last_ts, interval_ns, {', '.join(cols)} FROM {rollup} "
                   f"WHERE {cond.replace('timestamp', 'minute')}", [*p, *params])
    out.sort(key=lambda r: r["last_ts"])
    return out
