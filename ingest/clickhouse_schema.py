"""ClickHouse schema rendered from the event registry (ingest/events.py), like schema.py
renders SQLite's.

``schema.clickhouse.sql`` at the top of the repository is ``ddl()``, committed and held
to it by a test (``make schema`` regenerates it).  What the registry decides here:

* One table per event type, the same name and columns as in SQLite, plus ``ks_batch``
  and ``ks_row``: the batch a row came in and its place in it, which ks-ingest
  chooses before the first attempt and keeps when it replays a batch from its spool.
  The engine is ReplacingMergeTree, so a batch inserted twice (a crash between the
  insert and its acknowledgement) is one batch once parts merge, and at once for a
  query with FINAL (ks-query reads with FINAL).
* ``PARTITION BY`` day; ``ORDER BY (host, <keys>, timestamp, ks_batch, ks_row)``: the
  keys are the rollup's (what queries group by), else the columns of the type's
  indexes that end in timestamp.  Sort keys cannot be Nullable on 18.16, so a key that
  may be missing sorts as ``ifNull(key, '')``/``ifNull(key, 0)`` and keeps its NULL.
* Types: INTEGER is Int64, REAL Float64, TEXT String; LowCardinality(String) for
  names that repeat (host, syscall, comm, device, node, ...), not for histograms and
  addresses; Nullable for every column an event may leave out (not required).
* Each per-minute rollup (events.Rollup) is a materialized view into an
  AggregatingMergeTree ``<table>_1m``: rows, first/last timestamp, the last interval,
  sums, peaks, first and last reading of each counter, and each histogram summed per
  bucket (``sumMap``, read with ``sumMapMerge``).  Each coarser tier (``<table>_1h``)
  is a materialized view of the same columns, also over the rows (see rollup_sql).
* Retention: ``ttl_days`` adds a TTL clause, which needs ClickHouse 19.6 or newer
  (``TTL_SINCE``); on older servers ks-ingest drops whole day partitions instead
  (clickhouse_sink.py).
"""

from __future__ import annotations

from . import events as ev
from .parse import TARGETS, UNKNOWN_TARGET

BATCH_COLUMNS = ("ks_batch", "ks_row")
TTL_SINCE = (19, 6)              # first release with table TTL
LOW_CARDINALITY_SINCE = (19, 0)  # before it, LowCardinality needs the setting below
LOW_CARDINALITY_SETTING = "allow_experimental_low_cardinality_type"
# TEXT columns whose values hardly repeat: dictionary encoding would not pay.
HIGH_CARDINALITY = frozenset({"saddr", "daddr", "peer"})

TYPES = {ev.INTEGER: "Int64", ev.REAL: "Float64", ev.TEXT: "String"}
DEFAULTS = {ev.INTEGER: "0", ev.REAL: "0", ev.TEXT: "''"}

HEADER = """\
-- kernelsight ClickHouse schema, generated from ingest/events.py by `make schema`.
-- Do not edit by hand: change the registry and regenerate (a test compares them).
-- ks-ingest --clickhouse creates these tables itself; to create them by hand:
--   clickhouse-client --database kernelsight --multiquery \\
--       --allow_experimental_low_cardinality_type=1 < schema.clickhouse.sql
-- (that setting only for servers older than 19.0).  Timestamps are Int64 ns since the
-- Unix epoch; units are in each column's comment.
"""


def _day(expr: str) -> str:
    return f"toYYYYMMDD(toDateTime(intDiv({expr}, 1000000000)))"


def column_type(c: ev.Column) -> str:
    """The ClickHouse type of a registry column."""
    if c.name == "timestamp":
        return "Int64"
    base = TYPES[c.sql]
    if c.name != "host" and not c.required:
        base = f"Nullable({base})"
    if c.sql == ev.TEXT and c.unit != "hist_us" and c.name not in HIGH_CARDINALITY:
        base = f"LowCardinality({base})"
    return base


def _nullable(c: ev.Column) -> bool:
    return "Nullable" in column_type(c)


def key_columns(t: ev.EventType) -> tuple[str, ...]:
    """What the table is sorted by after host: the rollup's keys, else the columns
    of the indexes that end in timestamp (the type's "per key over time")."""
    if t.rollup:
        return t.rollup.keys
    keys: list[str] = []
    for index in t.indexes:
        if index[-1] == "timestamp":
            keys += [k for k in index[:-1] if k not in keys]
    return tuple(keys)


def _key_expr(c: ev.Column) -> str:
    return f"ifNull({c.name}, {DEFAULTS[c.sql]})" if _nullable(c) else c.name


def sort_key(t: ev.EventType, *tail: str) -> str:
    keys = ("host", *(_key_expr(t.column(k)) for k in key_columns(t)))
    return f"({', '.join((*keys, *tail))})"


def _ttl(ts: str, ttl_days: int | None) -> str:
    return f"\nTTL toDateTime(intDiv({ts}, 1000000000)) + INTERVAL {ttl_days} DAY" if ttl_days else ""


