"""Where rows go: the sink interface and the SQLite writer.

A sink takes batches of rows per table and makes them durable on ``commit()``.  The
parsing side never touches SQL, so a ClickHouse sink (one INSERT per table per batch)
can sit beside this one, fed by the same parser and the same batching.
"""

from __future__ import annotations

import os
import pathlib
import sqlite3
import sys
import time
from typing import Callable, Protocol, Sequence

from . import schema
from .paths import DIR_MODE


class Busy(Exception):
    """Another writer held the lock past the busy timeout; nothing was written, the
    caller retries the same batch."""


class SinkFailed(Exception):
    """The database cannot take more rows (read-only, disk full, ...): the message
    names the cause in one line."""


class Sink(Protocol):
    def write(self, table: str, insert_sql: str, rows: Sequence[tuple]) -> list[tuple[int, str]]:
        """Queue rows into the current transaction.  Returns the rows the store
        refused as (index, reason); the others are in.  Raises SinkFailed."""

    def commit(self) -> None:
        """Make everything written since the last commit durable.  Raises SinkFailed."""

    def rollback(self) -> None:
        """Drop everything written since the last commit."""

    def close(self) -> None: ...


def last_commit(path: str, writer: str) -> tuple[int, str] | None:
    """(job number, result) of the last commit ``writer`` noted (SQLiteSink.record),
    read back by a parent whose writer process died; None when there is none."""
    try:
        conn = schema.connect(path, readonly=True)
        try:
            return conn.execute(f"SELECT batch, result FROM {schema.COMMITS_TABLE} WHERE writer = ?",
                                (writer,)).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None


# SQLite result codes that will not go away by waiting.
_FATAL_CODES = {
    getattr(sqlite3, name): text
    for name, text in (
        ("SQLITE_READONLY", "the database is read-only"),
        ("SQLITE_FULL", "the disk is full"),
        ("SQLITE_IOERR", "disk I/O error"),
        ("SQLITE_CORRUPT", "the database file is corrupt"),
        ("SQLITE_NOTADB", "the file is not an SQLite database"),
        ("SQLITE_CANTOPEN", "the database file cannot be opened"),
        ("SQLITE_PERM", "permission denied"),
        ("SQLITE_CONSTRAINT", "a constraint failed"),
    )
    if hasattr(sqlite3, name)
}
_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


