"""Memory over time: /proc/meminfo samples and memory pressure stall (PSI)."""

from __future__ import annotations

from . import times
from .common import NS, r3, step_of, stepped, windowed


@windowed
def query_memory_usage(db, start, end, step=None, *, host=None, limit=None):
    """Per step: used % (mean and peak), least available memory, most swap in use,
    dirty pages, and the memory PSI 'some' share when ks-procfs recorded it."""
    if not db.has("memory_metrics"):
        return []
    step_ns = step_of(start, end, step) * NS
    used = "(mem_total_kb - mem_available_kb) * 100.0 / NULLIF(mem_total_kb, 0)"
    rows = stepped(db, "memory_metrics", f"""avg({used}) AS used, max({used}) AS used_peak,
                   max(mem_total_kb) AS total, min(mem_available_kb) AS avail,
                   max(swap_total_kb - swap_free_kb) AS swap, max(dirty_kb) AS dirty""",
                   start, end, step_ns, host)
    psi = _memory_psi(db, start, end, step_ns, host)
    out = [
        {
            **times.stamp(r["t0"]), "host": r["host"],
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
    rows = stepped(db, "pressure_metrics", "max(some_avg10) AS some", start, end, step_ns, host,
                   "resource = 'memory'")
    return {(r["t0"], r["host"]): r3(r["some"]) for r in rows}
