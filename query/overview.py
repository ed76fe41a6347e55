"""What is in the database (tables) and what happened in a window (summary)."""

from __future__ import annotations

from ..ingest import events as ev
from . import times, units
from .common import NS, convert, r3, same_columns, window_source, windowed
from .db import as_database, where
from .faults import query_page_faults
from .memory import query_memory_usage
from .network import query_network_bandwidth, query_rtt_by_node, query_tcp_connections, query_tcp_retransmits
from .perf import query_perf_counters
from .sched import query_cpu_usage, query_load, query_long_runqueue_waits, query_runqueue_latency
from .storage import query_block_io, query_io_latency_percentiles
from .syscalls import query_syscall_stats, query_syscalls_by_timerange, query_top_processes_by_syscall_latency


def query_tables(db, start=None, end=None, *, host=None):
    """Rows and time span per table and host, in registry order; tables no collector
    has written to yet are listed with 0 rows and the command that fills them."""
    database, owned = as_database(db)
    try:
        return _tables(database, start, end, host)
    finally:
        if owned:
            database.close()


def rows_per_host(db, t: ev.EventType, start: int, end: int, host=None, by_host: bool = True) -> list:
    """Rows, first and last timestamp per host (or in all, ``by_host=False``: the
    timestamp index alone answers) of a table over [start, end); whole minutes
    counted from its rollup when it has one."""
    group = ("host", "GROUP BY host ORDER BY host") if by_host else ("NULL AS host", "")
    if t.rollup:
        sql, params = window_source(db, t.table, (), start, end, host)
        found = db.rows(f"""SELECT {group[0]}, sum(n) AS n, min(first_ts) AS first,
                            max(last_ts) AS last FROM ({sql}) {group[1]}""", params)
    else:
        cond, params = where(start, end, host)
        found = db.rows(f"""SELECT {group[0]}, count(*) AS n, min(timestamp) AS first,
                            max(timestamp) AS last FROM {t.table} WHERE {cond} {group[1]}""", params)
    return [r for r in found if r["n"]]


ALL_TIME_END = (1 << 63) - 1   # `tables` with no window: every row, whatever its stamp


def _tables(db, start, end, host):
    now = times.now_ns()
    lo = times.to_ns(start or 0, now=now)
    everything = start is None and end is None and not host
    hi = ALL_TIME_END if everything else times.to_ns(end or "now", now=now)
    out = []
    for t in ev.TYPES:
        found = rows_per_host(db, t, lo, hi, host) if db.has(t.table) else []
        if not found:
            out.append({"table": t.table, "host": None, "rows": 0, "span": None, "newest_age_s": None,
                        "first": None, "last": None, "timestamp_ns": None, "producer": t.producer})
        for r in found:
            out.append({   # what a person reads first (a table fits the terminal) first
                "table": t.table, "host": r["host"], "rows": r["n"],
                "span": times.span((r["last"] - r["first"]) / NS), "newest_age_s": r3((now - r["last"]) / NS),
                "first": times.iso(r["first"]), "last": times.iso(r["last"]), "timestamp_ns": r["first"],
                "producer": t.producer,
            })
    if db.has(ev.UNKNOWN_TABLE):
        n = db.one(f"SELECT count(*) FROM {ev.UNKNOWN_TABLE}")[0]
        if n:
            out.append({"table": ev.UNKNOWN_TABLE, "host": None, "rows": n, "span": None, "newest_age_s": None,
                        "first": None, "last": None, "timestamp_ns": None, "producer": "ks-ingest (unplaced lines)"})
    return out


# ---- summary ---------------------------------------------------------------------------
def _fmt(x, unit="", digits=1):
    if x is None:
        return "-"
    if isinstance(x, float):
        x = f"{x:,.{digits}f}" if abs(x) < 1000 or digits == 0 else f"{x:,.0f}"
    else:
        x = f"{x:,}"
    return f"{x} {unit}".rstrip() if unit else x


# the summary's units are the tables' (query/units.py)
_bytes, _latency_us = units.bytes_text, units.latency_us_text


