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
@pytest.mark.parametrize("tier", ev.TIERS, ids=[t.suffix for t in ev.TIERS])
def test_rollup_views_sum_what_the_rows_hold(server, database, tmp_path, tier):
    """A minute (an hour) of rtt_stats from its materialized view: rows, sums and every
    histogram bucket equal to the same sums over the raw rows (read in Python)."""
    events = [e for e in every_type(600, hosts=("h1",)) if e["type"] == "rtt"]
    for e in events:   # over about three hours, so that there are several
        e["timestamp"] = TS0 + (e["timestamp"] - TS0) * 180
    data = write_ndjson(tmp_path / "rtt.ndjson", events)
    r = run_ks("ks-ingest", "--clickhouse", server.url(database), "--spool-dir", str(tmp_path / "spool"), str(data))
    assert r.returncode == 0, r.stderr.decode()
    minutes: dict = collections.defaultdict(lambda: [0, 0, collections.Counter()])
    for e in events:
        m = minutes[(e["timestamp"] // tier.ns * tier.ns, e.get("node"), e.get("peer"))]
        m[0] += 1
        m[1] += e.get("retrans_count") or 0
        m[2].update({b: n for b, n in e.get("buckets", [])})
    got = client(server, database).execute(
        f"SELECT {tier.time}, node, peer, countMerge(rows), sumMerge(retrans_count), sumMapMerge(buckets) "
        f"FROM rtt_stats{tier.suffix} GROUP BY {tier.time}, node, peer")
    assert len(got) == len(minutes) and len({k[0] for k in minutes}) > 2
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
    for args in (["--clickhouse", server.url(database), "--spool-dir", str(tmp_path / "spool"), "--single-process"],
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


# ---- 3. the spool: nothing lost, nothing doubled --------------------------------------------
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

from conftest import ks  # noqa: E402

from kernelsight.ingest.clickhouse_spool import Batch, Spool, SpoolBusy  # noqa: E402


def wait_for(predicate, timeout: float = 60.0, what: str = "it"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def spool_file(spool_dir: pathlib.Path) -> pathlib.Path:
    return wait_for(lambda: next(spool_dir.glob("*.spool"), None), what="the spool file")


def counts_by_table(events) -> collections.Counter:
    return collections.Counter(ev.BY_NAME[e["type"]].table for e in events)


@needs_server
def test_server_killed_and_restarted_mid_stream_loses_and_doubles_nothing(tmp_path_factory, tmp_path):
    s = chserver.Server(tmp_path_factory.mktemp("clickhouse-restart")).start()
    try:
        events = every_type(150)
        chunks = [events[: len(events) // 3], events[len(events) // 3: 2 * len(events) // 3],
                  events[2 * len(events) // 3:]]
        spool_dir = tmp_path / "spool"
        proc = subprocess.Popen([ks("ks-ingest"), "--clickhouse", s.url("fleet"), "--spool-dir", str(spool_dir),
                                 "--batch-timeout", "0.1"], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            def feed(chunk):
                proc.stdin.write(b"".join(orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE) for e in chunk))
                proc.stdin.flush()

            feed(chunks[0])
            wait_for(lambda: ch_count(s, "fleet", "syscall_events", final=False)
                     == counts_by_table(chunks[0])["syscall_events"], what="the first chunk in ClickHouse")
            s.kill()                                    # a crash, mid-stream
            feed(chunks[1])
            path = spool_file(spool_dir)
            wait_for(lambda: path.stat().st_size > 0, what="the second chunk in the spool")
            s.start()                                   # same data, same ports
            feed(chunks[2])
            proc.stdin.close()
            err = proc.stderr.read().decode()
            assert proc.wait(120) == 0, err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert "spooling to" in err and "answers again" in err, err
        want = counts_by_table(events)
        for t in ev.TYPES:
            assert ch_count(s, "fleet", t.table, final=False) == want[t.table], t.table   # none doubled
        assert path.read_bytes() == b"", "every spooled batch was acknowledged"
        # in order: the server took the batches (block numbers) in the order they were made
        blocks = client(s, "fleet").execute(
            "SELECT ks_batch, min(toUInt64(extract(_part, '^[0-9]+_([0-9]+)_'))) AS block "
            "FROM syscall_events GROUP BY ks_batch ORDER BY ks_batch")
        assert [b for _, b in blocks] == sorted(b for _, b in blocks)
    finally:
        s.kill()


@needs_server
def test_the_spool_survives_a_restart_and_is_sent_by_the_next_ks_ingest(tmp_path_factory, tmp_path):
    s = chserver.Server(tmp_path_factory.mktemp("clickhouse-late"))   # not started: down
    events = every_type(40)
    data = write_ndjson(tmp_path / "events.ndjson", events)
    spool_dir = tmp_path / "spool"
    r = run_ks("ks-ingest", "--clickhouse", s.url("late"), "--spool-dir", str(spool_dir), str(data))
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert f"did not take {len(events)} rows: kept in" in err, err
    try:
        s.start()
        r = run_ks("ks-ingest", "--clickhouse", s.url("late"), "--spool-dir", str(spool_dir), input=b"")
        assert r.returncode == 0, r.stderr.decode()
        assert "kept from before: sending them first" in r.stderr.decode()
        for t in ev.TYPES:
            assert ch_count(s, "late", t.table, final=False) == counts_by_table(events)[t.table], t.table
        assert ch_rows(s, "late", "rtt_stats") == sorted(
            ch_rows(s, "late", "rtt_stats"), key=lambda r: r[0])
    finally:
        s.kill()


CRASH_AFTER_INSERT = """
import os, signal, sys
from kernelsight.ingest.clickhouse_sink import ClickHouseSink
from kernelsight.ingest.clickhouse_spool import Batch
import orjson
sink = ClickHouseSink(sys.argv[1], sys.argv[2])
assert sink.client is not None
batch = Batch(sink._next_id(), orjson.loads(sys.argv[3]))
sink.spool.append(batch)               # kept, as a commit does when the server fails
sink._insert(batch, replay=False)      # the server has it ...
os.kill(os.getpid(), signal.SIGKILL)   # ... and ks-ingest dies before the ack
"""


@needs_server
def test_kill_9_between_insert_and_ack_doubles_nothing(server, database, tmp_path):
    from kernelsight.ingest.parse import Parser

    events = [e for e in every_type(50) if e["type"] in ("rtt", "syscall")]
    parser = Parser()
    tables: dict = collections.defaultdict(list)
    for e in events:
        target, row = parser.parse(orjson.dumps(e))
        tables[target.table].append(list(row))
    spool_dir = tmp_path / "spool"
    r = subprocess.run([sys.executable, "-c", CRASH_AFTER_INSERT, server.url(database), str(spool_dir),
                        orjson.dumps(list(tables.items()))], capture_output=True, timeout=60)
    assert r.returncode == -signal.SIGKILL, r.stderr.decode()
    assert Spool(spool_file(spool_dir)).pending == 1       # the batch is still unacknowledged
    assert ch_count(server, database, "rtt_stats", final=False) == len(tables["rtt_stats"])
    # the next ks-ingest replays it: the rows the server has are not sent again
    r = run_ks("ks-ingest", "--clickhouse", server.url(database), "--spool-dir", str(spool_dir), input=b"")
    assert r.returncode == 0, r.stderr.decode()
    assert "1 batches" in r.stderr.decode()
    for table, rows in tables.items():
        assert ch_count(server, database, table, final=False) == len(rows), table
    # and a copy that does get in (the server took an insert whose answer was lost
    # while the replay asked) is the same rows: one row each with FINAL
    c = client(server, database)
    c.execute("INSERT INTO rtt_stats SELECT * FROM rtt_stats")
    assert ch_count(server, database, "rtt_stats", final=False) == 2 * len(tables["rtt_stats"])
    assert ch_count(server, database, "rtt_stats", final=True) == len(tables["rtt_stats"])


def test_spool_keeps_order_cuts_a_torn_tail_and_has_one_owner(tmp_path):
    path = tmp_path / "x.spool"
    spool = Spool(path)
    for i in (1, 2, 3):
        spool.append(Batch(i, [("load_metrics", [[TS0 + i, "h", 1.0, None, None, None, None, None]])]))
    spool.ack(Batch(1, [("load_metrics", [[0]])]))
    with pytest.raises(SpoolBusy):
        Spool(path)
    spool.close()
    with open(path, "ab") as f:
        f.write(b'{"batch": 4, "tables": [["load_metr')      # a crash mid-write
    again = Spool(path)
    assert [b.id for b in again.batches()] == [2, 3] and again.pending == 2
    assert path.read_bytes().endswith(b"\n")
    for b in list(again.batches()):
        again.ack(b)
    assert path.read_bytes() == b""
    again.close()


# ---- 4. ks-query --clickhouse: the answers SQLite gives --------------------------------------
from kernelsight.query import synthetic  # noqa: E402

SUBCOMMANDS = ["summary", "syscalls", "syscall-procs", "syscall-stats", "io", "rtt", "runqlat", "memory",
               "cpu", "retransmits", "network", "block", "tcp", "load", "perf", "pagefaults", "sched-waits",
               "hosts"]
SECONDS = 600


@pytest.fixture(scope="module")
def both_backends(server, tmp_path_factory):
    """One generated data set (two hosts, ten minutes) in SQLite and in ClickHouse."""
    folder = tmp_path_factory.mktemp("both")
    start = TS0 - 3 * 3600 * NS
    events = (synthetic.scenario(start, SECONDS, host="web-1", seed=1).events
              + synthetic.scenario(start, SECONDS, host="db-2", seed=2, nodes=("alpha", "delta")).events)
    events.sort(key=lambda e: e["timestamp"])
    events += [{"type": "mystery", "timestamp": start + i, "host": "web-1"} for i in range(3)]  # unknown_events
    data = write_ndjson(folder / "events.ndjson", events)
    db = folder / "ks.db"
    for args in (["--db-path", str(db)], ["--clickhouse", server.url("both"), "--spool-dir", str(folder / "spool")]):
        r = run_ks("ks-ingest", *args, str(data), timeout=180)
        assert r.returncode == 0, r.stderr.decode()
    yield db, server.url("both"), start
    client(server).execute("DROP DATABASE IF EXISTS both")


def answers(backend: list[str], args: list[str]) -> list[dict]:
    r = run_ks("ks-query", *args, *backend, "--format", "json", timeout=120)
    assert r.returncode == 0, (args, r.stderr.decode())
    return [orjson.loads(x) for x in r.stdout.splitlines()]


@needs_server
@pytest.mark.parametrize("sub", SUBCOMMANDS)
@pytest.mark.parametrize("host", [None, "db-2"])
def test_ks_query_answers_from_clickhouse_equal_sqlites(both_backends, sub, host):
    db, url, start = both_backends
    # ragged edges: whole minutes come from the rollups, the edges from the rows
    since, until = (start + 37 * NS) / NS, (start + (SECONDS - 23) * NS) / NS
    args = [sub, "--since", f"{since:.3f}", "--until", f"{until:.3f}"] + (["--host", host] if host else [])
    from_sqlite = answers(["--db-path", str(db)], args)
    from_clickhouse = answers(["--clickhouse", url], args)
    assert from_sqlite, f"{sub}: the data set answers nothing: the comparison would prove nothing"
    assert from_clickhouse == from_sqlite
    if host:
        assert {r["host"] for r in from_clickhouse if "host" in r} <= {host}


@needs_server
def test_tables_and_hosts_sorted_from_clickhouse(both_backends):
    db, url, start = both_backends
    for args in (["tables"], ["tables", "--since", str(start // NS)]):
        got = [answers(b, args) for b in (["--db-path", str(db)], ["--clickhouse", url])]
        for rows in got:
            for r in rows:
                r.pop("newest_age_s")      # age from each command's own "now"
        assert got[0] == got[1] and got[0]
        assert [r["rows"] for r in got[1] if r["table"] == ev.UNKNOWN_TABLE] == [3]
    window = ["--since", str(start // NS), "--until", str(start // NS + SECONDS)]
    hosts = answers(["--clickhouse", url], ["hosts", *window, "--sort", "rtt_p99_us"])
    assert [h["host"] for h in hosts] == sorted(
        (h["host"] for h in hosts), key=lambda n: -next(x["rtt_p99_us"] for x in hosts if x["host"] == n))
    assert {h["host"] for h in hosts} == {"web-1", "db-2"}
    r = run_ks("ks-query", "sql", "SELECT 1", "--clickhouse", url)
    assert r.returncode != 0 and b"clickhouse-client" in r.stderr


@needs_server
def test_hosts_p99s_are_the_raw_samples_p99s(both_backends):
    """ks-query hosts from ClickHouse against the generator's raw samples: each p99 is
    within one bucket's width (6.25 %) of the true one, computed with a sort."""
    db, url, start = both_backends
    sc = synthetic.scenario(start, SECONDS, host="web-1", seed=1)
    window = ["--since", str(start // NS), "--until", str(start // NS + SECONDS), "--host", "web-1"]
    (row,) = answers(["--clickhouse", url], ["hosts", *window])

    def p99(keys):
        values = sorted(v for k in keys for v in sc.samples(k))
        return values[int(0.99 * (len(values) - 1))]

    nodes = {k[1] for k in sc.raw if k[0] == "rtt"}
    devices = {k[1:] for k in sc.raw if k[0] == "io"}
    for got, true in ((row["rtt_p99_us"], p99([("rtt", n) for n in nodes])),
                      (row["io_p99_us"], p99([("io", *d) for d in devices])),
                      (row["runq_p99_us"], p99([("runq",)]))):
        assert abs(got - true) <= 0.0625 * true + 1, (got, true)


@needs_server
def test_every_select_of_docs_clickhouse_md_runs_and_answers(server, both_backends):
    import re

    text = (REPO / "docs" / "clickhouse.md").read_text()
    selects = [b for b in re.findall(r"```sql\n(.*?)```", text, re.S) if b.lstrip().startswith("SELECT")]
    assert len(selects) >= 4
    c = client(server, "both")
    for sql in selects:
        assert c.execute(sql), sql


@needs_server
def test_clickhouse_ttl_drops_the_days_past_it_on_a_server_without_ttl(server, database, tmp_path):
    version = tuple(int(x) for x in client(server).execute("SELECT version()")[0][0].split(".")[:2])
    if version >= chs.TTL_SINCE:
        pytest.skip("this server has table TTL: ks-ingest sets it instead of dropping days")
    now = time.time_ns()
    old = [{"type": "load", "timestamp": now - 40 * 86400 * NS + i, "host": "h1", "load_1min": 1.0} for i in range(5)]
    new = [{"type": "load", "timestamp": now - 86400 * NS + i, "host": "h1", "load_1min": 2.0} for i in range(7)]
    args = ["--clickhouse", server.url(database), "--spool-dir", str(tmp_path / "spool"), "--clickhouse-ttl", "30d"]
    r = run_ks("ks-ingest", *args, str(write_ndjson(tmp_path / "load.ndjson", old + new)))
    assert r.returncode == 0, r.stderr.decode()
    assert ch_count(server, database, "load_metrics") == 12
    r = run_ks("ks-ingest", *args, input=b"")      # at start: the days past 30 go
    assert r.returncode == 0, r.stderr.decode()
    assert b"dropped load_metrics day" in r.stderr
    assert ch_count(server, database, "load_metrics") == 7
    r = run_ks("ks-ingest", *args[:-1], "thirty", input=b"")
    assert r.returncode == 2 and b"whole days" in r.stderr


@needs_server
def test_init_only_creates_every_table_and_needs_the_server(server, database, tmp_path):
    spool = ["--spool-dir", str(tmp_path / "spool")]
    r = run_ks("ks-ingest", "--init-only", "--clickhouse", server.url(database), *spool)
    assert r.returncode == 0, r.stderr.decode()
    have = {row[0] for row in client(server, database).execute("SHOW TABLES")}
    assert set(chs.all_tables()) <= have
    down = chserver.Server(tmp_path / "never-started")
    r = run_ks("ks-ingest", "--init-only", "--clickhouse", down.url(database), *spool)
    assert r.returncode == 1 and b"does not answer" in r.stderr
    assert b"Traceback" not in r.stderr


@needs_server
def test_a_database_of_an_older_kernelsight_gets_the_new_columns(server, database, tmp_path):
    """A store made before the cgroup columns (schema 8) takes a newer ks-ingest's rows:
    the missing columns are added, said once, and the rows land with their values."""
    spool = ["--spool-dir", str(tmp_path / "spool")]
    r = run_ks("ks-ingest", "--init-only", "--clickhouse", server.url(database), *spool)
    assert r.returncode == 0, r.stderr.decode()
    c = client(server, database)
    for table in ("sched_stats", "page_fault_stats"):      # as an older kernelsight made them
        c.execute(f"ALTER TABLE {table} DROP COLUMN cgroup")
    events = [{"type": "sched_stats", "timestamp": TS0 + i, "host": "h1", "interval_ns": 10**9,
               "pid": 40 + i, "comm": "db", "cgroup": f"/pod{i}", "runq_wait_ns": 1000 * i}
              for i in range(5)]
    r = run_ks("ks-ingest", "--clickhouse", server.url(database), *spool,
               str(write_ndjson(tmp_path / "new.ndjson", events)))
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert "added 2 columns" in err and "sched_stats.cgroup" in err, err
    got = c.execute("SELECT pid, cgroup FROM sched_stats FINAL ORDER BY pid")
    assert got == [(40 + i, f"/pod{i}") for i in range(5)]
    order = [name for (name, *_) in c.execute("DESCRIBE TABLE page_fault_stats")]
    assert order[:len(order) - len(chs.BATCH_COLUMNS)] == [col.name for col in ev.columns_of(ev.lookup("page_fault_stats"))]
    r = run_ks("ks-ingest", "--init-only", "--clickhouse", server.url(database), *spool)
    assert r.returncode == 0 and b"added" not in r.stderr, r.stderr
