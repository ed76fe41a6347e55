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
  ks-sched -i 1 | ks-hist                  # a block per second as it comes, a total at the end
  ks-sched -i 1 | ks-hist --interval 5     # one block per 5 s, runqlat per CPU
  ks-iolat -i 1 --count 10 | ks-hist --total   # only the one block for all 10 s
  ks-hist --msecs --top 3 < recorded.ndjson

Every event type with a histogram column is read (runqlat, io_latency, rtt,
page_fault_stats), one histogram per key (CPU, device + op, peer, process) with
count, p50, p99 and max under it; so are the single slow or sampled events of
ks-syscalls and ks-pagefaults, one latency each, per syscall and fault type
(ks-syscalls | ks-hist -i 10). A collector's events of one interval make one
block, printed as soon as the interval's lines have come (its time above it);
after more than one, a block of them all at the end (and on Ctrl-C). Rows
without an interval (ks-query io --hist -f json) make that one block. Other lines are
counted and told on stderr at the end. Bars are Unicode and the titles bold on a
terminal (NO_COLOR turns colour off), plain ASCII in a pipe.
"""

NS = 1_000_000_000
QUIET_S = 0.1   # no input for this long: the interval's lines have all come
QUIET = None    # what _input yields then


def _input(stream):
    """stdin's lines as they come, and QUIET once whenever it goes quiet (a collector
    writes an interval's lines in one burst, so its block can be printed then rather
    than when the next interval starts).  A stream without a file descriptor is read
    line by line."""
    import select

    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        yield from stream
        return
    buf, said_quiet = b"", True
    while True:
        if not said_quiet and not select.select([fd], [], [], QUIET_S)[0]:
            said_quiet = True
            yield QUIET
            continue
        data = os.read(fd, 1 << 16)
        if not data:
            break
        said_quiet = False
        *lines, buf = (buf + data).split(b"\n")
        yield from lines
    if buf:
        yield buf


def _lines(stream):
    import orjson

    bad = first_bad = n = 0
    for line in _input(stream):
        if line is QUIET:
            yield QUIET
            continue
        n += 1
        if not line.strip():
            continue
        try:
            yield orjson.loads(line)
        except orjson.JSONDecodeError:
            bad += 1
            first_bad = first_bad or n
    if bad:
        sys.stderr.write(f"ks-hist: {bad} line(s) not JSON, skipped (first: line {first_bad})\n")


class Blocks:
    """What is printed: a block per collector interval (or per --interval of event
    time), and with more than one of them the total at the end."""

    def __init__(self, out, top, opts, interval: float | None, total_only: bool):
        from . import hist

        self.hist, self.out, self.top, self.opts = hist, out, top, opts
        self.acc, self.total = hist.Accumulator(), {}
        self.interval, self.total_only, self.printed = interval, total_only, 0
        self.start = self.end = None    # event time of the open block
        self.live = False               # it holds a collector's interval events

    def add(self, ev) -> None:
        """Count an event, in the next block if it opens one; only events with a
        histogram time the blocks."""
        ts = ev.get("timestamp") if self.hist.spec_of(ev) else None
        timed = isinstance(ts, int) and not isinstance(ts, bool)
        if timed and self.start is not None and self._opens(ev, ts):
            self.flush()
        if not self.acc.add(ev):
            return
        if timed:
            self.start = ts if self.start is None else self.start
            self.end = ts
        self.live = self.live or "interval_ns" in ev

    def _opens(self, ev: dict, ts: int) -> bool:
        """Whether this event starts the next block: --interval's worth of event time
        since the block began, else (a collector's event) another interval's timestamp."""
        if self.interval:
            return ts - self.start >= self.interval * NS
        return "interval_ns" in ev and ts != self.end

    def quiet(self) -> None:
        """The input went quiet: a collector's interval has all come, print its block."""
        if self.interval is None and self.live:
            self.flush()

    def flush(self) -> None:
        hists = self.acc.take()
        for k, h in hists.items():
            self.total[k] = self.hist.histogram.merge([self.total.get(k, {}), h])
        if hists and not self.total_only:
            heading = _clock(self.end) + "\n\n" if self.end is not None else ""
            self.printed += 1   # first: a Ctrl-C right after the write must find it counted
            self._write(heading + self.hist.render(hists, top=self.top, **self.opts))
        self.start = self.end = None
        self.live = False

    def finish(self) -> None:
        self.flush()
        if self.total and (self.total_only or self.printed > 1):
            heading = "" if self.total_only else f"all {self.printed} blocks\n\n"
            self._write(heading + self.hist.render(self.total, top=self.top, **self.opts))

    def _write(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


def _clock(ns: int) -> str:
    """An event time as runqlat -T prints it (local time of day)."""
    import time

    return time.strftime("%H:%M:%S", time.localtime(ns / NS))


def run(stream, out, *, interval: float | None, top, opts, total_only: bool = False) -> None:
    b = Blocks(out, top, opts, interval, total_only)
    try:
        for ev in _lines(stream):
            if ev is QUIET:
                b.quiet()
            else:
                b.add(ev)
    finally:  # at EOF, and on Ctrl-C (as runqlat does): what was read is printed
        b.finish()
    acc = b.acc
    if acc.skipped:
        sys.stderr.write(f"ks-hist: {acc.skipped} event(s) without a histogram, skipped\n")
    if acc.malformed:
        sys.stderr.write(f"ks-hist: {acc.malformed} event(s) with a malformed histogram, skipped\n")


def command(
    msecs: Annotated[bool, typer.Option("--msecs", help="Rows in milliseconds (default microseconds).")] = False,
    linear: Annotated[bool, typer.Option("--linear", help="One row per fine bucket (1/16 of a power of two) instead of log2 rows.")] = False,
    interval: Annotated[Optional[float], typer.Option("--interval", "-i", min=0.001, metavar="SECONDS",
                        help="One block per this much event time (default: one per collector interval).")] = None,
    total: Annotated[bool, typer.Option("--total", "-t", help="Only the one block of everything read, at the end.")] = False,
    top: Annotated[Optional[int], typer.Option("--top", "-n", min=1, metavar="N", help="Only the N keys with the most samples.")] = None,
    width: Annotated[int, typer.Option("--width", "-w", min=1, max=500, help="Width of the bars in characters.")] = 40,
    version: Version = None,
) -> None:
    tty = sys.stdout.isatty()
    opts = dict(msecs=msecs, linear=linear, width=width, unicode=tty,
                colour=tty and not os.environ.get("NO_COLOR"))
    run(sys.stdin, sys.stdout, interval=interval, top=top, opts=opts, total_only=total)


def main(argv: list[str] | None = None) -> int:
    app = typer.Typer(help=HELP, **APP_SETTINGS)
    app.command(help=HELP)(command)
    # -m is --min-latency in the collectors: the old spelling of --msecs still works
    args = renamed(sys.argv[1:] if argv is None else argv, {"-m": "--msecs"}, "ks-hist")
    return run_cli("ks-hist", lambda: app(args=args, prog_name="ks-hist"))


if __name__ == "__main__":
    sys.exit(main())
