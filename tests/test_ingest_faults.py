"""ks-ingest under faults (issue 17): killed, out of disk, the reject file as
durable as a committed row."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import sqlite3
import subprocess
import time

from conftest import background_ks, ks, needs_root, rows

NOW = time.time_ns()


def load(i: int) -> bytes:
    return f'{{"type":"load","timestamp":{NOW + i},"load_1min":1,"last_pid":{i}}}'.encode()


def _wait_for(stream, text: str, limit_s: float = 30) -> str:
    """stderr read until it says ``text`` (bounded; no time is asserted)."""
    seen, deadline = b"", time.monotonic() + limit_s
    while text.encode() not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 1)
        if ready:
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                break
            seen += chunk
    return seen.decode(errors="replace")


def test_a_rejected_line_survives_kill_9_once_told(db_path, tmp_path):
    rej = tmp_path / "rej.ndjson"
    with background_ks("ks-ingest", "--db-path", str(db_path), "--reject-file", str(rej),
                       stdin=subprocess.PIPE, stderr=subprocess.PIPE) as p:
        p.stdin.write(load(1) + b"\n{not json\n")
        p.stdin.flush()
        err = _wait_for(p.stderr, "rejected: invalid JSON")
        assert "rejected: invalid JSON" in err, err
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    kept = [json.loads(x) for x in rej.read_bytes().splitlines()]
    assert [(k["line"], k["raw"]) for k in kept] == [(2, "{not json")]


@contextlib.contextmanager
def small_disk(tmp_path, size="1M"):
    """A tmpfs of ``size`` mounted on a fresh directory, unmounted whatever happens."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@needs_root
def test_disk_full_with_the_reject_file_on_it_keeps_every_line(tmp_path):
    n = 30_000   # ~2.4 MB of lines: more than the 1 MB disk holds
    lines = [load(i) for i in range(n)] + [b"{bad"]
    with small_disk(tmp_path) as disk:
        db, rej = disk / "ks.db", disk / "rej.ndjson"
        r = subprocess.run([ks("ks-ingest"), "--db-path", str(db), "--reject-file", str(rej),
                            "--batch-size", "2000"], input=b"\n".join(lines) + b"\n",
                           capture_output=True, timeout=120)
        err = r.stderr.decode(errors="replace")
        assert r.returncode != 0
        assert "Traceback" not in err, err[-3000:]
        assert "lines read" in err, err[-3000:]           # the summary, always
        stored = {x[0] for x in rows(db, "SELECT last_pid FROM load_metrics")}
        kept = set()
        for record in rej.read_bytes().splitlines() + r.stderr.splitlines():
            try:
                raw = json.loads(record)["raw"]
            except (ValueError, KeyError, TypeError):
                continue       # a warning line, or a record the disk cut short
            if raw.startswith("{") and raw != "{bad":
                kept.add(json.loads(raw)["last_pid"])
    # Once the database fails, ks-ingest stops reading: the lines it never read are
    # still with the producer (a file keeps them; a pipe's writer gets EPIPE).
    read, said = map(int, re.search(r"(\d+) lines read, (\d+) rows stored", err).groups())
    assert 0 < len(stored) < read <= n
    assert len(stored) == said
    assert stored | kept == set(range(read)), (read, len(stored), len(kept))


@needs_root
def test_init_only_on_a_full_disk_says_the_disk_is_full(tmp_path):
    with small_disk(tmp_path, "128k") as disk:   # room for the file, not for the schema
        r = subprocess.run([ks("ks-ingest"), "--init-only", "--db-path", str(disk / "ks.db")],
                           capture_output=True, timeout=60)
    err = r.stderr.decode()
    assert r.returncode == 1
    assert "disk is full" in err and "rollback" not in err, err


