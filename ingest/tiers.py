"""Downsampling tiers (events.TIERS): each coarser tier built from the one before it,
and each tier's retention.

The minutes are kept by triggers on the raw tables (schema.py).  The hours are not:
a trigger on every minute update would add a second upsert, with its histogram merge,
to every row ks-ingest writes.  Instead an hour is summarised from its minutes when
those are about to go (``drop``), in the same short transaction as their delete, and
on the upgrade that added the tier (``rebuild``).  Queries read an hour only where
its minutes are gone (query/common.py window_source), so an hour is always read as
its minutes were when they went, and deleting minutes never changes an hour.

Minutes go in whole hours (the cutoff is rounded down to one), so every hour is
summarised from all of its minutes.  A late row can still recreate a minute of an
hour already summarised (a replay of an old file): that minute is then added into
the hour when it goes, never summarised on its own in the hour's place.

What was dropped is recorded per table and tier in ``retention_state``: the start
of what a tier still holds, for the queries and for ``ks-query tables``.
"""

from __future__ import annotations

import sqlite3
import time

from . import events as ev
from . import retain_size
from . import schema
from .locks import retry_busy

RAW = ev.RAW_TIER


def _coarser(tier: ev.Tier) -> ev.Tier | None:
    i = ev.TIERS.index(tier)
    return ev.TIERS[i + 1] if i + 1 < len(ev.TIERS) else None


def _floor(ts: int, ns: int) -> int:
    return ts // ns * ns


# ---- one tier summarised from the tier before ------------------------------------------
def _step(before: str, after: str) -> str:
    """SQL: one step of a cumulative counter (query/common.py counter_deltas' rule: a
    reading below the previous one is a reset); 0 when a reading is missing."""
    return (f"CASE WHEN {before} IS NULL OR {after} IS NULL THEN 0 WHEN {after} >= {before} "
            f"THEN {after} - {before} ELSE {after} END")


def _grouped(t: ev.EventType, fine: ev.Tier, coarse: ev.Tier) -> str:
    """SQL: the rows of ``fine`` in [?, ?) summarised per ``coarse`` period and key,
    named as ``coarse``'s columns, histograms as their bucket lists appended."""
    r, ft = t.rollup, fine.time
    keys = ", ".join(f"ifnull({k}, X'')" for k in ("host", *r.keys))
    period = f"{ft} / {coarse.ns} * {coarse.ns}"
    inner = [f"{period} AS period"]
    out = ["period", "host", *r.keys, "sum(rows)", "min(first_ts)", "max(last_ts)"]
    if "interval_ns" in t.column_names:
        inner.append("last_value(interval_ns) OVER whole AS interval_last")
        out.append("max(interval_last)")
    out += [f"sum({c})" for c in r.sums] + [f"max({c})" for c in r.maxes]
    out += [f"'[' || group_concat(CASE WHEN {c} IS NOT NULL AND {c} != '[]' "
            f"THEN substr({c}, 2, length({c}) - 2) END) || ']'" for c in t.hist_columns]
    for c in r.counters:
        inner += [f"first_value({c}_first) OVER whole AS {c}_first0",
                  f"last_value({c}_last) OVER whole AS {c}_last0",
                  f"lag({c}_last) OVER series AS {c}_prev"]
        out += [f"max({c}_first0)", f"max({c}_last0)",
                f"sum({c}_inc) + sum({_step(f'{c}_prev', f'{c}_first')})"]
    if r.counters:
        out.append("min(ordered)")
    named = [f"{x} AS {c.name}" for x, c in zip(out, schema.rollup_columns(t, coarse), strict=True)]
    return (f"SELECT {', '.join(named)} FROM (SELECT *, {', '.join(inner)} FROM {t.tier_table(fine)} "
            f"WHERE {ft} >= ? AND {ft} < ? "
            f"WINDOW series AS (PARTITION BY {period}, {keys} ORDER BY {ft}), "
            f"whole AS (series ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)) "
            f"GROUP BY period, {keys}")


