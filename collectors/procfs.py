"""ks-procfs: memory, load, disks, interfaces, TCP states and retransmits, CPU and PSI.

A thin CLI over procfs_sampler.ProcfsSampler: every interval one sample of each kind,
as JSON lines on stdout.
"""

from __future__ import annotations

import time
from typing import Annotated, Optional

import typer

from .procfs_sampler import KINDS, TCP_SOURCES, ProcfsSampler
from .runtime import EXIT_USAGE, Emitter, Fatal, RunOptions, Runner, collector, warn

ONCE_CPU_WINDOW = 0.1  # --once: cpu percentages over this many seconds

HELP = f"""Sample /proc every interval and print one JSON event per line.

Kinds: {', '.join(KINDS)} (default: all).  Counters (bytes, packets, I/Os,
retransmits, PSI totals) are the kernel's cumulative values, as they are in /proc;
ks-query computes rates.  cpu is a percentage over the interval (cpu = -1 is the
whole machine).  TCP states come from sock_diag netlink, as `ss` gets them, except
ESTABLISHED: the kernel's own count (Tcp CurrEstab less close_wait), which keeps a
sample cheap with tens of thousands of connections.  A file that cannot be read is
skipped with one warning; the rest goes on.

\b
Examples:
  ks-procfs | ks-ingest --db-path ks.db           # every second, forever
  ks-procfs --once --only memory,load             # one sample, for cron or a look
  ks-procfs -i 10 --skip block,network --duration 3600 > hour.ndjson
"""


def _kinds(only: str | None, skip: str | None) -> tuple[str, ...]:
    def parse(text: str, option: str) -> set[str]:
        names = {k.strip() for k in text.split(",") if k.strip()}
        bad = names - set(KINDS)
        if bad:
            raise Fatal(f"{option}: unknown kind {', '.join(sorted(bad))} "
                        f"(known: {', '.join(KINDS)})", EXIT_USAGE)
        return names
    chosen = parse(only, "--only") if only else set(KINDS)
    if skip:
        chosen -= parse(skip, "--skip")
    if not chosen:
        raise Fatal("--only/--skip leave nothing to sample", EXIT_USAGE)
    return tuple(k for k in KINDS if k in chosen)


def run(opts: RunOptions, kinds: tuple[str, ...], once: bool, all_devices: bool,
        tcp_source: str, proc_root: str) -> None:
    emitter = Emitter()
    try:
        sampler = ProcfsSampler(kinds, proc_root, all_devices, tcp_source, warn=warn)
    except OSError as e:
        raise Fatal(f"--tcp-source netlink: sock_diag refused ({e.strerror}); "
                    "use --tcp-source proc") from None
    try:
        if opts.verbose:
            warn(f"sampling {', '.join(sampler.kinds)} from {proc_root} every "
                 f"{opts.interval:g} s" + (f"; tcp states via {sampler.tcp_source}"
                                           if sampler.tcp_source else ""))
        sampler.prime()
        if once:
            if "cpu" in sampler.kinds:
                time.sleep(ONCE_CPU_WINDOW)
            sampler.sample(emitter.emit)
            emitter.flush()
            return
        runner = Runner(opts, emitter)

        def sample() -> None:
            if not opts.verbose:
                sampler.sample(emitter.emit)
                return
            made = 0

            def counted(type_: str, fields: dict, ts: int) -> None:
                nonlocal made
                made += 1
                emitter.emit(type_, fields, ts)
            cpu0 = time.process_time()
            sampler.sample(counted)
            warn(f"sample {runner.samples + 1}: {made} events, "
                 f"{(time.process_time() - cpu0) * 1e3:.2f} ms CPU")
        runner.run(sample)
    finally:
        sampler.close()
        if opts.verbose and sampler.failures:
            warn("skipped: " + ", ".join(f"{k} {n}x" for k, n in sampler.failures.items()))
        if sampler.skipped.lines:
            warn(f"{sampler.skipped.lines} malformed lines skipped")


@collector(HELP)
def main(
    opts: RunOptions, *,
    once: Annotated[bool, typer.Option(
        "--once", help="Print one sample of everything selected and exit "
        f"(cpu over {ONCE_CPU_WINDOW * 1000:.0f} ms).")] = False,
    only: Annotated[Optional[str], typer.Option(
        "--only", metavar="KINDS", help="Comma-separated kinds to sample.")] = None,
    skip: Annotated[Optional[str], typer.Option(
        "--skip", metavar="KINDS", help="Comma-separated kinds to leave out.")] = None,
    all_devices: Annotated[bool, typer.Option(
        "--all-devices", help="Report partitions and idle loop/ram devices too.")] = False,
    tcp_source: Annotated[str, typer.Option(
        "--tcp-source", metavar="auto|netlink|proc",
        help="Where TCP state counts come from: sock_diag netlink (auto falls back to "
        "/proc/net/tcp if refused) or /proc/net/tcp{,6}.")] = "auto",
    proc_root: Annotated[str, typer.Option(
        "--proc-root", metavar="DIR",
        help="Read this procfs instead of /proc (e.g. a host's /proc mounted in a container).")] = "/proc",
) -> None:
    if tcp_source not in TCP_SOURCES:
        raise Fatal(f"--tcp-source must be one of {', '.join(TCP_SOURCES)}", EXIT_USAGE)
    run(opts, _kinds(only, skip), once, all_devices, tcp_source, proc_root)


if __name__ == "__main__":
    main()
