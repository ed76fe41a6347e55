"""ks-retain: drop raw rows older than a cutoff, keeping every rollup row as it is.

The rollup delete trigger (ingest/schema.py rollup_sql) re-summarises a minute from the
rows left, so a plain DELETE shrinks the rollups too.  Retention drops that trigger,
deletes one batch and re-creates the trigger inside ONE short write transaction: DDL is
transactional in SQLite, so no other connection ever sees the database without its
trigger, and a kill at any point rolls back to the trigger being there.  A deliberate
clean-up that should also fix the rollups is a plain ``DELETE FROM <table> ...`` in
sqlite3: the trigger fires as before.
"""

from __future__ import annotations

import os
import re
import sqlite3
import sys
import time

import typer

from . import events as ev
from . import schema, tiers

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def parse_age(text: str) -> int:
    """'7d', '12h', '90m' -> nanoseconds; ValueError on anything else."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhdwy])\s*", text)
    if not m:
        raise ValueError(f"{text!r} is not an age like 30m, 12h, 7d, 2y")
    return int(m.group(1)) * _UNITS[m.group(2)] * 1_000_000_000


def _delete_trigger_sql(t: ev.EventType) -> str | None:
    if not t.rollup:
        return None
    return next(s for s in schema.rollup_sql(t) if s.startswith(f"CREATE TRIGGER IF NOT EXISTS trg_{t.rollup_table}_delete"))


def _batch(conn: sqlite3.Connection, t: ev.EventType, cutoff: int, size: int) -> int:
    """One transaction: at most ``size`` rows older than ``cutoff`` go, rollups untouched."""
    trigger = _delete_trigger_sql(t)
    conn.execute("BEGIN IMMEDIATE")
    try:
        if trigger:
            conn.execute(f"DROP TRIGGER IF EXISTS trg_{t.rollup_table}_delete")
        n = conn.execute(
            f"DELETE FROM {t.table} WHERE rowid IN (SELECT rowid FROM {t.table} "
            f"WHERE timestamp < ? LIMIT ?)", (cutoff, size)).rowcount
        if trigger:
            conn.execute(trigger)
        conn.execute("COMMIT")
        return n
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def drop_raw(conn: sqlite3.Connection, cutoff: int, batch: int = 5000, retries: int = 50) -> dict[str, int]:
    """Delete raw rows with timestamp < cutoff from every event table, in batches.

    Returns {table: rows deleted}.  A busy database (a live ks-ingest holding the write
    lock past the connection's timeout) is retried: the batch simply runs again."""
    out: dict[str, int] = {}
    for t in ev.TYPES:
        total = 0
        while True:
            for attempt in range(retries):
                try:
                    n = _batch(conn, t, cutoff, batch)
                    break
                except sqlite3.OperationalError as e:
                    if "locked" not in str(e) and "busy" not in str(e):
                        raise
                    time.sleep(0.05 * (attempt + 1))
            else:
                raise sqlite3.OperationalError(f"{t.table}: database stayed busy")
            total += n
            if n < batch:
                break
        out[t.table] = total
    return out


def would_drop(conn: sqlite3.Connection, cutoff: int) -> dict[str, tuple[int, int]]:
    """{table: (rows older than cutoff, about how many bytes they hold)}: the table's
    pages (dbstat) shared out by row count, so an estimate, not an exact page count."""
    out = {}
    for t in ev.TYPES:
        old, total = conn.execute(
            f"SELECT count(*) FILTER (WHERE timestamp < ?), count(*) FROM {t.table}", (cutoff,)).fetchone()
        pages = conn.execute("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = ?", (t.table,)).fetchone()[0]
        out[t.table] = (old, pages * old // total if total else 0)
    return out


app = typer.Typer(add_completion=False)


@app.command()
def run(
    db_path: str = typer.Option("data/kernelsight.db", help="the kernelsight database"),
    raw: str = typer.Option(..., help="keep raw rows this young (30m, 12h, 7d, 2y); older ones go, their rollups stay"),
    rollups: str = typer.Option(None, help="keep per-minute rollups this young; older minutes are "
                                "summarised per hour (<table>_1h), then go (docs/tiers.md)"),
    hourly: str = typer.Option(None, help="keep hourly rollups this young; older hours go"),
    batch: int = typer.Option(5000, min=1, help="rows per short write transaction"),
    dry_run: bool = typer.Option(False, "--dry-run", help="only say per table how many rows and bytes would go"),
) -> None:
    """Drop raw rows older than --raw from every event table; the per-minute rollups keep them.
    --rollups and --hourly do the same for the minutes (kept per hour) and the hours."""
    now = time.time_ns()
    try:
        cutoff = now - parse_age(raw)
    except ValueError as e:
        typer.echo(f"ks-retain: --raw: {e}", err=True)
        raise typer.Exit(2)
    try:
        kept = tiers.ages(now - cutoff, {"rollups": rollups, "hourly": hourly}, parse_age)
    except ValueError as e:
        typer.echo(f"ks-retain: {e}", err=True)
        raise typer.Exit(2)
    if not os.path.exists(db_path):   # connecting would create an empty file
        typer.echo(f"ks-retain: {db_path}: no such database", err=True)
        raise typer.Exit(1)
    try:
        conn = schema.connect(db_path)
        if not dry_run:   # an older file upgraded as ks-ingest would (its hours summarised)
            schema.apply(conn, announce=lambda m: typer.echo(f"ks-retain: {m}", err=True))
        elif kept and schema.current_version(conn) < ev.SCHEMA_VERSION:
            typer.echo(f"ks-retain: {db_path}: its schema is older than this ks-retain's, which has "
                       "hourly tiers: upgrade it first (ks-ingest --init-only --db-path ...)", err=True)
            raise typer.Exit(1)
        if dry_run:
            for table, (n, size) in would_drop(conn, cutoff).items():
                typer.echo(f"{table}: {n} rows, about {size} bytes would be dropped")
        else:
            for table, n in drop_raw(conn, cutoff, batch).items():
                typer.echo(f"{table}: {n} rows dropped")
            tiers.record_raw(conn, raw, cutoff)
        for line in tiers.apply(conn, kept, now, batch, dry_run, cutoff):
            typer.echo(line)
    except (sqlite3.Error, schema.NewerSchema) as e:
        typer.echo(f"ks-retain: {db_path}: {e}", err=True)
        raise typer.Exit(1)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
