"""ks-ingest stores the original KernelSight tools' recorded output, and ks events,
in the right tables with the right values (checked against the fixture files read
with the stdlib json module, and against /proc/stat for the boot time)."""

from __future__ import annotations

import json
import socket
import sqlite3

import pytest

from conftest import FIXTURES, rows, run_ks

from kernelsight.ingest import events as ev

FIXTURE_FILES = sorted(FIXTURES.glob("*.ndjson"))


def btime_ns() -> int:
    for line in open("/proc/stat"):
        if line.startswith("btime "):
            return int(line.split()[1]) * 10**9
    raise AssertionError("no btime in /proc/stat")


def fixture_lines(name: str) -> list[dict]:
    return [json.loads(x) for x in (FIXTURES / name).read_text().splitlines() if x.strip()]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """All fixture files ingested once, through stdin, with a reject file."""
    tmp = tmp_path_factory.mktemp("fixtures")
    db, rej = tmp / "ks.db", tmp / "rejects.ndjson"
    data = b"".join(f.read_bytes() for f in FIXTURE_FILES)
    r = run_ks("ks-ingest", "--db-path", str(db), "--reject-file", str(rej), input=data)
    assert r.returncode == 0, r.stderr.decode()
    return db, rej, r.stderr.decode()


def count(db, table):
    return rows(db, f"SELECT count(*) AS n FROM {table}")[0]["n"]


def test_every_fixture_line_lands_with_no_reject(loaded):
    db, rej, stderr = loaded
    total = sum(len(fixture_lines(f.name)) for f in FIXTURE_FILES)
    assert not rej.exists() or rej.read_text() == ""
    assert f"{total} lines read, {total} rows stored" in stderr
    assert "0 rejected, 0 unknown" in stderr
    stored = sum(count(db, t.table) for t in ev.TYPES)
    assert stored == total
    assert count(db, ev.UNKNOWN_TABLE) == 0


def test_lines_land_in_the_table_of_their_kind(loaded):
    db, _, _ = loaded
    scraper = fixture_lines("scraper_daemon.ndjson")
    by_type = {}
    for e in scraper:
        by_type[e["type"]] = by_type.get(e["type"], 0) + 1
    generated = fixture_lines("generate_test_data.ndjson")
    gen_syscalls = sum(1 for e in generated if "syscall_name" in e)
    gen_io = sum(1 for e in generated if "read_p50_us" in e)
    assert count(db, "syscall_events") == len(fixture_lines("syscall_tracer.ndjson")) + gen_syscalls
    assert count(db, "io_latency_stats") == len(fixture_lines("io_latency_tracer.ndjson")) + gen_io
    assert count(db, "sched_stats") == len(fixture_lines("sched_tracer.ndjson"))
    assert count(db, "sched_events") == 0
    assert count(db, "block_stats") == by_type["blockstats"]
    assert count(db, "tcp_retransmit_stats") == by_type["tcp_retransmits"]
    assert count(db, "memory_metrics") == by_type["meminfo"] + sum(1 for e in generated if "mem_total_kb" in e)


def test_boot_relative_syscall_timestamp_becomes_wall_clock(loaded):
    db, _, stderr = loaded
    first = fixture_lines("syscall_tracer.ndjson")[0]
    assert first["timestamp"] < 10**15          # really counted since boot
    (row,) = rows(db, "SELECT * FROM syscall_events WHERE pid = ? AND arg0 = ? AND latency_ns = ?",
                  first["pid"], first["arg0"], round(first["latency_ms"] * 1e6))
    boot = btime_ns()   # whole seconds, truncated
    assert boot - 2 * 10**9 <= row["timestamp"] - first["timestamp"] <= boot + 2 * 10**9
    assert row["syscall_nr"] == first["syscall"]
    assert row["is_error"] == 1 and row["ret_value"] == first["ret_value"]
    assert row["comm"] == first["comm"][:16]
    assert row["host"] == socket.gethostname()
    # Said once.  Match the conversion message itself: on a machine booted less than the
    # fixture's ~1050 s ago, the future-timestamp warning also names "boot" times.
    assert stderr.count("timestamps counted since boot were moved") == 1


def test_zero_ticks_stay_zero_and_devices_are_kept(loaded):
    db, _, _ = loaded
    blocks = [e for e in fixture_lines("scraper_daemon.ndjson") if e["type"] == "blockstats"]
    for e in blocks:
        (row,) = rows(db, "SELECT * FROM block_stats WHERE device_name = ? AND timestamp = ?",
                      e["device"], e["timestamp"])
        for key in ("read_ticks", "write_ticks", "io_ticks", "time_in_queue"):
            assert row[key] == e["data"][f"{key}_ms"]
            assert row[key] is not None
    assert any(e["data"]["read_ticks_ms"] == 0 for e in blocks)
    nets = [e for e in fixture_lines("scraper_daemon.ndjson") if e["type"] == "net_interface"]
    names = {r["interface_name"] for r in rows(db, "SELECT interface_name FROM network_interface_stats")}
    assert {e["interface"] for e in nets} <= names
    assert None not in names


