"""Slow system calls (syscall_events) and every call counted (syscall_stats)."""

from __future__ import annotations

from . import times
from .common import NS, convert, covered_seconds, grouping, r3, rollup_columns, same_columns, window_source, windowed
from .db import where

STATS_COLUMNS = (*rollup_columns("syscall_stats"), "interval_ns")


@windowed
def query_syscalls_by_timerange(db, start, end, min_latency_ms=None, limit=100, *, host=None,
                                syscall=None, pid=None):
    """The slowest system calls of the window, slowest first."""
    if not db.has("syscall_events"):
        return []
    extra, params = [], []
    if min_latency_ms is not None:
        extra.append("latency_ns >= ?")
        params.append(int(convert(min_latency_ms, "ms", "ns")))
    if syscall:
        extra.append("syscall_name = ?")
        params.append(syscall)
    if pid is not None:
        extra.append("pid = ?")
        params.append(int(pid))
    cond, wparams = where(start, end, host, " AND ".join(extra))
    rows = db.rows(
        f"""SELECT timestamp, host, pid, tid, comm, syscall_name, latency_ns, ret_value, is_error
            FROM syscall_events WHERE {cond} ORDER BY latency_ns DESC LIMIT ?""",
        wparams + params + [limit],
    )
    return [
        {
            **times.stamp(r["timestamp"], ms=True), "host": r["host"], "pid": r["pid"],
            "tid": r["tid"], "comm": r["comm"], "syscall_name": r["syscall_name"],
            "latency_ms": r3(convert(r["latency_ns"], "ns", "ms")), "ret_value": r["ret_value"],
            "is_error": bool(r["is_error"]) if r["is_error"] is not None else None,
        }
        for r in rows
    ]


@windowed
def query_top_processes_by_syscall_latency(db, start, end, limit=10, *, host=None, by="process"):
    """Processes (or, by="cgroup", cgroups) ranked by the time they spent blocked in
    slow system calls."""
    if not db.has("syscall_events"):
        return []
    keys, group, names = grouping(db, "syscall_events", by)
    cond, params = where(start, end, host)
    rows = db.rows(
        f"""SELECT host, {keys}, count(*) AS n, sum(latency_ns) AS total,
                   max(latency_ns) AS worst, min(timestamp) AS first
            FROM syscall_events WHERE {cond}
            GROUP BY {group} ORDER BY total DESC LIMIT ?""",
        params + [limit],
    )
    top = (_top_syscall_per_process(db, cond, params, [(r["host"], r["pid"]) for r in rows])
           if by == "process" else {})
    return [
        {
            "host": r["host"], **{k: r[k] for k in names}, "slow_calls": r["n"],
            "total_latency_ms": r3(convert(r["total"], "ns", "ms")),
            "avg_latency_ms": r3(convert(r["total"] / r["n"], "ns", "ms")),
            "max_latency_ms": r3(convert(r["worst"], "ns", "ms")),
            **({"top_syscall": top.get((r["host"], r["pid"]))} if by == "process" else {}),
            **times.stamp(r["first"]),  # whole window: its data's first timestamp
        }
        for r in rows
    ]


def _top_syscall_per_process(db, cond, params, keys) -> dict:
    """The syscall each of these processes lost the most time in."""
    if not keys:
        return {}
    pids = sorted({pid for _, pid in keys})
    marks = ",".join("?" * len(pids))
    rows = db.rows(
        f"""SELECT host, pid, syscall_name, sum(latency_ns) AS total FROM syscall_events
            WHERE {cond} AND pid IN ({marks}) GROUP BY host, pid, syscall_name""",
        params + pids,
    )
    best: dict = {}
    for r in rows:
        k = (r["host"], r["pid"])
        if k not in best or r["total"] > best[k][1]:
            best[k] = (r["syscall_name"], r["total"])
    return {k: v[0] for k, v in best.items()}


@windowed
def query_syscall_stats(db, start, end, limit=20, *, host=None):
    """Every call counted (ks-syscalls --stats): busiest system calls by total time."""
    if not db.has("syscall_stats"):
        return []
    src, params = window_source(db, "syscall_stats", same_columns(STATS_COLUMNS), start, end, host)
    rows = db.rows(
        f"""SELECT host, syscall_name, sum(count) AS calls, sum(errors) AS errors,
                   sum(total_ns) AS total, max(max_ns) AS worst, min(first_ts) AS first
            FROM ({src}) GROUP BY host, syscall_name ORDER BY total DESC LIMIT ?""",
        params + [limit],
    )
    span = db.one(f"SELECT min(first_ts), max(last_ts), max(interval_ns) FROM ({src})", params)
    seconds = covered_seconds(*span) if span[0] is not None else (end - start) / NS
    return [
        {
            "host": r["host"], "syscall_name": r["syscall_name"],
            "total_ms": r3(convert(r["total"] or 0, "ns", "ms")),   # the ranking: first
            "calls": r["calls"], "calls_per_s": r3((r["calls"] or 0) / seconds), "errors": r["errors"],
            "avg_us": r3(convert((r["total"] or 0) / r["calls"], "ns", "us")) if r["calls"] else None,
            "max_ms": r3(convert(r["worst"], "ns", "ms")),
            **times.stamp(r["first"]),  # whole window: its data's first timestamp
        }
        for r in rows
    ]
