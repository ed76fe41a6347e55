"""Numbers of the syscalls called through libc's syscall() (glibc wraps none of
perf_event_open, membarrier and bpf), per machine as uname -m names it.  tests/test_arch.py
checks them against each architecture's table from its UAPI headers."""

from __future__ import annotations

import errno
import platform

NUMBERS = {
    "perf_event_open": {"x86_64": 298, "aarch64": 241},
    "membarrier": {"x86_64": 324, "aarch64": 283},
    "bpf": {"x86_64": 321, "aarch64": 280},
}


def nr(name: str, machine: str | None = None) -> int:
    """The syscall number of ``name`` on ``machine`` (default: this one)."""
    machine = machine or platform.machine()
    try:
        return NUMBERS[name][machine]
    except KeyError:
        raise OSError(errno.ENOSYS, f"{name}: no syscall number known for {machine} (kernelsight "
                      f"builds for {', '.join(NUMBERS[name])})") from None