def test_sched_time_bucket_becomes_epoch_and_aggregates_are_kept(loaded):
    db, _, _ = loaded
    boot = btime_ns()
    for e in fixture_lines("sched_tracer.ndjson"):
        (row,) = rows(db, "SELECT * FROM sched_stats WHERE pid = ? AND context_switches = ? AND "
                      "abs(cpu_time_ms - ?) < 1e-9", e["pid"], e["context_switches"], e["cpu_time_ms"])
        expect = boot + e["time_bucket"] * 10**9
        assert abs(row["timestamp"] - expect) <= 2 * 10**9
        assert row["comm"] == e["comm"] and row["interval_ns"] == 10**9
        assert row["voluntary_switches"] == e["voluntary_switches"]


def test_io_percentiles_stay_microseconds(loaded):
    db, _, _ = loaded
    for e in fixture_lines("io_latency_tracer.ndjson"):
        (row,) = rows(db, "SELECT * FROM io_latency_stats WHERE timestamp = ?", e["timestamp"])
        assert row["write_p95_us"] == e["write_p95_us"]
        assert row["write_max_us"] == e["write_max_us"]
        assert row["write_bytes"] == e["write_bytes"]
        assert row["interval_ns"] == e["interval_seconds"] * 10**9


def test_generated_lines_without_type_are_identified(loaded):
    db, _, _ = loaded
    gen = fixture_lines("generate_test_data.ndjson")
    load = next(e for e in gen if "load_1min" in e)
    got = rows(db, "SELECT * FROM load_metrics WHERE timestamp = ? AND last_pid = ?",
               load["timestamp"], load["last_pid"])
    assert len(got) == 1 and got[0]["load_1min"] == load["load_1min"]
    tcp = next(e for e in gen if "time_wait" in e)
    got = rows(db, "SELECT * FROM tcp_stats WHERE timestamp = ? AND established = ? AND time_wait = ?",
               tcp["timestamp"], tcp["established"], tcp["time_wait"])
    assert len(got) >= 1


def test_original_page_fault_is_normalized(db_path):
    line = {"timestamp": 1795455835925270528, "pid": 7, "tid": 8, "comm": "a-very-long-thread-name-indeed",
            "address": "0xffff888012345000", "latency_ns": 1500, "latency_us": 1.5, "cpu": 1,
            "is_major": True, "is_write": False, "is_kernel": True, "is_instruction": False,
            "type": "pagefault"}
    r = run_ks("ks-ingest", "--db-path", str(db_path), input=json.dumps(line) + "\n")
    assert r.returncode == 0, r.stderr
    (row,) = rows(db_path, "SELECT * FROM page_fault_events")
    assert row["address"] & 0xFFFFFFFFFFFFFFFF == 0xFFFF888012345000
    assert (row["fault_type"], row["access_type"], row["user_mode"]) == ("major", "read", 0)
    assert row["latency_ns"] == 1500
    assert row["comm"] == "a-very-long-thre" and len(row["comm"]) == 16


def test_ks_events_with_histograms(db_path):
    ev_line = {"type": "runqlat", "timestamp": 1795455835925270528, "host": "web1", "interval_ns": 10**9,
               "cpu": -1, "sum_us": 12.5, "count": 3, "p50_us": 2.0, "buckets": [[1, 2], [40, 1]]}
    latency = {"type": "syscall", "timestamp": 1795455835925270528, "pid": 1, "latency_us": 12000.5}
    r = run_ks("ks-ingest", "--db-path", str(db_path),
               input=json.dumps(ev_line) + "\n" + json.dumps(latency) + "\n")
    assert r.returncode == 0, r.stderr
    (row,) = rows(db_path, "SELECT * FROM runqlat_stats")
    assert row["host"] == "web1"
    assert json.loads(row["buckets"]) == [[1, 2], [40, 1]]
    assert " " not in row["buckets"]                      # compact JSON text
    (sc,) = rows(db_path, "SELECT latency_ns FROM syscall_events")
    assert sc["latency_ns"] == 12000500


