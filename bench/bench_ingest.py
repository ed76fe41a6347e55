"""ks-ingest throughput and memory against sqlite-utils and the sqlite3 CLI.

One run, the same 1M mixed events (``--quick``: 100k), each time into a fresh
database with the full kernelsight schema (all indexes), WAL on:

* ks-ingest at its default flags (batch 100; group commit behind its writer process),
* ks-ingest --batch-size 10000, with its writer process and with --single-process
  (the writer process pays off only when the second core is free),
* ``sqlite-utils insert --nl`` (one run per table, its default batch of 100),
* the sqlite3 CLI ``.import`` of the same rows as CSV (C, one transaction per table):
  the near-limit reference.

Prints events/s, peak memory (PSS of the command and its children, sampled every
20 ms) and ratios.
Target for ks-ingest: >= 250k events/s and <= 50 MB of memory.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import pathlib
import random
import shutil
import subprocess
import sys
import time

import orjson

from kernelsight.ingest import events as ev
from kernelsight.ingest import schema

HERE = pathlib.Path(__file__).resolve().parent
BIN = pathlib.Path(sys.executable).parent
TS0 = 1_795_455_835_925_270_528

# The mix: eBPF events dominate, as on a busy machine; scrapers add their rows.
MIX = {
    "syscall": 30, "page_fault": 10, "sched": 10, "io_latency": 5, "memory": 5, "load": 5,
    "block": 15, "network": 10, "tcp": 5, "tcp_retrans": 5,
}
WORDS = ["futex", "read", "write", "epoll_wait", "openat", "nanosleep", "poll", "recvfrom"]
COMMS = [f"worker-{i}" for i in range(50)] + ["postgres", "nginx", "kworker/1:1", "memfd:sealed-91"]


def value(rng: random.Random, c: ev.Column, i: int):
    if c.unit == "hist_us":
        return [[b, rng.randint(1, 50)] for b in sorted(rng.sample(range(120), 4))]
    if c.sql == ev.TEXT:
        if c.name == "comm":
            return rng.choice(COMMS)
        if c.name in ("device", "device_name"):
            return rng.choice(["vda", "vdb", "loop0", "nvme0n1"])
        if c.name == "interface_name":
            return rng.choice(["lo", "eth0", "veth1"])
        return rng.choice(WORDS)
    if c.sql == ev.REAL:
        return round(rng.random() * 1000, 3)
    if c.name in ("latency_ns",):
        return rng.randint(10**6, 10**9)
    if c.name in ("address", "arg0"):
        return rng.randint(0, 2**47)
    return rng.randint(0, 1 << 20)


def generate(n: int, path: pathlib.Path) -> dict[str, list[dict]]:
    """n events as JSON lines into path (deterministic); returns them per type."""
    rng = random.Random(20261123)
    names = list(MIX)
    weights = [MIX[k] for k in names]
    per_type: dict[str, list[dict]] = {k: [] for k in names}
    with open(path, "wb") as f:
        for i, name in enumerate(rng.choices(names, weights, k=n)):
            t = ev.BY_NAME[name]
            e = {"type": name, "timestamp": TS0 + i * 1000, "host": "bench"}
            for c in t.columns:
                e[c.name] = value(rng, c, i)
            per_type[name].append(e)
            f.write(orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE))
    return per_type


def fresh_db(path: pathlib.Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        pathlib.Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = schema.connect(str(path))
    schema.apply(conn)
    conn.close()


def _pss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _hwm_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def memory_mb(pid: int) -> float:
    """Proportional set size of a process and its children (ks-ingest's writer
    process), in MB: pages they share (the fork) are counted once, not twice.

    Not ru_maxrss from wait4: that counts the memory of the forking parent (this
    script, holding every event) from before the child's exec.
    """
    return sum(_pss_mb(p) for p in [pid, *_children(pid)])


def run(argv: list[str], stdin_path: pathlib.Path | None = None, stdin_bytes: bytes | None = None):
    """Run a child; returns (seconds, peak PSS in MB, CPU seconds, peak RSS of the
    largest process in MB); memory is sampled every 20 ms.  CPU seconds tell more than wall time on a shared, busy
    machine; wall time is what counts on an idle one."""
    os.sync()   # the files we just wrote must not be flushed inside the timed run
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.PIPE if stdin_bytes is not None else None
    err = open(HERE / "out" / "ingest" / "stderr.txt", "w+b")
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.DEVNULL, stderr=err)
    if stdin_bytes is not None:
        p.stdin.write(stdin_bytes)
        p.stdin.close()
    peak, hwm = 0.0, 0.0
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, memory_mb(p.pid))
        # the largest single process's peak RSS (VmHWM is reset by exec, so unlike
        # ru_maxrss it does not count this script's memory)
        hwm = max([hwm] + [_hwm_mb(q) for q in [p.pid, *_children(p.pid)]])
        time.sleep(0.02)
    cpu = usage.ru_utime + usage.ru_stime   # with the children it waited for (the writer)
    dt = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if stdin_path:
        stdin.close()
    err.seek(0)
    if p.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({p.returncode}): {err.read().decode()[-500:]}")
    return dt, peak, cpu, hwm


def count_rows(db: pathlib.Path) -> int:
    conn = schema.connect(str(db), readonly=True)
    n = sum(conn.execute(f"SELECT count(*) FROM {t.table}").fetchone()[0] for t in ev.TYPES)
    conn.close()
    return n


def bench_ks_ingest(events: pathlib.Path, db: pathlib.Path, n: int, *flags: str):
    fresh_db(db)
    r = run([str(BIN / "ks-ingest"), "--db-path", str(db), *flags], stdin_path=events)
    assert count_rows(db) == n, "ks-ingest lost events"
    return r


def bench_sqlite_utils(per_type, db: pathlib.Path, work: pathlib.Path, n: int):
    exe = shutil.which("sqlite-utils", path=str(BIN)) or shutil.which("sqlite-utils")
    if not exe:
        return None
    fresh_db(db)
    total, peak, cpu, hwm = 0.0, 0.0, 0.0, 0.0
    for name, evs in per_type.items():
        f = work / f"{name}.ndjson"
        with open(f, "wb") as out:
            for e in evs:
                row = {k: v for k, v in e.items() if k != "type"}
                for c in ev.BY_NAME[name].columns:
                    if c.unit == "hist_us":
                        row[c.name] = orjson.dumps(row[c.name]).decode()
                out.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
        dt, mem, c, h = run([exe, "insert", str(db), ev.BY_NAME[name].table, str(f), "--nl"])
        total += dt
        cpu += c
        peak = max(peak, mem)
        hwm = max(hwm, h)
    assert count_rows(db) == n, "sqlite-utils lost events"
    return total, peak, cpu, hwm


def bench_sqlite3_import(per_type, db: pathlib.Path, work: pathlib.Path, n: int):
    exe = shutil.which("sqlite3")
    if not exe:
        return None
    fresh_db(db)
    script = io.StringIO()
    script.write("PRAGMA journal_mode=WAL;\nPRAGMA synchronous=NORMAL;\nPRAGMA cache_size=-65536;\n")
    for name, evs in per_type.items():
        t = ev.BY_NAME[name]
        cols = [c.name for c in ev.columns_of(t)]
        f = work / f"{name}.csv"
        with open(f, "w", newline="") as out:
            w = csv.writer(out)
            for i, e in enumerate(evs, 1):   # explicit ids: .import fills every column
                w.writerow([i] + [orjson.dumps(e[c]).decode() if isinstance(e[c], list) else e[c]
                                  for c in cols])
        script.write(f".import --csv {f} {t.table}\n")
    r = run([exe, str(db)], stdin_bytes=script.getvalue().encode())
    assert count_rows(db) == n, "sqlite3 .import lost events"
    return r


def bench_null_key_minute(work: pathlib.Path) -> None:
    """Lines of the original io tracer (no ``device``: a NULL rollup key), all in one
    minute, 2k / 4k / 8k of them, against the same 8k with a device.  NULL merged as
    one key keeps this linear (once it was 0.35 / 0.92 / 3.04 s: every row a rollup
    row of its own, and each insert's look-up scanned them)."""
    line = orjson.loads((HERE.parent / "tests/fixtures/kernelsight-v1/io_latency_tracer.ndjson")
                        .read_bytes().splitlines()[0])
    step, start = ev.ROLLUP_NS // 10_000, line["timestamp"] // ev.ROLLUP_NS * ev.ROLLUP_NS
    times = {}
    for n, device in ((2000, None), (4000, None), (8000, None), (8000, "vda")):
        f = work / "nullkey.ndjson"
        extra = {"device": device} if device else {}
        f.write_bytes(b"".join(orjson.dumps(dict(line, timestamp=start + i * step, **extra),
                                            option=orjson.OPT_APPEND_NEWLINE) for i in range(n)))
        db = work / "nullkey.db"
        fresh_db(db)
        times[(n, device)] = run([str(BIN / "ks-ingest"), "--db-path", str(db)], stdin_path=f)[0]
        conn = schema.connect(str(db), readonly=True)
        rollups = conn.execute("SELECT count(*) FROM io_latency_stats_1m").fetchone()[0]
        conn.close()
        print(f"  {n:>5} lines in one minute, device {device or 'absent'}: "
              f"{times[(n, device)]:.2f} s, {rollups} rollup row(s)")
    t2, t8, dev = times[(2000, None)], times[(8000, None)], times[(8000, "vda")]
    print(f"  8k / 2k device-less: {t8 / t2:.2f}x the time for 4x the lines (at most ~4x "
          f"when linear, ks-ingest's start-up included; was 8.7x); 8k device-less / 8k with a device: {t8 / dev:.2f}x (was 10x)\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100k events instead of 1M")
    ap.add_argument("--events", type=int, help="number of events (overrides --quick)")
    args = ap.parse_args()
    n = args.events or (100_000 if args.quick else 1_000_000)
    work = HERE / "out" / "ingest"
    work.mkdir(parents=True, exist_ok=True)
    events = work / "events.ndjson"
    db = work / "bench.db"
    print(f"generating {n:,} mixed events ...", flush=True)
    print("a NULL rollup key (the original io tracer's lines carry no device):")
    bench_null_key_minute(work)
    per_type = generate(n, events)
    mb = events.stat().st_size / 1e6
    print(f"{mb:.0f} MB of JSON lines, {len(per_type)} types, into a fresh database with all indexes\n")

    results = {}
    results["ks-ingest (default: batch 100)"] = bench_ks_ingest(events, db, n)
    results["ks-ingest --batch-size 10000"] = bench_ks_ingest(events, db, n, "--batch-size", "10000")
    results["  same, --single-process"] = bench_ks_ingest(events, db, n, "--batch-size", "10000", "--single-process")
    results["sqlite-utils insert --nl (WAL)"] = bench_sqlite_utils(per_type, db, work, n)
    results["sqlite3 CLI .import CSV"] = bench_sqlite3_import(per_type, db, work, n)

    load = os.getloadavg()[0]
    print(f"{'':34} {'events/s':>10} {'per CPU-s':>10} {'peak PSS':>9} {'peak RSS':>9}"
          f"   (load average {load:.1f}; PSS: all processes, RSS: the largest one)")
    for name, r in results.items():
        if r is None:
            print(f"{name:34} {'(not installed)':>20}")
            continue
        print(f"{name:34} {n / r[0]:>10,.0f} {n / r[2]:>10,.0f} {r[1]:>7.1f}MB {r[3]:>7.1f}MB")
    print()
    for base in ("sqlite-utils insert --nl (WAL)", "sqlite3 CLI .import CSV"):
        b = results[base]
        if not b:
            continue
        for name in ("ks-ingest (default: batch 100)", "ks-ingest --batch-size 10000"):
            r = results[name]
            print(f"{name} vs {base}: {b[0] / r[0]:.2f}x events/s, {b[2] / r[2]:.2f}x events per CPU-s")
    for name in ("ks-ingest (default: batch 100)", "ks-ingest --batch-size 10000"):
        dt, mem, _, hwm = results[name]
        print(f"{name}: {n / dt / 250_000:.2f}x of the 250,000 events/s target; "
              f"peak RSS {hwm:.1f} MB, PSS of both processes {mem:.1f} MB (target 50 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
