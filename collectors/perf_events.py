"""perf_event_open(2) through ctypes: counting events, no sampling, no external library.

Only what ks-perf needs: open a counter for (pid or cgroup, cpu), read its value with
the time it was enabled and running (the kernel multiplexes hardware counters when
there are more events than PMU registers; value * enabled / running estimates the
full count).
"""

from __future__ import annotations

import ctypes
import os
import struct
from dataclasses import dataclass

from kernelsight.bpf import sysnr

PERF_TYPE_HARDWARE = 0
PERF_TYPE_SOFTWARE = 1

PERF_FORMAT_TOTAL_TIME_ENABLED = 1 << 0
PERF_FORMAT_TOTAL_TIME_RUNNING = 1 << 1
READ_FORMAT = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING

ATTR_INHERIT = 1 << 1          # the attr flags bitfield: disabled is bit 0, inherit bit 1
PERF_FLAG_PID_CGROUP = 1 << 2
PERF_FLAG_FD_CLOEXEC = 1 << 3

ATTR_SIZE = 128                # PERF_ATTR_SIZE_VER7; fields past flags stay zero
_ATTR_HEAD = struct.Struct("=IIQQQQQ")  # type, size, config, sample_period, sample_type, read_format, flags
_READING = struct.Struct("=QQQ")        # value, time_enabled, time_running



@dataclass(frozen=True)
class Counter:
    name: str
    type: int
    config: int
    unit: str = ""

    @property
    def hardware(self) -> bool:
        return self.type == PERF_TYPE_HARDWARE


COUNTERS: dict[str, Counter] = {c.name: c for c in (
    Counter("cycles", PERF_TYPE_HARDWARE, 0),
    Counter("instructions", PERF_TYPE_HARDWARE, 1),
    Counter("cache-references", PERF_TYPE_HARDWARE, 2),
    Counter("cache-misses", PERF_TYPE_HARDWARE, 3),
    Counter("branch-instructions", PERF_TYPE_HARDWARE, 4),
    Counter("branch-misses", PERF_TYPE_HARDWARE, 5),
    Counter("cpu-clock", PERF_TYPE_SOFTWARE, 0, "ns"),
    Counter("task-clock", PERF_TYPE_SOFTWARE, 1, "ns"),
    Counter("page-faults", PERF_TYPE_SOFTWARE, 2),
    Counter("context-switches", PERF_TYPE_SOFTWARE, 3),
    Counter("cpu-migrations", PERF_TYPE_SOFTWARE, 4),
    Counter("minor-faults", PERF_TYPE_SOFTWARE, 5),
    Counter("major-faults", PERF_TYPE_SOFTWARE, 6),
)}

DEFAULT_COUNTERS = ("cycles", "instructions", "cache-references", "cache-misses", "branch-misses",
                    "task-clock", "context-switches", "cpu-migrations", "page-faults",
                    "minor-faults", "major-faults")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def attr_bytes(counter: Counter, inherit: bool) -> bytes:
    flags = ATTR_INHERIT if inherit else 0
    head = _ATTR_HEAD.pack(counter.type, ATTR_SIZE, counter.config, 0, 0, READ_FORMAT, flags)
    return head + bytes(ATTR_SIZE - len(head))


def perf_event_open(counter: Counter, pid: int, cpu: int, inherit: bool = False,
                    cgroup_fd: int | None = None) -> int:
    """A counting fd; raises OSError with the kernel's errno."""
    attr = ctypes.create_string_buffer(attr_bytes(counter, inherit), ATTR_SIZE)
    flags = PERF_FLAG_FD_CLOEXEC
    if cgroup_fd is not None:
        pid, flags = cgroup_fd, flags | PERF_FLAG_PID_CGROUP
    fd = _libc.syscall(ctypes.c_long(sysnr.nr("perf_event_open")), attr, ctypes.c_long(pid),
                       ctypes.c_long(cpu), ctypes.c_long(-1), ctypes.c_ulong(flags))
    if fd < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return fd


def read_counter(fd: int) -> tuple[int, int, int]:
    """(value, time_enabled ns, time_running ns), all cumulative since open."""
    return _READING.unpack(os.read(fd, _READING.size))


def online_cpus(path: str = "/sys/devices/system/cpu/online") -> list[int]:
    """CPU numbers from a list like '0-3,6,8-9'."""
    with open(path) as f:
        text = f.read().strip()
    cpus = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


def scaled(value: int, enabled: int, running: int) -> int | float | None:
    """The count estimated over the whole enabled time; None if it never got a PMU slot."""
    if running >= enabled:
        return value
    if running == 0:
        return None
    return value * enabled / running
