"""ks-query's output as people and tools read it: tables that fit 80 columns with
human units, a summary folded between words, and json/csv rows whose times parse
(ISO 8601 with offset) and carry timestamp_ns, checked against the database."""

from __future__ import annotations

import csv
import io
import os
import re
import sqlite3
import time
from datetime import datetime

import orjson
import pytest

from conftest import run_ks
from kernelsight.query import synthetic

NS = 1_000_000_000
# Every subcommand over a window (sql answers the user's own SELECT: its columns are theirs).
SUBCOMMANDS = ["summary", "tables", "hosts", "syscalls", "syscall-procs", "syscall-stats", "io", "block",
               "memory", "network", "tcp", "retransmits", "rtt", "runqlat", "sched-procs", "sched-waits",
               "cpu", "load", "pagefaults", "perf", "correlate-memory", "correlate-rtt"]
TIME_FIELDS = ("time", "first", "last", "newest", "window_start")


def _sched_stats(start: int) -> list[dict]:
    """ks-sched --per-process rows (the synthetic scenario has none)."""
    return [{"type": "sched_stats", "timestamp": start + (i + 1) * NS, "host": "testhost",
             "interval_ns": NS, "pid": pid, "comm": comm, "context_switches": 10, "voluntary_switches": 5,
             "involuntary_switches": 5, "wakeups": 5, "cpu_time_ms": 100.0, "avg_timeslice_us": 10.0,
             "runq_wait_ns": wait, "runq_waits": 10}
            for i in range(30) for pid, comm, wait in ((500, "busy", 3_000_000), (501, "idle", 100_000))]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    start = (time.time_ns() // NS - 305) * NS
    sc = synthetic.scenario(start, 300, seed=7)
    path = tmp_path_factory.mktemp("output") / "ks.db"
    synthetic.write_events(path, sc.events + _sched_stats(start))
    return path


def q(db, *args, env=None):
    """ks-query in a pipe (as cron or `| less` runs it), with COLUMNS unset unless given."""
    full = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | (env or {})
    p = run_ks("ks-query", *args, "--db-path", str(db), env=full)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode(), p.stderr.decode()


@pytest.mark.parametrize("cmd", SUBCOMMANDS)
def test_every_table_fits_80_columns_and_says_what_it_left_out(db, cmd):
    out, err = q(db, cmd, "-f", "table")
    lines = out.splitlines()
    assert lines, cmd
    too_wide = [line for line in lines if len(line) > 80]
    assert not too_wide, (cmd, too_wide)
    if cmd == "summary":
        return
    wide, _ = q(db, cmd, "-f", "table", "--wide")
    dropped = len(wide.splitlines()[0].split()) - len(lines[0].split())
    if dropped:
        # the note names how many, and how to see them all
        assert re.search(rf"\b{dropped} columns? left out to fit 80 characters", err), err
        assert "--wide" in err
    else:
        assert "left out" not in err


def test_the_width_follows_COLUMNS(db):
    out, err = q(db, "io", "-f", "table", env={"COLUMNS": "120"})
    assert max(map(len, out.splitlines())) <= 120
    narrow, _ = q(db, "io", "-f", "table")
    assert len(out.splitlines()[0].split()) > len(narrow.splitlines()[0].split())


def _number(text: str) -> float:
    """``81.9 KB/s`` -> 81900.0, ``12.3 ms`` -> 0.0123 s: the table's human units undone."""
    m = re.fullmatch(r"([\d,.]+) ?(B|KB|MB|GB|µs|ms|s)(/s)?", text)
    assert m, text
    scale = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "µs": 1e-6, "ms": 1e-3, "s": 1}[m[2]]
    return float(m[1].replace(",", "")) * scale


def _table(text: str) -> list[dict]:
    head, rule, *body = text.splitlines()
    spans = [(m.start(), m.end()) for m in re.finditer(r"-+", rule)]
    cut = lambda line: [line[a:b + 1].strip() if i == len(spans) - 1 else line[a:spans[i + 1][0]].strip()  # noqa: E731
                        for i, (a, b) in enumerate(spans)]
    return [dict(zip(cut(head), cut(line))) for line in body]


