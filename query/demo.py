"""`make demo`: every collector for ~20 s into one database, then the summary and the textfile.

It runs its own little workload (TCP on loopback, direct disk I/O, CPU-bound processes)
so that every table has something to show, exactly as a newcomer would pipe things:

    ks-rtt | ks-ingest        (and the six other collectors into the same ks-ingest)
    ks-query summary
    ks-promexport --textfile-dir data/textfile
"""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

BIN = pathlib.Path(sys.executable).parent
DATA = pathlib.Path(os.environ.get("KS_DEMO_DIR", "data"))
SECONDS = float(os.environ.get("KS_DEMO_SECONDS", "20"))

# (command, arguments): short intervals so 20 s gives several samples of each.
COLLECTORS = [
    ("ks-rtt", ["--interval", "2", "--sample", "50"]),
    ("ks-syscalls", ["--interval", "2", "--stats"]),
    ("ks-pagefaults", ["--interval", "2"]),
    ("ks-iolat", ["--interval", "2"]),
    ("ks-sched", ["--interval", "2", "--per-process"]),
    ("ks-procfs", ["--interval", "2"]),
    ("ks-perf", ["--interval", "2"]),
]


def say(msg: str) -> None:
    print(f"\033[1m==>\033[0m {msg}" if sys.stdout.isatty() else f"==> {msg}", flush=True)


def tool(name: str) -> str:
    path = BIN / name
    return str(path) if path.exists() else shutil.which(name) or name


def start_workload(work: pathlib.Path) -> list[subprocess.Popen]:
    """TCP, disk and CPU load, each bounded by the demo's length."""
    procs = []
    secs = str(int(SECONDS))
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if shutil.which("iperf3"):
        procs.append(subprocess.Popen(["iperf3", "-s", "-1", "-p", "5299"], **quiet))
        time.sleep(0.3)
        procs.append(subprocess.Popen(["iperf3", "-c", "127.0.0.1", "-p", "5299", "-t", secs,
                                       "-b", "200M"], **quiet))
    if shutil.which("fio"):
        procs.append(subprocess.Popen(
            ["fio", "--name=ks-demo", f"--directory={work}", "--rw=randrw", "--bs=4k",
             "--size=32m", "--direct=1", "--ioengine=psync", "--time_based", f"--runtime={secs}",
             "--rate_iops=300"], **quiet))
    if shutil.which("stress-ng"):
        procs.append(subprocess.Popen(["stress-ng", "--cpu", "3", "--cpu-load", "60",
                                       "--timeout", secs], **quiet))
    return procs


def main() -> int:
    if os.geteuid() != 0:
        print("make demo loads BPF programs: run it as root (sudo make demo)", file=sys.stderr)
        return 77
    DATA.mkdir(parents=True, exist_ok=True)
    db = DATA / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        pathlib.Path(f"{db}{suffix}").unlink(missing_ok=True)
    textfile_dir = DATA / "textfile"
    textfile_dir.mkdir(exist_ok=True)
    work = DATA / "fio"
    work.mkdir(exist_ok=True)

    say(f"collecting for {SECONDS:.0f} s: {', '.join(c for c, _ in COLLECTORS)} | ks-ingest --db-path {db}")
    ingest = subprocess.Popen([tool("ks-ingest"), "--db-path", str(db)], stdin=subprocess.PIPE)
    collectors = []
    for name, args in COLLECTORS:
        p = subprocess.Popen([tool(name), *args], stdout=ingest.stdin, stderr=subprocess.PIPE)
        collectors.append((name, p))
    ingest.stdin.close()  # the collectors hold the pipe now; EOF when the last one exits
    time.sleep(0.5)
    load = start_workload(work)
    _wait_with_progress(collectors)

    for _, p in collectors:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for name, p in collectors:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
        err = p.stderr.read().decode(errors="replace").strip()
        if p.returncode not in (0, None):
            say(f"{name} ended with status {p.returncode}: {err.splitlines()[-1] if err else ''}")
    for p in load:
        p.terminate()
    ingest.wait(timeout=30)
    shutil.rmtree(work, ignore_errors=True)

    say(f"ks-query summary --db-path {db} --since 10m")
    subprocess.run([tool("ks-query"), "summary", "--db-path", str(db), "--since", "10m",
                    "--format", "table"])
    say(f"ks-promexport --db-path {db} --textfile-dir {textfile_dir}")
    rc = subprocess.run([tool("ks-promexport"), "--db-path", str(db),
                         "--textfile-dir", str(textfile_dir)]).returncode
    prom = textfile_dir / "kernelsight.prom"
    if rc == 0 and prom.exists():
        lines = prom.read_text().splitlines()
        shown = [l for l in lines if l.startswith("ebpf_rtt_")][:6]
        say(f"wrote {prom} ({len(lines)} lines); the original agent's RTT gauges (docs/design.md):")
        print("\n".join(shown) if shown else "   (no RTT samples in the window)")
    say("next: ks-query --help, ks-query tables, docs/events.md")
    return 0


def _wait_with_progress(collectors) -> None:
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < SECONDS:
        alive = sum(p.poll() is None for _, p in collectors)
        if sys.stdout.isatty():
            print(f"\r    {elapsed:4.0f}/{SECONDS:.0f} s, {alive} collectors running", end="", flush=True)
        time.sleep(1)
    if sys.stdout.isatty():
        print()


if __name__ == "__main__":
    sys.exit(main())
