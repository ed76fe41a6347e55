"""ks-query: the kernelsight database back out, for people and for pipes.

A thin CLI over kernelsight.query (each subcommand is one library function).
Heavy modules are imported inside the commands so that a query answers fast.
"""

from __future__ import annotations

import inspect
import pathlib
import sys
from typing import Annotated, Callable, Optional

import typer

from . import render, times
from .run import run_cli
from .db import DEFAULT_PATH
from ..ingest.flags import APP_SETTINGS, Version, renamed

# -d was --db-path here and is --duration in every collector: the old spelling still works.
MOVED = {"-d": "--db-path"}

HELP = """Ask the kernelsight database what happened.

\b
Examples:
  ks-query summary                      # the last hour, across every table
  ks-query syscalls --since 15m --min-latency-ms 50
  ks-query rtt --since 2026-11-23T18:00 --until 2026-11-23T19:00
  ks-query io --step 1m --format csv > io.csv
  ks-query runqlat -f json | jq .p99_us
  ks-query sql "SELECT comm, count(*) FROM syscall_events GROUP BY comm"

Times: --since/--until take a duration back from now (90s, 15m, 1h, 2d), ISO 8601
(local time unless it carries a zone) or epoch seconds. Output is an aligned table
on a terminal and JSON lines in a pipe (--format table|json|csv).

A table is for people: it fits the terminal (80 columns in a pipe; --wide for every
column), with human units (1.8 MB/s, 12.3 ms) and local times. json and csv are for
tools: raw numbers named with their units (latency_ms, p99_us), ISO 8601 times with
the offset, and timestamp_ns on every row.
"""

# name -> (a function that makes the command, help).  Typer inspects the signature of
# every registered command each time it starts (~2 ms a command), so main() makes and
# registers only the one asked for.
COMMANDS: dict[str, tuple[Callable[[], Callable], str]] = {}

# ---- the options every subcommand shares ---------------------------------------------
DbPath = Annotated[str, typer.Option("--db-path", envvar="KS_DB", show_envvar=True, metavar="PATH",
                                     help="The SQLite file ks-ingest writes, or a clickhouse://HOST[:PORT]/DATABASE "
                                     "URL (also --clickhouse URL; see docs/clickhouse.md).")]
Since = Annotated[str, typer.Option("--since", "-s", metavar="TIME", help="Start of the window: 1h, 15m, ISO 8601, epoch s.")]
Until = Annotated[str, typer.Option("--until", "-u", metavar="TIME", help="End of the window (default: now).")]
Host = Annotated[Optional[str], typer.Option("--host", metavar="NAME", help="Only rows of this host.")]
Limit = Annotated[int, typer.Option("--limit", "-n", min=1, metavar="N", help="At most this many rows.")]
Format = Annotated[Optional[str], typer.Option(
    "--format", "-f", metavar="FORMAT", help="table, json (one object per line) or csv [default: table on a terminal, else json].")]
Wide = Annotated[bool, typer.Option(
    "--wide", help="A table with every column, however wide (by default a table fits the terminal, "
    "80 columns in a pipe, and says on stderr which columns it left out).")]
Step = Annotated[Optional[str], typer.Option("--step", metavar="DURATION", help="One row per step (30s, 1m, 1h); default: a round step.")]


class Window:
    """The resolved shared options of one invocation."""

    def __init__(self, db_path, since, until, host, limit, fmt, wide=False):
        self.fmt = fmt or render.default_format()
        self.fmt_given = fmt is not None    # --hist prints blocks in a pipe unless -f asks
        self.width = 0 if wide else None   # None: the terminal's (render.write)
        if self.fmt not in render.FORMATS:
            raise typer.BadParameter(f"{fmt!r}: use table, json or csv", param_hint="'--format'")
        self.start, self.end = times.window(since, until)
        self.since, self.until = since, until
        self.host, self.limit, self.db_path = host, limit, db_path

    def open(self, check_empty: bool = False):
        """The database, refused with one line unless it is a kernelsight one.  Whether
        it is empty is checked only when a query finds nothing (it reads every table)."""
        from .db import Database, require_data

        if self.db_path.startswith("clickhouse://"):
            from .clickhouse_db import ClickHouseDatabase

            # `tables` without --since counts every row: no bound on the fetch either
            bounds = (None, None) if self.since == "0" else (self.start, self.end)
            db = ClickHouseDatabase(self.db_path, *bounds, self.host)
        else:
            db = Database(self.db_path)
        require_data(db, check_empty=check_empty)
        return db


