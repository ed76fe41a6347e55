"""perf counters (ks-perf): per counter and scope over the window."""

from __future__ import annotations

from . import times
from .common import NS, r3, windowed
from .db import where


@windowed
def query_perf_counters(db, start, end, *, host=None, counter=None, limit=None):
    """Per counter and scope (all CPUs only): total over the window and per second,
    and the mean, min and max of the interval values (the numbers to read for a
    derived ratio such as ipc, whose total means nothing)."""
    if not db.has("perf_counters"):
        return []
    cond, params = where(start, end, host, "(cpu = -1 OR cpu IS NULL)" + (" AND counter = ?" if counter else ""))
    rows = db.rows(
        f"""SELECT host, counter, scope, sum(value) AS total, avg(value) AS mean,
                   min(value) AS lo, max(value) AS hi, count(*) AS n,
                   sum(interval_ns) AS covered, min(timestamp) AS first, max(timestamp) AS last
            FROM perf_counters WHERE {cond}
            GROUP BY host, counter, scope ORDER BY counter, scope""",
        params + ([counter] if counter else []),
    )
    out = []
    for r in rows:
        # Each value counts its own interval, so the rate divides by the time covered.
        covered = (r["covered"] or 0) / NS or (r["last"] - r["first"]) / NS
        out.append({
            "host": r["host"], "counter": r["counter"], "scope": r["scope"] or "system",
            "total": r3(r["total"]), "per_s": r3(r["total"] / covered) if covered else None,
            "mean": r3(r["mean"]), "min": r3(r["lo"]), "max": r3(r["hi"]), "samples": r["n"],
            **times.stamp(r["first"]),  # whole window: its data's first timestamp
        })
    return out[:limit] if limit else out
