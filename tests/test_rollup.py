"""Per-minute rollups of the histogram tables (ingest/events.py Rollup).

SQLite triggers keep ``<table>_1m`` as rows arrive (through ks-ingest here), rebuild a
minute when rows are deleted, and an upgrade summarises the rows an older schema
stored.  The truth is the raw rows grouped by hand; the queries must answer the same
with and without the rollups.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import time

import orjson
import pytest

from kernelsight.ingest import events as ev
from kernelsight.ingest import histogram, schema
from kernelsight.query import (
    correlate_rtt_with_cpu,
    query_block_io,
    query_io_latency_percentiles,
    query_network_bandwidth,
    query_syscall_stats,
    query_tables,
    query_tcp_retransmits,
    query_page_faults,
    query_rtt_by_node,
    query_runqueue_latency,
    synthetic,
)

NS = 1_000_000_000
MINUTE = ev.ROLLUP_NS
ROLLED = [t for t in ev.TYPES if t.rollup]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    # Start 17 s into a minute: windows then have ragged edges on both sides.
    start = (time.time_ns() // MINUTE - 12) * MINUTE + 17 * NS
    sc = synthetic.scenario(start, 600)
    path = tmp_path_factory.mktemp("rollup") / "ks.db"
    assert synthetic.write_events(path, sc.events) == "ks-ingest"
    return {"path": path, "start": start, "end": start + 600 * NS}


def _increase(before, after):
    if before is None or after is None:
        return 0
    return after - before if after >= before else after


def by_hand(conn: sqlite3.Connection, t: ev.EventType) -> dict:
    """The rollup computed from the raw rows, oldest first: {(minute, host, *keys): summary}."""
    r = t.rollup
    interval = ["interval_ns"] if "interval_ns" in t.column_names else []
    names = ["timestamp", "host", *interval, *r.keys, *r.sums, *r.maxes, *t.hist_columns, *r.counters]
    out: dict = {}
    for values in conn.execute(f"SELECT {', '.join(names)} FROM {t.table} ORDER BY timestamp, id"):
        row = dict(zip(names, values))
        key = (row["timestamp"] // MINUTE * MINUTE, row["host"], *(row[k] for k in r.keys))
        s = out.get(key)
        if s is None:
            s = out[key] = {"rows": 0, "first_ts": row["timestamp"], **{c: 0 for c in r.sums},
                            **{c: row[c] for c in r.maxes}, **{h: [] for h in t.hist_columns}}
            for c in r.counters:
                s.update({f"{c}_first": row[c], f"{c}_last": row[c], f"{c}_inc": 0})
            if r.counters:
                s["ordered"] = 1
        else:
            for c in r.counters:
                s[f"{c}_inc"] += _increase(s[f"{c}_last"], row[c])
                s[f"{c}_last"] = row[c]
        s["rows"] += 1
        s["last_ts"] = row["timestamp"]
        if interval:
            s["interval_ns"] = row["interval_ns"]
        for c in r.sums:
            s[c] += row[c] or 0
        for c in r.maxes:
            if row[c] is not None and (s[c] is None or row[c] > s[c]):
                s[c] = row[c]
        for h in t.hist_columns:
            s[h].append(row[h])
    for s in out.values():
        for h in t.hist_columns:
            s[h] = histogram.merge(s[h])
    return out


def stored(conn: sqlite3.Connection, t: ev.EventType) -> dict:
    names = [c.name for c in schema.rollup_columns(t)]
    out = {}
    for values in conn.execute(f"SELECT {', '.join(names)} FROM {t.rollup_table}"):
        row = dict(zip(names, values))
        key = tuple(row.pop(k) for k in ("minute", "host", *t.rollup.keys))
        for h in t.hist_columns:
            row[h] = histogram.decode(row[h])
        out[key] = row
    return out


def assert_rollups_match(path) -> None:
    conn = sqlite3.connect(path)
    try:
        for t in ROLLED:
            want, got = by_hand(conn, t), stored(conn, t)
            assert want and got == want, t.table
    finally:
        conn.close()


def without_rollups(src, dst) -> None:
    shutil.copy(src, dst)
    conn = sqlite3.connect(dst)
    for t in ROLLED:
        conn.execute(f"DROP TRIGGER trg_{t.rollup_table}")
        conn.execute(f"DROP TRIGGER trg_{t.rollup_table}_delete")
        conn.execute(f"DROP TABLE {t.rollup_table}")
    conn.commit()
    conn.close()


def test_ingest_keeps_a_rollup_per_minute_and_key(db):
    assert_rollups_match(db["path"])


QUERIES = [
    lambda p, a, b, step: query_io_latency_percentiles(p, a, b, step),
    lambda p, a, b, step: query_block_io(p, a, b),
    lambda p, a, b, step: query_network_bandwidth(p, a, b),
    lambda p, a, b, step: query_tcp_retransmits(p, a, b, step),
    lambda p, a, b, step: query_tcp_retransmits(p, a, b, "all"),
    lambda p, a, b, step: query_syscall_stats(p, a, b),
    lambda p, a, b, step: correlate_rtt_with_cpu(p, a, b, step or 120),
    lambda p, a, b, step: [{k: v for k, v in r.items() if k != "newest_age_s"}
                           for r in query_tables(p, a, b)],
    lambda p, a, b, step: query_runqueue_latency(p, a, b, step, per_cpu=True),
    lambda p, a, b, step: query_runqueue_latency(p, a, b, step),
    lambda p, a, b, step: query_rtt_by_node(p, a, b),
    lambda p, a, b, step: query_page_faults(p, a, b, limit=None),
]


def test_queries_answer_the_same_with_and_without_rollups(db, tmp_path):
    raw = tmp_path / "raw.db"
    without_rollups(db["path"], raw)
    rnd = random.Random(7)
    windows = [(db["start"], db["end"]), (db["start"] - 17 * NS, db["end"] + 43 * NS)]
    windows += [tuple(sorted(rnd.randint(db["start"], db["end"]) for _ in range(2))) for _ in range(6)]
    windows.append((db["start"] + 70 * NS, db["start"] + 100 * NS))  # no whole minute
    for a, b in windows:
        for step in (None, 60, 300, 30):
            for q in QUERIES:
                assert q(db["path"], a, b, step) == q(raw, a, b, step), (a, b, step)
    everything = [{k: v for k, v in r.items() if k != "newest_age_s"} for r in query_tables(raw)]
    assert [{k: v for k, v in r.items() if k != "newest_age_s"}
            for r in query_tables(db["path"])] == everything


def test_an_older_database_is_summarised_on_upgrade(db, tmp_path):
    old = tmp_path / "v2.db"
    without_rollups(db["path"], old)
    conn = schema.connect(str(old))
    conn.execute("DELETE FROM schema_version")
    conn.execute("INSERT INTO schema_version VALUES (2, 0)")
    said = []
    changes = schema.apply(conn, announce=said.append)
    conn.close()
    assert {f"summarised {t.table} per minute into {t.rollup_table}" for t in ROLLED} <= set(changes)
    assert len(said) == len(ROLLED) and all("(once, on upgrade)" in m for m in said)
    assert_rollups_match(old)


def test_deleted_rows_leave_their_minutes_summarised_again(db, tmp_path):
    path = tmp_path / "pruned.db"
    shutil.copy(db["path"], path)
    conn = sqlite3.connect(path)
    for t in ROLLED:
        conn.execute(f"DELETE FROM {t.table} WHERE id % 3 = 0 OR timestamp < ?",
                     (db["start"] + 150 * NS,))
    conn.commit()
    conn.close()
    assert_rollups_match(path)


def test_counters_arriving_out_of_order_are_read_from_their_rows(db, tmp_path):
    """A reading older than its minute's last (a replayed file, two writers) cannot be
    folded into the minute's increase: the minute says so and queries read its rows."""
    path, raw = tmp_path / "late.db", tmp_path / "late-raw.db"
    shutil.copy(db["path"], path)
    conn = sqlite3.connect(path)
    late = db["start"] + 200 * NS
    conn.execute("INSERT INTO network_interface_stats (timestamp, host, interface_name, rx_bytes, tx_bytes) "
                 "SELECT ?, host, interface_name, rx_bytes + 5, tx_bytes FROM network_interface_stats "
                 "WHERE timestamp > ? ORDER BY timestamp LIMIT 1", (late, late + 20 * NS))
    conn.commit()
    assert conn.execute("SELECT count(*) FROM network_interface_stats_1m WHERE NOT ordered").fetchone()[0] == 1
    conn.close()
    without_rollups(path, raw)
    for a, b in ((db["start"], db["end"]), (late - 100 * NS, late + 100 * NS)):
        assert query_network_bandwidth(path, a, b) == query_network_bandwidth(raw, a, b)