def _coverage(db, start, end, host):
    """The rows the window holds and the time they span: is this the data I meant?"""
    first = last = None
    rows = tables = 0
    for t in ev.TYPES:
        if not db.has(t.table):
            continue
        found = rows_per_host(db, t, start, end, host, by_host=False)
        tables += bool(found)
        for r in found:
            rows += r["n"]
            first = r["first"] if first is None else min(first, r["first"])
            last = r["last"] if last is None else max(last, r["last"])
    if not rows:
        return []
    a, b = times.local(first, ms=False), times.local(last, ms=False)
    if a[:10] == b[:10]:  # same day: the date once
        b = b[11:]
    return [_line("Data", "in window", f"{rows:,} rows in {tables} tables, {a} -> {b} "
                  f"({times.span((last - first) / NS)})", rows=rows, tables=tables)]


def _proc(comm, pid, width: int = 20) -> str:
    """A process as ``comm (pid)`` in at most ``width`` characters: the name gives way."""
    tail = f" ({pid})"
    comm = str(comm or "?")
    room = width - len(tail)
    return (comm if len(comm) <= room else comm[: room - 1] + "~") + tail


def _line(section, subject, text, **data):
    return {"section": section, "subject": subject, "text": text, **data}


@windowed
def summary(db, start, end, *, host=None, top=3):
    """What happened in the window, across every table: one line per finding,
    grouped by section (``section``, ``subject``, ``text`` plus the numbers)."""
    out = _coverage(db, start, end, host)
    for part in (_collectors, _syscalls, _sched, _io, _faults, _rtt, _network, _memory, _cpu, _perf,
                 _freshness):
        out += part(db, start, end, host, top)
    return out


LOST_COLUMNS = tuple(c.name for c in ev.BY_NAME["collector_stats"].columns if c.name.startswith("lost_"))


def _collectors(db, start, end, host, top):
    """Per BPF collector: what it printed and lost (by cause) and its CPU; losses first,
    since every other line of the summary is short by them."""
    if not db.has("collector_stats"):
        return []
    cols = ("events", *LOST_COLUMNS, "cpu_user_ns", "cpu_system_ns")
    src, params = window_source(db, "collector_stats", same_columns(("collector", *cols)), start, end, host)
    sums = ", ".join(f"total({c}) AS {c}" for c in cols)
    out = []
    for r in db.rows(f"SELECT host, collector, {sums} FROM ({src}) GROUP BY host, collector "
                     f"ORDER BY collector", params):
        lost = {c.removeprefix("lost_"): int(r[c]) for c in LOST_COLUMNS if r[c]}
        events, total = int(r["events"]), sum(lost.values())
        share = f" ({100 * total / (events + total):.1f} % of records)" if total else ""
        causes = ", ".join(f"{n:,} {cause}" for cause, n in lost.items())
        cpu = convert(r["cpu_user_ns"] + r["cpu_system_ns"], "ns", "seconds")
        out.append(_line("Collectors", r["collector"],
                         f"{events:,} events, {total:,} lost{share}" + (f": {causes}" if causes else "")
                         + f"; {cpu:.1f} CPU-s", events=events, lost=total, lost_by_cause=lost))
    return out


def _syscalls(db, start, end, host, top):
    out = []
    slow = query_syscalls_by_timerange(db, start, end, limit=1, host=host)
    procs = query_top_processes_by_syscall_latency(db, start, end, limit=top, host=host)
    if slow:
        total = db.one(f"SELECT count(*) FROM syscall_events WHERE {where(start, end, host)[0]}",
                       where(start, end, host)[1])[0]
        s = slow[0]
        out.append(_line("Slow syscalls", "all", f"{total:,} over the threshold; slowest: "
                         f"{s['syscall_name']} {_fmt(s['latency_ms'], 'ms')} in {s['comm']} ({s['pid']})",
                         slow_calls=total, slowest_ms=s["latency_ms"]))
        for p in procs:
            out.append(_line("Slow syscalls", _proc(p['comm'], p['pid']),
                             f"{p['slow_calls']:,} slow, {_fmt(p['total_latency_ms'], 'ms')} blocked, "
                             f"mostly {p['top_syscall']}, worst {_fmt(p['max_latency_ms'], 'ms')}",
                             total_latency_ms=p["total_latency_ms"]))
    stats = query_syscall_stats(db, start, end, limit=top, host=host)
    for s in stats:
        out.append(_line("Syscalls (all calls)", s["syscall_name"],
                         f"{_fmt(s['calls_per_s'], '/s')}, {_fmt(s['total_ms'], 'ms')} in total, "
                         f"avg {_latency_us(s['avg_us'])}, {s['errors'] or 0:,} errors",
                         calls=s["calls"], total_ms=s["total_ms"]))
    return out


