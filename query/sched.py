"""CPU side: run-queue latency, long run-queue waits, CPU utilisation, load."""

from __future__ import annotations

from collections import defaultdict

from . import times
from .common import NS, hist_fields, interval_rows, r3, step_of, windowed
from .db import where


@windowed
def query_runqueue_latency(db, start, end, step=None, *, host=None, per_cpu=False, limit=None):
    """Run-queue latency percentiles merged from the stored buckets: whole machine by
    default, one row per CPU with ``per_cpu``; one row per step when ``step`` is given."""
    if not db.has("runqlat_stats"):
        return []
    step_s = None if step is None else step_of(start, end, step)
    rows = interval_rows(db, "runqlat_stats", ("host", "cpu", "buckets", "sum_us"), start, end, host,
                         "cpu >= 0" if per_cpu else "cpu = -1", step_s=step_s)
    groups: dict = defaultdict(list)
    for r in rows:
        t0 = start if step_s is None else r["last_ts"] - r["last_ts"] % (step_s * NS)
        groups[(t0, r["host"], r["cpu"])].append(r)
    out = []
    for (t0, h, cpu), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1]), kv[0][2])):
        f = hist_fields(r["buckets"] for r in rs)
        waits = f.pop("samples")
        total_us = sum(r["sum_us"] or 0 for r in rs)
        out.append({
            "time": times.local(t0, ms=False), "host": h, "cpu": "all" if cpu == -1 else cpu,
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
                   sum(latency_ns) AS total
            FROM sched_events WHERE {cond} GROUP BY host, pid ORDER BY total DESC LIMIT ?""",
        params + [limit],
    )
    return [{"host": r["host"], "pid": r["pid"], "comm": r["comm"], "long_waits": r["n"],
             "total_wait_ms": r3(r["total"] / 1e6), "max_wait_ms": r3(r["worst"] / 1e6)} for r in rows]


_MODES = ("user", "nice", "system", "iowait", "irq", "softirq", "steal", "idle")


@windowed
def query_cpu_usage(db, start, end, step=None, *, host=None, limit=None):
    """Whole-machine CPU utilisation per step (mean of each mode, peak busy %)."""
    if not db.has("cpu_metrics"):
        return []
    step_ns = step_of(start, end, step) * NS
    cond, params = where(start, end, host, "cpu = -1")
    cols = ", ".join(f"avg({m}_pct) AS {m}" for m in _MODES)
    rows = db.rows(
        f"""SELECT timestamp - timestamp % ? AS t0, host, {cols}, max(100 - idle_pct) AS peak,
                   count(*) AS n
            FROM cpu_metrics WHERE {cond} GROUP BY t0, host ORDER BY t0, host""",
        [step_ns] + params,
    )
    out = [{"time": times.local(r["t0"], ms=False), "host": r["host"],
            "busy_pct": r3(100 - r["idle"]) if r["idle"] is not None else None,
            "busy_peak_pct": r3(r["peak"]),
            **{f"{m}_pct": r3(r[m]) for m in _MODES if m != "idle"}, "samples": r["n"]} for r in rows]
    return out[-limit:] if limit else out


@windowed
def query_load(db, start, end, step=None, *, host=None, limit=None):
    """Load averages per step (mean and peak of the 1-minute load)."""
    if not db.has("load_metrics"):
        return []
    step_ns = step_of(start, end, step) * NS
    cond, params = where(start, end, host)
    rows = db.rows(
        f"""SELECT timestamp - timestamp % ? AS t0, host, avg(load_1min) AS l1, max(load_1min) AS l1max,
                   avg(load_5min) AS l5, avg(load_15min) AS l15, max(running_processes) AS run,
                   max(total_processes) AS procs
            FROM load_metrics WHERE {cond} GROUP BY t0, host ORDER BY t0, host""",
        [step_ns] + params,
    )
    out = [{"time": times.local(r["t0"], ms=False), "host": r["host"], "load_1min": r3(r["l1"]),
            "load_1min_peak": r3(r["l1max"]), "load_5min": r3(r["l5"]), "load_15min": r3(r["l15"]),
            "running_max": r["run"], "processes_max": r["procs"]} for r in rows]
    return out[-limit:] if limit else out
