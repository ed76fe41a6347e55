"""ks-syscalls: system calls slower than a threshold, and per-syscall counts (--stats).

The BPF side (bpf/syscalls.bpf.c) times every call between the sys_enter and
sys_exit tracepoints and sends only the slow ones to user space; with --stats it
also counts every call per syscall number into a per-CPU array, which this module
drains every interval.
"""

from __future__ import annotations

import difflib
import errno as errnos
import gzip
import os
import time
from typing import Annotated, Optional

import typer

from kernelsight.collectors import syscall_table, syscall_waits
from kernelsight.collectors.bpf_collector import BpfCollector, Generations
from kernelsight.collectors.cgroups import CgroupNames
from kernelsight.collectors.decode import CStruct, comm_text, task_filter
from kernelsight.collectors.runtime import (
    EXIT_USAGE, Cgroup, Comm, Fatal, MinLatency, Pid, RunOptions, collector, warn)

TOOL = "ks-syscalls"
MAX_SYSCALL_NR = 512            # the BPF side's stats array has two halves of this many
MAX_ERRNO = 4095

EVENT = CStruct("syscalls", "syscall_event", "<QQqQIIIIi16s4xQ")
CALL_STATS = CStruct("syscalls", "call_stats", "<QQQQ")
PROC_STATS = CStruct("syscalls", "proc_stats", "<QQQQ16sQ")

HELP = """Report system calls slower than --min-latency, one `syscall` event per call.

Hooks the raw sys_enter/sys_exit tracepoints (tp_btf) with eBPF, and
sched_switch to follow calls that sleep; the threshold is applied in the kernel,
so fast calls cost a clock read and a few stores and never reach user space. Each event says who (pid, tid, uid, comm), which call (syscall_nr,
syscall_name from this architecture's table), how long (latency_ns), and how it
ended (ret_value, is_error, arg0 = its first argument). A call is reported when it
returns; a thread blocked in a call shows up once the call ends. ret_value is what
the kernel returned at sys_exit: a call cut short by a signal shows the kernel's
restart codes (-512 to -516) that signal delivery then turns into -EINTR or a
restart.

Calls whose job is to wait (an idle epoll_wait, a sleep) are left out of the
`syscall` events unless --include-waits, and still counted by --stats; a
--syscall that names one keeps it. The list: WAITS

With --stats, every interval also prints one `syscall_stats` event per syscall
that was called: count, errors, total and max latency of ALL calls (like bcc's
syscount), not only slow ones; ks-syscalls' own few calls per interval included.
With --stats --per-process, one `syscall_process_stats` event per process instead
(syscount -P): its calls of every syscall together.

--failures keeps only failed calls (a return of -4095..-1), in the events and in
the counts (syscount -x); --errno NAME only the failures with that errno
(syscount -e), e.g. --errno ENOENT --stats: who looks for files that are not there.

Needs root (or CAP_BPF + CAP_PERFMON); exits 77 without.

Examples:

  ks-syscalls --min-latency 50 --comm postgres | ks-ingest --db-path ks.db

  ks-syscalls --stats --min-latency 1000 --duration 10   # mostly the counts
""".replace("WAITS", syscall_waits.help_text())


# ---- decoding --------------------------------------------------------------------------
def decode_event(raw: bytes, cgroup_of=lambda cgid: None) -> tuple[int, dict]:
    """(kernel timestamp, event fields) of one ring-buffer record; cgroup_of names
    the thread's cgroup from its id (cgroups.CgroupNames)."""
    ts, latency, ret, arg0, pid, tid, uid, cpu, nr, comm, cgid = EVENT.unpack_from(raw)
    return ts, {
        "pid": pid, "tid": tid, "cpu": cpu, "uid": uid,
        "syscall_nr": nr, "syscall_name": syscall_table.name_of(nr),
        "latency_ns": latency, "ret_value": ret, "is_error": int(-MAX_ERRNO <= ret < 0),
        # SQLite integers are signed 64-bit: -1 stays -1, user pointers stay as they are.
        "arg0": arg0 - (1 << 64) if arg0 >= 1 << 63 else arg0,
        "comm": comm_text(comm), "cgroup": cgroup_of(cgid),
    }


def sum_call_stats(per_cpu: list[bytes]) -> tuple[int, int, int, int]:
    """(count, errors, total_ns, max_ns) over every CPU's slot (a struct call_stats,
    or a struct that begins with one)."""
    count = errors = total = peak = 0
    for slot in per_cpu:
        c, e, t, m = CALL_STATS.unpack_from(slot)
        count, errors, total, peak = count + c, errors + e, total + t, max(peak, m)
    return count, errors, total, peak


