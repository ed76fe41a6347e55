"""ks-sched: run-queue latency, as `runqlat`, `sched` and (optionally) `sched_stats` events.

The BPF side (bpf/sched.bpf.c) notes when a task becomes runnable (woken, or
preempted) and, when it gets a CPU, counts the wait into a cumulative per-CPU
histogram; waits of at least --min-latency also go through the ring buffer one by
one.  Every interval this module turns the histogram's growth into `runqlat` events
(the machine as cpu -1, then each CPU) and, with --per-process, drains the
per-process counters into `sched_stats` events.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from kernelsight.collectors.bpf_collector import BpfCollector, Generations
from kernelsight.collectors.cgroups import CgroupNames
from kernelsight.collectors.decode import CStruct, comm_text, task_filter
from kernelsight.collectors.runtime import (
    EXIT_USAGE, Cgroup, Comm, Fatal, MinLatency, Pid, RunOptions, collector, warn)
from kernelsight.ingest import histogram

TOOL = "ks-sched"
START_MAPS = ("task", "hash")
HIST_PER = {"process": 1, "thread": 2}     # --hist-per: the BPF side's hist_per

HELP = """\
Run-queue latency: how long runnable tasks waited for a CPU.

Hooks tp_btf/sched_wakeup, sched_wakeup_new and sched_switch.  A wait starts when a
task is woken or preempted and ends when it runs (the span /proc/PID/schedstat's
run_delay adds up).  Prints every interval:

\b
  runqlat      histogram and percentiles of all waits, machine-wide (cpu -1)
               and per CPU
  sched        each wait of at least --min-latency (pid, tid, cpu, latency_ns,
               prev_state of the task it replaced, comm)
  sched_stats  with --per-process: context switches (voluntary/involuntary),
               wakeups, CPU time, average timeslice and total run-queue wait
               per process
  runqlat_task with --hist-per process|thread: the histogram per process
               (runqlat -P) or thread (runqlat -L), the --top with the most
               waits; the others summed into one row with pid -1