def test_init_only_creates_every_table(db_path):
    nested = db_path.parent / "a" / "b" / "ks.db"
    r = run_ks("ks-ingest", "--init-only", "--db-path", str(nested))
    assert r.returncode == 0, r.stderr
    tables = {r["name"] for r in rows(nested, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {t.table for t in ev.TYPES} | {ev.UNKNOWN_TABLE, "schema_version"} <= tables
    assert rows(nested, "PRAGMA journal_mode")[0][0] == "wal"


def test_older_schema_is_upgraded_in_place(db_path):
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE memory_metrics (id INTEGER PRIMARY KEY, timestamp INTEGER NOT NULL, "
                 "mem_total_kb INTEGER, mem_free_kb INTEGER)")
    conn.execute("INSERT INTO memory_metrics (timestamp, mem_total_kb, mem_free_kb) VALUES (1, 100, 50)")
    conn.commit()
    conn.close()
    line = {"type": "memory", "timestamp": 1795455835925270528, "host": "h", "mem_total_kb": 200,
            "dirty_kb": 3}
    r = run_ks("ks-ingest", "--db-path", str(db_path), input=json.dumps(line) + "\n")
    assert r.returncode == 0, r.stderr
    assert "added column memory_metrics.host" in r.stderr.decode()
    got = rows(db_path, "SELECT timestamp, host, mem_total_kb, mem_free_kb, dirty_kb FROM memory_metrics ORDER BY id")
    assert [tuple(x) for x in got] == [(1, None, 100, 50, None), (1795455835925270528, "h", 200, None, 3)]
    assert rows(db_path, "SELECT max(version) FROM schema_version")[0][0] == ev.SCHEMA_VERSION


def test_files_as_arguments_and_line_numbers(tmp_path, db_path):
    a, b = tmp_path / "a.ndjson", tmp_path / "b.ndjson"
    good = json.dumps({"type": "load", "timestamp": 1795455835925270528, "load_1min": 1.5})
    a.write_text(good + "\n" + good + "\n")
    b.write_text(good + "\n{oops\n" + good)   # no final newline
    rej = tmp_path / "rej.ndjson"
    r = run_ks("ks-ingest", "--db-path", str(db_path), "--reject-file", str(rej), str(a), str(b))
    assert r.returncode == 0
    assert count(db_path, "load_metrics") == 4
    (record,) = [json.loads(x) for x in rej.read_text().splitlines()]
    assert (record["source"], record["line"], record["raw"]) == (str(b), 2, "{oops")
    assert f"{b}:2: rejected" in r.stderr.decode()


def test_missing_file_is_a_clear_error(tmp_path, db_path):
    r = run_ks("ks-ingest", "--db-path", str(db_path), str(tmp_path / "nope.ndjson"))
    assert r.returncode == 2
    err = r.stderr.decode()
    assert "cannot read" in err and "No such file" in err and "Traceback" not in err


def test_help_teaches_with_a_pipeline():
    r = run_ks("ks-ingest", "--help")
    out = r.stdout.decode()
    assert r.returncode == 0
    for flag in ("--db-path", "--batch-size", "--batch-timeout", "--init-only", "--reject-file", "--progress"):
        assert flag in out
    assert "| ks-ingest" in out


def test_verbose_counts_dropped_fields(db_path):
    data = (FIXTURES / "syscall_tracer.ndjson").read_bytes()
    r = run_ks("ks-ingest", "--verbose", "--db-path", str(db_path), input=data)
    assert r.returncode == 0
    n = len(data.splitlines())
    assert f"unknown fields dropped: time_str ({n})" in r.stderr.decode()


def test_progress_shows_a_live_rate_on_a_terminal(db_path):
    import os
    import pty
    import subprocess
    import time

    from conftest import ks

    master, slave = pty.openpty()
    p = subprocess.Popen([ks("ks-ingest"), "--progress", "--db-path", str(db_path)],
                         stdin=subprocess.PIPE, stderr=slave)
    os.close(slave)
    line = json.dumps({"type": "load", "timestamp": 1795455835925270528, "load_1min": 1}).encode() + b"\n"
    p.stdin.write(line * 3)
    p.stdin.flush()
    time.sleep(1.5)
    p.stdin.close()
    assert p.wait(10) == 0
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    text = out.decode()
    assert "\r3 lines, " in text and "lines/s" in text
    # without a terminal, --progress stays quiet
    r = run_ks("ks-ingest", "--progress", "--db-path", str(db_path), input=line)
    assert b"\r" not in r.stderr


def test_real_collector_pipeline(db_path):
    """ks-procfs --once | ks-ingest: every event of the real collector lands as printed."""
    import subprocess

    from conftest import BIN

    if not (BIN / "ks-procfs").exists():
        pytest.skip("ks-procfs not installed yet")
    out = subprocess.run([str(BIN / "ks-procfs"), "--once"], capture_output=True, timeout=60)
    if out.returncode != 0 or not out.stdout:
        pytest.skip(f"ks-procfs --once failed: {out.stderr.decode()[-200:]}")
    events = [json.loads(x) for x in out.stdout.splitlines()]
    r = run_ks("ks-ingest", "--db-path", str(db_path), input=out.stdout)
    assert r.returncode == 0 and "0 rejected, 0 unknown" in r.stderr.decode(), r.stderr
    for e in events:
        t = ev.lookup(e["type"])
        cols = [c for c in e if c != "type"]
        where = " AND ".join(f"{c} IS ?" for c in cols)
        got = rows(db_path, f"SELECT count(*) FROM {t.table} WHERE {where}", *[e[c] for c in cols])
        assert got[0][0] >= 1, e
