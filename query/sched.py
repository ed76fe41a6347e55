"""CPU side: run-queue latency, long run-queue waits, CPU utilisation, load."""

from __future__ import annotations

from . import times
from .common import (NS, convert, grouping, hist_fields, interval_rows, per_step, r3, rollup_columns, step_of,
                     stepped, unit_columns, windowed)
from .db import where

RUNQLAT_COLUMNS = rollup_columns("runqlat_stats")


@windowed
def query_runqueue_latency(db, start, end, step=None, *, host=None, per_cpu=False, limit=None):
    """Run-queue latency percentiles merged from the stored buckets: whole machine by
    default, one row per CPU with ``per_cpu``; one row per step when ``step`` is given."""
    if not db.has("runqlat_stats"):
        return []
    step_s = None if step is None else step_of(start, end, step)
    rows = interval_rows(db, "runqlat_stats", RUNQLAT_COLUMNS, start, end, host,
                         "cpu >= 0" if per_cpu else "cpu = -1", step_s=step_s)
    out = []
    for (t0, h, cpu), rs in per_step(rows, start, step_s, "cpu"):
        f = hist_fields(r["buckets"] for r in rs)
        waits = f.pop("samples")
        total_us = sum(r["sum_us"] or 0 for r in rs)
        out.append({
            **times.stamp(rs[0]["first_ts"] if step_s is None else t0), "host": h,
            "cpu": "all" if cpu == -1 else cpu,
            "waits": waits, **f,
            "mean_us": r3(total_us / waits) if waits and total_us else None,
        })
    return out[-limit:] if limit else out


@windowed
def query_long_runqueue_waits(db, start, end, limit=10, *, host=None):
    """Processes that waited longest for a CPU (sched_events: waits over the threshold)."""
    if not db.has("sched_events"):
        return []
    cond, params = where(start, end, host)
    rows = db.rows(
        f"""SELECT host, pid, max(comm) AS comm, count(*) AS n, max(latency_ns) AS worst,
                   sum(latency_ns) AS total, min(timestamp) AS first
            FROM sched_events WHERE {cond} GROUP BY host, pid ORDER BY total DESC LIMIT ?""",
        params + [limit],
    )
    return [{"host": r["host"], "pid": r["pid"], "comm": r["comm"], "long_waits": r["n"],
             "total_wait_ms": r3(convert(r["total"], "ns", "ms")),
             "max_wait_ms": r3(convert(r["worst"], "ns", "ms")), **times.stamp(r["first"])} for r in rows]


@windowed
def query_runqueue_wait_by_process(db, start, end, limit=10, *, host=None, by="process"):
    """Processes (or, by="cgroup", cgroups) by total time runnable but waiting for a CPU
    (sched_stats, from ks-sched --per-process: every wait, not only those over the
    threshold)."""
    if not db.has("sched_stats"):
        return []
    keys, group, names = grouping(db, "sched_stats", by)
    cond, params = where(start, end, host)
    rows = db.rows(
        f"""SELECT host, {keys}, sum(runq_wait_ns) AS wait, sum(runq_waits) AS waits,
                   sum(cpu_time_ms) AS cpu_ms, sum(involuntary_switches) AS preempted,
                   min(timestamp) AS first
            FROM sched_stats WHERE {cond} GROUP BY {group}
            HAVING sum(runq_wait_ns) > 0 ORDER BY wait DESC, {names[0]} LIMIT ?""",
        params + [limit],
    )
    return [{"host": r["host"], **{k: r[k] for k in names},
             "runq_wait_ms": r3(convert(r["wait"], "ns", "ms")), "runq_waits": r["waits"],
             "mean_wait_us": r3(convert(r["wait"] / r["waits"], "ns", "us")) if r["waits"] else None,
             "cpu_time_ms": r3(r["cpu_ms"]), "preempted": r["preempted"], **times.stamp(r["first"])} for r in rows]


# The modes of /proc/stat, as cpu_metrics has them: user_pct -> user.
_MODES = tuple(c.removesuffix("_pct") for c in unit_columns("cpu_metrics", "pct"))


@windowed
def query_cpu_usage(db, start, end, step=None, *, host=None, limit=None):
    """Whole-machine CPU utilisation per step (mean of each mode, peak busy %)."""
    if not db.has("cpu_metrics"):
        return []
    modes = ", ".join(f"avg({m}_pct) AS {m}" for m in _MODES)
    rows = stepped(db, "cpu_metrics", f"{modes}, max(100 - idle_pct) AS peak", start, end,
                   step_of(start, end, step) * NS, host, "cpu = -1")
    out = [{**times.stamp(r["t0"]), "host": r["host"],
            "busy_pct": r3(100 - r["idle"]) if r["idle"] is not None else None,
            "busy_peak_pct": r3(r["peak"]),
            **{f"{m}_pct": r3(r[m]) for m in _MODES if m != "idle"}, "samples": r["n"]} for r in rows]
    return out[-limit:] if limit else out


@windowed
def query_load(db, start, end, step=None, *, host=None, limit=None):
    """Load averages per step (mean and peak of the 1-minute load)."""
    if not db.has("load_metrics"):
        return []
    rows = stepped(db, "load_metrics", """avg(load_1min) AS l1, max(load_1min) AS l1max,
                   avg(load_5min) AS l5, avg(load_15min) AS l15, max(running_processes) AS run,
                   max(total_processes) AS procs""", start, end, step_of(start, end, step) * NS, host)
    out = [{**times.stamp(r["t0"]), "host": r["host"], "load_1min": r3(r["l1"]),
            "load_1min_peak": r3(r["l1max"]), "load_5min": r3(r["l5"]), "load_15min": r3(r["l15"]),
            "running_max": r["run"], "processes_max": r["procs"]} for r in rows]
    return out[-limit:] if limit else out