def test_a_malformed_histogram_is_stored_raw_and_left_out_of_the_rollup(tmp_path):
    conn = schema.connect(str(tmp_path / "ks.db"))
    schema.apply(conn)
    insert = "INSERT INTO runqlat_stats (timestamp, host, cpu, count, buckets) VALUES (?, 'h', -1, ?, ?)"
    conn.execute(insert, (MINUTE, 2, "[[3, 2]]"))
    conn.execute(insert, (MINUTE + NS, 5, "not json"))
    conn.execute(insert, (MINUTE + 2 * NS, 1, None))
    conn.execute(insert, (MINUTE + 3 * NS, 4, "[[3, 1], [9, 3]]"))
    assert conn.execute("SELECT count(*) FROM runqlat_stats").fetchone()[0] == 4
    row = conn.execute("SELECT rows, count, buckets FROM runqlat_stats_1m").fetchone()
    assert row[:2] == (4, 12) and histogram.decode(row[2]) == {3: 3, 9: 3}


def test_a_busy_minute_is_summed_per_bucket_once_its_list_grows_long(tmp_path):
    """Bucket lists are appended (cheap) until the minute's list passes
    schema.COMPACT_CHARS, then summed per bucket: the total stays exact and the
    stored text stays bounded however many rows the minute takes."""
    rnd = random.Random(3)
    conn = schema.connect(str(tmp_path / "ks.db"))
    schema.apply(conn)
    hists = [{b: rnd.randint(1, 99) for b in rnd.sample(range(150), 12)} for _ in range(400)]
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO runqlat_stats (timestamp, host, cpu, buckets) VALUES (?, 'h', -1, ?)",
                     [(MINUTE + i * 1000, histogram.encode(h)) for i, h in enumerate(hists)])
    conn.execute("COMMIT")
    text = conn.execute("SELECT buckets FROM runqlat_stats_1m").fetchone()[0]
    assert histogram.merge([text]) == histogram.merge(hists)
    assert len(text) <= schema.COMPACT_CHARS + 200 < sum(len(histogram.encode(h)) for h in hists)


