"""SQLite schema rendered from the event registry, and in-place upgrades.

``schema.sql`` at the top of the repository is this module's output, committed so it
can be read and used with the sqlite3 CLI; a test fails if the two disagree
(regenerate with ``make schema``).
"""

from __future__ import annotations

import sqlite3

from . import events as ev

# Applied on every connection, as the original pipeline did (docs/design.md), plus a busy timeout so
# concurrent writers wait for each other instead of failing.
BUSY_TIMEOUT_MS = 10000
PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA cache_size=-65536",   # 64 MB (negative: KiB)
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA foreign_keys=OFF",
)

HEADER = """\
-- kernelsight SQLite schema, generated from ingest/events.py by `make schema`.
-- Do not edit by hand: change the registry and regenerate (a test compares them).
-- Timestamps are INTEGER ns since the Unix epoch; units are in each column's comment.
"""

VIEWS = {
    "v_recent_slow_syscalls": """\
SELECT timestamp, host, pid, tid, comm, syscall_name,
       latency_ns / 1e6 AS latency_ms, ret_value, is_error
FROM syscall_events
WHERE timestamp > (CAST(strftime('%s', 'now') AS INTEGER) - 3600) * 1000000000
ORDER BY latency_ns DESC""",
    "v_memory_pressure": """\
SELECT timestamp, host, mem_total_kb, mem_available_kb,
       (mem_total_kb - mem_available_kb) * 100.0 / NULLIF(mem_total_kb, 0) AS used_pct,
       swap_total_kb - swap_free_kb AS swap_used_kb,
       (swap_total_kb - swap_free_kb) * 100.0 / NULLIF(swap_total_kb, 0) AS swap_used_pct,
       dirty_kb, writeback_kb
FROM memory_metrics""",
    "v_io_performance": """\
SELECT timestamp, host, device,
       read_count, write_count,
       read_bytes * 1e9 / COALESCE(NULLIF(interval_ns, 0), 1000000000) AS read_bytes_per_s,
       write_bytes * 1e9 / COALESCE(NULLIF(interval_ns, 0), 1000000000) AS write_bytes_per_s,
       read_p95_us, read_p99_us, read_max_us,
       write_p95_us, write_p99_us, write_max_us
FROM io_latency_stats""",
}


def _column_sql(c: ev.Column, last: bool) -> str:
    null = " NOT NULL" if c.name == "timestamp" else ""
    comma = "" if last else ","
    note = ": ".join(x for x in (c.unit, c.doc, c.source and f"from {c.source}") if x)
    return f"    {c.name} {c.sql}{null}{comma}" + (f"  -- {note}" if note else "")


def table_sql(t: ev.EventType) -> str:
    cols = ev.columns_of(t)
    lines = ["    id INTEGER PRIMARY KEY,"]
    lines += [_column_sql(c, i == len(cols) - 1) for i, c in enumerate(cols)]
    body = "\n".join(lines)
    return f"-- {t.name}: {t.doc}\nCREATE TABLE IF NOT EXISTS {t.table} (\n{body}\n);"


def index_sql(t: ev.EventType) -> list[str]:
    out = [f"CREATE INDEX IF NOT EXISTS idx_{t.table}_timestamp ON {t.table}(timestamp);"]
    for cols in t.indexes:
        name = f"idx_{t.table}_{'_'.join(cols)}"
        out.append(f"CREATE INDEX IF NOT EXISTS {name} ON {t.table}({', '.join(cols)});")
    return out


# ---- per-minute rollups (events.Rollup) ----------------------------------------------
# A minute's merged histogram is the rows' bucket lists appended (a few us), summed
# bucket by bucket only when the list passes this many characters: SQLite's JSON
# functions take ~250 us to merge 120 buckets, too much for every insert.
COMPACT_CHARS = 4096


def _summed(entries: str) -> str:
    """SQL: the bucket list of ``entries`` (a SELECT of [bucket, count] values) with
    each bucket once, its counts summed, in bucket order."""
    return ("(SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, "
            f"sum(value ->> 1) AS n FROM ({entries}) GROUP BY b ORDER BY b))")