def _column_line(name: str, type_: str, note: str, last: bool) -> str:
    comma = "" if last else ","
    note = note.replace("'", "\\'")
    return f"    {name} {type_}" + (f" COMMENT '{note}'" if note else "") + comma


def _note(c: ev.Column) -> str:
    return ": ".join(x for x in (c.unit, c.doc, c.source and f"from {c.source}") if x)


def _batch_lines() -> list[str]:
    return [_column_line("ks_batch", "UInt64", "the ks-ingest batch the row came in", False),
            _column_line("ks_row", "UInt32", "the row's place in its batch", True)]


def table_sql(t: ev.EventType, ttl_days: int | None = None) -> str:
    cols = ev.columns_of(t)
    lines = [_column_line(c.name, column_type(c), _note(c), False) for c in cols] + _batch_lines()
    return (f"-- {t.name}: {t.doc}\nCREATE TABLE IF NOT EXISTS {t.table} (\n" + "\n".join(lines)
            + f"\n) ENGINE = ReplacingMergeTree\nPARTITION BY {_day('timestamp')}\n"
            f"ORDER BY {sort_key(t, 'timestamp', *BATCH_COLUMNS)}{_ttl('timestamp', ttl_days)};")


def missing_columns(t: ev.EventType, have: set[str]) -> list[tuple[str, str]]:
    """(column, ALTER) adding to an existing raw table the columns a newer registry has (the
    cgroup and flags columns of schema 6 and 8, say); ``have`` is what it has.  Each
    column comes after the one before it in the registry, as a new table has it.  The
    rollup views read only the columns they always did, so they stay as they are."""
    cols = ev.columns_of(t)
    out = []
    for i, c in enumerate(cols):
        if c.name not in have:
            after = f" AFTER {cols[i - 1].name}" if i else ""
            out.append((c.name, f"ALTER TABLE {t.table} ADD COLUMN {c.name} {column_type(c)}{after}"))
    return out


def unknown_sql(ttl_days: int | None = None) -> str:
    cols = [("received_ns", "Int64", "ns: when ks-ingest read it"),
            ("type", "Nullable(String)", 'its "type" field, if any'),
            ("reason", "String", "why it was not placed"), ("raw", "String", "the line as read")]
    assert tuple(c[0] for c in cols) == UNKNOWN_TARGET.columns
    lines = [_column_line(n, ty, note, False) for n, ty, note in cols] + _batch_lines()
    return ("-- Valid JSON objects ks-ingest could not place: kept whole, with when and why.\n"
            f"CREATE TABLE IF NOT EXISTS {ev.UNKNOWN_TABLE} (\n" + "\n".join(lines)
            + f"\n) ENGINE = ReplacingMergeTree\nPARTITION BY {_day('received_ns')}\n"
            f"ORDER BY (received_ns, {', '.join(BATCH_COLUMNS)}){_ttl('received_ns', ttl_days)};")


# ---- per-minute rollups: a materialized view into an AggregatingMergeTree ------------------
def _hist_parts(col: str) -> str:
    """sumMap's two arrays, bucket indexes and counts, out of the JSON text
    ``[[bucket, count], ...]`` (18.16 has no JSON array functions: a regular
    expression per half of each pair)."""
    num = "arrayMap(x -> toInt64(x), extractAll(ifNull({c}, ''), '{re}'))"
    return (num.format(c=col, re=r"\\[\\s*(-?\\d+)\\s*,") + ", "
            + num.format(c=col, re=r",\\s*(-?\\d+)\\s*\\]"))


def rollup_aggregates(t: ev.EventType) -> list[tuple[str, str, str, str]]:
    """The rollup's aggregate columns: (name, state type, state expression, doc)."""
    r = t.rollup
    cols = [("rows", "AggregateFunction(count)", "countState()", "rows summarised"),
            ("first_ts", "AggregateFunction(min, Int64)", "minState(timestamp)", "first row's timestamp"),
            ("last_ts", "AggregateFunction(max, Int64)", "maxState(timestamp)", "last row's timestamp")]
    def of(c: str) -> str:
        # a Nullable argument skips NULLs (the -Null combinator): the state is the plain type's
        return TYPES[t.column(c).sql]

    if "interval_ns" in t.column_names:
        cols.append(("interval_ns", f"AggregateFunction(argMax, {of('interval_ns')}, Int64)",
                     "argMaxState(interval_ns, timestamp)", "the last row's interval"))
    cols += [(c, f"AggregateFunction(sum, {of(c)})", f"sumState({c})", "sum") for c in r.sums]
    cols += [(c, f"AggregateFunction(max, {of(c)})", f"maxState({c})", "largest") for c in r.maxes]
    cols += [(c, "AggregateFunction(sumMap, Array(Int64), Array(Int64))",
              f"sumMapState({_hist_parts(c)})", "hist_us: the rows' buckets, summed per bucket")
             for c in t.hist_columns]
    for c in r.counters:
        cols += [(f"{c}_first", f"AggregateFunction(argMin, {of(c)}, Int64)",
                  f"argMinState({c}, timestamp)", "first reading"),
                 (f"{c}_last", f"AggregateFunction(argMax, {of(c)}, Int64)",
                  f"argMaxState({c}, timestamp)", "last reading")]
    return cols


