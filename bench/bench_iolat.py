"""What ks-iolat costs an I/O-bound workload, against the floor of any tracer.

Workload: fio, 4 KiB random direct reads, queue depth 1, on a loop device backed by
a file in /dev/shm (a device that answers in microseconds, so the tracer's share of
each I/O shows; a real disk's latency would drown it), with the mq-deadline
scheduler so that block_rq_insert fires too.  Under:
* alone                    - no BPF program attached
* empty programs (floor)   - tp_btf programs on block_rq_issue and block_rq_complete
                             that return at once
* ks-iolat                 - as shipped
* empty + insert (floor)   - the floor of --queued: block_rq_insert too
* ks-iolat --queued        - timed from insertion into the scheduler
* ks-iolat --flags         - a histogram per set of request flags (biolatency -F)
* ks-iolat --cgroup (charged) - fio's own cgroup, told by the cgroup each request
                             is charged to, compared at issue (every request passes:
                             the filtered path's worst case); needs the kernel to
                             charge I/O to that cgroup (collectors/cgroups.io_cgroup)
* empty + io_start (floor) - the floor of --cgroup where I/O is not charged to the
                             cgroup: block_io_start too
* ks-iolat --cgroup (marked) - fio's own cgroup: every request marked at block_io_start
                             and checked at issue
* minimal timer (reference) - the least any issue-to-completion timer does: a start
                             time into an array slot at issue, one clock read and a
                             counter at completion (no device, no histogram)

Reported as bench_syscalls reports (its helpers are shared): fio's mean latency per
I/O in ns (wall time, stats off), the slowdown and added ns over "alone", the added
cost as a ratio of the floor's (target <= 2x; median of per-round ratios and range),
and the programs' own ns per I/O from BPF run-time stats (issue + complete, and
insert, per completed request).

    .venv/bin/python bench/bench_iolat.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys

from bench_syscalls import (BPF, compile_bpf, own_cgroup, report, require_root, rounds,
                            run_scenario)

from kernelsight.collectors.iolat import bpf_options, cgroup_filter
from kernelsight.collectors.runtime import Fatal

BACKING = "/dev/shm/ks-bench-iolat.img"
SIZE_MB = 64

EMPTY_BPF = """
    #include "vmlinux.h"
    #include <bpf/bpf_helpers.h>
    #include <bpf/bpf_tracing.h>
    char LICENSE[] SEC("license") = "GPL";

    SEC("tp_btf/block_rq_insert")
    int BPF_PROG(empty_insert, struct request *rq) { return 0; }

    SEC("tp_btf/block_io_start")
    int BPF_PROG(empty_io_start, struct request *rq) { return 0; }

    SEC("tp_btf/block_rq_issue")
    int BPF_PROG(empty_issue, struct request *rq) { return 0; }

    SEC("tp_btf/block_rq_complete")
    int BPF_PROG(empty_complete, struct request *rq, blk_status_t error,
                 unsigned int nr_bytes) { return 0; }
"""


@contextlib.contextmanager
def loop_on_shm():
    """A loop device over a file in memory, with mq-deadline; removed afterwards."""
    with open(BACKING, "wb") as f:
        chunk = os.urandom(1 << 20)
        for _ in range(SIZE_MB):
            f.write(chunk)
    dev = subprocess.run(["losetup", "--find", "--show", BACKING], capture_output=True,
                         text=True, check=True).stdout.strip()
    try:
        with open(f"/sys/block/{os.path.basename(dev)}/queue/scheduler", "w") as f:
            f.write("mq-deadline")
        yield dev
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)
        os.unlink(BACKING)


def fio_ns_per_io(dev: str, ios: int) -> float:
    out = subprocess.run(
        ["fio", "--name=bench", f"--filename={dev}", f"--size={SIZE_MB}m",
         f"--io_size={ios * 4}k", "--bs=4k", "--rw=randread", "--direct=1",
         "--ioengine=psync", "--output-format=json"],
        capture_output=True, check=True).stdout
    return json.loads(out[out.index(b"{"):])["jobs"][0]["read"]["lat_ns"]["mean"]


MINIMAL_BPF = """
    #include "vmlinux.h"
    #include <bpf/bpf_helpers.h>
    #include <bpf/bpf_tracing.h>
    char LICENSE[] SEC("license") = "GPL";

    struct slot { __u64 rq; __u64 ts; };
    struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, 65536);
        __type(key, __u32);
        __type(value, struct slot);
    } slots SEC(".maps");
    __u64 timed = 0;

    static __always_inline struct slot *slot_of(unsigned long long *ctx, __u64 *id)
    {
        __u32 i;

        bpf_probe_read_kernel(id, sizeof(*id), &ctx[0]);
        i = (__u32)(((*id >> 6) * 0x9E3779B97F4A7C15ULL) >> 48);
        return bpf_map_lookup_elem(&slots, &i);
    }

    SEC("tp_btf/block_rq_issue")
    int BPF_PROG(minimal_issue, struct request *rq)
    {
        __u64 id;
        struct slot *s = slot_of(ctx, &id);

        if (s) {
            s->rq = id;
            s->ts = bpf_ktime_get_ns();
        }
        return 0;
    }

    SEC("tp_btf/block_rq_complete")
    int BPF_PROG(minimal_complete, struct request *rq)
    {
        __u64 id;
        struct slot *s = slot_of(ctx, &id);

        if (s && s->rq == id && s->ts && bpf_ktime_get_ns() > s->ts) {
            s->ts = 0;
            __sync_fetch_and_add(&timed, 1);
        }
        return 0;
    }