def _emit(w: Window, db, rows: list[dict], what: str) -> None:
    if rows:
        render.write(rows, w.fmt, width=w.width)
        if w.limit and len(rows) >= w.limit:  # a cut answer says so (on stderr: pipes stay clean)
            sys.stderr.write(f"ks-query: the first {len(rows)} rows; more may match (--limit N for more)\n")
        return
    from .db import require_data

    require_data(db)  # an empty database is an error, not an empty answer
    newest = db.newest()
    hint = f"; the newest row of any table is from {times.local(newest, ms=False)}" if newest else ""
    sys.stderr.write(f"ks-query: no {what} between {times.local(w.start, ms=False)} and "
                     f"{times.local(w.end, ms=False)}{hint}\n")


def _run(w: Window, what: str, query: Callable) -> None:
    db = w.open()
    try:
        _emit(w, db, query(db), what)
    finally:
        db.close()


HistOpt = Annotated[bool, typer.Option("--hist", help="Print bcc-style log2 histograms (as ks-hist does) "
                                      "of the merged buckets over the window, per key, instead of rows; "
                                      "with -f json, one row per key with its buckets, which ks-hist reads.")]


def _only(column: str, value) -> tuple[str, list]:
    """The (condition, params) of an optional --device/--node/--pid for _hist."""
    return (f"{column} = ?", [value]) if value is not None else ("", [])


def _hist(w: Window, type_name: str, extra: str = "", params=()) -> None:
    """The --hist of a subcommand: one block per key, from the window's merged buckets;
    with -f json/csv one row per key with its merged buckets (ks-hist reads them)."""
    from . import hist

    db = w.open()
    try:
        if w.fmt_given and w.fmt != "table":
            rows = hist.merged_rows(db, type_name, w.start, w.end, w.host, extra, params)
            rows.sort(key=lambda r: -sum(v for k, v in r.items() if k.endswith("count")))
            _emit(w, db, rows[:w.limit] if w.limit else rows, f"{type_name} histograms")
            return
        hists = hist.from_db(db, type_name, w.start, w.end, w.host, extra, params)
        if not hists:
            _emit(w, db, [], f"{type_name} histograms")
            return
        tty = sys.stdout.isatty()
        import os

        sys.stdout.write(hist.render(hists, top=w.limit, unicode=tty,
                                     colour=tty and not os.environ.get("NO_COLOR")))
    finally:
        db.close()


def _cmd(name: str, help: str):
    def register(fn):
        COMMANDS[name] = (lambda: fn, help)
        return fn

    return register


def _window_cmd(name: str, help: str, what: str, limit: int = 100):
    """A subcommand over a time window, like sqlite-utils' output_options: the shared
    options (--db-path, --since, --until, --host, --limit with this default, --format)
    are added here and resolved into a Window; the decorated function takes that
    Window and its own options and returns the query, ``db -> rows`` (or None when it
    wrote its answer itself, as --hist does); ``what`` names the rows when there are none."""
    kw = inspect.Parameter.KEYWORD_ONLY
    shared = [inspect.Parameter("db_path", kw, default=DEFAULT_PATH, annotation=DbPath),
              inspect.Parameter("since", kw, default="1h", annotation=Since),
              inspect.Parameter("until", kw, default="now", annotation=Until),
              inspect.Parameter("host", kw, default=None, annotation=Host),
              inspect.Parameter("limit", kw, default=limit, annotation=Limit),
              inspect.Parameter("fmt", kw, default=None, annotation=Format),
              inspect.Parameter("wide", kw, default=False, annotation=Wide)]

    def make(fn) -> Callable:
        own = list(inspect.signature(fn, eval_str=True).parameters.values())[1:]

        def command(db_path, since, until, host, limit, fmt, wide, **options):
            w = Window(db_path, since, until, host, limit, fmt, wide)
            query = fn(w, **options)
            if query is not None:   # None: the subcommand wrote its answer itself
                _run(w, what, query)

        params = shared + [p.replace(kind=kw) for p in own]
        command.__signature__ = inspect.Signature(params)
        command.__name__ = command.__qualname__ = fn.__name__
        return command

    def register(fn):
        COMMANDS[name] = (lambda: make(fn), help)
        return fn

    return register


