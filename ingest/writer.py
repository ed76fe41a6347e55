"""Commits, inline or in a writer process on the second core.

Parsing (Python, holding the GIL) and SQLite's inserts (C: B-tree and index updates)
take about the same time per event, so running the sink in a child process lets the
two overlap: the parent parses batch N+1 while the child writes batch N.  A thread
would not do: sqlite3 gives up the GIL for every row's step and would wait a whole
switch interval (5 ms) to get it back from the parsing thread.

A committer takes a *job* -- ``[(table, insert_sql, rows), ...]``, one transaction --
and later hands back its *result*: ``("ok", {table: stored}, [(job index, row index,
reason), ...])`` for rows the database refused, or ``("failed", cause)``.  At most one
job is in flight: the parent waits for it before sending the next.

The writer process numbers each job it commits and notes the number and the result in
the same transaction (sink.record, the ingest_commits table): when it dies between its
commit and its answer, the parent reads the answer back from the database instead of
calling the committed rows "not stored".
"""

from __future__ import annotations

import json
import marshal
import os
import select
import signal
import struct
import subprocess
import sys
import time
from typing import Callable

from .sink import Busy, Sink, SinkFailed, SQLiteSink, last_commit

Job = list[tuple[str, str, list[tuple]]]
BUSY_RETRY_S = 0.05
WAIT_POLL_S = 0.2   # how often the parent looks up from a wait for the writer
# A test hook: the writer process kills itself right after its Nth commit, before
# it answers (tests/test_ingest_faults.py: a crash at the worst moment).
KILL_AFTER_COMMIT_ENV = "KS_INGEST_TEST_KILL_AFTER_COMMIT"


def run_job(sink: Sink, job: Job, on_busy: Callable[[], None] = lambda: None,
            mark: tuple[str, int] | None = None) -> tuple:
    """One transaction: every table's rows, then commit; waits out a busy database.
    ``mark`` (writer, job number): noted with the result in the same transaction."""
    while True:
        try:
            stored, refused = {}, []
            for j, (table, sql, rows) in enumerate(job):
                bad = sink.write(table, sql, rows)
                stored[table] = stored.get(table, 0) + len(rows) - len(bad)
                refused += [(j, i, reason) for i, reason in bad]
            if mark is not None:
                sink.record(*mark, json.dumps([stored, refused]))
            sink.commit()
            return ("ok", stored, refused)
        except Busy:
            sink.rollback()
            on_busy()
            time.sleep(BUSY_RETRY_S)
        except SinkFailed as e:
            sink.rollback()
            return ("failed", str(e))


class InlineCommitter:
    """The sink in this process: the job is done when submitted."""

    def __init__(self, sink: Sink):
        self.sink = sink
        self.changes = getattr(sink, "changes", [])
        self._result = None

    def submit(self, job: Job) -> None:
        self._result = run_job(self.sink, job)

    def ready(self) -> bool:
        return True

    def result(self, timeout: float | None = None) -> tuple:
        r, self._result = self._result, None
        return r

    def abandon(self) -> None:
        pass

    def close(self) -> None:
        self.sink.close()


