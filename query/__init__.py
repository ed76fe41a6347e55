"""kernelsight's query layer: the database back out, as a library first.

    from kernelsight.query import Database, query_syscalls_by_timerange
    db = Database("data/kernelsight.db")          # read-only
    for sc in query_syscalls_by_timerange(db, "1h", "now", min_latency_ms=50, limit=10):
        print(sc["time"], sc["comm"], sc["syscall_name"], sc["latency_ms"], "ms")

Every function takes ``db`` (a path or a Database), ``start`` and ``end`` (datetime,
epoch seconds, ISO 8601 text or "1h" back from now) and returns a list of plain
dicts whose keys carry their units (``latency_ms``, ``read_p95_us``).  ks-query is
a thin CLI over them.  Names are resolved lazily so that the CLI starts fast.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Database": "db", "DatabaseManager": "db", "QueryError": "db",
    "query_syscalls_by_timerange": "syscalls", "query_top_processes_by_syscall_latency": "syscalls",
    "query_syscall_stats": "syscalls",
    "query_io_latency_percentiles": "storage", "query_block_io": "storage",
    "query_memory_usage": "memory",
    "query_network_bandwidth": "network", "query_tcp_connections": "network",
    "query_tcp_retransmits": "network", "query_rtt_by_node": "network",
    "query_runqueue_latency": "sched", "query_long_runqueue_waits": "sched",
    "query_runqueue_wait_by_process": "sched",
    "query_cpu_usage": "sched", "query_load": "sched",
    "query_page_faults": "faults", "query_perf_counters": "perf",
    "correlate_syscalls_with_memory": "correlate", "correlate_rtt_with_cpu": "correlate",
    "summary": "overview", "query_tables": "overview", "query_hosts": "hosts",
    "query_tiers": "tiers",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__():
    return __all__
