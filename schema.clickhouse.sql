-- kernelsight ClickHouse schema, generated from ingest/events.py by `make schema`.
-- Do not edit by hand: change the registry and regenerate (a test compares them).
-- ks-ingest --clickhouse creates these tables itself; to create them by hand:
--   clickhouse-client --database kernelsight --multiquery \
--       --allow_experimental_low_cardinality_type=1 < schema.clickhouse.sql
-- (that setting only for servers older than 19.0).  Timestamps are Int64 ns since the
-- Unix epoch; units are in each column's comment.

CREATE TABLE IF NOT EXISTS schema_version (
    version UInt32 COMMENT 'kernelsight schema version',
    applied_ns Int64 COMMENT 'ns: when this version was applied'
) ENGINE = MergeTree ORDER BY version;

-- syscall: A system call slower than the tracer's threshold (default 10 ms), stamped when it returned. Calls whose job is to wait (epoll_wait, poll, nanosleep, futex waits, reads on pipes and ttys: `ks-syscalls --help` lists them) only with --include-waits.
CREATE TABLE IF NOT EXISTS syscall_events (
    timestamp Int64 COMMENT 'ns: wall-clock time, ns since the Unix epoch',
    host LowCardinality(String) COMMENT 'hostname of the machine the event describes',
    pid Int64,
    tid Nullable(Int64),
    cpu Nullable(Int64),
    uid Nullable(Int64),
    syscall_nr Nullable(Int64) COMMENT 'this architecture\'s syscall number',
    syscall_name LowCardinality(Nullable(String)),
    latency_ns Int64 COMMENT 'ns',
    ret_value Nullable(Int64) COMMENT 'return value (negative errno on error)',
    is_error Nullable(Int64) COMMENT '1 when ret_value is an error',
    arg0 Nullable(Int64) COMMENT 'first argument, the raw register as signed 64-bit',
    comm LowCardinality(Nullable(String)) COMMENT 'thread name, at most 16 characters',
    cgroup LowCardinality(Nullable(String)) COMMENT 'cgroup v2 path (/system.slice/x.service), resolved from the kernel\'s id when seen; empty when it was gone by then',
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (host, ifNull(syscall_name, ''), timestamp, ks_batch, ks_row);

-- syscall_stats: Per interval and syscall: every call counted, not only slow ones (like bcc syscount).
CREATE TABLE IF NOT EXISTS syscall_stats (
    timestamp Int64 COMMENT 'ns: wall-clock time, ns since the Unix epoch',
    host LowCardinality(String) COMMENT 'hostname of the machine the event describes',
    interval_ns Nullable(Int64) COMMENT 'ns',
    syscall_nr Nullable(Int64),
    syscall_name LowCardinality(String),
    count Nullable(Int64) COMMENT 'count',
    errors Nullable(Int64) COMMENT 'count',
    total_ns Nullable(Int64) COMMENT 'ns',
    max_ns Nullable(Int64) COMMENT 'ns',
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (host, syscall_name, timestamp, ks_batch, ks_row);

-- syscall_process_stats: Per interval and process: its calls of every syscall counted together (like bcc syscount -P); with --failures or --errno only those failures.
CREATE TABLE IF NOT EXISTS syscall_process_stats (
    timestamp Int64 COMMENT 'ns: wall-clock time, ns since the Unix epoch',
    host LowCardinality(String) COMMENT 'hostname of the machine the event describes',
    interval_ns Nullable(Int64) COMMENT 'ns',
    pid Int64,
    comm LowCardinality(Nullable(String)),
    cgroup LowCardinality(Nullable(String)) COMMENT 'cgroup v2 path (/system.slice/x.service), resolved from the kernel\'s id when seen; empty when it was gone by then',
    count Nullable(Int64) COMMENT 'count',
    errors Nullable(Int64) COMMENT 'count',
    total_ns Nullable(Int64) COMMENT 'ns',
    max_ns Nullable(Int64) COMMENT 'ns',
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (host, pid, timestamp, ks_batch, ks_row);

-- page_fault: A page fault slower than the threshold, or sampled; latency from fault entry to accounting, stamped when the fault was accounted.
CREATE TABLE IF NOT EXISTS page_fault_events (
    timestamp Int64 COMMENT 'ns: wall-clock time, ns since the Unix epoch',
    host LowCardinality(String) COMMENT 'hostname of the machine the event describes',
    pid Int64,
    tid Nullable(Int64),
    cpu Nullable(Int64),
    address Nullable(Int64) COMMENT 'faulting virtual address (as signed 64-bit: kernel ones are < 0)',
    latency_ns Nullable(Int64) COMMENT 'ns',
    fault_type LowCardinality(Nullable(String)) COMMENT 'minor or major',
    access_type LowCardinality(Nullable(String)) COMMENT 'read, write or exec',
    user_mode Nullable(Int64) COMMENT '1 when the fault came from user space',
    comm LowCardinality(Nullable(String)),
    cgroup LowCardinality(Nullable(String)) COMMENT 'cgroup v2 path (/system.slice/x.service), resolved from the kernel\'s id when seen; empty when it was gone by then',
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (host, timestamp, ks_batch, ks_row);

-- page_fault_stats: Per interval and process: minor and major fault counts and a latency histogram.
CREATE TABLE IF NOT EXISTS page_fault_stats (
    timestamp Int64 COMMENT 'ns: wall-clock time, ns since the Unix epoch',
    host LowCardinality(String) COMMENT 'hostname of the machine the event describes',
    interval_ns Nullable(Int64) COMMENT 'ns',
    pid Int64,
    comm LowCardinality(Nullable(String)),
    cgroup LowCardinality(Nullable(String)) COMMENT 'cgroup v2 path (/system.slice/x.service), resolved from the kernel\'s id when seen; empty when it was gone by then',
    minor_count Nullable(Int64) COMMENT 'count',
    major_count Nullable(Int64) COMMENT 'count',
    latency_sum_ns Nullable(Int64) COMMENT 'ns',
    count Nullable(Int64) COMMENT 'count: samples in the interval',
    p50_us Nullable(Float64) COMMENT 'us: median',
    p90_us Nullable(Float64) COMMENT 'us: 90th percentile',
    p95_us Nullable(Float64) COMMENT 'us: 95th percentile',
    p99_us Nullable(Float64) COMMENT 'us: 99th percentile',
    max_us Nullable(Float64) COMMENT 'us: largest sample (its bucket\'s upper bound)',
    buckets Nullable(String) COMMENT 'hist_us: histogram: JSON [[bucket, count], ...]',
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (host, pid, ifNull(comm, ''), timestamp, ks_batch, ks_row);

-- io_latency: Per interval and block device: I/O counts, bytes and latency percentiles.
CREATE TABLE IF NOT EXISTS io_latency_stats (
    timestamp Int64 COMMENT 'ns: wall-clock time, ns since the Unix epoch',
    host LowCardinality(String) COMMENT 'hostname of the machine the event describes',
    device LowCardinality(Nullable(String)) COMMENT 'block device name, e.g. vda',
    flags LowCardinality(Nullable(String)) COMMENT 'with ks-iolat --flags: the requests\' flags (sync, meta, prio, fua, preflush, readahead, background, comma-separated; none); else empty',
    interval_ns Nullable(Int64) COMMENT 'ns',
    read_count Nullable(Int64) COMMENT 'count',
    write_count Nullable(Int64) COMMENT 'count',
    read_bytes Nullable(Int64) COMMENT 'bytes',
    write_bytes Nullable(Int64) COMMENT 'bytes',
    read_p50_us Nullable(Float64) COMMENT 'us',
    read_p95_us Nullable(Float64) COMMENT 'us',
    read_p99_us Nullable(Float64) COMMENT 'us',
    read_max_us Nullable(Float64) COMMENT 'us',
    write_p50_us Nullable(Float64) COMMENT 'us',
    write_p95_us Nullable(Float64) COMMENT 'us',
    write_p99_us Nullable(Float64) COMMENT 'us',
    write_max_us Nullable(Float64) COMMENT 'us',
    read_buckets Nullable(String) COMMENT 'hist_us: read latency histogram',
    write_buckets Nullable(String) COMMENT 'hist_us: write latency histogram',
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (host, ifNull(device, ''), timestamp, ks_batch, ks_row);

-- sched: A run-queue wait longer than the threshold (default 10 ms).
CREATE TABLE IF NOT EXISTS sched_events (
    timestamp Int64 COMMENT 'ns: wall-clock time, ns since the Unix epoch',
    host LowCardinality(String) COMMENT 'hostname of the machine the event describes',
    pid Int64,
    tid Nullable(Int64),
    cpu Nullable(Int64),
    latency_ns Nullable(Int64) COMMENT 'ns: time runnable before it ran',
    prev_state LowCardinality(Nullable(String)) COMMENT 'state of the task switched out: R (preempted), S, D, ...',
    next_pid Nullable(Int64) COMMENT 'the task that got the CPU (the waiter itself)',
    comm LowCardinality(Nullable(String)),
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (host, timestamp, ks_batch, ks_row);

-- sched_stats: Per interval and process: scheduler activity (the original tracer's aggregates).
CREATE TABLE IF NOT EXISTS sched_stats (
    timestamp Int64 COMMENT 'ns: wall-clock time, ns since the Unix epoch',
    host LowCardinality(String) COMMENT 'hostname of the machine the event describes',
    interval_ns Nullable(Int64) COMMENT 'ns',
    pid Int64,
    comm LowCardinality(Nullable(String)),
    context_switches Nullable(Int64) COMMENT 'count',
    voluntary_switches Nullable(Int64) COMMENT 'count',
    involuntary_switches Nullable(Int64) COMMENT 'count',
    wakeups Nullable(Int64) COMMENT 'count',
    cgroup LowCardinality(Nullable(String)) COMMENT 'cgroup v2 path (/system.slice/x.service), resolved from the kernel\'s id when seen; empty when it was gone by then',
    cpu_time_ms Nullable(Float64) COMMENT 'ms: time on a CPU as the scheduler accounts it (se.sum_exec_runtime, as in /proc/PID/schedstat and getrusage)',
    avg_timeslice_us Nullable(Float64) COMMENT 'us: cpu_time over context_switches',
    runq_wait_ns Nullable(Int64) COMMENT 'ns: time its threads were runnable but waiting for a CPU',
    runq_waits Nullable(Int64) COMMENT 'count: run-queue waits that ended in the interval',
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (host, timestamp, ks_batch, ks_row);

-- runqlat_task: Per interval: run-queue latency histogram per process (ks-sched --hist-per process, as runqlat -P) or per thread (--hist-per thread, runqlat -L), the --top busiest; the rest summed into one row with pid -1.
CREATE TABLE IF NOT EXISTS runqlat_task_stats (
    timestamp Int64 COMMENT 'ns: wall-clock time, ns since the Unix epoch',
    host LowCardinality(String) COMMENT 'hostname of the machine the event describes',
    interval_ns Nullable(Int64) COMMENT 'ns',
    pid Int64 COMMENT 'the process; -1 for the tasks past --top',
    tid Nullable(Int64) COMMENT 'the thread (--hist-per thread); empty per process',
    comm LowCardinality(Nullable(String)),
    cgroup LowCardinality(Nullable(String)) COMMENT 'cgroup v2 path (/system.slice/x.service), resolved from the kernel\'s id when seen; empty when it was gone by then',
    sum_us Nullable(Float64) COMMENT 'us',
    count Nullable(Int64) COMMENT 'count: samples in the interval',
    p50_us Nullable(Float64) COMMENT 'us: median',
    p90_us Nullable(Float64) COMMENT 'us: 90th percentile',
    p95_us Nullable(Float64) COMMENT 'us: 95th percentile',
    p99_us Nullable(Float64) COMMENT 'us: 99th percentile',
    max_us Nullable(Float64) COMMENT 'us: largest sample (its bucket\'s upper bound)',
    buckets Nullable(String) COMMENT 'hist_us: histogram: JSON [[bucket, count], ...]',
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (host, pid, ifNull(tid, 0), timestamp, ks_batch, ks_row);

-- runqlat: Per interval: run-queue latency histogram, whole machine (cpu = -1) and per CPU.
CREATE TABLE IF NOT EXISTS runqlat_stats (
    timestamp Int64 COMMENT 'ns: wall-clock time, ns since the Unix epoch',
    host LowCardinality(String) COMMENT 'hostname of the machine the event describes',
    interval_ns Nullable(Int64) COMMENT 'ns',
    cpu Nullable(Int64) COMMENT '-1 for the whole machine',
    sum_us Nullable(Float64) COMMENT 'us',
    count Nullable(Int64) COMMENT 'count: samples in the interval',
    p50_us Nullable(Float64) COMMENT 'us: median',
    p90_us Nullable(Float64) COMMENT 'us: 90th percentile',
    p95_us Nullable(Float64) COMMENT 'us: 95th percentile',
    p99_us Nullable(Float64) COMMENT 'us: 99th percentile',
    max_us Nullable(Float64) COMMENT 'us: largest sample (its bucket\'s upper bound)',
    buckets Nullable(String) COMMENT 'hist_us: histogram: JSON [[bucket, count], ...]',
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (host, ifNull(cpu, 0), timestamp, ks_batch, ks_row);

-- rtt: Per interval and TCP peer: smoothed RTT distribution, retransmits and drops.
CREATE TABLE IF NOT EXISTS rtt_stats (
    timestamp Int64 COMMENT 'ns: wall-clock time, ns since the Unix epoch',
    host LowCardinality(String) COMMENT 'hostname of the machine the event describes',
    node LowCardinality(String) COMMENT 'name from --nodes, else the peer address',
    peer Nullable(String) COMMENT 'remote IP address',
    family Nullable(Int64) COMMENT '4 or 6',
    interval_ns Nullable(Int64) COMMENT 'ns: length of the interval',
    sum_us Nullable(Int64) COMMENT 'us: sum of the srtt seen by every segment received',
    mean_us Nullable(Float64) COMMENT 'us: sum_us / segments received',
    retrans_count Nullable(Int64) COMMENT 'count: segments retransmitted to the peer (as RetransSegs counts them)',
    drop_count Nullable(Int64) COMMENT 'count: TCP packets from or to the peer the kernel dropped, any reason',
    count Nullable(Int64) COMMENT 'count: samples in the interval',
    p50_us Nullable(Float64) COMMENT 'us: median',
    p90_us Nullable(Float64) COMMENT 'us: 90th percentile',
    p95_us Nullable(Float64) COMMENT 'us: 95th percentile',
    p99_us Nullable(Float64) COMMENT 'us: 99th percentile',
    max_us Nullable(Float64) COMMENT 'us: largest sample (its bucket\'s upper bound)',
    buckets Nullable(String) COMMENT 'hist_us: histogram: JSON [[bucket, count], ...]',
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (host, node, ifNull(peer, ''), timestamp, ks_batch, ks_row);

-- tcp_event: One TCP segment-level event: a sampled RTT, a retransmit or a drop.
CREATE TABLE IF NOT EXISTS tcp_events (
    timestamp Int64 COMMENT 'ns: wall-clock time, ns since the Unix epoch',
    host LowCardinality(String) COMMENT 'hostname of the machine the event describes',
    kind LowCardinality(String) COMMENT 'rtt, retrans or drop',
    family Nullable(Int64) COMMENT '4 or 6',
    saddr Nullable(String),
    sport Nullable(Int64),
    daddr Nullable(String),
    dport Nullable(Int64),
    value Nullable(Int64) COMMENT 'srtt in us for rtt; 0 otherwise',
    reason LowCardinality(Nullable(String)) COMMENT 'drop reason name, or TCP state for a retransmit',
    node LowCardinality(Nullable(String)) COMMENT 'name from --nodes, else the remote address',
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (host, kind, timestamp, ks_batch, ks_row);

-- collector_stats: Per interval and BPF collector: what it printed, what it lost and why, and the CPU it and its BPF programs used; so losses reach the database, not only stderr.
CREATE TABLE IF NOT EXISTS collector_stats (
    timestamp Int64 COMMENT 'ns: wall-clock time, ns since the Unix epoch',
    host LowCardinality(String) COMMENT 'hostname of the machine the event describes',
    interval_ns Nullable(Int64) COMMENT 'ns',
    collector LowCardinality(String) COMMENT 'the ks command, e.g. ks-syscalls',
    pid Nullable(Int64) COMMENT 'the collector\'s process id',
    events Nullable(Int64) COMMENT 'count: event lines printed in the interval (this one not counted)',
    lost_ringbuf Nullable(Int64) COMMENT 'count: per-event records dropped: the ring buffer was full',
    lost_map_full Nullable(Int64) COMMENT 'count: new keys not counted: a map was full',
    lost_completion Nullable(Int64) COMMENT 'count: I/O completions the kernel did not pass to BPF',
    lost_untraced_switch Nullable(Int64) COMMENT 'count: run-queue waits ended by a switch the kernel did not trace',
    lost_recursion Nullable(Int64) COMMENT 'count: program runs the kernel skipped (already running on that CPU, the hook hit again from an interrupt)',
    cpu_user_ns Nullable(Int64) COMMENT 'ns: user CPU time of the collector process (getrusage)',
    cpu_system_ns Nullable(Int64) COMMENT 'ns: system CPU time of the collector process (getrusage)',
    bpf_run_ns Nullable(Int64) COMMENT 'ns: time its BPF programs ran (NULL unless kernel.bpf_stats_enabled=1)',
    bpf_runs Nullable(Int64) COMMENT 'count: runs of its BPF programs (NULL unless kernel.bpf_stats_enabled=1)',
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (host, collector, timestamp, ks_batch, ks_row);

-- memory: /proc/meminfo.
CREATE TABLE IF NOT EXISTS memory_metrics (
    timestamp Int64 COMMENT 'ns: wall-clock time, ns since the Unix epoch',
    host LowCardinality(String) COMMENT 'hostname of the machine the event describes',
    mem_total_kb Int64 COMMENT 'kB: from MemTotal',
    mem_free_kb Nullable(Int64) COMMENT 'kB: from MemFree',
    mem_available_kb Nullable(Int64) COMMENT 'kB: from MemAvailable',
    buffers_kb Nullable(Int64) COMMENT 'kB: from Buffers',
    cached_kb Nullable(Int64) COMMENT 'kB: from Cached',
    swap_total_kb Nullable(Int64) COMMENT 'kB: from SwapTotal',
    swap_free_kb Nullable(Int64) COMMENT 'kB: from SwapFree',
    active_kb Nullable(Int64) COMMENT 'kB: from Active',
    inactive_kb Nullable(Int64) COMMENT 'kB: from Inactive',
    dirty_kb Nullable(Int64) COMMENT 'kB: from Dirty',
    writeback_kb Nullable(Int64) COMMENT 'kB: from Writeback',
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (host, timestamp, ks_batch, ks_row);

-- load: /proc/loadavg.
CREATE TABLE IF NOT EXISTS load_metrics (
    timestamp Int64 COMMENT 'ns: wall-clock time, ns since the Unix epoch',
    host LowCardinality(String) COMMENT 'hostname of the machine the event describes',
    load_1min Float64,
    load_5min Nullable(Float64),
    load_15min Nullable(Float64),
    running_processes Nullable(Int64) COMMENT 'count',
    total_processes Nullable(Int64) COMMENT 'count',
    last_pid Nullable(Int64),
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (host, timestamp, ks_batch, ks_row);

-- block: /proc/diskstats, per device; cumulative counters as the kernel keeps them.
CREATE TABLE IF NOT EXISTS block_stats (
    timestamp Int64 COMMENT 'ns: wall-clock time, ns since the Unix epoch',
    host LowCardinality(String) COMMENT 'hostname of the machine the event describes',
    device_name LowCardinality(String),
    read_ios Nullable(Int64) COMMENT 'count: from field 1',
    read_merges Nullable(Int64) COMMENT 'count: from field 2',
    read_sectors Nullable(Int64) COMMENT 'sectors: from field 3',
    read_ticks Nullable(Int64) COMMENT 'ms: from field 4',
    write_ios Nullable(Int64) COMMENT 'count: from field 5',
    write_merges Nullable(Int64) COMMENT 'count: from field 6',
    write_sectors Nullable(Int64) COMMENT 'sectors: from field 7',
    write_ticks Nullable(Int64) COMMENT 'ms: from field 8',
    in_flight Nullable(Int64) COMMENT 'count: from field 9',
    io_ticks Nullable(Int64) COMMENT 'ms: from field 10',
    time_in_queue Nullable(Int64) COMMENT 'ms: from field 11',
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (host, device_name, timestamp, ks_batch, ks_row);

-- network: /proc/net/dev, per interface; cumulative counters.
CREATE TABLE IF NOT EXISTS network_interface_stats (
    timestamp Int64 COMMENT 'ns: wall-clock time, ns since the Unix epoch',
    host LowCardinality(String) COMMENT 'hostname of the machine the event describes',
    interface_name LowCardinality(String),
    rx_bytes Nullable(Int64) COMMENT 'bytes: from Receive bytes',
    rx_packets Nullable(Int64) COMMENT 'count: from Receive packets',
    rx_errors Nullable(Int64) COMMENT 'count: from Receive errs',
    rx_drops Nullable(Int64) COMMENT 'count: from Receive drop',
    tx_bytes Nullable(Int64) COMMENT 'bytes: from Transmit bytes',
    tx_packets Nullable(Int64) COMMENT 'count: from Transmit packets',
    tx_errors Nullable(Int64) COMMENT 'count: from Transmit errs',
    tx_drops Nullable(Int64) COMMENT 'count: from Transmit drop',
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (host, interface_name, timestamp, ks_batch, ks_row);

-- tcp: TCP sockets by state, IPv4 and IPv6 together, from a sock_diag dump of every state but ESTABLISHED; established is Tcp CurrEstab minus close_wait (cheap with 10,000s of sockets).
CREATE TABLE IF NOT EXISTS tcp_stats (
    timestamp Int64 COMMENT 'ns: wall-clock time, ns since the Unix epoch',
    host LowCardinality(String) COMMENT 'hostname of the machine the event describes',
    established Int64 COMMENT 'count',
    syn_sent Nullable(Int64) COMMENT 'count',
    syn_recv Nullable(Int64) COMMENT 'count',
    fin_wait1 Nullable(Int64) COMMENT 'count',
    fin_wait2 Nullable(Int64) COMMENT 'count',
    time_wait Nullable(Int64) COMMENT 'count',
    close Nullable(Int64) COMMENT 'count',
    close_wait Nullable(Int64) COMMENT 'count',
    last_ack Nullable(Int64) COMMENT 'count',
    listen Nullable(Int64) COMMENT 'count',
    closing Nullable(Int64) COMMENT 'count',
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (host, timestamp, ks_batch, ks_row);

-- tcp_retrans: TCP retransmit and drop counters from /proc/net/snmp and /proc/net/netstat; cumulative.
CREATE TABLE IF NOT EXISTS tcp_retransmit_stats (
    timestamp Int64 COMMENT 'ns: wall-clock time, ns since the Unix epoch',
    host LowCardinality(String) COMMENT 'hostname of the machine the event describes',
    retrans_segs Int64 COMMENT 'count: from Tcp RetransSegs',
    out_segs Nullable(Int64) COMMENT 'count: from Tcp OutSegs',
    in_errs Nullable(Int64) COMMENT 'count: from Tcp InErrs',
    timeouts Nullable(Int64) COMMENT 'count: from TcpExt TCPTimeouts',
    lost_retransmit Nullable(Int64) COMMENT 'count: from TcpExt TCPLostRetransmit',
    fast_retrans Nullable(Int64) COMMENT 'count: from TcpExt TCPFastRetrans',
    slow_start_retrans Nullable(Int64) COMMENT 'count: from TcpExt TCPSlowStartRetrans',
    syn_retrans Nullable(Int64) COMMENT 'count: from TcpExt TCPSynRetrans',
    listen_overflows Nullable(Int64) COMMENT 'count: from TcpExt ListenOverflows',
    listen_drops Nullable(Int64) COMMENT 'count: from TcpExt ListenDrops',
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (host, timestamp, ks_batch, ks_row);

-- cpu: CPU utilisation over the last interval from /proc/stat deltas (cpu = -1: whole machine).
CREATE TABLE IF NOT EXISTS cpu_metrics (
    timestamp Int64 COMMENT 'ns: wall-clock time, ns since the Unix epoch',
    host LowCardinality(String) COMMENT 'hostname of the machine the event describes',
    cpu Int64 COMMENT '-1 for the whole machine',
    user_pct Nullable(Float64) COMMENT 'pct: from user',
    nice_pct Nullable(Float64) COMMENT 'pct: from nice',
    system_pct Nullable(Float64) COMMENT 'pct: from system',
    iowait_pct Nullable(Float64) COMMENT 'pct: from iowait',
    irq_pct Nullable(Float64) COMMENT 'pct: from irq',
    softirq_pct Nullable(Float64) COMMENT 'pct: from softirq',
    steal_pct Nullable(Float64) COMMENT 'pct: from steal',
    idle_pct Nullable(Float64) COMMENT 'pct: from idle',
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (host, cpu, timestamp, ks_batch, ks_row);

-- pressure: Pressure stall information (/proc/pressure) for cpu, memory and io.
CREATE TABLE IF NOT EXISTS pressure_metrics (
    timestamp Int64 COMMENT 'ns: wall-clock time, ns since the Unix epoch',
    host LowCardinality(String) COMMENT 'hostname of the machine the event describes',
    resource LowCardinality(String) COMMENT 'cpu, memory or io',
    some_avg10 Nullable(Float64) COMMENT 'pct',
    some_avg60 Nullable(Float64) COMMENT 'pct',
    some_avg300 Nullable(Float64) COMMENT 'pct',
    some_total_us Nullable(Int64) COMMENT 'us',
    full_avg10 Nullable(Float64) COMMENT 'pct',
    full_avg60 Nullable(Float64) COMMENT 'pct',
    full_avg300 Nullable(Float64) COMMENT 'pct',
    full_total_us Nullable(Int64) COMMENT 'us',
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (host, resource, timestamp, ks_batch, ks_row);

-- perf: A perf counter's value over the interval (cpu = -1: all CPUs), or a derived ratio.
CREATE TABLE IF NOT EXISTS perf_counters (
    timestamp Int64 COMMENT 'ns: wall-clock time, ns since the Unix epoch',
    host LowCardinality(String) COMMENT 'hostname of the machine the event describes',
    interval_ns Nullable(Int64) COMMENT 'ns',
    counter LowCardinality(String) COMMENT 'e.g. task-clock, context-switches, ipc',
    cpu Nullable(Int64) COMMENT '-1 for the total (the only row for scope pid:N)',
    scope LowCardinality(Nullable(String)) COMMENT 'system, pid:N (with its threads and new children) or cgroup:PATH',
    value Nullable(Float64) COMMENT 'count in the interval (ns for task-clock; a ratio for derived)',
    enabled_ns Nullable(Int64) COMMENT 'ns',
    running_ns Nullable(Int64) COMMENT 'ns',
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp, 1000000000)))
ORDER BY (host, counter, timestamp, ks_batch, ks_row);

-- syscall_stats per minute and host, syscall_name; read it with the -Merge combinators
-- (countMerge(rows), sumMapMerge(buckets), ...) and GROUP BY.
CREATE TABLE IF NOT EXISTS syscall_stats_1m (
    minute Int64 COMMENT 'ns: start of the minute',
    host LowCardinality(String),
    syscall_name LowCardinality(String),
    rows AggregateFunction(count) COMMENT 'rows summarised',
    first_ts AggregateFunction(min, Int64) COMMENT 'first row\'s timestamp',
    last_ts AggregateFunction(max, Int64) COMMENT 'last row\'s timestamp',
    interval_ns AggregateFunction(argMax, Int64, Int64) COMMENT 'the last row\'s interval',
    count AggregateFunction(sum, Int64) COMMENT 'sum',
    errors AggregateFunction(sum, Int64) COMMENT 'sum',
    total_ns AggregateFunction(sum, Int64) COMMENT 'sum',
    max_ns AggregateFunction(max, Int64) COMMENT 'largest'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(minute, 1000000000)))
ORDER BY (host, syscall_name, minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS syscall_stats_1m_mv TO syscall_stats_1m AS
SELECT
    intDiv(timestamp, 60000000000) * 60000000000 AS minute,
    host,
    syscall_name,
    countState() AS rows,
    minState(timestamp) AS first_ts,
    maxState(timestamp) AS last_ts,
    argMaxState(interval_ns, timestamp) AS interval_ns,
    sumState(count) AS count,
    sumState(errors) AS errors,
    sumState(total_ns) AS total_ns,
    maxState(max_ns) AS max_ns
FROM syscall_stats
GROUP BY minute, host, syscall_name;

-- syscall_stats per hour and host, syscall_name; read it with the -Merge combinators
-- (countMerge(rows), sumMapMerge(buckets), ...) and GROUP BY.
CREATE TABLE IF NOT EXISTS syscall_stats_1h (
    hour Int64 COMMENT 'ns: start of the hour',
    host LowCardinality(String),
    syscall_name LowCardinality(String),
    rows AggregateFunction(count) COMMENT 'rows summarised',
    first_ts AggregateFunction(min, Int64) COMMENT 'first row\'s timestamp',
    last_ts AggregateFunction(max, Int64) COMMENT 'last row\'s timestamp',
    interval_ns AggregateFunction(argMax, Int64, Int64) COMMENT 'the last row\'s interval',
    count AggregateFunction(sum, Int64) COMMENT 'sum',
    errors AggregateFunction(sum, Int64) COMMENT 'sum',
    total_ns AggregateFunction(sum, Int64) COMMENT 'sum',
    max_ns AggregateFunction(max, Int64) COMMENT 'largest'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(hour, 1000000000)))
ORDER BY (host, syscall_name, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS syscall_stats_1h_mv TO syscall_stats_1h AS
SELECT
    intDiv(timestamp, 3600000000000) * 3600000000000 AS hour,
    host,
    syscall_name,
    countState() AS rows,
    minState(timestamp) AS first_ts,
    maxState(timestamp) AS last_ts,
    argMaxState(interval_ns, timestamp) AS interval_ns,
    sumState(count) AS count,
    sumState(errors) AS errors,
    sumState(total_ns) AS total_ns,
    maxState(max_ns) AS max_ns
FROM syscall_stats
GROUP BY hour, host, syscall_name;

-- page_fault_stats per minute and host, pid, comm; read it with the -Merge combinators
-- (countMerge(rows), sumMapMerge(buckets), ...) and GROUP BY.
CREATE TABLE IF NOT EXISTS page_fault_stats_1m (
    minute Int64 COMMENT 'ns: start of the minute',
    host LowCardinality(String),
    pid Int64,
    comm LowCardinality(Nullable(String)),
    rows AggregateFunction(count) COMMENT 'rows summarised',
    first_ts AggregateFunction(min, Int64) COMMENT 'first row\'s timestamp',
    last_ts AggregateFunction(max, Int64) COMMENT 'last row\'s timestamp',
    interval_ns AggregateFunction(argMax, Int64, Int64) COMMENT 'the last row\'s interval',
    minor_count AggregateFunction(sum, Int64) COMMENT 'sum',
    major_count AggregateFunction(sum, Int64) COMMENT 'sum',
    latency_sum_ns AggregateFunction(sum, Int64) COMMENT 'sum',
    count AggregateFunction(sum, Int64) COMMENT 'sum',
    buckets AggregateFunction(sumMap, Array(Int64), Array(Int64)) COMMENT 'hist_us: the rows\' buckets, summed per bucket'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(minute, 1000000000)))
ORDER BY (host, pid, ifNull(comm, ''), minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS page_fault_stats_1m_mv TO page_fault_stats_1m AS
SELECT
    intDiv(timestamp, 60000000000) * 60000000000 AS minute,
    host,
    pid,
    comm,
    countState() AS rows,
    minState(timestamp) AS first_ts,
    maxState(timestamp) AS last_ts,
    argMaxState(interval_ns, timestamp) AS interval_ns,
    sumState(minor_count) AS minor_count,
    sumState(major_count) AS major_count,
    sumState(latency_sum_ns) AS latency_sum_ns,
    sumState(count) AS count,
    sumMapState(arrayMap(x -> toInt64(x), extractAll(ifNull(buckets, ''), '\\[\\s*(-?\\d+)\\s*,')), arrayMap(x -> toInt64(x), extractAll(ifNull(buckets, ''), ',\\s*(-?\\d+)\\s*\\]'))) AS buckets
FROM page_fault_stats
GROUP BY minute, host, pid, comm;

-- page_fault_stats per hour and host, pid, comm; read it with the -Merge combinators
-- (countMerge(rows), sumMapMerge(buckets), ...) and GROUP BY.
CREATE TABLE IF NOT EXISTS page_fault_stats_1h (
    hour Int64 COMMENT 'ns: start of the hour',
    host LowCardinality(String),
    pid Int64,
    comm LowCardinality(Nullable(String)),
    rows AggregateFunction(count) COMMENT 'rows summarised',
    first_ts AggregateFunction(min, Int64) COMMENT 'first row\'s timestamp',
    last_ts AggregateFunction(max, Int64) COMMENT 'last row\'s timestamp',
    interval_ns AggregateFunction(argMax, Int64, Int64) COMMENT 'the last row\'s interval',
    minor_count AggregateFunction(sum, Int64) COMMENT 'sum',
    major_count AggregateFunction(sum, Int64) COMMENT 'sum',
    latency_sum_ns AggregateFunction(sum, Int64) COMMENT 'sum',
    count AggregateFunction(sum, Int64) COMMENT 'sum',
    buckets AggregateFunction(sumMap, Array(Int64), Array(Int64)) COMMENT 'hist_us: the rows\' buckets, summed per bucket'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(hour, 1000000000)))
ORDER BY (host, pid, ifNull(comm, ''), hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS page_fault_stats_1h_mv TO page_fault_stats_1h AS
SELECT
    intDiv(timestamp, 3600000000000) * 3600000000000 AS hour,
    host,
    pid,
    comm,
    countState() AS rows,
    minState(timestamp) AS first_ts,
    maxState(timestamp) AS last_ts,
    argMaxState(interval_ns, timestamp) AS interval_ns,
    sumState(minor_count) AS minor_count,
    sumState(major_count) AS major_count,
    sumState(latency_sum_ns) AS latency_sum_ns,
    sumState(count) AS count,
    sumMapState(arrayMap(x -> toInt64(x), extractAll(ifNull(buckets, ''), '\\[\\s*(-?\\d+)\\s*,')), arrayMap(x -> toInt64(x), extractAll(ifNull(buckets, ''), ',\\s*(-?\\d+)\\s*\\]'))) AS buckets
FROM page_fault_stats
GROUP BY hour, host, pid, comm;

-- io_latency_stats per minute and host, device; read it with the -Merge combinators
-- (countMerge(rows), sumMapMerge(buckets), ...) and GROUP BY.
CREATE TABLE IF NOT EXISTS io_latency_stats_1m (
    minute Int64 COMMENT 'ns: start of the minute',
    host LowCardinality(String),
    device LowCardinality(Nullable(String)),
    rows AggregateFunction(count) COMMENT 'rows summarised',
    first_ts AggregateFunction(min, Int64) COMMENT 'first row\'s timestamp',
    last_ts AggregateFunction(max, Int64) COMMENT 'last row\'s timestamp',
    interval_ns AggregateFunction(argMax, Int64, Int64) COMMENT 'the last row\'s interval',
    read_count AggregateFunction(sum, Int64) COMMENT 'sum',
    write_count AggregateFunction(sum, Int64) COMMENT 'sum',
    read_bytes AggregateFunction(sum, Int64) COMMENT 'sum',
    write_bytes AggregateFunction(sum, Int64) COMMENT 'sum',
    read_buckets AggregateFunction(sumMap, Array(Int64), Array(Int64)) COMMENT 'hist_us: the rows\' buckets, summed per bucket',
    write_buckets AggregateFunction(sumMap, Array(Int64), Array(Int64)) COMMENT 'hist_us: the rows\' buckets, summed per bucket'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(minute, 1000000000)))
ORDER BY (host, ifNull(device, ''), minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS io_latency_stats_1m_mv TO io_latency_stats_1m AS
SELECT
    intDiv(timestamp, 60000000000) * 60000000000 AS minute,
    host,
    device,
    countState() AS rows,
    minState(timestamp) AS first_ts,
    maxState(timestamp) AS last_ts,
    argMaxState(interval_ns, timestamp) AS interval_ns,
    sumState(read_count) AS read_count,
    sumState(write_count) AS write_count,
    sumState(read_bytes) AS read_bytes,
    sumState(write_bytes) AS write_bytes,
    sumMapState(arrayMap(x -> toInt64(x), extractAll(ifNull(read_buckets, ''), '\\[\\s*(-?\\d+)\\s*,')), arrayMap(x -> toInt64(x), extractAll(ifNull(read_buckets, ''), ',\\s*(-?\\d+)\\s*\\]'))) AS read_buckets,
    sumMapState(arrayMap(x -> toInt64(x), extractAll(ifNull(write_buckets, ''), '\\[\\s*(-?\\d+)\\s*,')), arrayMap(x -> toInt64(x), extractAll(ifNull(write_buckets, ''), ',\\s*(-?\\d+)\\s*\\]'))) AS write_buckets
FROM io_latency_stats
GROUP BY minute, host, device;

-- io_latency_stats per hour and host, device; read it with the -Merge combinators
-- (countMerge(rows), sumMapMerge(buckets), ...) and GROUP BY.
CREATE TABLE IF NOT EXISTS io_latency_stats_1h (
    hour Int64 COMMENT 'ns: start of the hour',
    host LowCardinality(String),
    device LowCardinality(Nullable(String)),
    rows AggregateFunction(count) COMMENT 'rows summarised',
    first_ts AggregateFunction(min, Int64) COMMENT 'first row\'s timestamp',
    last_ts AggregateFunction(max, Int64) COMMENT 'last row\'s timestamp',
    interval_ns AggregateFunction(argMax, Int64, Int64) COMMENT 'the last row\'s interval',
    read_count AggregateFunction(sum, Int64) COMMENT 'sum',
    write_count AggregateFunction(sum, Int64) COMMENT 'sum',
    read_bytes AggregateFunction(sum, Int64) COMMENT 'sum',
    write_bytes AggregateFunction(sum, Int64) COMMENT 'sum',
    read_buckets AggregateFunction(sumMap, Array(Int64), Array(Int64)) COMMENT 'hist_us: the rows\' buckets, summed per bucket',
    write_buckets AggregateFunction(sumMap, Array(Int64), Array(Int64)) COMMENT 'hist_us: the rows\' buckets, summed per bucket'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(hour, 1000000000)))
ORDER BY (host, ifNull(device, ''), hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS io_latency_stats_1h_mv TO io_latency_stats_1h AS
SELECT
    intDiv(timestamp, 3600000000000) * 3600000000000 AS hour,
    host,
    device,
    countState() AS rows,
    minState(timestamp) AS first_ts,
    maxState(timestamp) AS last_ts,
    argMaxState(interval_ns, timestamp) AS interval_ns,
    sumState(read_count) AS read_count,
    sumState(write_count) AS write_count,
    sumState(read_bytes) AS read_bytes,
    sumState(write_bytes) AS write_bytes,
    sumMapState(arrayMap(x -> toInt64(x), extractAll(ifNull(read_buckets, ''), '\\[\\s*(-?\\d+)\\s*,')), arrayMap(x -> toInt64(x), extractAll(ifNull(read_buckets, ''), ',\\s*(-?\\d+)\\s*\\]'))) AS read_buckets,
    sumMapState(arrayMap(x -> toInt64(x), extractAll(ifNull(write_buckets, ''), '\\[\\s*(-?\\d+)\\s*,')), arrayMap(x -> toInt64(x), extractAll(ifNull(write_buckets, ''), ',\\s*(-?\\d+)\\s*\\]'))) AS write_buckets
FROM io_latency_stats
GROUP BY hour, host, device;

-- runqlat_task_stats per minute and host, pid, tid; read it with the -Merge combinators
-- (countMerge(rows), sumMapMerge(buckets), ...) and GROUP BY.
CREATE TABLE IF NOT EXISTS runqlat_task_stats_1m (
    minute Int64 COMMENT 'ns: start of the minute',
    host LowCardinality(String),
    pid Int64,
    tid Nullable(Int64),
    rows AggregateFunction(count) COMMENT 'rows summarised',
    first_ts AggregateFunction(min, Int64) COMMENT 'first row\'s timestamp',
    last_ts AggregateFunction(max, Int64) COMMENT 'last row\'s timestamp',
    interval_ns AggregateFunction(argMax, Int64, Int64) COMMENT 'the last row\'s interval',
    sum_us AggregateFunction(sum, Float64) COMMENT 'sum',
    count AggregateFunction(sum, Int64) COMMENT 'sum',
    buckets AggregateFunction(sumMap, Array(Int64), Array(Int64)) COMMENT 'hist_us: the rows\' buckets, summed per bucket'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(minute, 1000000000)))
ORDER BY (host, pid, ifNull(tid, 0), minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS runqlat_task_stats_1m_mv TO runqlat_task_stats_1m AS
SELECT
    intDiv(timestamp, 60000000000) * 60000000000 AS minute,
    host,
    pid,
    tid,
    countState() AS rows,
    minState(timestamp) AS first_ts,
    maxState(timestamp) AS last_ts,
    argMaxState(interval_ns, timestamp) AS interval_ns,
    sumState(sum_us) AS sum_us,
    sumState(count) AS count,
    sumMapState(arrayMap(x -> toInt64(x), extractAll(ifNull(buckets, ''), '\\[\\s*(-?\\d+)\\s*,')), arrayMap(x -> toInt64(x), extractAll(ifNull(buckets, ''), ',\\s*(-?\\d+)\\s*\\]'))) AS buckets
FROM runqlat_task_stats
GROUP BY minute, host, pid, tid;

-- runqlat_task_stats per hour and host, pid, tid; read it with the -Merge combinators
-- (countMerge(rows), sumMapMerge(buckets), ...) and GROUP BY.
CREATE TABLE IF NOT EXISTS runqlat_task_stats_1h (
    hour Int64 COMMENT 'ns: start of the hour',
    host LowCardinality(String),
    pid Int64,
    tid Nullable(Int64),
    rows AggregateFunction(count) COMMENT 'rows summarised',
    first_ts AggregateFunction(min, Int64) COMMENT 'first row\'s timestamp',
    last_ts AggregateFunction(max, Int64) COMMENT 'last row\'s timestamp',
    interval_ns AggregateFunction(argMax, Int64, Int64) COMMENT 'the last row\'s interval',
    sum_us AggregateFunction(sum, Float64) COMMENT 'sum',
    count AggregateFunction(sum, Int64) COMMENT 'sum',
    buckets AggregateFunction(sumMap, Array(Int64), Array(Int64)) COMMENT 'hist_us: the rows\' buckets, summed per bucket'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(hour, 1000000000)))
ORDER BY (host, pid, ifNull(tid, 0), hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS runqlat_task_stats_1h_mv TO runqlat_task_stats_1h AS
SELECT
    intDiv(timestamp, 3600000000000) * 3600000000000 AS hour,
    host,
    pid,
    tid,
    countState() AS rows,
    minState(timestamp) AS first_ts,
    maxState(timestamp) AS last_ts,
    argMaxState(interval_ns, timestamp) AS interval_ns,
    sumState(sum_us) AS sum_us,
    sumState(count) AS count,
    sumMapState(arrayMap(x -> toInt64(x), extractAll(ifNull(buckets, ''), '\\[\\s*(-?\\d+)\\s*,')), arrayMap(x -> toInt64(x), extractAll(ifNull(buckets, ''), ',\\s*(-?\\d+)\\s*\\]'))) AS buckets
FROM runqlat_task_stats
GROUP BY hour, host, pid, tid;

-- runqlat_stats per minute and host, cpu; read it with the -Merge combinators
-- (countMerge(rows), sumMapMerge(buckets), ...) and GROUP BY.
CREATE TABLE IF NOT EXISTS runqlat_stats_1m (
    minute Int64 COMMENT 'ns: start of the minute',
    host LowCardinality(String),
    cpu Nullable(Int64),
    rows AggregateFunction(count) COMMENT 'rows summarised',
    first_ts AggregateFunction(min, Int64) COMMENT 'first row\'s timestamp',
    last_ts AggregateFunction(max, Int64) COMMENT 'last row\'s timestamp',
    interval_ns AggregateFunction(argMax, Int64, Int64) COMMENT 'the last row\'s interval',
    sum_us AggregateFunction(sum, Float64) COMMENT 'sum',
    count AggregateFunction(sum, Int64) COMMENT 'sum',
    buckets AggregateFunction(sumMap, Array(Int64), Array(Int64)) COMMENT 'hist_us: the rows\' buckets, summed per bucket'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(minute, 1000000000)))
ORDER BY (host, ifNull(cpu, 0), minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS runqlat_stats_1m_mv TO runqlat_stats_1m AS
SELECT
    intDiv(timestamp, 60000000000) * 60000000000 AS minute,
    host,
    cpu,
    countState() AS rows,
    minState(timestamp) AS first_ts,
    maxState(timestamp) AS last_ts,
    argMaxState(interval_ns, timestamp) AS interval_ns,
    sumState(sum_us) AS sum_us,
    sumState(count) AS count,
    sumMapState(arrayMap(x -> toInt64(x), extractAll(ifNull(buckets, ''), '\\[\\s*(-?\\d+)\\s*,')), arrayMap(x -> toInt64(x), extractAll(ifNull(buckets, ''), ',\\s*(-?\\d+)\\s*\\]'))) AS buckets
FROM runqlat_stats
GROUP BY minute, host, cpu;

-- runqlat_stats per hour and host, cpu; read it with the -Merge combinators
-- (countMerge(rows), sumMapMerge(buckets), ...) and GROUP BY.
CREATE TABLE IF NOT EXISTS runqlat_stats_1h (
    hour Int64 COMMENT 'ns: start of the hour',
    host LowCardinality(String),
    cpu Nullable(Int64),
    rows AggregateFunction(count) COMMENT 'rows summarised',
    first_ts AggregateFunction(min, Int64) COMMENT 'first row\'s timestamp',
    last_ts AggregateFunction(max, Int64) COMMENT 'last row\'s timestamp',
    interval_ns AggregateFunction(argMax, Int64, Int64) COMMENT 'the last row\'s interval',
    sum_us AggregateFunction(sum, Float64) COMMENT 'sum',
    count AggregateFunction(sum, Int64) COMMENT 'sum',
    buckets AggregateFunction(sumMap, Array(Int64), Array(Int64)) COMMENT 'hist_us: the rows\' buckets, summed per bucket'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(hour, 1000000000)))
ORDER BY (host, ifNull(cpu, 0), hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS runqlat_stats_1h_mv TO runqlat_stats_1h AS
SELECT
    intDiv(timestamp, 3600000000000) * 3600000000000 AS hour,
    host,
    cpu,
    countState() AS rows,
    minState(timestamp) AS first_ts,
    maxState(timestamp) AS last_ts,
    argMaxState(interval_ns, timestamp) AS interval_ns,
    sumState(sum_us) AS sum_us,
    sumState(count) AS count,
    sumMapState(arrayMap(x -> toInt64(x), extractAll(ifNull(buckets, ''), '\\[\\s*(-?\\d+)\\s*,')), arrayMap(x -> toInt64(x), extractAll(ifNull(buckets, ''), ',\\s*(-?\\d+)\\s*\\]'))) AS buckets
FROM runqlat_stats
GROUP BY hour, host, cpu;

-- rtt_stats per minute and host, node, peer; read it with the -Merge combinators
-- (countMerge(rows), sumMapMerge(buckets), ...) and GROUP BY.
CREATE TABLE IF NOT EXISTS rtt_stats_1m (
    minute Int64 COMMENT 'ns: start of the minute',
    host LowCardinality(String),
    node LowCardinality(String),
    peer Nullable(String),
    rows AggregateFunction(count) COMMENT 'rows summarised',
    first_ts AggregateFunction(min, Int64) COMMENT 'first row\'s timestamp',
    last_ts AggregateFunction(max, Int64) COMMENT 'last row\'s timestamp',
    interval_ns AggregateFunction(argMax, Int64, Int64) COMMENT 'the last row\'s interval',
    count AggregateFunction(sum, Int64) COMMENT 'sum',
    sum_us AggregateFunction(sum, Int64) COMMENT 'sum',
    retrans_count AggregateFunction(sum, Int64) COMMENT 'sum',
    drop_count AggregateFunction(sum, Int64) COMMENT 'sum',
    buckets AggregateFunction(sumMap, Array(Int64), Array(Int64)) COMMENT 'hist_us: the rows\' buckets, summed per bucket'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(minute, 1000000000)))
ORDER BY (host, node, ifNull(peer, ''), minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS rtt_stats_1m_mv TO rtt_stats_1m AS
SELECT
    intDiv(timestamp, 60000000000) * 60000000000 AS minute,
    host,
    node,
    peer,
    countState() AS rows,
    minState(timestamp) AS first_ts,
    maxState(timestamp) AS last_ts,
    argMaxState(interval_ns, timestamp) AS interval_ns,
    sumState(count) AS count,
    sumState(sum_us) AS sum_us,
    sumState(retrans_count) AS retrans_count,
    sumState(drop_count) AS drop_count,
    sumMapState(arrayMap(x -> toInt64(x), extractAll(ifNull(buckets, ''), '\\[\\s*(-?\\d+)\\s*,')), arrayMap(x -> toInt64(x), extractAll(ifNull(buckets, ''), ',\\s*(-?\\d+)\\s*\\]'))) AS buckets
FROM rtt_stats
GROUP BY minute, host, node, peer;

-- rtt_stats per hour and host, node, peer; read it with the -Merge combinators
-- (countMerge(rows), sumMapMerge(buckets), ...) and GROUP BY.
CREATE TABLE IF NOT EXISTS rtt_stats_1h (
    hour Int64 COMMENT 'ns: start of the hour',
    host LowCardinality(String),
    node LowCardinality(String),
    peer Nullable(String),
    rows AggregateFunction(count) COMMENT 'rows summarised',
    first_ts AggregateFunction(min, Int64) COMMENT 'first row\'s timestamp',
    last_ts AggregateFunction(max, Int64) COMMENT 'last row\'s timestamp',
    interval_ns AggregateFunction(argMax, Int64, Int64) COMMENT 'the last row\'s interval',
    count AggregateFunction(sum, Int64) COMMENT 'sum',
    sum_us AggregateFunction(sum, Int64) COMMENT 'sum',
    retrans_count AggregateFunction(sum, Int64) COMMENT 'sum',
    drop_count AggregateFunction(sum, Int64) COMMENT 'sum',
    buckets AggregateFunction(sumMap, Array(Int64), Array(Int64)) COMMENT 'hist_us: the rows\' buckets, summed per bucket'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(hour, 1000000000)))
ORDER BY (host, node, ifNull(peer, ''), hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS rtt_stats_1h_mv TO rtt_stats_1h AS
SELECT
    intDiv(timestamp, 3600000000000) * 3600000000000 AS hour,
    host,
    node,
    peer,
    countState() AS rows,
    minState(timestamp) AS first_ts,
    maxState(timestamp) AS last_ts,
    argMaxState(interval_ns, timestamp) AS interval_ns,
    sumState(count) AS count,
    sumState(sum_us) AS sum_us,
    sumState(retrans_count) AS retrans_count,
    sumState(drop_count) AS drop_count,
    sumMapState(arrayMap(x -> toInt64(x), extractAll(ifNull(buckets, ''), '\\[\\s*(-?\\d+)\\s*,')), arrayMap(x -> toInt64(x), extractAll(ifNull(buckets, ''), ',\\s*(-?\\d+)\\s*\\]'))) AS buckets
FROM rtt_stats
GROUP BY hour, host, node, peer;

-- collector_stats per minute and host, collector; read it with the -Merge combinators
-- (countMerge(rows), sumMapMerge(buckets), ...) and GROUP BY.
CREATE TABLE IF NOT EXISTS collector_stats_1m (
    minute Int64 COMMENT 'ns: start of the minute',
    host LowCardinality(String),
    collector LowCardinality(String),
    rows AggregateFunction(count) COMMENT 'rows summarised',
    first_ts AggregateFunction(min, Int64) COMMENT 'first row\'s timestamp',
    last_ts AggregateFunction(max, Int64) COMMENT 'last row\'s timestamp',
    interval_ns AggregateFunction(argMax, Int64, Int64) COMMENT 'the last row\'s interval',
    events AggregateFunction(sum, Int64) COMMENT 'sum',
    lost_ringbuf AggregateFunction(sum, Int64) COMMENT 'sum',
    lost_map_full AggregateFunction(sum, Int64) COMMENT 'sum',
    lost_completion AggregateFunction(sum, Int64) COMMENT 'sum',
    lost_untraced_switch AggregateFunction(sum, Int64) COMMENT 'sum',
    lost_recursion AggregateFunction(sum, Int64) COMMENT 'sum',
    cpu_user_ns AggregateFunction(sum, Int64) COMMENT 'sum',
    cpu_system_ns AggregateFunction(sum, Int64) COMMENT 'sum',
    bpf_run_ns AggregateFunction(sum, Int64) COMMENT 'sum',
    bpf_runs AggregateFunction(sum, Int64) COMMENT 'sum'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(minute, 1000000000)))
ORDER BY (host, collector, minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS collector_stats_1m_mv TO collector_stats_1m AS
SELECT
    intDiv(timestamp, 60000000000) * 60000000000 AS minute,
    host,
    collector,
    countState() AS rows,
    minState(timestamp) AS first_ts,
    maxState(timestamp) AS last_ts,
    argMaxState(interval_ns, timestamp) AS interval_ns,
    sumState(events) AS events,
    sumState(lost_ringbuf) AS lost_ringbuf,
    sumState(lost_map_full) AS lost_map_full,
    sumState(lost_completion) AS lost_completion,
    sumState(lost_untraced_switch) AS lost_untraced_switch,
    sumState(lost_recursion) AS lost_recursion,
    sumState(cpu_user_ns) AS cpu_user_ns,
    sumState(cpu_system_ns) AS cpu_system_ns,
    sumState(bpf_run_ns) AS bpf_run_ns,
    sumState(bpf_runs) AS bpf_runs
FROM collector_stats
GROUP BY minute, host, collector;

-- collector_stats per hour and host, collector; read it with the -Merge combinators
-- (countMerge(rows), sumMapMerge(buckets), ...) and GROUP BY.
CREATE TABLE IF NOT EXISTS collector_stats_1h (
    hour Int64 COMMENT 'ns: start of the hour',
    host LowCardinality(String),
    collector LowCardinality(String),
    rows AggregateFunction(count) COMMENT 'rows summarised',
    first_ts AggregateFunction(min, Int64) COMMENT 'first row\'s timestamp',
    last_ts AggregateFunction(max, Int64) COMMENT 'last row\'s timestamp',
    interval_ns AggregateFunction(argMax, Int64, Int64) COMMENT 'the last row\'s interval',
    events AggregateFunction(sum, Int64) COMMENT 'sum',
    lost_ringbuf AggregateFunction(sum, Int64) COMMENT 'sum',
    lost_map_full AggregateFunction(sum, Int64) COMMENT 'sum',
    lost_completion AggregateFunction(sum, Int64) COMMENT 'sum',
    lost_untraced_switch AggregateFunction(sum, Int64) COMMENT 'sum',
    lost_recursion AggregateFunction(sum, Int64) COMMENT 'sum',
    cpu_user_ns AggregateFunction(sum, Int64) COMMENT 'sum',
    cpu_system_ns AggregateFunction(sum, Int64) COMMENT 'sum',
    bpf_run_ns AggregateFunction(sum, Int64) COMMENT 'sum',
    bpf_runs AggregateFunction(sum, Int64) COMMENT 'sum'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(hour, 1000000000)))
ORDER BY (host, collector, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS collector_stats_1h_mv TO collector_stats_1h AS
SELECT
    intDiv(timestamp, 3600000000000) * 3600000000000 AS hour,
    host,
    collector,
    countState() AS rows,
    minState(timestamp) AS first_ts,
    maxState(timestamp) AS last_ts,
    argMaxState(interval_ns, timestamp) AS interval_ns,
    sumState(events) AS events,
    sumState(lost_ringbuf) AS lost_ringbuf,
    sumState(lost_map_full) AS lost_map_full,
    sumState(lost_completion) AS lost_completion,
    sumState(lost_untraced_switch) AS lost_untraced_switch,
    sumState(lost_recursion) AS lost_recursion,
    sumState(cpu_user_ns) AS cpu_user_ns,
    sumState(cpu_system_ns) AS cpu_system_ns,
    sumState(bpf_run_ns) AS bpf_run_ns,
    sumState(bpf_runs) AS bpf_runs
FROM collector_stats
GROUP BY hour, host, collector;

-- block_stats per minute and host, device_name; read it with the -Merge combinators
-- (countMerge(rows), sumMapMerge(buckets), ...) and GROUP BY.
CREATE TABLE IF NOT EXISTS block_stats_1m (
    minute Int64 COMMENT 'ns: start of the minute',
    host LowCardinality(String),
    device_name LowCardinality(String),
    rows AggregateFunction(count) COMMENT 'rows summarised',
    first_ts AggregateFunction(min, Int64) COMMENT 'first row\'s timestamp',
    last_ts AggregateFunction(max, Int64) COMMENT 'last row\'s timestamp',
    in_flight AggregateFunction(max, Int64) COMMENT 'largest',
    read_ios_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    read_ios_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    read_merges_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    read_merges_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    read_sectors_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    read_sectors_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    read_ticks_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    read_ticks_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    write_ios_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    write_ios_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    write_merges_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    write_merges_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    write_sectors_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    write_sectors_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    write_ticks_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    write_ticks_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    io_ticks_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    io_ticks_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    time_in_queue_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    time_in_queue_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(minute, 1000000000)))
ORDER BY (host, device_name, minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS block_stats_1m_mv TO block_stats_1m AS
SELECT
    intDiv(timestamp, 60000000000) * 60000000000 AS minute,
    host,
    device_name,
    countState() AS rows,
    minState(timestamp) AS first_ts,
    maxState(timestamp) AS last_ts,
    maxState(in_flight) AS in_flight,
    argMinState(read_ios, timestamp) AS read_ios_first,
    argMaxState(read_ios, timestamp) AS read_ios_last,
    argMinState(read_merges, timestamp) AS read_merges_first,
    argMaxState(read_merges, timestamp) AS read_merges_last,
    argMinState(read_sectors, timestamp) AS read_sectors_first,
    argMaxState(read_sectors, timestamp) AS read_sectors_last,
    argMinState(read_ticks, timestamp) AS read_ticks_first,
    argMaxState(read_ticks, timestamp) AS read_ticks_last,
    argMinState(write_ios, timestamp) AS write_ios_first,
    argMaxState(write_ios, timestamp) AS write_ios_last,
    argMinState(write_merges, timestamp) AS write_merges_first,
    argMaxState(write_merges, timestamp) AS write_merges_last,
    argMinState(write_sectors, timestamp) AS write_sectors_first,
    argMaxState(write_sectors, timestamp) AS write_sectors_last,
    argMinState(write_ticks, timestamp) AS write_ticks_first,
    argMaxState(write_ticks, timestamp) AS write_ticks_last,
    argMinState(io_ticks, timestamp) AS io_ticks_first,
    argMaxState(io_ticks, timestamp) AS io_ticks_last,
    argMinState(time_in_queue, timestamp) AS time_in_queue_first,
    argMaxState(time_in_queue, timestamp) AS time_in_queue_last
FROM block_stats
GROUP BY minute, host, device_name;

-- block_stats per hour and host, device_name; read it with the -Merge combinators
-- (countMerge(rows), sumMapMerge(buckets), ...) and GROUP BY.
CREATE TABLE IF NOT EXISTS block_stats_1h (
    hour Int64 COMMENT 'ns: start of the hour',
    host LowCardinality(String),
    device_name LowCardinality(String),
    rows AggregateFunction(count) COMMENT 'rows summarised',
    first_ts AggregateFunction(min, Int64) COMMENT 'first row\'s timestamp',
    last_ts AggregateFunction(max, Int64) COMMENT 'last row\'s timestamp',
    in_flight AggregateFunction(max, Int64) COMMENT 'largest',
    read_ios_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    read_ios_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    read_merges_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    read_merges_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    read_sectors_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    read_sectors_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    read_ticks_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    read_ticks_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    write_ios_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    write_ios_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    write_merges_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    write_merges_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    write_sectors_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    write_sectors_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    write_ticks_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    write_ticks_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    io_ticks_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    io_ticks_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    time_in_queue_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    time_in_queue_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(hour, 1000000000)))
ORDER BY (host, device_name, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS block_stats_1h_mv TO block_stats_1h AS
SELECT
    intDiv(timestamp, 3600000000000) * 3600000000000 AS hour,
    host,
    device_name,
    countState() AS rows,
    minState(timestamp) AS first_ts,
    maxState(timestamp) AS last_ts,
    maxState(in_flight) AS in_flight,
    argMinState(read_ios, timestamp) AS read_ios_first,
    argMaxState(read_ios, timestamp) AS read_ios_last,
    argMinState(read_merges, timestamp) AS read_merges_first,
    argMaxState(read_merges, timestamp) AS read_merges_last,
    argMinState(read_sectors, timestamp) AS read_sectors_first,
    argMaxState(read_sectors, timestamp) AS read_sectors_last,
    argMinState(read_ticks, timestamp) AS read_ticks_first,
    argMaxState(read_ticks, timestamp) AS read_ticks_last,
    argMinState(write_ios, timestamp) AS write_ios_first,
    argMaxState(write_ios, timestamp) AS write_ios_last,
    argMinState(write_merges, timestamp) AS write_merges_first,
    argMaxState(write_merges, timestamp) AS write_merges_last,
    argMinState(write_sectors, timestamp) AS write_sectors_first,
    argMaxState(write_sectors, timestamp) AS write_sectors_last,
    argMinState(write_ticks, timestamp) AS write_ticks_first,
    argMaxState(write_ticks, timestamp) AS write_ticks_last,
    argMinState(io_ticks, timestamp) AS io_ticks_first,
    argMaxState(io_ticks, timestamp) AS io_ticks_last,
    argMinState(time_in_queue, timestamp) AS time_in_queue_first,
    argMaxState(time_in_queue, timestamp) AS time_in_queue_last
FROM block_stats
GROUP BY hour, host, device_name;

-- network_interface_stats per minute and host, interface_name; read it with the -Merge combinators
-- (countMerge(rows), sumMapMerge(buckets), ...) and GROUP BY.
CREATE TABLE IF NOT EXISTS network_interface_stats_1m (
    minute Int64 COMMENT 'ns: start of the minute',
    host LowCardinality(String),
    interface_name LowCardinality(String),
    rows AggregateFunction(count) COMMENT 'rows summarised',
    first_ts AggregateFunction(min, Int64) COMMENT 'first row\'s timestamp',
    last_ts AggregateFunction(max, Int64) COMMENT 'last row\'s timestamp',
    rx_bytes_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    rx_bytes_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    rx_packets_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    rx_packets_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    rx_errors_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    rx_errors_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    rx_drops_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    rx_drops_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    tx_bytes_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    tx_bytes_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    tx_packets_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    tx_packets_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    tx_errors_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    tx_errors_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    tx_drops_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    tx_drops_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(minute, 1000000000)))
ORDER BY (host, interface_name, minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS network_interface_stats_1m_mv TO network_interface_stats_1m AS
SELECT
    intDiv(timestamp, 60000000000) * 60000000000 AS minute,
    host,
    interface_name,
    countState() AS rows,
    minState(timestamp) AS first_ts,
    maxState(timestamp) AS last_ts,
    argMinState(rx_bytes, timestamp) AS rx_bytes_first,
    argMaxState(rx_bytes, timestamp) AS rx_bytes_last,
    argMinState(rx_packets, timestamp) AS rx_packets_first,
    argMaxState(rx_packets, timestamp) AS rx_packets_last,
    argMinState(rx_errors, timestamp) AS rx_errors_first,
    argMaxState(rx_errors, timestamp) AS rx_errors_last,
    argMinState(rx_drops, timestamp) AS rx_drops_first,
    argMaxState(rx_drops, timestamp) AS rx_drops_last,
    argMinState(tx_bytes, timestamp) AS tx_bytes_first,
    argMaxState(tx_bytes, timestamp) AS tx_bytes_last,
    argMinState(tx_packets, timestamp) AS tx_packets_first,
    argMaxState(tx_packets, timestamp) AS tx_packets_last,
    argMinState(tx_errors, timestamp) AS tx_errors_first,
    argMaxState(tx_errors, timestamp) AS tx_errors_last,
    argMinState(tx_drops, timestamp) AS tx_drops_first,
    argMaxState(tx_drops, timestamp) AS tx_drops_last
FROM network_interface_stats
GROUP BY minute, host, interface_name;

-- network_interface_stats per hour and host, interface_name; read it with the -Merge combinators
-- (countMerge(rows), sumMapMerge(buckets), ...) and GROUP BY.
CREATE TABLE IF NOT EXISTS network_interface_stats_1h (
    hour Int64 COMMENT 'ns: start of the hour',
    host LowCardinality(String),
    interface_name LowCardinality(String),
    rows AggregateFunction(count) COMMENT 'rows summarised',
    first_ts AggregateFunction(min, Int64) COMMENT 'first row\'s timestamp',
    last_ts AggregateFunction(max, Int64) COMMENT 'last row\'s timestamp',
    rx_bytes_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    rx_bytes_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    rx_packets_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    rx_packets_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    rx_errors_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    rx_errors_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    rx_drops_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    rx_drops_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    tx_bytes_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    tx_bytes_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    tx_packets_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    tx_packets_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    tx_errors_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    tx_errors_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    tx_drops_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    tx_drops_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(hour, 1000000000)))
ORDER BY (host, interface_name, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS network_interface_stats_1h_mv TO network_interface_stats_1h AS
SELECT
    intDiv(timestamp, 3600000000000) * 3600000000000 AS hour,
    host,
    interface_name,
    countState() AS rows,
    minState(timestamp) AS first_ts,
    maxState(timestamp) AS last_ts,
    argMinState(rx_bytes, timestamp) AS rx_bytes_first,
    argMaxState(rx_bytes, timestamp) AS rx_bytes_last,
    argMinState(rx_packets, timestamp) AS rx_packets_first,
    argMaxState(rx_packets, timestamp) AS rx_packets_last,
    argMinState(rx_errors, timestamp) AS rx_errors_first,
    argMaxState(rx_errors, timestamp) AS rx_errors_last,
    argMinState(rx_drops, timestamp) AS rx_drops_first,
    argMaxState(rx_drops, timestamp) AS rx_drops_last,
    argMinState(tx_bytes, timestamp) AS tx_bytes_first,
    argMaxState(tx_bytes, timestamp) AS tx_bytes_last,
    argMinState(tx_packets, timestamp) AS tx_packets_first,
    argMaxState(tx_packets, timestamp) AS tx_packets_last,
    argMinState(tx_errors, timestamp) AS tx_errors_first,
    argMaxState(tx_errors, timestamp) AS tx_errors_last,
    argMinState(tx_drops, timestamp) AS tx_drops_first,
    argMaxState(tx_drops, timestamp) AS tx_drops_last
FROM network_interface_stats
GROUP BY hour, host, interface_name;

-- tcp_retransmit_stats per minute and host; read it with the -Merge combinators
-- (countMerge(rows), sumMapMerge(buckets), ...) and GROUP BY.
CREATE TABLE IF NOT EXISTS tcp_retransmit_stats_1m (
    minute Int64 COMMENT 'ns: start of the minute',
    host LowCardinality(String),
    rows AggregateFunction(count) COMMENT 'rows summarised',
    first_ts AggregateFunction(min, Int64) COMMENT 'first row\'s timestamp',
    last_ts AggregateFunction(max, Int64) COMMENT 'last row\'s timestamp',
    retrans_segs_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    retrans_segs_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    out_segs_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    out_segs_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    in_errs_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    in_errs_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    timeouts_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    timeouts_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    lost_retransmit_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    lost_retransmit_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    fast_retrans_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    fast_retrans_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    slow_start_retrans_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    slow_start_retrans_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    syn_retrans_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    syn_retrans_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    listen_overflows_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    listen_overflows_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    listen_drops_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    listen_drops_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(minute, 1000000000)))
ORDER BY (host, minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS tcp_retransmit_stats_1m_mv TO tcp_retransmit_stats_1m AS
SELECT
    intDiv(timestamp, 60000000000) * 60000000000 AS minute,
    host,
    countState() AS rows,
    minState(timestamp) AS first_ts,
    maxState(timestamp) AS last_ts,
    argMinState(retrans_segs, timestamp) AS retrans_segs_first,
    argMaxState(retrans_segs, timestamp) AS retrans_segs_last,
    argMinState(out_segs, timestamp) AS out_segs_first,
    argMaxState(out_segs, timestamp) AS out_segs_last,
    argMinState(in_errs, timestamp) AS in_errs_first,
    argMaxState(in_errs, timestamp) AS in_errs_last,
    argMinState(timeouts, timestamp) AS timeouts_first,
    argMaxState(timeouts, timestamp) AS timeouts_last,
    argMinState(lost_retransmit, timestamp) AS lost_retransmit_first,
    argMaxState(lost_retransmit, timestamp) AS lost_retransmit_last,
    argMinState(fast_retrans, timestamp) AS fast_retrans_first,
    argMaxState(fast_retrans, timestamp) AS fast_retrans_last,
    argMinState(slow_start_retrans, timestamp) AS slow_start_retrans_first,
    argMaxState(slow_start_retrans, timestamp) AS slow_start_retrans_last,
    argMinState(syn_retrans, timestamp) AS syn_retrans_first,
    argMaxState(syn_retrans, timestamp) AS syn_retrans_last,
    argMinState(listen_overflows, timestamp) AS listen_overflows_first,
    argMaxState(listen_overflows, timestamp) AS listen_overflows_last,
    argMinState(listen_drops, timestamp) AS listen_drops_first,
    argMaxState(listen_drops, timestamp) AS listen_drops_last
FROM tcp_retransmit_stats
GROUP BY minute, host;

-- tcp_retransmit_stats per hour and host; read it with the -Merge combinators
-- (countMerge(rows), sumMapMerge(buckets), ...) and GROUP BY.
CREATE TABLE IF NOT EXISTS tcp_retransmit_stats_1h (
    hour Int64 COMMENT 'ns: start of the hour',
    host LowCardinality(String),
    rows AggregateFunction(count) COMMENT 'rows summarised',
    first_ts AggregateFunction(min, Int64) COMMENT 'first row\'s timestamp',
    last_ts AggregateFunction(max, Int64) COMMENT 'last row\'s timestamp',
    retrans_segs_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    retrans_segs_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    out_segs_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    out_segs_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    in_errs_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    in_errs_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    timeouts_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    timeouts_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    lost_retransmit_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    lost_retransmit_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    fast_retrans_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    fast_retrans_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    slow_start_retrans_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    slow_start_retrans_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    syn_retrans_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    syn_retrans_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    listen_overflows_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    listen_overflows_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading',
    listen_drops_first AggregateFunction(argMin, Int64, Int64) COMMENT 'first reading',
    listen_drops_last AggregateFunction(argMax, Int64, Int64) COMMENT 'last reading'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(hour, 1000000000)))
ORDER BY (host, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS tcp_retransmit_stats_1h_mv TO tcp_retransmit_stats_1h AS
SELECT
    intDiv(timestamp, 3600000000000) * 3600000000000 AS hour,
    host,
    countState() AS rows,
    minState(timestamp) AS first_ts,
    maxState(timestamp) AS last_ts,
    argMinState(retrans_segs, timestamp) AS retrans_segs_first,
    argMaxState(retrans_segs, timestamp) AS retrans_segs_last,
    argMinState(out_segs, timestamp) AS out_segs_first,
    argMaxState(out_segs, timestamp) AS out_segs_last,
    argMinState(in_errs, timestamp) AS in_errs_first,
    argMaxState(in_errs, timestamp) AS in_errs_last,
    argMinState(timeouts, timestamp) AS timeouts_first,
    argMaxState(timeouts, timestamp) AS timeouts_last,
    argMinState(lost_retransmit, timestamp) AS lost_retransmit_first,
    argMaxState(lost_retransmit, timestamp) AS lost_retransmit_last,
    argMinState(fast_retrans, timestamp) AS fast_retrans_first,
    argMaxState(fast_retrans, timestamp) AS fast_retrans_last,
    argMinState(slow_start_retrans, timestamp) AS slow_start_retrans_first,
    argMaxState(slow_start_retrans, timestamp) AS slow_start_retrans_last,
    argMinState(syn_retrans, timestamp) AS syn_retrans_first,
    argMaxState(syn_retrans, timestamp) AS syn_retrans_last,
    argMinState(listen_overflows, timestamp) AS listen_overflows_first,
    argMaxState(listen_overflows, timestamp) AS listen_overflows_last,
    argMinState(listen_drops, timestamp) AS listen_drops_first,
    argMaxState(listen_drops, timestamp) AS listen_drops_last
FROM tcp_retransmit_stats
GROUP BY hour, host;

-- Valid JSON objects ks-ingest could not place: kept whole, with when and why.
CREATE TABLE IF NOT EXISTS unknown_events (
    received_ns Int64 COMMENT 'ns: when ks-ingest read it',
    type Nullable(String) COMMENT 'its "type" field, if any',
    reason String COMMENT 'why it was not placed',
    raw String COMMENT 'the line as read',
    ks_batch UInt64 COMMENT 'the ks-ingest batch the row came in',
    ks_row UInt32 COMMENT 'the row\'s place in its batch'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(received_ns, 1000000000)))
ORDER BY (received_ns, ks_batch, ks_row);
