"""What ks-syscalls costs syscall-heavy programs, against the floor of any tracer.

Side by side, in one run, two workloads:
  * a C loop of getppid() calls (calls that never leave the CPU), and
  * a pipe ping-pong between two processes (every read sleeps: the thread leaves
    the CPU inside its call, the path slow calls take),
each under:
* alone                  - no BPF program attached
* empty programs         - the floor: tp_btf programs on the same hooks
                           (sys_enter, sys_exit, sched_switch) that return at once
* ks-syscalls            - the shipped design: the call in flight in a per-CPU slot,
                           moved into task local storage when the thread leaves the CPU
* ks-syscalls --stats    - plus the per-syscall counters
* --stats --per-process  - the counters per process instead (a hash map, syscount -P)
* --stats --failures     - only failed calls counted (none here: the filter's cost alone)
* task storage only      - every start in task local storage (cpu_fast_path off)
* hash map only          - every start in a hash map keyed by tid (-DKS_START_IN_HASH)

For each: the workload's CPU ns per unit (its own CPU time, so other load on the
machine preempting it does not count; bpf_stats off), the added ns over "alone",
that as a ratio of the floor's added cost (target: <= 2x; the median of per-round
ratios, with its range), and the BPF programs' own ns per syscall from
kernel.bpf_stats_enabled (run_time_ns / run_cnt, as /proc/self/fdinfo shows them for
the program fds; bpftool prog show reads the same).

    .venv/bin/python bench/bench_syscalls.py [--quick]

The other tracer benches import the helpers below (compile, program stats, report).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import pathlib
import statistics
import subprocess
import sys
import textwrap

from kernelsight.bpf import build, libbpf, sysnr  # the venv's editable install
from kernelsight.collectors.syscalls import build_rodata

REPO = pathlib.Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
BPF = REPO / "bpf"


# ---- helpers shared with the other tracer benches ---------------------------------------
def compile_c(name: str, source: str) -> pathlib.Path:
    OUT.mkdir(parents=True, exist_ok=True)
    src, exe = OUT / f"{name}.c", OUT / name
    src.write_text(textwrap.dedent(source))
    subprocess.run(["cc", "-O2", "-o", str(exe), str(src)], check=True)
    return exe


def compile_bpf(name: str, source: str | pathlib.Path, *defines: str) -> pathlib.Path:
    """A BPF object in bench/out from inline source (or a file), against bpf/vmlinux.h."""
    OUT.mkdir(parents=True, exist_ok=True)
    if isinstance(source, str):
        src = OUT / f"{name}.bpf.c"
        src.write_text(textwrap.dedent(source))
    else:
        src = source
    return build.compile_bpf(src, OUT / f"{name}.bpf.o", *defines)


_BPF_ENABLE_STATS = 32
_BPF_STATS_RUN_TIME = 0
STATS_SYSCTL = pathlib.Path("/proc/sys/kernel/bpf_stats_enabled")


@contextlib.contextmanager
def bpf_stats():
    """Run-time stats on for the duration.  BPF_ENABLE_STATS holds them on for as
    long as its fd is open and counts its holders, so benches running side by side
    cannot switch them off under each other (a plain write of the
    kernel.bpf_stats_enabled sysctl could); the sysctl is the fallback."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    attr = ctypes.create_string_buffer(16)  # union bpf_attr: enable_stats.type = RUN_TIME
    attr[0:4] = _BPF_STATS_RUN_TIME.to_bytes(4, "little")
    fd = libc.syscall(sysnr.nr("bpf"), _BPF_ENABLE_STATS, attr, len(attr))
    if fd >= 0:
        try:
            yield
        finally:
            os.close(fd)
        return
    before = STATS_SYSCTL.read_text().strip()
    STATS_SYSCTL.write_text("1\n")
    try:
        yield
    finally:
        STATS_SYSCTL.write_text(before + "\n")


def stats_left_on() -> bool:
    """Whether someone else keeps run-time stats on (their clock reads then weigh on
    every timing here, the floor included)."""
    return STATS_SYSCTL.read_text().strip() != "0"


def prog_stats(obj: libbpf.BpfObject) -> dict[str, tuple[int, int]]:
    """name -> (run_time_ns, run_cnt) of each loaded program, from its fd's fdinfo."""
    out = {}
    for name, fd in obj.program_fds().items():
        info = {}
        with open(f"/proc/self/fdinfo/{fd}") as f:
            for line in f:
                key, _, value = line.partition(":")
                info[key.strip()] = value.strip()
        out[name] = (int(info.get("run_time_ns", 0)), int(info.get("run_cnt", 0)))
    return out


def ns_per_hit(before: dict, after: dict) -> tuple[float, int]:
    """BPF ns per hook hit: all programs' run time over the busiest program's runs
    (a syscall runs enter + exit once each; a fault runs start + end once each)."""
    total, hits = 0, 0
    for name in after:
        total += after[name][0] - before.get(name, (0, 0))[0]
        hits = max(hits, after[name][1] - before.get(name, (0, 0))[1])
    return (total / hits if hits else 0.0), hits


