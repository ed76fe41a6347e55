"""The database as Prometheus metric families (used by ks-promexport).

* Histograms: every latency the database holds, as cumulative counters summed over
  ALL stored rows, so ``rate()`` over any range sees exactly the samples of that
  range.  A state file remembers the totals and the last row id seen, so a run
  only reads the rows added since the previous one.
* ``le`` boundaries: a fixed grid of ``le_per_octave`` bounds per power of two (2^k,
  and 1.25, 1.5, 1.75 x 2^k with the default 4), each a true upper bound of a
  bucket of kernelsight's histogram, so a count "<= le" is exact.  Only the octaves
  between the smallest and the largest sample ever stored are emitted (plus +Inf):
  a handful of series on a quiet link, never more than the scheme's 28 octaves.
* Labels with open-ended values (node, syscall) are bounded: the ``top`` busiest
  when first seen get their own series, for good (so counters never go backwards);
  everything else is summed under "other".
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import time
from dataclasses import dataclass, field

from ..ingest import events as ev
from ..ingest import histogram
from .db import Database

NS = 1_000_000_000
OTHER = "other"
STATE_VERSION = 1


# ---- what we export, following the registry ----------------------------------------------
@dataclass(frozen=True)
class HistSource:
    """A latency histogram family read from one table."""

    name: str
    help: str
    table: str
    labels: tuple[str, ...]           # label columns besides host (bounded ones in `bounded`)
    buckets: dict[str, str]           # extra label value -> bucket column ("" when none)
    sums: dict[str, tuple[str, float]]  # same key -> (sum column, factor to us)
    only: tuple[str, int] | None = None  # (column, value): the rows this histogram reads
    bounded: tuple[str, ...] = ()     # label columns capped at `top` values + "other"
    op_label: str = ""                # name of the label that tells the bucket columns apart


HISTOGRAMS = (
    HistSource("ks_tcp_rtt_seconds", "Smoothed TCP RTT per node (ks-rtt), from stored histograms.",
               "rtt_stats", ("node",), {"": "buckets"}, {"": ("sum_us", 1.0)}, bounded=("node",)),
    HistSource("ks_block_io_latency_seconds", "Block I/O latency per device and operation (ks-iolat).",
               "io_latency_stats", ("device",), {"read": "read_buckets", "write": "write_buckets"},
               {}, op_label="op"),
    HistSource("ks_runqueue_latency_seconds", "Run-queue latency, whole machine (ks-sched).",
               "runqlat_stats", (), {"": "buckets"}, {"": ("sum_us", 1.0)}, only=("cpu", -1)),
    HistSource("ks_page_fault_latency_seconds", "Page-fault latency, all processes (ks-pagefaults).",
               "page_fault_stats", (), {"": "buckets"}, {"": ("latency_sum_ns", 1e-3)}),
)


@dataclass(frozen=True)
class CountSource:
    """A counter summed from interval rows (each row counts its own interval)."""

    name: str
    help: str
    table: str
    label: str            # bounded label column ("" for none)
    column: str           # "" counts rows
    label_name: str = ""
    extra: tuple[tuple[str, str], ...] = ()  # fixed labels


COUNTERS = (
    CountSource("ks_tcp_node_retransmits", "TCP retransmits per node seen by ks-rtt.",
                "rtt_stats", "node", "retrans_count", "node"),
    CountSource("ks_tcp_node_drops", "TCP drops per node seen by ks-rtt.", "rtt_stats", "node", "drop_count", "node"),
    CountSource("ks_slow_syscalls", "System calls slower than ks-syscalls' threshold, per syscall.",
                "syscall_events", "syscall_name", "", "syscall"),
    CountSource("ks_syscalls", "System calls counted by ks-syscalls --stats, per syscall.",
                "syscall_stats", "syscall_name", "count", "syscall"),
    CountSource("ks_page_faults", "Page faults counted by ks-pagefaults.", "page_fault_stats", "", "minor_count",
                extra=(("kind", "minor"),)),
    CountSource("ks_page_faults", "Page faults counted by ks-pagefaults.", "page_fault_stats", "", "major_count",
                extra=(("kind", "major"),)),
)


# ---- le grid ------------------------------------------------------------------------------
def le_grid(h: dict[int, int], per_octave: int = 4) -> list[float]:
    """Upper bounds in us to emit for a histogram: per_octave true bucket bounds per
    power of two, over the octaves its samples span."""
    if not h:
        return []
    lo = histogram.lower(min(h))
    top = max(h)
    hi = histogram.lower(top) if top >= histogram.OVERFLOW else histogram.upper(top)
    k_lo = max(0, math.floor(math.log2(max(lo, 1.0))))
    k_hi = max(k_lo + 1, math.ceil(math.log2(max(hi, 1.0))))
    out = []
    for k in range(k_lo, k_hi + 1):
        for j in range(per_octave):
            b = (2 ** k) * (1 + j / per_octave)
            if b <= 2 ** k_hi and _is_bound(b):
                out.append(b)
    return sorted(set(out))


def _is_bound(b: float) -> bool:
    """True when b is the upper bound of some bucket (so "<= b" is exact)."""
    if b != int(b) or b < 1 or b > 2 ** histogram.MAX_BITS:
        return False
    return histogram.lower(histogram.index(int(b))) == b


def coarse_buckets(h: dict[int, int], bounds: list[float]) -> list[tuple[float, int]]:
    """[(le in us, samples <= le)] for the given bounds, then (+Inf, total)."""
    cum = histogram.cumulative(h)  # [(upper us, count <= upper)], ends with +Inf
    out, i, seen = [], 0, 0
    for b in bounds:
        while i < len(cum) and cum[i][0] <= b:
            seen = cum[i][1]
            i += 1
        out.append((b, seen))
    out.append((math.inf, histogram.total(h)))
    return out


def estimated_sum_us(h: dict[int, int]) -> float:
    """Sum of samples when the table keeps none: bucket midpoints (overflow: its floor)."""
    total = 0.0
    for i, c in h.items():
        lo, hi = histogram.lower(i), histogram.upper(i)
        total += c * (lo if math.isinf(hi) else (lo + hi) / 2)
    return total


# ---- the state: totals so far and the last row seen, per table ------------------------------
@dataclass
class TableState:
    last_id: int = 0
    last_ts: int | None = None
    # key (json list of label values) -> {"h": {bucket: count}, "sum": us, "n": count}
    hists: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)    # "name|json labels" -> total
    named: dict = field(default_factory=dict)     # bounded column -> [values with their own series]


class Busy(Exception):
    """Another run holds the state file (a first run over a big database takes a while)."""


class State:
    def __init__(self, path: str | None):
        self.path = path
        self.tables: dict[str, TableState] = {}
        self._lock = None
        if path:
            self._lock = open(path + ".lock", "a")
            try:  # two cron runs never interleave; the later one steps aside
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._lock.close()
                self._lock = None
                raise Busy(f"another ks-promexport is updating {path}; this run skips") from None
            self._load()

    def _load(self) -> None:
        try:
            with open(self.path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            return
        if data.get("version") != STATE_VERSION:
            return
        for name, t in data.get("tables", {}).items():
            st = TableState(t["last_id"], t.get("last_ts"), t.get("hists", {}), t.get("counts", {}),
                            t.get("named", {}))
            for v in st.hists.values():
                v["h"] = {int(k): c for k, c in v["h"].items()}
            self.tables[name] = st

    def save(self) -> None:
        if not self.path:
            return
        data = {"version": STATE_VERSION, "tables": {
            name: {"last_id": t.last_id, "last_ts": t.last_ts, "hists": t.hists, "counts": t.counts,
                   "named": t.named} for name, t in self.tables.items()}}
        tmp = f"{self.path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(data, f, separators=(",", ":"))
        os.replace(tmp, self.path)

    def close(self) -> None:
        if self._lock:
            self._lock.close()
            self._lock = None

    def table(self, db: Database, name: str) -> TableState:
        """This table's state, started afresh when the rows we saw are gone (a new database)."""
        st = self.tables.get(name)
        if st and st.last_id:
            row = db.one(f"SELECT timestamp FROM {name} WHERE id = ?", [st.last_id])
            if row is None or row[0] != st.last_ts:
                st = None
        if st is None:
            st = self.tables[name] = TableState()
        return st