def test_a_minute_is_summed_per_bucket_when_its_key_starts_the_next(tmp_path):
    """The first row of a minute seals the key's previous minute: each bucket once,
    counts exact; the other keys' minutes and the open minute stay appended."""
    conn = schema.connect(str(tmp_path / "ks.db"))
    schema.apply(conn)
    rows = [(MINUTE + i * 1000, cpu, histogram.encode({3: 1, 9: 2})) for i in range(5) for cpu in (0, 1)]
    rows += [(2 * MINUTE + i * 1000, 0, histogram.encode({3: 1})) for i in range(2)]
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO runqlat_stats (timestamp, host, cpu, buckets) VALUES (?, 'h', ?, ?)", rows)
    conn.execute("COMMIT")
    lists = {(m // MINUTE, cpu): orjson.loads(b) for m, cpu, b in
             conn.execute("SELECT minute, cpu, buckets FROM runqlat_stats_1m")}
    assert lists[(1, 0)] == [[3, 5], [9, 10]]            # sealed: cpu 0 went on to minute 2
    assert histogram.merge([lists[(1, 1)]]) == {3: 5, 9: 10} and len(lists[(1, 1)]) == 10
    assert lists[(2, 0)] == [[3, 1], [3, 1]]             # still open


def test_an_older_version_gets_the_new_triggers(tmp_path):
    path = str(tmp_path / "ks.db")
    conn = schema.connect(path)
    schema.apply(conn)
    name = "trg_runqlat_stats_1m"
    old = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]
    conn.execute(f"DROP TRIGGER {name}")
    conn.execute(old.split("    UPDATE runqlat_stats_1m")[0] + "END;")  # version 3's: the upsert alone
    conn.execute("DELETE FROM schema_version")
    conn.execute("INSERT INTO schema_version VALUES (3, 0)")
    conn.commit()
    assert "UPDATE runqlat_stats_1m" not in conn.execute("SELECT sql FROM sqlite_master WHERE name = ?",
                                                         (name,)).fetchone()[0]
    schema.apply(conn)
    assert conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0] == old
    assert schema.current_version(conn) == ev.SCHEMA_VERSION


