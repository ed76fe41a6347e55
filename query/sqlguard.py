"""`ks-query sql`: arbitrary SELECTs that cannot change, attach or load anything.

Two locks: the connection is read-only (``mode=ro``), and an authorizer allows
only reading — no ATTACH/DETACH, no writes, no pragma that sets a value, no
load_extension (which is never enabled on the connection either).
"""

from __future__ import annotations

import sqlite3

from .db import QueryError

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
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name in _DESCRIBE_PRAGMAS or (name in _READ_PRAGMAS and arg2 is None):
            return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def run(conn: sqlite3.Connection, sql: str, limit: int | None = None) -> tuple[list[str], list[tuple]]:
    """(column names, rows) of one read-only statement."""
    conn.set_authorizer(authorizer)
    try:
        cur = conn.execute(sql)
    except sqlite3.DatabaseError as e:
        msg = str(e)
        if "not authorized" in msg or "prohibited" in msg or "readonly" in msg:
            raise Refused("refused: ks-query sql only reads (no writes, ATTACH, pragmas that set, "
                          "or extensions)") from None
        raise Refused(f"SQL error: {msg}") from None
    except sqlite3.ProgrammingError as e:
        raise Refused(f"SQL error: {e}") from None
    cols = [d[0] for d in cur.description or ()]
    rows = cur.fetchmany(limit) if limit else cur.fetchall()
    return cols, rows