By = Annotated[str, typer.Option(
    "--by", metavar="process|cgroup", help="One row per process (pid, comm), or per cgroup v2 "
    "(its path, as the collectors resolved it: a container, a systemd unit; rows without one "
    "under '').")]


# Other names people type for a subcommand (`ks-query slow-syscalls --since 1h`).
ALIASES = {"slow-syscalls": "syscalls"}


def build_app(only: str | None = None) -> typer.Typer:
    """The typer app with every subcommand, or with just ``only`` (same behaviour)."""
    app = typer.Typer(help=HELP, no_args_is_help=True, **APP_SETTINGS)

    @app.callback()
    def _group(version: Version = None):  # a callback keeps subcommand mode even with one command
        pass

    for name, (make, help) in COMMANDS.items():
        if only is None or name == only:
            app.command(name, help=help)(make())
    return app


# ---- subcommands -----------------------------------------------------------------------
@_cmd("summary", "What happened in the window, across every table (start here).")
def summary_cmd(db_path: DbPath = DEFAULT_PATH, since: Since = "1h", until: Until = "now",
                host: Host = None, limit: Limit = 3, fmt: Format = None, wide: Wide = False):
    from .overview import summary

    w = Window(db_path, since, until, host, limit, fmt, wide)
    db = w.open(check_empty=True)
    try:
        rows = summary(db, w.start, w.end, host=host, top=limit)
        if w.fmt != "table":
            # findings of the whole window: stamped with its start, named so
            stamp = {"window_start": times.iso(w.start), "timestamp_ns": w.start}
            render.write([{**r, **stamp} for r in rows], w.fmt)
            return
        title = (f"kernelsight summary of {db.path}" + (f", host {host}" if host else "") + "\n"
                 f"{times.local(w.start, ms=False)} -> {times.local(w.end, ms=False)} "
                 f"({times.span((w.end - w.start) / times.NS)})")
        if not rows:
            newest = db.newest()
            title += (f"\n\nnothing in this window; the newest row is from {times.local(newest, ms=False)}"
                      f" (try --since {times.span((times.now_ns() - newest) / times.NS + 60).replace(' ', '')})")
            sys.stdout.write(title + "\n")
            return
        sys.stdout.write(render.summary_text(rows, title, 10**6 if wide else None))
    finally:
        db.close()


@_cmd("tables", "Rows and time span per table and host (all time unless --since is given).")
def tables_cmd(db_path: DbPath = DEFAULT_PATH, since: Annotated[Optional[str], typer.Option(
                   "--since", "-s", metavar="TIME", help="Count only rows from this time on.")] = None,
               until: Until = "now", host: Host = None, limit: Limit = 1000, fmt: Format = None,
               wide: Wide = False,
               tiers: Annotated[bool, typer.Option(
                   "--tiers", help="Per table and tier (raw rows, per-minute and hourly rollups): rows, "
                   "span, size in MB (dbstat) and the age ks-retain keeps (docs/tiers.md).")] = False):
    from .overview import query_tables

    w = Window(db_path, since or "0", until, host, limit, fmt, wide)
    db = w.open()
    try:
        if tiers:
            from .tiers import query_tiers

            render.write(query_tiers(db)[:limit], w.fmt)
            return
        rows = query_tables(db, since and w.start, w.end if since or until != "now" else None, host=host)
        render.write(rows[:limit], w.fmt, width=w.width)
    finally:
        db.close()


