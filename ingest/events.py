"""The event contract: every ks event type, its table and its columns, declared once.

A ks event is one JSON object per line with ``type``, ``timestamp`` (integer ns since
the Unix epoch, wall clock) and ``host``; every other field is named exactly as a
column of the type's table.  schema.sql, ks-ingest, the query layer, ks-promexport
and docs/events.md all follow from the declarations below (tests hold them to it).

Units are part of a column's declaration.  Histogram columns (unit ``hist_us``) hold
the sparse bucket list of :mod:`kernelsight.ingest.histogram` as JSON text.  What a unit
is in its base unit (``UNITS``, ``convert``) is declared here too, for every reader
that converts (ks-query's ms columns, ks-promexport's seconds and bytes).  A column a
parser reads by the kernel's name for it carries that name as its ``source``
(collectors/procfs_parse.py builds its maps from them).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

INTEGER, REAL, TEXT = "INTEGER", "REAL", "TEXT"


@dataclass(frozen=True)
class Column:
    name: str
    sql: str = INTEGER
    unit: str = ""
    doc: str = ""
    required: bool = False
    # Where a parser reads it, as the kernel names it: a /proc/meminfo key ("MemTotal"),
    # a net/snmp or net/netstat "Table Field" ("Tcp RetransSegs"), a /proc/stat cpu
    # field ("user"), a /proc/net/dev header field ("Receive bytes"), a /proc/diskstats
    # field as Documentation/admin-guide/iostats.rst numbers them ("field 1").
    source: str = ""

    @property
    def minimum(self) -> int | None:
        """The smallest value ks-ingest stores (None: any); see NON_NEGATIVE."""
        return 0 if self.unit in NON_NEGATIVE else None


# Units whose values are never negative: counts, sizes, durations.  A line with a
# negative one is rejected (it would drive exported counters negative).  Signed values
# (ret_value, cpu = -1, addresses) carry no unit; shares (pct) are left out because
# /proc/stat's iowait may step back, and a slightly negative delta is no bad line.
NON_NEGATIVE = frozenset({"count", "ns", "us", "hist_us", "ms", "seconds", "bytes", "kB",
                          "sectors"})


@dataclass(frozen=True)
class Rollup:
    """A per-minute summary table kept beside a table (``<table>_1m``), so a long
    window reads sixty times fewer rows.  One row per minute and key: the rows'
    count, first and last timestamp (and the last row's interval), the sum of each
    ``sums`` column, the largest of each ``maxes`` column, every histogram column
    merged, and for each cumulative ``counters`` column its first and last reading
    and its increase within the minute (a reading below the previous one is a
    reset).  SQLite triggers keep it (schema.py), so every writer, the sqlite3 CLI
    included, keeps it right."""
    keys: tuple[str, ...]                # besides host: what the queries group by
    sums: tuple[str, ...] = ()           # additive columns
    maxes: tuple[str, ...] = ()          # gauges whose peak the queries want
    counters: tuple[str, ...] = ()       # cumulative counters


@dataclass(frozen=True)
class EventType:
    name: str                 # the JSON "type"
    table: str                # the SQLite table it lands in
    doc: str
    columns: tuple[Column, ...]
    indexes: tuple[tuple[str, ...], ...] = ()   # besides (timestamp), which every table has
    aliases: tuple[str, ...] = ()               # type names of the original KernelSight tools
    signature: tuple[str, ...] = ()             # keys that identify a line without "type"
    producer: str = ""                          # the ks command that emits it
    since_version: int = 1                      # schema version that introduced the table
    rollup: Rollup | None = None                # a per-minute summary table, if any

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def hist_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.unit == "hist_us")

    @property
    def rollup_table(self) -> str | None:
        return f"{self.table}{ROLLUP_SUFFIX}" if self.rollup else None

    def tier_table(self, tier: "Tier") -> str | None:
        """The table of one downsampling tier (TIERS) of this type's rollup."""
        return f"{self.table}{tier.suffix}" if self.rollup else None

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


ROLLUP_SUFFIX = "_1m"
ROLLUP_NS = 60 * 1_000_000_000
HOUR_NS = 60 * ROLLUP_NS


@dataclass(frozen=True)
class Tier:
    """A downsampling tier of every Rollup: one row per ``ns`` and key in the table
    ``<table><suffix>``, whose period starts at its column ``time``.  The first tier
    (minutes) is kept from the raw rows by triggers; each later one is built from the
    tier before it (ingest/tiers.py), so dropping the finer rows never changes it.
    ``option`` is the ks-retain option that sets the tier's retention."""
    suffix: str
    ns: int
    time: str
    option: str
    doc: str


# Finest first.  Queries read, for each part of a window, the finest tier that still
# holds it (query/common.py window_source).
TIERS: tuple[Tier, ...] = (
    Tier(ROLLUP_SUFFIX, ROLLUP_NS, "minute", "rollups", "per minute, kept by triggers on the raw table"),
    Tier("_1h", HOUR_NS, "hour", "hourly", "per hour, built from the minutes before they are dropped"),
)
MINUTES, HOURS = TIERS
RAW_TIER = "raw"   # the raw table's name where tiers are listed (retention_state, ks-query tables --tiers)

# Every table starts with these.  `timestamp` is required on every event; `host`
# defaults to the ingesting machine's hostname when a line lacks it.
COMMON = (
    Column("timestamp", INTEGER, "ns", "wall-clock time, ns since the Unix epoch", required=True),
    Column("host", TEXT, "", "hostname of the machine the event describes"),
)


def C(name, sql=INTEGER, unit="", doc="", required=False, source=""):  # noqa: N802 - reads like a table
    return Column(name, sql, unit, doc, required, source)


# The process's cgroup v2, as a path relative to the cgroup2 mount (a container, a
# systemd unit): on the per-process tables, so queries can group by it.
CGROUP = C("cgroup", TEXT, doc="cgroup v2 path (/system.slice/x.service), resolved from the "
           "kernel's id when seen; empty when it was gone by then")


# ---- units -----------------------------------------------------------------------------
# Every unit a column may have, as (base unit, numerator, denominator): one of it is
# numerator / denominator of the base unit.  Base units are Prometheus' (seconds,
# bytes, ratio), which name its metrics; "" is a plain number.  Readers convert with
# convert() instead of typing factors; a test holds every column's unit to this table.
UNITS: dict[str, tuple[str, int, int]] = {
    "": ("", 1, 1),
    "count": ("", 1, 1),
    "ns": ("seconds", 1, 10**9),
    "us": ("seconds", 1, 10**6),
    "hist_us": ("seconds", 1, 10**6),   # the values of a histogram's buckets
    "ms": ("seconds", 1, 1000),
    "seconds": ("seconds", 1, 1),
    "bytes": ("bytes", 1, 1),
    "kB": ("bytes", 1024, 1),           # /proc/meminfo's kB are KiB
    "sectors": ("bytes", 512, 1),       # /proc/diskstats counts 512-byte sectors, whatever the device's
    "pct": ("ratio", 1, 100),
    "ratio": ("ratio", 1, 1),
}


@functools.lru_cache(maxsize=None)
def factor(unit: str, to: str) -> tuple[int, int]:
    """(mul, div) in lowest terms: a value in ``unit`` times mul, over div, is in ``to``."""
    base, n, d = UNITS[unit]
    to_base, to_n, to_d = UNITS[to]
    if base != to_base:
        raise ValueError(f"{unit!r} does not convert to {to!r}")
    mul, div = n * to_d, d * to_n
    g = math.gcd(mul, div)
    return mul // g, div // g


def convert(value, unit: str, to: str):
    """``value`` (in ``unit``) in ``to``; None stays None.  A whole factor multiplies or
    divides (x / 1000000, not x * 1e-6), so the result is the correctly rounded one."""
    if value is None:
        return None
    mul, div = factor(unit, to)
    if div == 1:
        return value * mul
    return value / div if mul == 1 else value * mul / div


def base_unit(unit: str) -> str:
    return UNITS[unit][0]


def _hist_columns(prefix: str = "") -> tuple[Column, ...]:
    p = f"{prefix}_" if prefix else ""
    what = f"{prefix} " if prefix else ""
    return (
        C(f"{p}count", INTEGER, "count", f"{what}samples in the interval"),
        C(f"{p}p50_us", REAL, "us", f"{what}median"),
        C(f"{p}p90_us", REAL, "us", f"{what}90th percentile"),
        C(f"{p}p95_us", REAL, "us", f"{what}95th percentile"),
        C(f"{p}p99_us", REAL, "us", f"{what}99th percentile"),
        C(f"{p}max_us", REAL, "us", f"{what}largest sample (its bucket's upper bound)"),
        C(f"{p}buckets", TEXT, "hist_us", f"{what}histogram: JSON [[bucket, count], ...]"),
    )


TYPES: tuple[EventType, ...] = (
    # ---- eBPF tracers -------------------------------------------------------------
    EventType(
        "syscall", "syscall_events",
        "A system call slower than the tracer's threshold (default 10 ms), stamped when it "
        "returned. Calls whose job is to wait (epoll_wait, poll, nanosleep, futex waits, "
        "reads on pipes and ttys: `ks-syscalls --help` lists them) only with --include-waits.",
        (
            C("pid", required=True), C("tid"), C("cpu"), C("uid"),
            C("syscall_nr", doc="this architecture's syscall number"),
            C("syscall_name", TEXT),
            C("latency_ns", INTEGER, "ns", required=True),
            C("ret_value", doc="return value (negative errno on error)"),
            C("is_error", doc="1 when ret_value is an error"),
            C("arg0", doc="first argument, the raw register as signed 64-bit"),
            C("comm", TEXT, doc="thread name, at most 16 characters"), CGROUP,
        ),
        indexes=(("pid",), ("latency_ns",), ("syscall_name", "timestamp")),
        signature=("syscall_name", "latency_ms"),
        producer="ks-syscalls",
    ),
    EventType(
        "syscall_stats", "syscall_stats",
        "Per interval and syscall: every call counted, not only slow ones (like bcc syscount).",
        (
            C("interval_ns", INTEGER, "ns"),
            C("syscall_nr"), C("syscall_name", TEXT, required=True),
            C("count", INTEGER, "count"), C("errors", INTEGER, "count"),
            C("total_ns", INTEGER, "ns"), C("max_ns", INTEGER, "ns"),
        ),
        indexes=(("syscall_name", "timestamp"),),
        producer="ks-syscalls --stats",
        rollup=Rollup(("syscall_name",), ("count", "errors", "total_ns"), ("max_ns",)),
    ),
    EventType(
        "syscall_process_stats", "syscall_process_stats",
        "Per interval and process: its calls of every syscall counted together (like bcc "
        "syscount -P); with --failures or --errno only those failures.",
        (
            C("interval_ns", INTEGER, "ns"),
            C("pid", required=True), C("comm", TEXT), CGROUP,
            C("count", INTEGER, "count"), C("errors", INTEGER, "count"),
            C("total_ns", INTEGER, "ns"), C("max_ns", INTEGER, "ns"),
        ),
        indexes=(("pid", "timestamp"),),
        producer="ks-syscalls --stats --per-process",
        since_version=6,
    ),
    EventType(
        "page_fault", "page_fault_events",
        "A page fault slower than the threshold, or sampled; latency from fault entry to "
        "accounting, stamped when the fault was accounted.",
        (
            C("pid", required=True), C("tid"), C("cpu"),
            C("address", doc="faulting virtual address (as signed 64-bit: kernel ones are < 0)"),
            C("latency_ns", INTEGER, "ns"),
            C("fault_type", TEXT, doc="minor or major"),
            C("access_type", TEXT, doc="read, write or exec"),
            C("user_mode", doc="1 when the fault came from user space"),
            C("comm", TEXT), CGROUP,
        ),
        indexes=(("pid",), ("latency_ns",)),
        aliases=("pagefault",),
        producer="ks-pagefaults",
    ),
    EventType(
        "page_fault_stats", "page_fault_stats",
        "Per interval and process: minor and major fault counts and a latency histogram.",
        (
            C("interval_ns", INTEGER, "ns"),
            C("pid", required=True), C("comm", TEXT), CGROUP,
            C("minor_count", INTEGER, "count"), C("major_count", INTEGER, "count"),
            C("latency_sum_ns", INTEGER, "ns"),
        ) + _hist_columns(),
        indexes=(("pid",),),
        producer="ks-pagefaults",
        rollup=Rollup(("pid", "comm"), ("minor_count", "major_count", "latency_sum_ns", "count")),
    ),
    EventType(
        "io_latency", "io_latency_stats",
        "Per interval and block device: I/O counts, bytes and latency percentiles.",
        (
            C("device", TEXT, doc="block device name, e.g. vda"),
            C("flags", TEXT, doc="with ks-iolat --flags: the requests' flags (sync, meta, prio, "
              "fua, preflush, readahead, background, comma-separated; none); else empty"),
            C("interval_ns", INTEGER, "ns"),
            C("read_count", INTEGER, "count"), C("write_count", INTEGER, "count"),
            C("read_bytes", INTEGER, "bytes"), C("write_bytes", INTEGER, "bytes"),
            C("read_p50_us", REAL, "us"), C("read_p95_us", REAL, "us"),
            C("read_p99_us", REAL, "us"), C("read_max_us", REAL, "us"),
            C("write_p50_us", REAL, "us"), C("write_p95_us", REAL, "us"),
            C("write_p99_us", REAL, "us"), C("write_max_us", REAL, "us"),
            C("read_buckets", TEXT, "hist_us", "read latency histogram"),
            C("write_buckets", TEXT, "hist_us", "write latency histogram"),
        ),
        indexes=(("device", "timestamp"), ("read_p95_us",), ("write_p95_us",)),
        aliases=("io",),
        signature=("read_p50_us",),
        producer="ks-iolat",
        rollup=Rollup(("device",), ("read_count", "write_count", "read_bytes", "write_bytes")),
    ),
    EventType(
        "sched", "sched_events",
        "A run-queue wait longer than the threshold (default 10 ms).",
        (
            C("pid", required=True), C("tid"), C("cpu"),
            C("latency_ns", INTEGER, "ns", "time runnable before it ran"),
            C("prev_state", TEXT, doc="state of the task switched out: R (preempted), S, D, ..."),
            C("next_pid", doc="the task that got the CPU (the waiter itself)"),
            C("comm", TEXT),
        ),
        indexes=(("pid",), ("latency_ns",)),
        producer="ks-sched",
    ),
    EventType(
        "sched_stats", "sched_stats",
        "Per interval and process: scheduler activity (the original tracer's aggregates).",
        (
            C("interval_ns", INTEGER, "ns"),
            C("pid", required=True), C("comm", TEXT),
            C("context_switches", INTEGER, "count"),
            C("voluntary_switches", INTEGER, "count"),
            C("involuntary_switches", INTEGER, "count"),
            C("wakeups", INTEGER, "count"),
            CGROUP,
            C("cpu_time_ms", REAL, "ms", "time on a CPU as the scheduler accounts it "
              "(se.sum_exec_runtime, as in /proc/PID/schedstat and getrusage)"),
            C("avg_timeslice_us", REAL, "us", "cpu_time over context_switches"),
            C("runq_wait_ns", INTEGER, "ns", "time its threads were runnable but waiting for a CPU"),
            C("runq_waits", INTEGER, "count", "run-queue waits that ended in the interval"),
        ),
        indexes=(("pid",),),
        signature=("context_switches", "voluntary_switches"),
        producer="ks-sched --per-process",
    ),
    EventType(
        "runqlat_task", "runqlat_task_stats",
        "Per interval: run-queue latency histogram per process (ks-sched --hist-per process, "
        "as runqlat -P) or per thread (--hist-per thread, runqlat -L), the --top busiest; "
        "the rest summed into one row with pid -1.",
        (
            C("interval_ns", INTEGER, "ns"),
            C("pid", required=True, doc="the process; -1 for the tasks past --top"),
            C("tid", doc="the thread (--hist-per thread); empty per process"),
            C("comm", TEXT), CGROUP,
            C("sum_us", REAL, "us"),
        ) + _hist_columns(),
        indexes=(("pid", "timestamp"),),
        producer="ks-sched --hist-per",
        since_version=6,
        rollup=Rollup(("pid", "tid"), ("sum_us", "count")),
    ),
    EventType(
        "runqlat", "runqlat_stats",
        "Per interval: run-queue latency histogram, whole machine (cpu = -1) and per CPU.",
        (
            C("interval_ns", INTEGER, "ns"),
            C("cpu", doc="-1 for the whole machine"),
            C("sum_us", REAL, "us"),
        ) + _hist_columns(),
        indexes=(("cpu", "timestamp"),),
        producer="ks-sched",
        rollup=Rollup(("cpu",), ("sum_us", "count")),
    ),
    EventType(
        "rtt", "rtt_stats",
        "Per interval and TCP peer: smoothed RTT distribution, retransmits and drops.",
        (
            C("node", TEXT, doc="name from --nodes, else the peer address", required=True),
            C("peer", TEXT, doc="remote IP address"),
            C("family", doc="4 or 6"),
            C("interval_ns", INTEGER, "ns", "length of the interval"),
            C("sum_us", INTEGER, "us", "sum of the srtt seen by every segment received"),
            C("mean_us", REAL, "us", "sum_us / segments received"),
            C("retrans_count", INTEGER, "count", "segments retransmitted to the peer "
              "(as RetransSegs counts them)"),
            C("drop_count", INTEGER, "count", "TCP packets from or to the peer the kernel "
              "dropped, any reason"),
        ) + _hist_columns(),
        indexes=(("node", "timestamp"),),
        producer="ks-rtt",
        rollup=Rollup(("node", "peer"), ("count", "sum_us", "retrans_count", "drop_count")),
    ),
    EventType(
        "tcp_event", "tcp_events",
        "One TCP segment-level event: a sampled RTT, a retransmit or a drop.",
        (
            C("kind", TEXT, doc="rtt, retrans or drop", required=True),
            C("family", doc="4 or 6"),
            C("saddr", TEXT), C("sport"), C("daddr", TEXT), C("dport"),
            C("value", INTEGER, doc="srtt in us for rtt; 0 otherwise"),
            C("reason", TEXT, doc="drop reason name, or TCP state for a retransmit"),
            C("node", TEXT, doc="name from --nodes, else the remote address"),
        ),
        indexes=(("kind", "timestamp"),),
        producer="ks-rtt",
    ),
    EventType(
        "collector_stats", "collector_stats",
        "Per interval and BPF collector: what it printed, what it lost and why, and the CPU it "
        "and its BPF programs used; so losses reach the database, not only stderr.",
        (
            C("interval_ns", INTEGER, "ns"),
            C("collector", TEXT, required=True, doc="the ks command, e.g. ks-syscalls"),
            C("pid", doc="the collector's process id"),
            C("events", INTEGER, "count", "event lines printed in the interval (this one not counted)"),
            C("lost_ringbuf", INTEGER, "count", "per-event records dropped: the ring buffer was full"),
            C("lost_map_full", INTEGER, "count", "new keys not counted: a map was full"),
            C("lost_completion", INTEGER, "count", "I/O completions the kernel did not pass to BPF"),
            C("lost_untraced_switch", INTEGER, "count",
              "run-queue waits ended by a switch the kernel did not trace"),
            C("lost_recursion", INTEGER, "count", "program runs the kernel skipped (already running "
              "on that CPU, the hook hit again from an interrupt)"),
            C("cpu_user_ns", INTEGER, "ns", "user CPU time of the collector process (getrusage)"),
            C("cpu_system_ns", INTEGER, "ns", "system CPU time of the collector process (getrusage)"),
            C("bpf_run_ns", INTEGER, "ns", "time its BPF programs ran (NULL unless "
              "kernel.bpf_stats_enabled=1)"),
            C("bpf_runs", INTEGER, "count", "runs of its BPF programs (NULL unless "
              "kernel.bpf_stats_enabled=1)"),
        ),
        indexes=(("collector", "timestamp"),),
        producer="every BPF collector",
        since_version=8,
        rollup=Rollup(("collector",), ("events", "lost_ringbuf", "lost_map_full", "lost_completion",
                                       "lost_untraced_switch", "lost_recursion", "cpu_user_ns",
                                       "cpu_system_ns", "bpf_run_ns", "bpf_runs")),
    ),
    # ---- /proc and /sys scrapers --------------------------------------------------
    EventType(
        "memory", "memory_metrics",
        "/proc/meminfo.",
        (
            C("mem_total_kb", INTEGER, "kB", required=True, source="MemTotal"),
            C("mem_free_kb", INTEGER, "kB", source="MemFree"),
            C("mem_available_kb", INTEGER, "kB", source="MemAvailable"),
            C("buffers_kb", INTEGER, "kB", source="Buffers"),
            C("cached_kb", INTEGER, "kB", source="Cached"),
            C("swap_total_kb", INTEGER, "kB", source="SwapTotal"),
            C("swap_free_kb", INTEGER, "kB", source="SwapFree"),
            C("active_kb", INTEGER, "kB", source="Active"),
            C("inactive_kb", INTEGER, "kB", source="Inactive"),
            C("dirty_kb", INTEGER, "kB", source="Dirty"),
            C("writeback_kb", INTEGER, "kB", source="Writeback"),
        ),
        aliases=("meminfo",),
        signature=("mem_total_kb",),
        producer="ks-procfs",
    ),
    EventType(
        "load", "load_metrics",
        "/proc/loadavg.",
        (
            C("load_1min", REAL, required=True), C("load_5min", REAL), C("load_15min", REAL),
            C("running_processes", INTEGER, "count"), C("total_processes", INTEGER, "count"),
            C("last_pid"),
        ),
        aliases=("loadavg",),
        signature=("load_1min",),
        producer="ks-procfs",
    ),
    EventType(
        "block", "block_stats",
        "/proc/diskstats, per device; cumulative counters as the kernel keeps them.",
        (
            C("device_name", TEXT, required=True),
            C("read_ios", INTEGER, "count", source="field 1"),
            C("read_merges", INTEGER, "count", source="field 2"),
            C("read_sectors", INTEGER, "sectors", source="field 3"),
            C("read_ticks", INTEGER, "ms", source="field 4"),
            C("write_ios", INTEGER, "count", source="field 5"),
            C("write_merges", INTEGER, "count", source="field 6"),
            C("write_sectors", INTEGER, "sectors", source="field 7"),
            C("write_ticks", INTEGER, "ms", source="field 8"),
            C("in_flight", INTEGER, "count", source="field 9"),
            C("io_ticks", INTEGER, "ms", source="field 10"),
            C("time_in_queue", INTEGER, "ms", source="field 11"),
        ),
        indexes=(("device_name", "timestamp"),),
        aliases=("blockstats",),
        signature=("read_ios", "write_ios"),
        producer="ks-procfs",
        rollup=Rollup(("device_name",), maxes=("in_flight",), counters=(
            "read_ios", "read_merges", "read_sectors", "read_ticks", "write_ios", "write_merges",
            "write_sectors", "write_ticks", "io_ticks", "time_in_queue")),
    ),
    EventType(
        "network", "network_interface_stats",
        "/proc/net/dev, per interface; cumulative counters.",
        (
            C("interface_name", TEXT, required=True),
            C("rx_bytes", INTEGER, "bytes", source="Receive bytes"),
            C("rx_packets", INTEGER, "count", source="Receive packets"),
            C("rx_errors", INTEGER, "count", source="Receive errs"),
            C("rx_drops", INTEGER, "count", source="Receive drop"),
            C("tx_bytes", INTEGER, "bytes", source="Transmit bytes"),
            C("tx_packets", INTEGER, "count", source="Transmit packets"),
            C("tx_errors", INTEGER, "count", source="Transmit errs"),
            C("tx_drops", INTEGER, "count", source="Transmit drop"),
        ),
        indexes=(("interface_name", "timestamp"),),
        aliases=("net_interface",),
        signature=("rx_bytes", "tx_bytes"),
        producer="ks-procfs",
        rollup=Rollup(("interface_name",), counters=(
            "rx_bytes", "rx_packets", "rx_errors", "rx_drops",
            "tx_bytes", "tx_packets", "tx_errors", "tx_drops")),
    ),
    EventType(
        "tcp", "tcp_stats",
        "TCP sockets by state, IPv4 and IPv6 together, from a sock_diag dump of every state but "
        "ESTABLISHED; established is Tcp CurrEstab minus close_wait (cheap with 10,000s of sockets).",
        (
            C("established", INTEGER, "count", required=True),
            C("syn_sent", INTEGER, "count"), C("syn_recv", INTEGER, "count"),
            C("fin_wait1", INTEGER, "count"), C("fin_wait2", INTEGER, "count"),
            C("time_wait", INTEGER, "count"), C("close", INTEGER, "count"),
            C("close_wait", INTEGER, "count"), C("last_ack", INTEGER, "count"),
            C("listen", INTEGER, "count"), C("closing", INTEGER, "count"),
        ),
        aliases=("tcp_stats",),
        signature=("established", "time_wait"),
        producer="ks-procfs",
    ),
    EventType(
        "tcp_retrans", "tcp_retransmit_stats",
        "TCP retransmit and drop counters from /proc/net/snmp and /proc/net/netstat; cumulative.",
        (
            C("retrans_segs", INTEGER, "count", required=True, source="Tcp RetransSegs"),
            C("out_segs", INTEGER, "count", source="Tcp OutSegs"),
            C("in_errs", INTEGER, "count", source="Tcp InErrs"),
            C("timeouts", INTEGER, "count", source="TcpExt TCPTimeouts"),
            C("lost_retransmit", INTEGER, "count", source="TcpExt TCPLostRetransmit"),
            C("fast_retrans", INTEGER, "count", source="TcpExt TCPFastRetrans"),
            C("slow_start_retrans", INTEGER, "count", source="TcpExt TCPSlowStartRetrans"),
            C("syn_retrans", INTEGER, "count", source="TcpExt TCPSynRetrans"),
            C("listen_overflows", INTEGER, "count", source="TcpExt ListenOverflows"),
            C("listen_drops", INTEGER, "count", source="TcpExt ListenDrops"),
        ),
        aliases=("tcp_retransmits",),
        signature=("retrans_segs",),
        producer="ks-procfs",
        rollup=Rollup((), counters=(
            "retrans_segs", "out_segs", "in_errs", "timeouts", "lost_retransmit", "fast_retrans",
            "slow_start_retrans", "syn_retrans", "listen_overflows", "listen_drops")),
    ),
    EventType(
        "cpu", "cpu_metrics",
        "CPU utilisation over the last interval from /proc/stat deltas (cpu = -1: whole machine).",
        (
            C("cpu", required=True, doc="-1 for the whole machine"),
            C("user_pct", REAL, "pct", source="user"), C("nice_pct", REAL, "pct", source="nice"),
            C("system_pct", REAL, "pct", source="system"), C("iowait_pct", REAL, "pct", source="iowait"),
            C("irq_pct", REAL, "pct", source="irq"), C("softirq_pct", REAL, "pct", source="softirq"),
            C("steal_pct", REAL, "pct", source="steal"), C("idle_pct", REAL, "pct", source="idle"),
        ),
        indexes=(("cpu", "timestamp"),),
        producer="ks-procfs",
    ),
    EventType(
        "pressure", "pressure_metrics",
        "Pressure stall information (/proc/pressure) for cpu, memory and io.",
        (
            C("resource", TEXT, required=True, doc="cpu, memory or io"),
            C("some_avg10", REAL, "pct"), C("some_avg60", REAL, "pct"),
            C("some_avg300", REAL, "pct"), C("some_total_us", INTEGER, "us"),
            C("full_avg10", REAL, "pct"), C("full_avg60", REAL, "pct"),
            C("full_avg300", REAL, "pct"), C("full_total_us", INTEGER, "us"),
        ),
        indexes=(("resource", "timestamp"),),
        producer="ks-procfs",
    ),
    # ---- perf counters ------------------------------------------------------------
    EventType(
        "perf", "perf_counters",
        "A perf counter's value over the interval (cpu = -1: all CPUs), or a derived ratio.",
        (
            C("interval_ns", INTEGER, "ns"),
            C("counter", TEXT, required=True, doc="e.g. task-clock, context-switches, ipc"),
            C("cpu", doc="-1 for the total (the only row for scope pid:N)"),
            C("scope", TEXT, doc="system, pid:N (with its threads and new children) or cgroup:PATH"),
            C("value", REAL, doc="count in the interval (ns for task-clock; a ratio for derived)"),
            C("enabled_ns", INTEGER, "ns"), C("running_ns", INTEGER, "ns"),
        ),
        indexes=(("counter", "timestamp"),),
        producer="ks-perf",
    ),
)


BY_NAME: dict[str, EventType] = {t.name: t for t in TYPES}
BY_TABLE: dict[str, EventType] = {t.table: t for t in TYPES}
BY_ALIAS: dict[str, EventType] = {a: t for t in TYPES for a in t.aliases}

# Valid JSON objects whose type nobody knows land here, so nothing is lost.
UNKNOWN_TABLE = "unknown_events"

# Bumped whenever a table or column is added; ks-ingest upgrades older files in place.
SCHEMA_VERSION = 8   # 3: per-minute rollup tables; 4: a minute's buckets summed when it ends;
                     # 5: a NULL rollup key is one key (schema.NULL_KEY_MERGED);
                     # 6: syscall_process_stats; cgroup on the per-process tables;
                     #    io_latency_stats.flags; runqlat_task_stats
                     # 7: hourly tiers (<table>_1h, TIERS) built from the minutes, and
                     #    retention_state (the hours summarised from the minutes on upgrade)
                     # 8: collector_stats (BPF collectors' losses and CPU, issue 17 item 12),
                     #    ingest_commits (a dead writer's last commit, schema.COMMITS_SQL),
                     #    ingest_sources (committed lines per input file, --resume);
                     #    cgroup on page_fault_events and page_fault_stats


def columns_of(t: EventType) -> tuple[Column, ...]:
    """All columns of the type's table, common ones first."""
    return COMMON + t.columns


def by_table(table: str) -> EventType | None:
    return next((t for t in TYPES if t.table == table), None)


def lookup(type_name: str) -> EventType | None:
    return BY_NAME.get(type_name) or BY_ALIAS.get(type_name)
