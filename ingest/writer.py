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
"""

from __future__ import annotations

import marshal
import multiprocessing
import os
import signal
import time
from typing import Callable

from .sink import Busy, Sink, SinkFailed

Job = list[tuple[str, str, list[tuple]]]
BUSY_RETRY_S = 0.05


def run_job(sink: Sink, job: Job, on_busy: Callable[[], None] = lambda: None) -> tuple:
    """One transaction: every table's rows, then commit; waits out a busy database."""
    while True:
        try:
            stored, refused = {}, []
            for j, (table, sql, rows) in enumerate(job):
                bad = sink.write(table, sql, rows)
                stored[table] = stored.get(table, 0) + len(rows) - len(bad)
                refused += [(j, i, reason) for i, reason in bad]
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
    """The sink in a forked child; jobs and results go through a pipe (pickled)."""

    def __init__(self, make_sink: Callable[[], Sink]):
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_child, args=(child, self.conn, make_sink),
                                name="ks-ingest-writer", daemon=True)
        self.proc.start()
        child.close()
        first = self._recv()
        if first[0] != "ready":
            self.proc.join(5)
            raise SinkFailed(first[1])
        self.changes = first[1]
        self.busy = False

    def submit(self, job: Job) -> None:
        try:
            # marshal: the same interpreter on both ends, and it encodes rows of
            # ints, floats, strings and None twice as fast as pickle
            self.conn.send_bytes(marshal.dumps(job))
        except (OSError, EOFError):
            pass      # the child is gone: result() says so

    def ready(self) -> bool:
        try:
            return self.conn.poll(0)
        except (OSError, EOFError):
            return True

    def result(self, timeout: float | None = None) -> tuple | None:
        """The in-flight job's result; None when it did not come within timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if deadline is not None:
                try:
                    if not self.conn.poll(max(deadline - time.monotonic(), 0.0)):
                        return None
                except (OSError, EOFError):
                    pass
            r = self._recv()
            if r[0] != "busy":
                return r
            self.busy = True   # the child waits for another writer; so do we

    def _recv(self) -> tuple:
        try:
            return self.conn.recv()
        except (OSError, EOFError):
            code = self.proc.exitcode
            return ("failed", "the writer process ended unexpectedly" + (f" (status {code})" if code else ""))

    def abandon(self) -> None:
        """Give up on the in-flight job (the database stayed locked): stop the child
        before it can commit it."""
        if self.proc.is_alive():
            os.kill(self.proc.pid, signal.SIGKILL)

    def close(self) -> None:
        try:
            self.conn.close()   # EOF: the child closes the sink and exits
        except OSError:
            pass
        self.proc.join(30)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)


def _child(conn, parent_end, make_sink: Callable[[], Sink]) -> None:
    # Ctrl-C reaches the whole process group: only the parent decides when to stop;
    # the child ends when the parent closes the pipe (or dies), so it must not hold
    # the parent's end itself.  Nor the input: a writer upstream must see us go.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parent_end.close()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    try:
        sink = make_sink()
    except SinkFailed as e:
        conn.send(("failed", str(e)))
        return
    try:
        conn.send(("ready", getattr(sink, "changes", [])))
        said_busy = [False]
        parent = os.getppid()

        def on_busy():
            if os.getppid() != parent:
                raise SystemExit   # orphaned while waiting for a lock: nobody wants the rows
            if not said_busy[0]:
                said_busy[0] = True
                conn.send(("busy",))

        while True:
            try:
                job = marshal.loads(conn.recv_bytes())
            except (EOFError, OSError):
                break
            said_busy[0] = False
            conn.send(run_job(sink, job, on_busy))
    except (BrokenPipeError, OSError):
        pass
    finally:
        sink.close()
        os._exit(0)   # no atexit handlers of the parent's copy of the interpreter
