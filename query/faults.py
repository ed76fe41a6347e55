"""Page faults per process (page_fault_stats), latency merged from the stored buckets."""

from __future__ import annotations

from collections import defaultdict

from . import times
from .common import convert, covered_seconds, hist_fields, interval_rows, r3, rollup_columns, windowed

PAGE_FAULT_COLUMNS = rollup_columns("page_fault_stats")


@windowed
def query_page_faults(db, start, end, limit=10, *, host=None, pid=None):
    """Processes with the most page faults: minor and major per second, latency
    percentiles of their faults, busiest first (major faults weigh most)."""
    if not db.has("page_fault_stats"):
        return []
    rows = interval_rows(db, "page_fault_stats", PAGE_FAULT_COLUMNS, start, end, host,
                         "pid = ?" if pid is not None else "", [int(pid)] if pid is not None else [])
    seconds = covered_seconds(rows[0]["first_ts"], rows[-1]["last_ts"], rows[-1]["interval_ns"]) if rows else 1
    groups: dict = defaultdict(list)
    for r in rows:
        groups[(r["host"], r["pid"])].append(r)
    # Rank on the counts, then merge histograms only for the processes shown.
    ranked = sorted(((sum(r["major_count"] or 0 for r in rs), sum(r["minor_count"] or 0 for r in rs), key)
                     for key, rs in groups.items()), key=lambda x: (-x[0], -x[1]))
    out = []
    for major, minor, (h, p) in ranked[:limit] if limit else ranked:
        rs = groups[(h, p)]
        f = hist_fields(r["buckets"] for r in rs)
        f.pop("samples")
        out.append({
            "host": h, "pid": p, "comm": rs[-1]["comm"], "minor": minor, "major": major,
            "minor_per_s": r3(minor / seconds), "major_per_s": r3(major / seconds), **f,
            "latency_total_ms": r3(convert(sum(r["latency_sum_ns"] or 0 for r in rs), "ns", "ms")),
            **times.stamp(rs[0]["first_ts"]),  # whole window: its data's first timestamp
        })
    return out
