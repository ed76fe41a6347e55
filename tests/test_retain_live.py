"""Retention next to a live ks-ingest: `ks-ingest --retain` drops old rows while it
writes, ks-retain runs beside a writing ks-ingest, every live row lands, and ks-query's
answers that read the per-minute rollups are the same before and after."""

from __future__ import annotations

import sqlite3
import subprocess
import time

import orjson
import pytest

from kernelsight.ingest import events as ev
from kernelsight.query import synthetic

NS = 1_000_000_000
ROLLED = [t for t in ev.TYPES if t.rollup]
# ks-query subcommands that answer whole minutes from the rollups
FROM_ROLLUPS = ["io", "rtt", "runqlat", "syscall-stats", "block", "network", "retransmits", "pagefaults"]
# ... and some whose tables have no rollup: their answers go with the raw rows
RAW_ONLY = ["memory", "cpu", "load", "tcp", "perf"]


def _exe(name: str) -> str:
    return synthetic.ingest_command().replace("ks-ingest", name)


def _lines(events) -> bytes:
    return b"".join(orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE) for e in events)


def _count(path, where="true", args=()) -> dict[str, int]:
    with sqlite3.connect(path, timeout=30) as c:
        return {t.table: c.execute(f"SELECT count(*) FROM {t.table} WHERE {where}", args).fetchone()[0]
                for t in ev.TYPES}


def _per_table(events) -> dict[str, int]:
    want = {t.table: 0 for t in ev.TYPES}
    for e in events:
        want[ev.lookup(e["type"]).table] += 1
    return want


def _old_rollups(path) -> dict:
    with sqlite3.connect(path, timeout=30) as c:
        return {t.rollup_table: sorted(c.execute(f"SELECT * FROM {t.rollup_table} WHERE host = 'testhost'"),
                                       key=repr) for t in ROLLED}