def summed_hist(col: str) -> str:
    """SQL: the stored histogram ``col`` with each bucket once, its counts summed."""
    return _summed(f"SELECT value FROM json_each({col})")


def merged_hist(col: str) -> str:
    """SQL for the stored histogram ``col`` plus the incoming one (``excluded.col``):
    the two bucket lists appended, or, past COMPACT_CHARS, their union with the
    counts summed.  Either way a reader sums the counts per bucket."""
    both = (f"SELECT value FROM json_each({col}) UNION ALL "
            f"SELECT value FROM json_each(excluded.{col})")
    return (f"CASE WHEN excluded.{col} IS NULL OR excluded.{col} = '[]' THEN {col} "
            f"WHEN {col} IS NULL OR {col} = '[]' THEN excluded.{col} "
            f"WHEN length({col}) + length(excluded.{col}) > {COMPACT_CHARS} "
            f"THEN {_summed(both)} "
            f"ELSE substr({col}, 1, length({col}) - 1) || ',' || substr(excluded.{col}, 2) END")


def _seal_previous_minute(t: ev.EventType) -> str:
    """SQL run by the insert trigger: when NEW is the first row of its minute (for its
    key), the key's previous minute is over, so its appended bucket lists are summed
    once, per bucket.  Readers of whole minutes then merge each bucket once per
    minute instead of once per row (an hour of io_latency_stats: 52k list entries
    down to ~10k).  A minute a late row reopens is appended to again: still exact."""
    minute, keys = f"NEW.timestamp / {ev.ROLLUP_NS} * {ev.ROLLUP_NS}", _same_key(t, "NEW.")
    sets = ", ".join(f"{c} = CASE WHEN {c} IS NULL OR {c} = '[]' THEN {c} "
                     f"ELSE {summed_hist(c)} END"
                     for c in t.hist_columns)
    return (f"UPDATE {t.rollup_table} SET {sets}\n"
            f"    WHERE minute = {minute} - {ev.ROLLUP_NS} AND {keys}\n"
            f"      AND (SELECT rows FROM {t.rollup_table} WHERE minute = {minute} AND {keys}) = 1")


def _hist_value(expr: str) -> str:
    """A histogram as the rollup takes it: a bucket list, minified; anything else
    (malformed JSON, an object) is left out of the summary (the raw row keeps it:
    the rollup never refuses a row)."""
    return (f"CASE WHEN json_valid({expr}) THEN CASE WHEN json_type({expr}) = 'array' "
            f"THEN json({expr}) END END")


def _has_interval(t: ev.EventType) -> bool:
    return "interval_ns" in t.column_names


def rollup_columns(t: ev.EventType, tier: ev.Tier = ev.MINUTES) -> list[ev.Column]:
    """The columns of the rollup table of ``tier`` (every tier has the same ones but
    the name of its time column)."""
    r, C = t.rollup, ev.Column
    cols = [C(tier.time, "INTEGER NOT NULL", "ns", f"start of the {tier.time} "
              f"(timestamp / {tier.ns // 10**9} s)"),
            C("host", ev.TEXT)]
    cols += [C(k, t.column(k).sql) for k in r.keys]
    cols += [C("rows", ev.INTEGER, "count", "rows summarised"),
             C("first_ts", ev.INTEGER, "ns", "first row's timestamp"),
             C("last_ts", ev.INTEGER, "ns", "last row's timestamp")]
    if _has_interval(t):
        cols.append(C("interval_ns", ev.INTEGER, "ns", "the last row's interval"))
    cols += [C(c, t.column(c).sql, doc="sum") for c in r.sums]
    cols += [C(c, t.column(c).sql, doc="largest") for c in r.maxes]
    cols += [C(c, ev.TEXT, "hist_us", "the rows' buckets (a bucket may repeat: sum it)")
             for c in t.hist_columns]
    for c in r.counters:
        cols += [C(f"{c}_first", t.column(c).sql, doc="first reading"),
                 C(f"{c}_last", t.column(c).sql, doc="last reading"),
                 C(f"{c}_inc", t.column(c).sql, doc="increase within the minute, resets handled")]
    if r.counters:
        cols.append(C("ordered", ev.INTEGER, doc="0 once a row arrived older than the minute's "
                      "last: queries then read that minute's rows"))
    return cols


