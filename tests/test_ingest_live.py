"""ks-ingest as a long-running pipe reader: commits on time while its input is idle,
ends cleanly on signals, survives kill -9, shares the database with another writer,
and says clearly when the database cannot take rows any more."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import threading
import time

import pytest

from conftest import ks, needs_root, rows

TS = 1795455835925270528


def event(i: int, kind: str = "load") -> bytes:
    if kind == "load":
        e = {"type": "load", "timestamp": TS + i, "host": "t", "load_1min": i / 100, "last_pid": i}
    else:
        e = {"type": "syscall", "timestamp": TS + i, "host": "t", "pid": i, "latency_ns": 10**7 + i,
             "syscall_name": "read", "comm": "x"}
    return (json.dumps(e) + "\n").encode()


def start(db, *args, **kw) -> subprocess.Popen:
    return subprocess.Popen([ks("ks-ingest"), "--db-path", str(db), *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def wait_for(pred, timeout=10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def count(db, table="load_metrics") -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return -1


def test_idle_pipe_commits_on_timeout(db_path):
    p = start(db_path, "--batch-size", "1000", "--batch-timeout", "0.2")
    try:
        p.stdin.write(event(1) + event(2))
        p.stdin.flush()
        # stdin stays open: only the timeout can commit these rows.
        assert wait_for(lambda: count(db_path) == 2), "rows held back while the pipe was idle"
        assert p.poll() is None
        p.stdin.write(event(3))
        p.stdin.flush()
        assert wait_for(lambda: count(db_path) == 3)
    finally:
        p.stdin.close()
        assert p.wait(10) == 0


def test_batch_size_commits_without_waiting_for_the_timeout(db_path):
    p = start(db_path, "--batch-size", "5", "--batch-timeout", "3600")
    try:
        p.stdin.write(event(99, "syscall") + b"".join(event(i) for i in range(5)))
        p.stdin.flush()
        assert wait_for(lambda: count(db_path) == 5)
        # The syscall row rode along with the full load batch's commit.
        assert count(db_path, "syscall_events") == 1
    finally:
        p.stdin.close()
        p.wait(10)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_blocked_commits_pending_and_exits(db_path, sig):
    p = start(db_path, "--batch-size", "1000", "--batch-timeout", "3600")
    try:
        p.stdin.write(b"".join(event(i) for i in range(7)))
        p.stdin.flush()
        assert wait_for(lambda: count(db_path) == 0)    # schema there, rows pending
        time.sleep(1.0)                                  # now blocked on the read
        p.send_signal(sig)
        assert p.wait(5) == 0
        err = p.stderr.read().decode()
        assert "Traceback" not in err
        assert "7 lines read, 7 rows stored" in err
        assert count(db_path) == 7
    finally:
        if p.poll() is None:
            p.kill()
        p.stdin.close()


def test_kill_9_keeps_every_committed_batch(db_path):
    p = start(db_path, "--batch-size", "100", "--batch-timeout", "3600")
    n = 0
    try:
        for _ in range(30):
            p.stdin.write(b"".join(event(n + i) for i in range(100)))
            n += 100
        p.stdin.write(b"".join(event(n + i) for i in range(50)))   # an unfinished batch
        p.stdin.flush()
        assert wait_for(lambda: count(db_path) >= 3000)
        time.sleep(0.5)
        before = count(db_path)
    finally:
        p.kill()
        p.wait(5)
        p.stdin.close()
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    got = [r[0] for r in conn.execute("SELECT last_pid FROM load_metrics ORDER BY last_pid")]
    conn.close()
    # every full batch is in (rows of the unfinished one only if a group commit took
    # them along); what was committed before the kill is all there, in order
    assert len(got) == before and 3000 <= before <= 3050
    assert got == list(range(before))


def test_two_writers_and_a_reader(db_path):
    n = 20000
    subprocess.run([ks("ks-ingest"), "--init-only", "--db-path", str(db_path)], check=True)
    feeds = [b"".join(event(w * n + i, "syscall" if i % 3 == 0 else "load") for i in range(n))
             for w in range(2)]
    procs = [start(db_path, "--batch-size", "50") for _ in feeds]
    seen, stop = [], threading.Event()

    def reader():
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
        while not stop.is_set():
            seen.append(conn.execute("SELECT count(*) FROM load_metrics").fetchone()[0])
            conn.execute("SELECT max(latency_ns), count(*) FROM syscall_events").fetchone()
        conn.close()

    t = threading.Thread(target=reader)
    t.start()
    try:
        outs = []
        writers = [threading.Thread(target=lambda p=p, f=f: outs.append(p.communicate(f, timeout=120)))
                   for p, f in zip(procs, feeds)]
        for w in writers:
            w.start()
        for w in writers:
            w.join()
    finally:
        stop.set()
        t.join()
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    loads = sum(1 for w in range(2) for i in range(n) if i % 3)
    assert count(db_path) == loads
    assert count(db_path, "syscall_events") == 2 * n - loads
    pids = {r[0] for r in rows(db_path, "SELECT pid FROM syscall_events")}
    assert pids == {w * n + i for w in range(2) for i in range(n) if i % 3 == 0}
    assert seen == sorted(seen) and len(seen) > 1     # the reader saw it grow, never shrink


def _chattr(flag: str, path) -> bool:
    return shutil.which("chattr") is not None and \
        subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


@needs_root
def test_read_only_database_fails_clearly_and_keeps_the_lines(db_path, tmp_path):
    subprocess.run([ks("ks-ingest"), "--init-only", "--db-path", str(db_path)], check=True)
    if not _chattr("+i", db_path):
        pytest.skip("this filesystem has no immutable flag (chattr +i)")
    try:
        rej = tmp_path / "rej.ndjson"
        lines = b"".join(event(i) for i in range(5))
        p = start(db_path, "--reject-file", str(rej))
        _, err = p.communicate(lines, timeout=30)
    finally:
        _chattr("-i", db_path)
    err = err.decode()
    assert p.returncode == 1
    assert "read-only" in err and "Traceback" not in err
    kept = [json.loads(x) for x in rej.read_text().splitlines()]
    assert [k["line"] for k in kept] == [1, 2, 3, 4, 5]
    assert all("read-only" in k["reason"] for k in kept)
    assert json.loads(kept[0]["raw"])["last_pid"] == 0


@needs_root
def test_disk_full_fails_clearly_and_keeps_the_pending_lines(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        db = mnt / "ks.db"
        lines = b"".join(event(i, "syscall") for i in range(20000))
        p = start(db, "--batch-size", "500")
        _, err = p.communicate(lines, timeout=60)
        err = err.decode()
        assert p.returncode == 1
        assert "disk is full" in err and "Traceback" not in err
        stored = count(db, "syscall_events")
        assert 0 <= stored < 20000
        # the lines of the failed batch went to stderr, as they were read
        kept = [json.loads(x)["pid"] for x in err.splitlines() if x.startswith("{")]
        # nothing lost between the last commit and the failure: the lines after the
        # stored rows follow them without a gap
        assert kept == list(range(stored, stored + len(kept))) and kept
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


@pytest.mark.parametrize("mode", [[], ["--single-process"]])
def test_locked_database_is_waited_for_and_nothing_is_lost(db_path, mode):
    subprocess.run([ks("ks-ingest"), "--init-only", "--db-path", str(db_path)], check=True)
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")        # another writer, holding the lock
    try:
        p = start(db_path, "--batch-size", "10", *mode)
        p.stdin.write(b"".join(event(i) for i in range(25)))
        p.stdin.flush()
        time.sleep(1.5)
        assert p.poll() is None               # waiting, not failing
        p.stdin.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert p.wait(30) == 0, p.stderr.read()
    assert count(db_path) == 25
