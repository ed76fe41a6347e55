"""ks-ingest --resume (issue 17 item 15): after kill -9 mid-file, every line stored once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time

from conftest import ks, rows

N = 300_000


def write_lines(path, n: int = N, bad_every: int = 0) -> None:
    t0 = time.time_ns()
    with open(path, "w") as f:
        for i in range(n):
            if bad_every and i % bad_every == 0:
                f.write("{not json\n")
            else:
                f.write(json.dumps({"type": "load", "timestamp": t0 + i, "load_1min": 1, "last_pid": i}) + "\n")


def committed(db) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute("SELECT lines FROM ingest_sources").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return 0
    return row[0] if row else 0


def kill_mid_file(db, src, at_least: int) -> None:
    """kill -9 ks-ingest once it has committed ``at_least`` lines; its writer process
    then finishes the job in flight and ends (its input closed): waited for, so the
    database holds all it will."""
    p = subprocess.Popen([ks("ks-ingest"), "--db-path", str(db), str(src)], stderr=subprocess.DEVNULL)
    writers: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while committed(db) < at_least and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        try:
            with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                writers = f.read().split()
        except OSError:
            pass      # it has ended: the test says it was not mid-file
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    deadline = time.monotonic() + 30
    while any(os.path.exists(f"/proc/{w}") for w in writers) and time.monotonic() < deadline:
        time.sleep(0.01)


def resume(db, src, *more) -> str:
    r = subprocess.run([ks("ks-ingest"), "--db-path", str(db), "--resume", str(src), *more],
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stderr.decode()


def test_kill_9_mid_file_then_resume_stores_every_line_once(tmp_path):
    src = tmp_path / "in.ndjson"
    write_lines(src)
    for trial, at in enumerate((1, N // 4, N // 2)):
        db = tmp_path / f"t{trial}.db"
        kill_mid_file(db, src, at)
        before = rows(db, "SELECT count(*) FROM load_metrics")[0][0]
        skipped = committed(db)
        assert 0 < before < N, (trial, before)      # really mid-file
        err = resume(db, src)
        assert f"resuming after line {skipped:,}" in err, err
        assert f"{N - skipped} lines read" in err, err
        (got,) = rows(db, "SELECT count(*), count(DISTINCT last_pid), min(last_pid), max(last_pid) "
                          "FROM load_metrics")
        assert tuple(got) == (N, N, 0, N - 1), trial


def test_rejected_lines_are_not_rejected_twice_and_a_done_file_reads_nothing(tmp_path):
    src, db, rej = tmp_path / "in.ndjson", tmp_path / "ks.db", tmp_path / "rej.ndjson"
    write_lines(src, 1000, bad_every=100)
    r = subprocess.run([ks("ks-ingest"), "--db-path", str(db), "--reject-file", str(rej), str(src)],
                       capture_output=True, timeout=60)
    assert r.returncode == 0
    err = resume(db, src, "--reject-file", str(rej))
    assert "0 lines read" in err, err
    assert len(rej.read_bytes().splitlines()) == 10
    assert rows(db, "SELECT count(*) FROM load_metrics")[0][0] == 990


def test_another_file_in_its_place_is_read_from_its_start(tmp_path):
    src, db = tmp_path / "in.ndjson", tmp_path / "ks.db"
    write_lines(src, 100)
    assert subprocess.run([ks("ks-ingest"), "--db-path", str(db), str(src)], capture_output=True,
                          timeout=60).returncode == 0
    fresh = tmp_path / "new.ndjson"
    write_lines(fresh, 50)
    os.replace(fresh, src)                           # a log rotated: another inode
    err = resume(db, src)
    assert "another in its place" in err and "50 lines read" in err, err
    assert rows(db, "SELECT count(*) FROM load_metrics")[0][0] == 150


def test_resume_needs_files():
    r = subprocess.run([ks("ks-ingest"), "--resume"], input=b"", capture_output=True, timeout=30)
    assert r.returncode == 2 and b"--resume needs FILES" in r.stderr
