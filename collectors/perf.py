"""ks-perf: perf counters (hardware where there is a PMU, software always) as JSON lines.

A thin CLI over perf_session.PerfSession.
"""

from __future__ import annotations

import os
import select
import time
from typing import Annotated, Optional

import typer

from .perf_events import COUNTERS, DEFAULT_COUNTERS
from .perf_session import PerfSession, Scope
from .runtime import EXIT_USAGE, Emitter, Fatal, RunOptions, Runner, collector, warn

HELP = f"""Count perf events every interval and print one JSON event per line.

System-wide by default: a `perf` event per counter per CPU, a total (cpu = -1),
and the ratios ipc (instructions / cycles) and cache_miss_rate when their inputs
were counted.  value is the count in the interval (task-clock in ns), scaled by
time enabled / time running when the kernel multiplexed the hardware counters.
Hardware counters that this machine cannot count are reported once on stderr;
the software ones go on.  task-clock is time on a CPU by the clock: it includes
interrupts served and, in a VM, steal time while the task ran (getrusage leaves
both out); system-wide it is the whole interval on every CPU.

--pid counts one process, its threads and the children it starts from now on
(inherit), as totals only; it stops when the process exits.  --cgroup counts a
cgroup per CPU (perf_event_open's cgroup mode, PERF_FLAG_PID_CGROUP): a directory
of the hierarchy that holds the perf_event controller.  That is the cgroup2 mount
(/sys/fs/cgroup on a pure v2 machine, /sys/fs/cgroup/unified on a hybrid one) unless
a v1 perf_event hierarchy is mounted, which then holds it instead (and a v2
directory is refused, said in one line).  System-wide and --cgroup need root or
CAP_PERFMON (or kernel.perf_event_paranoid <= 0).

Counters: {', '.join(COUNTERS)}.
Default: {', '.join(DEFAULT_COUNTERS)}.

\b
Examples:
  ks-perf | ks-ingest --db-path ks.db                    # every second, whole machine
  ks-perf --pid $(pidof postgres | cut -d' ' -f1) -i 5 --events task-clock,page-faults
  ks-perf --cgroup system.slice/nginx.service --duration 60 > nginx.ndjson
"""


def _events(text: str | None) -> tuple[str, ...]:
    if not text:
        return DEFAULT_COUNTERS
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    bad = [n for n in names if n not in COUNTERS]
    if bad:
        raise Fatal(f"--events: unknown counter {', '.join(bad)} (known: {', '.join(COUNTERS)})",
                    EXIT_USAGE)
    if not names:
        raise Fatal("--events: empty list", EXIT_USAGE)
    return names


def _scope(pid: int | None, cgroup: str | None) -> Scope:
    if pid is not None and cgroup is not None:
        raise Fatal("--pid and --cgroup exclude each other", EXIT_USAGE)
    if pid is not None:
        return Scope("pid", pid=pid)
    if cgroup is not None:
        return Scope("cgroup", cgroup=cgroup)
    return Scope("system")


class ProcessWatch:
    """Ends the run when the --pid process exits (its pidfd becomes readable)."""

    def __init__(self, pid: int):
        try:
            self.fd = os.pidfd_open(pid)
        except OSError:
            self.fd = None  # very old kernel: poll with kill(pid, 0) instead
        self.pid = pid

    def gone(self, timeout: float) -> bool:
        if self.fd is not None:
            return bool(select.select([self.fd], [], [], timeout)[0])
        time.sleep(timeout)
        try:
            os.kill(self.pid, 0)
            return False
        except ProcessLookupError:
            return True
        except PermissionError:
            return False

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)


def _readable(counter: str, value: float) -> str:
    if counter in ("task-clock", "cpu-clock"):
        return f"{counter} {value / 1e6:,.1f} ms"
    if counter not in COUNTERS:  # a derived ratio
        return f"{counter} {value:.3f}"
    return f"{counter} {value:,.0f}"


def run(opts: RunOptions, names: tuple[str, ...], scope: Scope) -> None:
    emitter = Emitter()
    session = PerfSession(names, scope, warn=warn)
    watch = ProcessWatch(scope.pid) if scope.kind == "pid" else None
    try:
        session.open()
        if opts.verbose:
            counted = list(dict.fromkeys(s.counter.name for s in session.slots))
            where = (f"{len(session.cpus)} CPUs" if scope.per_cpu
                     else f"{len(session.slots) // len(counted)} threads")
            warn(f"attached: {', '.join(counted)} for {scope.label} on {where}")
        runner = Runner(opts, emitter)

        def sample() -> None:
            if opts.verbose:
                totals: list[str] = []

                def emit(type_: str, fields: dict, ts: int) -> None:
                    if fields["cpu"] == -1 and fields["value"] is not None:
                        totals.append(_readable(fields["counter"], fields["value"]))
                    emitter.emit(type_, fields, ts)
                session.read(emit, time.time_ns(), runner.interval_ns)
                warn(f"interval {runner.samples + 1}: {', '.join(totals)}")
            else:
                session.read(emitter.emit, time.time_ns(), runner.interval_ns)

        def wait(timeout: float) -> None:
            if watch.gone(timeout):
                if opts.verbose:
                    warn(f"pid {scope.pid} exited")
                runner.stopping.set()

        runner.run(sample, wait if watch else None)
    finally:
        session.close()
        if watch:
            watch.close()


@collector(HELP)
def main(
    opts: RunOptions, *,
    events: Annotated[Optional[str], typer.Option(
        "--events", "-e", metavar="A,B", help="Comma-separated counters to count.")] = None,
    pid: Annotated[Optional[int], typer.Option(
        "--pid", "-p", min=1, help="Count this process (its threads and new children).")] = None,
    cgroup: Annotated[Optional[str], typer.Option(
        "--cgroup", "-G", metavar="PATH",
        help="Count this cgroup: a directory, or a path relative to the hierarchy of the "
        "perf_event controller (the v1 perf_event mount if there is one, else the cgroup2 "
        "mount), as /proc/PID/cgroup shows it.")] = None,
) -> None:
    run(opts, _events(events), _scope(pid, cgroup))


if __name__ == "__main__":
    main()
