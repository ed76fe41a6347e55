"""ks-ingest --clickhouse and ks-query --clickhouse against a real clickhouse-server
(Debian's package, Makefile APT_PACKAGES), started here on loopback ports of its own,
with its own config and data in a temporary folder, and stopped after."""

from __future__ import annotations

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import chserver  # noqa: E402
from conftest import REPO  # noqa: E402

from kernelsight.ingest import clickhouse_schema as chs  # noqa: E402
from kernelsight.ingest import events as ev  # noqa: E402

needs_server = pytest.mark.skipif(not chserver.available(),
                                  reason=f"{chserver.BINARY} is missing: apt-get install clickhouse-server "
                                  "(make setup does, as root)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not chserver.available():
        pytest.skip(f"{chserver.BINARY} is missing: apt-get install clickhouse-server")
    s = chserver.Server(tmp_path_factory.mktemp("clickhouse")).start()
    try:
        yield s
    finally:
        s.kill()


def client(server, database: str | None = None):
    from clickhouse_driver import Client

    return Client("127.0.0.1", port=server.tcp_port, database=database or "default",
                  settings={chs.LOW_CARDINALITY_SETTING: 1})


@pytest.fixture
def database(server, request):
    """A fresh database on the shared server, named after the test."""
    name = "t_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")[:60]
    c = client(server)
    c.execute(f"DROP DATABASE IF EXISTS {name}")
    yield name
    c.execute(f"DROP DATABASE IF EXISTS {name}")


# ---- 1. the schema -------------------------------------------------------------------------
def test_schema_clickhouse_sql_is_what_the_registry_renders():
    committed = (REPO / "schema.clickhouse.sql").read_text()
    assert committed == chs.ddl(), "schema.clickhouse.sql is stale: run `make schema` and commit it"


@needs_server
def test_the_server_takes_the_schema_with_every_registry_column(server, database):
    c = client(server)
    c.execute(f"CREATE DATABASE {database}")
    c = client(server, database)
    for statement in chs.statements():
        c.execute(statement)
    for t in ev.TYPES:
        described = c.execute(f"DESCRIBE TABLE {t.table}")
        names = [r[0] for r in described]
        assert names == [c.name for c in ev.columns_of(t)] + list(chs.BATCH_COLUMNS), t.table
        types = dict((r[0], r[1]) for r in described)
        for col in ev.columns_of(t):
            nullable = "Nullable" in types[col.name]
            assert nullable == (not col.required and col.name not in ("timestamp", "host")), (t.table, col.name)
        engine, key = c.execute("SELECT engine, sorting_key FROM system.tables "
                                f"WHERE database = '{database}' AND name = '{t.table}'")[0]
        assert engine == "ReplacingMergeTree"
        assert key.startswith("host") and key.endswith("timestamp, ks_batch, ks_row"), key
        if t.rollup:
            assert c.execute(f"EXISTS TABLE {t.rollup_table}") == [(1,)]


@needs_server
def test_ttl_needs_a_newer_server_than_this_one(server, database):
    """The TTL clause exists from ClickHouse 19.6: on an older server CREATE fails,
    which is why ks-ingest drops day partitions there instead."""
    c = client(server)
    version = tuple(int(x) for x in c.execute("SELECT version()")[0][0].split(".")[:2])
    c.execute(f"CREATE DATABASE {database}")
    c = client(server, database)
    t = ev.BY_NAME["load"]
    if version >= chs.TTL_SINCE:
        c.execute(chs.table_sql(t, ttl_days=30))
        assert "TTL" in c.execute(f"SHOW CREATE TABLE {t.table}")[0][0]
    else:
        from clickhouse_driver.errors import ServerException

        with pytest.raises(ServerException):
            c.execute(chs.table_sql(t, ttl_days=30))
        c.execute(chs.table_sql(t))


# ---- 2. ks-ingest --clickhouse ---------------------------------------------------------------
import collections  # noqa: E402
import random  # noqa: E402
import sqlite3  # noqa: E402

import orjson  # noqa: E402

from conftest import run_ks  # noqa: E402

TS0 = 1_795_455_835_000_000_000   # 2026-11-23, the fixtures' day
NS = 1_000_000_000


def value(rng: random.Random, t: ev.EventType, c: ev.Column, i: int):
    """A value for any registry column; a non-required one is left out now and then."""
    if not c.required and rng.random() < 0.1:
        return None
    if c.unit == "hist_us":
        return [[b, rng.randint(1, 9)] for b in sorted(rng.sample(range(200), rng.randint(1, 6)))]
    if c.sql == ev.TEXT:
        return f"{c.name}-{rng.randint(0, 4)}"
    if c.sql == ev.REAL:
        return round(rng.uniform(0, 1e4), 3)
    return rng.randint(-5, 10**12) if c.name not in ("cpu", "pid") else rng.randint(-1, 7)


def every_type(n_per_type: int, hosts=("h1", "h2"), seed: int = 7) -> list[dict]:
    """n events of every registry type (every column, some left out), interleaved in
    time over a few minutes, on several hosts."""
    rng = random.Random(seed)
    out = []
    for i in range(n_per_type):
        for t in ev.TYPES:
            e = {"type": t.name, "timestamp": TS0 + i * NS // 10 + rng.randint(0, 999), "host": hosts[i % len(hosts)]}
            for c in t.columns:
                v = value(rng, t, c, i)
                if v is not None:
                    e[c.name] = v
            out.append(e)
    return out


def write_ndjson(path: pathlib.Path, events: list[dict]) -> pathlib.Path:
    path.write_bytes(b"".join(orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE) for e in events))
    return path


