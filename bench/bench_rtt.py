"""What ks-rtt costs TCP, against the floor of any program on its hook.

Side by side, in one run, a TCP request/response loop on loopback (a C client and a
C server process, 32-byte messages, TCP_NODELAY, a fixed number of round trips):

* alone        - no BPF program on tcp_probe
* empty        - the floor: bench/empty_tcp_probe.bpf.c, a tp_btf/tcp_probe program
                 that returns at once (the kernel's tracepoint-to-BPF path is paid)
* ks-rtt       - the real command (default options: --sample 100), output to /dev/null

Runs alternate between the modes (--repeat times) so drift hits them alike; the
median of each is reported.  For each: round trips per second, the throughput ratio
against "alone", the added ns per received segment (from the time per round trip,
divided by the segments tcp_probe saw per round trip) and that as a multiple of the
floor's (targets: <= 2x the floor, <= 3 % throughput).  A separate pass with
kernel.bpf_stats_enabled=1 gives each program's own run_time_ns / run_cnt (the stats
cost time themselves, so the throughput pass runs without them).  Attach time is
what ks-rtt --verbose says, and the time from exec to that line (target <= 0.3 s).

    .venv/bin/python bench/bench_rtt.py [--quick] [--repeat N] [--count N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import re
import statistics
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
KS_RTT = pathlib.Path(sys.executable).parent / "ks-rtt"
BPF_CFLAGS = ["-g", "-O2", "-target", "bpf", "-mcpu=v3", "-D__TARGET_ARCH_x86", "-Wall",
              "-I", str(REPO / "bpf")]

sys.path.insert(0, str(REPO))
from kernelsight.bpf import libbpf  # noqa: E402

# Forks a server; the client does COUNT round trips of 32 bytes and prints the wall ns,
# the segments its socket received (TCP_INFO; the server's are as many: the exchange is
# symmetric) and the CPU ns both processes spent on them (the server's share of its total, which
# includes 1000 warm-up round trips).  CPU time counts what the loop itself costs, not
# the time other load on the machine held the CPU: this bench shares the machine.
PINGPONG_C = r"""
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unsigned segs_in(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) ? 0 : ti.tcpi_segs_in;
}

static void full(int fd, char *buf, int n, int rd)
{
	for (int got = 0; got < n;) {
		int r = rd ? read(fd, buf + got, n - got) : write(fd, buf + got, n - got);
		if (r <= 0) exit(rd ? 0 : 1);
		got += r;
	}
}

