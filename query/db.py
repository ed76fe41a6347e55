"""A small read-only handle on a kernelsight database.

Every query function takes ``db`` as a path or a :class:`Database`; both open the
file read-only (``file:...?mode=ro``), so a query can never change what the
collectors wrote.  ``DatabaseManager`` is the original pipeline's name for it (docs/design.md).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import threading
from typing import Iterable

from ..ingest.paths import default_db_path

DEFAULT_PATH = default_db_path()   # KS_DB, else the root or the user path (ingest/paths.py)

# Set on Ctrl-C or SIGTERM.  A Python signal handler cannot run while SQLite is
# inside one long statement, so every connection polls this from a progress
# handler (every 100k VM steps, far under a millisecond) and aborts the statement.
STOP = threading.Event()
STOP_STATUS = 130


def _stop_requested() -> int:
    return 1 if STOP.is_set() else 0


def stop_on_signals() -> None:
    """Ctrl-C and SIGTERM end a query at once, even inside one long SQL statement."""

    def on_signal(signum, frame):
        global STOP_STATUS
        STOP_STATUS = 128 + signum  # the shell's convention: 130 for Ctrl-C, 143 for SIGTERM
        STOP.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


class QueryError(Exception):
    """A problem the user can fix; its message is one line that says how."""


class Database:
    """Read-only connection plus what the queries need to know about the file."""

    def __init__(self, path: str | os.PathLike = DEFAULT_PATH, *, timeout: float = 10.0):
        self.path = os.fspath(path)
        self.conn = open_readonly(self.path, timeout)
        self._tables: set[str] | None = None
        self._warn_if_newer()

    def _warn_if_newer(self) -> None:
        """A file from a newer kernelsight is read as far as this one understands it."""
        if not self.has("schema_version"):
            return
        from ..ingest import events as ev

        row = self.one("SELECT max(version) FROM schema_version")
        if row and row[0] is not None and row[0] > ev.SCHEMA_VERSION:
            sys.stderr.write(f"warning: {self.path}: schema version {row[0]} is newer than this "
                             f"ks knows ({ev.SCHEMA_VERSION}): reading what it knows; "
                             "upgrade ks for the rest\n")

    # -- context manager, so `with Database(p) as db:` closes it ---------------
    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def tables(self) -> set[str]:
        if self._tables is None:
            rows = self.conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
            self._tables = {r[0] for r in rows}
        return self._tables

    def has(self, table: str) -> bool:
        return table in self.tables()

    def rows(self, sql: str, params: Iterable = ()) -> list[sqlite3.Row]:
        try:
            return self.conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.DatabaseError as e:
            raise QueryError(f"{self.path}: {e}") from None

    def one(self, sql: str, params: Iterable = ()) -> sqlite3.Row | None:
        rows = self.rows(sql, params)
        return rows[0] if rows else None

    def newest(self) -> int | None:
        """Timestamp of the newest row of any registered table (ns), None when empty."""
        from ..ingest import events as ev

        best = None
        for t in ev.TYPES:
            if self.has(t.table):
                row = self.one(f"SELECT max(timestamp) FROM {t.table}")
                if row and row[0] is not None and (best is None or row[0] > best):
                    best = row[0]
        return best


DatabaseManager = Database


def open_readonly(path: str, timeout: float = 10.0) -> sqlite3.Connection:
    """``timeout``: seconds to wait for a writer's lock before "database is locked"."""
    if not os.path.exists(path):
        raise QueryError(
            f"no database at {path}: give --db-path (or set KS_DB), or fill one with "
            "`ks-procfs | ks-ingest --db-path " + path + "`"
        )
    if os.path.isdir(path):
        raise QueryError(f"{path} is a directory, not a kernelsight database")
    try:
        try:
            conn = _connect(path, "mode=ro", timeout)
        except sqlite3.OperationalError as e:
            # A WAL file needs its -shm written even to read; without write access to
            # the folder (another user's file, a read-only mount) read the file as it
            # is, and say what that misses.
            if "readonly" not in str(e) and "unable to open" not in str(e):
                raise
            conn = _connect(path, "immutable=1", timeout)
            sys.stderr.write(f"warning: {path}: no write access for its -shm, so it is read as "
                             "a read-only snapshot of the file (immutable=1): rows a running "
                             "ks-ingest has not yet checkpointed from its WAL are not seen\n")
    except sqlite3.DatabaseError as e:
        raise QueryError(f"cannot read {path} as a SQLite database: {e}") from None
    return conn


def _connect(path: str, mode: str, timeout: float) -> sqlite3.Connection:
    # uri=True so that the mode is honoured; quote characters that mean something in a URI.
    uri = "file:" + path.replace("%", "%25").replace("?", "%3f").replace("#", "%23") + "?" + mode
    conn = sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        conn.set_progress_handler(_stop_requested, 100_000)
        conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def as_database(db) -> tuple[Database, bool]:
    """(Database, whether we opened it and must close it)."""
    if isinstance(db, Database):
        return db, False
    return Database(db), True


def require_data(db: Database, *, check_empty: bool = True) -> None:
    """A clear message for a file that holds no kernelsight tables or no rows at all.

    A file ks-ingest created has a schema_version table; only files without one
    are checked against the registry (whose import costs start-up time).
    """
    if not db.has("schema_version"):
        from ..ingest import events as ev

        if not any(db.has(t.table) for t in ev.TYPES):
            raise QueryError(
                f"{db.path} has no kernelsight tables: is it a kernelsight database? "
                "(create one with `ks-ingest --db-path " + db.path + "`)"
            )
    if check_empty and db.newest() is None:
        raise QueryError(f"{db.path} is empty: no collector has written to it yet")


def where(start: int, end: int, host: str | None, extra: str = "") -> tuple[str, list]:
    """The WHERE clause every windowed query shares (uses the (host, timestamp) index)."""
    sql = "timestamp >= ? AND timestamp < ?"
    params: list = [start, end]
    if host:
        sql = "host = ? AND " + sql
        params.insert(0, host)
    if extra:
        sql += " AND " + extra
    return sql, params


def host_only(host: str | None) -> tuple[str, list]:
    """The WHERE condition for the rows of ``host`` (every row when None)."""
    return ("host = ?", [host]) if host else ("1", [])