def first_seen(per_cpu: list[bytes]) -> tuple[str, int]:
    """(comm, cgroup id) of a struct proc_stats: from the first CPU that counted it."""
    for slot in per_cpu:
        if CALL_STATS.unpack_from(slot)[0]:
            fields = PROC_STATS.unpack_from(slot)
            return comm_text(fields[4]), fields[5]
    return "", 0


# ---- --stats: the two-halves per-CPU array --------------------------------------------
class CallStats:
    """Drains the per-syscall counters of one interval.

    Programs fill half `stats_gen` of the array; each interval we flip the
    generation, wait out programs still writing the old half, read it and zero it.
    Nothing is counted twice or lost, and max_ns is the interval's own maximum.
    """

    def __init__(self, bc: BpfCollector):
        self.bc = bc
        self.map = bc.map("stats")
        self.gens = Generations(bc)
        self.zero = bytes(self.map.buf_size)

    def drain(self, emit) -> None:
        interval_ns = self.bc.runner.interval_ns   # it ends just before the flip
        old = self.gens.flip()
        lo, hi = old * MAX_SYSCALL_NR, (old + 1) * MAX_SYSCALL_NR
        for key, value in self.map.items():
            k = int.from_bytes(key, "little")
            if not lo <= k < hi:
                continue
            count, errors, total, peak = sum_call_stats(self.map.per_cpu(value))
            if not count:
                continue
            self.map.update(key, self.zero)
            nr = k - lo
            emit("syscall_stats", {
                "interval_ns": interval_ns, "syscall_nr": nr,
                "syscall_name": syscall_table.name_of(nr),
                "count": count, "errors": errors, "total_ns": total, "max_ns": peak,
            })


class ProcessStats:
    """--per-process: drains one generation of the per-process hash map every interval
    (the generation is the key's first u32; see CallStats for why generations)."""

    def __init__(self, bc: BpfCollector, cgroup_of):
        self.bc = bc
        self.map = bc.map("proc_stats")
        self.gens = Generations(bc)
        self.cgroup_of = cgroup_of

    def drain(self, emit) -> None:
        interval_ns = self.bc.runner.interval_ns
        old = self.gens.flip()
        for key, value in Generations.take(self.map, old, 0):
            per_cpu = self.map.per_cpu(value)
            count, errors, total, peak = sum_call_stats(per_cpu)
            if count:
                comm, cgid = first_seen(per_cpu)
                emit("syscall_process_stats", {
                    "interval_ns": interval_ns, "pid": int.from_bytes(key[4:8], "little"),
                    "comm": comm, "cgroup": self.cgroup_of(cgid), "count": count,
                    "errors": errors, "total_ns": total, "max_ns": peak,
                })


# ---- the tick rate: lets sys_exit skip the clock for calls that are surely fast -----------
STANDARD_HZ = (100, 250, 300, 1000)


def kernel_hz() -> int:
    """CONFIG_HZ from the kernel's config (/boot/config-RELEASE or /proc/config.gz),
    else measured from /proc/timer_list; 0 when neither can be read."""
    release = os.uname().release
    for path in (f"/boot/config-{release}", "/proc/config.gz"):
        opener = gzip.open if path.endswith(".gz") else open
        try:
            with opener(path, "rt") as f:
                for line in f:
                    if line.startswith("CONFIG_HZ="):
                        return int(line.split("=", 1)[1])
        except (OSError, EOFError, ValueError):
            continue
    return measured_hz()


def _jiffies_at() -> tuple[int, float]:
    """(jiffies, the monotonic time it was read at): the midpoint of the read, since
    /proc/timer_list is long and reading it takes a while."""
    t0 = time.monotonic()
    with open("/proc/timer_list") as f:
        for line in f:
            if line.startswith("jiffies:"):
                return int(line.split()[1]), (t0 + time.monotonic()) / 2
    raise ValueError("no jiffies in /proc/timer_list")


def measured_hz(window: float = 0.2) -> int:
    """The jiffies rate over a short window, rounded to a standard HZ no faster than
    measured: assuming too slow a tick only makes the kernel side read the clock more
    often, too fast a one could make it miss slow calls."""
    try:
        j0, t0 = _jiffies_at()
        time.sleep(window)
        j1, t1 = _jiffies_at()
    except (OSError, ValueError):
        return 0
    rate = (j1 - j0) / (t1 - t0)
    fitting = [hz for hz in STANDARD_HZ if hz <= rate * 1.05]
    return max(fitting) if fitting else 0