def require_root() -> None:
    if os.geteuid() != 0:
        print("bench needs root (BPF); skipped")
        sys.exit(0)


def rounds(scenarios: dict, run_one, reps: int) -> dict[str, list[tuple[float, float | None]]]:
    """Every scenario once per round, `reps` rounds: scenario -> [(ns, BPF ns/hit)].

    Measurements taken a second apart are compared with each other (see report), so
    drift and other load on the machine hit the floor and the tracer alike."""
    seen: dict[str, list[tuple[float, float | None]]] = {k: [] for k in scenarios}
    for _ in range(reps):
        for name, spec in scenarios.items():
            seen[name].append(run_one(spec))
    return seen


def report(title: str, unit: str, seen: dict[str, list[tuple[float, float | None]]],
           alone_key: str = "alone", floor_key: str = "empty programs (floor)") -> None:
    """Medians over the rounds; "vs floor" is the median over rounds of that round's
    added cost over the floor's added cost (the target's measure), with its range;
    "best-run" is the same ratio from each scenario's least disturbed (fastest) run.

    "BPF vs floor" compares the programs' own run time: bpf_stats adds two clock reads
    to every program run, most of what an empty program's run time shows, so that
    ratio overstates the real difference."""
    med = {k: statistics.median(ns for ns, _ in v) for k, v in seen.items()}
    best = {k: min(ns for ns, _ in v) for k, v in seen.items()}
    hit = {k: statistics.median(h for _, h in v) if v[0][1] is not None else None
           for k, v in seen.items()}
    alone, floor_hit = med[alone_key], hit[floor_key]
    print(f"\n{title}")
    if stats_left_on():
        print("note: kernel.bpf_stats_enabled is on (set by someone else): every BPF "
              "timing below includes its clock reads")
    print(f"{'scenario':<26}{'ns/' + unit:>10}{'slowdown':>10}{'added ns':>10}"
          f"{'vs floor':>10}{'(range)':>14}{'best-run':>10}{'BPF ns/hit':>12}"
          f"{'BPF vs floor':>14}")
    for name, values in seen.items():
        ratios = [(ns - a) / (f - a) for (ns, _), (a, _), (f, _)
                  in zip(values, seen[alone_key], seen[floor_key]) if f - a > 0]
        show = name not in (alone_key, floor_key) and ratios
        ratio = f"{statistics.median(ratios):.2f}x" if show else "-"
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}" if show else ""
        floor_best = best[floor_key] - best[alone_key]
        least = (f"{(best[name] - best[alone_key]) / floor_best:.2f}x"
                 if show and floor_best > 0 else "-")
        h = hit[name]
        print(f"{name:<26}{med[name]:>10.1f}{med[name] / alone:>9.2f}x"
              f"{med[name] - alone:>10.1f}{ratio:>10}{spread:>14}{least:>10}"
              f"{(f'{h:.1f}' if h is not None else '-'):>12}"
              f"{(f'{h / floor_hit:.2f}x' if h is not None and floor_hit else '-'):>14}")


# ---- this bench --------------------------------------------------------------------------
LOOP_C = """
    #include <stdio.h>
    #include <stdlib.h>
    #include <time.h>
    #include <unistd.h>
    #include <sys/syscall.h>

    int main(int argc, char **argv)
    {
        long n = atol(argv[1]);
        struct timespec a, b;

        /* CPU time, not wall time: other work on the machine preempting the loop
         * does not count against the tracer under test. */
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        for (long i = 0; i < n; i++)
            syscall(SYS_getppid);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
        printf("%.2f\\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
        return 0;
    }
"""

PINGPONG_C = """
    #include <stdio.h>
    #include <stdlib.h>
    #include <sys/resource.h>
    #include <sys/wait.h>
    #include <unistd.h>

    /* Two processes pass a byte back and forth over two pipes; prints the CPU
     * (user + system) of both per round trip, in ns. */
    int main(int argc, char **argv)
    {
        long n = atol(argv[1]);
        int ping[2], pong[2];
        struct rusage self, child;
        char c = 0;

        if (pipe(ping) || pipe(pong))
            return 1;
        if (fork() == 0) {
            for (long i = 0; i < n; i++)
                if (read(ping[0], &c, 1) != 1 || write(pong[1], &c, 1) != 1)
                    _exit(1);
            _exit(0);
        }
        for (long i = 0; i < n; i++)
            if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
                return 1;
        wait(NULL);
        getrusage(RUSAGE_SELF, &self);
        getrusage(RUSAGE_CHILDREN, &child);
        double us = self.ru_utime.tv_sec * 1e6 + self.ru_utime.tv_usec
                  + self.ru_stime.tv_sec * 1e6 + self.ru_stime.tv_usec
                  + child.ru_utime.tv_sec * 1e6 + child.ru_utime.tv_usec
                  + child.ru_stime.tv_sec * 1e6 + child.ru_stime.tv_usec;
        printf("%.2f\\n", us * 1000 / n);
        return 0;
    }
"""

