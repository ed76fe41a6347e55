"""ks-retain --max-size and --vacuum: how big the file is, and giving freed pages back.

SQLite keeps a deleted row's pages in the file as free pages for later rows; the file
only shrinks when they are given back: ``PRAGMA incremental_vacuum`` on a database made
with ``auto_vacuum=INCREMENTAL`` (ks-ingest creates them so), or a full ``VACUUM``
(rewrites the whole file, needs up to twice its size free, and turns incremental
auto-vacuum on for an older database that was made without it).
"""

from __future__ import annotations

import re
import sqlite3

INCREMENTAL = 2   # PRAGMA auto_vacuum's value for INCREMENTAL

_SIZE_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
               "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}


def parse_size(text: str) -> int:
    """'2GB' -> 2_000_000_000, '500MiB' -> 524_288_000, '4096' -> bytes; ValueError else."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?)?b?\s*", text, re.IGNORECASE)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a size like 500MB, 2GB or 1.5GiB")
    return int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "").lower()])


def _pragma(conn: sqlite3.Connection, name: str) -> int:
    return conn.execute(f"PRAGMA main.{name}").fetchone()[0]


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes the file's pages hold, free pages left out: what --max-size compares."""
    return (_pragma(conn, "page_count") - _pragma(conn, "freelist_count")) * _pragma(conn, "page_size")


def file_bytes(conn: sqlite3.Connection) -> int:
    """The file's size once the write-ahead log is checkpointed into it."""
    return _pragma(conn, "page_count") * _pragma(conn, "page_size")


def incremental(conn: sqlite3.Connection) -> bool:
    return _pragma(conn, "auto_vacuum") == INCREMENTAL


def give_back(conn: sqlite3.Connection) -> None:
    """Free pages back to the file system (incremental auto-vacuum), then a checkpoint
    so the main file is cut now rather than at the next automatic checkpoint.  A
    reader holding an old snapshot may keep the checkpoint from finishing: the file
    is then cut at a later one."""
    if incremental(conn):
        # executescript: sqlite3's execute() steps a statement without result columns
        # once, and each step of incremental_vacuum frees a single page.
        conn.executescript("PRAGMA main.incremental_vacuum;")
    conn.execute("PRAGMA main.wal_checkpoint(TRUNCATE)").fetchall()


def vacuum(conn: sqlite3.Connection) -> None:
    """A full VACUUM, turning incremental auto-vacuum on on the way (set before the
    rewrite, the rewrite applies it), then the log checkpointed into the file."""
    conn.execute("PRAGMA main.auto_vacuum=INCREMENTAL")
    conn.execute("VACUUM")
    conn.execute("PRAGMA main.wal_checkpoint(TRUNCATE)").fetchall()


def table_bytes(conn: sqlite3.Connection, table: str, in_use: bool = False) -> int:
    """Bytes of a table's pages and its indexes' (dbstat: exact, but it reads every
    page header of the table, so it is asked once per table per round); ``in_use``:
    only the bytes the rows take, leaving out the free space inside the pages."""
    size = "pgsize - unused" if in_use else "pgsize"
    return conn.execute(
        f"SELECT coalesce(sum({size}), 0) FROM dbstat('main') WHERE name IN "
        "(SELECT name FROM main.sqlite_master WHERE tbl_name = ?)", (table,)).fetchone()[0]


def rows_bytes(conn: sqlite3.Connection, table: str, rows: int, total: int) -> int:
    """About how many bytes ``rows`` of the table's ``total`` hold: its pages shared
    out by row count (an estimate for --dry-run, not a page count)."""
    return table_bytes(conn, table) * min(rows, total) // total if total else 0


NO_AUTO_VACUUM = ("{db} was created without incremental auto-vacuum: the rows freed are "
                  "reused by new rows, but the file does not shrink until it is rewritten once: "
                  "`ks-retain --db-path {db} --vacuum ...` (needs up to twice the file's size free; "
                  "after that, every run gives freed space back)")