def _primary(e: sqlite3.Error) -> int | None:
    code = getattr(e, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def _announce(message: str) -> None:
    """Long one-time work (an upgrade) is said as it starts, whatever the verbosity."""
    sys.stderr.write(f"ks-ingest: {message}\n")
    sys.stderr.flush()


def describe(e: BaseException) -> str:
    """A one-line cause for a database error."""
    if isinstance(e, sqlite3.Error):
        text = _FATAL_CODES.get(_primary(e))
        if text:
            return f"{text} ({e})"
    return str(e) or type(e).__name__


class SQLiteSink:
    """Rows into an SQLite file with the kernelsight schema.

    Busy (another writer holds the lock): the connection's busy timeout waits; past
    it, write/commit raise Busy having written nothing, and the caller retries the
    same batch (writer.run_job), so nothing is lost while a second ks-ingest commits.
    Opening retries by itself until ``should_stop()``.  Anything else fatal raises
    SinkFailed.
    """

    # Fewer checkpoints: each one rewrites the pages the WAL holds into the file and
    # syncs, and with random-keyed indexes (pid, latency) every commit dirties many
    # pages.  40 MB of WAL between checkpoints instead of 4 MB roughly doubles the
    # commit rate at small batches.
    WAL_AUTOCHECKPOINT_PAGES = 10000
    # The writer's page cache.  Measured on 1M mixed events (fresh file, all indexes,
    # default flags): 16 MB took 22 CPU-s and 49 MB RSS, the schema's 64 MB 28 CPU-s
    # and 105 MB, 8 MB 30 CPU-s.  Readers keep the 64 MB cache of the original schema (docs/design.md).
    CACHE_KIB = 16384
    # The WAL's growth.  The automatic checkpoints are PASSIVE: they copy what they can,
    # but the WAL starts over only when no reader still reads from it, and with readers
    # (ks-query, ks-promexport) overlapping all the time that moment never comes: 3
    # writers and 2 readers grew a 112 MB database's WAL to 1.2 GB (bench/bench_wal.py).
    # So once the WAL is past WAL_MAX_BYTES and the database's own size, the writer,
    # right after a commit, checkpoints with TRUNCATE, waiting at most
    # CHECKPOINT_WAIT_MS for the readers in flight (new ones read the database file);
    # when they outlast that it tries again after a later commit.  The wait holds the
    # write lock: 1 s kept the bench's peak at 1.2-1.9x the database, for up to 1.4x
    # the writers' time under that flood (0.5 s: 2.47x, no slower; 1.5 s: 1.12x, 1.6x slower).
    # journal_size_limit keeps a WAL that did start over from staying large on disk.
    WAL_MAX_BYTES = 16 << 20
    CHECKPOINT_WAIT_MS = 1000
    CHECKPOINT_RETRY_S = 0.5

    def __init__(self, path: str | os.PathLike, *, should_stop: Callable[[], bool] = lambda: False,
                 on_wait: Callable[[str], None] = lambda msg: None):
        self.path = pathlib.Path(path)
        self.should_stop = should_stop
        self.on_wait = on_wait
        self.changes: list[str] = []
        self.conn: sqlite3.Connection | None = None
        self._in_tx = False
        self._checkpoint_after = 0.0     # monotonic time before which none is tried again
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            self.conn = self._retry(lambda: schema.connect(str(path)))
            self.conn.execute(f"PRAGMA wal_autocheckpoint={self.WAL_AUTOCHECKPOINT_PAGES}")
            self.conn.execute(f"PRAGMA journal_size_limit={self.WAL_MAX_BYTES}")
            if self.CACHE_KIB:
                self.conn.execute(f"PRAGMA cache_size=-{self.CACHE_KIB}")
            self.changes = self._retry(lambda: schema.apply(self.conn, announce=_announce))
        except sqlite3.Error as e:
            raise SinkFailed(f"cannot open {path}: {describe(e)}") from None
        except schema.NewerSchema as e:
            raise SinkFailed(f"will not write to {path}: {e}") from None
        except OSError as e:
            raise SinkFailed(f"cannot create {self.path.parent}: {e.strerror}") from None

    # -- the interface ------------------------------------------------------------------
    def write(self, table: str, insert_sql: str, rows: Sequence[tuple]) -> list[tuple[int, str]]:
        if not rows:
            return []
        self._begin()
        conn = self.conn
        conn.execute("SAVEPOINT batch")
        try:
            conn.executemany(insert_sql, rows)
            conn.execute("RELEASE batch")
            return []
        except (OverflowError, sqlite3.InterfaceError, sqlite3.ProgrammingError,
                sqlite3.IntegrityError, ValueError):
            # A row the database refuses (a value it cannot bind): undo the batch
            # and insert row by row, so only that row is lost.
            conn.execute("ROLLBACK TO batch")
            bad = []
            for i, row in enumerate(rows):
                try:
                    conn.execute(insert_sql, row)
                except (OverflowError, sqlite3.InterfaceError, sqlite3.ProgrammingError,
                        sqlite3.IntegrityError, ValueError) as e:
                    bad.append((i, f"database refused the row: {e}"))
            conn.execute("RELEASE batch")
            return bad
        except sqlite3.OperationalError as e:
            self._abort()
            if _primary(e) in _BUSY_CODES:
                raise Busy() from None
            raise SinkFailed(describe(e)) from None
        except sqlite3.Error as e:
            self._abort()
            raise SinkFailed(describe(e)) from None

    def commit(self) -> None:
        if not self._in_tx:
            return
        try:
            self.conn.execute("COMMIT")
            self._in_tx = False
            self._checkpoint_if_large()
        except sqlite3.OperationalError as e:
            if _primary(e) in _BUSY_CODES:
                raise Busy() from None
            self._abort()
            raise SinkFailed(describe(e)) from None
        except sqlite3.Error as e:
            self._abort()
            raise SinkFailed(describe(e)) from None

    def rollback(self) -> None:
        self._abort()

    def record(self, writer: str, batch: int, result: str) -> None:
        """Note in the current transaction that ``writer`` committed job ``batch`` with
        this result (schema.COMMITS_SQL): it commits with the rows, or not at all."""
        self._begin()
        try:
            self.conn.execute(f"INSERT OR REPLACE INTO {schema.COMMITS_TABLE} VALUES (?, ?, ?)",
                              (writer, batch, result))
        except sqlite3.OperationalError as e:
            self._abort()
            if _primary(e) in _BUSY_CODES:
                raise Busy() from None
            raise SinkFailed(describe(e)) from None

    def forget(self, writer: str) -> None:
        """The run ended cleanly: its last commit needs no reading back."""
        try:
            self.conn.execute(f"DELETE FROM {schema.COMMITS_TABLE} WHERE writer = ?", (writer,))
        except sqlite3.Error:
            pass   # a row left behind is harmless: one small row per run

    def close(self) -> None:
        if self.conn is not None:
            self._abort()
            try:
                self.conn.close()
            except sqlite3.Error:
                pass
            self.conn = None

    # -- helpers ------------------------------------------------------------------------
    def _checkpoint_if_large(self) -> None:
        """A TRUNCATE checkpoint when the WAL has grown large (see WAL_MAX_BYTES)."""
        if str(self.path) == ":memory:" or time.monotonic() < self._checkpoint_after:
            return
        try:
            wal = os.stat(f"{self.path}-wal").st_size
            if wal <= self.WAL_MAX_BYTES or wal <= os.stat(self.path).st_size:
                return
        except OSError:
            return
        conn = self.conn
        conn.execute(f"PRAGMA busy_timeout={self.CHECKPOINT_WAIT_MS}")
        try:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.OperationalError:
            busy = 1     # another writer holds the lock: its commit is no worse a moment
        finally:
            conn.execute(f"PRAGMA busy_timeout={schema.BUSY_TIMEOUT_MS}")
        if busy:
            self._checkpoint_after = time.monotonic() + self.CHECKPOINT_RETRY_S

    def _begin(self) -> None:
        if self._in_tx:
            return
        # IMMEDIATE takes the write lock now (waiting out other writers via the busy
        # timeout) rather than failing half-way through the batch.
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            if _primary(e) in _BUSY_CODES:
                raise Busy() from None
            raise SinkFailed(describe(e)) from None
        self._in_tx = True

    def _abort(self) -> None:
        if self.conn is not None and self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        self._in_tx = False

    def _retry(self, fn):
        """Run fn, waiting out a busy database for as long as we are not told to stop."""
        waited = 0.0
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as e:
                if _primary(e) not in _BUSY_CODES or self.should_stop():
                    raise
                waited += 0.1
                self.on_wait(f"database busy, waiting ({e})")
                time.sleep(0.1)
