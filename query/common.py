"""What the query functions share: the db/time argument handling, the registry's
columns and units, histogram summaries (through kernelsight.ingest.histogram),
per-step aggregation and counter rates."""

from __future__ import annotations

import functools
from collections import defaultdict
from typing import Iterable, Sequence

from ..ingest import events as ev
from . import times
from .db import as_database, where

NS = times.NS
convert = ev.convert   # a value from one unit into another (ingest/events.py UNITS)


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


# ---- the registry's columns, as the queries read them ------------------------------------
# (table, columns) of every column tuple the query modules declare at import (columns(),
# rollup_columns()); tests/test_registry.py holds them to the registry.
DECLARED: list[tuple[str, tuple[str, ...]]] = []


def columns(table: str, *names: str) -> tuple[str, ...]:
    """Some of ``table``'s columns, chosen by a query (recorded for the registry test)."""
    DECLARED.append((table, names))
    return names


def rollup_columns(table: str) -> tuple[str, ...]:
    """What an interval query reads of each row: ``host`` and the keys, sums, peaks
    and histograms of the table's rollup (ingest/events.py Rollup)."""
    t = ev.BY_TABLE[table]
    r = t.rollup
    return columns(table, "host", *r.keys, *r.sums, *r.maxes, *t.hist_columns)


def unit_columns(table: str, unit: str) -> tuple[str, ...]:
    """The columns of ``table`` in ``unit``, in registry order."""
    return tuple(c.name for c in ev.BY_TABLE[table].columns if c.unit == unit)


def hist_fields(hists: Iterable, prefix: str = "", unit: str = "us",
                quantiles: Sequence[int] = (50, 90, 99)) -> dict:
    """Merge stored histograms and read count, percentiles and max off the merged one,
    in ``unit`` (the buckets hold us).

    Percentiles of a window come from the merged buckets, never from averaging the
    per-interval percentiles.
    """
    from ..ingest import histogram  # here: commands without histograms start without it

    merged = histogram.merge(h for h in hists if h)
    p = f"{prefix}_" if prefix else ""
    out: dict = {f"{p}samples": histogram.total(merged)}
    for q in quantiles:
        out[f"{p}p{q}_{unit}"] = r3(convert(histogram.percentile(merged, q), "us", unit))
    out[f"{p}max_{unit}"] = r3(convert(histogram.max_value(merged), "us", unit))
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
            out.append(_increase(prev, v))
        prev = v
    return out


def _increase(before, after) -> float:
    """One step of a cumulative counter (counter_deltas' rule); 0 when a reading is missing."""
    if before is None or after is None:
        return 0
    return after - before if after >= before else after


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


def stepped(db, table: str, aggregates: str, start: int, end: int, step_ns: int, host=None,
            extra: str = "") -> list:
    """Rows of ``table`` over [start, end) aggregated per step and host, oldest first:
    ``t0`` (the step's start, ns, aligned to the epoch), ``host``, ``n`` (rows) and the
    ``aggregates`` (SQL, e.g. "avg(load_1min) AS l1, max(load_1min) AS l1max")."""
    cond, params = where(start, end, host, extra)
    return db.rows(f"""SELECT timestamp - timestamp % ? AS t0, host, {aggregates}, count(*) AS n
                       FROM {table} WHERE {cond} GROUP BY t0, host ORDER BY t0, host""",
                   [step_ns] + params)


def per_step(rows, start: int, step_s: int | None, *keys: str) -> list[tuple[tuple, list]]:
    """Interval rows grouped by the step their ``last_ts`` falls in (one step from
    ``start`` when ``step_s`` is None), host and ``keys``: ``[((t0, host, *keys), rows)]``
    in time, then host and key order."""
    groups: dict = defaultdict(list)
    for r in rows:
        t0 = start if step_s is None else bucket_start(r["last_ts"], step_s)
        groups[(t0, r["host"], *[r[k] for k in keys])].append(r)
    return sorted(groups.items(), key=lambda kv: (kv[0][0], *map(_in_order, kv[0][1:])))


def _in_order(value):
    """A sort key for a host or key value: numbers as numbers, anything else (None
    included) as text."""
    return value if isinstance(value, (int, float)) else str(value)


def covered_seconds(first_ns: int, last_ns: int, interval_ns: int | None) -> float:
    """Seconds that interval rows stamped from first to last describe: each row
    reports the interval that ends at its timestamp, so the first one adds its own."""
    return (last_ns - first_ns + (interval_ns or NS)) / NS


