"""Generated ks events with known answers, for tests, benchmarks and trying ks-query
without root.  Deterministic for a given seed.

``scenario()`` returns the events (dicts exactly as collectors print them) and the
raw samples behind every histogram, so a test can compute the true percentile of
any window with a sort and compare it to what the query layer merges from buckets.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field

from ..ingest import events as ev
from ..ingest import histogram, schema

NS = 1_000_000_000


@dataclass
class Scenario:
    events: list[dict] = field(default_factory=list)
    # raw latency samples in us, keyed like ("rtt", node) or ("io", device, "read"),
    # each a list of (timestamp_ns of the interval, value_us)
    raw: dict = field(default_factory=dict)

    def add(self, type_: str, ts: int, host: str, **fields) -> None:
        self.events.append({"type": type_, "timestamp": ts, "host": host, **fields})

    def samples(self, key, start: int = 0, end: int = 1 << 62) -> list[int]:
        return [v for t, v in self.raw.get(key, []) if start <= t < end]


def _hist(values) -> list[list[int]]:
    counts: dict[int, int] = {}
    for v in values:
        i = histogram.index(v)
        counts[i] = counts.get(i, 0) + 1
    return histogram.sparse(counts)


def _record(sc: Scenario, key, ts: int, values) -> None:
    sc.raw.setdefault(key, []).extend((ts, v) for v in values)


def scenario(start_ns: int, seconds: int = 300, host: str = "testhost", seed: int = 1,
             nodes=("alpha", "beta", "gamma"), slow_from: int | None = None) -> Scenario:
    """One sample per second of every table.  From ``slow_from`` seconds on, RTT to
    ``alpha`` is ten times slower (a known change for window and correlation tests);
    the network and block counters reset (reboot) half-way through."""
    rnd = random.Random(seed)
    sc = Scenario()
    slow_from = seconds // 2 if slow_from is None else slow_from
    reset_at = seconds // 2
    rx = tx = reads = writes = retrans = out_segs = 0
    for s in range(seconds):
        ts = start_ns + s * NS
        slow = s >= slow_from
        # --- RTT per node: uniform spreads, alpha slower after slow_from
        for k, node in enumerate(nodes):
            lo, hi = (1000, 3000) if node != "alpha" or not slow else (10000, 30000)
            lo, hi = lo * (k + 1), hi * (k + 1)
            vals = [rnd.randint(lo, hi) for _ in range(50 // (k + 1))]
            _record(sc, ("rtt", node), ts, vals)
            sc.add("rtt", ts, host, node=node, peer=f"10.0.0.{k + 1}", family=4, interval_ns=NS,
                   sum_us=sum(vals), mean_us=sum(vals) / len(vals), retrans_count=k if slow else 0,
                   drop_count=1 if (slow and k == 0) else 0, buckets=_hist(vals),
                   **histogram.summary(histogram.decode(_hist(vals))))
        # --- block I/O latency
        for dev in ("vda", "vdb"):
            row = {"device": dev, "interval_ns": NS}
            for op, (lo, hi) in (("read", (50, 400)), ("write", (200, 5000))):
                vals = [rnd.randint(lo, hi) for _ in range(20)]
                _record(sc, ("io", dev, op), ts, vals)
                sm = histogram.summary(histogram.decode(_hist(vals)), (50, 95, 99))
                row.update({f"{op}_count": len(vals), f"{op}_bytes": 4096 * len(vals),
                            f"{op}_p50_us": sm["p50_us"], f"{op}_p95_us": sm["p95_us"],
                            f"{op}_p99_us": sm["p99_us"], f"{op}_max_us": sm["max_us"],
                            f"{op}_buckets": _hist(vals)})
            sc.add("io_latency", ts, host, **row)
        # --- run-queue latency, whole machine
        vals = [rnd.randint(2, 60) if rnd.random() < 0.95 else rnd.randint(1000, 8000) for _ in range(100)]
        _record(sc, ("runq",), ts, vals)
        sc.add("runqlat", ts, host, interval_ns=NS, cpu=-1, sum_us=sum(vals), buckets=_hist(vals),
               **histogram.summary(histogram.decode(_hist(vals))))
        # ... and the same waits per process (ks-sched --hist-per process): the busiest, the rest
        for pid, comm, part in ((100, "postgres", vals[:60]), (-1, None, vals[60:])):
            sc.add("runqlat_task", ts, host, interval_ns=NS, pid=pid, comm=comm, sum_us=sum(part),
                   buckets=_hist(part), **histogram.summary(histogram.decode(_hist(part))))
        # --- page faults of two processes
        for pid, comm, n in ((100, "postgres", 40), (200, "java", 10)):
            vals = [rnd.randint(1, 30) for _ in range(n)]
            _record(sc, ("pf", pid), ts, vals)
            sc.add("page_fault_stats", ts, host, interval_ns=NS, pid=pid, comm=comm, minor_count=n,
                   major_count=1 if pid == 100 and s % 10 == 0 else 0, latency_sum_ns=sum(vals) * 1000,
                   buckets=_hist(vals), **histogram.summary(histogram.decode(_hist(vals))))
        # --- slow syscalls: pid 300 "slowpoke" 20-60 ms reads only while memory is short,
        #     pid 301 "db" 10-15 ms fsyncs all along
        if slow:
            sc.add("syscall", ts + 1000, host, pid=300, tid=300, comm="slowpoke", syscall_name="read",
                   syscall_nr=0, latency_ns=(20 + s % 41) * 1_000_000, ret_value=0, is_error=0)
        sc.add("syscall", ts + 2000, host, pid=301, tid=301, comm="db", syscall_name="fsync",
               syscall_nr=74, latency_ns=(10 + s % 6) * 1_000_000, ret_value=0, is_error=0)
        sc.add("syscall_stats", ts, host, interval_ns=NS, syscall_name="read", syscall_nr=0,
               count=1000, errors=2, total_ns=5_000_000, max_ns=60_000_000)
        sc.add("syscall_stats", ts, host, interval_ns=NS, syscall_name="futex", syscall_nr=202,
               count=300, errors=0, total_ns=90_000_000, max_ns=50_000_000)
        # --- long run-queue waits: "batch" (pid 400) waits 15-24 ms every 10 s
        if s % 10 == 0:
            sc.add("sched", ts + 3000, host, pid=400, tid=400, cpu=0, latency_ns=(15 + s % 10) * 1_000_000,
                   prev_state="R", next_pid=400, comm="batch")
        # --- cumulative counters, reset half-way (a reboot): rates stay steady
        if s == reset_at:
            rx = tx = reads = writes = retrans = out_segs = 0
        rx += 125_000
        tx += 25_000
        reads += 10
        writes += 30
        retrans += 2
        out_segs += 1000
        sc.add("network", ts, host, interface_name="eth0", rx_bytes=rx, tx_bytes=tx,
               rx_packets=rx // 1000, tx_packets=tx // 1000, rx_errors=0, tx_errors=0, rx_drops=0, tx_drops=0)
        sc.add("block", ts, host, device_name="vda", read_ios=reads, write_ios=writes,
               read_sectors=reads * 8, write_sectors=writes * 16, read_ticks=reads * 2,
               write_ticks=writes * 3, in_flight=1, io_ticks=reads * 20, time_in_queue=0,
               read_merges=0, write_merges=0)
        sc.add("tcp_retrans", ts, host, retrans_segs=retrans, out_segs=out_segs, in_errs=0,
               timeouts=0, lost_retransmit=0, fast_retrans=0, slow_start_retrans=0, syn_retrans=0,
               listen_overflows=0, listen_drops=0)
        # --- gauges: memory gets short while alpha is slow
        avail = 2_000_000 if slow else 6_000_000
        sc.add("memory", ts, host, mem_total_kb=8_000_000, mem_free_kb=avail // 2, mem_available_kb=avail,
               buffers_kb=1000, cached_kb=100_000, swap_total_kb=1_000_000, swap_free_kb=900_000,
               active_kb=1, inactive_kb=1, dirty_kb=10 + s, writeback_kb=0)
        sc.add("load", ts, host, load_1min=1.0 + (s % 4), load_5min=1.5, load_15min=1.2,
               running_processes=2, total_processes=150, last_pid=1000 + s)
        busy = 80.0 if slow else 20.0
        sc.add("cpu", ts, host, cpu=-1, user_pct=busy * 0.75, nice_pct=0.0, system_pct=busy * 0.25,
               iowait_pct=0.0, irq_pct=0.0, softirq_pct=0.0, steal_pct=0.0, idle_pct=100 - busy)
        sc.add("tcp", ts, host, established=10 + s % 5, syn_sent=0, syn_recv=0, fin_wait1=0, fin_wait2=0,
               time_wait=3, close=0, close_wait=1, last_ack=0, listen=4, closing=0)
        sc.add("pressure", ts, host, resource="memory", some_avg10=5.0 if slow else 0.0, some_avg60=0.0,
               some_avg300=0.0, some_total_us=s * 1000, full_avg10=0.0, full_avg60=0.0,
               full_avg300=0.0, full_total_us=0)
        sc.add("perf", ts, host, interval_ns=NS, counter="context-switches", cpu=-1, scope="system",
               value=5000.0, enabled_ns=NS, running_ns=NS)
        # --- ks-syscalls' own account: its ring buffer overflows while alpha is slow
        sc.add("collector_stats", ts, host, interval_ns=NS, collector="ks-syscalls", pid=50,
               events=3 if slow else 2, lost_ringbuf=5 if slow else 0, lost_map_full=0,
               lost_recursion=0, cpu_user_ns=2_000_000, cpu_system_ns=1_000_000,
               bpf_run_ns=None, bpf_runs=None)
    return sc


# ---- writing a database ------------------------------------------------------------------
def row_of(event: dict) -> tuple[str, tuple[str, ...], tuple]:
    """(table, columns, values) of an event, histogram lists stored as JSON text."""
    t = ev.lookup(event["type"])
    cols = tuple(c.name for c in ev.columns_of(t) if c.name in event)
    vals = tuple(histogram.encode(histogram.decode(event[c])) if t_unit(t, c) == "hist_us" else event[c]
                 for c in cols)
    return t.table, cols, vals


def t_unit(t: ev.EventType, name: str) -> str:
    return "" if name in ("timestamp", "host") else t.column(name).unit


def insert_direct(db_path, events) -> None:
    """Write events with plain INSERTs into the registry's schema (no ks-ingest)."""
    conn = schema.connect(str(db_path))
    schema.apply(conn)
    conn.execute("BEGIN")
    for e in events:
        table, cols, vals = row_of(e)
        conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", vals)
    conn.execute("COMMIT")
    conn.close()


def ingest_command() -> str | None:
    """ks-ingest next to this Python, when it is installed and works."""
    import sys

    path = os.path.join(os.path.dirname(sys.executable), "ks-ingest")
    return path if os.path.exists(path) else shutil.which("ks-ingest")


def write_events(db_path, events, via: str = "auto") -> str:
    """Fill a database from events: through ks-ingest (the real pipeline) when it
    works, else by direct INSERTs.  Returns which was used."""
    import orjson

    data = b"".join(orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE) for e in events)
    cmd = ingest_command() if via in ("auto", "ks-ingest") else None
    if cmd:
        p = subprocess.run([cmd, "--db-path", str(db_path)], input=data, capture_output=True, timeout=120)
        if p.returncode == 0:
            return "ks-ingest"
        if via == "ks-ingest":
            raise RuntimeError(f"ks-ingest failed: {p.stderr.decode()[-500:]}")
        for suffix in ("", "-wal", "-shm"):  # start over rather than insert twice
            if os.path.exists(f"{db_path}{suffix}"):
                os.unlink(f"{db_path}{suffix}")
    insert_direct(db_path, events)
    return "direct"


def count_rows(db_path, table: str) -> int:
    conn = sqlite3.connect(str(db_path))
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()