def test_schema_sql_declares_the_rollups_and_their_triggers():
    sql = schema.ddl()
    for t in ROLLED:
        for name in (t.rollup_table, f"trg_{t.rollup_table}", f"trg_{t.rollup_table}_delete"):
            assert f"IF NOT EXISTS {name} " in sql
        assert set(t.rollup.keys + t.rollup.sums + t.hist_columns) <= set(t.column_names)


# ---- a NULL key (a line without it: the original io tracer names no device) ------------
KEYED = [(t, k) for t in ROLLED for k in ("host", *t.rollup.keys)]
NULL_AT = (time.time_ns() // MINUTE - 8) * MINUTE + 30 * NS   # inside the db fixture's window


def keyed_rows(t: ev.EventType, null: str | None, n: int = 120, seed: int = 5) -> list[dict]:
    """n rows of t over a minute from NULL_AT (half in each of two minutes), host
    "nullkeys" and each key one value, or NULL for the key ``null`` names."""
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        row = {"timestamp": NULL_AT + i * (MINUTE // n), "host": "nullkeys"}
        for c in t.columns:
            if c.name in t.rollup.keys:
                v = "k" if c.sql == ev.TEXT else 7
            elif c.unit == "hist_us":
                v = histogram.encode({b: rnd.randint(1, 9) for b in rnd.sample(range(40), 3)})
            elif c.name in t.rollup.counters:
                v = 1000 * i + rnd.randint(0, 999)
            elif c.name == "interval_ns":
                v = NS
            else:
                v = {ev.TEXT: "x", ev.REAL: rnd.random() * 100}.get(c.sql, rnd.randint(0, 1000))
            row[c.name] = v
        if null:
            row[null] = None
        rows.append(row)
    return rows


def insert(conn: sqlite3.Connection, t: ev.EventType, rows: list[dict]) -> None:
    names = list(rows[0])
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO {t.table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                     [[r[c] for c in names] for r in rows])
    conn.execute("COMMIT")


def without_key(summaries: dict, t: ev.EventType, k: str) -> dict:
    """{(minute, host, *keys): summary} with the key ``k`` left out of each key."""
    i = ("minute", "host", *t.rollup.keys).index(k)
    return {key[:i] + key[i + 1:]: s for key, s in summaries.items()}


@pytest.mark.parametrize("t, k", KEYED, ids=[f"{t.rollup_table}.{k}" for t, k in KEYED])
def test_a_null_key_is_one_key_per_minute(t, k, tmp_path):
    """Many rows of a minute without ``k``: one rollup row per minute, summarised as
    the same rows with a value there, and as the raw rows grouped by hand (where
    None is one key); deleting some of them summarises their minutes again."""
    got = {}
    for null in (None, k):
        conn = schema.connect(str(tmp_path / f"{null}.db"))
        schema.apply(conn)
        insert(conn, t, keyed_rows(t, null))
        got[null] = stored(conn, t)
        assert len(got[null]) == 2 and got[null] == by_hand(conn, t)
        conn.execute(f"DELETE FROM {t.table} WHERE id % 3 = 0")
        assert len(stored(conn, t)) == 2 and stored(conn, t) == by_hand(conn, t)
        conn.close()
    assert without_key(got[k], t, k) == without_key(got[None], t, k)
    assert {key[("minute", "host", *t.rollup.keys).index(k)] for key in got[k]} == {None}


def test_original_io_tracer_lines_merge_per_minute(tmp_path):
    """Lines as the original io tracer wrote them (no device, tests/fixtures), many in
    a minute, through ks-ingest: one rollup row per minute, device NULL as stored."""
    line = orjson.loads(open(f"{__file__.rsplit('/', 1)[0]}/fixtures/kernelsight-v1/"
                             "io_latency_tracer.ndjson", "rb").readline())
    assert "device" not in line
    lines = [dict(line, timestamp=line["timestamp"] + i * (MINUTE // 2000)) for i in range(2000)]
    path = tmp_path / "ks.db"
    synthetic.write_events(path, lines, via="ks-ingest")
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT device, sum(rows), count(*) FROM io_latency_stats_1m").fetchone()
    minutes = conn.execute(f"SELECT count(DISTINCT timestamp / {MINUTE}) FROM io_latency_stats").fetchone()
    conn.close()
    assert rows == (None, 2000, minutes[0])


def make_version_4(conn: sqlite3.Connection, t: ev.EventType) -> int:
    """Turn a current file into what version 4 left: the rollup's unique index on the
    bare keys (NULLs distinct), so a NULL-key minute was one rollup row per raw row,
    and no triggers of this version.  Returns how many NULL-key rollup rows it made."""
    conn.execute(f"DROP INDEX idx_{t.rollup_table}_key")
    conn.execute(f"CREATE UNIQUE INDEX idx_{t.rollup_table}_key ON {t.rollup_table}"
                 f"(minute, {', '.join(('host', *t.rollup.keys))})")
    null = " OR ".join(f"{k} IS NULL" for k in ("host", *t.rollup.keys))
    rows = conn.execute(f"SELECT count(*) FROM {t.table} WHERE {null}").fetchone()[0]
    conn.execute("BEGIN")
    for _ in range(rows // 2 - 1):  # each NULL-key minute again, as its other rows made it
        conn.execute(f"INSERT INTO {t.rollup_table} SELECT * FROM {t.rollup_table} "
                     f"WHERE {null} LIMIT 2")
    for other in ROLLED:
        conn.execute(f"DROP TRIGGER trg_{other.rollup_table}")
        conn.execute(f"DROP TRIGGER trg_{other.rollup_table}_delete")
    conn.execute("DELETE FROM schema_version")
    conn.execute("INSERT INTO schema_version VALUES (4, 0)")
    conn.execute("COMMIT")
    return conn.execute(f"SELECT count(*) FROM {t.rollup_table} WHERE {null}").fetchone()[0]


@pytest.mark.parametrize("t, k", KEYED, ids=[f"{t.rollup_table}.{k}" for t, k in KEYED])
def test_version_4_rows_with_a_null_key_are_summarised_again_on_upgrade(t, k, tmp_path):
    """A version-4 file holds a NULL-key minute as many rollup rows; the upgrade
    leaves one per minute and key, equal to the raw rows grouped by hand, and the
    rows with a value there are untouched."""
    conn = schema.connect(str(tmp_path / "v4.db"))
    schema.apply(conn)
    insert(conn, t, keyed_rows(t, k) + keyed_rows(t, None, seed=6))
    before = stored(conn, t)
    assert make_version_4(conn, t) > 2
    changes = schema.apply(conn)
    assert any("NULL key" in c for c in changes), changes
    after = stored(conn, t)
    assert after == by_hand(conn, t) and after == before and len(after) == 4
    assert conn.execute(f"SELECT count(*) FROM {t.rollup_table}").fetchone()[0] == 4
    conn.close()
