"""Block I/O: latency distributions (io_latency_stats) and /proc/diskstats rates (block_stats)."""

from __future__ import annotations

from ..ingest import events as ev
from . import times
from .common import (NS, convert, counter_increases, covered_seconds, hist_fields, interval_rows, per_step,
                     r3, rollup_columns, same_columns, step_of, window_source, windowed)

IO_COLUMNS = rollup_columns("io_latency_stats")
_BLOCK = ev.BY_TABLE["block_stats"].rollup


@windowed
def query_io_latency_percentiles(db, start, end, step=None, *, host=None, device=None, limit=None):
    """Read and write latency percentiles per device, merged from the stored buckets.

    ``step=None`` gives one row per device for the whole window; ``step`` (seconds
    or "1m") one row per device and step.
    """
    if not db.has("io_latency_stats"):
        return []
    step_s = None if step is None else step_of(start, end, step)
    rows = interval_rows(db, "io_latency_stats", IO_COLUMNS, start, end, host,
                         "device = ?" if device else "", [device] if device else [], step_s)
    out = []
    for (t0, h, dev), rs in per_step(rows, start, step_s, "device"):
        # Rates over the time the rows describe, not over a window the collector missed.
        seconds = covered_seconds(rs[0]["first_ts"], rs[-1]["last_ts"], rs[-1]["interval_ns"])
        # a whole-window row is stamped with its data's first timestamp
        row = {**times.stamp(rs[0]["first_ts"] if step_s is None else t0), "host": h, "device": dev}
        for op in ("read", "write"):
            ops = sum(r[f"{op}_count"] or 0 for r in rs)
            row[f"{op}_ops"] = ops
            row[f"{op}_bytes_per_s"] = r3(sum(r[f"{op}_bytes"] or 0 for r in rs) / seconds)
            fields = hist_fields((r[f"{op}_buckets"] for r in rs), op, quantiles=(50, 95, 99))
            if not fields.pop(f"{op}_samples") and ops:
                fields = _interval_bounds(db, h, dev, rs[0]["first_ts"], rs[-1]["last_ts"], op)
                row["percentiles"] = "upper bounds: no histograms stored"
            row.update(fields)
        out.append(row)
    return out[:limit] if limit else out


def _interval_bounds(db, host, device, first: int, last: int, op: str) -> dict:
    """Rows from tools that stored only per-interval percentiles (the original
    KernelSight tracer): the window's pNN cannot exceed the largest interval pNN
    (each interval has at most 1 - NN % of its samples above it), so that is an
    honest upper bound; averaging them would not be."""
    qs = ("p50", "p95", "p99", "max")
    cols = ", ".join(f"max(CASE WHEN {op}_count > 0 THEN {op}_{q}_us END)" for q in qs)
    row = db.one(f"""SELECT {cols} FROM io_latency_stats
                     WHERE timestamp >= ? AND timestamp <= ? AND host IS ? AND device IS ?""",
                 [first, last, host, device])
    return {f"{op}_{q}_us": r3(row[i]) for i, q in enumerate(qs)}


@windowed
def query_block_io(db, start, end, *, host=None, device=None, limit=None):
    """Per device over the window, from the kernel's cumulative diskstats counters:
    IOPS, throughput, mean time per I/O and utilisation; counter resets handled."""
    if not db.has("block_stats"):
        return []
    extra, params = ("device_name = ?", [device]) if device else ("", [])
    rows = counter_increases(db, "block_stats", ("host", *_BLOCK.keys), _BLOCK.counters, start, end, host,
                             extra, params)
    sql, p = window_source(db, "block_stats", same_columns((*_BLOCK.keys, *_BLOCK.maxes)), start, end,
                           host, extra, params)
    peaks = {(r["host"], r["device_name"]): r["peak"] for r in db.rows(
        f"SELECT host, device_name, max(in_flight) AS peak FROM ({sql}) GROUP BY host, device_name", p)}
    out = []
    for inc in rows:
        seconds = (inc["last"] - inc["first"]) / NS
        if seconds <= 0:
            continue
        out.append({
            "host": inc["host"], "device": inc["device_name"],
            "util_pct": r3(min(100.0, inc["io_ticks"] / convert(seconds, "seconds", "ms") * 100)),
            "read_iops": r3(inc["read_ios"] / seconds),
            "write_iops": r3(inc["write_ios"] / seconds),
            "read_bytes_per_s": r3(convert(inc["read_sectors"], "sectors", "bytes") / seconds),
            "write_bytes_per_s": r3(convert(inc["write_sectors"], "sectors", "bytes") / seconds),
            "read_avg_ms": r3(inc["read_ticks"] / inc["read_ios"]) if inc["read_ios"] else None,
            "write_avg_ms": r3(inc["write_ticks"] / inc["write_ios"]) if inc["write_ios"] else None,
            "max_in_flight": peaks.get((inc["host"], inc["device_name"])),
            **times.stamp(inc["first"]),  # whole window: its data's first timestamp
        })
    out.sort(key=lambda r: -(r["read_bytes_per_s"] + r["write_bytes_per_s"]))
    return out[:limit] if limit else out
