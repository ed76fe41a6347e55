"""ks-procfs: CPU time of one sample of everything, with 10,000 TCP connections open.

Baseline: the same numbers read through psutil (virtual_memory, getloadavg,
disk_io_counters(perdisk), net_io_counters(pernic), net_connections('tcp') counted by
status, cpu_times_percent(percpu and total)) plus net/snmp, net/netstat and PSI read
by hand, as psutil has no API for them.  Also: TCP state counts alone through
sock_diag netlink (as ks-procfs asks: every state but ESTABLISHED, whose number comes
from Tcp CurrEstab; and a dump of every socket) vs parsing /proc/net/tcp{,6}.

CPU time is getrusage(RUSAGE_SELF) user + system, so the kernel's work (formatting
/proc/net/tcp, walking sockets for the netlink dump) counts too.  The ks side includes
turning events into JSON lines and writing them to /dev/null.

As root the benchmark moves itself into a new network namespace first, so that its
20,000 sockets do not disturb anything else on the machine (the network interfaces
there are only lo, for both sides alike).

    .venv/bin/python bench/bench_procfs.py [--quick] [--connections N]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import socket
import subprocess
import sys
import threading

import psutil

from kernelsight.collectors import procfs_parse as P
from kernelsight.collectors.procfs_sampler import KINDS, ProcfsSampler
from kernelsight.collectors.runtime import Emitter
from kernelsight.collectors.sockdiag import SockDiag

CLONE_NEWNET = 0x40000000
TARGET_MS = 20.0


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def per_call_ms(fn, n: int) -> float:
    fn()  # warm up: opens files, fills caches
    t0 = cpu_seconds()
    for _ in range(n):
        fn()
    return (cpu_seconds() - t0) / n * 1e3


def private_netns() -> bool:
    if os.geteuid() != 0:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        return False
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    return True


CONNECTOR = """
import socket, sys
addr, n = ("127.0.0.1", int(sys.argv[1])), int(sys.argv[2])
held = [socket.create_connection(addr) for _ in range(n)]
print("ok", flush=True)
sys.stdin.read()
"""


def open_connections(n: int):
    """n loopback connections (2n established sockets).

    A helper process holds the client ends and this one the accepted ends: one process
    may not be allowed 2n descriptors (RLIMIT_NOFILE's hard limit; raising it needs
    CAP_SYS_RESOURCE), but n each is within reach.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, n + 200)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if n + 100 > hard:
        sys.exit(f"RLIMIT_NOFILE hard limit {hard} is too low for {n} connections; "
                 "use --connections")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    accepted = []
    acceptor = threading.Thread(target=lambda: accepted.extend(listener.accept()[0]
                                                               for _ in range(n)))
    acceptor.start()
    connector = subprocess.Popen([sys.executable, "-c", CONNECTOR, str(listener.getsockname()[1]),
                                  str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 preexec_fn=lambda: resource.setrlimit(
                                     resource.RLIMIT_NOFILE, (want, hard)))
    if connector.stdout.readline() != b"ok\n":
        sys.exit("the connecting helper failed")
    acceptor.join()
    return connector, [listener, *accepted]


# ---- the psutil side --------------------------------------------------------------
def read_snmp_by_hand() -> dict:
    with open("/proc/net/snmp", "rb") as f:
        snmp = f.read()
    with open("/proc/net/netstat", "rb") as f:
        netstat = f.read()
    return P.parse_tcp_retrans(snmp, netstat)


def read_psi_by_hand() -> list:
    out = []
    for res in ("cpu", "memory", "io"):
        try:
            with open(f"/proc/pressure/{res}", "rb") as f:
                out.append(P.parse_pressure(f.read()))
        except OSError:
            pass
    return out


def psutil_tcp_states() -> dict:
    counts: dict[str, int] = {}
    for c in psutil.net_connections("tcp"):
        counts[c.status] = counts.get(c.status, 0) + 1
    return counts


def psutil_everything() -> None:
    psutil.virtual_memory()
    psutil.getloadavg()
    psutil.disk_io_counters(perdisk=True)
    psutil.net_io_counters(pernic=True)
    psutil_tcp_states()
    psutil.cpu_times_percent(percpu=True)
    psutil.cpu_times_percent(percpu=False)
    read_snmp_by_hand()
    read_psi_by_hand()


# ---- the ks side ------------------------------------------------------------------
def ks_sampler(kinds=KINDS, tcp_source="auto"):
    devnull = os.open(os.devnull, os.O_WRONLY)
    emitter = Emitter(fd=devnull, host="bench")
    sampler = ProcfsSampler(kinds, tcp_source=tcp_source, warn=lambda m: None)
    sampler.prime()

    def one() -> None:
        sampler.sample(emitter.emit)
        emitter.flush()
    return one


def proc_net_tcp_counts() -> list[int]:
    counts = [0] * 13
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name, "rb") as f:
            P.count_proc_net_tcp(f.read(), counts)
    return counts


