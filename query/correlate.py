"""Correlation helpers, linear in the rows they read.

The original pipeline (docs/design.md) joins every slow syscall to every memory sample within a
second (a quadratic join).  Here both streams are read once, in time order, and
merged: each syscall meets the memory sample nearest to it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict

from . import times
from .common import NS, columns, convert, hist_fields, interval_rows, per_step, r3, step_of, stepped, windowed
from .db import where

RTT_COLUMNS = columns("rtt_stats", "host", "buckets", "retrans_count", "drop_count")
RUNQLAT_COLUMNS = columns("runqlat_stats", "host", "buckets")


@windowed
def correlate_syscalls_with_memory(db, start, end, min_latency_ms=None, limit=20, *, host=None,
                                   tolerance_s=1.0):
    """Per (comm, syscall): slow calls, their mean latency, and the memory state at
    those moments (nearest /proc/meminfo sample within ``tolerance_s``) against the
    window's mean, so "slow when memory was short" shows as a negative difference."""
    if not (db.has("syscall_events") and db.has("memory_metrics")):
        return []
    cond, params = where(start - int(tolerance_s * NS), end + int(tolerance_s * NS), host)
    mem: dict = defaultdict(lambda: ([], []))
    for r in db.rows(f"""SELECT host, timestamp, mem_available_kb,
                                (mem_total_kb - mem_available_kb) * 100.0 / NULLIF(mem_total_kb, 0) AS used
                         FROM memory_metrics WHERE {cond} ORDER BY timestamp""", params):
        ts, vals = mem[r["host"]]
        ts.append(r["timestamp"])
        vals.append((r["mem_available_kb"], r["used"]))
    extra = "latency_ns >= ?" if min_latency_ms is not None else ""
    cond, params = where(start, end, host, extra)
    if min_latency_ms is not None:
        params.append(int(convert(min_latency_ms, "ms", "ns")))
    groups: dict = {}
    tol = int(tolerance_s * NS)
    cur = db.conn.cursor()
    cur.row_factory = None  # plain tuples: this loop touches every slow call
    cur.execute(f"""SELECT host, timestamp, comm, syscall_name, latency_ns FROM syscall_events
                    WHERE {cond} ORDER BY timestamp""", params)
    no_samples = ([], [])
    for h, ts, comm, name, latency in cur:
        g = groups.get((h, comm, name))
        if g is None:
            g = groups[(h, comm, name)] = [0, 0, 0, 0.0, 0.0, ts]   # ts: the first call's
        g[0] += 1
        g[1] += latency
        near = _nearest(*mem.get(h, no_samples), ts, tol)
        if near is not None and near[0] is not None:
            g[2] += 1
            g[3] += near[0]
            g[4] += near[1] or 0.0
    baseline = {h: _mean([v[0] for v in vals if v[0] is not None]) for h, (_, vals) in mem.items()}
    out = []
    for (h, comm, name), (n, lat, matched, avail, used, first) in groups.items():
        avail_mean = avail / matched if matched else None
        base = baseline.get(h)
        out.append({
            "host": h, "comm": comm, "syscall_name": name, "slow_calls": n,
            "avg_latency_ms": r3(convert(lat / n, "ns", "ms")),
            "avg_mem_available_kb": r3(avail_mean), "avg_used_pct": r3(used / matched) if matched else None,
            "window_mem_available_kb": r3(base),
            "available_vs_window_kb": r3(avail_mean - base) if avail_mean is not None and base else None,
            "matched": matched,
            **times.stamp(first),  # whole window: its data's first timestamp
        })
    out.sort(key=lambda r: -r["avg_latency_ms"])
    return out[:limit] if limit else out


def _nearest(ts: list, vals: list, t: int, tol: int):
    """The value whose time is nearest to t, if within tol (binary search: the stream
    is sorted, so this is the merge step without a scan)."""
    i = bisect_left(ts, t)
    before = t - ts[i - 1] if i > 0 else None
    after = ts[i] - t if i < len(ts) else None
    if after is not None and (before is None or after < before):
        return vals[i] if after <= tol else None
    return vals[i - 1] if before is not None and before <= tol else None


def _mean(xs):
    return sum(xs) / len(xs) if xs else None


@windowed
def correlate_rtt_with_cpu(db, start, end, step=None, *, host=None, limit=None):
    """Per time step, side by side: TCP RTT p99 (all nodes merged), retransmits,
    CPU busy % and run-queue latency p99 — does the network get slow when the
    CPUs are busy or tasks wait to run?"""
    step_s = step_of(start, end, step)
    table: dict = defaultdict(dict)

    def put(t0, h, **kv):
        table[(t0, h)].update(kv)

    if db.has("rtt_stats"):
        rows = interval_rows(db, "rtt_stats", RTT_COLUMNS, start, end, host, step_s=step_s)
        for (t0, h), rs in per_step(rows, start, step_s):
            f = hist_fields((r["buckets"] for r in rs), unit="ms", quantiles=(50, 99))
            put(t0, h, rtt_samples=f["samples"], rtt_p50_ms=f["p50_ms"], rtt_p99_ms=f["p99_ms"],
                retransmits=sum(r["retrans_count"] or 0 for r in rs),
                drops=sum(r["drop_count"] or 0 for r in rs))
    if db.has("cpu_metrics"):
        for r in stepped(db, "cpu_metrics", "avg(100 - idle_pct) AS busy, max(100 - idle_pct) AS peak",
                         start, end, step_s * NS, host, "cpu = -1"):
            put(r["t0"], r["host"], cpu_busy_pct=r3(r["busy"]), cpu_busy_peak_pct=r3(r["peak"]))
    if db.has("runqlat_stats"):
        rows = interval_rows(db, "runqlat_stats", RUNQLAT_COLUMNS, start, end, host, "cpu = -1",
                             step_s=step_s)
        for (t0, h), rs in per_step(rows, start, step_s):
            f = hist_fields((r["buckets"] for r in rs), quantiles=(99,))
            put(t0, h, runq_p99_us=f["p99_us"])
    cols = ("rtt_samples", "rtt_p50_ms", "rtt_p99_ms", "retransmits", "drops",
            "cpu_busy_pct", "cpu_busy_peak_pct", "runq_p99_us")
    out = [{**times.stamp(t0), "host": h, **{c: kv.get(c) for c in cols}}
           for (t0, h), kv in sorted(table.items(), key=lambda kv: (kv[0][0], str(kv[0][1])))]
    return out[-limit:] if limit else out


def pearson(xs, ys) -> float | None:
    """Correlation coefficient of the pairs where both are known (None if too few)."""
    pairs = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
    if len(pairs) < 5:
        return None
    n = len(pairs)
    mx = sum(p[0] for p in pairs) / n
    my = sum(p[1] for p in pairs) / n
    sxy = sum((x - mx) * (y - my) for x, y in pairs)
    sxx = sum((x - mx) ** 2 for x, _ in pairs)
    syy = sum((y - my) ** 2 for _, y in pairs)
    if sxx == 0 or syy == 0:
        return None
    return round(sxy / (sxx * syy) ** 0.5, 3)
