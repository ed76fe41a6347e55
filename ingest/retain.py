"""ks-retain: drop raw rows older than a cutoff, keeping every rollup row as it is.

The rollup delete trigger (ingest/schema.py rollup_sql) re-summarises a minute from the
rows left, so a plain DELETE shrinks the rollups too.  Retention drops that trigger,
deletes one batch and re-creates the trigger inside ONE short write transaction: DDL is
transactional in SQLite, so no other connection ever sees the database without its
trigger, and a kill at any point rolls back to the trigger being there.  A deliberate
clean-up that should also fix the rollups is a plain ``DELETE FROM <table> ...`` in
sqlite3: the trigger fires as before.
"""

from __future__ import annotations

import dataclasses
import re
import sqlite3
from typing import Callable

import orjson

from . import archive
from . import events as ev
from . import retain_size as size
from . import schema, tiers
from .locks import retry_busy

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def parse_age(text: str) -> int:
    """'7d', '12h', '90m' -> nanoseconds; ValueError on anything else."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhdwy])\s*", text)
    if not m:
        raise ValueError(f"{text!r} is not an age like 30m, 12h, 7d, 2y")
    return int(m.group(1)) * _UNITS[m.group(2)] * 1_000_000_000


def age_text(ns: int) -> str:
    """An age as parse_age reads it, in the largest unit that divides it (weeks left
    out: 14d, not 2w): 7d, 90m, 2y."""
    s = ns // 1_000_000_000
    unit = next((u for u in "ydhm" if s and s % _UNITS[u] == 0), "s")
    return f"{s // _UNITS[unit]}{unit}"


def _delete_trigger_sql(t: ev.EventType) -> str | None:
    if not t.rollup:
        return None
    return next(s for s in schema.rollup_sql(t) if s.startswith(f"CREATE TRIGGER IF NOT EXISTS trg_{t.rollup_table}_delete"))


def _oldest_ids(conn: sqlite3.Connection, t: ev.EventType, cutoff: int, size: int) -> list[int]:
    return [r[0] for r in conn.execute(
        f"SELECT id FROM main.{t.table} WHERE timestamp < ? ORDER BY timestamp LIMIT ?", (cutoff, size))]


def _delete(conn: sqlite3.Connection, t: ev.EventType, ids: list[int], archived: bool) -> int:
    """One transaction: the rows ``ids`` go (only those the archive holds, when
    ``archived``), with the rollups' delete trigger away so no rollup row changes."""
    trigger = _delete_trigger_sql(t)
    conn.execute("BEGIN IMMEDIATE")
    try:
        if trigger:
            conn.execute(f"DROP TRIGGER IF EXISTS main.trg_{t.rollup_table}_delete")
        if archived:
            n = archive.delete_archived(conn, t, ids)
        else:
            n = conn.execute(f"DELETE FROM main.{t.table} WHERE id IN (SELECT value FROM json_each(?))",
                             (orjson.dumps(ids).decode(),)).rowcount
        if trigger:
            conn.execute(trigger)
        conn.execute("COMMIT")
        return n
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def finish_pending(conn: sqlite3.Connection) -> int:
    """With an archive attached: the batch a killed run copied but had not deleted."""
    left = archive.pending(conn)
    if not left:
        return 0
    t, ids = left
    return retry_busy(lambda: _delete(conn, t, ids, True), t.table)


def drop_raw(conn: sqlite3.Connection, cutoff: int, batch: int = 5000, retries: int = 50,
             archived: bool = False) -> dict[str, int]:
    """Delete raw rows with timestamp < cutoff from every event table, oldest first, in
    batches; with ``archived`` (an archive attached) each batch is copied there first.

    Returns {table: rows deleted}."""
    out: dict[str, int] = {}
    for t in ev.TYPES:
        total = 0
        while True:
            ids = _oldest_ids(conn, t, cutoff, batch)
            if not ids:
                break
            if archived:
                retry_busy(lambda: archive.copy(conn, t, ids), t.table, retries)
            total += retry_busy(lambda: _delete(conn, t, ids, archived), t.table, retries)
            if len(ids) < batch:
                break
        out[t.table] = total
    return out


