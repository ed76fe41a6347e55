"""Fleet questions: one line per host (ks-query hosts), on either backend.

Which host is the odd one out: its newest row (is it still reporting?), and over the
window its p99 TCP RTT, p99 block I/O latency, run-queue p99, slow syscalls per
second and memory used %.  Percentiles come from the merged histograms, as in every
other query.
"""

from __future__ import annotations

from collections import defaultdict

from ..ingest import events as ev
from . import times
from .common import NS, columns, hist_fields, interval_rows, r3, windowed
from .db import where
from .overview import rows_per_host

RTT = columns("rtt_stats", "host", "buckets")
IO = columns("io_latency_stats", "host", "read_buckets", "write_buckets")
RUNQ = columns("runqlat_stats", "host", "buckets")
# the columns a caller may --sort by, each worst first (newest: most recent first)
SORTABLE = ("host", "newest", "rtt_p99_us", "io_p99_us", "runq_p99_us", "slow_syscalls_per_s",
            "memory_used_pct")


def _p99(db, table: str, cols, start: int, end: int, host, extra: str = "") -> dict:
    """Per host: the p99 (us) of every histogram column of ``cols`` merged."""
    if not db.has(table):
        return {}
    hists = defaultdict(list)
    for r in interval_rows(db, table, cols, start, end, host, extra):
        hists[r["host"]] += [r[c] for c in cols if c != "host"]
    return {h: hist_fields(v, quantiles=(99,))["p99_us"] for h, v in hists.items()}


def _slow_syscalls(db, start: int, end: int, host) -> dict:
    if not db.has("syscall_events"):
        return {}
    cond, params = where(start, end, host)
    rows = db.rows(f"SELECT host, count(*) AS n FROM syscall_events WHERE {cond} GROUP BY host", params)
    return {r["host"]: r3(r["n"] / ((end - start) / NS)) for r in rows}


def _memory_used(db, start: int, end: int, host) -> dict:
    """Per host: used % of its newest memory sample in the window."""
    if not db.has("memory_metrics"):
        return {}
    cond, params = where(start, end, host)
    rows = db.rows(f"""SELECT host, (mem_total_kb - mem_available_kb) * 100.0 / NULLIF(mem_total_kb, 0) AS used
                       FROM memory_metrics m WHERE {cond} AND timestamp = (SELECT max(timestamp)
                       FROM memory_metrics WHERE host IS m.host AND {cond})""", params + params)
    return {r["host"]: r3(r["used"]) for r in rows}


def _newest(db, start: int, end: int, host) -> dict:
    newest: dict = {}
    for t in ev.TYPES:
        if db.has(t.table):
            for r in rows_per_host(db, t, start, end, host):
                newest[r["host"]] = max(newest.get(r["host"], r["last"]), r["last"])
    return newest


@windowed
def query_hosts(db, start, end, *, host=None, sort="host", limit=None):
    """One row per host that reported in the window."""
    if sort not in SORTABLE:
        raise ValueError(f"cannot sort by {sort!r}: use one of {', '.join(SORTABLE)}")
    newest = _newest(db, start, end, host)
    rtt, io = _p99(db, "rtt_stats", RTT, start, end, host), _p99(db, "io_latency_stats", IO, start, end, host)
    runq = _p99(db, "runqlat_stats", RUNQ, start, end, host, "cpu = -1")
    slow, mem = _slow_syscalls(db, start, end, host), _memory_used(db, start, end, host)
    out = [{"host": h, "newest": newest[h], "rtt_p99_us": rtt.get(h), "io_p99_us": io.get(h),
            "runq_p99_us": runq.get(h), "slow_syscalls_per_s": slow.get(h, 0.0),
            "memory_used_pct": mem.get(h)} for h in sorted(newest, key=str)]
    if sort != "host":
        # worst (largest, newest) first; hosts without the value last
        out.sort(key=lambda r: (r[sort] is None, -(r[sort] or 0)))
    for r in out:
        r["timestamp_ns"], r["newest"] = r["newest"], times.iso(r["newest"])
    return out[:limit] if limit else out