# ---- options -> rodata -----------------------------------------------------------------
def errno_number(name: str) -> int:
    """--errno ENOENT (any case, or a number) to its number; a clear error otherwise."""
    text = name.strip().upper()
    if text.isdigit() and 0 < int(text) <= MAX_ERRNO:
        return int(text)
    number = getattr(errnos, text, None)
    if isinstance(number, int) and text.startswith("E"):
        return number
    close = difflib.get_close_matches(text, errnos.errorcode.values(), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else " (e.g. ENOENT, EAGAIN)"
    raise Fatal(f"--errno {name}: not an errno name or number{hint}", EXIT_USAGE)


def build_rodata(min_latency_ms: float, pid: int | None, comm: str | None,
                 syscall: str | None, errors_only: bool, stats: bool, cgroup: str | None = None,
                 include_waits: bool = False, failures: bool = False,
                 errno_name: str | None = None, per_process: bool = False) -> dict:
    if per_process and not stats:
        raise Fatal("--per-process splits the --stats counts: give --stats too", EXIT_USAGE)
    failures = failures or bool(errno_name)
    rodata: dict[str, int | bytes] = {
        "min_latency_ns": int(min_latency_ms * 1_000_000),
        "errors_only": int(errors_only or failures),
        "failures_only": int(failures),
        "targ_errno": errno_number(errno_name) if errno_name else 0,
        "per_process": int(per_process),
        "stats_on": int(stats),
        "self_tgid": os.getpid(),
        "kernel_hz": kernel_hz(),
    }
    rodata.update(task_filter(pid, comm, cgroup))
    if syscall:
        nr = syscall_table.number_of(syscall)
        if nr >= MAX_SYSCALL_NR:
            raise Fatal(f"syscall number {nr} is out of range (0-{MAX_SYSCALL_NR - 1})",
                        EXIT_USAGE)
        rodata["targ_nr"] = nr
        include_waits = include_waits or syscall_waits.is_wait_name(syscall_table.name_of(nr))
    rodata.update(syscall_waits.rodata(include_waits))
    return rodata




# ---- the run -------------------------------------------------------------------------
def run(opts: RunOptions, rodata: dict, stats: bool) -> None:
    per_process = bool(rodata.get("per_process"))
    # The per-process map is preallocated (a per-CPU hash): sized 1 unless used, so
    # the default run does not pay for creating it at start-up.
    with BpfCollector(TOOL, "syscalls", opts, rodata=rodata,
                      max_entries={} if per_process else {"proc_stats": 1}) as bc:
        emit = bc.emitter.emit
        clock = bc.runner.clock
        seen = {"events": 0}
        cgroup_of = CgroupNames()

        def on_event(raw: bytes) -> None:
            ts, fields = decode_event(raw, cgroup_of)
            seen["events"] += 1
            emit("syscall", fields, clock.to_epoch(ts))

        bc.ring("events", on_event)
        call_stats = (ProcessStats(bc, cgroup_of) if per_process else CallStats(bc)) if stats else None

        def sample() -> None:
            if call_stats:
                call_stats.drain(emit)
            if opts.verbose:
                warn(f"interval {bc.runner.samples + 1}: {seen['events']} slow calls so far")

        bc.run(sample)


MIN_LATENCY = MinLatency(
    "Report calls that took at least this many milliseconds (0: every call; "
    "beware, that is a lot).")


@collector(HELP, moved={"-s": "--syscall"})   # -s is --since in ks-query
def main(
    opts: RunOptions, *,
    min_latency: MIN_LATENCY = 10.0,
    pid: Pid = None,
    comm: Comm = None,
    cgroup: Cgroup = None,
    syscall: Annotated[Optional[str], typer.Option(
        "--syscall", metavar="NAME",
        help="Only this syscall, by name (e.g. clock_nanosleep, read) or number.")] = None,
    errors_only: Annotated[bool, typer.Option(
        "--errors-only", "-x", help="Report only slow calls that failed.")] = False,
    stats: Annotated[bool, typer.Option(
        "--stats", help="Also print per-syscall counts of all calls every interval "
        "(syscall_stats events).")] = False,
    include_waits: Annotated[bool, typer.Option(
        "--include-waits", help="Also report slow calls whose job is to wait (epoll_wait, "
        "poll, nanosleep, futex wait, reads on pipes and ttys...: the list above).")] = False,
    failures: Annotated[bool, typer.Option(
        "--failures", help="Only failed calls, in the events and in the --stats counts "
        "(syscount -x).")] = False,
    errno_name: Annotated[Optional[str], typer.Option(
        "--errno", metavar="NAME", help="Only calls that failed with this errno (ENOENT, "
        "EAGAIN, or its number), in the events and the counts (syscount -e).")] = None,
    per_process: Annotated[bool, typer.Option(
        "--per-process", "-P", help="With --stats: count per process (syscall_process_stats "
        "events, syscount -P) instead of per syscall.")] = False,
) -> None:
    run(opts, build_rodata(min_latency, pid, comm, syscall, errors_only, stats, cgroup=cgroup,
                           include_waits=include_waits, failures=failures,
                           errno_name=errno_name, per_process=per_process), stats)


if __name__ == "__main__":
    main()
