"""ks-hist: the log2 histogram a person reads, from any ks stream on stdin.

A thin CLI over kernelsight.query.hist.  Blocks follow event time (the events'
``timestamp``), so a recorded stream prints exactly what it printed live.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Optional

import typer

from .run import run_cli
from ..ingest.flags import APP_SETTINGS, Version, renamed

HELP = """Print bcc-style log2 latency histograms of ks events read on stdin.

\b
Examples:
  ks-sched -i 1 | ks-hist --interval 5     # one block per 5 s, runqlat per CPU
  ks-iolat -i 1 --count 10 | ks-hist       # one block at the end, per device and op
  ks-hist --msecs --top 3 < recorded.ndjson

Every event type with a histogram column is read (runqlat, io_latency, rtt,
page_fault_stats), one histogram per key (CPU, device + op, peer, process) with
count, p50, p99 and max under it. Other lines are counted and told on stderr at the
end. Bars are Unicode and the titles bold on a terminal (NO_COLOR turns colour off),
plain ASCII in a pipe.
"""

NS = 1_000_000_000


def _lines(stream):
    import orjson

    bad = first_bad = 0
    for n, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            yield orjson.loads(line)
        except orjson.JSONDecodeError:
            bad += 1
            first_bad = first_bad or n
    if bad:
        sys.stderr.write(f"ks-hist: {bad} line(s) not JSON, skipped (first: line {first_bad})\n")


def run(stream, out, *, interval: float | None, top, opts) -> None:
    from . import hist

    acc, t0 = hist.Accumulator(), None

    def flush():
        text = hist.render(acc.take(), top=top, **opts)
        if text:
            out.write(text + "\n")
            out.flush()

    try:
        for ev in _lines(stream):
            ts = ev.get("timestamp") if isinstance(ev, dict) else None
            if interval and isinstance(ts, int):
                t0 = ts if t0 is None else t0
                if ts - t0 >= interval * NS:  # this event opens the next block
                    flush()
                    t0 = ts
            acc.add(ev)
    finally:  # at EOF, and on Ctrl-C (as runqlat does): what was read is printed
        flush()
    if acc.skipped:
        sys.stderr.write(f"ks-hist: {acc.skipped} event(s) without a histogram, skipped\n")
    if acc.malformed:
        sys.stderr.write(f"ks-hist: {acc.malformed} event(s) with a malformed histogram, skipped\n")


def command(
    msecs: Annotated[bool, typer.Option("--msecs", help="Rows in milliseconds (default microseconds).")] = False,
    linear: Annotated[bool, typer.Option("--linear", help="One row per fine bucket (1/16 of a power of two) instead of log2 rows.")] = False,
    interval: Annotated[Optional[float], typer.Option("--interval", "-i", min=0.001, metavar="SECONDS",
                        help="One block per this much event time (default: one block at EOF).")] = None,
    top: Annotated[Optional[int], typer.Option("--top", "-n", min=1, metavar="N", help="Only the N keys with the most samples.")] = None,
    width: Annotated[int, typer.Option("--width", "-w", min=1, max=500, help="Width of the bars in characters.")] = 40,
    version: Version = None,
) -> None:
    tty = sys.stdout.isatty()
    opts = dict(msecs=msecs, linear=linear, width=width, unicode=tty,
                colour=tty and not os.environ.get("NO_COLOR"))
    run(sys.stdin, sys.stdout, interval=interval, top=top, opts=opts)


def main(argv: list[str] | None = None) -> int:
    app = typer.Typer(help=HELP, **APP_SETTINGS)
    app.command(help=HELP)(command)
    # -m is --min-latency in the collectors: the old spelling of --msecs still works
    args = renamed(sys.argv[1:] if argv is None else argv, {"-m": "--msecs"}, "ks-hist")
    return run_cli("ks-hist", lambda: app(args=args, prog_name="ks-hist"))


if __name__ == "__main__":
    sys.exit(main())
