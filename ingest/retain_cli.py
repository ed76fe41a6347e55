"""ks-retain: the command line of retention (the work is in retain.py)."""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from typing import Annotated, Optional

import typer

from . import archive
from . import events as ev
from . import retain, tiers
from . import retain_size as size
from . import schema
from .flags import APP_SETTINGS, Version
from .paths import SYSTEM_PATH, default_db_path

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

HELP = """\
Drop old rows from a kernelsight database, keeping its per-minute rollups.

Raw rows older than --raw go from every event table, oldest first, in short write
transactions (a live ks-ingest keeps writing, ks-query keeps reading).  No rollup row
changes: `ks-query` answers that read minutes are the same before and after.  (A
deliberate `DELETE FROM <table> ...` in sqlite3 still re-summarises its minutes.)

--rollups drops the minutes older than it (in whole hours, once their raw rows are
gone), each batch first summarised into the hourly rollups (<table>_1h), which
--hourly keeps; ks-query reads hours where the minutes are gone (docs/tiers.md).

--max-size then drops the oldest raw rows, and once none is left the oldest minutes,
until the pages in use fit.  Freed pages go back to the file system at the end of
every run on a database with incremental auto-vacuum (ks-ingest creates them so).
An older database without it reuses the freed pages for new rows but does not shrink:
run --vacuum once (a full rewrite: needs up to twice the file's size free, and holds
the write lock while it runs); it turns incremental auto-vacuum on for good.

--archive FILE first copies every row that goes into FILE, a kernelsight database
(created or upgraded as ks-ingest would; read it with `ks-query io --db-path FILE`).
Killed at any moment, no row is lost and none is archived twice; the next run with
the same FILE finishes the interrupted batch.

\b
  ks-retain --raw 7d                                    # hourly from cron or the timer
  ks-retain --raw 7d --rollups 90d --hourly 2y          # minutes kept 90 days, then hours
  ks-retain --raw 7d --max-size 2GB --archive /srv/ks-archive.db
  ks-retain --raw 30d --dry-run                         # what would go, nothing changes
  ks-retain --vacuum --raw 7d                           # once, on a database from before
  ks-ingest --retain raw=7d,max-size=2GB                # or from the ingest, every 5 min

More: docs/retention.md.

Output: one line per table (rows, and with --dry-run about how many bytes: the table's
and its indexes' pages from dbstat shared out by row count, an estimate).  With
--max-size, --dry-run shows the first round's estimate of what goes.

Exit status: 0 done, 1 database error (or --max-size cannot be met), 2 bad usage.
"""


def _fail(status: int, message: str) -> typer.Exit:
    typer.echo(f"ks-retain: {message}", err=True)
    return typer.Exit(status)


def _policy(raw: Optional[str], max_size: Optional[str], archive_file: Optional[str], batch: int,
            rollups: Optional[str] = None, hourly: Optional[str] = None) -> retain.Policy:
    p = retain.Policy(archive=archive_file, batch=batch, rollups=rollups, hourly=hourly)
    for name, text, parse, field in (("--raw", raw, retain.parse_age, "raw_ns"),
                                     ("--max-size", max_size, size.parse_size, "max_bytes")):
        if text is not None:
            try:
                setattr(p, field, parse(text))
            except ValueError as e:
                raise _fail(EXIT_USAGE, f"{name}: {e}")
    try:
        p.tiers()
    except ValueError as e:
        raise _fail(EXIT_USAGE, str(e))
    return p


def _dry_run(conn: sqlite3.Connection, p: retain.Policy, now_ns: int) -> None:
    cutoff = now_ns - p.raw_ns if p.raw_ns is not None else None
    excess = size.used_bytes(conn) - p.max_bytes if p.max_bytes is not None else 0
    if excess > 0:
        by_size = retain.size_cutoff(conn, retain.raw_tables(), "timestamp", excess)
        if by_size is not None:
            cutoff = by_size if cutoff is None else max(cutoff, by_size)
        typer.echo(f"ks-retain: {excess:,} bytes over --max-size", err=True)
    for table, (n, nbytes) in retain.would_drop(conn, cutoff if cutoff is not None else 0).items():
        typer.echo(f"{table}: {n} rows, about {nbytes} bytes would go")
    if p.tiers() and schema.current_version(conn) < ev.SCHEMA_VERSION:
        raise _fail(EXIT_ERROR, "its schema is older than this ks-retain's, which has hourly tiers: "
                    "upgrade it first (ks-ingest --init-only --db-path ...)")
    raw_cutoff = now_ns - p.raw_ns if p.raw_ns is not None else -(1 << 63)
    for line in tiers.dry_run(conn, p.tiers(), now_ns, raw_cutoff):
        typer.echo(line)