def _prefilled(tmp_path):
    """Ten minutes of rows that ended ten minutes ago."""
    start = (time.time_ns() // ev.ROLLUP_NS - 20) * ev.ROLLUP_NS
    path = tmp_path / "ks.db"
    synthetic.write_events(path, synthetic.scenario(start, 600).events)
    return path, start


@pytest.fixture
def live_ingest():
    procs = []

    def start(*args):
        p = subprocess.Popen([_exe("ks-ingest"), *map(str, args)], stdin=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        procs.append(p)
        return p
    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def _late_minutes(path) -> dict[str, int]:
    """Rows of host latehost per rolled-up table, as its minutes count them."""
    with sqlite3.connect(path, timeout=30) as c:
        return {t.table: c.execute(f"SELECT coalesce(sum(rows), 0) FROM {t.rollup_table} "
                                   "WHERE host = 'latehost'").fetchone()[0] for t in ROLLED}


def _wait_gone(path, where) -> None:
    for _ in range(300):                       # polled, no time asserted
        if not sum(_count(path, where).values()):
            return
        time.sleep(0.1)


def test_ingest_retain_drops_old_rows_while_writing(tmp_path, live_ingest):
    """The pre-filled old rows go at start; old rows that arrive through the same
    ingest half-way (a late replay) go at a later run, while live rows keep landing."""
    path, _ = _prefilled(tmp_path)
    rollups = _old_rollups(path)
    now = time.time_ns() // NS * NS
    live = synthetic.scenario(now, 60, host="livehost", seed=3).events
    late = synthetic.scenario(now - 1200 * NS, 30, host="latehost", seed=5).events
    proc = live_ingest("--db-path", path, "--batch-size", "20", "--batch-timeout", "0.1",
                       "--retain", "raw=5m,every=1s")
    half = len(live) // 2
    proc.stdin.write(_lines(live[:half]))
    proc.stdin.flush()
    _wait_gone(path, "host = 'testhost'")
    proc.stdin.write(_lines(late))
    proc.stdin.flush()
    for _ in range(300):                       # the late rows land (their minutes say so) ...
        if _late_minutes(path) == {t.table: _per_table(late)[t.table] for t in ROLLED}:
            break
        time.sleep(0.1)
    _wait_gone(path, "host = 'latehost'")      # ... and a later run drops them
    assert proc.poll() is None                 # the ingest still running
    proc.stdin.write(_lines(live[half:]))
    proc.stdin.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err[-800:]
    assert err.count("retention: dropped") >= 2, err[-800:]
    assert _count(path, "host <> 'livehost'") == {t.table: 0 for t in ev.TYPES}
    assert _count(path, "host = 'livehost'") == _per_table(live)
    assert _old_rollups(path) == rollups
    assert _late_minutes(path) == {t.table: _per_table(late)[t.table] for t in ROLLED}   # their minutes stayed, every row counted


def test_ks_retain_archive_beside_a_live_ingest(tmp_path, live_ingest):
    """ks-retain --archive while ks-ingest writes: every live row lands in the source,
    every old row is in exactly one of the two files."""
    path, _ = _prefilled(tmp_path)
    arc = tmp_path / "archive.db"
    old, rollups = _count(path), _old_rollups(path)
    live = synthetic.scenario(time.time_ns() // NS * NS, 120, host="livehost", seed=4).events
    proc = live_ingest("--db-path", path, "--batch-size", "5", "--batch-timeout", "0.05")
    half = len(live) // 2
    proc.stdin.write(_lines(live[:half]))
    proc.stdin.flush()
    out = subprocess.run([_exe("ks-retain"), "--db-path", str(path), "--raw", "5m", "--archive", str(arc),
                          "--batch", "50"], capture_output=True, text=True, timeout=300)
    proc.stdin.write(_lines(live[half:]))
    proc.stdin.close()
    assert proc.wait(timeout=120) == 0, proc.stderr.read()[-800:]
    assert out.returncode == 0, out.stderr
    assert _count(path, "host = 'livehost'") == _per_table(live)
    assert _count(path, "host <> 'livehost'") == {t.table: 0 for t in ev.TYPES}
    assert _count(arc, "host <> 'livehost'") == old and _count(arc, "host = 'livehost'") == _per_table([])
    assert _old_rollups(path) == rollups


def test_ks_query_answers_from_rollups_are_unchanged(tmp_path):
    path, start = _prefilled(tmp_path)
    window = ["--db-path", str(path), "--since", str(start // NS), "--until", str(start // NS + 540),
              "--format", "json"]

    def answers():
        out = {}
        for cmd in FROM_ROLLUPS + RAW_ONLY:
            p = subprocess.run([_exe("ks-query"), cmd, *window], capture_output=True, text=True)
            assert p.returncode == 0, (cmd, p.stderr)
            out[cmd] = p.stdout
        return out

    before = answers()
    assert all(before.values())
    # every raw row of the window goes; the last minute's stay (an empty file is no answer)
    age = (time.time_ns() - start) // NS - 540
    out = subprocess.run([_exe("ks-retain"), "--db-path", str(path), "--raw", f"{age}s"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert not any(_count(path, "timestamp < ?", (start + 540 * NS,)).values()) and any(_count(path).values())
    after = answers()
    assert [c for c in FROM_ROLLUPS if after[c] != before[c]] == []
    assert [c for c in RAW_ONLY if after[c] == before[c]] == []    # the rows did go


@pytest.mark.parametrize("args, says", [
    (["--retain", "raw=7d,keep=1"], "expected KEY=VALUE"),
    (["--retain", "raw=seven days"], "not an age"),
    (["--retain", "every=5m"], "nothing would go"),
    (["--retain", "raw=7d", "--clickhouse", "clickhouse://127.0.0.1:1/x"], "--clickhouse-ttl"),
])
def test_ingest_retain_bad_spec_is_usage(tmp_path, args, says):
    p = subprocess.run([_exe("ks-ingest"), "--db-path", str(tmp_path / "ks.db"), *args],
                       input=b"", capture_output=True)
    assert p.returncode == 2 and says in p.stderr.decode(), p.stderr
    assert not (tmp_path / "ks.db").exists()     # told before anything opened