def _upsert(t: ev.EventType, row: str, source: str) -> str:
    """Add rows to the rollup: ``row`` prefixes the source columns ("NEW." in the
    trigger), ``source`` is "VALUES (...)" or a SELECT with a {values} slot."""
    r = t.rollup
    key = ", ".join(key_columns(t))
    inorder = "excluded.first_ts >= last_ts"
    values = ([f"{row}timestamp / {ev.ROLLUP_NS} * {ev.ROLLUP_NS}", f"{row}host"]
              + [f"{row}{k}" for k in r.keys] + ["1", f"{row}timestamp", f"{row}timestamp"])
    updates = ["rows = rows + 1", "first_ts = min(first_ts, excluded.first_ts)",
               "last_ts = max(last_ts, excluded.last_ts)"]
    if _has_interval(t):
        values.append(f"{row}interval_ns")
        updates.append("interval_ns = CASE WHEN excluded.last_ts >= last_ts "
                       "THEN excluded.interval_ns ELSE interval_ns END")
    values += [f"{row}{c}" for c in r.sums + r.maxes]
    updates += [f"{c} = coalesce({c}, 0) + coalesce(excluded.{c}, 0)" for c in r.sums]
    updates += [f"{c} = max(coalesce({c}, excluded.{c}), coalesce(excluded.{c}, {c}))"
                for c in r.maxes]
    values += [_hist_value(f"{row}{c}") for c in t.hist_columns]
    updates += [f"{c} = {merged_hist(c)}" for c in t.hist_columns]
    for c in r.counters:
        values += [f"{row}{c}", f"{row}{c}", "0"]
        both = f"{inorder} AND excluded.{c}_last IS NOT NULL AND {c}_last IS NOT NULL"
        step = (f"CASE WHEN excluded.{c}_last >= {c}_last THEN excluded.{c}_last - {c}_last "
                f"ELSE excluded.{c}_last END")
        updates += [f"{c}_inc = {c}_inc + CASE WHEN {both} THEN {step} ELSE 0 END",
                    f"{c}_last = CASE WHEN {inorder} THEN excluded.{c}_last ELSE {c}_last END"]
    if r.counters:
        values.append("1")
        updates.append(f"ordered = ordered AND {inorder}")
    sep = ",\n        "
    names = ", ".join(c.name for c in rollup_columns(t))
    return (f"INSERT INTO {t.rollup_table} ({names})\n"
            f"    {source.format(values=', '.join(values))}\n"
            f"    ON CONFLICT ({key}) DO UPDATE SET\n        {sep.join(updates)}")


def rollup_sql(t: ev.EventType) -> list[str]:
    """The rollup table, its unique key and the trigger that keeps it."""
    name, cols = t.rollup_table, rollup_columns(t)
    body = "\n".join(_column_sql(c, i == len(cols) - 1) for i, c in enumerate(cols))
    return [
        f"-- {t.table} per minute and {', '.join(['host', *t.rollup.keys])}, kept by its "
        f"trigger.\nCREATE TABLE IF NOT EXISTS {name} (\n{body}\n);",
        f"CREATE UNIQUE INDEX IF NOT EXISTS idx_{name}_key ON {name}({', '.join(key_columns(t))});",
        f"CREATE TRIGGER IF NOT EXISTS trg_{name} AFTER INSERT ON {t.table} BEGIN\n"
        f"    {_upsert(t, 'NEW.', 'VALUES ({values})')};\n"
        + (f"    {_seal_previous_minute(t)};\n" if t.hist_columns else "") + "END;",
        # A deleted row (retention, a manual clean-up): its minute is summarised again
        # from the rows left.
        f"CREATE TRIGGER IF NOT EXISTS trg_{name}_delete AFTER DELETE ON {t.table} BEGIN\n"
        f"    DELETE FROM {name} WHERE {_same_minute(t, 'minute', 'OLD.')};\n"
        f"    {_upsert(t, '', _resummarise(t))};\nEND;",
    ]