def command_cpu_ms(args: list[str]) -> float:
    """CPU time of one run of the real ks-procfs command, from RUSAGE_CHILDREN."""
    exe = os.path.join(os.path.dirname(sys.executable), "ks-procfs")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([exe, *args], stdout=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2,000 connections, fewer samples")
    ap.add_argument("--connections", type=int, help="TCP connections to hold open (default 10000)")
    args = ap.parse_args()
    n_conn = args.connections or (2000 if args.quick else 10000)
    reps = 30 if args.quick else 100
    psutil_reps = 5 if args.quick else 15

    isolated = private_netns()
    connector, held = open_connections(n_conn)
    established = P.tcp_counts_to_event(SockDiag().count())["established"]
    print(f"{n_conn} loopback connections open: {established} established sockets"
          f"{' (in a private network namespace)' if isolated else ''}")

    ks_all = per_call_ms(ks_sampler(), reps)
    ks_proc_tcp = per_call_ms(ks_sampler(tcp_source="proc"), max(5, reps // 5))
    ps_all = per_call_ms(psutil_everything, psutil_reps)
    print(f"\none sample of everything ({', '.join(KINDS)}), CPU ms per sample:")
    print(f"  ks-procfs (sock_diag)          {ks_all:8.2f} ms   target <= {TARGET_MS:.0f} ms: "
          f"{'met' if ks_all <= TARGET_MS else 'MISSED'}")
    print(f"  ks-procfs (--tcp-source proc)  {ks_proc_tcp:8.2f} ms")
    print(f"  psutil + snmp/PSI by hand      {ps_all:8.2f} ms   -> ks-procfs is "
          f"{ps_all / ks_all:.1f}x cheaper")

    print("\nTCP state counts alone, CPU ms per sample:")
    diag = SockDiag()
    t_ks = per_call_ms(ks_sampler(("tcp",)), reps)
    t_diag = per_call_ms(diag.count, max(5, reps // 2))
    t_proc = per_call_ms(proc_net_tcp_counts, max(5, reps // 5))
    t_ps = per_call_ms(psutil_tcp_states, psutil_reps)
    print(f"  ks-procfs: sock_diag, all but ESTABLISHED + CurrEstab  {t_ks:8.2f} ms")
    print(f"  sock_diag dump of every socket                        {t_diag:8.2f} ms   "
          f"({t_diag / t_ks:.1f}x ks-procfs)")
    print(f"  /proc/net/tcp{{,6}} parsing                             {t_proc:8.2f} ms   "
          f"({t_proc / t_ks:.1f}x ks-procfs, {t_proc / t_diag:.1f}x the full dump)")
    print(f"  psutil.net_connections('tcp')                         {t_ps:8.2f} ms   "
          f"({t_ps / t_ks:.1f}x ks-procfs)")

    print("\nthe ks-procfs command (start-up, Runner, JSON to /dev/null), CPU per run:")
    once = command_cpu_ms(["--once"])
    many = command_cpu_ms(["-i", "0.05", "--count", "100"])
    print(f"  --once                         {once:8.1f} ms   (mostly Python start-up)")
    print(f"  100 samples                    {many:8.1f} ms   -> {(many - once) / 99:.2f} ms "
          "per further sample")

    print("\nks-procfs per kind, CPU ms per sample:")
    for kind in KINDS:
        print(f"  {kind:12s} {per_call_ms(ks_sampler((kind,)), reps):8.3f} ms")
    for s in held:
        s.close()
    connector.stdin.close()
    connector.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