# ---- reading the new rows ---------------------------------------------------------------------
class Exporter:
    def __init__(self, db: Database, state: State, *, top: int = 10, per_octave: int = 4,
                 window_s: float = 300, stale_s: float = 300, host: str | None = None, now_ns: int | None = None,
                 rtt_gauges: bool = True):
        self.rtt_gauges = rtt_gauges
        self.db, self.state, self.top, self.per_octave = db, state, top, per_octave
        self.window_s, self.stale_s, self.host = window_s, stale_s, host
        self.now = now_ns or time.time_ns()

    def _host_cond(self) -> tuple[str, list]:
        return ("host = ?", [self.host]) if self.host else ("1", [])

    def update(self) -> None:
        """Fold every row added since the last run into the totals."""
        tables = {s.table for s in HISTOGRAMS} | {s.table for s in COUNTERS}
        for table in sorted(tables):
            if self.db.has(table):
                self._update_table(table)
                self.state.save()  # a long first run keeps what it has done so far

    def _update_table(self, table: str) -> None:
        st = self.state.table(self.db, table)
        hists = [s for s in HISTOGRAMS if s.table == table]
        counters = [s for s in COUNTERS if s.table == table]
        cols = {"id", "timestamp", "host"}
        for s in hists:
            cols |= set(s.labels) | set(s.buckets.values()) | {c for c, _ in s.sums.values()}
            if s.only:
                cols.add(s.only[0])
        for s in counters:
            cols |= {s.label, s.column} - {""}
        cols = sorted(cols)
        hc, hp = self._host_cond()
        self._name_bounded(st, table, hists, counters)
        # Streamed: a first run folds in every row the table has ever stored.
        cur = self.db.conn.execute(f"SELECT {', '.join(cols)} FROM {table} WHERE id > ? AND {hc} ORDER BY id",
                                   [st.last_id] + hp)
        last = None
        pending: dict = {}     # key -> stored histograms (JSON) not merged yet
        estimate: dict = {}    # key -> those of them whose row has no latency sum
        keys: dict = {}        # label tuple -> state key (json.dumps once per series)
        for n, r in enumerate(cur, 1):
            last = r
            for s in hists:
                if s.only and r[s.only[0]] != s.only[1]:
                    continue
                base = (s.name, r["host"], *[self._bounded(st, c, r[c]) if c in s.bounded else r[c]
                                             for c in s.labels])
                for op, col in s.buckets.items():
                    if not r[col] or r[col] == "[]":
                        continue
                    t = base + ((op,) if op else ())
                    key = keys.get(t) or keys.setdefault(t, json.dumps(list(t)))
                    pending.setdefault(key, []).append(r[col])
                    sum_col = s.sums.get(op)
                    if sum_col and r[sum_col[0]] is not None:
                        acc = st.hists.setdefault(key, {"h": {}, "sum": 0.0})
                        acc["sum"] += r[sum_col[0]] * sum_col[1]
                    else:
                        estimate.setdefault(key, []).append(r[col])
            for s in counters:
                value = 1 if not s.column else (r[s.column] or 0)
                if not value:
                    continue
                label = self._bounded(st, s.label, r[s.label]) if s.label else None
                t = (s.name, r["host"], label, *[v for _, v in s.extra])
                key = keys.get(t) or keys.setdefault(t, json.dumps(list(t)))
                st.counts[key] = st.counts.get(key, 0) + value
            if n % 5000 == 0:
                self._fold(st, pending, estimate)
        self._fold(st, pending, estimate)
        if last is not None:
            st.last_id, st.last_ts = last["id"], last["timestamp"]

    @staticmethod
    def _fold(st: TableState, pending: dict, estimate: dict) -> None:
        """Merge the stored histograms read so far into the totals (one merge per series)."""
        for key, hs in pending.items():
            acc = st.hists.setdefault(key, {"h": {}, "sum": 0.0})
            acc["h"] = histogram.merge([acc["h"], *hs])
        for key, hs in estimate.items():
            st.hists[key]["sum"] += estimated_sum_us(histogram.merge(hs))
        pending.clear()
        estimate.clear()

    def _name_bounded(self, st: TableState, table: str, hists, counters) -> None:
        """Give series to the busiest new values (most rows since the last run) of each
        bounded column while there is room."""
        bounded = {c for s in hists for c in s.bounded} | {s.label for s in counters if s.label}
        hc, hp = self._host_cond()
        for col in sorted(bounded):
            named = st.named.setdefault(col, [])
            if len(named) >= self.top:
                continue
            rows = self.db.rows(f"""SELECT {col} AS v, count(*) AS n FROM {table}
                                    WHERE id > ? AND {hc} AND {col} IS NOT NULL GROUP BY {col}""",
                                [st.last_id] + hp)
            fresh = sorted(((r["v"], r["n"]) for r in rows if r["v"] not in named), key=lambda vn: (-vn[1], str(vn[0])))
            named += [v for v, _ in fresh[: self.top - len(named)]]

    def _bounded(self, st: TableState, col: str, value):
        return value if value in st.named.get(col, ()) else OTHER

    # ---- metric families ------------------------------------------------------------------
    def families(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
        from prometheus_client.utils import floatToGoString

        if self.rtt_gauges:
            yield from self._seed_gauges(GaugeMetricFamily)
        for s in HISTOGRAMS:
            labels = ["host", *s.labels] + ([s.op_label] if s.op_label else [])
            fam = HistogramMetricFamily(s.name, s.help, labels=labels)
            found = False
            for key, acc in sorted(self._hist_items(s.table, s.name)):
                values = json.loads(key)[1:]
                buckets = coarse_buckets(acc["h"], le_grid(acc["h"], self.per_octave))
                fam.add_metric([str(v) for v in values],
                               [(floatToGoString(b / 1e6), c) for b, c in buckets], acc["sum"] / 1e6)
                found = True
            if found:
                yield fam
        yield from self._counters(CounterMetricFamily)
        yield from self._gauges(GaugeMetricFamily, CounterMetricFamily)
        yield from self._freshness(GaugeMetricFamily)

    def _hist_items(self, table, name):
        st = self.state.tables.get(table)
        if not st:
            return []
        return [(k, v) for k, v in st.hists.items() if json.loads(k)[0] == name]

    def _counters(self, Counter):
        fams: dict = {}
        for s in COUNTERS:
            st = self.state.tables.get(s.table)
            if not st:
                continue
            labels = ["host"] + ([s.label_name] if s.label else []) + [k for k, _ in s.extra]
            fam = fams.setdefault(s.name, Counter(s.name, s.help, labels=labels))
            for key, total in sorted(st.counts.items()):
                name, host, label, *extra = json.loads(key)
                if name == s.name and tuple(extra) == tuple(v for _, v in s.extra):
                    fam.add_metric([str(host)] + ([str(label)] if s.label else []) + list(extra), total)
        yield from (f for f in fams.values() if f.samples)

    def _seed_gauges(self, Gauge):
        """The RTT document's gauges, exactly: p50 and p99 per node over the last window."""
        if not self.db.has("rtt_stats"):
            return
        hc, hp = self._host_cond()
        rows = self.db.rows(f"SELECT node, buckets FROM rtt_stats WHERE timestamp >= ? AND {hc}",
                            [self.now - int(self.window_s * NS)] + hp)
        st = self.state.tables.get("rtt_stats")
        merged: dict = {}
        for r in rows:
            node = r["node"] if st is None or r["node"] in st.named.get("node", ()) else OTHER
            merged.setdefault(node, []).append(r["buckets"])
        p50 = Gauge("ebpf_rtt_p50_milliseconds", "50th percentile RTT in milliseconds", labels=["node"])
        p99 = Gauge("ebpf_rtt_p99_milliseconds", "99th percentile RTT in milliseconds", labels=["node"])
        for node, hs in sorted(merged.items(), key=lambda kv: str(kv[0])):
            h = histogram.merge(hs)
            if histogram.total(h):
                p50.add_metric([str(node)], round(histogram.percentile(h, 50) / 1e3, 3))
                p99.add_metric([str(node)], round(histogram.percentile(h, 99) / 1e3, 3))
        if p50.samples:
            yield p50
            yield p99

    def _latest(self, table: str, keys: tuple[str, ...], extra: str = "") -> list:
        """The newest row per host (and keys) younger than stale_s."""
        if not self.db.has(table):
            return []
        hc, hp = self._host_cond()
        group = ", ".join(("host",) + keys)
        cond = f"timestamp >= ? AND {hc}" + (f" AND {extra}" if extra else "")
        return self.db.rows(f"SELECT *, max(timestamp) FROM {table} WHERE {cond} GROUP BY {group}",
                            [self.now - int(self.stale_s * NS)] + hp)

    def _gauges(self, Gauge, Counter):
        # memory: every kB column of the registry, in bytes
        t = ev.BY_TABLE["memory_metrics"]
        rows = self._latest(t.table, ())
        for c in t.columns:
            if c.unit == "kB" and rows:
                name = "ks_memory_" + c.name.removeprefix("mem_").removesuffix("_kb") + "_bytes"
                fam = Gauge(name, f"/proc/meminfo: {c.name} in bytes.", labels=["host"])
                for r in rows:
                    if r[c.name] is not None:
                        fam.add_metric([r["host"]], r[c.name] * 1024)
                yield fam
        rows = self._latest("load_metrics", ())
        if rows:
            for col, name, help in (("load_1min", "ks_load1", "1-minute load average."),
                                    ("load_5min", "ks_load5", "5-minute load average."),
                                    ("load_15min", "ks_load15", "15-minute load average."),
                                    ("running_processes", "ks_processes_running", "Runnable tasks."),
                                    ("total_processes", "ks_processes", "Tasks in the system.")):
                fam = Gauge(name, help, labels=["host"])
                for r in rows:
                    if r[col] is not None:
                        fam.add_metric([r["host"]], r[col])
                yield fam
        rows = self._latest("cpu_metrics", (), "cpu = -1")
        if rows:
            fam = Gauge("ks_cpu_usage_ratio", "Share of CPU time per mode over the last interval, whole machine.",
                        labels=["host", "mode"])
            for r in rows:
                for c in ev.BY_TABLE["cpu_metrics"].columns:
                    if c.unit == "pct" and r[c.name] is not None:
                        fam.add_metric([r["host"], c.name.removesuffix("_pct")], round(r[c.name] / 100, 6))
            yield fam
        rows = self._latest("tcp_stats", ())
        if rows:
            fam = Gauge("ks_tcp_connections", "TCP sockets per state.", labels=["host", "state"])
            for r in rows:
                for c in ev.BY_TABLE["tcp_stats"].columns:
                    if r[c.name] is not None:
                        fam.add_metric([r["host"], c.name], r[c.name])
            yield fam
        yield from self._kernel_counters(Counter, Gauge)

    def _kernel_counters(self, Counter, Gauge):
        """Cumulative counters the kernel keeps (/proc/net/snmp, /proc/net/dev, diskstats):
        their newest reading is already a Prometheus counter (a reboot is a reset)."""
        rows = self._latest("tcp_retransmit_stats", ())
        for c in ev.BY_TABLE["tcp_retransmit_stats"].columns if rows else ():
            fam = Counter(f"ks_tcp_{c.name}", f"{c.source} (kernel counter).", labels=["host"])
            for r in rows:
                if r[c.name] is not None:
                    fam.add_metric([r["host"]], r[c.name])
            yield fam
        rows = self._top(self._latest("network_interface_stats", ("interface_name",)),
                         lambda r: (r["rx_bytes"] or 0) + (r["tx_bytes"] or 0))
        for c in ev.BY_TABLE["network_interface_stats"].columns[1:] if rows else ():
            fam = Counter(f"ks_network_{c.name}", f"/proc/net/dev {c.name} per interface.",
                          labels=["host", "interface"])
            for r in rows:
                if r[c.name] is not None:
                    fam.add_metric([r["host"], r["interface_name"]], r[c.name])
            yield fam
        rows = self._top(self._latest("block_stats", ("device_name",)),
                         lambda r: (r["read_sectors"] or 0) + (r["write_sectors"] or 0))
        for c in ev.BY_TABLE["block_stats"].columns[1:] if rows else ():
            if c.name == "in_flight":
                fam = Gauge("ks_block_in_flight", "I/Os in flight per device.", labels=["host", "device"])
                scale = 1
            elif c.unit == "sectors":
                fam = Counter(f"ks_block_{c.name.replace('sectors', 'bytes')}", f"diskstats {c.name} in bytes.",
                              labels=["host", "device"])
                scale = 512
            elif c.unit == "ms":
                fam = Counter(f"ks_block_{c.name}_seconds", f"diskstats {c.name} in seconds.",
                              labels=["host", "device"])
                scale = 1e-3
            else:
                fam = Counter(f"ks_block_{c.name}", f"diskstats {c.name}.", labels=["host", "device"])
                scale = 1
            for r in rows:
                if r[c.name] is not None:
                    fam.add_metric([r["host"], r["device_name"]], r[c.name] * scale)
            yield fam

    def _top(self, rows, traffic):
        return sorted(rows, key=lambda r: -traffic(r))[: self.top]

    def _freshness(self, Gauge):
        age = Gauge("ks_table_newest_row_age_seconds",
                    "Age of the newest row of each table at export time: a dead collector shows as growth.",
                    labels=["table"])
        stamp = Gauge("ks_table_newest_row_timestamp_seconds", "Time of the newest row of each table.",
                      labels=["table"])
        hc, hp = self._host_cond()
        for t in ev.TYPES:
            if not self.db.has(t.table):
                continue
            # newest first along the timestamp index: stops at the first row of the host
            row = self.db.one(f"SELECT timestamp FROM {t.table} WHERE {hc} ORDER BY timestamp DESC LIMIT 1", hp)
            last = row[0] if row else None
            if last is not None:
                age.add_metric([t.table], round(max(0, self.now - last) / NS, 3))
                stamp.add_metric([t.table], round(last / NS, 3))
        if age.samples:
            yield age
            yield stamp