def _merge_updates(t: ev.EventType) -> list[str]:
    """ON CONFLICT updates that add a summary (``excluded``) into a stored one: a late
    minute into an hour already summarised."""
    r, inorder = t.rollup, "excluded.first_ts >= last_ts"
    out = ["rows = rows + excluded.rows", "first_ts = min(first_ts, excluded.first_ts)",
           "last_ts = max(last_ts, excluded.last_ts)"]
    if "interval_ns" in t.column_names:
        out.append("interval_ns = CASE WHEN excluded.last_ts >= last_ts "
                   "THEN excluded.interval_ns ELSE interval_ns END")
    out += [f"{c} = coalesce({c}, 0) + coalesce(excluded.{c}, 0)" for c in r.sums]
    out += [f"{c} = max(coalesce({c}, excluded.{c}), coalesce(excluded.{c}, {c}))" for c in r.maxes]
    out += [f"{c} = {schema.merged_hist(c)}" for c in t.hist_columns]
    for c in r.counters:
        out += [f"{c}_inc = {c}_inc + excluded.{c}_inc + CASE WHEN {inorder} "
                f"THEN {_step(f'{c}_last', f'excluded.{c}_first')} ELSE 0 END",
                f"{c}_first = CASE WHEN excluded.first_ts < first_ts THEN excluded.{c}_first "
                f"ELSE {c}_first END",
                f"{c}_last = CASE WHEN {inorder} THEN excluded.{c}_last ELSE {c}_last END"]
    if r.counters:
        out.append(f"ordered = ordered AND excluded.ordered AND {inorder}")
    return out


def _summarise_sql(t: ev.EventType, fine: ev.Tier, coarse: ev.Tier) -> str:
    cols = schema.rollup_columns(t, coarse)
    names = [c.name for c in cols]
    values = [f"CASE WHEN {n} IS NOT NULL THEN {schema.summed_hist(n)} END"
              if c.unit == "hist_us" else n for n, c in zip(names, cols)]
    sep = ",\n        "
    return (f"INSERT INTO {t.tier_table(coarse)} ({', '.join(names)})\n"
            f"    SELECT {', '.join(values)} FROM ({_grouped(t, fine, coarse)}) WHERE true\n"
            f"    ON CONFLICT ({', '.join(schema.key_columns(t, coarse))}) DO UPDATE SET\n"
            f"        {sep.join(_merge_updates(t))}")


def summarise(conn: sqlite3.Connection, t: ev.EventType, fine: ev.Tier, start: int, end: int,
              replace_from: int | None = None) -> None:
    """Add the ``fine`` rows in [start, end) (whole ``coarse`` periods) into the next
    tier: its periods from ``replace_from`` on are summarised anew, older ones (already
    summarised, their fine rows gone) get the rows that came late added in."""
    coarse = _coarser(fine)
    if replace_from is not None:
        conn.execute(f"DELETE FROM {t.tier_table(coarse)} WHERE {coarse.time} >= ? AND {coarse.time} < ?",
                     (max(start, replace_from), end))
    conn.execute(_summarise_sql(t, fine, coarse), (start, end))


def rebuild(conn: sqlite3.Connection, t: ev.EventType) -> None:
    """Every coarser tier of ``t`` summarised anew from the tier before it (the
    upgrade that adds a tier; inside the caller's transaction)."""
    for fine in ev.TIERS[:-1]:
        summarise(conn, t, fine, -(1 << 63), (1 << 63) - 1, replace_from=-(1 << 63))


# ---- retention -------------------------------------------------------------------------
def recorded(conn, table: str) -> dict[str, tuple[str | None, int]]:
    """{tier (RAW or a suffix): (the age kept, the cutoff)} that ks-retain recorded
    for ``table``; {} on a file from before retention_state."""
    try:
        rows = conn.execute("SELECT tier, keep, cutoff_ns FROM retention_state WHERE tbl = ?",
                            (table,)).fetchall()
    except sqlite3.OperationalError:
        return {}
    return {r[0]: (r[1], r[2]) for r in rows}