def test_tables_show_human_units_json_keeps_raw_numbers(db):
    raw = [orjson.loads(line) for line in q(db, "block", "-f", "json")[0].splitlines()]
    shown = _table(q(db, "block", "-f", "table", "--wide")[0])
    assert len(raw) == len(shown)
    for r, s in zip(raw, shown):
        assert isinstance(r["read_bytes_per_s"], float) and isinstance(r["read_avg_ms"], float)
        assert s["read_bytes/s"].endswith("B/s")
        assert _number(s["read_bytes/s"]) == pytest.approx(r["read_bytes_per_s"], rel=0.001)
        assert _number(s["read_avg"]) == pytest.approx(r["read_avg_ms"] / 1000, rel=0.01)
        assert s["util%"].endswith("%")
    rtt = _table(q(db, "rtt", "-f", "table", "--wide")[0])
    raw = [orjson.loads(line) for line in q(db, "rtt", "-f", "json")[0].splitlines()]
    assert [_number(s["p99"]) for s in rtt] == pytest.approx([r["p99_ms"] / 1000 for r in raw], rel=0.01)


def test_summary_folds_between_words(db):
    until = time.time_ns() // NS   # one window for both (the title names both ends)
    window = ("--since", str(until - 3600), "--until", str(until))
    narrow, _ = q(db, "summary", "-f", "table", *window)
    wide, _ = q(db, "summary", "-f", "table", "--wide", *window)
    assert max(map(len, wide.splitlines())) > 80   # there is something to fold
    assert narrow.split() == wide.split()          # every word whole, in the same order
    assert max(map(len, narrow.splitlines())) <= 80


def _first_timestamp(db, table: str, cond: str = "1", params=()) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT min(timestamp) FROM {table} WHERE {cond}", params).fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize("cmd", SUBCOMMANDS)
def test_json_rows_carry_iso_times_and_timestamp_ns(db, cmd):
    rows = [orjson.loads(line) for line in q(db, cmd, "-f", "json")[0].splitlines()]
    assert rows
    for r in rows:
        if cmd == "tables" and r["first"] is None:   # a table without rows: no time to give
            assert r["timestamp_ns"] is None and "timestamp_ns" in r
            continue
        assert isinstance(r["timestamp_ns"], int), (cmd, r)
        stamps = [f for f in TIME_FIELDS if r.get(f) is not None]
        assert stamps, (cmd, r)
        for f in stamps:
            dt = datetime.fromisoformat(r[f])
            assert dt.utcoffset() is not None, (cmd, f, r[f])   # an offset, not a zone name
        t = r.get("time") or r.get("first") or r.get("newest") or r["window_start"]
        assert datetime.fromisoformat(t).timestamp() == r["timestamp_ns"] // NS


def test_a_whole_window_row_is_stamped_with_its_first_data(db):
    # against the database itself: the first row of each key in the window
    for r in map(orjson.loads, q(db, "block", "-f", "json", "--since", "1h")[0].splitlines()):
        assert r["timestamp_ns"] == _first_timestamp(db, "block_stats", "device_name = ?", [r["device"]])
    for r in map(orjson.loads, q(db, "sched-procs", "-f", "json")[0].splitlines()):
        assert r["timestamp_ns"] == _first_timestamp(db, "sched_stats", "pid = ?", [r["pid"]])
    (io_row, *_) = map(orjson.loads, q(db, "io", "-f", "json", "--device", "vda")[0].splitlines())
    assert io_row["timestamp_ns"] == _first_timestamp(db, "io_latency_stats", "device = 'vda'")
    summary = [orjson.loads(line) for line in q(db, "summary", "-f", "json")[0].splitlines()]
    assert len({r["window_start"] for r in summary}) == 1


def test_csv_times_and_booleans_for_tools(db):
    out, _ = q(db, "syscalls", "-f", "csv", "-n", "1000")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["is_error"] for r in rows} <= {"true", "false"} and rows
    for r in rows:
        assert datetime.fromisoformat(r["time"]).timestamp() == pytest.approx(int(r["timestamp_ns"]) / NS,
                                                                             abs=0.001)
