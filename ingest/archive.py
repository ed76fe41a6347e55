"""ks-retain --archive: the rows retention drops are first copied into another database.

Two SQLite files cannot share one transaction in WAL mode, so the order carries the
guarantee instead.  Per batch of raw rows:

1. one archive transaction copies the rows with their ids (``INSERT OR IGNORE``: a row
   copied before is not copied twice) and notes the batch's ids in ``ks_retain_pending``;
2. one source transaction deletes exactly the rows of the batch that the archive holds
   identically (same id, same columns); a row of the batch that is not there is an id
   clash -- FILE archives another database -- and nothing is deleted.

A kill between 1 and 2 leaves the batch in both files, identical; the next run with the
same FILE first finishes that noted batch, whatever its cutoff.  So a row is never lost
(it leaves the source only once the archive has committed it) and never in the archive
twice (ids are its primary key).  The archive synchronises fully on commit so that a
power cut cannot keep the delete and lose the copy.
"""

from __future__ import annotations

import os
import sqlite3

import orjson

from . import events as ev
from . import schema

SCHEMA = "archive"
PENDING = "ks_retain_pending"


class ArchiveConflict(sqlite3.DatabaseError):
    """The archive holds another row under a dropped row's id."""


def attach(conn: sqlite3.Connection, path: str) -> None:
    """Create or upgrade FILE as ks-ingest would, then attach it to ``conn``."""
    if os.path.exists(path) and os.path.samefile(path, conn.execute("PRAGMA database_list").fetchone()[2]):
        raise ValueError("the archive cannot be the database itself")
    try:
        own = schema.connect(path)
        try:
            schema.apply(own)
            own.execute(f"CREATE TABLE IF NOT EXISTS {PENDING} (tbl TEXT NOT NULL, ids TEXT NOT NULL)")
        finally:
            own.close()
        conn.execute(f"ATTACH DATABASE ? AS {SCHEMA}", (path,))
        conn.execute(f"PRAGMA {SCHEMA}.synchronous=FULL")
    except (sqlite3.Error, schema.NewerSchema) as e:   # said with the archive's name, not the source's
        raise sqlite3.OperationalError(f"archive {path}: {e}") from e


def _cols(t: ev.EventType) -> str:
    return ", ".join(["id", *(c.name for c in ev.columns_of(t))])


def copy(conn: sqlite3.Connection, t: ev.EventType, ids: list[int]) -> None:
    """Step 1: the batch into the archive, noted as pending, in one archive transaction."""
    cols, js = _cols(t), orjson.dumps(ids).decode()
    conn.execute("BEGIN")   # deferred: only the archive is written, the source only read
    try:
        conn.execute(f"DELETE FROM {SCHEMA}.{PENDING}")
        conn.execute(f"INSERT INTO {SCHEMA}.{PENDING} (tbl, ids) VALUES (?, ?)", (t.table, js))
        conn.execute(f"INSERT OR IGNORE INTO {SCHEMA}.{t.table} ({cols}) SELECT {cols} FROM main.{t.table} "
                     "WHERE id IN (SELECT value FROM json_each(?))", (js,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def delete_archived(conn: sqlite3.Connection, t: ev.EventType, ids: list[int]) -> int:
    """Step 2, inside the caller's source transaction: delete the batch's rows that the
    archive holds identically; ArchiveConflict (the caller rolls back) when any other
    row of the batch is left."""
    cols, js = _cols(t), orjson.dumps(ids).decode()
    batch = "WHERE id IN (SELECT value FROM json_each(?))"
    n = conn.execute(
        f"DELETE FROM main.{t.table} WHERE id IN (SELECT id FROM (SELECT {cols} FROM main.{t.table} {batch} "
        f"INTERSECT SELECT {cols} FROM {SCHEMA}.{t.table} {batch}))", (js, js)).rowcount
    left = conn.execute(f"SELECT min(id) FROM main.{t.table} {batch}", (js,)).fetchone()[0]
    if left is not None:
        raise ArchiveConflict(
            f"{t.table} row id {left} is in the archive as a different row: the archive "
            "holds another database's rows; archive this one into a file of its own")
    return n


def pending(conn: sqlite3.Connection) -> tuple[ev.EventType, list[int]] | None:
    """The batch an interrupted run copied but may not have deleted."""
    row = conn.execute(f"SELECT tbl, ids FROM {SCHEMA}.{PENDING}").fetchone()
    if row is None:
        return None
    t = next((t for t in ev.TYPES if t.table == row[0]), None)
    return (t, orjson.loads(row[1])) if t else None


def copy_minutes(conn: sqlite3.Connection, t: ev.EventType, cutoff: int) -> None:
    """Rollup minutes older than cutoff into the archive, in one archive transaction.
    The source's minute replaces the archive's (which summarises only the raw rows that
    were archived): it is the complete one.  A kill after this commit leaves the minutes
    in both files, identical; the next run copies them again and deletes them."""
    cols = ", ".join(c.name for c in schema.rollup_columns(t))
    conn.execute("BEGIN")
    try:
        conn.execute(f"INSERT OR REPLACE INTO {SCHEMA}.{t.rollup_table} ({cols}) SELECT {cols} "
                     f"FROM main.{t.rollup_table} WHERE minute < ?", (cutoff,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
