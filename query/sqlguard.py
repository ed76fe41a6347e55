"""`ks-query sql`: arbitrary SELECTs that cannot change, attach or load anything.

Two locks: the connection is read-only (``mode=ro``), and an authorizer allows
only reading — no ATTACH/DETACH, no writes, no pragma that sets a value, no
load_extension (which is never enabled on the connection either).
"""

from __future__ import annotations

import sqlite3
import time

from . import db as dbmod
from .db import QueryError

DEFAULT_TIMEOUT_S = 30.0

_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
# Pragmas whose argument names what to describe (a table, an index): always reading.
_DESCRIBE_PRAGMAS = {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list"}
# Pragmas that only report when called without a value (with one, they set it).
_READ_PRAGMAS = {
    "table_list", "database_list", "function_list", "pragma_list", "collation_list",
    "compile_options", "user_version", "schema_version", "page_count", "page_size",
    "freelist_count", "journal_mode", "encoding", "application_id",
}
_DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}


class Refused(QueryError):
    """The statement writes, attaches or loads: refused."""


def authorizer(action, arg1, arg2, dbname, source):
    if action == sqlite3.SQLITE_FUNCTION:
        return sqlite3.SQLITE_DENY if (arg2 or "").lower() in _DENIED_FUNCTIONS else sqlite3.SQLITE_OK
    if action in _ALLOWED:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master" and dbname == "main":
        # A table-valued pragma (pragma_table_info()) asks this while it reads the
        # schema; a real UPDATE still fails on the read-only connection.
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name in _DESCRIBE_PRAGMAS or (name in _READ_PRAGMAS and arg2 is None):
            return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


CHUNK = 1000   # rows fetched (and, for json/csv, written) at a time


def run(conn: sqlite3.Connection, sql: str, limit: int | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_S) -> tuple[list[str], list[tuple]]:
    """(column names, rows) of one read-only statement, ended after ``timeout``
    seconds (running and fetching alike; None: no limit) or on Ctrl-C/SIGTERM."""
    cols, chunks = stream(conn, sql, limit, timeout)
    return cols, [r for chunk in chunks for r in chunk]


def stream(conn: sqlite3.Connection, sql: str, limit: int | None = None,
           timeout: float | None = DEFAULT_TIMEOUT_S):
    """(column names, an iterator of row chunks): rows are fetched as they are written,
    so an answer of millions of rows never sits in memory (issue 17 item 8)."""
    conn.set_authorizer(authorizer)
    deadline = None if timeout is None else time.monotonic() + timeout
    conn.set_progress_handler(lambda: _should_end(deadline), 10_000)
    try:
        cur = conn.execute(sql)
    except sqlite3.DatabaseError as e:
        raise _refusal(e, deadline, timeout) from None
    except sqlite3.ProgrammingError as e:
        raise Refused(f"SQL error: {e}") from None
    return [d[0] for d in cur.description or ()], _chunks(cur, limit, deadline, timeout)


def _chunks(cur: sqlite3.Cursor, limit: int | None, deadline, timeout):
    left = limit
    while left is None or left > 0:
        try:
            rows = cur.fetchmany(CHUNK if left is None else min(CHUNK, left))
        except sqlite3.DatabaseError as e:
            raise _refusal(e, deadline, timeout) from None
        if not rows:
            return
        if left is not None:
            left -= len(rows)
        yield rows


def _should_end(deadline: float | None) -> int:
    return 1 if dbmod.STOP.is_set() or (deadline is not None and time.monotonic() > deadline) else 0


def _refusal(e: sqlite3.DatabaseError, deadline: float | None, timeout: float | None) -> QueryError:
    msg = str(e)
    if "interrupted" in msg:
        if dbmod.STOP.is_set():
            return QueryError("stopped")          # run_cli answers 130/143 for it
        if deadline is not None and time.monotonic() > deadline:
            return Refused(f"stopped after {timeout:g} s (--timeout; 0 for no limit)")
    if "not authorized" in msg or "prohibited" in msg or "readonly" in msg:
        return Refused("refused: ks-query sql only reads (no writes, ATTACH, pragmas that set, "
                       "or extensions)")
    return Refused(f"SQL error: {msg}")
