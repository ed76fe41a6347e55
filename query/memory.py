"""Memory over time: /proc/meminfo samples and memory pressure stall (PSI)."""

from __future__ import annotations

from . import times
from .common import NS, r3, step_of, windowed
from .db import where


@windowed
def query_memory_usage(db, start, end, step=None, *, host=None, limit=None):
    """Per step: used % (mean and peak), least available memory, most swap in use,
    dirty pages, and the memory PSI 'some' share when ks-procfs recorded it."""
    if not db.has("memory_metrics"):
        return []
    step_s = step_of(start, end, step)
    step_ns = step_s * NS
    cond, params = where(start, end, host)
    rows = db.rows(
        f"""SELECT timestamp - timestamp % ? AS t0, host,
                   avg((mem_total_kb - mem_available_kb) * 100.0 / NULLIF(mem_total_kb, 0)) AS used,
                   max((mem_total_kb - mem_available_kb) * 100.0 / NULLIF(mem_total_kb, 0)) AS used_peak,
                   max(mem_total_kb) AS total, min(mem_available_kb) AS avail,
                   max(swap_total_kb - swap_free_kb) AS swap, max(dirty_kb) AS dirty,
                   count(*) AS n
            FROM memory_metrics WHERE {cond} GROUP BY t0, host ORDER BY t0, host""",
        [step_ns] + params,
    )
    psi = _memory_psi(db, start, end, step_ns, host)
    out = [
        {
            "time": times.local(r["t0"], ms=False), "host": r["host"],
            "used_pct": r3(r["used"]), "used_peak_pct": r3(r["used_peak"]),
            "mem_total_kb": r["total"], "mem_available_min_kb": r["avail"],
            "swap_used_max_kb": r["swap"], "dirty_max_kb": r["dirty"],
            "psi_some_avg10_max_pct": psi.get((r["t0"], r["host"])), "samples": r["n"],
        }
        for r in rows
    ]
    return out[-limit:] if limit else out


def _memory_psi(db, start, end, step_ns, host) -> dict:
    if not db.has("pressure_metrics"):
        return {}
    cond, params = where(start, end, host, "resource = 'memory'")
    rows = db.rows(
        f"""SELECT timestamp - timestamp % ? AS t0, host, max(some_avg10) AS some
            FROM pressure_metrics WHERE {cond} GROUP BY t0, host""",
        [step_ns] + params,
    )
    return {(r["t0"], r["host"]): r3(r["some"]) for r in rows}
