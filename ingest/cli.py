"""ks-ingest: JSON event lines from ks collectors (or the original KernelSight tools)
into SQLite, batched, with nothing lost on the way."""

from __future__ import annotations

import os
import pathlib
import sys
from typing import Annotated, Optional

import typer

from .flags import APP_SETTINGS, Version
from .paths import SYSTEM_PATH, default_db_path

from . import events as ev
from . import retain_live
from .parse import Parser
from .locks import WaitNotice
from .pipeline import Ingester, Options, RejectLog, ReplaySource, Stats, StopSignals, warn
from .reader import LineSource
from .resume import Positions, committed_lines
from .sink import SinkFailed, SQLiteSink
from .writer import InlineCommitter, ProcessCommitter

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

HELP = """\
Store JSON event lines in SQLite, one table per event type.

Reads standard input, or the FILES named, one JSON object per line; commits when a
table has --batch-size rows pending, and at the latest --batch-timeout seconds after
the oldest pending event, even while the input is idle.  A writer process does the
inserts on another core; rows that arrive while it writes join the next commit, so
a flood makes fewer, larger commits.  SIGTERM, Ctrl-C and the end of input commit
what is pending.

\b
  ks-procfs | ks-ingest --db-path data/kernelsight.db
  ks-syscalls --min-latency 10 | ks-ingest --reject-file rejects.ndjson
  ks-ingest --batch-size 10000 recorded/*.ndjson        # bulk load: few commits
  ks-ingest --init-only --db-path data/kernelsight.db   # create or upgrade the schema
  ks-ingest --replay-rejects rejects.ndjson --reject-file again.ndjson
  ks-ingest --resume recorded/*.ndjson                  # after a crash: each line once
  ks-rtt | ks-ingest --clickhouse clickhouse://ch1:9000/kernelsight   # the fleet store

Lines of the original KernelSight tools are accepted too (their type names, nested
"data" objects, lines without "type", timestamps counted since boot).  A valid JSON
object of an unknown type goes to the unknown_events table; a bad line is counted,
told on stderr with its line number, and kept in --reject-file, byte for byte.

--replay-rejects feeds the lines a reject file kept through the same parsing again
(after a fix to ks-ingest, the schema or the file): each line counts as read once
more, and a line rejected again goes to --reject-file with its original source and
line number.  A line of that file that is no reject record is counted and told, and
never fed.

Exit status: 0 when all input was read (even with rejects), 1 when the database
failed, 2 on bad usage (also when a --replay-rejects file has lines that are no
reject record; its other lines are stored).
"""