def _locked(db_path):
    """A connection holding the database's write lock (this test's pid holds it)."""
    assert subprocess.run([ks("ks-ingest"), "--init-only", "--db-path", str(db_path)]).returncode == 0
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def test_locked_at_start_says_who_holds_it_and_sigterm_keeps_the_lines(db_path, tmp_path):
    rej = tmp_path / "rej.ndjson"
    lock = _locked(db_path)
    with contextlib.closing(lock), background_ks(
            "ks-ingest", "--db-path", str(db_path), "--reject-file", str(rej),
            stdin=subprocess.PIPE, stderr=subprocess.PIPE) as p:
        p.stdin.write(b"\n".join(load(i) for i in range(500)) + b"\n")
        p.stdin.flush()
        err = _wait_for(p.stderr, "held by pid")
        assert f"held by pid {os.getpid()} (" in err, err   # only the holder: not its own writer
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
        err += p.stderr.read().decode()
    assert p.returncode > 0, (p.returncode, err)          # ended by itself, not by the signal
    assert "Traceback" not in err
    kept = [json.loads(x) for x in rej.read_bytes().splitlines()]
    assert sorted(json.loads(k["raw"])["last_pid"] for k in kept) == list(range(500))


def _stored(db_path, table: str) -> int:
    """Rows in ``table`` so far; 0 while ks-ingest has not yet made the file or its
    schema (the file exists a moment before its tables do)."""
    try:
        return rows(db_path, f"SELECT count(*) FROM {table}")[0][0] if db_path.exists() else 0
    except sqlite3.OperationalError:
        return 0


def test_locked_mid_run_is_said_without_verbose(db_path):
    with background_ks("ks-ingest", "--db-path", str(db_path),
                       stdin=subprocess.PIPE, stderr=subprocess.PIPE) as p:
        p.stdin.write(load(0) + b"\n")
        p.stdin.flush()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _stored(db_path, "load_metrics"):
            time.sleep(0.1)
        lock = sqlite3.connect(db_path, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        p.stdin.write(load(1) + b"\n")
        p.stdin.flush()
        err = _wait_for(p.stderr, "held by pid")
        assert f"held by pid {os.getpid()} (" in err, err   # only the holder: not its own writer
        lock.close()
        p.stdin.close()
        p.wait(timeout=60)
    assert p.returncode == 0
    assert rows(db_path, "SELECT count(*) FROM load_metrics")[0][0] == 2


def test_writer_killed_right_after_a_commit_calls_no_committed_row_not_stored(tmp_path):
    """The writer process dies between its commit and its answer (the test hook kills
    it there): what it committed is read back, so each line is stored or rejected,
    exactly once, and the summary counts what the database holds."""
    from kernelsight.ingest.writer import KILL_AFTER_COMMIT_ENV

    n = 20000     # five commits or more: a commit holds at most 4000 rows (GROUP_LIMIT_ROWS)
    lines = [load(i) if i % 500 else b"{bad line %d" % i for i in range(1, n + 1)]
    src = tmp_path / "in.ndjson"
    src.write_bytes(b"\n".join(lines) + b"\n")
    for trial in range(20):
        db, rej = tmp_path / f"t{trial}.db", tmp_path / f"t{trial}.rej"
        env = {**os.environ, KILL_AFTER_COMMIT_ENV: str(1 + trial % 4)}
        p = subprocess.run([ks("ks-ingest"), "--db-path", str(db), "--reject-file", str(rej), str(src)],
                           capture_output=True, env=env, timeout=60)
        err = p.stderr.decode()
        assert p.returncode == 1 and "the writer process ended unexpectedly" in err, err
        stored = {r[0] for r in rows(db, "SELECT last_pid FROM load_metrics")}
        kept = [json.loads(x) for x in rej.read_bytes().splitlines()]
        not_stored = {json.loads(k["raw"])["last_pid"] for k in kept
                      if k["reason"].startswith("not stored") and not k["raw"].startswith("{bad")}
        assert stored and not stored & not_stored, trial
        # the lines read (a file keeps those after them): each stored or kept, once
        said = re.search(r"(\d+) lines read, (\d+) rows stored .*?, (\d+) rejected", err)
        read, said_stored, said_rejected = map(int, said.groups())
        assert (said_stored, said_rejected) == (len(stored), len(kept)), err
        assert len(stored) + len(kept) == read <= n, (trial, len(stored), len(kept), read)
        assert stored | not_stored == {i for i in range(1, read + 1) if i % 500}, trial
        assert rows(db, "SELECT count(*) FROM ingest_commits")[0][0] <= 1
