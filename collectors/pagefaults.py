"""ks-pagefaults: page faults with their latency, minor or major, per process.

The BPF side (bpf/pagefaults.bpf.c) starts a fault's clock at the x86
page_fault_user/page_fault_kernel tracepoints and stops it when the kernel accounts
the fault on the PAGE_FAULTS_MIN / PAGE_FAULTS_MAJ software perf events, to which
this module attaches one BPF program per CPU.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from kernelsight.bpf import libbpf
from kernelsight.collectors.bpf_collector import BpfCollector, Generations
from kernelsight.collectors.cgroups import CgroupNames
from kernelsight.collectors.decode import CStruct, comm_text, task_filter
from kernelsight.collectors.runtime import (
    Cgroup, Comm, MinLatency, Pid, RunOptions, collector, warn)
from kernelsight.ingest import histogram

TOOL = "ks-pagefaults"

# x86 page fault error code bits (arch/x86/include/asm/trap_pf.h)
X86_PF_WRITE = 1 << 1
X86_PF_INSTR = 1 << 4

EVENT = CStruct("pagefaults", "fault_event", "<QQQIIIIBB6x16sQ")
PROC_HEAD = CStruct("pagefaults", "proc_faults", "<QQQ16sQ", prefix=True)  # then the hist
PROC_HIST = CStruct("pagefaults", "hist", f"<{histogram.NBUCKETS}Q")

HELP = """Report page faults with their latency: slow or sampled ones one by one
(`page_fault` events), and every interval a per-process summary (`page_fault_stats`:
minor and major counts and a latency histogram).

No kprobes needed: a fault's clock starts at the x86 page_fault_user /
page_fault_kernel tracepoints and stops when the kernel accounts the fault on the
PAGE_FAULTS_MIN or PAGE_FAULTS_MAJ software perf event (which one says minor or
major; a fault retried after waiting for I/O or a lock counts as major, as the kernel
counts it); sched_switch follows the faults that sleep. Counts match getrusage()'s ru_minflt / ru_majflt for faults taken
by the CPU; faults the kernel resolves on a process's behalf (get_user_pages, e.g.
O_DIRECT or /proc/PID/mem) and faults that fail (SIGSEGV) are not counted.

access_type is read, write or exec from the error code; user_mode is 1 when the
fault came from user space, 0 for a kernel access to user memory (copy_to_user).

Needs root (or CAP_BPF + CAP_PERFMON); exits 77 without.

Examples:

  ks-pagefaults --comm postgres | ks-ingest --db-path ks.db

  ks-pagefaults --min-latency 0.1 --sample 1000 --duration 10
"""


# ---- decoding --------------------------------------------------------------------------
def access_type(error_code: int) -> str:
    if error_code & X86_PF_INSTR:
        return "exec"
    return "write" if error_code & X86_PF_WRITE else "read"


def decode_event(raw: bytes, cgroup_of=lambda cgid: None) -> tuple[int, dict]:
    """(kernel timestamp, event fields) of one ring-buffer record; cgroup_of names
    the thread's cgroup from its id (cgroups.CgroupNames)."""
    ts, latency, address, pid, tid, cpu, error_code, major, user, comm, cgid = EVENT.unpack_from(raw)
    return ts, {
        "pid": pid, "tid": tid, "cpu": cpu,
        # SQLite integers are signed 64-bit; kernel addresses would not fit unsigned.
        "address": address - (1 << 64) if address >= 1 << 63 else address,
        "latency_ns": latency,
        "fault_type": "major" if major else "minor",
        "access_type": access_type(error_code),
        "user_mode": int(user),
        "comm": comm_text(comm), "cgroup": cgroup_of(cgid),
    }


def decode_proc(key: bytes, value: bytes, interval_ns: int, cgroup_of=lambda cgid: None) -> dict:
    """One process's page_fault_stats event from its map entry."""
    minor, major, latency_sum, comm, cgid = PROC_HEAD.unpack_from(value)
    buckets = PROC_HIST.unpack_from(value, PROC_HEAD.size)
    h = {i: c for i, c in enumerate(buckets) if c}
    return {
        "interval_ns": interval_ns,
        "pid": int.from_bytes(key[:4], "little"),
        "comm": comm_text(comm), "cgroup": cgroup_of(cgid),
        "minor_count": minor, "major_count": major,
        "latency_sum_ns": latency_sum,
        **histogram.summary(h),
        "buckets": histogram.sparse(h),
    }


# ---- perf events: the end of every fault ----------------------------------------------
class FaultEnds:
    """PAGE_FAULTS_MIN and _MAJ on every online CPU, each running its BPF program.

    Once attached, a perf event's fd belongs to its BPF link (libbpf closes it when
    the link is destroyed with the object); only a not-yet-attached fd is ours."""

    PROGRAMS = {"fault_minor": libbpf.PERF_COUNT_SW_PAGE_FAULTS_MIN,
                "fault_major": libbpf.PERF_COUNT_SW_PAGE_FAULTS_MAJ}

    def __init__(self, obj: libbpf.BpfObject):
        self.attached = 0
        for cpu in libbpf.online_cpus():
            for prog, config in self.PROGRAMS.items():
                fd = libbpf.open_software_event(config, cpu)
                try:
                    obj.attach_perf_event(prog, fd)
                except BaseException:
                    os.close(fd)
                    raise
                self.attached += 1


# ---- the run -------------------------------------------------------------------------
def build_rodata(min_latency_ms: float, sample: int, pid: int | None,
                 comm: str | None, cgroup: str | None = None) -> dict:
    rodata: dict[str, int | bytes] = {
        "min_latency_ns": int(min_latency_ms * 1_000_000),
        "sample_every": sample,
        "self_tgid": os.getpid(),
    }
    rodata.update(task_filter(pid, comm, cgroup))
    return rodata


def run(opts: RunOptions, rodata: dict) -> None:
    with BpfCollector(TOOL, "pagefaults", opts, rodata=rodata) as bc:
        emit, runner = bc.emitter.emit, bc.runner
        procs = bc.map("procs")
        gens = Generations(bc)
        ends = FaultEnds(bc.obj)
        cgroup_of = CgroupNames()
        if opts.verbose:
            warn(f"fault ends counted on {ends.attached // 2} CPUs")

        def on_event(raw: bytes) -> None:
            ts, fields = decode_event(raw, cgroup_of)
            emit("page_fault", fields, runner.clock.to_epoch(ts))

        def sample() -> None:
            entries = Generations.take(procs, gens.flip(), 4)   # struct proc_key: tgid, gen
            for key, value in entries:
                emit("page_fault_stats", decode_proc(key, value, runner.interval_ns, cgroup_of))
            if opts.verbose:
                unmatched = bc.obj.read_u64("unmatched_ends")
                warn(f"interval {runner.samples + 1}: {len(entries)} processes "
                     f"faulted; {unmatched} ends without their start so far")

        bc.ring("events", on_event)
        bc.run(sample)


MIN_LATENCY = MinLatency(
    "Print a page_fault event for every fault at least this slow, in "
    "milliseconds (0.05 = 50 us).")


@collector(HELP)
def main(
    opts: RunOptions, *,
    min_latency: MIN_LATENCY = 1.0,
    sample: Annotated[int, typer.Option(
        "--sample", metavar="N", min=0,
        help="Also print 1 in N of the faster faults (0: none).")] = 0,
    pid: Pid = None,
    comm: Comm = None,
    cgroup: Cgroup = None,
) -> None:
    run(opts, build_rodata(min_latency, sample, pid, comm, cgroup=cgroup))


if __name__ == "__main__":
    main()
