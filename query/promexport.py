"""ks-promexport: the kernelsight database as a Prometheus textfile.

Made to run from cron (or a systemd timer) every minute into node_exporter's
textfile collector directory; see docs/prometheus.md.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Optional

import typer

from . import times
from .run import run_cli
from .db import DEFAULT_PATH, QueryError

HELP = """Write the kernelsight database as Prometheus metrics (text format).

\b
  ks-promexport --textfile-dir /var/lib/prometheus/node-exporter   # for cron
  ks-promexport -                                                   # to stdout
  ks-promexport - | promtool check metrics

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
a state file next to the textfile (.kernelsight.prom.state), so each run only
reads the rows added since the previous one.
"""

app = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]})
FILENAME = "kernelsight.prom"


@app.command(help=HELP)
def export(
    dest: Annotated[Optional[str], typer.Argument(
        metavar="DEST", help="'-' for stdout, or the textfile directory (same as --textfile-dir).")] = None,
    textfile_dir: Annotated[str, typer.Option(
        "--textfile-dir", "-o", metavar="DIR",
        help=f"Write DIR/{FILENAME} atomically (temp file + rename); '-' writes to stdout.")] = "-",
    db_path: Annotated[str, typer.Option("--db-path", "-d", envvar="KS_DB", show_envvar=True, metavar="PATH",
                                         help="The SQLite file ks-ingest writes.")] = DEFAULT_PATH,
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
        metavar="PATH", help="Where to keep running totals [default: DIR/.kernelsight.prom.state; "
                             "none with '-': every run reads all rows].")] = None,
):
    from .db import Database, require_data
    from .prom_state import Busy, State
    from .prometheus import Exporter

    if le_per_octave not in (1, 2, 4, 8, 16):
        raise typer.BadParameter("use 1, 2, 4, 8 or 16", param_hint="'--le-per-octave'")
    window_s, stale_s = times.parse_duration(window), times.parse_duration(stale_after)
    if dest is not None:
        textfile_dir = dest
    to_stdout = textfile_dir == "-"
    if not to_stdout and not os.path.isdir(textfile_dir):
        raise QueryError(f"--textfile-dir {textfile_dir} is not a directory (create it, or use - for stdout)")
    if state_file is None and not to_stdout:
        state_file = os.path.join(textfile_dir, f".{FILENAME}.state")
    db = Database(db_path)
    require_data(db)
    try:
        state = State(state_file)
    except Busy as e:
        db.close()
        sys.stderr.write(f"ks-promexport: {e}\n")
        return
    try:
        exporter = Exporter(db, state, top=top, per_octave=le_per_octave, window_s=window_s,
                            stale_s=stale_s, host=host, rtt_gauges=rtt_gauges)
        exporter.update()
        _write(exporter, None if to_stdout else os.path.join(textfile_dir, FILENAME))
        state.save()
    finally:
        state.close()
        db.close()


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
    return run_cli("ks-promexport", lambda: app(args=argv, prog_name="ks-promexport"))

if __name__ == "__main__":
    sys.exit(main())
