"""The query library on a database filled by ks-ingest from generated events whose
answers are known: raw samples sorted by hand are the truth, not the histogram code."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import time
from datetime import datetime

import pytest

from kernelsight.query import (
    Database,
    QueryError,
    correlate_rtt_with_cpu,
    correlate_syscalls_with_memory,
    query_block_io,
    query_cpu_usage,
    query_io_latency_percentiles,
    query_load,
    query_long_runqueue_waits,
    query_memory_usage,
    query_network_bandwidth,
    query_page_faults,
    query_perf_counters,
    query_rtt_by_node,
    query_runqueue_latency,
    query_syscall_stats,
    query_syscalls_by_timerange,
    query_tables,
    query_tcp_connections,
    query_tcp_retransmits,
    query_top_processes_by_syscall_latency,
    summary,
)
from kernelsight.query import synthetic, times
from kernelsight.query.common import counter_deltas

NS = 1_000_000_000
SECONDS = 600
BUCKET_ERROR = 1 / 16  # the histogram scheme: a bucket is at most 1/16 of its lower bound wide


def exact_percentile(values, q):
    """Nearest-rank percentile of raw samples: the truth the merged histogram must match."""
    s = sorted(values)
    k = max(1, math.ceil(q / 100 * len(s)))
    return s[k - 1]


def close(got, want, rel=BUCKET_ERROR + 0.01):
    return got is not None and abs(got - want) <= rel * want


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    start = (time.time_ns() // NS - SECONDS - 5) * NS
    sc = synthetic.scenario(start, SECONDS)
    path = tmp_path_factory.mktemp("query") / "ks.db"
    how = synthetic.write_events(path, sc.events)
    return {"path": path, "sc": sc, "start": start, "end": start + SECONDS * NS, "how": how}


def test_filled_through_ks_ingest(data):
    assert data["how"] == "ks-ingest"
    assert synthetic.count_rows(data["path"], "rtt_stats") == 3 * SECONDS


def test_rtt_percentiles_are_merged_from_buckets_not_averaged(data):
    sc, path = data["sc"], data["path"]
    rows = {r["node"]: r for r in query_rtt_by_node(path, data["start"], data["end"])}
    raw = sc.samples(("rtt", "alpha"))
    assert rows["alpha"]["samples"] == len(raw)
    for q in (50, 90, 99):
        assert close(rows["alpha"][f"p{q}_ms"] * 1000, exact_percentile(raw, q)), q
    # alpha is ten times slower for the second half: the mean of per-interval p99s
    # (what averaging stored percentiles gives) is far from the window's true p99.
    conn = sqlite3.connect(path)
    avg_p99 = conn.execute("SELECT avg(p99_us) FROM rtt_stats WHERE node = 'alpha'").fetchone()[0]
    assert abs(avg_p99 - exact_percentile(raw, 99)) > 0.3 * exact_percentile(raw, 99)


def test_rtt_window_sees_only_its_rows(data):
    sc = data["sc"]
    mid = data["start"] + SECONDS // 2 * NS
    first = {r["node"]: r for r in query_rtt_by_node(data["path"], data["start"], mid)}
    raw = sc.samples(("rtt", "alpha"), data["start"], mid)
    assert first["alpha"]["samples"] == len(raw)
    assert close(first["alpha"]["p99_ms"] * 1000, exact_percentile(raw, 99))
    assert first["alpha"]["drops"] == 0 and first["beta"]["retransmits"] == 0


def test_rtt_busiest_nodes_first_and_limit(data):
    rows = query_rtt_by_node(data["path"], data["start"], data["end"], limit=2)
    assert [r["node"] for r in rows] == ["alpha", "beta"]  # 50, 25 and 16 samples a second


def test_io_latency_percentiles_per_device_and_op(data):
    sc = data["sc"]
    rows = query_io_latency_percentiles(data["path"], data["start"], data["end"])
    assert {r["device"] for r in rows} == {"vda", "vdb"}
    for r in rows:
        for op in ("read", "write"):
            raw = sc.samples(("io", r["device"], op))
            assert r[f"{op}_ops"] == len(raw)
            for q in (50, 95, 99):
                assert close(r[f"{op}_p{q}_us"], exact_percentile(raw, q)), (r["device"], op, q)
            assert r[f"{op}_max_us"] >= max(raw)


def test_io_latency_by_step(data):
    rows = query_io_latency_percentiles(data["path"], data["start"], data["end"], step=60, device="vda")
    assert len(rows) in (10, 11)  # 600 s in aligned minutes
    assert sum(r["read_ops"] for r in rows) == len(data["sc"].samples(("io", "vda", "read")))


def test_runqueue_latency_tail(data):
    raw = data["sc"].samples(("runq",))
    (row,) = query_runqueue_latency(data["path"], data["start"], data["end"])
    assert row["waits"] == len(raw)
    assert close(row["p50_us"], exact_percentile(raw, 50), rel=0.1)
    assert close(row["p99_us"], exact_percentile(raw, 99))
    assert row["mean_us"] == pytest.approx(sum(raw) / len(raw), rel=1e-3)


def test_page_faults_top_processes(data):
    rows = query_page_faults(data["path"], data["start"], data["end"])
    assert [r["comm"] for r in rows] == ["postgres", "java"]  # postgres has the major faults
    pg = rows[0]
    assert pg["minor"] == 40 * SECONDS and pg["major"] == SECONDS // 10
    assert pg["minor_per_s"] == pytest.approx(40, rel=0.01)
    assert close(pg["p99_us"], exact_percentile(data["sc"].samples(("pf", 100)), 99), rel=0.1)


def test_slow_syscalls_slowest_first_with_threshold(data):
    events = [e for e in data["sc"].events if e["type"] == "syscall"]
    want = sorted((e["latency_ns"] for e in events if e["latency_ns"] >= 50_000_000), reverse=True)
    rows = query_syscalls_by_timerange(data["path"], data["start"], data["end"], min_latency_ms=50, limit=1000)
    assert [r["latency_ms"] for r in rows] == [v / 1e6 for v in want]
    assert len(query_syscalls_by_timerange(data["path"], data["start"], data["end"], limit=7)) == 7
    # ISO 8601 with the offset, and the same instant as timestamp_ns
    assert all(datetime.fromisoformat(r["time"]).timestamp() == r["timestamp_ns"] // 10**6 / 1000
               for r in rows)


def test_top_processes_by_syscall_latency(data):
    events = [e for e in data["sc"].events if e["type"] == "syscall"]
    totals: dict = {}
    for e in events:
        totals[e["pid"]] = totals.get(e["pid"], 0) + e["latency_ns"]
    rows = query_top_processes_by_syscall_latency(data["path"], data["start"], data["end"], limit=5)
    assert [r["pid"] for r in rows] == sorted(totals, key=lambda p: -totals[p])
    top = rows[0]
    assert top["total_latency_ms"] == pytest.approx(totals[top["pid"]] / 1e6)
    assert top["top_syscall"] == "read" and top["comm"] == "slowpoke"


def test_syscall_stats_rates(data):
    rows = {r["syscall_name"]: r for r in query_syscall_stats(data["path"], data["start"], data["end"])}
    assert rows["read"]["calls"] == 1000 * SECONDS
    assert rows["read"]["calls_per_s"] == pytest.approx(1000, rel=0.01)
    assert list(rows)[0] == "futex"  # most total time first


def test_counter_deltas_treat_a_drop_as_a_reset():
    assert counter_deltas([10, 20, 5, 15, None, 25]) == [10, 5, 10, 10]


def test_network_rates_across_a_counter_reset(data):
    (row,) = query_network_bandwidth(data["path"], data["start"], data["end"])
    # 125 kB/s received, 25 kB/s sent, with a reset half-way: never negative, never a spike
    assert row["rx_bytes_per_s"] == pytest.approx(125_000, rel=0.01)
    assert row["tx_bytes_per_s"] == pytest.approx(25_000, rel=0.01)


def test_block_io_rates_across_a_counter_reset(data):
    (row,) = query_block_io(data["path"], data["start"], data["end"])
    assert row["read_iops"] == pytest.approx(10, rel=0.01)
    assert row["write_bytes_per_s"] == pytest.approx(30 * 16 * 512, rel=0.01)
    assert row["read_avg_ms"] == pytest.approx(2.0) and row["write_avg_ms"] == pytest.approx(3.0)
    assert row["util_pct"] == pytest.approx(20.0, rel=0.01)


def test_tcp_retransmit_rates_across_a_counter_reset(data):
    rows = query_tcp_retransmits(data["path"], data["start"], data["end"], step=SECONDS * 2)
    assert sum(1 for r in rows) >= 1
    for r in rows:
        assert r["retrans_per_s"] == pytest.approx(2.0, rel=0.01)
        assert r["retrans_pct"] == pytest.approx(0.2, rel=0.01)


def test_tcp_connections_and_memory_per_step(data):
    rows = query_tcp_connections(data["path"], data["start"], data["end"], step="5m")
    assert max(r["established"] for r in rows) == 14
    mem = query_memory_usage(data["path"], data["start"], data["end"], step=SECONDS * 2)
    assert max(r["used_peak_pct"] for r in mem) == pytest.approx(75.0)
    assert max(r["psi_some_avg10_max_pct"] for r in mem) == pytest.approx(5.0)


def test_perf_counter_rate(data):
    (row,) = query_perf_counters(data["path"], data["start"], data["end"])
    assert row["counter"] == "context-switches" and row["per_s"] == pytest.approx(5000)


def test_slow_syscalls_meet_memory_pressure(data):
    rows = {r["comm"]: r for r in correlate_syscalls_with_memory(data["path"], data["start"], data["end"])}
    # slowpoke is slow only while available memory is down to 2 GB (window mean: 4 GB)
    assert rows["slowpoke"]["avg_mem_available_kb"] == pytest.approx(2_000_000)
    assert rows["slowpoke"]["available_vs_window_kb"] == pytest.approx(-2_000_000, rel=0.01)
    assert abs(rows["db"]["available_vs_window_kb"]) < 50_000  # db is slow all along
    assert rows["slowpoke"]["matched"] == rows["slowpoke"]["slow_calls"]


def test_rtt_against_cpu_per_step(data):
    rows = correlate_rtt_with_cpu(data["path"], data["start"], data["end"], step=30)
    assert len(rows) >= 19
    full = [r for r in rows if r["rtt_samples"] and r["rtt_samples"] >= 30 * 90]
    # steps wholly in one phase (a step across the switch mixes both)
    slow = [r for r in full if r["cpu_busy_pct"] > 79.9]
    calm = [r for r in full if r["cpu_busy_peak_pct"] < 20.1]
    assert slow and calm
    assert min(r["rtt_p99_ms"] for r in slow) > 2 * max(r["rtt_p99_ms"] for r in calm)


def test_tables_count_every_row(data):
    rows = {r["table"]: r for r in query_tables(data["path"])}
    assert rows["rtt_stats"]["rows"] == 3 * SECONDS
    assert rows["tcp_events"]["rows"] == 0 and rows["tcp_events"]["producer"] == "ks-rtt"


def test_summary_covers_every_table_with_data(data):
    rows = summary(data["path"], data["start"], data["end"])
    sections = {r["section"] for r in rows}
    for s in ("Slow syscalls", "Run-queue latency", "Block I/O latency", "Page faults", "TCP RTT",
              "Network", "Memory", "CPU", "perf counters"):
        assert s in sections


def test_accepts_datetimes_and_the_documents_database_manager(data):
    from kernelsight.query import DatabaseManager

    db = DatabaseManager(str(data["path"]))
    end = datetime.now()
    rows = query_syscalls_by_timerange(db, datetime.fromtimestamp(data["start"] / NS), end,
                                       min_latency_ms=50, limit=10)
    assert rows and rows[0]["latency_ms"] >= 50
    db.close()


def test_database_is_read_only(data):
    with Database(data["path"]) as db:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            db.conn.execute("DELETE FROM rtt_stats")


def test_missing_database_is_a_clear_error(tmp_path):
    with pytest.raises(QueryError, match="no database at"):
        Database(tmp_path / "nope.db")


def test_times_accepts_what_people_write():
    now = 1_800_000_000 * NS
    assert times.to_ns("1h", now=now) == now - 3600 * NS
    assert times.to_ns("90s", now=now) == now - 90 * NS
    assert times.to_ns("1795455835", now=now) == 1795455835 * NS
    assert times.to_ns("2026-11-23T17:43:55Z", now=now) == 1795455835 * NS
    assert times.to_ns("2026-11-23T18:43:55+01:00", now=now) == 1795455835 * NS
    with pytest.raises(times.BadTime, match="cannot read the time"):
        times.to_ns("yesterday-ish", now=now)
    with pytest.raises(times.BadTime, match="empty"):
        times.window("1h", "2h", now=now)


def test_cpu_load_and_long_waits(data):
    cpu = query_cpu_usage(data["path"], data["start"], data["end"], step=SECONDS * 2)
    assert sum(r["busy_pct"] * r["samples"] for r in cpu) / sum(r["samples"] for r in cpu) == pytest.approx(50, rel=1e-3)
    assert max(r["busy_peak_pct"] for r in cpu) == pytest.approx(80)
    load = query_load(data["path"], data["start"], data["end"], step=SECONDS * 2)
    assert max(r["load_1min_peak"] for r in load) == 4.0
    (w,) = query_long_runqueue_waits(data["path"], data["start"], data["end"])
    waits = [e["latency_ns"] for e in data["sc"].events if e["type"] == "sched"]
    assert (w["comm"], w["long_waits"], w["max_wait_ms"]) == ("batch", len(waits), max(waits) / 1e6)
    assert w["total_wait_ms"] == pytest.approx(sum(waits) / 1e6)


def test_legacy_io_rows_without_histograms_give_upper_bounds(tmp_path):
    """The original tracer stored only per-interval percentiles: the answer says so
    and is the largest interval value, a true bound (never an average)."""
    import orjson
    from conftest import FIXTURES

    lines = (FIXTURES / "io_latency_tracer.ndjson").read_bytes().splitlines()
    rows = [orjson.loads(line) for line in lines if line.strip()]
    path = tmp_path / "legacy.db"
    p = subprocess.run([synthetic.ingest_command(), "--db-path", str(path)],
                                     input=b"\n".join(lines), capture_output=True)
    assert p.returncode == 0, p.stderr
    (row,) = query_io_latency_percentiles(path, "2000-01-01", "now")
    assert row["percentiles"].startswith("upper bounds")
    assert row["write_ops"] == sum(r["write_count"] for r in rows)
    assert row["write_p99_us"] == max(r["write_p99_us"] for r in rows if r["write_count"])
    assert row["read_p99_us"] is None  # no reads at all
