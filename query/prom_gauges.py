"""ks-promexport's families read off recent rows: the RTT design's percentile gauges,
the ``LATEST`` table (prom_spec.py) of gauges and kernel counters, and how fresh
each table is."""

from __future__ import annotations

from ..ingest import events as ev
from ..ingest import histogram
from .db import Database, host_only
from .prom_spec import LATEST, OTHER, LatestSource
from .prom_state import State


def rtt_gauges(db: Database, state: State, Gauge, since_ns: int, host: str | None = None):
    """The original agent's RTT gauges (docs/design.md), exactly: p50 and p99 per node over the last window
    (nodes without a series of their own in the histograms under "other")."""
    if not db.has("rtt_stats"):
        return
    hc, hp = host_only(host)
    rows = db.rows(f"SELECT node, buckets FROM rtt_stats WHERE timestamp >= ? AND {hc}", [since_ns] + hp)
    st = state.tables.get("rtt_stats")
    merged: dict = {}
    for r in rows:
        node = r["node"] if st is None or r["node"] in st.named.get("node", ()) else OTHER
        merged.setdefault(node, []).append(r["buckets"])
    p50 = Gauge("ebpf_rtt_p50_milliseconds", "50th percentile RTT in milliseconds", labels=["node"])
    p99 = Gauge("ebpf_rtt_p99_milliseconds", "99th percentile RTT in milliseconds", labels=["node"])
    for node, hs in sorted(merged.items(), key=lambda kv: str(kv[0])):
        h = histogram.merge(hs)
        if histogram.total(h):
            p50.add_metric([str(node)], round(ev.convert(histogram.percentile(h, 50), "us", "ms"), 3))
            p99.add_metric([str(node)], round(ev.convert(histogram.percentile(h, 99), "us", "ms"), 3))
    if p50.samples:
        yield p50
        yield p99


def latest(db: Database, Gauge, Counter, since_ns: int, host: str | None, state: State):
    """Every family of ``LATEST``, from the newest row per host (and key) since ``since_ns``;
    of a keyed table, only the keys prom_rank.py chose (no "other": each series is the
    kernel's own counter, and a sum of the rest would drop whenever one is promoted)."""
    for spec in LATEST:
        rows = _newest_rows(db, spec, since_ns, host)
        if spec.key:
            st = state.tables.get(spec.table)
            named = set(st.named.get(spec.key[0], ())) if st else set()
            rows = [r for r in rows if r[spec.key[0]] in named]
        if rows:
            yield from _families(spec, rows, Gauge, Counter)


def _newest_rows(db: Database, spec: LatestSource, since_ns: int, host: str | None) -> list:
    """The newest row per host (and key) younger than since_ns."""
    if not db.has(spec.table):
        return []
    hc, hp = host_only(host)
    group = ", ".join(["host", *(spec.key[:1] if spec.key else ())])
    cond = f"timestamp >= ? AND {hc}" + (f" AND {spec.where}" if spec.where else "")
    return db.rows(f"SELECT *, max(timestamp) FROM {spec.table} WHERE {cond} GROUP BY {group}",
                   [since_ns] + hp)


def _families(spec: LatestSource, rows: list, Gauge, Counter):
    """One family per metric of ``spec``: a series per row (host and key) and column."""
    t = ev.BY_TABLE[spec.table]
    key = spec.key[0] if spec.key else None
    unit = {c: t.column(c).unit for c in spec.columns()}
    for m in spec.metrics():
        labels = ["host", *([spec.key[1]] if key else []), *([spec.label] if spec.label else [])]
        fam = (Counter if m.counter else Gauge)(m.name, m.help, labels=labels)
        for r in rows:
            for col, label in m.series:
                if r[col] is None:
                    continue
                value = ev.convert(r[col], unit[col], ev.base_unit(unit[col]))
                if spec.digits is not None:
                    value = round(value, spec.digits)
                fam.add_metric([r["host"], *([r[key]] if key else []), *([label] if label else [])], value)
        yield fam


def freshness(db: Database, Gauge, now_ns: int, host: str | None = None):
    """How old the newest row of each table is: a dead collector shows as growth."""
    age = Gauge("ks_table_newest_row_age_seconds",
                "Age of the newest row of each table at export time: a dead collector shows as growth.",
                labels=["table"])
    stamp = Gauge("ks_table_newest_row_timestamp_seconds", "Time of the newest row of each table.",
                  labels=["table"])
    hc, hp = host_only(host)
    for t in ev.TYPES:
        if not db.has(t.table):
            continue
        # newest first along the timestamp index: stops at the first row of the host
        row = db.one(f"SELECT timestamp FROM {t.table} WHERE {hc} ORDER BY timestamp DESC LIMIT 1", hp)
        last = row[0] if row else None
        if last is not None:
            age.add_metric([t.table], round(ev.convert(max(0, now_ns - last), "ns", "seconds"), 3))
            stamp.add_metric([t.table], round(ev.convert(last, "ns", "seconds"), 3))
    if age.samples:
        yield age
        yield stamp