def _pcts(row, unit="us", prefix=""):
    p = f"{prefix}_" if prefix else ""
    conv = (lambda v: _latency_us(convert(v, unit, "us")))
    return (f"p50 {conv(row.get(f'{p}p50_{unit}'))}  p99 {conv(row.get(f'{p}p99_{unit}'))}  "
            f"max {conv(row.get(f'{p}max_{unit}'))}")


def _sched(db, start, end, host, top):
    out = []
    for r in query_runqueue_latency(db, start, end, host=host):
        if r["waits"]:
            out.append(_line("Run-queue latency", "all CPUs", f"{_pcts(r)}  ({r['waits']:,} wake-ups)",
                             p99_us=r["p99_us"], waits=r["waits"]))
    for r in query_long_runqueue_waits(db, start, end, limit=top, host=host):
        out.append(_line("Run-queue latency", _proc(r['comm'], r['pid']),
                         f"{r['long_waits']:,} long waits, worst {_fmt(r['max_wait_ms'], 'ms')}",
                         max_wait_ms=r["max_wait_ms"]))
    return out


def _io(db, start, end, host, top):
    out = []
    for r in query_io_latency_percentiles(db, start, end, host=host)[:top * 2]:
        for op in ("read", "write"):
            if r[f"{op}_ops"]:
                bound = " (at most: no histograms)" if r.get("percentiles") else ""
                out.append(_line("Block I/O latency", f"{r['device'] or 'all devices'} {op}",
                                 f"{_pcts(r, prefix=op)}{bound}  "
                                 f"({r[f'{op}_ops']:,} I/Os, {_bytes(r[f'{op}_bytes_per_s'])}/s)",
                                 p99_us=r[f"{op}_p99_us"], ops=r[f"{op}_ops"]))
    for r in query_block_io(db, start, end, host=host, limit=top):
        if r["read_iops"] or r["write_iops"]:
            out.append(_line("Block devices", r["device"],
                             f"read {_bytes(r['read_bytes_per_s'])}/s ({_fmt(r['read_iops'], 'IOPS')}), "
                             f"write {_bytes(r['write_bytes_per_s'])}/s ({_fmt(r['write_iops'], 'IOPS')}), "
                             f"busy {_fmt(r['util_pct'], '%')}", util_pct=r["util_pct"]))
    return out


def _faults(db, start, end, host, top):
    out = []
    for r in query_page_faults(db, start, end, limit=top, host=host):
        out.append(_line("Page faults", _proc(r['comm'], r['pid']),
                         f"{_fmt(r['minor_per_s'], 'minor/s')}, {r['major']:,} major; latency {_pcts(r)}",
                         minor=r["minor"], major=r["major"]))
    return out


