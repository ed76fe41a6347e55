"""The ``collector_stats`` event (ingest/events.py): every interval, what a BPF
collector printed, lost (by cause) and cost in CPU, so that losses reach the
database and Prometheus, not only stderr.

CPU is the collector process's own (getrusage: every thread, the ring-buffer
callbacks included) and its BPF programs' (run_time_ns and run_cnt of each program,
which the kernel counts only while kernel.bpf_stats_enabled=1; NULL otherwise).
"""

from __future__ import annotations

import os
import resource
from typing import Callable

from kernelsight.bpf import libbpf

BPF_STATS_SYSCTL = "/proc/sys/kernel/bpf_stats_enabled"


def bpf_stats_enabled() -> bool:
    try:
        with open(BPF_STATS_SYSCTL, "rb") as f:
            return f.read().strip() == b"1"
    except OSError:
        return False


def _cpu_ns() -> tuple[int, int]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return round(ru.ru_utime * 1e9), round(ru.ru_stime * 1e9)


class CollectorStats:
    """Emits one collector_stats event per call of ``emit(lost)``, covering the time
    since the previous one (or since the programs were attached)."""

    def __init__(self, tool: str, emitter, runner, prog_fds: Callable[[], list[int]]):
        self.tool = tool
        self.emitter = emitter
        self.runner = runner
        self.prog_fds = prog_fds
        self.events_seen = emitter.emitted
        self.cpu_seen = _cpu_ns()
        self.bpf_seen = self._bpf()

    def _bpf(self) -> tuple[int, int]:
        run_ns = runs = 0
        for fd in self.prog_fds():
            s = libbpf.prog_stats(fd)
            run_ns += s["run_time_ns"]
            runs += s["run_cnt"]
        return run_ns, runs

    def emit(self, lost: dict[str, int]) -> None:
        """``lost``: the interval's losses by column name (lost_ringbuf, ...)."""
        cpu, bpf = _cpu_ns(), self._bpf()
        on = bpf_stats_enabled()
        fields = {
            "interval_ns": self.runner.interval_ns, "collector": self.tool, "pid": os.getpid(),
            "events": self.emitter.emitted - self.events_seen, **lost,
            "cpu_user_ns": cpu[0] - self.cpu_seen[0], "cpu_system_ns": cpu[1] - self.cpu_seen[1],
            "bpf_run_ns": bpf[0] - self.bpf_seen[0] if on else None,
            "bpf_runs": bpf[1] - self.bpf_seen[1] if on else None,
        }
        self.emitter.emit("collector_stats", fields, self.runner.timestamp)
        self.events_seen = self.emitter.emitted       # this line is not an event of the next
        self.cpu_seen, self.bpf_seen = cpu, bpf