def _tier_table(t: ev.EventType, tier: ev.Tier, partition: str, ttl: str) -> str:
    keys, aggs = [t.column(k) for k in t.rollup.keys], rollup_aggregates(t)
    lines = [_column_line(tier.time, "Int64", f"ns: start of the {tier.time}", False),
             _column_line("host", "LowCardinality(String)", "", False)]
    lines += [_column_line(c.name, column_type(c), "", False) for c in keys]
    lines += [_column_line(n, ty, doc, i == len(aggs) - 1) for i, (n, ty, _, doc) in enumerate(aggs)]
    return (f"-- {t.table} {tier.doc.split(',')[0]} and {', '.join(['host', *t.rollup.keys])}; "
            f"read it with the -Merge combinators\n-- (countMerge(rows), sumMapMerge(buckets), ...) "
            f"and GROUP BY.\nCREATE TABLE IF NOT EXISTS {t.tier_table(tier)} (\n" + "\n".join(lines)
            + f"\n) ENGINE = AggregatingMergeTree\nPARTITION BY {partition}\n"
            f"ORDER BY {sort_key(t, tier.time)}{ttl};")


def _view(t: ev.EventType, tier: ev.Tier, source: str, period: str, aggregates: list[str]) -> str:
    group = ", ".join([tier.time, "host", *t.rollup.keys])
    select = ",\n    ".join([f"{period} AS {tier.time}", "host", *t.rollup.keys, *aggregates])
    return (f"CREATE MATERIALIZED VIEW IF NOT EXISTS {t.tier_table(tier)}_mv TO {t.tier_table(tier)} "
            f"AS\nSELECT\n    {select}\nFROM {source}\nGROUP BY {group};")


def rollup_sql(t: ev.EventType, ttl_days: int | None = None) -> list[str]:
    """The minutes and each coarser tier (events.TIERS), each a view over the rows:
    18.16 does not run a view on the rows another view writes, so an hour cannot be
    fed from its minutes here; its states are the same ones, which is all a reader
    sees.  The TTL is the rows' and the minutes'; the hours are kept (a month's
    partition of them is small) and dropped by hand."""
    states = [f"{expr} AS {n}" for n, _, expr, _ in rollup_aggregates(t)]
    out = [_tier_table(t, ev.MINUTES, _day("minute"), _ttl("minute", ttl_days)),
           _view(t, ev.MINUTES, t.table, f"intDiv(timestamp, {ev.ROLLUP_NS}) * {ev.ROLLUP_NS}", states)]
    for tier in ev.TIERS[1:]:
        out += [_tier_table(t, tier, f"toYYYYMM(toDateTime(intDiv({tier.time}, 1000000000)))", ""),
                _view(t, tier, t.table, f"intDiv(timestamp, {tier.ns}) * {tier.ns}", states)]
    return out


VERSION_SQL = """\
CREATE TABLE IF NOT EXISTS schema_version (
    version UInt32 COMMENT 'kernelsight schema version',
    applied_ns Int64 COMMENT 'ns: when this version was applied'
) ENGINE = MergeTree ORDER BY version;"""


def statements(ttl_days: int | None = None) -> list[str]:
    """Every CREATE, in order (the tables before the views that feed from them)."""
    out = [VERSION_SQL]
    out += [table_sql(t, ttl_days) for t in ev.TYPES]
    out += [s for t in ev.TYPES if t.rollup for s in rollup_sql(t, ttl_days)]
    out.append(unknown_sql(ttl_days))
    return out


def ddl(ttl_days: int | None = None) -> str:
    """The whole schema as SQL text (the content of schema.clickhouse.sql)."""
    return HEADER + "\n" + "\n\n".join(statements(ttl_days)) + "\n"


def insert_columns(table: str) -> tuple[str, ...]:
    """The columns ks-ingest inserts into ``table``, in the parser's row order, then
    the batch columns."""
    target = UNKNOWN_TARGET if table == ev.UNKNOWN_TABLE else TARGETS[ev.BY_TABLE[table].name]
    return (*target.columns, *BATCH_COLUMNS)


def stamp_column(table: str) -> str:
    return "received_ns" if table == ev.UNKNOWN_TABLE else "timestamp"


def all_tables() -> list[str]:
    """Every table ks-ingest writes or the views fill, raw tables first."""
    return ttl_tables() + [t.tier_table(tier) for tier in ev.TIERS[1:] for t in ev.TYPES if t.rollup]


def ttl_tables() -> list[str]:
    """The tables --clickhouse-ttl applies to: all but the coarser tiers."""
    return ([t.table for t in ev.TYPES] + [t.rollup_table for t in ev.TYPES if t.rollup]
            + [ev.UNKNOWN_TABLE])


if __name__ == "__main__":  # `make schema`
    import sys

    sys.stdout.write(ddl())
