"""What every ks collector shares: JSON-line output, the interval loop, signals, errors.

* Events go to stdout as whole lines, packed into write() calls of at most PIPE_BUF
  bytes, so two collectors writing into one pipe never interleave inside a line.
* Ctrl-C, SIGTERM and a closed pipe (``ks-rtt | head -1``) end the run quietly; the
  caller's ``finally`` blocks detach what they attached.
* Kernel CLOCK_MONOTONIC timestamps (bpf_ktime_get_ns) become epoch ns here.
"""

from __future__ import annotations

import inspect
import os
import select
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Annotated, Callable, Optional

import orjson
import typer

# EXIT_NOPERM and EXIT_UNAVAILABLE are the binding's, re-exported for the collectors.
from kernelsight.bpf.errors import EXIT_NOPERM, EXIT_UNAVAILABLE, BpfError  # noqa: F401
from kernelsight.ingest.flags import APP_SETTINGS, Version, renamed

PIPE_BUF = 4096  # POSIX: pipe writes up to this size are atomic

# Exit statuses a script can tell apart.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


class Stop(Exception):
    """Raised inside a collector to end the run (signal, closed pipe, count reached)."""


class Fatal(Exception):
    """An error with a one-line message for the user and an exit status."""

    def __init__(self, message: str, status: int = EXIT_ERROR):
        super().__init__(message)
        self.status = status


def prog() -> str:
    return os.path.basename(sys.argv[0]) or "ks"


def warn(message: str) -> None:
    sys.stderr.write(f"{prog()}: {message}\n")
    sys.stderr.flush()


# ---- options shared by every collector (use as parameter annotations) ----------------
Interval = Annotated[float, typer.Option(
    "--interval", "-i", min=0.01, help="Seconds between summaries (and between output flushes).")]
Duration = Annotated[Optional[float], typer.Option(
    "--duration", "-d", min=0.0, help="Stop after this many seconds (default: run until Ctrl-C).")]
Count = Annotated[Optional[int], typer.Option(
    "--count", "-c", min=1, help="Stop after this many intervals.")]
Verbose = Annotated[bool, typer.Option(
    "--verbose", "-v", help="Say on stderr what is attached, and the counters of every interval.")]
# The task filters of the kernel tracers (bpf/task_filter.bpf.h applies them in the kernel).
Pid = Annotated[Optional[int], typer.Option(
    "--pid", "-p", min=1, help="Only this process (all its threads).")]
Comm = Annotated[Optional[str], typer.Option(
    "--comm", help="Only threads with this name (the kernel keeps 15 characters).")]
Cgroup = Annotated[Optional[str], typer.Option(
    "--cgroup", metavar="PATH", help="Only processes in this cgroup v2 (not its child cgroups), "
    "filtered in the kernel: a directory of the cgroup2 mount (/sys/fs/cgroup, or "
    "/sys/fs/cgroup/unified on a v1+v2 machine) or a path relative to it, as /proc/PID/cgroup "
    "shows it (/system.slice/x.service).")]


def MinLatency(help: str):  # noqa: N802 (an annotation, like Pid and Comm)
    """The tracers' threshold, --min-latency/-m in milliseconds, with their own help."""
    return Annotated[float, typer.Option("--min-latency", "-m", metavar="MS", min=0.0, help=help)]


# bcc's `runqlat 1 10`: the interval and the count as arguments, as the bcc tools take them.
Positional = Annotated[Optional[list[float]], typer.Argument(
    metavar="[INTERVAL [COUNT]]", show_default=False,
    help="bcc style: `5 3` is `--interval 5 --count 3`.")]


class CollectorApp(typer.Typer):
    """A collector's typer app that still reads the short options it gave up (``moved``:
    ``{"-p": "--peer"}``), with a note (ingest/flags.py)."""

    moved: dict[str, str] = {}

    def __call__(self, *args, **kwargs):
        if not args and "args" not in kwargs and self.moved:
            kwargs["args"] = renamed(sys.argv[1:], self.moved, prog())
        return super().__call__(*args, **kwargs)


def cli_app() -> CollectorApp:
    """The typer app of a ks collector, set up as every ks command's (ingest/flags.py)."""
    return CollectorApp(**APP_SETTINGS)


def check_pid(pid: int | None) -> None:
    """A --pid that names no process is a usage error in every collector (exit 2):
    waiting for a pid to appear would trace whatever process is given it next."""
    if pid is not None and not os.path.exists(f"/proc/{pid}"):
        raise Fatal(f"--pid {pid}: no such process (it has exited, or lives in another PID "
                    "namespace); `pgrep NAME` gives the pid of a running program", EXIT_USAGE)


