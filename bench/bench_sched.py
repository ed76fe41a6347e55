"""What ks-sched costs a switch-heavy workload, against the floor of any tracer.

Workload: a pipe ping-pong between two processes (every round trip is two wakeups
and at least two context switches), under:
* alone                   - no BPF program attached
* empty programs (floor)  - tp_btf programs on the same hooks (sched_wakeup,
                            sched_wakeup_new, sched_switch) that return at once
* ks-sched                - as shipped: enqueue times in task local storage
* ks-sched --start-map hash - enqueue times in a hash keyed by tid (the measured
                            alternative; also hooks sched_process_free to clean up)
* ks-sched --per-process  - plus the per-process counters (a hash by tgid)
* ks-sched --hist-per process - a histogram per process instead (runqlat -P; a hash of
                           whole histograms, created on demand)
* ks-sched --cgroup      - the bench's own cgroup: every task passes the filter
* minimal timer (reference) - the least any run-queue timer does: an enqueue time in
                            task storage at wakeup and preemption, one clock read and
                            a counter when the task runs (no histogram, no filters)

Reported as bench_syscalls reports (its helpers are shared): the workload's CPU ns
per round trip (stats off), the slowdown and added ns over "alone", the added cost
as a ratio of the floor's (target <= 2x; median of per-round ratios and range), and
the programs' own ns per hit from BPF run-time stats.

    .venv/bin/python bench/bench_sched.py [--quick]
"""

from __future__ import annotations

import argparse
import sys

from bench_syscalls import (BPF, PINGPONG_C, compile_bpf, compile_c, own_cgroup, report,
                            require_root, rounds, run_exe, run_scenario)
from kernelsight.collectors.sched import build_rodata

EMPTY_BPF = """
    #include "vmlinux.h"
    #include <bpf/bpf_helpers.h>
    #include <bpf/bpf_tracing.h>
    char LICENSE[] SEC("license") = "GPL";

    SEC("tp_btf/sched_wakeup")
    int BPF_PROG(empty_wakeup, struct task_struct *p) { return 0; }

    SEC("tp_btf/sched_wakeup_new")
    int BPF_PROG(empty_wakeup_new, struct task_struct *p) { return 0; }

    SEC("tp_btf/sched_switch")
    int BPF_PROG(empty_switch, bool preempt, struct task_struct *prev,
                 struct task_struct *next) { return 0; }
"""


MINIMAL_BPF = """
    #include "vmlinux.h"
    #include <bpf/bpf_helpers.h>
    #include <bpf/bpf_tracing.h>
    char LICENSE[] SEC("license") = "GPL";

    struct {
        __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
        __uint(map_flags, BPF_F_NO_PREALLOC);
        __type(key, int);
        __type(value, __u64);
    } starts SEC(".maps");
    __u64 timed = 0;

    static __always_inline void enqueue(struct task_struct *p, __u64 now)
    {
        __u64 *ts = bpf_task_storage_get(&starts, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

        if (ts)
            *ts = now;
    }

    SEC("tp_btf/sched_wakeup")
    int BPF_PROG(minimal_wakeup, struct task_struct *p)
    {
        enqueue(p, bpf_ktime_get_ns());
        return 0;
    }

    SEC("tp_btf/sched_wakeup_new")
    int BPF_PROG(minimal_wakeup_new, struct task_struct *p)
    {
        enqueue(p, bpf_ktime_get_ns());
        return 0;
    }

    SEC("tp_btf/sched_switch")
    int BPF_PROG(minimal_switch, bool preempt, struct task_struct *prev,
                 struct task_struct *next, unsigned int prev_state)
    {
        __u64 now = bpf_ktime_get_ns(), *ts;

        if (preempt || prev_state == 0)
            enqueue(prev, now);
        ts = bpf_task_storage_get(&starts, next, 0, 0);
        if (ts && *ts && now > *ts) {
            *ts = 0;
            __sync_fetch_and_add(&timed, 1);
        }
        return 0;
    }
"""


def scenario_objects() -> dict[str, tuple]:
    """name -> (object path or None, rodata, autoload overrides), as ks-sched sets them."""
    empty = compile_bpf("empty_sched", EMPTY_BPF)
    shipped = BPF / "sched.bpf.o"
    task = build_rodata(10.0, None, None, per_process=False, start_map="task")
    hashed = build_rodata(10.0, None, None, per_process=False, start_map="hash")
    per_process = build_rodata(10.0, None, None, per_process=True, start_map="task")
    hist_per = build_rodata(10.0, None, None, per_process=False, start_map="task",
                            hist_per="process")
    # --cgroup of the bench's own cgroup: every switch passes the filter (its worst case)
    own = own_cgroup()
    cgroup = build_rodata(10.0, None, None, per_process=False, start_map="task",
                          cgroup=own) if own else None
    return {
        "alone": (None, {}, {}),
        "empty programs (floor)": (empty, {}, {}),
        "ks-sched": (shipped, task, {"sched_process_free": False}),
        "ks-sched --start-map hash": (shipped, hashed, {"sched_process_free": True}),
        "ks-sched --per-process": (shipped, per_process, {"sched_process_free": False}),
        "ks-sched --hist-per process": (shipped, hist_per, {"sched_process_free": False}),
        **({"ks-sched --cgroup": (shipped, cgroup, {"sched_process_free": False})} if cgroup else {}),
        "minimal timer (reference)": (compile_bpf("minimal_sched", MINIMAL_BPF), {}, {}),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer round trips and rounds")
    args = ap.parse_args()
    require_root()
    trips, reps = (20_000, 3) if args.quick else (50_000, 7)
    scenarios = scenario_objects()
    pingpong = compile_c("pipe_pingpong", PINGPONG_C)
    seen = rounds(scenarios,
                  lambda spec: run_scenario(*spec, lambda: run_exe(pingpong, trips)), reps)
    report(f"pipe ping-pong, {trips} round trips (2 wakeups, >= 2 switches each), median "
           f"of {reps} rounds: CPU ns per round trip of both processes, added cost vs the "
           "empty-program floor (target <= 2x), BPF ns per sched_switch", "trip", seen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