def tier_sql(t: ev.EventType, tier: ev.Tier) -> list[str]:
    """A coarser tier's table and its unique key.  No trigger: ingest/tiers.py builds
    it from the tier before, so deleting those rows never changes it."""
    name, cols = t.tier_table(tier), rollup_columns(t, tier)
    body = "\n".join(_column_sql(c, i == len(cols) - 1) for i, c in enumerate(cols))
    return [
        f"-- {t.table} {tier.doc}.\nCREATE TABLE IF NOT EXISTS {name} (\n{body}\n);",
        f"CREATE UNIQUE INDEX IF NOT EXISTS idx_{name}_key ON {name}"
        f"({', '.join(key_columns(t, tier))});",
    ]


def _key(col: str) -> str:
    """A rollup key column as the rollup's unique index holds it.  SQLite's UNIQUE
    takes NULLs for distinct, so a key left NULL (the original io tracer names no
    device) gave every row a rollup row of its own, and each insert's look-ups
    scanned them all.  Here NULL is one key, equal to no value: X'' (an empty blob)
    compares unequal to every text and number, and no writer stores blobs."""
    return f"ifnull({col}, X'')"


def key_columns(t: ev.EventType, tier: ev.Tier = ev.MINUTES) -> list[str]:
    """The rollup's unique key: the minute (hour, ...), the host and the keys, NULL as one key."""
    return [tier.time, *(_key(k) for k in ("host", *t.rollup.keys))]


def _same_key(t: ev.EventType, old: str, raw: bool = False) -> str:
    """SQL: the row's host and keys equal those of the row ``old`` prefixes.  On the
    rollup in its unique index's terms (one probe of the index); on the ``raw``
    table, which has no such index, with IS (NULL IS NULL)."""
    keys = ("host", *t.rollup.keys)
    if raw:
        return " AND ".join(f"{k} IS {old}{k}" for k in keys)
    return " AND ".join(f"{_key(k)} = {_key(old + k)}" for k in keys)


def _same_minute(t: ev.EventType, ts: str, old: str) -> str:
    """SQL: the row's key equals OLD's and ``ts`` lies in OLD's minute (``ts`` is
    "minute" on the rollup, "timestamp" on the raw table)."""
    m, rollup = f"{old}timestamp / {ev.ROLLUP_NS} * {ev.ROLLUP_NS}", ts == "minute"
    span = f"{ts} = {m}" if rollup else f"{ts} >= {m} AND {ts} < {m} + {ev.ROLLUP_NS}"
    return f"{span} AND {_same_key(t, old, raw=not rollup)}"


def _resummarise(t: ev.EventType) -> str:
    return (f"SELECT {{values}} FROM {t.table} WHERE {_same_minute(t, 'timestamp', 'OLD.')} "
            f"ORDER BY timestamp, id")


def backfill_rollup(conn: sqlite3.Connection, t: ev.EventType, where: str = "true") -> None:
    """Summarise the rows stored before the rollup table existed (an upgrade), or
    those ``where`` picks: the trigger's statement over them, oldest first."""
    conn.execute(_upsert(t, "", f"SELECT {{values}} FROM {t.table} WHERE {where} ORDER BY timestamp, id"))


# Before this version a NULL key was a key of its own per row (see _key).
NULL_KEY_MERGED = 5


def _null_key(t: ev.EventType) -> str:
    """SQL: the row has a NULL host or key."""
    return " OR ".join(f"{k} IS NULL" for k in ("host", *t.rollup.keys))


def _merge_null_keys(conn: sqlite3.Connection, t: ev.EventType) -> bool:
    """Before NULL_KEY_MERGED, part of an upgrade: the rollup's old unique index goes
    (ddl() makes the new one) and so do its minutes with a NULL key, one per row
    then; returns whether there were any (the caller summarises their rows again,
    once the new index is there)."""
    conn.execute(f"DROP INDEX IF EXISTS idx_{t.rollup_table}_key")
    return conn.execute(f"DELETE FROM {t.rollup_table} WHERE {_null_key(t)}").rowcount > 0


UNKNOWN_SQL = f"""\
-- Valid JSON objects ks-ingest could not place: kept whole, with when and why.
CREATE TABLE IF NOT EXISTS {ev.UNKNOWN_TABLE} (
    id INTEGER PRIMARY KEY,
    received_ns INTEGER NOT NULL,  -- ns: when ks-ingest read it
    type TEXT,  -- its "type" field, if any
    reason TEXT,  -- why it was not placed
    raw TEXT NOT NULL  -- the line as read
);"""