def collector(help: str, interval: float = 1.0,
              moved: dict[str, str] | None = None) -> Callable[[Callable[..., None]], typer.Typer]:
    """Make a ks collector's command from ``run(opts, **own_options)``.

    The runtime owns what every collector shares: the typer app, the four common
    options (--interval with this default, --duration, --count, --verbose, bundled
    into ``opts``; bcc's positional ``[INTERVAL [COUNT]]``; --version), the refusal
    of a --pid that does not exist, and main_guard's one-line errors and exit
    statuses.  ``moved`` lists short options the collector gave up.  A module
    declares only its own options, as annotated keyword parameters of ``run``:

        @collector(HELP)
        def main(opts: RunOptions, *, pid: Pid = None) -> None: ...

    and ``main`` is then the typer app, the console script's entry point.
    """
    default = interval
    common = [
        inspect.Parameter("interval", inspect.Parameter.KEYWORD_ONLY, default=interval,
                          annotation=Interval),
        inspect.Parameter("duration", inspect.Parameter.KEYWORD_ONLY, default=None,
                          annotation=Duration),
        inspect.Parameter("count", inspect.Parameter.KEYWORD_ONLY, default=None,
                          annotation=Count),
        inspect.Parameter("verbose", inspect.Parameter.KEYWORD_ONLY, default=False,
                          annotation=Verbose),
        inspect.Parameter("version", inspect.Parameter.KEYWORD_ONLY, default=None,
                          annotation=Version),
        inspect.Parameter("positional", inspect.Parameter.KEYWORD_ONLY, default=None,
                          annotation=Positional),
    ]

    def make(run: Callable[..., None]) -> typer.Typer:
        own = list(inspect.signature(run, eval_str=True).parameters.values())[1:]

        def command(interval, duration, count, verbose, version, positional, **options) -> None:
            def body() -> None:
                check_pid(options.get("pid"))
                every, times = _positional(positional or [], interval, count, default)
                opts = RunOptions(every, duration=duration, count=times, verbose=verbose)
                return run(opts, **options)

            raise typer.Exit(main_guard(body))

        params = common + [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
        command.__signature__ = inspect.Signature(params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        command.__name__ = command.__qualname__ = run.__module__.rsplit(".", 1)[-1]
        app = cli_app()
        app.moved = moved or {}
        app.command(help=help)(command)
        return app
    return make


def _positional(args: list[float], interval, count, default) -> tuple[float, int | None]:
    """(interval, count) from bcc's ``INTERVAL [COUNT]`` or from the options, not both."""
    if len(args) > 2:
        raise Fatal(f"at most two arguments, INTERVAL and COUNT (got {len(args)}); "
                    "the rest are options (-h lists them)", EXIT_USAGE)
    if args and args[0] < 0.01:
        raise Fatal(f"INTERVAL {args[0]:g}: give at least 0.01 seconds", EXIT_USAGE)
    if len(args) == 2 and (args[1] < 1 or args[1] != int(args[1])):
        raise Fatal(f"COUNT {args[1]:g}: give a whole number of intervals, 1 or more", EXIT_USAGE)
    if args and interval != default:
        raise Fatal(f"the interval is given twice ({args[0]:g} and --interval {interval:g}): give one",
                    EXIT_USAGE)
    if len(args) == 2 and count is not None:
        raise Fatal(f"the count is given twice ({args[1]:g} and --count {count}): give one", EXIT_USAGE)
    return (args[0] if args else interval, int(args[1]) if len(args) == 2 else count)


@dataclass
class RunOptions:
    interval: float
    duration: float | None = None
    count: int | None = None
    verbose: bool = False


# ---- clocks --------------------------------------------------------------------------
class Clock:
    """Turns kernel CLOCK_MONOTONIC ns into wall-clock epoch ns.

    The offset is re-read every interval, so an NTP step moves later events with it.
    """

    def __init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        # Read the monotonic clock between two wall-clock reads to bound the error.
        a = time.time_ns()
        m = time.monotonic_ns()
        b = time.time_ns()
        self.offset = (a + b) // 2 - m

    def to_epoch(self, mono_ns: int) -> int:
        return mono_ns + self.offset


# ---- output -------------------------------------------------------------------------
class Emitter:
    """Buffers events and writes them to a file descriptor as whole JSON lines."""

    def __init__(self, fd: int = 1, host: str | None = None):
        self.fd = fd
        self.host = host or socket.gethostname()
        self._lines: list[bytes] = []
        self.written = 0
        self.emitted = 0     # events queued, whether flushed yet or not

    def emit(self, type_: str, fields: dict, timestamp: int | None = None) -> None:
        """Queue one event; ``type``, ``timestamp`` (now) and ``host`` are filled in."""
        event = {"type": type_, "timestamp": timestamp or time.time_ns(), "host": self.host}
        event.update(fields)
        self._lines.append(orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE))
        self.emitted += 1

    def flush(self) -> None:
        """Write what is queued; raises Stop when the reader has gone away."""
        lines, self._lines = self._lines, []
        chunk: list[bytes] = []
        size = 0
        try:
            for line in lines:
                if chunk and size + len(line) > PIPE_BUF:
                    self._write(b"".join(chunk))
                    chunk, size = [], 0
                chunk.append(line)
                size += len(line)
            if chunk:
                self._write(b"".join(chunk))
        except BrokenPipeError:
            _silence_stdout()
            raise Stop("output closed") from None
        self.written += len(lines)

    def reader_gone(self) -> bool:
        """True when our output is a pipe whose reader has closed it (`| head -1`).

        Checked between samples so the run ends at once, not at the next flush.
        """
        poller = select.poll()
        poller.register(self.fd, 0)  # POLLERR/POLLHUP are always reported
        for _, revents in poller.poll(0):
            if revents & select.POLLERR:
                _silence_stdout()
                return True
        return False

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]