int main(int argc, char **argv)
{
	long count = atol(argv[1]);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int one = 1, srv = socket(AF_INET, SOCK_STREAM, 0);
	char buf[32] = { 0 };
	struct timespec t0, t1, c0, c1;
	struct rusage ru;

	if (bind(srv, (void *)&a, sizeof(a)) || listen(srv, 1) || getsockname(srv, (void *)&a, &len))
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		int c = accept(srv, 0, 0);
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		for (;;) { full(c, buf, sizeof(buf), 1); full(c, buf, sizeof(buf), 0); }
	}
	int c = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c, (void *)&a, sizeof(a)))
		return 1;
	for (int i = 0; i < 1000; i++) { full(c, buf, sizeof(buf), 0); full(c, buf, sizeof(buf), 1); }
	unsigned s0 = segs_in(c);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	for (long i = 0; i < count; i++) { full(c, buf, sizeof(buf), 0); full(c, buf, sizeof(buf), 1); }
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	unsigned s1 = segs_in(c);
	close(c);
	waitpid(pid, 0, 0);
	getrusage(RUSAGE_CHILDREN, &ru);
	double server = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
			(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
	double client = (c1.tv_sec - c0.tv_sec) * 1e9 + (c1.tv_nsec - c0.tv_nsec);
	printf("%ld %.0f %u\n", (t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec),
	       client + server * count / (count + 1000), s1 - s0);
	return 0;
}
"""

MODES = ("alone", "empty", "ks-rtt")


def build() -> tuple[pathlib.Path, pathlib.Path]:
    if not (REPO / "bpf" / "vmlinux.h").exists() or not (REPO / "bpf" / "rtt.bpf.o").exists():
        sys.exit("bench_rtt: build the BPF objects first: make bpf")
    OUT.mkdir(parents=True, exist_ok=True)
    exe = OUT / "tcp_pingpong"
    (OUT / "tcp_pingpong.c").write_text(PINGPONG_C)
    subprocess.run(["cc", "-O2", "-o", str(exe), str(OUT / "tcp_pingpong.c")], check=True)
    obj = OUT / "empty_tcp_probe.bpf.o"
    subprocess.run(["clang", *BPF_CFLAGS, "-c", str(REPO / "bench" / "empty_tcp_probe.bpf.c"),
                    "-o", str(obj)], check=True)
    return exe, obj


@contextlib.contextmanager
def bpf_stats(enabled: bool):
    """kernel.bpf_stats_enabled for the duration; restored after."""
    path = pathlib.Path("/proc/sys/kernel/bpf_stats_enabled")
    before = path.read_text().strip()
    path.write_text("1\n" if enabled else "0\n")
    try:
        yield
    finally:
        path.write_text(before + "\n")


def fdinfo_stats(pid: int | str) -> dict[int, dict[str, int]]:
    """prog_id -> {run_time_ns, run_cnt} of the BPF programs a process holds."""
    out: dict[int, dict[str, int]] = {}
    base = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(base):
        try:
            with open(f"{base}/{fd}") as f:
                fields = dict(l.split(":", 1) for l in f if ":" in l)
        except OSError:
            continue
        if "prog_id" in fields and "run_cnt" in fields:
            out[int(fields["prog_id"])] = {k: int(fields[k]) for k in ("run_time_ns", "run_cnt")}
    return out


class KsRtt:
    """ks-rtt in the background; started once its programs are attached."""

    def __init__(self):
        t0 = time.monotonic()
        self.proc = subprocess.Popen([str(KS_RTT), "-v", "--interval", "1"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in self.proc.stderr:
            if m := re.search(r"attached .* in (\d+) ms", line):
                self.attach_ms = int(m.group(1))
                self.exec_to_attached = time.monotonic() - t0
                return
        raise SystemExit(f"bench_rtt: ks-rtt did not start (exit {self.proc.wait()})")

    def probe_stats(self) -> dict[str, int]:
        names = {p["id"]: p["name"] for p in bpftool_progs()}
        for pid_, st in fdinfo_stats(self.proc.pid).items():
            if names.get(pid_) == "on_tcp_probe":
                return st
        return {"run_time_ns": 0, "run_cnt": 0}

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=30)


def bpftool_progs() -> list[dict]:
    import json
    return json.loads(subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True,
                                     text=True, check=True).stdout)


class Empty:
    def __init__(self, obj: pathlib.Path):
        self.obj = libbpf.BpfObject("empty_tcp_probe", path=obj)
        self.obj.load()
        self.obj.attach()

    def probe_stats(self) -> dict[str, int]:
        return _fd_stats(self.obj.program_fds()["empty_tcp_probe"])

    def stop(self) -> None:
        self.obj.close()


def _fd_stats(fd: int) -> dict[str, int]:
    with open(f"/proc/self/fdinfo/{fd}") as f:
        fields = dict(l.split(":", 1) for l in f if ":" in l)
    return {k: int(fields[k]) for k in ("run_time_ns", "run_cnt")}


def start(mode: str, obj: pathlib.Path):
    return None if mode == "alone" else Empty(obj) if mode == "empty" else KsRtt()


def pingpong(exe: pathlib.Path, count: int) -> tuple[float, float, float]:
    """(wall ns, CPU ns, segments received by both ends) per round trip."""
    out = subprocess.run([str(exe), str(count)], capture_output=True, text=True, check=True)
    wall, cpu, segs = out.stdout.split()
    return int(wall) / count, float(cpu) / count, 2 * int(segs) / count


def report(wall, cpu, seg, cost, attach, count, repeat) -> None:
    med = {m: (statistics.median(wall[m]), statistics.median(cpu[m])) for m in MODES}
    added = {m: (med[m][1] - med["alone"][1]) / seg for m in MODES}
    print(f"TCP request/response on loopback: {count} round trips x {repeat} runs per mode "
          f"(medians); {seg:.2f} segments received per round trip (TCP_INFO)")
    print(f"{'mode':<7} {'rt/s wall':>10} {'vs alone':>9} {'CPU ns/rt':>10} {'vs alone':>9} "
          f"{'added CPU ns/seg':>17} {'vs empty':>9} {'prog ns/run':>12}")
    for m in MODES:
        vs_empty = f"{added[m] / added['empty']:.2f}x" if m == "ks-rtt" and added["empty"] > 0 else ""
        prog = f"{cost[m]:.0f}" if m in cost else ""
        print(f"{m:<7} {1e9 / med[m][0]:>10.0f} {med['alone'][0] / med[m][0]:>9.3f} "
              f"{med[m][1]:>10.0f} {med['alone'][1] / med[m][1]:>9.3f} {added[m]:>17.0f} "
              f"{vs_empty:>9} {prog:>12}")
    spread = {m: (max(v) - min(v)) / statistics.median(v) for m, v in cpu.items()}
    print("CPU run-to-run spread (max-min)/median: "
          + ", ".join(f"{m} {s:.1%}" for m, s in spread.items()))
    if len(cost) == 2:
        print(f"program cost per run (bpf_stats run_time_ns/run_cnt): ks-rtt "
              f"{cost['ks-rtt']:.0f} ns = {cost['ks-rtt'] / cost['empty']:.2f}x the empty "
              f"program's {cost['empty']:.0f} ns (mostly the stats' own clock reads); "
              f"excess over it {cost['ks-rtt'] - cost['empty']:.0f} ns")
    else:
        print("program cost per run: no counts (kernel.bpf_stats_enabled was turned off "
              "during the run by another process?)")
    floor = (f"{added['ks-rtt'] / added['empty']:.2f}x the floor's added CPU per segment"
             if added["empty"] > 0 else "the floor's added CPU per segment is below this "
             "run's noise (no ratio)")
    print(f"ks-rtt cost: {1 - med['alone'][1] / med['ks-rtt'][1]:.1%} CPU per round trip, "
          f"{1 - med['alone'][0] / med['ks-rtt'][0]:.1%} wall-clock throughput (target <= 3 %); "
          f"{floor} (target <= 2x)")
    ms = statistics.median(a[0] for a in attach)
    exec_s = statistics.median(a[1] for a in attach)
    print(f"ks-rtt attach: {ms} ms load+attach (its --verbose); {exec_s:.2f} s from exec "
          f"to attached, Python start-up included (target <= 0.3 s)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer, shorter runs")
    ap.add_argument("--repeat", type=int, default=None, help="runs per mode (default 9; quick 3)")
    ap.add_argument("--count", type=int, default=None,
                    help="round trips per run (default 40000; quick 10000)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_rtt: needs root (BPF); skipped")
        return 0
    repeat = args.repeat or (3 if args.quick else 9)
    count = args.count or (10000 if args.quick else 40000)
    exe, obj = build()
    libbpf.LOG.echo = False

    # Pass 1: throughput, bpf_stats off, modes alternating.
    wall: dict[str, list[float]] = {m: [] for m in MODES}
    cpu: dict[str, list[float]] = {m: [] for m in MODES}
    attach: list[tuple[int, float]] = []
    segs: list[float] = []
    with bpf_stats(False):
        for r in range(repeat):
            for mode in (MODES if r % 2 == 0 else MODES[::-1]):
                tool = start(mode, obj)
                try:
                    w, c, seg = pingpong(exe, count)
                finally:
                    if isinstance(tool, KsRtt):
                        attach.append((tool.attach_ms, tool.exec_to_attached))
                    if tool:
                        tool.stop()
                wall[mode].append(w)
                cpu[mode].append(c)
                segs.append(seg)

    # Pass 2: each program's own cost per run, bpf_stats on.
    cost: dict[str, tuple[float, float]] = {}
    with bpf_stats(True):
        for mode in MODES[1:]:
            tool = start(mode, obj)
            try:
                pingpong(exe, count)
                st = tool.probe_stats()
            finally:
                tool.stop()
            if st["run_cnt"]:
                cost[mode] = st["run_time_ns"] / st["run_cnt"]
    report(wall, cpu, statistics.median(segs), cost, attach, count, repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