CPU time is the scheduler's own sum (as schedstat and getrusage have it).  Some
switches fire no sched_switch (seen on a VM: its agent's threads); a wait ended
by one cannot be timed, and ks-sched says "N lost" on stderr for each it notices
(every one with --per-process, those followed by a preemption without).

\b
Examples:
  ks-sched --min-latency 5 --comm postgres
  ks-sched --per-process --duration 60 | ks-ingest --db-path ks.db
  ks-sched --hist-per process --top 5 -i 5 | ks-hist   # runqlat -P
"""

# ---- records from the kernel ---------------------------------------------------------
WAIT_EVENT = CStruct("sched", "wait_event", "<QQ5I16s4x")
PROC_STATS = CStruct("sched", "proc_stats", "<16s8Q")
TASK_HIST = CStruct("sched", "task_hist", "<QQII16s", prefix=True)   # then the buckets

# Task state bits as sched_switch reports them (include/linux/sched.h), in the order
# the kernel's own state letters take them.
STATE_LETTERS = ((0x0001, "S"), (0x0002, "D"), (0x0004, "T"), (0x0008, "t"),
                 (0x0010, "X"), (0x0020, "Z"), (0x0040, "P"), (0x0080, "X"))  # 0x80: exiting
TASK_NOLOAD, TASK_UNINTERRUPTIBLE = 0x0400, 0x0002


def state_letter(state: int, preempt: bool) -> str:
    """R for a task switched out runnable (preempted); else S, D, I (idle), T, ..."""
    if preempt or state == 0:
        return "R"
    if state & TASK_NOLOAD and state & TASK_UNINTERRUPTIBLE:
        return "I"
    for bit, letter in STATE_LETTERS:
        if state & bit:
            return letter
    return f"0x{state:x}"


def decode_wait(raw: bytes) -> tuple[int, dict]:
    """(monotonic ns when the waiter got the CPU, the `sched` event's fields)."""
    ts, latency, tgid, tid, cpu, prev_state, preempt, comm = WAIT_EVENT.unpack_from(raw)
    return ts, {"pid": tgid, "tid": tid, "cpu": cpu, "latency_ns": latency,
            "prev_state": state_letter(prev_state, bool(preempt)), "next_pid": tid,
            "comm": comm_text(comm)}


def decode_stats(key: bytes, raw: bytes, interval_ns: int, cgroup_of=lambda cgid: None) -> dict:
    comm, switches, vol, invol, wakeups, cpu_ns, wait_ns, waits, cgid = PROC_STATS.unpack_from(raw)
    return {
        "interval_ns": interval_ns, "pid": int.from_bytes(key[:4], "little"),
        "comm": comm_text(comm), "cgroup": cgroup_of(cgid), "context_switches": switches,
        "voluntary_switches": vol, "involuntary_switches": invol, "wakeups": wakeups,
        "cpu_time_ms": round(cpu_ns / 1e6, 3),
        "avg_timeslice_us": round(cpu_ns / 1e3 / switches, 3) if switches else None,
        "runq_wait_ns": wait_ns, "runq_waits": waits,
    }


# ---- the cumulative per-CPU histogram, as interval deltas ------------------------------
class RunqHistogram:
    """Reads the never-reset per-CPU histogram and reports what each interval added."""

    def __init__(self, bc: BpfCollector):
        self.map = bc.map("rq_hists")
        self.key = b"\0\0\0\0"
        self.prev = self._read()

    def _read(self) -> list[tuple[int, list[int]]]:
        out = []
        for value in self.map.per_cpu(self.map.lookup(self.key) or b""):
            words = memoryview(value).cast("Q")
            out.append((words[0], list(words[1:1 + histogram.NBUCKETS])))
        return out

    def interval(self) -> list[tuple[int, int, dict[int, int]]]:
        """[(cpu, sum_us, {bucket: count})] of the last interval, for every CPU."""
        now = self._read()
        out = []
        for cpu, ((s1, b1), (s0, b0)) in enumerate(zip(now, self.prev)):
            out.append((cpu, s1 - s0, {i: c1 - c0 for i, (c1, c0) in enumerate(zip(b1, b0))
                                       if c1 != c0}))
        self.prev = now
        return out


def runqlat_fields(cpu: int, sum_us: int, h: dict[int, int], interval_ns: int) -> dict:
    fields = {"interval_ns": interval_ns, "cpu": cpu, "sum_us": float(sum_us)}
    fields.update(histogram.summary(h))
    fields["buckets"] = histogram.sparse(h)
    return fields


def runqlat_events(per_cpu: list[tuple[int, int, dict[int, int]]], interval_ns: int) -> list[dict]:
    """The machine (cpu -1) always, then each CPU that had waits."""
    machine = histogram.merge(h for _, _, h in per_cpu)
    total_us = sum(s for _, s, _ in per_cpu)
    out = [runqlat_fields(-1, total_us, machine, interval_ns)]
    out += [runqlat_fields(cpu, s, h, interval_ns) for cpu, s, h in per_cpu if h]
    return out


# ---- --hist-per: one histogram per process or thread, the --top busiest ------------------
def decode_task_hist(key: bytes, raw: bytes, per_thread: bool, cgroup_of) -> dict:
    """A task_hists entry as (most of) a runqlat_task event, with its bucket dict."""
    sum_us, cgid, tgid, _, comm = TASK_HIST.unpack_from(raw)
    words = memoryview(raw)[TASK_HIST.size:].cast("Q")
    h = {i: c for i, c in enumerate(words[:histogram.NBUCKETS]) if c}
    return {"pid": tgid, "tid": int.from_bytes(key[:4], "little") if per_thread else None,
            "comm": comm_text(comm), "cgroup": cgroup_of(cgid), "sum_us": float(sum_us),
            "hist": h}


def task_hist_events(tasks: list[dict], top: int, interval_ns: int) -> list[dict]:
    """The `top` tasks with the most waits, then the rest summed into one pid -1 row:
    what --top leaves out still counts."""
    ranked = sorted(tasks, key=lambda t: (-histogram.total(t["hist"]), t["pid"], t["tid"] or 0))
    shown, rest = ranked[:top], ranked[top:]
    if rest:
        shown.append({"pid": -1, "tid": None, "comm": f"({len(rest)} others)", "cgroup": None,
                      "sum_us": sum(t["sum_us"] for t in rest),
                      "hist": histogram.merge(t["hist"] for t in rest)})
    out = []
    for t in shown:
        h = t.pop("hist")
        out.append({"interval_ns": interval_ns, **t, **histogram.summary(h),
                    "buckets": histogram.sparse(h)})
    return out


# ---- options -> rodata -----------------------------------------------------------------
def build_rodata(min_latency_ms: float, pid: int | None, comm: str | None,
                 per_process: bool, start_map: str, cgroup: str | None = None,
                 hist_per: str | None = None) -> dict:
    if hist_per is not None and hist_per not in HIST_PER:
        raise Fatal(f"--hist-per must be process or thread, not {hist_per!r}", EXIT_USAGE)
    rodata: dict[str, int | bytes] = {
        "min_latency_ns": int(min_latency_ms * 1_000_000),
        "per_process": int(per_process),
        "use_hash": int(start_map == "hash"),
        "hist_per": HIST_PER.get(hist_per, 0),
    }
    rodata.update(task_filter(pid, comm, cgroup))
    return rodata


# ---- the run -------------------------------------------------------------------------
def run(opts: RunOptions, rodata: dict, per_process: bool, top: int = 20) -> None:
    use_hash = bool(rodata["use_hash"])
    hist_per = rodata.get("hist_per", 0)
    with BpfCollector(TOOL, "sched", opts, rodata=rodata,
                      autoload={"sched_process_free": use_hash},
                      max_entries={} if use_hash else {"hash_starts": 1}) as bc:
        emit, runner = bc.emitter.emit, bc.runner
        waits = {"n": 0}

        def on_wait(raw: bytes) -> None:
            waits["n"] += 1
            ts, fields = decode_wait(raw)
            emit("sched", fields, runner.clock.to_epoch(ts))

        bc.ring("events", on_wait)
        hist = RunqHistogram(bc)
        stats, task_hists, gens = bc.map("proc_stats"), bc.map("task_hists"), Generations(bc)
        cgroup_of = CgroupNames()

        def per_task(ts: int) -> None:
            old = gens.flip()   # one generation for both maps (proc_key: tgid, gen)
            if per_process:
                for key, raw in Generations.take(stats, old, 4):
                    emit("sched_stats", decode_stats(key, raw, runner.interval_ns, cgroup_of), ts)
            if hist_per:
                tasks = [decode_task_hist(key, raw, hist_per == HIST_PER["thread"], cgroup_of)
                         for key, raw in Generations.take(task_hists, old, 4)]
                for fields in task_hist_events(tasks, top, runner.interval_ns):
                    emit("runqlat_task", fields, ts)

        def sample() -> None:
            ts = runner.timestamp
            for fields in runqlat_events(hist.interval(), runner.interval_ns):
                emit("runqlat", fields, ts)
            if per_process or hist_per:
                per_task(ts)
            if opts.verbose:
                warn(f"interval {runner.samples + 1}: {waits['n']} long waits so far")

        bc.run(sample)


MIN_LATENCY = MinLatency(
    "Print a `sched` event for every wait of at least this many milliseconds "
    "(0: every wait; that is a lot).")


@collector(HELP)
def main(
    opts: RunOptions, *,
    min_latency: MIN_LATENCY = 10.0,
    per_process: Annotated[bool, typer.Option(
        "--per-process", "-P", help="Also print per-process scheduler counters "
        "(sched_stats events) every interval.")] = False,
    pid: Pid = None,
    comm: Comm = None,
    cgroup: Cgroup = None,
    start_map: Annotated[str, typer.Option(
        "--start-map", metavar="task|hash",
        help="Where enqueue times are kept: task local storage (default) or a hash by "
        "thread id (for kernels before 5.11).")] = "task",
    hist_per: Annotated[Optional[str], typer.Option(
        "--hist-per", metavar="process|thread",
        help="Also a run-queue latency histogram per process (runqlat -P) or per thread "
        "(runqlat -L) every interval: runqlat_task events.")] = None,
    top: Annotated[int, typer.Option(
        "--top", min=1, metavar="N", help="With --hist-per: the N tasks with the most waits; "
        "the others summed into one row (pid -1).")] = 20,
) -> None:
    if start_map not in START_MAPS:
        raise Fatal(f"--start-map must be task or hash, not {start_map!r}", EXIT_USAGE)
    run(opts, build_rodata(min_latency, pid, comm, per_process, start_map, cgroup=cgroup,
                           hist_per=hist_per), per_process, top)


if __name__ == "__main__":
    main()