RETENTION_SQL = """\
-- What ks-retain last applied, per table and tier (raw, or a TIERS suffix): queries
-- read a coarser tier where a finer one was dropped, and `ks-query tables` shows it.
CREATE TABLE IF NOT EXISTS retention_state (
    tbl TEXT NOT NULL,  -- the event table
    tier TEXT NOT NULL,  -- raw, _1m, _1h
    keep TEXT,  -- the age kept, as given to ks-retain (7d)
    cutoff_ns INTEGER NOT NULL,  -- ns: rows of the tier older than this are gone
    applied_ns INTEGER NOT NULL,  -- ns: when
    PRIMARY KEY (tbl, tier)
);"""

# What each running ks-ingest's writer process committed last (one row per run,
# deleted when the run ends cleanly): a parent whose writer died right after a
# commit reads it back before it calls the rows of that commit "not stored".
COMMITS_TABLE = "ingest_commits"
COMMITS_SQL = f"""\
-- The last commit of each running ks-ingest (ingest/writer.py): kept in the same transaction.
CREATE TABLE IF NOT EXISTS {COMMITS_TABLE} (
    writer TEXT PRIMARY KEY,  -- the run's token
    batch INTEGER NOT NULL,  -- its last committed job
    result TEXT NOT NULL  -- JSON: rows stored per table, rows refused
);"""

# Where each input file's committed lines end (ks-ingest --resume, ingest/resume.py):
# upserted in the transaction of the rows it covers, so it is never ahead of them.
SOURCES_TABLE = "ingest_sources"
SOURCES_SQL = f"""\
-- Per input file: the lines ks-ingest has committed (stored, rejected or blank), for --resume.
CREATE TABLE IF NOT EXISTS {SOURCES_TABLE} (
    path TEXT PRIMARY KEY,  -- the file's real path
    dev INTEGER NOT NULL,  -- st_dev and st_ino: the same file, not one put in its place
    inode INTEGER NOT NULL,
    lines INTEGER NOT NULL,  -- lines read and committed from its start
    updated_ns INTEGER NOT NULL  -- ns: when that commit was made
);"""

VERSION_SQL = """\
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL,  -- kernelsight schema version
    applied_ns INTEGER NOT NULL  -- ns: when this version was applied
);"""


def ddl() -> str:
    """The whole schema as SQL text (the content of schema.sql)."""
    parts = [HEADER, VERSION_SQL, ""]
    for t in ev.TYPES:
        parts += [table_sql(t), *index_sql(t), ""]
    for t in ev.TYPES:
        if t.rollup:
            parts += [*rollup_sql(t), ""]
            for tier in ev.TIERS[1:]:
                parts += [*tier_sql(t, tier), ""]
    parts += [UNKNOWN_SQL, "", RETENTION_SQL, "", COMMITS_SQL, "", SOURCES_SQL, ""]
    for name, body in VIEWS.items():
        parts += [f"CREATE VIEW IF NOT EXISTS {name} AS\n{body};", ""]
    return "\n".join(parts)


