"""What ks-pagefaults costs a page-fault-heavy program, against the floor of any tracer.

Side by side, in one run, a C loop that maps fresh anonymous memory and reads one
byte per 4 KiB page (one minor fault each, mapping the shared zero page: the fault
path itself, without page zeroing, whose memory traffic would drown the tracer's
cost in noise), then unmaps it:

* alone            - nothing attached
* empty programs   - the floor: tp_btf page_fault_user/kernel (and sched_switch,
                     sched_process_exec) programs and perf_event programs on
                     PAGE_FAULTS_MIN/MAJ (period 1, one per CPU) that all return at
                     once - the hooks ks-pagefaults needs
* ks-pagefaults    - the shipped object (default: 1 ms threshold, no sampling)
* ks --sample 100  - plus one event in 100 through the ring buffer (nobody reads it
                     here: once full, the rest are counted as lost, as in real life)
* ks-pagefaults --cgroup - the bench's own cgroup: every fault passes the filter
* task storage only - every start in task local storage, no per-CPU slot (the
                     design before; cpu_fast_path off, no sched_switch program)

For each: CPU ns per fault of the touch loop (thread CPU time, bpf_stats off), the
added ns over "alone", that as a ratio of the floor's (target: <= 2x), and the BPF
programs' own ns per fault (start + end program, run_time_ns / run_cnt).

    .venv/bin/python bench/bench_pagefaults.py [--quick]
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys

from bench_syscalls import (BPF, compile_bpf, compile_c, libbpf, measure_attached, own_cgroup,
                            report, require_root, rounds)
from kernelsight.collectors.pagefaults import FaultEnds, build_rodata

TOUCH_C = """
    #include <stdio.h>
    #include <stdlib.h>
    #include <sys/mman.h>
    #include <time.h>

    /* argv: pages per mapping, mappings.  Prints CPU ns per touched page. */
    int main(int argc, char **argv)
    {
        long pages = atol(argv[1]), rounds = atol(argv[2]), page = 4096;
        struct timespec a, b;
        double ns = 0;
        long sum = 0;

        for (long r = 0; r < rounds; r++) {
            char *m = mmap(NULL, pages * page, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED)
                return 1;
            madvise(m, pages * page, MADV_NOHUGEPAGE);  /* one fault per 4 KiB */
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
            for (long i = 0; i < pages; i++)
                sum += ((volatile char *)m)[i * page];
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
            ns += (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
            munmap(m, pages * page);
        }
        printf("%.2f\\n", ns / (pages * rounds));
        return (int)(sum & 0);
    }
"""

EMPTY_BPF = """
    #include "vmlinux.h"
    #include <bpf/bpf_helpers.h>
    #include <bpf/bpf_tracing.h>
    char LICENSE[] SEC("license") = "GPL";

    SEC("tp_btf/page_fault_user")
    int BPF_PROG(page_fault_user, unsigned long address, struct pt_regs *regs,
                 unsigned long error_code) { return 0; }

    SEC("tp_btf/page_fault_kernel")
    int BPF_PROG(page_fault_kernel, unsigned long address, struct pt_regs *regs,
                 unsigned long error_code) { return 0; }

    SEC("tp_btf/sched_switch")
    int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev,
                 struct task_struct *next) { return 0; }

    SEC("tp_btf/sched_process_exec")
    int BPF_PROG(sched_process_exec, struct task_struct *p, pid_t old_pid,
                 struct linux_binprm *bprm) { return 0; }

    SEC("perf_event")
    int fault_minor(struct bpf_perf_event_data *ctx) { return 0; }

    SEC("perf_event")
    int fault_major(struct bpf_perf_event_data *ctx) { return 0; }
"""


def time_touch(exe: pathlib.Path, pages: int, reps: int) -> float:
    out = subprocess.run([str(exe), str(pages), str(reps)], capture_output=True, text=True,
                         check=True)
    return float(out.stdout)


def run_scenario(path, rodata, autoload, run_workload):
    if path is None:
        return run_workload(), None
    with libbpf.BpfObject(path.stem.removesuffix(".bpf"), rodata=rodata, path=path) as obj:
        for prog, on in autoload.items():
            obj.set_autoload(prog, on)
        obj.load()
        obj.attach()
        FaultEnds(obj)  # its perf event fds close with the object's links
        return measure_attached(obj, run_workload)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer faults and rounds")
    args = ap.parse_args()
    require_root()
    pages, maps, reps = (4096, 10, 3) if args.quick else (8192, 12, 9)
    exe = compile_c("touch_pages", TOUCH_C)
    empty = compile_bpf("empty_pagefaults", EMPTY_BPF)
    shipped = BPF / "pagefaults.bpf.o"
    default = build_rodata(1.0, 0, None, None)  # exactly as the collector sets them
    own = own_cgroup()
    scenarios = {
        "alone": (None, {}, {}),
        "empty programs (floor)": (empty, {}, {}),
        "ks-pagefaults": (shipped, default, {}),
        "ks --sample 100": (shipped, build_rodata(1.0, 100, None, None), {}),
        # the bench's own cgroup: every fault passes the filter (its worst case)
        **({"ks-pagefaults --cgroup": (shipped, build_rodata(1.0, 0, None, None, own), {})}
           if own else {}),
        "task storage only": (shipped, {**default, "cpu_fast_path": 0},
                              {"sched_switch": False}),
    }
    seen = rounds(scenarios,
                  lambda spec: run_scenario(*spec, lambda: time_touch(exe, pages, maps)), reps)
    report(f"page-touch loop, {pages * maps} faults, median of {reps} rounds: CPU ns per "
           "fault, added cost vs the empty-program floor (target <= 2x), BPF ns per fault "
           "(start + end programs)", "fault", seen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