# ---- reading windows: the finest tier that holds each part ---------------------------------
def window_source(db, table: str, cols: Sequence[tuple[str, str, str]], start: int, end: int,
                  host=None, extra: str = "", params: Sequence = (), step_s: int | None = None):
    """(SQL, params) of a subquery over [start, end) of ``table``: ``first_ts``,
    ``last_ts``, ``n`` (rows), ``host`` and each ``(alias, column, rollup column)``.

    Each part of the window comes from the finest tier that still holds it
    (ingest/events.py TIERS, ingest/tiers.py): where ks-retain dropped the minutes,
    whole hours from ``<table>_1h``; after that, the whole minutes from the
    per-minute rollup (sixty times fewer rows) and the ragged edges from the table
    itself, so what is summed, merged or compared over it is the same as over every
    row.  The parts meet at the recorded cutoffs, which fall on whole hours (and
    minutes), so no row is read twice.  Where a tier's rows are gone, a period that
    starts before the window is left out, as its rows would be.  ``extra`` may name
    only the rollup's keys.
    """
    parts = []
    hours_to = _tier_start(db, table, ev.MINUTES.suffix)   # the minutes are gone before this
    if hours_to is not None and start < hours_to:
        parts.append(_tier_part(db, table, ev.HOURS, cols, start, min(end, hours_to), host, extra, params))
        start = hours_to
    if start < end:
        parts += _minutes_and_rows(db, table, cols, start, end, host, extra, params, step_s)
    parts = [p for p in parts if p]
    return " UNION ALL ".join(sql for sql, _ in parts), [x for _, p in parts for x in p]


def _tier_start(db, table: str, tier: str) -> int | None:
    """Where the rows of ``table``'s ``tier`` (RAW or a suffix) begin since ks-retain
    dropped older ones (None: never dropped)."""
    if not db.has("retention_state"):
        return None
    row = db.one("SELECT cutoff_ns FROM retention_state WHERE tbl = ? AND tier = ?", (table, tier))
    return row[0] if row else None