@_cmd("sql", "Run one read-only SELECT (writes, ATTACH, write pragmas and extensions are refused).")
def sql_cmd(query: Annotated[Optional[str], typer.Argument(
                help="One SQL statement, e.g. \"SELECT * FROM load_metrics\"; - reads it from stdin.")] = None,
            db_path: DbPath = DEFAULT_PATH,
            limit: Annotated[Optional[int], typer.Option("--limit", "-n", min=1, metavar="N", help="At most this many rows.")] = None,
            fmt: Format = None, wide: Wide = False,
            file: Annotated[Optional[pathlib.Path], typer.Option(
                "--file", metavar="PATH", help="Read the statement from this file.")] = None,
            timeout: Annotated[float, typer.Option(
                "--timeout", min=0.0, metavar="S", help="End the statement after this many "
                "seconds (0: no limit), so an endless recursive CTE cannot run on.")] = 30.0):
    from . import sqlguard
    from .db import Database

    w = Window(db_path, "1h", "now", None, limit, fmt, wide)
    if db_path.startswith("clickhouse://"):
        from .db import QueryError

        raise QueryError("ks-query sql reads SQLite files; ask ClickHouse with clickhouse-client "
                         "(docs/clickhouse.md has examples)")
    text = _sql_text(query, file)
    with Database(db_path) as db:  # any SQLite file: sql is for looking around
        cols, chunks = sqlguard.stream(db.conn, text, limit, timeout or None)
        dicts = ([dict(zip(cols, tuple(r))) for r in chunk] for chunk in chunks)
        if w.fmt in ("json", "csv"):   # streamed: written as fetched
            render.write_chunks(dicts, w.fmt, columns=cols)
        else:                          # a table's widths need every row
            render.write([r for chunk in dicts for r in chunk], w.fmt, columns=cols, width=w.width)


def _sql_text(query: str | None, file: pathlib.Path | None) -> str:
    if (query is None) == (file is None):
        raise typer.BadParameter("give the statement, - (stdin) or --file PATH: one of them")
    if file is not None:
        return file.read_text()
    return sys.stdin.read() if query == "-" else query


@_window_cmd("syscalls", "The slowest system calls of the window (ks-syscalls), slowest first.",
             "slow syscalls", limit=20)
def syscalls_cmd(w: Window,
        min_latency_ms: Annotated[Optional[float], typer.Option(metavar="MS", help="Only calls at least this slow.")] = None,
        syscall: Annotated[Optional[str], typer.Option(metavar="NAME", help="Only this syscall (name).")] = None,
        pid: Annotated[Optional[int], typer.Option(metavar="PID", help="Only this process.")] = None):
    from .syscalls import query_syscalls_by_timerange as q

    return lambda db: q(db, w.start, w.end, min_latency_ms, w.limit, host=w.host,
                        syscall=syscall, pid=pid)


@_window_cmd("syscall-procs", "Processes ranked by time blocked in slow system calls.",
             "slow syscalls", limit=10)
def syscall_procs_cmd(w: Window, by: By = "process"):
    from .syscalls import query_top_processes_by_syscall_latency as q

    return lambda db: q(db, w.start, w.end, w.limit, host=w.host, by=by)


@_window_cmd("syscall-stats", "Every call counted (ks-syscalls --stats): busiest syscalls by total time.",
             "syscall counts", limit=20)
def syscall_stats_cmd(w: Window):
    from .syscalls import query_syscall_stats as q

    return lambda db: q(db, w.start, w.end, w.limit, host=w.host)


@_window_cmd("io", "Block I/O latency percentiles per device, merged from the stored histograms (ks-iolat).",
             "I/O latency rows", limit=100)
def io_cmd(w: Window,
        step: Annotated[Optional[str], typer.Option(
            "--step", metavar="DURATION", help="One row per device and step (30s, 1m); default: the whole window.")] = None,
        device: Annotated[Optional[str], typer.Option(metavar="NAME", help="Only this device, e.g. vda.")] = None,
        hist: HistOpt = False):
    from .storage import query_io_latency_percentiles as q

    if hist:
        return _hist(w, "io_latency", *_only("device", device))   # prints the histograms itself
    return lambda db: q(db, w.start, w.end, step, host=w.host, device=device, limit=w.limit)


@_window_cmd("block", "Per device: IOPS, throughput, time per I/O, utilisation (/proc/diskstats, ks-procfs).",
             "block device samples", limit=20)