def _report(conn: sqlite3.Connection, db_path: str, p: retain.Policy, gone: dict[str, int],
            before: int, vacuum: bool) -> None:
    verb = f"archived to {p.archive} and dropped" if p.archive else "dropped"
    for table, n in gone.items():
        typer.echo(f"{table}: {n} rows {verb}")
    if vacuum:
        size.vacuum(conn)
    typer.echo(f"ks-retain: {db_path}: {before:,} -> {os.path.getsize(db_path):,} bytes on disk", err=True)
    if sum(gone.values()) and not size.incremental(conn):
        typer.echo("ks-retain: " + size.NO_AUTO_VACUUM.format(db=db_path), err=True)


def retain_command(
    db_path: Annotated[str, typer.Option(
        "--db-path", envvar="KS_DB", show_envvar=True, show_default=False, metavar="PATH", help="The kernelsight database. Default: "
        f"{SYSTEM_PATH} as root, else $XDG_STATE_HOME/kernelsight/kernelsight.db.")] = default_db_path(),
    raw: Annotated[Optional[str], typer.Option(
        "--raw", metavar="AGE", help="Keep raw rows this young (30m, 12h, 7d, 2y); older ones go, "
        "their minutes stay.", show_default=False)] = None,
    max_size: Annotated[Optional[str], typer.Option(
        "--max-size", metavar="SIZE", help="Then drop the oldest rows until the pages in use fit: "
        "500MB, 2GB (powers of 1000), 1.5GiB (of 1024).", show_default=False)] = None,
    archive_file: Annotated[Optional[str], typer.Option(
        "--archive", metavar="FILE", help="Copy every row that goes into this kernelsight "
        "database first (created when missing).", show_default=False)] = None,
    vacuum: Annotated[bool, typer.Option(
        "--vacuum", help="Rewrite the file at the end (full VACUUM): gives every free page back "
        "and turns incremental auto-vacuum on.")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only say per table how many rows and bytes would go.")] = False,
    batch: Annotated[int, typer.Option(
        "--batch", min=1, metavar="ROWS", help="Rows per short write transaction.")] = 5000,
    rollups: Annotated[Optional[str], typer.Option(
        "--rollups", metavar="AGE", help="Keep per-minute rollups this young; older minutes are "
        "summarised per hour (<table>_1h), then go (docs/tiers.md).", show_default=False)] = None,
    hourly: Annotated[Optional[str], typer.Option(
        "--hourly", metavar="AGE", help="Keep hourly rollups this young; older hours go.",
        show_default=False)] = None,
    version: Version = None,
) -> None:
    p = _policy(raw, max_size, archive_file, batch, rollups, hourly)
    if p.raw_ns is None and p.max_bytes is None and not p.tiers() and not vacuum:
        raise _fail(EXIT_USAGE, "nothing to do: give --raw AGE, --rollups AGE, --hourly AGE, "
                    "--max-size SIZE or --vacuum")
    if not os.path.exists(db_path):   # connecting would create an empty file
        raise _fail(EXIT_ERROR, f"{db_path}: no such database (ks-ingest creates it)")
    try:
        conn = schema.connect(db_path)
        if dry_run:
            return _dry_run(conn, p, time.time_ns())
        # an older file upgraded as ks-ingest would (its hours summarised from its minutes)
        schema.apply(conn, announce=lambda m: typer.echo(f"ks-retain: {m}", err=True))
        before = os.path.getsize(db_path)
        gone = retain.apply(conn, p, time.time_ns())
        _report(conn, db_path, p, gone, before, vacuum)
    except BrokenPipeError:           # `ks-retain ... | head -1`: the work is done
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except KeyboardInterrupt:
        raise _fail(130, "interrupted: the batches done are done (archived first), the rest is "
                    "as it was; run again to finish")
    except ValueError as e:          # the archive is the database itself
        raise _fail(EXIT_USAGE, f"--archive: {e}")
    except retain.DoesNotFit as e:
        raise _fail(EXIT_ERROR, f"{db_path}: {e}")
    except (sqlite3.Error, archive.ArchiveConflict, schema.NewerSchema) as e:
        raise _fail(EXIT_ERROR, f"{db_path}: {e}")


app = typer.Typer(**APP_SETTINGS)
app.command(help=HELP)(retain_command)


def main() -> None:
    app(prog_name="ks-retain")