def ingest(
    files: Annotated[Optional[list[pathlib.Path]], typer.Argument(
        help="Files of JSON lines to read in turn ('-' is standard input). Default: standard input.",
        show_default=False)] = None,
    db_path: Annotated[pathlib.Path, typer.Option(
        "--db-path", envvar="KS_DB", show_envvar=True,
        help="SQLite database file; created (with its parent folders, mode 0750) when missing. "
             f"Default: {SYSTEM_PATH} as root, else $XDG_STATE_HOME/kernelsight/kernelsight.db.")]
        = pathlib.Path(default_db_path()),
    version: Version = None,
    batch_size: Annotated[Optional[int], typer.Option(
        "--batch-size", min=1, show_default=False, help="Commit when a table has this many rows "
        "pending [default: 100; 10000 with --clickhouse].")] = None,
    batch_timeout: Annotated[float, typer.Option(
        "--batch-timeout", min=0.0, help="Commit at the latest this many seconds after the oldest pending event.")] = 1.0,
    init_only: Annotated[bool, typer.Option(
        "--init-only", help="Create or upgrade the schema, then exit.")] = False,
    reject_file: Annotated[Optional[pathlib.Path], typer.Option(
        "--reject-file", help='Append each rejected line here as one JSON object, '
        '{"source","line","reason","raw"}: "raw" is the line as text.  A line that is not '
        'valid UTF-8 also has "raw_base64", its exact bytes ("raw" then shows each bad byte '
        'as \\xNN, which a line may hold as text too); a line cut at the length limit has '
        '"truncated": true and its "length".')] = None,
    replay_rejects: Annotated[Optional[list[pathlib.Path]], typer.Option(
        "--replay-rejects", metavar="FILE", help="Read the lines kept in this reject file "
        "(from --reject-file) instead of FILES, exactly as they were first read.  Repeatable.",
        show_default=False)] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="After a crash or kill: skip the lines of each FILE that an earlier run "
        "already committed (the database notes, per file path, its inode and the lines "
        "committed with each commit), so each line is stored once.  A file put in the place "
        "of the one read before (another inode) is read from its start.")] = False,
    progress: Annotated[bool, typer.Option(
        "--progress", help="Show a live rate on stderr (when it is a terminal).")] = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Say what the schema upgrade did, and which unknown fields were dropped.")] = False,
    single_process: Annotated[bool, typer.Option(
        "--single-process", help="Write to SQLite from this process, not from a writer process on another core. "
             "With large batches it is the cheaper and, when the cores are busy, the faster one (--batch-size 10000 "
             "on a loaded 2-core VM: 1.35x the events per CPU-second, 1.24x the events/s); at the default batch "
             "both cost the same within the noise (bench/bench_ingest.py).")] = False,
    clickhouse: Annotated[Optional[str], typer.Option(
        "--clickhouse", metavar="URL", help="Store into ClickHouse instead of SQLite: "
        "clickhouse://HOST[:PORT]/DATABASE (native protocol, port 9000; the database and "
        "tables are created on first use).  Batches the server does not take wait in "
        "--spool-dir and are sent in order when it answers again.  See docs/clickhouse.md.",
        show_default=False)] = None,
    spool_dir: Annotated[pathlib.Path, typer.Option(
        "--spool-dir", help="With --clickhouse: where batches wait while the server is down "
        "(an append-only file per server and database, kept across restarts).")] = pathlib.Path("data/spool"),
    clickhouse_ttl: Annotated[Optional[str], typer.Option(
        "--clickhouse-ttl", metavar="DAYS", help="With --clickhouse: keep this many days (30d). "
        "A table TTL on ClickHouse 19.6 and newer (set when the tables are created); on older "
        "servers ks-ingest drops the whole days past it, at start and hourly.",
        show_default=False)] = None,
    retain: Annotated[Optional[str], typer.Option(
        "--retain", metavar="SPEC", help="Run ks-retain from here: at start, then every 5 minutes "
        "(every=10m to change it).  SPEC is ks-retain's options as KEY=VALUE: "
        "raw=7d,rollups=90d,hourly=2y,max-size=2GB,archive=FILE.  See docs/retention.md.", show_default=False)] = None,
) -> None:
    stats = Stats()
    if files and replay_rejects:
        warn("give FILES or --replay-rejects, not both")
        raise typer.Exit(EXIT_USAGE)
    if resume and (clickhouse or not files or any(str(f) == "-" for f in files)):
        warn("--resume needs FILES to read (standard input cannot be read again) and SQLite "
             "(not --clickhouse, whose spool already sends each batch once)")
        raise typer.Exit(EXIT_USAGE)
    retention = _retention(retain, clickhouse, db_path)
    try:
        rejects = RejectLog(str(reject_file) if reject_file else None, stats)
    except OSError as e:
        warn(f"cannot open reject file {reject_file}: {e.strerror}")
        raise typer.Exit(EXIT_USAGE)
    def make_sink():
        return SQLiteSink(db_path, on_wait=warn if verbose else (lambda m: None))

    # Before the database opens: a SIGTERM while it is locked by another writer is ours
    # to handle (keep the lines), not the default action's (die with them).
    with StopSignals() as signals:
        lock_wait = WaitNotice(db_path, warn)
        try:
            if clickhouse:
                from .clickhouse_cli import open_committer

                committer, db_path = open_committer(clickhouse, spool_dir, clickhouse_ttl,
                                                    init_only, single_process)
            elif init_only or single_process:
                committer = InlineCommitter(make_sink())
            else:
                committer = ProcessCommitter(str(db_path), should_stop=lambda: bool(signals.signum),
                                             on_wait=lock_wait.tick)
        except SinkFailed as e:
            warn(str(e))
            if signals.signum and not init_only:
                _keep_unread(files, replay_rejects, rejects, f"not stored: {e}")
            rejects.close()
            raise typer.Exit(EXIT_ERROR)
        except typer.BadParameter:
            rejects.close()
            raise
        lock_wait.done()
        for change in committer.changes:
            if verbose or not change.startswith("schema version 0"):
                warn(f"{db_path}: {change}")
        if init_only:
            committer.close()
            rejects.close()
            if verbose:
                warn(f"{db_path}: schema version {ev.SCHEMA_VERSION}, {len(ev.TYPES)} event tables")
            return

        if batch_size is None:
            batch_size = 10_000 if clickhouse else 100
        options = Options(batch_size, batch_timeout, verbose, progress and _isatty(2))
        ingester = Ingester(committer, Parser(), options, rejects, stats)
        ingester.lock_wait = lock_wait
        signals.ingester = ingester
        if signals.signum:
            ingester.stopping = True
        status = EXIT_OK
        if retention:
            retention.start()
        try:
            if replay_rejects:
                sources = _open_replays(replay_rejects, signals.read_fd, rejects)
            else:
                sources = _open_sources(files, signals.read_fd)
                if not clickhouse:
                    ingester.positions = _positions(sources, db_path, resume)
            _not_the_reject_file(sources, rejects)
            try:
                ingester.run(sources)
            except SinkFailed as e:
                status = _database_failed(ingester, rejects, db_path, str(e))
            finally:
                _close(sources)
        except _NoInput as e:
            warn(str(e))
            status = EXIT_USAGE
        finally:
            if retention:
                retention.stop()
            committer.close()
            if options.progress:
                sys.stderr.write("\n")
            rejects.close()
    for src in rejects.replays.values():
        if src.not_records:
            status = status or EXIT_USAGE
            warn(f"{src.name}: {src.not_records} of {src.lines.lineno} lines are no reject record"
                 + (": is it a file that --reject-file wrote?" if src.not_records == src.lines.lineno else ""))
    if verbose and ingester.parser.dropped:
        dropped = ", ".join(f"{k} ({n})" for k, n in sorted(ingester.parser.dropped.items()))
        warn(f"unknown fields dropped: {dropped}")
    warn(stats.summary())
    raise typer.Exit(status)


