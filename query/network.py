"""Network: interface bandwidth, TCP connection states, retransmits, RTT per node."""

from __future__ import annotations

from collections import defaultdict

from ..ingest import events as ev
from . import times
from .common import (NS, convert, counter_increases, hist_fields, interval_rows, r3, rollup_columns,
                     step_of, stepped, windowed)

_IFACE_COUNTERS = ev.BY_TABLE["network_interface_stats"].rollup.counters


@windowed
def query_network_bandwidth(db, start, end, *, host=None, interface=None, limit=None):
    """Per interface over the window: bytes and packets per second, errors and drops,
    from the kernel's cumulative counters (a counter that goes backwards is a reset)."""
    if not db.has("network_interface_stats"):
        return []
    extra, params = ("interface_name = ?", [interface]) if interface else ("", [])
    out = []
    for inc in counter_increases(db, "network_interface_stats", ("host", "interface_name"), _IFACE_COUNTERS,
                                 start, end, host, extra, params):
        seconds = (inc["last"] - inc["first"]) / NS
        if seconds <= 0:
            continue
        out.append({
            "host": inc["host"], "interface": inc["interface_name"],
            "rx_bytes_per_s": r3(inc["rx_bytes"] / seconds), "tx_bytes_per_s": r3(inc["tx_bytes"] / seconds),
            "rx_packets_per_s": r3(inc["rx_packets"] / seconds),
            "tx_packets_per_s": r3(inc["tx_packets"] / seconds),
            "errors": int(inc["rx_errors"] + inc["tx_errors"]),
            "drops": int(inc["rx_drops"] + inc["tx_drops"]),
            "seconds": r3(seconds),
            **times.stamp(inc["first"]),  # whole window: its data's first timestamp
        })
    out.sort(key=lambda r: -(r["rx_bytes_per_s"] + r["tx_bytes_per_s"]))
    return out[:limit] if limit else out


_STATES = ev.BY_TABLE["tcp_stats"].column_names   # every column is a TCP state


@windowed
def query_tcp_connections(db, start, end, step=None, *, host=None, limit=None):
    """TCP sockets per state, per step: the peak of each state in the step."""
    if not db.has("tcp_stats"):
        return []
    rows = stepped(db, "tcp_stats", ", ".join(f"max({s}) AS {s}" for s in _STATES), start, end,
                   step_of(start, end, step) * NS, host)
    out = [{**times.stamp(r["t0"]), "host": r["host"],
            **{s: r[s] for s in _STATES}, "samples": r["n"]} for r in rows]
    return out[-limit:] if limit else out


_RETRANS = ev.BY_TABLE["tcp_retransmit_stats"].rollup.counters
RTT_COLUMNS = rollup_columns("rtt_stats")


@windowed
def query_tcp_retransmits(db, start, end, step=None, *, host=None, limit=None):
    """Per step: retransmitted segments per second and as a share of segments sent,
    timeouts and listen-queue drops, from cumulative /proc/net counters.  ``step="all"``:
    one row for the whole window."""
    if not db.has("tcp_retransmit_stats"):
        return []
    step_ns = None if step == "all" else step_of(start, end, step) * NS
    buckets: dict = {}
    for inc in counter_increases(db, "tcp_retransmit_stats", ("host",), _RETRANS, start, end, host,
                                 bucket_ns=step_ns):
        b = {c: inc[c] or 0 for c in _RETRANS}
        # seconds between the readings whose increases landed in this step
        b["seconds"] = (inc["last"] - inc["first"]) / NS
        # one row for the window (step "all"): stamped with its data's first reading
        buckets[(inc.get("t0", inc["first"]), inc["host"])] = b
    out = []
    for (t0, h), b in sorted(buckets.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        s = b["seconds"] or None
        out.append({
            **times.stamp(t0), "host": h,
            "retrans_per_s": r3(b["retrans_segs"] / s) if s else None,
            "retrans_pct": r3(b["retrans_segs"] * 100 / b["out_segs"]) if b["out_segs"] else None,
            "out_segs_per_s": r3(b["out_segs"] / s) if s else None,
            "timeouts": int(b["timeouts"]), "fast_retrans": int(b["fast_retrans"]),
            "syn_retrans": int(b["syn_retrans"]), "listen_drops": int(b["listen_drops"]),
            "in_errs": int(b["in_errs"]),
        })
    return out[-limit:] if limit else out


@windowed
def query_rtt_by_node(db, start, end, *, host=None, node=None, limit=20):
    """Smoothed TCP RTT per node (peer), percentiles merged from the stored buckets;
    retransmits and drops counted by ks-rtt.  Busiest nodes (most samples) first."""
    if not db.has("rtt_stats"):
        return []
    rows = interval_rows(db, "rtt_stats", RTT_COLUMNS, start, end, host, "node = ?" if node else "",
                         [node] if node else [])
    groups: dict = defaultdict(list)
    for r in rows:
        groups[(r["host"], r["node"])].append(r)
    out = []
    for (h, name), rs in groups.items():
        fields = hist_fields((r["buckets"] for r in rs), unit="ms")
        n = sum(r["count"] or 0 for r in rs)
        total_us = sum(r["sum_us"] or 0 for r in rs)
        out.append({
            "host": h, "node": name, "peer": rs[-1]["peer"], **fields,
            "mean_ms": r3(convert(total_us / n, "us", "ms")) if n and total_us else None,
            "retransmits": sum(r["retrans_count"] or 0 for r in rs),
            "drops": sum(r["drop_count"] or 0 for r in rs),
            **times.stamp(rs[0]["first_ts"]),  # whole window: its data's first timestamp
        })
    out.sort(key=lambda r: -r["samples"])
    return out[:limit] if limit else out