class ProcessCommitter:
    """The sink in a child process: ``python -m kernelsight.ingest.writer DB``.

    A fresh interpreter rather than a fork: it imports only sqlite3 and the schema
    (no typer, no parser), holds none of our file descriptors (stdin above all), and
    shares no heap that reference counting would slowly copy.  Jobs go to its stdin
    and results come from its stdout as length-prefixed marshal frames.
    """

    def __init__(self, db_path: str, sink_args: list[str] | None = None, *,
                 should_stop: Callable[[], bool] = lambda: False,
                 on_wait: Callable[[], None] = lambda: None):
        # sink_args: another sink's arguments for this module's main (clickhouse_cli.py)
        self.db_path = None if sink_args else str(db_path)
        # this run's name in ingest_commits: unique on the machine and over time
        self.writer = f"{os.uname().nodename}:{os.getpid()}:{time.time_ns()}"
        self.jobs = 0
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kernelsight.ingest.writer", *(sink_args or [str(db_path), self.writer])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        self._out = self.proc.stdin.fileno()
        self._in = self.proc.stdout.fileno()
        first = self._first(should_stop, on_wait)
        if first[0] != "ready":
            self.close()
            raise SinkFailed(first[1])
        self.changes = first[1]
        self.busy = False

    def _first(self, should_stop, on_wait) -> tuple:
        """The child's first word, "ready" once it has opened the database; while it
        waits for another writer's lock, on_wait() is called every WAIT_POLL_S and a
        stop ends the wait (the child is killed: it has written nothing)."""
        while not self._readable(WAIT_POLL_S):
            if should_stop():
                self.abandon()
                return ("failed", "stopped while waiting for the database lock")
            on_wait()
        return self._recv()

    def submit(self, job: Job) -> None:
        self.jobs += 1
        try:
            _send(self._out, (self.jobs, job))
        except OSError:
            pass      # the child is gone: result() says so

    def ready(self) -> bool:
        return self._readable(0)

    def result(self, timeout: float | None = None) -> tuple | None:
        """The in-flight job's result; None when it did not come within timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if deadline is not None and not self._readable(max(deadline - time.monotonic(), 0.0)):
                return None
            r = self._recv()
            if r[0] == "failed":
                return self._committed() or r
            if r[0] != "busy":
                return r
            self.busy = True   # the child waits for another writer; so do we

    def _committed(self) -> tuple | None:
        """The result of the job in flight, read back from the database, when the
        child died after committing it (before it could answer)."""
        if self.db_path is None:
            return None
        try:
            self.proc.wait(5)    # its pipe closes before it is quite gone
        except subprocess.TimeoutExpired:
            return None          # alive, yet not answering: nothing to read back
        done = last_commit(self.db_path, self.writer)
        if done is None or done[0] != self.jobs:
            return None
        stored, refused = json.loads(done[1])
        return ("ok", stored, [tuple(r) for r in refused])

    def _readable(self, timeout: float) -> bool:
        try:
            return bool(select.select([self._in], [], [], timeout)[0])
        except (OSError, ValueError):
            return True

    def _recv(self) -> tuple:
        try:
            return _receive(self._in)
        except (OSError, EOFError, ValueError):
            code = self.proc.poll()
            return ("failed", "the writer process ended unexpectedly" + (f" (status {code})" if code else ""))

    def abandon(self) -> None:
        """Give up on the in-flight job (the database stayed locked): stop the child
        before it can commit it."""
        if self.proc.poll() is None:
            self.proc.kill()

    def close(self) -> None:
        try:
            self.proc.stdin.close()   # EOF: the child closes the sink and exits
        except OSError:
            pass
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc.stdout.close()


# ---- frames: 4-byte length, then marshal (the same interpreter on both ends, and it
# encodes rows of ints, floats, strings and None twice as fast as pickle) ------------
_LEN = struct.Struct("<I")


def _send(fd: int, message) -> None:
    data = marshal.dumps(message)
    view = memoryview(_LEN.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd: int, n: int) -> bytes:
    parts = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def _receive(fd: int):
    (n,) = _LEN.unpack(_read_exactly(fd, _LEN.size))
    return marshal.loads(_read_exactly(fd, n))


def child_main(db_path: str, make_sink: Callable[[], Sink] | None = None,
               writer: str | None = None) -> int:
    """The writer process: jobs from stdin, results to stdout, until EOF.  With
    ``writer``, each commit is noted under that name (sink.record)."""
    # Ctrl-C reaches the whole process group: only the parent decides when to stop;
    # the child ends when the parent closes the pipe (or dies).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    jobs, results = 0, 1
    try:
        sink = make_sink() if make_sink else SQLiteSink(db_path)
    except SinkFailed as e:
        _send(results, ("failed", str(e)))
        return 1
    parent = os.getppid()
    said_busy = False
    kill_after = int(os.environ.get(KILL_AFTER_COMMIT_ENV) or 0)

    def on_busy():
        nonlocal said_busy
        if os.getppid() != parent:
            raise SystemExit(1)   # orphaned while waiting for a lock: nobody wants the rows
        if not said_busy:
            said_busy = True
            _send(results, ("busy",))

    try:
        _send(results, ("ready", sink.changes))
        while True:
            try:
                number, job = _receive(jobs)
            except (EOFError, OSError):
                if writer:
                    sink.forget(writer)
                break
            said_busy = False
            result = run_job(sink, job, on_busy, (writer, number) if writer else None)
            if kill_after and result[0] == "ok" and number >= kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            _send(results, result)
    except OSError:
        pass   # the parent is gone
    finally:
        sink.close()
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "--clickhouse":
        from .clickhouse_cli import child_sink

        sys.exit(child_main("", lambda: child_sink(sys.argv[2:])))
    sys.exit(child_main(sys.argv[1], writer=sys.argv[2] if len(sys.argv) > 2 else None))