def record(conn: sqlite3.Connection, table: str, tier: str, keep: str, cutoff: int) -> None:
    """Note a tier's retention: its cutoff only moves forward (what went stays gone)."""
    conn.execute(
        "INSERT INTO retention_state (tbl, tier, keep, cutoff_ns, applied_ns) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (tbl, tier) DO UPDATE SET keep = excluded.keep, "
        "cutoff_ns = max(cutoff_ns, excluded.cutoff_ns), applied_ns = excluded.applied_ns",
        (table, tier, keep, cutoff, time.time_ns()))


def record_raw(conn: sqlite3.Connection, keep: str, cutoff: int) -> None:
    """Note ks-retain --raw for every table (after its rows went)."""
    def each(c):
        for t in ev.TYPES:
            record(c, t.table, RAW, keep, cutoff)
    _write(conn, each)


def _write(conn: sqlite3.Connection, work, retries: int = 50):
    """``work(conn)`` in one write transaction, run again while another writer holds
    the lock past the busy timeout (a live ks-ingest): nothing half-done is kept."""
    def once():
        conn.execute("BEGIN IMMEDIATE")
        try:
            out = work(conn)
            conn.execute("COMMIT")
            return out
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    return retry_busy(once, "tier retention", retries)


def limit(conn: sqlite3.Connection, t: ev.EventType, tier: ev.Tier, cutoff: int,
          raw_cutoff: int = -(1 << 63)) -> int:
    """Where ``tier``'s rows of ``t`` may go up to: the cutoff, in whole periods of the
    next tier, and never past the oldest raw row from ``raw_cutoff`` on (minutes are
    what a window reads beside its raw rows: query/common.py)."""
    coarse = _coarser(tier)
    limit = _floor(cutoff, coarse.ns) if coarse else cutoff
    if tier is ev.MINUTES:
        oldest = conn.execute(f"SELECT min(timestamp) FROM {t.table} WHERE timestamp >= ?",
                              (raw_cutoff,)).fetchone()[0]
        if oldest is not None:
            limit = min(limit, _floor(oldest, coarse.ns))
    return limit


def _batch(conn: sqlite3.Connection, t: ev.EventType, tier: ev.Tier, limit: int, size: int,
           replace_from: int | None) -> int:
    """One transaction: the oldest ``tier`` rows of ``t`` (about ``size``, in whole
    periods of the next tier) summarised into it, then deleted."""
    name, col, coarse = t.tier_table(tier), tier.time, _coarser(tier)
    first = conn.execute(f"SELECT min({col}) FROM {name} WHERE {col} < ?", (limit,)).fetchone()[0]
    if first is None:
        return 0
    if coarse is None:
        return conn.execute(f"DELETE FROM {name} WHERE rowid IN (SELECT rowid FROM {name} "
                            f"WHERE {col} < ? LIMIT ?)", (limit, size)).rowcount
    nth = conn.execute(f"SELECT {col} FROM {name} WHERE {col} >= ? AND {col} < ? ORDER BY {col} "
                       f"LIMIT 1 OFFSET ?", (first, limit, size)).fetchone()
    start = _floor(first, coarse.ns)
    end = limit if nth is None else min(limit, max(_floor(nth[0], coarse.ns), start + coarse.ns))
    summarise(conn, t, tier, start, end, replace_from)
    return conn.execute(f"DELETE FROM {name} WHERE {col} >= ? AND {col} < ?", (start, end)).rowcount