def _rtt(db, start, end, host, top):
    out = []
    rows = query_rtt_by_node(db, start, end, host=host, limit=top)
    for r in rows:
        out.append(_line("TCP RTT", r["node"], f"{_pcts(r, unit='ms')}; {r['samples']:,} samples, "
                         f"{r['retransmits']:,} retrans, {r['drops']:,} drops",
                         p99_ms=r["p99_ms"], samples=r["samples"]))
    for r in query_tcp_retransmits(db, start, end, step="all", host=host):
        out.append(_line("TCP", "retransmits", f"{_fmt(r['retrans_per_s'], '/s', 2)} "
                         f"({_fmt(r['retrans_pct'], '%', 3)} of segments sent), {r['timeouts']:,} timeouts, "
                         f"{r['listen_drops']:,} listen drops", retrans_per_s=r["retrans_per_s"]))
    conns = query_tcp_connections(db, start, end, step=(end - start) // NS or 1, host=host)
    if conns:
        c = conns[-1]
        out.append(_line("TCP", "connections", f"established up to {c['established']:,}, "
                         f"time_wait {c['time_wait'] or 0:,}, close_wait {c['close_wait'] or 0:,}, "
                         f"listen {c['listen'] or 0:,}", established=c["established"]))
    return out


def _network(db, start, end, host, top):
    rows = query_network_bandwidth(db, start, end, host=host)
    busy = [r for r in rows if r["rx_bytes_per_s"] or r["tx_bytes_per_s"] or r["errors"] or r["drops"]]
    out = [
        _line("Network", r["interface"], f"rx {_bytes(r['rx_bytes_per_s'])}/s, tx {_bytes(r['tx_bytes_per_s'])}/s, "
              f"{r['errors']:,} errors, {r['drops']:,} drops",
              rx_bytes_per_s=r["rx_bytes_per_s"], tx_bytes_per_s=r["tx_bytes_per_s"])
        for r in busy[:top]
    ]
    if len(rows) > len(busy):
        out.append(_line("Network", "idle", ", ".join(r["interface"] for r in rows if r not in busy)))
    return out


def _memory(db, start, end, host, top):
    rows = query_memory_usage(db, start, end, step=(end - start) // NS or 1, host=host)
    out = []
    for r in rows[-1:]:
        psi = r["psi_some_avg10_max_pct"]
        total, swap = (convert(r[c] or 0, "kB", "bytes") for c in ("mem_total_kb", "swap_used_max_kb"))
        out.append(_line("Memory", "used", f"{_fmt(r['used_pct'], '%')} on average, peak "
                         f"{_fmt(r['used_peak_pct'], '%')} of {_bytes(total)}; swap up to {_bytes(swap)}"
                         + (f"; PSI some up to {psi:.1f} %" if psi is not None else ""),
                         used_pct=r["used_pct"], used_peak_pct=r["used_peak_pct"]))
    return out


def _cpu(db, start, end, host, top):
    out = []
    whole = (end - start) // NS or 1
    for r in query_cpu_usage(db, start, end, step=whole, host=host)[-1:]:
        out.append(_line("CPU", "all", f"{_fmt(r['busy_pct'], '%')} busy on average (user "
                         f"{_fmt(r['user_pct'])}, system {_fmt(r['system_pct'])}, iowait "
                         f"{_fmt(r['iowait_pct'], '%')}), peak {_fmt(r['busy_peak_pct'], '%')}",
                         busy_pct=r["busy_pct"]))
    for r in query_load(db, start, end, step=whole, host=host)[-1:]:
        out.append(_line("CPU", "load", f"1-min load {_fmt(r['load_1min'], digits=2)} on average, peak "
                         f"{_fmt(r['load_1min_peak'], digits=2)}; up to {r['processes_max'] or 0:,} processes",
                         load_1min=r["load_1min"]))
    return out


# ks-perf's derived counters (collectors/perf_session.py): ratios, not counts.
RATIOS = ("ipc", "cache_miss_rate")


def _perf(db, start, end, host, top):
    out = []
    for r in query_perf_counters(db, start, end, host=host)[: top * 3]:
        subject = r["counter"] + (f" [{r['scope']}]" if r["scope"] != "system" else "")
        if r["counter"] in ("task-clock", "cpu-clock") and r["per_s"] is not None:
            text = f"{convert(r['per_s'], 'ns', 'seconds'):.2f} CPUs busy"  # CPU time per second of wall time
        elif r["counter"] in RATIOS:
            text = f"{_fmt(r['mean'], digits=3)} on average"  # a ratio: its total means nothing
        else:
            text = f"{_fmt(r['per_s'], '/s')}"
        out.append(_line("perf counters", subject, text, per_s=r["per_s"], mean=r["mean"]))
    return out


def _freshness(db, start, end, host, top):
    """Tables that got no rows in the window although they have some: a dead collector?"""
    out = []
    quiet = []
    for t in ev.TYPES:
        if not db.has(t.table):
            continue
        cond, params = where(start, end, host)
        if db.one(f"SELECT 1 FROM {t.table} WHERE {cond} LIMIT 1", params):
            continue
        last = db.one(f"SELECT max(timestamp) FROM {t.table}" + (" WHERE host = ?" if host else ""),
                      [host] if host else [])[0]
        if last is not None:
            quiet.append(f"{t.table} (newest row {times.local(last, ms=False)})")
    if quiet:
        out.append(_line("Quiet tables", "no rows in window", "; ".join(quiet), tables=len(quiet)))
    return out
