"""A set of perf counters for one scope (the machine, a process, a cgroup), read as ks events.

Scopes and what is opened:
  system      one fd per counter per online CPU (pid = -1): per-CPU rows and a total.
  pid:N       one fd per counter per thread of N (cpu = -1, inherit = 1): only the total.
              A task counter bound to one CPU stops while the task runs elsewhere, and
              scaling by enabled/running would then extrapolate the wrong way, so the
              per-CPU split is left out here.  inherit = 1: threads and child processes
              started after attach are counted too, like getrusage(RUSAGE_SELF) plus
              RUSAGE_CHILDREN of the target would be (children count from their fork).
              Like `perf stat -p`, a thread or child started in the few milliseconds
              between listing /proc/PID/task and opening the counters is missed
              (adding threads found later could count inherited ones twice).
  cgroup:PATH one fd per counter per online CPU, the kernel's cgroup mode: per-CPU rows
              and a total.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from typing import Callable

from . import cgroups
from .perf_events import (COUNTERS, Counter, online_cpus, perf_event_open, read_counter,
                          scaled)
from .runtime import EXIT_NOPERM, EXIT_UNAVAILABLE, Fatal

Emit = Callable[[str, dict, int], None]

# Errors that mean "this machine cannot count that event", not "you may not".
UNSUPPORTED = (errno.ENOENT, errno.EOPNOTSUPP, errno.ENODEV, errno.EINVAL, errno.ENOSYS)
DERIVED = (("ipc", "instructions", "cycles"),
           ("cache_miss_rate", "cache-misses", "cache-references"))


@dataclass
class Scope:
    kind: str                   # system, pid or cgroup
    pid: int | None = None
    cgroup: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "pid":
            return f"pid:{self.pid}"
        if self.kind == "cgroup":
            return f"cgroup:{self.cgroup}"
        return "system"

    @property
    def per_cpu(self) -> bool:
        return self.kind != "pid"


@dataclass
class Slot:
    """One open counter fd and its last cumulative reading."""
    counter: Counter
    cpu: int            # -1 when the fd follows a task across CPUs
    fd: int
    last: tuple[int, int, int] = (0, 0, 0)


@dataclass
class PerfSession:
    names: tuple[str, ...]
    scope: Scope
    warn: Callable[[str], None] = print
    slots: list[Slot] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)   # counter -> reason
    cpus: list[int] = field(default_factory=list)
    _cgroup_fd: int | None = None

    # ---- opening ------------------------------------------------------------------
    def open(self) -> None:
        targets = self._targets()
        for name in self.names:
            counter = COUNTERS[name]
            opened: list[Slot] = []
            try:
                for pid, cpu in targets:
                    try:
                        fd = perf_event_open(counter, pid, cpu, inherit=self.scope.kind == "pid",
                                             cgroup_fd=self._cgroup_fd)
                    except OSError as e:
                        if e.errno == errno.ESRCH and self.scope.kind == "pid" and pid != self.scope.pid:
                            continue  # a thread that ended while we attached
                        raise
                    opened.append(Slot(counter, cpu if self.scope.per_cpu else -1, fd))
            except OSError as e:
                for slot in opened:
                    os.close(slot.fd)
                self._cannot_open(counter, e)
                continue
            self.slots.extend(opened)
        said = self._unavailable_lines()
        if not self.slots:
            raise Fatal(f"nothing to count: {'; '.join(said)}", EXIT_UNAVAILABLE)
        for line in said:
            self.warn(f"{line}; the others go on")
        for slot in self.slots:  # the first interval starts now
            slot.last = read_counter(slot.fd)

    def _targets(self) -> list[tuple[int, int]]:
        if self.scope.kind == "pid":
            return [(tid, -1) for tid in _threads(self.scope.pid)]
        self.cpus = online_cpus()
        if self.scope.kind == "cgroup":
            path = _cgroup_path(self.scope.cgroup)
            try:
                self._cgroup_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError as e:
                raise Fatal(f"--cgroup {self.scope.cgroup}: cannot open {path}: {e.strerror}") from None
        return [(-1, cpu) for cpu in self.cpus]

    def _cannot_open(self, counter: Counter, e: OSError) -> None:
        if e.errno in (errno.EACCES, errno.EPERM):
            raise Fatal(f"perf_event_open: permission denied for {self.scope.label} "
                        f"(kernel.perf_event_paranoid = {_paranoid()}); run as root or with "
                        "CAP_PERFMON, or lower that sysctl", EXIT_NOPERM)
        if e.errno == errno.ESRCH:
            raise Fatal(f"--pid {self.scope.pid}: no such process")
        if self.scope.kind == "cgroup" and not counter.hardware and e.errno in (errno.EBADF,
                                                                                 errno.ENOENT):
            raise Fatal(f"--cgroup {self.scope.cgroup}: not a cgroup perf can count "
                        f"({errno.errorcode[e.errno]}); give a directory of the cgroup v2 "
                        f"hierarchy ({cgroup_root()}) or of a v1 perf_event mount")
        if e.errno in (errno.EMFILE, errno.ENFILE):
            raise Fatal("perf_event_open: out of file descriptors; raise `ulimit -n` "
                        "or choose fewer --events")
        self.unavailable[counter.name] = f"{errno.errorcode.get(e.errno, e.errno)}: {e.strerror}"

    def _unavailable_lines(self) -> list[str]:
        """One line per distinct reason, said once per run."""
        by_reason: dict[str, list[str]] = {}
        for name, reason in self.unavailable.items():
            by_reason.setdefault(reason, []).append(name)
        lines = []
        for reason, names in by_reason.items():
            hardware = all(COUNTERS[n].hardware for n in names)
            hint = (" (no hardware PMU on this machine: a VM without a virtual PMU?)"
                    if hardware and reason.startswith(("ENOENT", "EOPNOTSUPP", "ENODEV")) else "")
            kind = "hardware counters" if hardware else "counters"
            lines.append(f"{kind} unavailable: {', '.join(names)}: {reason}{hint}")
        return lines

    def close(self) -> None:
        for slot in self.slots:
            os.close(slot.fd)
        self.slots = []
        if self._cgroup_fd is not None:
            os.close(self._cgroup_fd)
            self._cgroup_fd = None

    # ---- reading ------------------------------------------------------------------
    def read(self, emit: Emit, timestamp: int, interval_ns: int) -> None:
        """Emit the counts since the previous read: per CPU (if the scope has them), totals, ratios."""
        base = {"interval_ns": interval_ns, "scope": self.scope.label}
        totals: dict[str, list] = {}   # counter -> [value or None, enabled, running]
        per_cpu: dict[tuple[str, int], float | None] = {}
        for slot in self.slots:
            value, enabled, running = cur = read_counter(slot.fd)
            v0, e0, r0 = slot.last
            slot.last = cur
            dv, de, dr = value - v0, enabled - e0, running - r0
            estimate = scaled(dv, de, dr)
            name = slot.counter.name
            if self.scope.per_cpu:
                per_cpu[(name, slot.cpu)] = estimate
                emit("perf", {**base, "counter": name, "cpu": slot.cpu, "value": estimate,
                              "enabled_ns": de, "running_ns": dr}, timestamp)
            total = totals.setdefault(name, [0, 0, 0])
            total[0] = None if estimate is None or total[0] is None else total[0] + estimate
            total[1] += de
            total[2] += dr
        for name, (value, enabled, running) in totals.items():
            emit("perf", {**base, "counter": name, "cpu": -1, "value": value,
                          "enabled_ns": enabled, "running_ns": running}, timestamp)
        self._derived(emit, timestamp, base, totals, per_cpu)

    def _derived(self, emit: Emit, timestamp: int, base: dict, totals: dict, per_cpu: dict) -> None:
        for ratio, top, bottom in DERIVED:
            if top not in totals or bottom not in totals:
                continue
            pairs = [(-1, totals[top][0], totals[bottom][0])]
            if self.scope.per_cpu:
                pairs += [(cpu, per_cpu.get((top, cpu)), per_cpu.get((bottom, cpu)))
                          for cpu in self.cpus]
            for cpu, t, b in pairs:
                if t is not None and b:
                    emit("perf", {**base, "counter": ratio, "cpu": cpu,
                                  "value": round(t / b, 6)}, timestamp)


def _threads(pid: int) -> list[int]:
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except FileNotFoundError:
        raise Fatal(f"--pid {pid}: no such process") from None
    except OSError as e:
        raise Fatal(f"--pid {pid}: cannot list its threads: {e.strerror}") from None
    # The thread-group leader first: if it is gone, the process is.
    return sorted(tids, key=lambda t: t != pid)


def _cgroup_path(cgroup: str) -> str:
    """An existing directory as given, else relative to the hierarchy perf events live in."""
    if os.path.isabs(cgroup) and os.path.isdir(cgroup):
        return cgroup
    return os.path.join(cgroup_root(), cgroup.lstrip("/"))


def cgroup_root() -> str:
    """The hierarchy of the perf_event controller (collectors/cgroups.py)."""
    return cgroups.controller_root("perf_event") or "/sys/fs/cgroup"


def _paranoid() -> str:
    try:
        with open("/proc/sys/kernel/perf_event_paranoid") as f:
            return f.read().strip()
    except OSError:
        return "unknown"