def _silence_stdout() -> None:
    # Point fd 1 at /dev/null so nothing at interpreter exit trips over the closed pipe.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


# ---- the run loop -------------------------------------------------------------------
class Runner:
    """Calls ``sample()`` every interval until duration, count or a signal ends the run.

    ``wait(timeout)`` is how the collector spends the time between samples (a BPF
    collector polls its ring buffer there); it must return within ``timeout``.
    On the way out the partial last interval is sampled too, so ``--duration 3``
    with a 5 s interval still reports its 3 s.
    """

    def __init__(self, opts: RunOptions, emitter: Emitter):
        self.opts = opts
        self.emitter = emitter
        self.stopping = threading.Event()
        self.clock = Clock()
        self.samples = 0
        # The interval a sample() reports: it ends at now_ns (CLOCK_MONOTONIC) and
        # lasted interval_ns since the previous sample (or the start of the run).
        self.now_ns = time.monotonic_ns()
        self.interval_ns = 0

    @property
    def timestamp(self) -> int:
        """The end of the interval being sampled, in epoch ns."""
        return self.clock.to_epoch(self.now_ns)

    def _on_signal(self, signum, frame) -> None:
        self.stopping.set()

    def install_signals(self) -> None:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def run(self, sample: Callable[[], None], wait: Callable[[float], None] | None = None) -> None:
        self.install_signals()
        wait = wait or self._sleep
        self.now_ns = time.monotonic_ns()
        start = time.monotonic()
        end = start + self.opts.duration if self.opts.duration is not None else None
        next_tick = start + self.opts.interval
        try:
            while not self.stopping.is_set():
                now = time.monotonic()
                deadline = next_tick if end is None else min(next_tick, end)
                if now < deadline:
                    wait(min(deadline - now, 0.25))
                    if self.emitter.reader_gone():
                        return
                    continue
                self._sample(sample)
                if self.opts.count is not None and self.samples >= self.opts.count:
                    return
                if end is not None and now >= end:
                    return
                next_tick += self.opts.interval
                if next_tick < now:  # we fell behind (suspended): skip, do not burst
                    next_tick = now + self.opts.interval
            self._sample(sample)  # signal: report the partial interval
        except Stop:
            return

    def _sample(self, sample: Callable[[], None]) -> None:
        self.clock.refresh()
        now = time.monotonic_ns()
        self.interval_ns, self.now_ns = now - self.now_ns, now
        sample()
        self.samples += 1
        self.emitter.flush()

    def _sleep(self, timeout: float) -> None:
        self.stopping.wait(timeout)


def main_guard(fn: Callable[[], int | None]) -> int:
    """Run a collector body; turn Fatal (and the binding's BpfError) into its one-line
    message and exit status."""
    try:
        return fn() or EXIT_OK
    except (Fatal, BpfError) as e:
        warn(f"error: {e}")
        return e.status
    except Stop:
        return EXIT_OK
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OK