"""


def scenario_objects() -> dict[str, tuple]:
    """name -> (object path or None, rodata, autoload overrides), as ks-iolat sets them."""
    empty = compile_bpf("empty_iolat", EMPTY_BPF)
    shipped = BPF / "iolat.bpf.o"
    own = own_cgroup()
    return {
        "alone": (None, {}, {}),
        "empty programs (floor)": (empty, {}, {"empty_insert": False, "empty_io_start": False}),
        "ks-iolat": (shipped, *bpf_options(None, False, None)),
        "ks-iolat --flags": (shipped, *bpf_options(None, False, None, flags=True)),
        **(cgroup_scenario("ks-iolat --cgroup (charged)", shipped, own, False) if own else {}),
        **({"empty + io_start (floor)": (empty, {}, {"empty_insert": False}),
            **cgroup_scenario("ks-iolat --cgroup (marked)", shipped, own, True)} if own else {}),
        "empty + insert (floor)": (empty, {}, {"empty_io_start": False}),
        "ks-iolat --queued": (shipped, *bpf_options(None, True, None)),
        "minimal timer (reference)": (compile_bpf("minimal_iolat", MINIMAL_BPF), {}, {}),
    }


def cgroup_scenario(name: str, shipped, cgroup: str, mark: bool) -> dict:
    """{name: spec} of ks-iolat --cgroup told one way, {} where that way does not apply."""
    try:
        by_cgroup = cgroup_filter(cgroup, mark)[0]
    except Fatal as e:
        print(f"{name}: left out: {e}", file=sys.stderr)
        return {}
    return {name: (shipped, *bpf_options(None, False, by_cgroup))}


def subset(seen: dict, *names: str) -> dict:
    return {n: seen[n] for n in names}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer I/Os and rounds")
    args = ap.parse_args()
    require_root()
    ios, reps = (10_000, 3) if args.quick else (30_000, 7)
    scenarios = scenario_objects()
    with loop_on_shm() as dev:
        seen = rounds(scenarios,
                      lambda spec: run_scenario(*spec, lambda: fio_ns_per_io(dev, ios)), reps)
    charged = [n for n in ("ks-iolat --cgroup (charged)",) if n in seen]
    what = (f"fio 4 KiB random direct reads on a loop device in memory, {ios} I/Os, median "
            f"of {reps} rounds: wall ns per I/O, added cost vs the empty-program floor "
            "(target <= 2x), BPF ns per I/O")
    report(what, "I/O", subset(seen, "alone", "empty programs (floor)", "ks-iolat",
                               "ks-iolat --flags", *charged, "minimal timer (reference)"))
    if "ks-iolat --cgroup (marked)" in seen:
        report(what.replace("fio", "--cgroup where I/O is not charged to it: fio", 1), "I/O",
               subset(seen, "alone", "empty + io_start (floor)", "ks-iolat",
                      "ks-iolat --cgroup (marked)"), floor_key="empty + io_start (floor)")
    report(what.replace("fio", "--queued: fio", 1), "I/O",
           subset(seen, "alone", "empty + insert (floor)", "ks-iolat --queued"),
           floor_key="empty + insert (floor)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