EMPTY_BPF = """
    #include "vmlinux.h"
    #include <bpf/bpf_helpers.h>
    #include <bpf/bpf_tracing.h>
    char LICENSE[] SEC("license") = "GPL";

    SEC("tp_btf/sys_enter")
    int BPF_PROG(empty_enter, struct pt_regs *regs, long id) { return 0; }

    SEC("tp_btf/sys_exit")
    int BPF_PROG(empty_exit, struct pt_regs *regs, long ret) { return 0; }

    SEC("tp_btf/sched_switch")
    int BPF_PROG(empty_switch, bool preempt, struct task_struct *prev,
                 struct task_struct *next) { return 0; }
"""


def run_exe(exe: pathlib.Path, n: int) -> float:
    out = subprocess.run([str(exe), str(n)], capture_output=True, text=True, check=True)
    return float(out.stdout)


def scenario_objects() -> dict[str, tuple]:
    """name -> (object path or None, rodata, autoload overrides)."""
    empty = compile_bpf("empty_syscalls", EMPTY_BPF)
    hashed = compile_bpf("syscalls_hash", BPF / "syscalls.bpf.c", "-DKS_START_IN_HASH")
    shipped = BPF / "syscalls.bpf.o"
    # The read-only options exactly as `ks-syscalls [--stats]` sets them.
    default = build_rodata(10.0, None, None, None, errors_only=False, stats=False)
    stats = build_rodata(10.0, None, None, None, errors_only=False, stats=True)
    # --cgroup of the cgroup this bench (so its workload) runs in: the filter passes
    # every call, the filtered path's worst case.
    own = own_cgroup()
    cgroup = build_rodata(10.0, None, None, None, errors_only=False, stats=False, cgroup=own) if own else None
    per_process = build_rodata(10.0, None, None, None, errors_only=False, stats=True,
                               per_process=True)
    failures = build_rodata(10.0, None, None, None, errors_only=False, stats=True, failures=True)
    per_thread = {**default, "cpu_fast_path": 0}
    no_switch = {"sched_switch": False}
    return {
        "alone": (None, {}, {}),
        "empty programs (floor)": (empty, {}, {}),
        "ks-syscalls": (shipped, default, {}),
        "ks-syscalls --stats": (shipped, stats, {}),
        "--stats --per-process": (shipped, per_process, {}),
        "--stats --failures": (shipped, failures, {}),
        **({"ks-syscalls --cgroup": (shipped, cgroup, {})} if cgroup else {}),
        "task storage only": (shipped, per_thread, no_switch),
        "hash map only": (hashed, per_thread, no_switch),
    }


def own_cgroup() -> str | None:
    """This process's cgroup v2 path ("0::/x" in /proc/self/cgroup), None without v2."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return line[3:].strip()
    return None


def run_scenario(path, rodata, autoload, run_workload) -> tuple[float, float | None]:
    """(workload ns per unit, BPF ns per hit) with this object loaded and attached."""
    if path is None:
        return run_workload(), None
    with libbpf.BpfObject(path.stem.removesuffix(".bpf"), rodata=rodata, path=path) as obj:
        for prog, on in autoload.items():
            obj.set_autoload(prog, on)
        obj.load()
        obj.attach()
        return measure_attached(obj, run_workload)


def measure_attached(obj: libbpf.BpfObject, run_workload) -> tuple[float, float]:
    ns = run_workload()  # stats off: their clock reads would inflate the timing
    with bpf_stats():
        before = prog_stats(obj)
        run_workload()
        hit, _ = ns_per_hit(before, prog_stats(obj))
    return ns, hit


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer calls and rounds")
    args = ap.parse_args()
    require_root()
    (calls, trips, reps) = (200_000, 20_000, 3) if args.quick else (500_000, 50_000, 7)
    scenarios = scenario_objects()
    loop = compile_c("getppid_loop", LOOP_C)
    seen = rounds(scenarios, lambda spec: run_scenario(*spec, lambda: run_exe(loop, calls)),
                  reps)
    report(f"getppid loop, {calls} calls, median of {reps} rounds: CPU ns per call, added "
           "cost vs the empty-program floor (target <= 2x), BPF ns per syscall", "call", seen)
    pingpong = compile_c("pipe_pingpong", PINGPONG_C)
    seen = rounds(scenarios,
                  lambda spec: run_scenario(*spec, lambda: run_exe(pingpong, trips)), reps)
    report(f"pipe ping-pong, {trips} round trips (4 syscalls, 2 sleeps each), median of "
           f"{reps} rounds: CPU ns per round trip of both processes, BPF ns per syscall",
           "trip", seen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
