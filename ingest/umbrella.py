"""``ks``: every ks-* command under one name, ``ks rtt …`` being ``ks-rtt …``.

It imports nothing but the one command asked for, and runs its entry point in this
process under its own name (its messages say ``ks-rtt``), so ``ks rtt`` starts as fast
as ``ks-rtt`` (bench: ``make bench BENCH=umbrella``).  No typer here: typer would
cost its ~50 ms before the command's own.
"""

from __future__ import annotations

import importlib
import sys

# name -> (entry point, what it does); tests/test_umbrella.py holds this to
# pyproject.toml's [project.scripts].
COMMANDS = {
    "rtt": ("kernelsight.collectors.rtt:main", "TCP smoothed RTT per peer, retransmits, drops"),
    "syscalls": ("kernelsight.collectors.syscalls:main", "system calls slower than a threshold, per-syscall stats"),
    "pagefaults": ("kernelsight.collectors.pagefaults:main", "page faults with their latency, per process"),
    "iolat": ("kernelsight.collectors.iolat:main", "block I/O latency per device and operation"),
    "sched": ("kernelsight.collectors.sched:main", "run-queue latency, long waits, per-process scheduler stats"),
    "procfs": ("kernelsight.collectors.procfs:main", "memory, load, disks, interfaces, TCP, CPU, PSI from /proc"),
    "perf": ("kernelsight.collectors.perf:main", "perf counters (software always, hardware where there is a PMU)"),
    "ingest": ("kernelsight.ingest.cli:main", "JSON lines into SQLite (or ClickHouse), nothing lost"),
    "query": ("kernelsight.query.cli:main", "the database back out: summaries, top-N, percentiles, SQL"),
    "hist": ("kernelsight.query.hist_cli:main", "bcc-style log2 histograms of a ks stream"),
    "promexport": ("kernelsight.query.promexport:main", "the database as Prometheus metrics (textfile or --listen)"),
    "retain": ("kernelsight.ingest.retain_cli:main", "drop old rows (--raw, --max-size), archive them; rollups kept"),
}

USAGE = "Usage: ks COMMAND [ARGS]...   (ks COMMAND -h: the command's own help)\n"


def help_text() -> str:
    width = max(map(len, COMMANDS))
    rows = "".join(f"  {name.ljust(width)}  {what}\n" for name, (_, what) in COMMANDS.items())
    return (f"{USAGE}\nkernelsight: Linux telemetry as JSON lines, SQLite and Prometheus.\n"
            f"`ks NAME ...` runs `ks-NAME ...`, the same command under its own name.\n\n"
            f"Commands:\n{rows}\nOptions:\n  -h, --help  This list.\n  --version   The kernelsight version.\n")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:   # a usage error: the list goes where errors go
        sys.stderr.write(help_text())
        return 2
    if args[0] in ("-h", "--help"):
        sys.stdout.write(help_text())
        return 0
    if args[0] == "--version":
        from importlib.metadata import version

        sys.stdout.write(f"ks (kernelsight) {version('kernelsight')}\n")
        return 0
    name = args[0].removeprefix("ks-")
    if name not in COMMANDS:
        sys.stderr.write(f"ks: error: no command {args[0]!r}: use one of {', '.join(COMMANDS)} "
                         "(ks -h says what each does)\n")
        return 2
    module, attr = COMMANDS[name][0].split(":")
    sys.argv = [f"ks-{name}", *args[1:]]   # the command reads its name and arguments from here
    status = getattr(importlib.import_module(module), attr)()
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    sys.exit(main())