def block_cmd(w: Window,
        device: Annotated[Optional[str], typer.Option(metavar="NAME", help="Only this device.")] = None):
    from .storage import query_block_io as q

    return lambda db: q(db, w.start, w.end, host=w.host, device=device, limit=w.limit)


@_window_cmd("memory", "Memory use per step: used %, least available, swap, dirty, memory PSI.",
             "memory samples", limit=100)
def memory_cmd(w: Window, step: Step = None):
    from .memory import query_memory_usage as q

    return lambda db: q(db, w.start, w.end, step, host=w.host, limit=w.limit)


@_window_cmd("network", "Per interface: bytes and packets per second, errors, drops (counter resets handled).",
             "interface samples", limit=20)
def network_cmd(w: Window,
        interface: Annotated[Optional[str], typer.Option(metavar="NAME", help="Only this interface.")] = None):
    from .network import query_network_bandwidth as q

    return lambda db: q(db, w.start, w.end, host=w.host, interface=interface, limit=w.limit)


@_window_cmd("tcp", "TCP sockets per state, per step (peak of each state).",
             "TCP state samples", limit=100)
def tcp_cmd(w: Window, step: Step = None):
    from .network import query_tcp_connections as q

    return lambda db: q(db, w.start, w.end, step, host=w.host, limit=w.limit)


@_window_cmd("retransmits", "TCP retransmits per second and as a share of segments sent, per step.",
             "TCP counter samples", limit=100)
def retransmits_cmd(w: Window, step: Step = None):
    from .network import query_tcp_retransmits as q

    return lambda db: q(db, w.start, w.end, step, host=w.host, limit=w.limit)


@_window_cmd("rtt", "TCP RTT per node: percentiles merged from the stored histograms, retransmits, drops (ks-rtt).",
             "RTT rows", limit=20)
def rtt_cmd(w: Window,
        node: Annotated[Optional[str], typer.Option(metavar="NAME", help="Only this node.")] = None,
        hist: HistOpt = False):
    from .network import query_rtt_by_node as q

    if hist:
        return _hist(w, "rtt", *_only("node", node))   # prints the histograms itself
    return lambda db: q(db, w.start, w.end, host=w.host, node=node, limit=w.limit)


@_window_cmd("runqlat", "Run-queue latency percentiles merged from the stored histograms (ks-sched).",
             "run-queue rows", limit=100)
def runqlat_cmd(w: Window,
        step: Annotated[Optional[str], typer.Option(
            "--step", metavar="DURATION", help="One row per step; default: the whole window.")] = None,
        per_cpu: Annotated[bool, typer.Option("--per-cpu", help="One row per CPU.")] = False,
        hist: HistOpt = False):
    from .sched import query_runqueue_latency as q

    if hist:
        return _hist(w, "runqlat", "cpu >= 0" if per_cpu else "cpu = -1")   # prints the histograms itself
    return lambda db: q(db, w.start, w.end, step, host=w.host, per_cpu=per_cpu, limit=w.limit)


@_window_cmd("sched-procs", "Processes by total time waiting for a CPU, every wait (ks-sched --per-process).",
             "per-process scheduler rows (run ks-sched --per-process)", limit=10)
def sched_procs_cmd(w: Window, by: By = "process"):
    from .sched import query_runqueue_wait_by_process as q

    return lambda db: q(db, w.start, w.end, w.limit, host=w.host, by=by)


@_window_cmd("sched-waits", "Processes with the most run-queue waits over ks-sched's threshold (10 ms); "
             "sched-procs counts every wait.", "long run-queue waits", limit=10)
def sched_waits_cmd(w: Window):
    from .sched import query_long_runqueue_waits as q

    return lambda db: q(db, w.start, w.end, w.limit, host=w.host)


@_window_cmd("cpu", "CPU utilisation per step, whole machine (mean per mode, peak busy %).",
             "CPU samples", limit=100)
def cpu_cmd(w: Window, step: Step = None):
    from .sched import query_cpu_usage as q

    return lambda db: q(db, w.start, w.end, step, host=w.host, limit=w.limit)