def _retention(spec: str | None, clickhouse: str | None, db_path):
    """--retain's policy, checked before anything opens (exit 2 when it is wrong)."""
    if spec is None:
        return None
    if clickhouse:
        warn("--retain works on SQLite; ClickHouse keeps days with --clickhouse-ttl")
        raise typer.Exit(EXIT_USAGE)
    try:
        policy, every = retain_live.parse(spec)
    except ValueError as e:
        warn(f"--retain: {e}")
        raise typer.Exit(EXIT_USAGE)
    return retain_live.LiveRetention(db_path, policy, every, warn)


class _NoInput(Exception):
    pass


def _positions(sources: list[LineSource], db_path, resume: bool) -> Positions:
    """Track each input file's committed lines; with --resume, skip those of an earlier run."""
    positions = Positions()
    for src in sources:
        positions.track(src)
        if resume and src.name in positions.files:
            skip, note = committed_lines(db_path, src)
            warn(note)
            if skip and src.skip(skip) < skip:
                warn(f"{src.name}: has only {src.lineno:,} lines now: nothing left to read")
            positions.parsed(src.name, src.lineno)
    return positions


def _open_sources(files: list[pathlib.Path] | None, wake_fd: int, source=LineSource) -> list:
    """A LineSource (or ``source(fd, name, wake_fd=)``) for each file, '-' as stdin."""
    if not files:
        return [source(0, "-", wake_fd=wake_fd)]
    sources = []
    for f in files:
        if str(f) == "-":
            sources.append(source(0, "-", wake_fd=wake_fd))
            continue
        try:
            fd = os.open(f, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            _close(sources)
            raise _NoInput(f"cannot read {f}: {e.strerror}") from None
        sources.append(source(fd, str(f), wake_fd=wake_fd))
    return sources


def _open_replays(files: list[pathlib.Path], wake_fd: int, rejects: RejectLog) -> list[ReplaySource]:
    """The reject files to replay, known to the reject log by name (each may be
    given once: their lines are told apart by it)."""
    if len(set(map(str, files))) < len(files):
        raise _NoInput("a --replay-rejects file is given twice")
    sources = _open_sources(files, wake_fd, lambda fd, name, **kw: ReplaySource(fd, name, rejects.stats, **kw))
    rejects.replays.update((src.name, src) for src in sources)
    return sources


def _not_the_reject_file(sources: list, rejects: RejectLog) -> None:
    """Reading the reject file we append to would read its own rejects again, forever."""
    if rejects.file is None:
        return
    kept = os.fstat(rejects.file.fileno())
    for src in sources:
        st = os.fstat(src.fd)
        if (st.st_dev, st.st_ino) == (kept.st_dev, kept.st_ino):
            _close(sources)
            raise _NoInput(f"{src.name} is the --reject-file too: write the rejects to another file")


def _close(sources: list) -> None:
    for s in sources:
        if s.fd != 0:
            os.close(s.fd)


def _database_failed(ingester: Ingester, rejects: RejectLog, db_path, cause: str) -> int:
    """The database cannot take rows any more: say why once, keep the pending lines."""
    pending = list(ingester.pending_lines())
    reason = f"not stored: {cause}"
    if rejects.file is not None:
        for source, lineno, line in pending:
            rejects.keep(source, lineno, line, reason)   # falls back to stderr itself
        where = f"written to {rejects.path}" if rejects.file is not None else "written to stderr"
    else:
        for source, lineno, line in pending:
            try:
                sys.stderr.buffer.write(bytes(line) + b"\n")
            except (OSError, ValueError):
                break
        where = "written to stderr"
    ingester.stats.rejected += len(pending)
    warn(f"cannot write to {db_path}: {cause}; {len(pending)} pending lines {where}")
    return EXIT_ERROR


def _keep_unread(files, replay_rejects, rejects: RejectLog, reason: str) -> None:
    """Stopped before the database opened: the lines already in the stdin pipe are
    kept as rejects (files and reject files keep their own lines)."""
    if files or replay_rejects:
        return
    src = LineSource(0, "-")

    def keep(lines):
        for i, line in enumerate(lines, src.lineno - len(lines) + 1):
            if line.strip():
                rejects.reject("-", i, line, reason)

    while True:   # what is in the pipe now; a writer that goes on is not waited for
        lines = src.read(0)
        if not lines and (src.eof or not _readable_now(0)):
            break
        keep(lines)
    keep(src.unterminated())
    rejects.stats.lines += src.lineno


def _readable_now(fd: int) -> bool:
    import select

    try:
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return False


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


app = typer.Typer(**APP_SETTINGS)
app.command(help=HELP, no_args_is_help=False)(ingest)


def main() -> None:
    app(prog_name="ks-ingest")


if __name__ == "__main__":
    main()
