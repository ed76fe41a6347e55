"""What ks-promexport exports, declared as tables over the registry's columns.

* ``HISTOGRAMS``: latency histograms summed over every stored row (prom_fold.py).
* ``COUNTERS``: counters summed from interval rows (each row counts its interval).
* ``LATEST``: gauges, and counters the kernel keeps, read off the newest row per
  host (and key): their value is the last one reported.

Names and values are in base units: a column's registry unit (ingest/events.py
``UNITS``) says what its values are multiplied by and what its metric's name ends
in (``mem_total_kb`` -> ``ks_memory_total_bytes``, ``read_ticks`` (ms) ->
``ks_block_read_ticks_seconds``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ingest import events as ev

OTHER = "other"   # the label value of everything a bounded label gives no series of its own


def unit_of(table: str, column: str) -> str:
    return ev.BY_TABLE[table].column(column).unit


# ---- histograms and interval counters: folded in row by row (prom_fold.py) ------------------
@dataclass(frozen=True)
class HistSource:
    """A latency histogram family read from one table."""

    name: str
    help: str
    table: str
    labels: tuple[str, ...]           # label columns besides host (bounded ones in `bounded`)
    buckets: dict[str, str]           # extra label value -> bucket column ("" when none)
    sums: dict[str, str]              # same key -> the column of the samples' sum (any time unit)
    only: tuple[str, int] | None = None  # (column, value): the rows this histogram reads
    bounded: tuple[str, ...] = ()     # label columns capped at `top` values + "other"
    op_label: str = ""                # name of the label that tells the bucket columns apart

    def columns(self) -> set[str]:
        """The columns a fold reads for this histogram."""
        return {*self.labels, *self.buckets.values(), *self.sums.values(), *(self.only or ())[:1]}


HISTOGRAMS = (
    HistSource("ks_tcp_rtt_seconds", "Smoothed TCP RTT per node (ks-rtt), from stored histograms.",
               "rtt_stats", ("node",), {"": "buckets"}, {"": "sum_us"}, bounded=("node",)),
    HistSource("ks_block_io_latency_seconds", "Block I/O latency per device and operation (ks-iolat).",
               "io_latency_stats", ("device",), {"read": "read_buckets", "write": "write_buckets"},
               {}, op_label="op"),
    HistSource("ks_runqueue_latency_seconds", "Run-queue latency, whole machine (ks-sched).",
               "runqlat_stats", (), {"": "buckets"}, {"": "sum_us"}, only=("cpu", -1)),
    HistSource("ks_page_fault_latency_seconds", "Page-fault latency, all processes (ks-pagefaults).",
               "page_fault_stats", (), {"": "buckets"}, {"": "latency_sum_ns"}),
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
    also: tuple[tuple[str, str], ...] = ()   # (column, label): unbounded labels (few values)
    only: tuple[tuple[str, tuple], ...] = ()  # (column, values): the rows it counts
    unit: str = ""        # the values' unit, when the column's own does not say it
    zeros: bool = False   # a row's 0 makes the series too (at 0): see _collector_counters

    def columns(self) -> set[str]:
        return {self.label, self.column, *(c for c, _ in self.also), *(c for c, _ in self.only)} - {""}

    def counts(self, row) -> bool:
        return all(row[c] in values for c, values in self.only)

    def labels(self) -> list[str]:
        return ([self.label_name] if self.label else []) + [n for _, n in self.also] + [k for k, _ in self.extra]


def _perf_counters(unit: str) -> tuple[str, ...]:
    """ks-perf's counters measured in ``unit`` (derived ratios such as ipc are left out:
    PromQL divides the counters)."""
    from ..collectors.perf_events import COUNTERS as PERF

    return tuple(name for name, c in PERF.items() if c.unit == unit)


def _collector_counters() -> tuple[CountSource, ...]:
    """The BPF collectors' own accounts (collector_stats): records lost per cause,
    events printed, CPU of the process and of its BPF programs.  Losses are exported
    at 0 from a collector's first row: a series that first appears at its first loss
    hides that loss from increase() and rate(), the usual alert on it."""
    by = (("collector", "collector"),)
    t = "collector_stats"
    lost = tuple(
        CountSource("ks_collector_lost", "Records a BPF collector lost, per cause (collector_stats).",
                    t, "", c.name, also=by, extra=(("cause", c.name.removeprefix("lost_")),),
                    zeros=True)
        for c in ev.BY_TABLE[t].columns if c.name.startswith("lost_"))
    return lost + (
        CountSource("ks_collector_events", "Event lines a BPF collector printed.", t, "", "events", also=by),
        CountSource("ks_collector_cpu_seconds", "CPU time of a BPF collector's process (getrusage).",
                    t, "", "cpu_user_ns", also=by, extra=(("mode", "user"),)),
        CountSource("ks_collector_cpu_seconds", "CPU time of a BPF collector's process (getrusage).",
                    t, "", "cpu_system_ns", also=by, extra=(("mode", "system"),)),
        CountSource("ks_collector_bpf_seconds", "Time a BPF collector's programs ran "
                    "(only while kernel.bpf_stats_enabled=1).", t, "", "bpf_run_ns", also=by),
        CountSource("ks_collector_bpf_runs", "Runs of a BPF collector's programs "
                    "(only while kernel.bpf_stats_enabled=1).", t, "", "bpf_runs", also=by),
    )


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
    CountSource("ks_process_runqueue_wait_seconds", "Time runnable but waiting for a CPU, per process "
                "name (ks-sched --per-process).", "sched_stats", "comm", "runq_wait_ns", "comm"),
    CountSource("ks_process_runqueue_waits", "Run-queue waits per process name (ks-sched --per-process).",
                "sched_stats", "comm", "runq_waits", "comm"),
    CountSource("ks_perf_events", "perf counter events per scope, all CPUs (ks-perf).", "perf_counters",
                "scope", "value", "scope", also=(("counter", "counter"),),
                only=(("cpu", (-1, None)), ("counter", _perf_counters("")))),
    CountSource("ks_perf_clock_seconds", "perf clock counters (task-clock, cpu-clock) per scope (ks-perf).",
                "perf_counters", "scope", "value", "scope", also=(("counter", "counter"),),
                only=(("cpu", (-1, None)), ("counter", _perf_counters("ns"))), unit="ns"),
) + _collector_counters()


# ---- open-ended labels: ranked by what they measure (prom_rank.py) --------------------------
@dataclass(frozen=True)
class Rank:
    """How the values of a bounded label column are ranked: by ``quantity`` (SQL over
    ``source``, a per-minute rollup where there is one, whose time column is ``time``)."""

    table: str        # the table whose label it bounds
    column: str       # the label column
    source: str       # the table read
    time: str
    quantity: str


RANKS = (
    Rank("rtt_stats", "node", "rtt_stats_1m", "minute", "count"),                        # segments
    Rank("syscall_stats", "syscall_name", "syscall_stats_1m", "minute", "count"),        # calls
    Rank("syscall_events", "syscall_name", "syscall_events", "timestamp", "1"),          # slow calls
    Rank("network_interface_stats", "interface_name", "network_interface_stats_1m", "minute",
         "rx_bytes_inc + tx_bytes_inc"),                                                  # bytes
    Rank("block_stats", "device_name", "block_stats_1m", "minute", "read_sectors_inc + write_sectors_inc"),
    Rank("sched_stats", "comm", "sched_stats", "timestamp", "runq_wait_ns"),                   # waiting
    Rank("perf_counters", "scope", "perf_counters", "timestamp",                               # CPU time
         "CASE WHEN counter = 'task-clock' AND cpu = -1 THEN value ELSE 0 END"),
)


# ---- the newest reading: gauges and the kernel's own counters (prom_gauges.py) ---------------
@dataclass(frozen=True)
class Metric:
    """One family of a LatestSource: its name, help, whether it is a counter, and
    the column(s) it reads with the label value each gives (None: no extra label)."""

    name: str
    help: str
    counter: bool
    series: tuple[tuple[str, str | None], ...]   # (column, label value)


@dataclass(frozen=True)
class LatestSource:
    """Families read off the newest row per host (and ``key``) younger than --stale-after.

    One family per column, named ``prefix`` + the column's name (less ``strip`` and
    its unit's suffix) + its base unit, or, with ``label``, one family named
    ``prefix`` in which that label tells the columns apart (``mode="user"``).
    ``help`` may hold {column}, {source} and {in_base} (" in bytes" when the values
    are converted)."""

    table: str
    prefix: str
    help: str = ""
    strip: str = ""                    # a column-name prefix left out of metric names
    units: tuple[str, ...] = ()        # only the columns in these units (default: all but the key)
    named: dict[str, tuple[str, str]] = field(default_factory=dict)  # column -> (name, help): only these
    counter: bool = False              # cumulative kernel counters: the newest reading is a counter
    gauges: dict[str, str] = field(default_factory=dict)  # column -> help: gauges among the counters
    label: str = ""                    # one family; the column's name less its unit suffix labels it
    key: tuple[str, str] | None = None  # (column, label): a series per key, the --top busiest (RANKS)
    where: str = ""                    # SQL: only these rows
    digits: int | None = None          # values rounded to so many digits

    def columns(self) -> tuple[str, ...]:
        if self.named:
            return tuple(self.named)
        key = self.key[0] if self.key else None
        return tuple(c.name for c in ev.BY_TABLE[self.table].columns
                     if c.name != key and (not self.units or c.unit in self.units))

    def metrics(self) -> list[Metric]:
        if self.label:
            return [Metric(self.prefix, self.help, self.counter,
                           tuple((c, _stem(c, unit_of(self.table, c))) for c in self.columns()))]
        out = []
        for c in self.columns():
            if c in self.named:
                name, text = self.named[c]
            else:
                col = ev.BY_TABLE[self.table].column(c)
                base = ev.base_unit(col.unit)
                name = self.prefix + _stem(c.removeprefix(self.strip), col.unit) + (f"_{base}" if base else "")
                converted = ev.factor(col.unit, base) != (1, 1)
                text = self.gauges.get(c) or self.help.format(column=c, source=col.source,
                                                              in_base=f" in {base}" if converted else "")
            out.append(Metric(name, text, self.counter and c not in self.gauges, ((c, None),)))
        return out


def _stem(column: str, unit: str) -> str:
    """The column's name without its unit's suffix: mem_total_kb -> mem_total."""
    return column.removesuffix(f"_{unit.lower()}") if unit else column


LATEST = (
    LatestSource("memory_metrics", "ks_memory_", "/proc/meminfo: {column}{in_base}.", units=("kB",),
                 strip="mem_"),
    LatestSource("load_metrics", "", named={
        "load_1min": ("ks_load1", "1-minute load average."),
        "load_5min": ("ks_load5", "5-minute load average."),
        "load_15min": ("ks_load15", "15-minute load average."),
        "running_processes": ("ks_processes_running", "Runnable tasks."),
        "total_processes": ("ks_processes", "Tasks in the system.")}),
    LatestSource("cpu_metrics", "ks_cpu_usage_ratio",
                 "Share of CPU time per mode over the last interval, whole machine.", units=("pct",),
                 label="mode", where="cpu = -1", digits=6),
    LatestSource("tcp_stats", "ks_tcp_connections", "TCP sockets per state.", label="state"),
    LatestSource("tcp_retransmit_stats", "ks_tcp_", "{source} (kernel counter).", counter=True),
    LatestSource("network_interface_stats", "ks_network_", "/proc/net/dev {column} per interface.",
                 counter=True, key=("interface_name", "interface")),
    LatestSource("block_stats", "ks_block_", "diskstats {column}{in_base}.", counter=True,
                 gauges={"in_flight": "I/Os in flight per device."}, key=("device_name", "device")),
)