@_window_cmd("load", "Load averages per step.",
             "load samples", limit=100)
def load_cmd(w: Window, step: Step = None):
    from .sched import query_load as q

    return lambda db: q(db, w.start, w.end, step, host=w.host, limit=w.limit)


@_window_cmd("pagefaults", "Processes with the most page faults, with fault latency percentiles (ks-pagefaults).",
             "page-fault rows", limit=10)
def pagefaults_cmd(w: Window,
        pid: Annotated[Optional[int], typer.Option(metavar="PID", help="Only this process.")] = None,
        hist: HistOpt = False):
    from .faults import query_page_faults as q

    if hist:
        return _hist(w, "page_fault_stats", *_only("pid", pid))   # prints the histograms itself
    return lambda db: q(db, w.start, w.end, w.limit, host=w.host, pid=pid)


@_window_cmd("perf", "perf counters per counter and scope: total, per second, mean per interval (ks-perf).",
             "perf counter rows", limit=50)
def perf_cmd(w: Window,
        counter: Annotated[Optional[str], typer.Option(metavar="NAME", help="Only this counter, e.g. context-switches.")] = None):
    from .perf import query_perf_counters as q

    return lambda db: q(db, w.start, w.end, host=w.host, counter=counter, limit=w.limit)


@_window_cmd("correlate-memory", "Slow syscalls against memory: available memory at those moments vs the window's mean.",
             "slow syscalls with memory samples", limit=20)
def correlate_memory_cmd(w: Window,
        min_latency_ms: Annotated[Optional[float], typer.Option(
            metavar="MS", help="Only calls at least this slow.")] = None,
        tolerance: Annotated[float, typer.Option(
            min=0.0, metavar="SECONDS", help="Seconds between a call and its memory sample, at most.")] = 1.0):
    from .correlate import correlate_syscalls_with_memory as q

    return lambda db: q(db, w.start, w.end, min_latency_ms, w.limit, host=w.host, tolerance_s=tolerance)


@_window_cmd("correlate-rtt", "Per step: TCP RTT p99 and retransmits next to CPU busy % and run-queue p99.",
             "RTT or CPU rows", limit=100)
def correlate_rtt_cmd(w: Window, step: Step = None):
    from .correlate import correlate_rtt_with_cpu as q

    return lambda db: q(db, w.start, w.end, step, host=w.host, limit=w.limit)


@_window_cmd("hosts", "One line per host: newest row, p99 RTT, p99 I/O, run-queue p99, slow syscalls/s, memory used %.",
             "rows of any host", limit=1000)
def hosts_cmd(w: Window,
        sort: Annotated[str, typer.Option(metavar="COLUMN", help="Sort by this column, worst first: "
            "newest, rtt_p99_us, io_p99_us, runq_p99_us, "
            "slow_syscalls_per_s, memory_used_pct (default: host).")] = "host"):
    from .hosts import SORTABLE, query_hosts as q

    if sort not in SORTABLE:
        raise typer.BadParameter(f"{sort!r}: use one of {', '.join(SORTABLE)}", param_hint="'--sort'")
    return lambda db: q(db, w.start, w.end, host=w.host, sort=sort, limit=w.limit)


# ---- entry point -------------------------------------------------------------------------
def _clickhouse_option(args: list[str]) -> list[str]:
    """``--clickhouse URL``, before or after the subcommand, is ``--db-path URL``."""
    out, url = [], None
    it = iter(args)
    for a in it:
        if a == "--clickhouse":
            url = next(it, None)
            if url is None:
                out.append("--db-path")    # typer says the value is missing
        elif a.startswith("--clickhouse="):
            url = a.removeprefix("--clickhouse=")
        else:
            out.append(a)
    return out + ["--db-path", url] if url else out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ALIASES:
        args = [ALIASES[args[0]], *args[1:]]
    args = _clickhouse_option(renamed(args, MOVED, "ks-query"))
    only = args[0] if args and args[0] in COMMANDS else None
    return run_cli("ks-query", lambda: build_app(only)(args=args, prog_name="ks-query"))

if __name__ == "__main__":
    sys.exit(main())