def _tier_part(db, table, tier, cols, start, end, host, extra, params):
    """(SQL, params) of the whole periods of ``tier`` in [start, end), or None."""
    a, b = -(-start // tier.ns) * tier.ns, end // tier.ns * tier.ns
    name = table + tier.suffix
    if a >= b or not db.has(name):
        return None
    cond, p = where(a, b, host, extra)
    sel = ["first_ts", "last_ts", "rows AS n", "host"] + [f"{c[2]} AS {c[0]}" for c in cols]
    return f"SELECT {', '.join(sel)} FROM {name} WHERE {cond.replace('timestamp', tier.time)}", [*p, *params]


def _minutes_and_rows(db, table, cols, start, end, host, extra, params, step_s):
    """The parts of [start, end) that the per-minute rollup and the table hold: the
    whole minutes from the rollup, the rest from the rows.  Every row is read where
    raw rows are kept but the window holds no whole minute, the file has no rollup,
    ``step_s`` is not a whole number of minutes, or counters arrived out of order in
    one of its minutes."""
    def raw(a, b):
        cond, p = where(a, b, host, extra)
        sel = ["timestamp AS first_ts", "timestamp AS last_ts", "1 AS n", "host"]
        sel += [f"{c[1]} AS {c[0]}" for c in cols]
        return f"SELECT {', '.join(sel)} FROM {table} WHERE {cond}", [*p, *params]

    minutes = _tier_part(db, table, ev.MINUTES, cols, start, end, host, extra, params)
    if minutes and step_s and step_s * NS % ev.ROLLUP_NS:
        minutes = None
    raw_from = _tier_start(db, table, ev.RAW_TIER)
    if minutes and ev.by_table(table).rollup.counters and (raw_from is None or raw_from <= start):
        sql, p = minutes
        if db.one(f"{sql} AND NOT ordered LIMIT 1", p):
            minutes = None
    if not minutes:
        return [raw(start, end)]
    m0, m1 = -(-start // ev.ROLLUP_NS) * ev.ROLLUP_NS, end // ev.ROLLUP_NS * ev.ROLLUP_NS
    return [raw(a, b) for a, b in ((start, m0), (m1, end)) if a < b] + [minutes]


def same_columns(cols: Sequence[str]) -> list[tuple[str, str, str]]:
    """window_source's (alias, column, rollup column) for columns named alike in the
    table and its rollup (host is always read)."""
    return [(c, c, c) for c in cols if c != "host"]


def interval_rows(db, table: str, cols: Sequence[str], start: int, end: int, host=None,
                  extra: str = "", params: Sequence = (), step_s: int | None = None) -> list:
    """Rows of an interval table over [start, end), oldest first: ``first_ts``,
    ``last_ts``, ``interval_ns`` and ``cols`` (keys, sums and histograms of its
    rollup), whole minutes read from the rollup (window_source)."""
    both = same_columns(("interval_ns", *cols))
    sql, p = window_source(db, table, both, start, end, host, extra, params, step_s)
    return db.rows(f"SELECT * FROM ({sql}) ORDER BY last_ts", p)


def counter_increases(db, table: str, keys: tuple[str, ...], cols: tuple[str, ...], start: int,
                      end: int, host=None, extra: str = "", params: Sequence = (),
                      bucket_ns: int | None = None) -> list[dict]:
    """Per key (and per time bucket when ``bucket_ns``): the first and last timestamp
    and the increase of each cumulative counter column over [start, end).

    The rule of counter_deltas (a reading below the previous one is a reset: the
    increase is the new reading), in one streaming pass in series order over the
    readings, where a rollup minute stands for its readings: its first one, then
    its increase within the minute, ending at its last.  Measured on an hour of
    block_stats: 25 ms of CPU over every row, against 45 ms for the same sums with
    SQLite's lag() window function over seven columns; a few ms over the rollup.
    """
    nk, n = len(keys), len(cols)
    both = [(k, k, k) for k in keys if k != "host"]
    both += [(f"{c}_first", c, f"{c}_first") for c in cols]
    both += [(f"{c}_last", c, f"{c}_last") for c in cols]
    both += [(f"{c}_inc", "NULL", f"{c}_inc") for c in cols]
    step_s = bucket_ns // NS if bucket_ns else None
    sql, p = window_source(db, table, both, start, end, host, extra, params, step_s)
    key_sql = ", ".join(keys)
    values = ", ".join(f"{c}_{w}" for w in ("first", "last", "inc") for c in cols)
    cur = db.conn.cursor()
    cur.row_factory = None  # plain tuples: this loop touches every value
    cur.execute(f"SELECT {key_sql}, first_ts, last_ts, n, {values} FROM ({sql}) "
                f"ORDER BY {key_sql}, first_ts", p)
    acc: dict = {}

    def add(key, t_prev, t, incs) -> None:
        k = key + ((t - t % bucket_ns,) if bucket_ns else ())
        a = acc.get(k)
        if a is None:
            a = acc[k] = [t_prev, t, [0] * n]
        a[1] = t
        total = a[2]
        for i, v in enumerate(incs):
            if v:
                total[i] += v

    series = t_prev = prev = None
    for r in cur:
        key, t_first, t_last, rows = r[:nk], r[nk], r[nk + 1], r[nk + 2]
        firsts, lasts, incs = (r[nk + 3 + i * n:nk + 3 + (i + 1) * n] for i in range(3))
        if key != series:
            series = key  # a new series: its first reading is the baseline
        else:
            add(key, t_prev, t_first, [_increase(q, v) for q, v in zip(prev, firsts)])
        t_prev, prev = t_first, firsts
        if rows > 1:  # a rollup minute: its readings after the first
            add(key, t_prev, t_last, incs)
            t_prev, prev = t_last, lasts
    out = []
    for key, (first, last, inc) in acc.items():
        row = dict(zip(keys, key[:nk]))
        if bucket_ns:
            row["t0"] = key[nk]
        row.update(first=first, last=last, **dict(zip(cols, inc)))
        out.append(row)
    return out


# ---- --by process | cgroup: the rows of per-process tables, grouped one way or the other
GROUPINGS = ("process", "cgroup")


def grouping(db, table: str, by: str) -> tuple[str, str, list[str]]:
    """(select list, GROUP BY list, output keys) for per-process rows grouped by process
    (pid, comm) or by cgroup (its path, and how many processes it had).  A file written
    before the cgroup column existed (schema 6) is told so, not answered wrongly."""
    from .db import QueryError

    if by == "process":
        return "pid, max(comm) AS comm", "host, pid", ["pid", "comm"]
    if by != "cgroup":
        raise QueryError(f"--by {by}: use one of {', '.join(GROUPINGS)}")
    columns = {r[1] for r in db.rows(f"PRAGMA table_info({table})")}
    if "cgroup" not in columns:
        raise QueryError(f"{table} has no cgroup column (written by an older kernelsight): "
                         "`ks-ingest --init-only` upgrades the file; rows stored before stay "
                         "without one")
    return ("coalesce(cgroup, '') AS cgroup, count(DISTINCT pid) AS processes", "host, cgroup",
            ["cgroup", "processes"])
