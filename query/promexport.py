"""ks-promexport: the kernelsight database as a Prometheus textfile, or served
live over HTTP (--listen, prom_serve.py).

The textfile is made to run from cron (or a systemd timer) every minute into
node_exporter's textfile collector directory; see docs/prometheus.md.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Optional

import typer

from . import times
from .run import run_cli
from ..ingest.flags import APP_SETTINGS, Version, renamed
from .db import DEFAULT_PATH, QueryError
from .prom_serve import DEFAULT_PORT
from .prom_state import adopt_old_state, default_state_dir, state_path

HELP = """Write the kernelsight database as Prometheus metrics (text format), or serve it.

\b
  ks-promexport --textfile-dir /var/lib/prometheus/node-exporter   # for cron
  ks-promexport -                                                   # to stdout
  ks-promexport - | promtool check metrics
  ks-promexport --listen :19435     # an exporter: GET /metrics reads the database

\b
What it writes:
  ebpf_rtt_p50_milliseconds{node}, ebpf_rtt_p99_milliseconds{node}
      RTT percentiles per node over the last --window (the RTT design's gauges)
  ks_tcp_rtt_seconds, ks_block_io_latency_seconds{device,op},
  ks_runqueue_latency_seconds, ks_page_fault_latency_seconds
      real histograms (_bucket{le}, _sum, _count), cumulative over every row
      ever stored, so histogram_quantile(0.99, rate(X_bucket[5m])) is the p99
      of those five minutes. le: --le-per-octave true bucket bounds per power
      of two, over the octaves the data spans, then +Inf.
  ks_memory_*_bytes, ks_load1/5/15, ks_cpu_usage_ratio{mode},
  ks_tcp_connections{state}: the newest sample (younger than --stale-after)
  ks_tcp_*_total, ks_network_*_total, ks_block_*_total: kernel counters
  ks_slow_syscalls_total{syscall}, ks_syscalls_total{syscall},
  ks_tcp_node_retransmits_total{node}, ks_tcp_node_drops_total{node},
  ks_page_faults_total{kind}, ks_process_runqueue_wait_seconds_total{comm},
  ks_perf_events_total{scope,counter}: counted from the stored intervals
  ks_table_newest_row_age_seconds{table}: a dead collector shows as growth

Cardinality: node, syscall, interface and device labels keep the --top values
busiest lately by what they measure (segments, calls, bytes); a value that gets
busy later takes a series, and no counter goes backwards. The rest of node and
syscall is summed under "other". Every ks_ metric has a host label.
No client-side timestamps. The totals so far and the last row read are kept in
a state file under --state-dir (textfile.state, listen.state), so each run or
scrape only reads the rows added since the previous one, and counters never go
backwards across runs or restarts. A state file an older version left in the
textfile directory (.kernelsight.prom.state) is moved there once.

--listen serves the same families at scrape time (and its own health:
ks_exporter_scrape_duration_seconds, ks_exporter_scrape_errors_total); a
database that is missing or locked answers 503 with one line saying why.
"""

app = typer.Typer(**APP_SETTINGS)
FILENAME = "kernelsight.prom"


@app.command(help=HELP)
def export(
    dest: Annotated[Optional[str], typer.Argument(
        metavar="DEST", help="'-' for stdout, or the textfile directory (same as --textfile-dir).")] = None,
    textfile_dir: Annotated[str, typer.Option(
        "--textfile-dir", "-o", metavar="DIR",
        help=f"Write DIR/{FILENAME} atomically (temp file + rename); '-' writes to stdout.")] = "-",
    db_path: Annotated[str, typer.Option("--db-path", envvar="KS_DB", show_envvar=True, metavar="PATH",
                                         help="The SQLite file ks-ingest writes.")] = DEFAULT_PATH,
    version: Version = None,
    window: Annotated[str, typer.Option(metavar="DURATION",
                                        help="Window of the ebpf_rtt_p50/p99 gauges.")] = "5m",
    stale_after: Annotated[str, typer.Option(metavar="DURATION",
                                             help="Gauges and kernel counters come from rows younger than this.")] = "5m",
    top: Annotated[int, typer.Option(min=1, metavar="N", help="Series per open-ended label (node, syscall, interface, device).")] = 10,
    le_per_octave: Annotated[int, typer.Option(
        min=1, max=16, metavar="N", help="Histogram le bounds per power of two: 1, 2, 4, 8 or 16.")] = 4,
    host: Annotated[Optional[str], typer.Option(metavar="NAME", help="Only rows of this host.")] = None,
    rtt_gauges: Annotated[bool, typer.Option(
        "--rtt-gauges/--no-rtt-gauges",
        help="Write the RTT design's ebpf_rtt_p50/p99_milliseconds gauges (their names are the only "
             "thing promtool's lint flags: not in base units).")] = True,
    state_file: Annotated[Optional[str], typer.Option(
        metavar="PATH", help="Where to keep running totals [default: STATE_DIR/textfile.state or "
                             "listen.state; none with '-': every run reads all rows].")] = None,
    state_dir: Annotated[Optional[str], typer.Option(
        metavar="DIR", help="Directory of the state files [default: promexport-state/ beside the database].")] = None,
    listen: Annotated[Optional[str], typer.Option(
        metavar="[ADDR]:PORT", help=f"Serve /metrics over HTTP instead of writing a file "
                                    f"(ADDR defaults to 127.0.0.1, PORT to {DEFAULT_PORT}).")] = None,
):
    from .db import Database, require_data
    from .prom_state import Busy, State

    if le_per_octave not in (1, 2, 4, 8, 16):
        raise typer.BadParameter("use 1, 2, 4, 8 or 16", param_hint="'--le-per-octave'")
    options = dict(top=top, per_octave=le_per_octave, window_s=times.parse_duration(window),
                   stale_s=times.parse_duration(stale_after), host=host, rtt_gauges=rtt_gauges)
    state_dir = state_dir or default_state_dir(db_path)
    if listen is not None:
        return _listen(listen, db_path, state_file or state_path(state_dir, "listen"), options)
    if dest is not None:
        textfile_dir = dest
    to_stdout = textfile_dir == "-"
    if not to_stdout and not os.path.isdir(textfile_dir):
        raise QueryError(f"--textfile-dir {textfile_dir} is not a directory (create it, or use - for stdout)")
    if state_file is None and not to_stdout:
        state_file = state_path(state_dir, "textfile")
        if adopt_old_state(os.path.join(textfile_dir, f".{FILENAME}.state"), state_file):
            sys.stderr.write(f"ks-promexport: moved the state file from {textfile_dir} to {state_file}\n")
    db = Database(db_path)
    require_data(db)
    try:
        state = State(state_file)
    except Busy as e:
        db.close()
        sys.stderr.write(f"ks-promexport: {e}\n")
        return
    try:
        from .prometheus import Exporter

        exporter = Exporter(db, state, **options)
        exporter.update()
        _write(exporter, None if to_stdout else os.path.join(textfile_dir, FILENAME))
        state.save()
    finally:
        state.close()
        db.close()


def _listen(listen: str, db_path: str, state_file: str, options: dict) -> None:
    from .prom_serve import Scraper, parse_listen, serve
    from .prom_state import Busy, State

    try:
        host, port = parse_listen(listen)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="'--listen'") from None
    try:
        state = State(state_file)
    except Busy:
        raise QueryError(f"another ks-promexport uses the state file {state_file}: "
                         "give this one its own --state-dir") from None
    try:
        serve(Scraper(db_path, state, options), host, port)
    finally:
        state.close()


def _write(exporter, path: str | None) -> None:
    from prometheus_client import CollectorRegistry, generate_latest, write_to_textfile

    class _Collector:
        def collect(self):
            return exporter.families()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    if path is None:
        sys.stdout.buffer.write(generate_latest(registry))
        sys.stdout.flush()
    else:
        write_to_textfile(path, registry)  # temp file in the same directory, then rename


def main(argv: list[str] | None = None) -> int:
    # -d was --db-path here and is --duration in every collector: the old spelling still works
    args = renamed(sys.argv[1:] if argv is None else argv, {"-d": "--db-path"}, "ks-promexport")
    return run_cli("ks-promexport", lambda: app(args=args, prog_name="ks-promexport"))

if __name__ == "__main__":
    sys.exit(main())