def drop(conn: sqlite3.Connection, tier: ev.Tier, keep: str, cutoff: int,
         batch: int = 5000, raw_cutoff: int = -(1 << 63)) -> dict[str, int]:
    """Drop ``tier``'s rows older than ``cutoff`` from every rollup, in short batches,
    each first summarised into the next tier; returns {tier table: rows dropped}.
    Nothing coarser than ``tier`` loses a row."""
    out: dict[str, int] = {}
    for t in ev.TYPES:
        if not t.rollup:
            continue
        upto = limit(conn, t, tier, cutoff, raw_cutoff)
        done = recorded(conn, t.table).get(tier.suffix)
        replace_from = done[1] if done else -(1 << 63)   # older periods were summarised before
        total = 0
        while True:
            n = _write(conn, lambda c: _batch(c, t, tier, upto, batch, replace_from))
            total += n
            if n == 0:
                break
        _write(conn, lambda c: record(c, t.table, tier.suffix, keep, upto))
        out[t.tier_table(tier)] = total
    return out


def ages(raw_ns: int, given: dict[str, str | None], parse) -> list[tuple[ev.Tier, str, int]]:
    """[(tier, age as given, age in ns)] for the ks-retain options ``given`` ({option:
    text or None}, parsed by ``parse``); ValueError when a tier would be kept less
    long than the finer one it summarises (its rows would go first)."""
    out, finer, finer_name = [], raw_ns, "--raw"
    for tier in ev.TIERS:
        text = given.get(tier.option)
        if text is None:
            continue
        try:
            ns = parse(text)
        except ValueError as e:
            raise ValueError(f"--{tier.option}: {e}") from None
        if ns < finer:
            raise ValueError(f"--{tier.option} {text} keeps less than {finer_name}: a coarser "
                             "tier must be kept at least as long as the finer one")
        out.append((tier, text, ns))
        finer, finer_name = ns, f"--{tier.option} {text}"
    return out


def drop_all(conn: sqlite3.Connection, kept: list[tuple[ev.Tier, str, int]], now: int,
             batch: int, raw_cutoff: int) -> dict[str, int]:
    """ks-retain's tier part, after --raw (``raw_cutoff``) went: {tier table: rows gone}."""
    out: dict[str, int] = {}
    for tier, text, age in kept:
        out.update(drop(conn, tier, text, now - age, batch, raw_cutoff))
    return out


def dry_run(conn: sqlite3.Connection, kept: list[tuple[ev.Tier, str, int]], now: int, raw_cutoff: int):
    """What drop_all would do, one line per tier table."""
    folded: dict[str, int] = {}   # table -> the finer tier goes up to this
    for tier, _, age in kept:
        for t in ev.TYPES:
            if t.rollup:
                yield _would_drop(conn, t, tier, now - age, raw_cutoff, folded)


def _would_drop(conn: sqlite3.Connection, t: ev.EventType, tier: ev.Tier, cutoff: int,
                raw_cutoff: int, folded: dict[str, int]) -> str:
    """What ``drop`` would say, counting the rows the finer tier's drop would add in
    first (``folded``); the bytes are the table's pages now, shared out by rows."""
    name, col, upto = t.tier_table(tier), tier.time, limit(conn, t, tier, cutoff, raw_cutoff)
    keys = ", ".join(f"ifnull({k}, X'')" for k in ("host", *t.rollup.keys))
    rows = f"SELECT {col}, {keys} FROM {name} WHERE {col} < :limit"
    if t.table in folded:
        fine = ev.TIERS[ev.TIERS.index(tier) - 1]
        period = f"{fine.time} / {tier.ns} * {tier.ns}"
        rows += (f" UNION SELECT {period}, {keys} FROM {t.tier_table(fine)} "
                 f"WHERE {fine.time} < :fine AND {period} < :limit")
    old = conn.execute(f"SELECT count(*) FROM ({rows})", {"limit": upto, "fine": folded.get(t.table)}).fetchone()[0]
    folded[t.table] = upto
    total = conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
    nbytes = retain_size.rows_bytes(conn, name, old, total)
    return f"{name}: {old} rows, about {nbytes} bytes would go"