def drop_minutes(conn: sqlite3.Connection, cutoff: int, batch: int = 5000,
                 archived: bool = False) -> dict[str, int]:
    """--max-size, once no raw row is left: rollup minutes older than cutoff go, each
    hour first summarised into the hourly tier as --rollups does (ingest/tiers.py), so
    the hours still answer for them.  The cutoff is rounded up to a whole hour, so
    every round frees at least one."""
    cutoff = -(-cutoff // ev.HOURS.ns) * ev.HOURS.ns
    if archived:
        for t in ev.TYPES:
            if t.rollup:
                upto = tiers.limit(conn, t, ev.MINUTES, cutoff)
                retry_busy(lambda: archive.copy_minutes(conn, t, upto), t.rollup_table)
    return tiers.drop(conn, ev.MINUTES, "--max-size", cutoff, batch)


def would_drop(conn: sqlite3.Connection, cutoff: int) -> dict[str, tuple[int, int]]:
    """{table: (rows older than cutoff, about how many bytes they hold)}: the table's and
    its indexes' pages (dbstat) shared out by row count, so an estimate, not a page count."""
    out = {}
    for t in ev.TYPES:
        old, total = conn.execute(
            f"SELECT count(*) FILTER (WHERE timestamp < ?), count(*) FROM main.{t.table}", (cutoff,)).fetchone()
        out[t.table] = (old, size.rows_bytes(conn, t.table, old, total))
    return out


# ---- --max-size: the oldest rows go until the file fits ----------------------------
FIT_ROUNDS = 60


class DoesNotFit(Exception):
    """No raw row and no minute is left, and the file is still over --max-size."""


def _span(conn: sqlite3.Connection, tables: list[str], col: str) -> tuple[int, int] | None:
    ends = [conn.execute(f"SELECT min({col}), max({col}) FROM main.{t}").fetchone() for t in tables]
    ends = [e for e in ends if e[0] is not None]
    return (min(e[0] for e in ends), max(e[1] for e in ends)) if ends else None


def size_cutoff(conn: sqlite3.Connection, tables: list[str], col: str, excess: int) -> int | None:
    """A cutoff that should free about ``excess`` bytes from ``tables``, taking their
    bytes as spread evenly over time (the collectors write at a steady rate); at least
    1/FIT_ROUNDS of the span, so the rounds end.  None when the tables are empty."""
    span = _span(conn, tables, col)
    held = sum(size.table_bytes(conn, t) for t in tables)
    if span is None or held == 0:
        return None
    lo, hi = span
    width = hi - lo + 1
    return lo + max(int(width * min(1.0, excess / held)), width // FIT_ROUNDS, 1)


def raw_tables() -> list[str]:
    return [t.table for t in ev.TYPES]


def rollup_tables() -> list[str]:
    return [t.rollup_table for t in ev.TYPES if t.rollup]


def fit(conn: sqlite3.Connection, max_bytes: int, batch: int = 5000, archived: bool = False) -> dict[str, int]:
    """Drop the oldest raw rows, then the oldest minutes, until the pages in use fit in
    ``max_bytes``; each round gives the freed pages back.  Returns {table: rows gone}."""
    out: dict[str, int] = {}
    tiers = ((raw_tables(), "timestamp", lambda c: drop_raw(conn, c, batch, archived=archived)),
             (rollup_tables(), "minute", lambda c: drop_minutes(conn, c, batch, archived)))
    for tables, col, drop in tiers:
        for _ in range(FIT_ROUNDS):
            size.give_back(conn)
            excess = size.used_bytes(conn) - max_bytes
            cutoff = size_cutoff(conn, tables, col, excess) if excess > 0 else None
            if cutoff is None:
                break
            for table, n in drop(cutoff).items():
                out[table] = out.get(table, 0) + n
    size.give_back(conn)
    if size.used_bytes(conn) > max_bytes:
        raise DoesNotFit(f"{size.used_bytes(conn):,} bytes are in use with no raw row or minute left "
                         f"to drop, more than --max-size {max_bytes:,}")
    return out


# ---- the policy: what ks-retain's options and ks-ingest --retain ask for -----------
@dataclasses.dataclass
class Policy:
    raw_ns: int | None = None       # --raw: raw rows older than this go
    max_bytes: int | None = None    # --max-size: then the oldest go until the file fits
    archive: str | None = None      # --archive: what goes is first copied there
    batch: int = 5000
    rollups: str | None = None      # --rollups: minutes older than this go, summarised per hour
    hourly: str | None = None       # --hourly: hours older than this go (ingest/tiers.py)

    def tiers(self) -> list[tuple[ev.Tier, str, int]]:
        """(tier, age as given, ns) of --rollups/--hourly; ValueError when a tier would
        be kept less long than the finer one."""
        return tiers.ages(self.raw_ns or 0, {"rollups": self.rollups, "hourly": self.hourly}, parse_age)


# key=value of `ks-ingest --retain`, each one of ks-retain's options, parsed the same way
SPEC_KEYS: dict[str, Callable[[Policy, str], None]] = {
    "raw": lambda p, v: setattr(p, "raw_ns", parse_age(v)),
    "max-size": lambda p, v: setattr(p, "max_bytes", size.parse_size(v)),
    "archive": lambda p, v: setattr(p, "archive", v),
    "rollups": lambda p, v: setattr(p, "rollups", v),
    "hourly": lambda p, v: setattr(p, "hourly", v),
}


def parse_spec(text: str, extra: dict[str, Callable[[str], None]] | None = None) -> Policy:
    """'raw=7d,max-size=2GB' -> Policy; ValueError saying what is wrong.  ``extra``: a
    caller's own keys (ks-ingest's every=), each given its value."""
    policy, extra = Policy(), extra or {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, eq, value = (x.strip() for x in part.partition("="))
        if eq and key in SPEC_KEYS:
            SPEC_KEYS[key](policy, value)
        elif eq and key in extra:
            extra[key](value)
        else:
            raise ValueError(f"{part!r}: expected KEY=VALUE with KEY one of {', '.join([*SPEC_KEYS, *extra])}")
    kept = policy.tiers()   # ValueError when a tier is kept less long than the finer one
    if policy.raw_ns is None and policy.max_bytes is None and not kept:
        raise ValueError(f"{text!r} names none of raw=, max-size=, rollups=, hourly=: nothing would go")
    return policy


def apply(conn: sqlite3.Connection, policy: Policy, now_ns: int) -> dict[str, int]:
    """Run the policy on ``conn`` (an archive is attached here): {table: rows gone}."""
    archived = policy.archive is not None
    if archived:
        archive.attach(conn, policy.archive)
    try:
        out: dict[str, int] = {}
        if archived:
            finish_pending(conn)
        raw_cutoff = -(1 << 63)
        if policy.raw_ns is not None:
            raw_cutoff = now_ns - policy.raw_ns
            out.update(drop_raw(conn, raw_cutoff, policy.batch, archived=archived))
            tiers.record_raw(conn, age_text(policy.raw_ns), raw_cutoff)
        out.update(tiers.drop_all(conn, policy.tiers(), now_ns, policy.batch, raw_cutoff))
        if policy.max_bytes is not None:
            for table, n in fit(conn, policy.max_bytes, policy.batch, archived).items():
                out[table] = out.get(table, 0) + n
        size.give_back(conn)
        return out
    finally:
        if archived:
            conn.execute(f"DETACH DATABASE {archive.SCHEMA}")