def ch_rows(server, database: str, table: str, final: bool = True) -> list[tuple]:
    t = ev.BY_TABLE[table]
    cols = ", ".join(c.name for c in ev.columns_of(t))
    return client(server, database).execute(
        f"SELECT {cols} FROM {table} {'FINAL' if final else ''} ORDER BY timestamp")


def ch_count(server, database: str, table: str, final: bool = True) -> int:
    return client(server, database).execute(f"SELECT count() FROM {table} {'FINAL' if final else ''}")[0][0]


def sqlite_rows(db: pathlib.Path, table: str) -> list[tuple]:
    t = ev.BY_TABLE[table]
    cols = ", ".join(c.name for c in ev.columns_of(t))
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT {cols} FROM {table} ORDER BY timestamp").fetchall()
    finally:
        conn.close()


@needs_server
def test_every_event_type_lands_with_exact_counts_and_values(server, database, tmp_path):
    events = every_type(300)
    expected = collections.Counter(ev.BY_NAME[e["type"]].table for e in events)
    data = write_ndjson(tmp_path / "events.ndjson", events)
    url = server.url(database)
    r = run_ks("ks-ingest", "--clickhouse", url, "--spool-dir", str(tmp_path / "spool"), str(data), timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    assert f"{len(events)} lines read, {len(events)} rows stored" in r.stderr.decode()
    r = run_ks("ks-ingest", "--db-path", str(tmp_path / "ks.db"), str(data), timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    for t in ev.TYPES:
        assert ch_count(server, database, t.table, final=False) == expected[t.table], t.table
        # the same values as SQLite stored from the same lines, NULLs included
        assert ch_rows(server, database, t.table) == sqlite_rows(tmp_path / "ks.db", t.table), t.table
    assert not list((tmp_path / "spool").glob("*.spool"))[0].read_bytes(), "nothing was spooled"


@needs_server
def test_rollup_views_sum_what_the_rows_hold(server, database, tmp_path):
    """A minute of rtt_stats from its materialized view: rows, sums and every
    histogram bucket equal to the same sums over the raw rows (read in Python)."""
    events = [e for e in every_type(600, hosts=("h1",)) if e["type"] == "rtt"]
    data = write_ndjson(tmp_path / "rtt.ndjson", events)
    r = run_ks("ks-ingest", "--clickhouse", server.url(database), "--spool-dir", str(tmp_path / "spool"), str(data))
    assert r.returncode == 0, r.stderr.decode()
    minutes: dict = collections.defaultdict(lambda: [0, 0, collections.Counter()])
    for e in events:
        m = minutes[(e["timestamp"] // (60 * NS) * 60 * NS, e.get("node"), e.get("peer"))]
        m[0] += 1
        m[1] += e.get("retrans_count") or 0
        m[2].update({b: n for b, n in e.get("buckets", [])})
    got = client(server, database).execute(
        "SELECT minute, node, peer, countMerge(rows), sumMerge(retrans_count), sumMapMerge(buckets) "
        "FROM rtt_stats_1m GROUP BY minute, node, peer")
    assert len(got) == len(minutes)
    for minute, node, peer, rows, retrans, (buckets, counts) in got:
        want = minutes[(minute, node, peer)]
        assert (rows, retrans or 0) == (want[0], want[1])
        assert dict(zip(buckets, counts)) == dict(want[2])


@needs_server
def test_values_int64_cannot_hold_are_converted_or_rejected_as_with_sqlite(server, database, tmp_path):
    """The parser's fast path passes integers through as read: an unsigned 64-bit
    address is refused by the sink and stored wrapped by the general path; a pid
    past 64 bits is rejected with its line kept.  Same rows and rejects as SQLite."""
    lines = [
        {"type": "page_fault", "timestamp": TS0, "host": "h1", "pid": 1, "address": 2**64 - 100},
        {"type": "page_fault", "timestamp": TS0 + 1, "host": "h1", "pid": 2**63, "address": 5},
        {"type": "page_fault", "timestamp": TS0 + 2, "host": "h1", "pid": 3, "address": 7},
    ]
    data = write_ndjson(tmp_path / "pf.ndjson", lines)
    for args in (["--clickhouse", server.url(database), "--spool-dir", str(tmp_path / "spool")],
                 ["--db-path", str(tmp_path / "ks.db")]):
        r = run_ks("ks-ingest", *args, "--reject-file", str(tmp_path / f"rej{len(args)}.ndjson"), str(data))
        assert r.returncode == 0, r.stderr.decode()
        assert "2 rows stored" in r.stderr.decode() and "1 rejected" in r.stderr.decode()
        kept = [orjson.loads(x) for x in (tmp_path / f"rej{len(args)}.ndjson").read_bytes().splitlines()]
        assert [k["line"] for k in kept] == [2]
    got = ch_rows(server, database, "page_fault_events")
    assert got == sqlite_rows(tmp_path / "ks.db", "page_fault_events")
    address = [c.name for c in ev.columns_of(ev.BY_NAME["page_fault"])].index("address")
    assert [r[address] for r in got] == [-100, 7]   # wrapped as in SQLite