def connect(path: str, *, readonly: bool = False, timeout: float = 10.0) -> sqlite3.Connection:
    """A connection with the project's pragmas (read-only ones skip the writes)."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout)
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA cache_size=-65536")
        return conn
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    if conn.execute("PRAGMA page_count").fetchone()[0] == 0:   # a new file: before WAL and any table, or
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")          # it never takes (ks-retain gives space back)
    for p in PRAGMAS:
        conn.execute(p)
    return conn


class NewerSchema(Exception):
    """The file was written by a newer kernelsight: writing it could break it."""


def current_version(conn: sqlite3.Connection) -> int:
    try:
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    except sqlite3.OperationalError:
        return 0
    return row[0] or 0


def _existing_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def apply(conn: sqlite3.Connection, announce=lambda message: None) -> list[str]:
    """Create or upgrade the schema in place; returns what was changed (for logging).

    An older file (an earlier kernelsight, or the original KernelSight schema) keeps
    its rows: missing tables, columns, indexes and views are added around them, and
    missing rollups are summarised from the stored rows (``announce`` says so first:
    on a large file that takes a while).
    """
    import time

    changes: list[str] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        before = current_version(conn)
        if before > ev.SCHEMA_VERSION:
            raise NewerSchema(f"its schema is version {before}, newer than this ks knows "
                              f"({ev.SCHEMA_VERSION}): upgrade ks to write to it "
                              "(ks-query can still read it)")
        for t in ev.TYPES:
            have = _existing_columns(conn, t.table)
            if have:
                for c in ev.columns_of(t):
                    if c.name not in have:
                        conn.execute(f"ALTER TABLE {t.table} ADD COLUMN {c.name} {c.sql}")
                        changes.append(f"added column {t.table}.{c.name}")
        missing = [t for t in ev.TYPES if t.rollup and not _existing_columns(conn, t.rollup_table)]
        no_hours = [t for t in ev.TYPES if t.rollup and not _existing_columns(conn, t.tier_table(ev.HOURS))]
        if before < ev.SCHEMA_VERSION:  # triggers hold no data: an older version's are replaced
            for t in ev.TYPES:
                if t.rollup:
                    conn.execute(f"DROP TRIGGER IF EXISTS trg_{t.rollup_table}")
                    conn.execute(f"DROP TRIGGER IF EXISTS trg_{t.rollup_table}_delete")
        null_keyed = []   # rollups whose NULL-key minutes went: summarised again below
        for t in ev.TYPES:
            if t.rollup and t not in missing and before < NULL_KEY_MERGED:
                if _merge_null_keys(conn, t):
                    null_keyed.append(t)
        for stmt in _statements(ddl()):
            conn.execute(stmt)
        for t in missing:
            if conn.execute(f"SELECT 1 FROM {t.table} LIMIT 1").fetchone():
                n = conn.execute(f"SELECT count(*) FROM {t.table}").fetchone()[0]
                announce(f"summarising {n:,} rows of {t.table} per minute into "
                         f"{t.rollup_table} (once, on upgrade)")
                backfill_rollup(conn, t)
                changes.append(f"summarised {t.table} per minute into {t.rollup_table}")
        for t in null_keyed:
            announce(f"summarising the rows of {t.table} with a NULL key per minute into "
                     f"{t.rollup_table} again, one row per minute and key (once, on upgrade)")
            backfill_rollup(conn, t, _null_key(t))
            changes.append(f"summarised {t.table}'s rows with a NULL key again into {t.rollup_table}")
        _backfill_tiers(conn, no_hours, announce, changes)
        if before < ev.SCHEMA_VERSION:
            conn.execute(
                "INSERT INTO schema_version (version, applied_ns) VALUES (?, ?)",
                (ev.SCHEMA_VERSION, time.time_ns()),
            )
            changes.append(f"schema version {before} -> {ev.SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        # A COMMIT that failed on a full disk has already rolled back: a second
        # ROLLBACK would raise "no transaction is active" and hide the real cause.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return changes


def _backfill_tiers(conn: sqlite3.Connection, types, announce, changes: list[str]) -> None:
    """The coarser tiers missing from an older file (before version 7), built from its minutes."""
    from . import tiers

    for t in types:
        if conn.execute(f"SELECT 1 FROM {t.rollup_table} LIMIT 1").fetchone():
            announce(f"summarising {t.rollup_table} per hour into {t.tier_table(ev.HOURS)} "
                     "(once, on upgrade)")
            tiers.rebuild(conn, t)
            changes.append(f"summarised {t.rollup_table} per hour into {t.tier_table(ev.HOURS)}")


def _statements(sql: str) -> list[str]:
    """Split the DDL into statements (it has no semicolons inside strings)."""
    out, buf = [], []
    for line in sql.splitlines():
        if line.startswith("--") and not buf:
            continue
        buf.append(line)
        if sqlite3.complete_statement("\n".join(buf)):
            out.append("\n".join(buf))
            buf = []
    return out


if __name__ == "__main__":  # `make schema`
    import sys

    sys.stdout.write(ddl())
