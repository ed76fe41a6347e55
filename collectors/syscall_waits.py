"""The system calls whose job is to wait, which ks-syscalls leaves out of its slow-call
events unless --include-waits (--stats still counts them).

A thread idle in epoll_wait for a minute is not "slow": it is doing its job, and
at the default threshold such calls were most of the rows and hid what was really
slow.  The list is decided here once; the kernel side (bpf/syscalls.bpf.c) gets it
as a bitmap of this architecture's numbers, plus the two calls that wait only
sometimes: futex (its WAIT ops) and read/readv (on a pipe or a terminal).
"""

from __future__ import annotations

from kernelsight.collectors import syscall_table

# name -> what it waits for (the names this architecture lacks are skipped).
ALWAYS = {
    "epoll_wait": "fd readiness", "epoll_pwait": "fd readiness", "epoll_pwait2": "fd readiness",
    "poll": "fd readiness", "ppoll": "fd readiness",
    "select": "fd readiness", "pselect6": "fd readiness",
    "nanosleep": "a timer", "clock_nanosleep": "a timer", "pause": "a signal",
    "rt_sigsuspend": "a signal", "rt_sigtimedwait": "a signal",
    "wait4": "a child", "waitid": "a child",
    "accept": "a connection", "accept4": "a connection",
    "futex_waitv": "a wake-up", "msgrcv": "a message", "mq_timedreceive": "a message",
}
SOMETIMES = {
    "futex": "FUTEX_WAIT, FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI (condition variables, "
             "and contended pthread mutexes, which wait the same way); not the PI locks",
    "read": "on a pipe or a terminal (not files, sockets or other devices)",
    "readv": "on a pipe or a terminal",
}
MAX_SYSCALL_NR = 512      # the BPF side's bitmap covers numbers below this


def bitmap(names: dict[int, str] | None = None) -> bytes:
    """The `wait_nrs` rodata: bit nr set for each ALWAYS call this architecture has."""
    names = syscall_table.names() if names is None else names
    bits = 0
    for nr, name in names.items():
        if name in ALWAYS and nr < MAX_SYSCALL_NR:
            bits |= 1 << nr
    return bits.to_bytes(MAX_SYSCALL_NR // 8, "little")


def rodata(include: bool) -> dict[str, int | bytes]:
    """The kernel side's knobs: the list, or nothing left out (--include-waits)."""
    if include:
        return {"include_waits": 1}
    by_name = {name: nr for nr, name in syscall_table.names().items()}
    out: dict[str, int | bytes] = {"wait_nrs": bitmap()}
    for knob, name in (("futex_nr", "futex"), ("read_nr", "read"), ("readv_nr", "readv")):
        if name in by_name:
            out[knob] = by_name[name]
    return out


def is_wait_name(name: str) -> bool:
    """Whether a syscall is on the list at all (--syscall of one keeps its waits)."""
    return name in ALWAYS or name in SOMETIMES


def help_text() -> str:
    """The list as --help shows it."""
    always = ", ".join(ALWAYS)
    sometimes = "; ".join(f"{name}: {when}" for name, when in SOMETIMES.items())
    return f"Always: {always}. Sometimes: {sometimes}."
