-- kernelsight SQLite schema, generated from ingest/events.py by `make schema`.
-- Do not edit by hand: change the registry and regenerate (a test compares them).
-- Timestamps are INTEGER ns since the Unix epoch; units are in each column's comment.

CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL,  -- kernelsight schema version
    applied_ns INTEGER NOT NULL  -- ns: when this version was applied
);

-- syscall: A system call slower than the tracer's threshold (default 10 ms), stamped when it returned. Calls whose job is to wait (epoll_wait, poll, nanosleep, futex waits, reads on pipes and ttys: `ks-syscalls --help` lists them) only with --include-waits.
CREATE TABLE IF NOT EXISTS syscall_events (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    pid INTEGER,
    tid INTEGER,
    cpu INTEGER,
    uid INTEGER,
    syscall_nr INTEGER,  -- this architecture's syscall number
    syscall_name TEXT,
    latency_ns INTEGER,  -- ns
    ret_value INTEGER,  -- return value (negative errno on error)
    is_error INTEGER,  -- 1 when ret_value is an error
    arg0 INTEGER,  -- first argument, the raw register as signed 64-bit
    comm TEXT,  -- thread name, at most 16 characters
    cgroup TEXT  -- cgroup v2 path (/system.slice/x.service), resolved from the kernel's id when seen; empty when it was gone by then
);
CREATE INDEX IF NOT EXISTS idx_syscall_events_timestamp ON syscall_events(timestamp);
CREATE INDEX IF NOT EXISTS idx_syscall_events_pid ON syscall_events(pid);
CREATE INDEX IF NOT EXISTS idx_syscall_events_latency_ns ON syscall_events(latency_ns);
CREATE INDEX IF NOT EXISTS idx_syscall_events_syscall_name_timestamp ON syscall_events(syscall_name, timestamp);

-- syscall_stats: Per interval and syscall: every call counted, not only slow ones (like bcc syscount).
CREATE TABLE IF NOT EXISTS syscall_stats (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    interval_ns INTEGER,  -- ns
    syscall_nr INTEGER,
    syscall_name TEXT,
    count INTEGER,  -- count
    errors INTEGER,  -- count
    total_ns INTEGER,  -- ns
    max_ns INTEGER  -- ns
);
CREATE INDEX IF NOT EXISTS idx_syscall_stats_timestamp ON syscall_stats(timestamp);
CREATE INDEX IF NOT EXISTS idx_syscall_stats_syscall_name_timestamp ON syscall_stats(syscall_name, timestamp);

-- syscall_process_stats: Per interval and process: its calls of every syscall counted together (like bcc syscount -P); with --failures or --errno only those failures.
CREATE TABLE IF NOT EXISTS syscall_process_stats (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    interval_ns INTEGER,  -- ns
    pid INTEGER,
    comm TEXT,
    cgroup TEXT,  -- cgroup v2 path (/system.slice/x.service), resolved from the kernel's id when seen; empty when it was gone by then
    count INTEGER,  -- count
    errors INTEGER,  -- count
    total_ns INTEGER,  -- ns
    max_ns INTEGER  -- ns
);
CREATE INDEX IF NOT EXISTS idx_syscall_process_stats_timestamp ON syscall_process_stats(timestamp);
CREATE INDEX IF NOT EXISTS idx_syscall_process_stats_pid_timestamp ON syscall_process_stats(pid, timestamp);

-- page_fault: A page fault slower than the threshold, or sampled; latency from fault entry to accounting, stamped when the fault was accounted.
CREATE TABLE IF NOT EXISTS page_fault_events (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    pid INTEGER,
    tid INTEGER,
    cpu INTEGER,
    address INTEGER,  -- faulting virtual address (as signed 64-bit: kernel ones are < 0)
    latency_ns INTEGER,  -- ns
    fault_type TEXT,  -- minor or major
    access_type TEXT,  -- read, write or exec
    user_mode INTEGER,  -- 1 when the fault came from user space
    comm TEXT,
    cgroup TEXT  -- cgroup v2 path (/system.slice/x.service), resolved from the kernel's id when seen; empty when it was gone by then
);
CREATE INDEX IF NOT EXISTS idx_page_fault_events_timestamp ON page_fault_events(timestamp);
CREATE INDEX IF NOT EXISTS idx_page_fault_events_pid ON page_fault_events(pid);
CREATE INDEX IF NOT EXISTS idx_page_fault_events_latency_ns ON page_fault_events(latency_ns);

-- page_fault_stats: Per interval and process: minor and major fault counts and a latency histogram.
CREATE TABLE IF NOT EXISTS page_fault_stats (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    interval_ns INTEGER,  -- ns
    pid INTEGER,
    comm TEXT,
    cgroup TEXT,  -- cgroup v2 path (/system.slice/x.service), resolved from the kernel's id when seen; empty when it was gone by then
    minor_count INTEGER,  -- count
    major_count INTEGER,  -- count
    latency_sum_ns INTEGER,  -- ns
    count INTEGER,  -- count: samples in the interval
    p50_us REAL,  -- us: median
    p90_us REAL,  -- us: 90th percentile
    p95_us REAL,  -- us: 95th percentile
    p99_us REAL,  -- us: 99th percentile
    max_us REAL,  -- us: largest sample (its bucket's upper bound)
    buckets TEXT  -- hist_us: histogram: JSON [[bucket, count], ...]
);
CREATE INDEX IF NOT EXISTS idx_page_fault_stats_timestamp ON page_fault_stats(timestamp);
CREATE INDEX IF NOT EXISTS idx_page_fault_stats_pid ON page_fault_stats(pid);

-- io_latency: Per interval and block device: I/O counts, bytes and latency percentiles.
CREATE TABLE IF NOT EXISTS io_latency_stats (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    device TEXT,  -- block device name, e.g. vda
    flags TEXT,  -- with ks-iolat --flags: the requests' flags (sync, meta, prio, fua, preflush, readahead, background, comma-separated; none); else empty
    interval_ns INTEGER,  -- ns
    read_count INTEGER,  -- count
    write_count INTEGER,  -- count
    read_bytes INTEGER,  -- bytes
    write_bytes INTEGER,  -- bytes
    read_p50_us REAL,  -- us
    read_p95_us REAL,  -- us
    read_p99_us REAL,  -- us
    read_max_us REAL,  -- us
    write_p50_us REAL,  -- us
    write_p95_us REAL,  -- us
    write_p99_us REAL,  -- us
    write_max_us REAL,  -- us
    read_buckets TEXT,  -- hist_us: read latency histogram
    write_buckets TEXT  -- hist_us: write latency histogram
);
CREATE INDEX IF NOT EXISTS idx_io_latency_stats_timestamp ON io_latency_stats(timestamp);
CREATE INDEX IF NOT EXISTS idx_io_latency_stats_device_timestamp ON io_latency_stats(device, timestamp);
CREATE INDEX IF NOT EXISTS idx_io_latency_stats_read_p95_us ON io_latency_stats(read_p95_us);
CREATE INDEX IF NOT EXISTS idx_io_latency_stats_write_p95_us ON io_latency_stats(write_p95_us);

-- sched: A run-queue wait longer than the threshold (default 10 ms).
CREATE TABLE IF NOT EXISTS sched_events (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    pid INTEGER,
    tid INTEGER,
    cpu INTEGER,
    latency_ns INTEGER,  -- ns: time runnable before it ran
    prev_state TEXT,  -- state of the task switched out: R (preempted), S, D, ...
    next_pid INTEGER,  -- the task that got the CPU (the waiter itself)
    comm TEXT
);
CREATE INDEX IF NOT EXISTS idx_sched_events_timestamp ON sched_events(timestamp);
CREATE INDEX IF NOT EXISTS idx_sched_events_pid ON sched_events(pid);
CREATE INDEX IF NOT EXISTS idx_sched_events_latency_ns ON sched_events(latency_ns);

-- sched_stats: Per interval and process: scheduler activity (the original tracer's aggregates).
CREATE TABLE IF NOT EXISTS sched_stats (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    interval_ns INTEGER,  -- ns
    pid INTEGER,
    comm TEXT,
    context_switches INTEGER,  -- count
    voluntary_switches INTEGER,  -- count
    involuntary_switches INTEGER,  -- count
    wakeups INTEGER,  -- count
    cgroup TEXT,  -- cgroup v2 path (/system.slice/x.service), resolved from the kernel's id when seen; empty when it was gone by then
    cpu_time_ms REAL,  -- ms: time on a CPU as the scheduler accounts it (se.sum_exec_runtime, as in /proc/PID/schedstat and getrusage)
    avg_timeslice_us REAL,  -- us: cpu_time over context_switches
    runq_wait_ns INTEGER,  -- ns: time its threads were runnable but waiting for a CPU
    runq_waits INTEGER  -- count: run-queue waits that ended in the interval
);
CREATE INDEX IF NOT EXISTS idx_sched_stats_timestamp ON sched_stats(timestamp);
CREATE INDEX IF NOT EXISTS idx_sched_stats_pid ON sched_stats(pid);

-- runqlat_task: Per interval: run-queue latency histogram per process (ks-sched --hist-per process, as runqlat -P) or per thread (--hist-per thread, runqlat -L), the --top busiest; the rest summed into one row with pid -1.
CREATE TABLE IF NOT EXISTS runqlat_task_stats (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    interval_ns INTEGER,  -- ns
    pid INTEGER,  -- the process; -1 for the tasks past --top
    tid INTEGER,  -- the thread (--hist-per thread); empty per process
    comm TEXT,
    cgroup TEXT,  -- cgroup v2 path (/system.slice/x.service), resolved from the kernel's id when seen; empty when it was gone by then
    sum_us REAL,  -- us
    count INTEGER,  -- count: samples in the interval
    p50_us REAL,  -- us: median
    p90_us REAL,  -- us: 90th percentile
    p95_us REAL,  -- us: 95th percentile
    p99_us REAL,  -- us: 99th percentile
    max_us REAL,  -- us: largest sample (its bucket's upper bound)
    buckets TEXT  -- hist_us: histogram: JSON [[bucket, count], ...]
);
CREATE INDEX IF NOT EXISTS idx_runqlat_task_stats_timestamp ON runqlat_task_stats(timestamp);
CREATE INDEX IF NOT EXISTS idx_runqlat_task_stats_pid_timestamp ON runqlat_task_stats(pid, timestamp);

-- runqlat: Per interval: run-queue latency histogram, whole machine (cpu = -1) and per CPU.
CREATE TABLE IF NOT EXISTS runqlat_stats (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    interval_ns INTEGER,  -- ns
    cpu INTEGER,  -- -1 for the whole machine
    sum_us REAL,  -- us
    count INTEGER,  -- count: samples in the interval
    p50_us REAL,  -- us: median
    p90_us REAL,  -- us: 90th percentile
    p95_us REAL,  -- us: 95th percentile
    p99_us REAL,  -- us: 99th percentile
    max_us REAL,  -- us: largest sample (its bucket's upper bound)
    buckets TEXT  -- hist_us: histogram: JSON [[bucket, count], ...]
);
CREATE INDEX IF NOT EXISTS idx_runqlat_stats_timestamp ON runqlat_stats(timestamp);
CREATE INDEX IF NOT EXISTS idx_runqlat_stats_cpu_timestamp ON runqlat_stats(cpu, timestamp);

-- rtt: Per interval and TCP peer: smoothed RTT distribution, retransmits and drops.
CREATE TABLE IF NOT EXISTS rtt_stats (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    node TEXT,  -- name from --nodes, else the peer address
    peer TEXT,  -- remote IP address
    family INTEGER,  -- 4 or 6
    interval_ns INTEGER,  -- ns: length of the interval
    sum_us INTEGER,  -- us: sum of the srtt seen by every segment received
    mean_us REAL,  -- us: sum_us / segments received
    retrans_count INTEGER,  -- count: segments retransmitted to the peer (as RetransSegs counts them)
    drop_count INTEGER,  -- count: TCP packets from or to the peer the kernel dropped, any reason
    count INTEGER,  -- count: samples in the interval
    p50_us REAL,  -- us: median
    p90_us REAL,  -- us: 90th percentile
    p95_us REAL,  -- us: 95th percentile
    p99_us REAL,  -- us: 99th percentile
    max_us REAL,  -- us: largest sample (its bucket's upper bound)
    buckets TEXT  -- hist_us: histogram: JSON [[bucket, count], ...]
);
CREATE INDEX IF NOT EXISTS idx_rtt_stats_timestamp ON rtt_stats(timestamp);
CREATE INDEX IF NOT EXISTS idx_rtt_stats_node_timestamp ON rtt_stats(node, timestamp);

-- tcp_event: One TCP segment-level event: a sampled RTT, a retransmit or a drop.
CREATE TABLE IF NOT EXISTS tcp_events (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    kind TEXT,  -- rtt, retrans or drop
    family INTEGER,  -- 4 or 6
    saddr TEXT,
    sport INTEGER,
    daddr TEXT,
    dport INTEGER,
    value INTEGER,  -- srtt in us for rtt; 0 otherwise
    reason TEXT,  -- drop reason name, or TCP state for a retransmit
    node TEXT  -- name from --nodes, else the remote address
);
CREATE INDEX IF NOT EXISTS idx_tcp_events_timestamp ON tcp_events(timestamp);
CREATE INDEX IF NOT EXISTS idx_tcp_events_kind_timestamp ON tcp_events(kind, timestamp);

-- collector_stats: Per interval and BPF collector: what it printed, what it lost and why, and the CPU it and its BPF programs used; so losses reach the database, not only stderr.
CREATE TABLE IF NOT EXISTS collector_stats (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    interval_ns INTEGER,  -- ns
    collector TEXT,  -- the ks command, e.g. ks-syscalls
    pid INTEGER,  -- the collector's process id
    events INTEGER,  -- count: event lines printed in the interval (this one not counted)
    lost_ringbuf INTEGER,  -- count: per-event records dropped: the ring buffer was full
    lost_map_full INTEGER,  -- count: new keys not counted: a map was full
    lost_completion INTEGER,  -- count: I/O completions the kernel did not pass to BPF
    lost_untraced_switch INTEGER,  -- count: run-queue waits ended by a switch the kernel did not trace
    lost_recursion INTEGER,  -- count: program runs the kernel skipped (already running on that CPU, the hook hit again from an interrupt)
    cpu_user_ns INTEGER,  -- ns: user CPU time of the collector process (getrusage)
    cpu_system_ns INTEGER,  -- ns: system CPU time of the collector process (getrusage)
    bpf_run_ns INTEGER,  -- ns: time its BPF programs ran (NULL unless kernel.bpf_stats_enabled=1)
    bpf_runs INTEGER  -- count: runs of its BPF programs (NULL unless kernel.bpf_stats_enabled=1)
);
CREATE INDEX IF NOT EXISTS idx_collector_stats_timestamp ON collector_stats(timestamp);
CREATE INDEX IF NOT EXISTS idx_collector_stats_collector_timestamp ON collector_stats(collector, timestamp);

-- memory: /proc/meminfo.
CREATE TABLE IF NOT EXISTS memory_metrics (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    mem_total_kb INTEGER,  -- kB: from MemTotal
    mem_free_kb INTEGER,  -- kB: from MemFree
    mem_available_kb INTEGER,  -- kB: from MemAvailable
    buffers_kb INTEGER,  -- kB: from Buffers
    cached_kb INTEGER,  -- kB: from Cached
    swap_total_kb INTEGER,  -- kB: from SwapTotal
    swap_free_kb INTEGER,  -- kB: from SwapFree
    active_kb INTEGER,  -- kB: from Active
    inactive_kb INTEGER,  -- kB: from Inactive
    dirty_kb INTEGER,  -- kB: from Dirty
    writeback_kb INTEGER  -- kB: from Writeback
);
CREATE INDEX IF NOT EXISTS idx_memory_metrics_timestamp ON memory_metrics(timestamp);

-- load: /proc/loadavg.
CREATE TABLE IF NOT EXISTS load_metrics (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    load_1min REAL,
    load_5min REAL,
    load_15min REAL,
    running_processes INTEGER,  -- count
    total_processes INTEGER,  -- count
    last_pid INTEGER
);
CREATE INDEX IF NOT EXISTS idx_load_metrics_timestamp ON load_metrics(timestamp);

-- block: /proc/diskstats, per device; cumulative counters as the kernel keeps them.
CREATE TABLE IF NOT EXISTS block_stats (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    device_name TEXT,
    read_ios INTEGER,  -- count: from field 1
    read_merges INTEGER,  -- count: from field 2
    read_sectors INTEGER,  -- sectors: from field 3
    read_ticks INTEGER,  -- ms: from field 4
    write_ios INTEGER,  -- count: from field 5
    write_merges INTEGER,  -- count: from field 6
    write_sectors INTEGER,  -- sectors: from field 7
    write_ticks INTEGER,  -- ms: from field 8
    in_flight INTEGER,  -- count: from field 9
    io_ticks INTEGER,  -- ms: from field 10
    time_in_queue INTEGER  -- ms: from field 11
);
CREATE INDEX IF NOT EXISTS idx_block_stats_timestamp ON block_stats(timestamp);
CREATE INDEX IF NOT EXISTS idx_block_stats_device_name_timestamp ON block_stats(device_name, timestamp);

-- network: /proc/net/dev, per interface; cumulative counters.
CREATE TABLE IF NOT EXISTS network_interface_stats (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    interface_name TEXT,
    rx_bytes INTEGER,  -- bytes: from Receive bytes
    rx_packets INTEGER,  -- count: from Receive packets
    rx_errors INTEGER,  -- count: from Receive errs
    rx_drops INTEGER,  -- count: from Receive drop
    tx_bytes INTEGER,  -- bytes: from Transmit bytes
    tx_packets INTEGER,  -- count: from Transmit packets
    tx_errors INTEGER,  -- count: from Transmit errs
    tx_drops INTEGER  -- count: from Transmit drop
);
CREATE INDEX IF NOT EXISTS idx_network_interface_stats_timestamp ON network_interface_stats(timestamp);
CREATE INDEX IF NOT EXISTS idx_network_interface_stats_interface_name_timestamp ON network_interface_stats(interface_name, timestamp);

-- tcp: TCP sockets by state, IPv4 and IPv6 together, from a sock_diag dump of every state but ESTABLISHED; established is Tcp CurrEstab minus close_wait (cheap with 10,000s of sockets).
CREATE TABLE IF NOT EXISTS tcp_stats (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    established INTEGER,  -- count
    syn_sent INTEGER,  -- count
    syn_recv INTEGER,  -- count
    fin_wait1 INTEGER,  -- count
    fin_wait2 INTEGER,  -- count
    time_wait INTEGER,  -- count
    close INTEGER,  -- count
    close_wait INTEGER,  -- count
    last_ack INTEGER,  -- count
    listen INTEGER,  -- count
    closing INTEGER  -- count
);
CREATE INDEX IF NOT EXISTS idx_tcp_stats_timestamp ON tcp_stats(timestamp);

-- tcp_retrans: TCP retransmit and drop counters from /proc/net/snmp and /proc/net/netstat; cumulative.
CREATE TABLE IF NOT EXISTS tcp_retransmit_stats (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    retrans_segs INTEGER,  -- count: from Tcp RetransSegs
    out_segs INTEGER,  -- count: from Tcp OutSegs
    in_errs INTEGER,  -- count: from Tcp InErrs
    timeouts INTEGER,  -- count: from TcpExt TCPTimeouts
    lost_retransmit INTEGER,  -- count: from TcpExt TCPLostRetransmit
    fast_retrans INTEGER,  -- count: from TcpExt TCPFastRetrans
    slow_start_retrans INTEGER,  -- count: from TcpExt TCPSlowStartRetrans
    syn_retrans INTEGER,  -- count: from TcpExt TCPSynRetrans
    listen_overflows INTEGER,  -- count: from TcpExt ListenOverflows
    listen_drops INTEGER  -- count: from TcpExt ListenDrops
);
CREATE INDEX IF NOT EXISTS idx_tcp_retransmit_stats_timestamp ON tcp_retransmit_stats(timestamp);

-- cpu: CPU utilisation over the last interval from /proc/stat deltas (cpu = -1: whole machine).
CREATE TABLE IF NOT EXISTS cpu_metrics (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    cpu INTEGER,  -- -1 for the whole machine
    user_pct REAL,  -- pct: from user
    nice_pct REAL,  -- pct: from nice
    system_pct REAL,  -- pct: from system
    iowait_pct REAL,  -- pct: from iowait
    irq_pct REAL,  -- pct: from irq
    softirq_pct REAL,  -- pct: from softirq
    steal_pct REAL,  -- pct: from steal
    idle_pct REAL  -- pct: from idle
);
CREATE INDEX IF NOT EXISTS idx_cpu_metrics_timestamp ON cpu_metrics(timestamp);
CREATE INDEX IF NOT EXISTS idx_cpu_metrics_cpu_timestamp ON cpu_metrics(cpu, timestamp);

-- pressure: Pressure stall information (/proc/pressure) for cpu, memory and io.
CREATE TABLE IF NOT EXISTS pressure_metrics (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    resource TEXT,  -- cpu, memory or io
    some_avg10 REAL,  -- pct
    some_avg60 REAL,  -- pct
    some_avg300 REAL,  -- pct
    some_total_us INTEGER,  -- us
    full_avg10 REAL,  -- pct
    full_avg60 REAL,  -- pct
    full_avg300 REAL,  -- pct
    full_total_us INTEGER  -- us
);
CREATE INDEX IF NOT EXISTS idx_pressure_metrics_timestamp ON pressure_metrics(timestamp);
CREATE INDEX IF NOT EXISTS idx_pressure_metrics_resource_timestamp ON pressure_metrics(resource, timestamp);

-- perf: A perf counter's value over the interval (cpu = -1: all CPUs), or a derived ratio.
CREATE TABLE IF NOT EXISTS perf_counters (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    interval_ns INTEGER,  -- ns
    counter TEXT,  -- e.g. task-clock, context-switches, ipc
    cpu INTEGER,  -- -1 for the total (the only row for scope pid:N)
    scope TEXT,  -- system, pid:N (with its threads and new children) or cgroup:PATH
    value REAL,  -- count in the interval (ns for task-clock; a ratio for derived)
    enabled_ns INTEGER,  -- ns
    running_ns INTEGER  -- ns
);
CREATE INDEX IF NOT EXISTS idx_perf_counters_timestamp ON perf_counters(timestamp);
CREATE INDEX IF NOT EXISTS idx_perf_counters_counter_timestamp ON perf_counters(counter, timestamp);

-- syscall_stats per minute and host, syscall_name, kept by its trigger.
CREATE TABLE IF NOT EXISTS syscall_stats_1m (
    minute INTEGER NOT NULL,  -- ns: start of the minute (timestamp / 60 s)
    host TEXT,
    syscall_name TEXT,
    rows INTEGER,  -- count: rows summarised
    first_ts INTEGER,  -- ns: first row's timestamp
    last_ts INTEGER,  -- ns: last row's timestamp
    interval_ns INTEGER,  -- ns: the last row's interval
    count INTEGER,  -- sum
    errors INTEGER,  -- sum
    total_ns INTEGER,  -- sum
    max_ns INTEGER  -- largest
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_syscall_stats_1m_key ON syscall_stats_1m(minute, ifnull(host, X''), ifnull(syscall_name, X''));
CREATE TRIGGER IF NOT EXISTS trg_syscall_stats_1m AFTER INSERT ON syscall_stats BEGIN
    INSERT INTO syscall_stats_1m (minute, host, syscall_name, rows, first_ts, last_ts, interval_ns, count, errors, total_ns, max_ns)
    VALUES (NEW.timestamp / 60000000000 * 60000000000, NEW.host, NEW.syscall_name, 1, NEW.timestamp, NEW.timestamp, NEW.interval_ns, NEW.count, NEW.errors, NEW.total_ns, NEW.max_ns)
    ON CONFLICT (minute, ifnull(host, X''), ifnull(syscall_name, X'')) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        interval_ns = CASE WHEN excluded.last_ts >= last_ts THEN excluded.interval_ns ELSE interval_ns END,
        count = coalesce(count, 0) + coalesce(excluded.count, 0),
        errors = coalesce(errors, 0) + coalesce(excluded.errors, 0),
        total_ns = coalesce(total_ns, 0) + coalesce(excluded.total_ns, 0),
        max_ns = max(coalesce(max_ns, excluded.max_ns), coalesce(excluded.max_ns, max_ns));
END;
CREATE TRIGGER IF NOT EXISTS trg_syscall_stats_1m_delete AFTER DELETE ON syscall_stats BEGIN
    DELETE FROM syscall_stats_1m WHERE minute = OLD.timestamp / 60000000000 * 60000000000 AND ifnull(host, X'') = ifnull(OLD.host, X'') AND ifnull(syscall_name, X'') = ifnull(OLD.syscall_name, X'');
    INSERT INTO syscall_stats_1m (minute, host, syscall_name, rows, first_ts, last_ts, interval_ns, count, errors, total_ns, max_ns)
    SELECT timestamp / 60000000000 * 60000000000, host, syscall_name, 1, timestamp, timestamp, interval_ns, count, errors, total_ns, max_ns FROM syscall_stats WHERE timestamp >= OLD.timestamp / 60000000000 * 60000000000 AND timestamp < OLD.timestamp / 60000000000 * 60000000000 + 60000000000 AND host IS OLD.host AND syscall_name IS OLD.syscall_name ORDER BY timestamp, id
    ON CONFLICT (minute, ifnull(host, X''), ifnull(syscall_name, X'')) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        interval_ns = CASE WHEN excluded.last_ts >= last_ts THEN excluded.interval_ns ELSE interval_ns END,
        count = coalesce(count, 0) + coalesce(excluded.count, 0),
        errors = coalesce(errors, 0) + coalesce(excluded.errors, 0),
        total_ns = coalesce(total_ns, 0) + coalesce(excluded.total_ns, 0),
        max_ns = max(coalesce(max_ns, excluded.max_ns), coalesce(excluded.max_ns, max_ns));
END;

-- syscall_stats per hour, built from the minutes before they are dropped.
CREATE TABLE IF NOT EXISTS syscall_stats_1h (
    hour INTEGER NOT NULL,  -- ns: start of the hour (timestamp / 3600 s)
    host TEXT,
    syscall_name TEXT,
    rows INTEGER,  -- count: rows summarised
    first_ts INTEGER,  -- ns: first row's timestamp
    last_ts INTEGER,  -- ns: last row's timestamp
    interval_ns INTEGER,  -- ns: the last row's interval
    count INTEGER,  -- sum
    errors INTEGER,  -- sum
    total_ns INTEGER,  -- sum
    max_ns INTEGER  -- largest
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_syscall_stats_1h_key ON syscall_stats_1h(hour, ifnull(host, X''), ifnull(syscall_name, X''));

-- page_fault_stats per minute and host, pid, comm, kept by its trigger.
CREATE TABLE IF NOT EXISTS page_fault_stats_1m (
    minute INTEGER NOT NULL,  -- ns: start of the minute (timestamp / 60 s)
    host TEXT,
    pid INTEGER,
    comm TEXT,
    rows INTEGER,  -- count: rows summarised
    first_ts INTEGER,  -- ns: first row's timestamp
    last_ts INTEGER,  -- ns: last row's timestamp
    interval_ns INTEGER,  -- ns: the last row's interval
    minor_count INTEGER,  -- sum
    major_count INTEGER,  -- sum
    latency_sum_ns INTEGER,  -- sum
    count INTEGER,  -- sum
    buckets TEXT  -- hist_us: the rows' buckets (a bucket may repeat: sum it)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_page_fault_stats_1m_key ON page_fault_stats_1m(minute, ifnull(host, X''), ifnull(pid, X''), ifnull(comm, X''));
CREATE TRIGGER IF NOT EXISTS trg_page_fault_stats_1m AFTER INSERT ON page_fault_stats BEGIN
    INSERT INTO page_fault_stats_1m (minute, host, pid, comm, rows, first_ts, last_ts, interval_ns, minor_count, major_count, latency_sum_ns, count, buckets)
    VALUES (NEW.timestamp / 60000000000 * 60000000000, NEW.host, NEW.pid, NEW.comm, 1, NEW.timestamp, NEW.timestamp, NEW.interval_ns, NEW.minor_count, NEW.major_count, NEW.latency_sum_ns, NEW.count, CASE WHEN json_valid(NEW.buckets) THEN CASE WHEN json_type(NEW.buckets) = 'array' THEN json(NEW.buckets) END END)
    ON CONFLICT (minute, ifnull(host, X''), ifnull(pid, X''), ifnull(comm, X'')) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        interval_ns = CASE WHEN excluded.last_ts >= last_ts THEN excluded.interval_ns ELSE interval_ns END,
        minor_count = coalesce(minor_count, 0) + coalesce(excluded.minor_count, 0),
        major_count = coalesce(major_count, 0) + coalesce(excluded.major_count, 0),
        latency_sum_ns = coalesce(latency_sum_ns, 0) + coalesce(excluded.latency_sum_ns, 0),
        count = coalesce(count, 0) + coalesce(excluded.count, 0),
        buckets = CASE WHEN excluded.buckets IS NULL OR excluded.buckets = '[]' THEN buckets WHEN buckets IS NULL OR buckets = '[]' THEN excluded.buckets WHEN length(buckets) + length(excluded.buckets) > 4096 THEN (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(buckets) UNION ALL SELECT value FROM json_each(excluded.buckets)) GROUP BY b ORDER BY b)) ELSE substr(buckets, 1, length(buckets) - 1) || ',' || substr(excluded.buckets, 2) END;
    UPDATE page_fault_stats_1m SET buckets = CASE WHEN buckets IS NULL OR buckets = '[]' THEN buckets ELSE (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(buckets)) GROUP BY b ORDER BY b)) END
    WHERE minute = NEW.timestamp / 60000000000 * 60000000000 - 60000000000 AND ifnull(host, X'') = ifnull(NEW.host, X'') AND ifnull(pid, X'') = ifnull(NEW.pid, X'') AND ifnull(comm, X'') = ifnull(NEW.comm, X'')
      AND (SELECT rows FROM page_fault_stats_1m WHERE minute = NEW.timestamp / 60000000000 * 60000000000 AND ifnull(host, X'') = ifnull(NEW.host, X'') AND ifnull(pid, X'') = ifnull(NEW.pid, X'') AND ifnull(comm, X'') = ifnull(NEW.comm, X'')) = 1;
END;
CREATE TRIGGER IF NOT EXISTS trg_page_fault_stats_1m_delete AFTER DELETE ON page_fault_stats BEGIN
    DELETE FROM page_fault_stats_1m WHERE minute = OLD.timestamp / 60000000000 * 60000000000 AND ifnull(host, X'') = ifnull(OLD.host, X'') AND ifnull(pid, X'') = ifnull(OLD.pid, X'') AND ifnull(comm, X'') = ifnull(OLD.comm, X'');
    INSERT INTO page_fault_stats_1m (minute, host, pid, comm, rows, first_ts, last_ts, interval_ns, minor_count, major_count, latency_sum_ns, count, buckets)
    SELECT timestamp / 60000000000 * 60000000000, host, pid, comm, 1, timestamp, timestamp, interval_ns, minor_count, major_count, latency_sum_ns, count, CASE WHEN json_valid(buckets) THEN CASE WHEN json_type(buckets) = 'array' THEN json(buckets) END END FROM page_fault_stats WHERE timestamp >= OLD.timestamp / 60000000000 * 60000000000 AND timestamp < OLD.timestamp / 60000000000 * 60000000000 + 60000000000 AND host IS OLD.host AND pid IS OLD.pid AND comm IS OLD.comm ORDER BY timestamp, id
    ON CONFLICT (minute, ifnull(host, X''), ifnull(pid, X''), ifnull(comm, X'')) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        interval_ns = CASE WHEN excluded.last_ts >= last_ts THEN excluded.interval_ns ELSE interval_ns END,
        minor_count = coalesce(minor_count, 0) + coalesce(excluded.minor_count, 0),
        major_count = coalesce(major_count, 0) + coalesce(excluded.major_count, 0),
        latency_sum_ns = coalesce(latency_sum_ns, 0) + coalesce(excluded.latency_sum_ns, 0),
        count = coalesce(count, 0) + coalesce(excluded.count, 0),
        buckets = CASE WHEN excluded.buckets IS NULL OR excluded.buckets = '[]' THEN buckets WHEN buckets IS NULL OR buckets = '[]' THEN excluded.buckets WHEN length(buckets) + length(excluded.buckets) > 4096 THEN (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(buckets) UNION ALL SELECT value FROM json_each(excluded.buckets)) GROUP BY b ORDER BY b)) ELSE substr(buckets, 1, length(buckets) - 1) || ',' || substr(excluded.buckets, 2) END;
END;

-- page_fault_stats per hour, built from the minutes before they are dropped.
CREATE TABLE IF NOT EXISTS page_fault_stats_1h (
    hour INTEGER NOT NULL,  -- ns: start of the hour (timestamp / 3600 s)
    host TEXT,
    pid INTEGER,
    comm TEXT,
    rows INTEGER,  -- count: rows summarised
    first_ts INTEGER,  -- ns: first row's timestamp
    last_ts INTEGER,  -- ns: last row's timestamp
    interval_ns INTEGER,  -- ns: the last row's interval
    minor_count INTEGER,  -- sum
    major_count INTEGER,  -- sum
    latency_sum_ns INTEGER,  -- sum
    count INTEGER,  -- sum
    buckets TEXT  -- hist_us: the rows' buckets (a bucket may repeat: sum it)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_page_fault_stats_1h_key ON page_fault_stats_1h(hour, ifnull(host, X''), ifnull(pid, X''), ifnull(comm, X''));

-- io_latency_stats per minute and host, device, kept by its trigger.
CREATE TABLE IF NOT EXISTS io_latency_stats_1m (
    minute INTEGER NOT NULL,  -- ns: start of the minute (timestamp / 60 s)
    host TEXT,
    device TEXT,
    rows INTEGER,  -- count: rows summarised
    first_ts INTEGER,  -- ns: first row's timestamp
    last_ts INTEGER,  -- ns: last row's timestamp
    interval_ns INTEGER,  -- ns: the last row's interval
    read_count INTEGER,  -- sum
    write_count INTEGER,  -- sum
    read_bytes INTEGER,  -- sum
    write_bytes INTEGER,  -- sum
    read_buckets TEXT,  -- hist_us: the rows' buckets (a bucket may repeat: sum it)
    write_buckets TEXT  -- hist_us: the rows' buckets (a bucket may repeat: sum it)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_io_latency_stats_1m_key ON io_latency_stats_1m(minute, ifnull(host, X''), ifnull(device, X''));
CREATE TRIGGER IF NOT EXISTS trg_io_latency_stats_1m AFTER INSERT ON io_latency_stats BEGIN
    INSERT INTO io_latency_stats_1m (minute, host, device, rows, first_ts, last_ts, interval_ns, read_count, write_count, read_bytes, write_bytes, read_buckets, write_buckets)
    VALUES (NEW.timestamp / 60000000000 * 60000000000, NEW.host, NEW.device, 1, NEW.timestamp, NEW.timestamp, NEW.interval_ns, NEW.read_count, NEW.write_count, NEW.read_bytes, NEW.write_bytes, CASE WHEN json_valid(NEW.read_buckets) THEN CASE WHEN json_type(NEW.read_buckets) = 'array' THEN json(NEW.read_buckets) END END, CASE WHEN json_valid(NEW.write_buckets) THEN CASE WHEN json_type(NEW.write_buckets) = 'array' THEN json(NEW.write_buckets) END END)
    ON CONFLICT (minute, ifnull(host, X''), ifnull(device, X'')) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        interval_ns = CASE WHEN excluded.last_ts >= last_ts THEN excluded.interval_ns ELSE interval_ns END,
        read_count = coalesce(read_count, 0) + coalesce(excluded.read_count, 0),
        write_count = coalesce(write_count, 0) + coalesce(excluded.write_count, 0),
        read_bytes = coalesce(read_bytes, 0) + coalesce(excluded.read_bytes, 0),
        write_bytes = coalesce(write_bytes, 0) + coalesce(excluded.write_bytes, 0),
        read_buckets = CASE WHEN excluded.read_buckets IS NULL OR excluded.read_buckets = '[]' THEN read_buckets WHEN read_buckets IS NULL OR read_buckets = '[]' THEN excluded.read_buckets WHEN length(read_buckets) + length(excluded.read_buckets) > 4096 THEN (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(read_buckets) UNION ALL SELECT value FROM json_each(excluded.read_buckets)) GROUP BY b ORDER BY b)) ELSE substr(read_buckets, 1, length(read_buckets) - 1) || ',' || substr(excluded.read_buckets, 2) END,
        write_buckets = CASE WHEN excluded.write_buckets IS NULL OR excluded.write_buckets = '[]' THEN write_buckets WHEN write_buckets IS NULL OR write_buckets = '[]' THEN excluded.write_buckets WHEN length(write_buckets) + length(excluded.write_buckets) > 4096 THEN (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(write_buckets) UNION ALL SELECT value FROM json_each(excluded.write_buckets)) GROUP BY b ORDER BY b)) ELSE substr(write_buckets, 1, length(write_buckets) - 1) || ',' || substr(excluded.write_buckets, 2) END;
    UPDATE io_latency_stats_1m SET read_buckets = CASE WHEN read_buckets IS NULL OR read_buckets = '[]' THEN read_buckets ELSE (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(read_buckets)) GROUP BY b ORDER BY b)) END, write_buckets = CASE WHEN write_buckets IS NULL OR write_buckets = '[]' THEN write_buckets ELSE (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(write_buckets)) GROUP BY b ORDER BY b)) END
    WHERE minute = NEW.timestamp / 60000000000 * 60000000000 - 60000000000 AND ifnull(host, X'') = ifnull(NEW.host, X'') AND ifnull(device, X'') = ifnull(NEW.device, X'')
      AND (SELECT rows FROM io_latency_stats_1m WHERE minute = NEW.timestamp / 60000000000 * 60000000000 AND ifnull(host, X'') = ifnull(NEW.host, X'') AND ifnull(device, X'') = ifnull(NEW.device, X'')) = 1;
END;
CREATE TRIGGER IF NOT EXISTS trg_io_latency_stats_1m_delete AFTER DELETE ON io_latency_stats BEGIN
    DELETE FROM io_latency_stats_1m WHERE minute = OLD.timestamp / 60000000000 * 60000000000 AND ifnull(host, X'') = ifnull(OLD.host, X'') AND ifnull(device, X'') = ifnull(OLD.device, X'');
    INSERT INTO io_latency_stats_1m (minute, host, device, rows, first_ts, last_ts, interval_ns, read_count, write_count, read_bytes, write_bytes, read_buckets, write_buckets)
    SELECT timestamp / 60000000000 * 60000000000, host, device, 1, timestamp, timestamp, interval_ns, read_count, write_count, read_bytes, write_bytes, CASE WHEN json_valid(read_buckets) THEN CASE WHEN json_type(read_buckets) = 'array' THEN json(read_buckets) END END, CASE WHEN json_valid(write_buckets) THEN CASE WHEN json_type(write_buckets) = 'array' THEN json(write_buckets) END END FROM io_latency_stats WHERE timestamp >= OLD.timestamp / 60000000000 * 60000000000 AND timestamp < OLD.timestamp / 60000000000 * 60000000000 + 60000000000 AND host IS OLD.host AND device IS OLD.device ORDER BY timestamp, id
    ON CONFLICT (minute, ifnull(host, X''), ifnull(device, X'')) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        interval_ns = CASE WHEN excluded.last_ts >= last_ts THEN excluded.interval_ns ELSE interval_ns END,
        read_count = coalesce(read_count, 0) + coalesce(excluded.read_count, 0),
        write_count = coalesce(write_count, 0) + coalesce(excluded.write_count, 0),
        read_bytes = coalesce(read_bytes, 0) + coalesce(excluded.read_bytes, 0),
        write_bytes = coalesce(write_bytes, 0) + coalesce(excluded.write_bytes, 0),
        read_buckets = CASE WHEN excluded.read_buckets IS NULL OR excluded.read_buckets = '[]' THEN read_buckets WHEN read_buckets IS NULL OR read_buckets = '[]' THEN excluded.read_buckets WHEN length(read_buckets) + length(excluded.read_buckets) > 4096 THEN (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(read_buckets) UNION ALL SELECT value FROM json_each(excluded.read_buckets)) GROUP BY b ORDER BY b)) ELSE substr(read_buckets, 1, length(read_buckets) - 1) || ',' || substr(excluded.read_buckets, 2) END,
        write_buckets = CASE WHEN excluded.write_buckets IS NULL OR excluded.write_buckets = '[]' THEN write_buckets WHEN write_buckets IS NULL OR write_buckets = '[]' THEN excluded.write_buckets WHEN length(write_buckets) + length(excluded.write_buckets) > 4096 THEN (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(write_buckets) UNION ALL SELECT value FROM json_each(excluded.write_buckets)) GROUP BY b ORDER BY b)) ELSE substr(write_buckets, 1, length(write_buckets) - 1) || ',' || substr(excluded.write_buckets, 2) END;
END;

-- io_latency_stats per hour, built from the minutes before they are dropped.
CREATE TABLE IF NOT EXISTS io_latency_stats_1h (
    hour INTEGER NOT NULL,  -- ns: start of the hour (timestamp / 3600 s)
    host TEXT,
    device TEXT,
    rows INTEGER,  -- count: rows summarised
    first_ts INTEGER,  -- ns: first row's timestamp
    last_ts INTEGER,  -- ns: last row's timestamp
    interval_ns INTEGER,  -- ns: the last row's interval
    read_count INTEGER,  -- sum
    write_count INTEGER,  -- sum
    read_bytes INTEGER,  -- sum
    write_bytes INTEGER,  -- sum
    read_buckets TEXT,  -- hist_us: the rows' buckets (a bucket may repeat: sum it)
    write_buckets TEXT  -- hist_us: the rows' buckets (a bucket may repeat: sum it)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_io_latency_stats_1h_key ON io_latency_stats_1h(hour, ifnull(host, X''), ifnull(device, X''));

-- runqlat_task_stats per minute and host, pid, tid, kept by its trigger.
CREATE TABLE IF NOT EXISTS runqlat_task_stats_1m (
    minute INTEGER NOT NULL,  -- ns: start of the minute (timestamp / 60 s)
    host TEXT,
    pid INTEGER,
    tid INTEGER,
    rows INTEGER,  -- count: rows summarised
    first_ts INTEGER,  -- ns: first row's timestamp
    last_ts INTEGER,  -- ns: last row's timestamp
    interval_ns INTEGER,  -- ns: the last row's interval
    sum_us REAL,  -- sum
    count INTEGER,  -- sum
    buckets TEXT  -- hist_us: the rows' buckets (a bucket may repeat: sum it)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_runqlat_task_stats_1m_key ON runqlat_task_stats_1m(minute, ifnull(host, X''), ifnull(pid, X''), ifnull(tid, X''));
CREATE TRIGGER IF NOT EXISTS trg_runqlat_task_stats_1m AFTER INSERT ON runqlat_task_stats BEGIN
    INSERT INTO runqlat_task_stats_1m (minute, host, pid, tid, rows, first_ts, last_ts, interval_ns, sum_us, count, buckets)
    VALUES (NEW.timestamp / 60000000000 * 60000000000, NEW.host, NEW.pid, NEW.tid, 1, NEW.timestamp, NEW.timestamp, NEW.interval_ns, NEW.sum_us, NEW.count, CASE WHEN json_valid(NEW.buckets) THEN CASE WHEN json_type(NEW.buckets) = 'array' THEN json(NEW.buckets) END END)
    ON CONFLICT (minute, ifnull(host, X''), ifnull(pid, X''), ifnull(tid, X'')) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        interval_ns = CASE WHEN excluded.last_ts >= last_ts THEN excluded.interval_ns ELSE interval_ns END,
        sum_us = coalesce(sum_us, 0) + coalesce(excluded.sum_us, 0),
        count = coalesce(count, 0) + coalesce(excluded.count, 0),
        buckets = CASE WHEN excluded.buckets IS NULL OR excluded.buckets = '[]' THEN buckets WHEN buckets IS NULL OR buckets = '[]' THEN excluded.buckets WHEN length(buckets) + length(excluded.buckets) > 4096 THEN (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(buckets) UNION ALL SELECT value FROM json_each(excluded.buckets)) GROUP BY b ORDER BY b)) ELSE substr(buckets, 1, length(buckets) - 1) || ',' || substr(excluded.buckets, 2) END;
    UPDATE runqlat_task_stats_1m SET buckets = CASE WHEN buckets IS NULL OR buckets = '[]' THEN buckets ELSE (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(buckets)) GROUP BY b ORDER BY b)) END
    WHERE minute = NEW.timestamp / 60000000000 * 60000000000 - 60000000000 AND ifnull(host, X'') = ifnull(NEW.host, X'') AND ifnull(pid, X'') = ifnull(NEW.pid, X'') AND ifnull(tid, X'') = ifnull(NEW.tid, X'')
      AND (SELECT rows FROM runqlat_task_stats_1m WHERE minute = NEW.timestamp / 60000000000 * 60000000000 AND ifnull(host, X'') = ifnull(NEW.host, X'') AND ifnull(pid, X'') = ifnull(NEW.pid, X'') AND ifnull(tid, X'') = ifnull(NEW.tid, X'')) = 1;
END;
CREATE TRIGGER IF NOT EXISTS trg_runqlat_task_stats_1m_delete AFTER DELETE ON runqlat_task_stats BEGIN
    DELETE FROM runqlat_task_stats_1m WHERE minute = OLD.timestamp / 60000000000 * 60000000000 AND ifnull(host, X'') = ifnull(OLD.host, X'') AND ifnull(pid, X'') = ifnull(OLD.pid, X'') AND ifnull(tid, X'') = ifnull(OLD.tid, X'');
    INSERT INTO runqlat_task_stats_1m (minute, host, pid, tid, rows, first_ts, last_ts, interval_ns, sum_us, count, buckets)
    SELECT timestamp / 60000000000 * 60000000000, host, pid, tid, 1, timestamp, timestamp, interval_ns, sum_us, count, CASE WHEN json_valid(buckets) THEN CASE WHEN json_type(buckets) = 'array' THEN json(buckets) END END FROM runqlat_task_stats WHERE timestamp >= OLD.timestamp / 60000000000 * 60000000000 AND timestamp < OLD.timestamp / 60000000000 * 60000000000 + 60000000000 AND host IS OLD.host AND pid IS OLD.pid AND tid IS OLD.tid ORDER BY timestamp, id
    ON CONFLICT (minute, ifnull(host, X''), ifnull(pid, X''), ifnull(tid, X'')) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        interval_ns = CASE WHEN excluded.last_ts >= last_ts THEN excluded.interval_ns ELSE interval_ns END,
        sum_us = coalesce(sum_us, 0) + coalesce(excluded.sum_us, 0),
        count = coalesce(count, 0) + coalesce(excluded.count, 0),
        buckets = CASE WHEN excluded.buckets IS NULL OR excluded.buckets = '[]' THEN buckets WHEN buckets IS NULL OR buckets = '[]' THEN excluded.buckets WHEN length(buckets) + length(excluded.buckets) > 4096 THEN (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(buckets) UNION ALL SELECT value FROM json_each(excluded.buckets)) GROUP BY b ORDER BY b)) ELSE substr(buckets, 1, length(buckets) - 1) || ',' || substr(excluded.buckets, 2) END;
END;

-- runqlat_task_stats per hour, built from the minutes before they are dropped.
CREATE TABLE IF NOT EXISTS runqlat_task_stats_1h (
    hour INTEGER NOT NULL,  -- ns: start of the hour (timestamp / 3600 s)
    host TEXT,
    pid INTEGER,
    tid INTEGER,
    rows INTEGER,  -- count: rows summarised
    first_ts INTEGER,  -- ns: first row's timestamp
    last_ts INTEGER,  -- ns: last row's timestamp
    interval_ns INTEGER,  -- ns: the last row's interval
    sum_us REAL,  -- sum
    count INTEGER,  -- sum
    buckets TEXT  -- hist_us: the rows' buckets (a bucket may repeat: sum it)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_runqlat_task_stats_1h_key ON runqlat_task_stats_1h(hour, ifnull(host, X''), ifnull(pid, X''), ifnull(tid, X''));

-- runqlat_stats per minute and host, cpu, kept by its trigger.
CREATE TABLE IF NOT EXISTS runqlat_stats_1m (
    minute INTEGER NOT NULL,  -- ns: start of the minute (timestamp / 60 s)
    host TEXT,
    cpu INTEGER,
    rows INTEGER,  -- count: rows summarised
    first_ts INTEGER,  -- ns: first row's timestamp
    last_ts INTEGER,  -- ns: last row's timestamp
    interval_ns INTEGER,  -- ns: the last row's interval
    sum_us REAL,  -- sum
    count INTEGER,  -- sum
    buckets TEXT  -- hist_us: the rows' buckets (a bucket may repeat: sum it)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_runqlat_stats_1m_key ON runqlat_stats_1m(minute, ifnull(host, X''), ifnull(cpu, X''));
CREATE TRIGGER IF NOT EXISTS trg_runqlat_stats_1m AFTER INSERT ON runqlat_stats BEGIN
    INSERT INTO runqlat_stats_1m (minute, host, cpu, rows, first_ts, last_ts, interval_ns, sum_us, count, buckets)
    VALUES (NEW.timestamp / 60000000000 * 60000000000, NEW.host, NEW.cpu, 1, NEW.timestamp, NEW.timestamp, NEW.interval_ns, NEW.sum_us, NEW.count, CASE WHEN json_valid(NEW.buckets) THEN CASE WHEN json_type(NEW.buckets) = 'array' THEN json(NEW.buckets) END END)
    ON CONFLICT (minute, ifnull(host, X''), ifnull(cpu, X'')) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        interval_ns = CASE WHEN excluded.last_ts >= last_ts THEN excluded.interval_ns ELSE interval_ns END,
        sum_us = coalesce(sum_us, 0) + coalesce(excluded.sum_us, 0),
        count = coalesce(count, 0) + coalesce(excluded.count, 0),
        buckets = CASE WHEN excluded.buckets IS NULL OR excluded.buckets = '[]' THEN buckets WHEN buckets IS NULL OR buckets = '[]' THEN excluded.buckets WHEN length(buckets) + length(excluded.buckets) > 4096 THEN (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(buckets) UNION ALL SELECT value FROM json_each(excluded.buckets)) GROUP BY b ORDER BY b)) ELSE substr(buckets, 1, length(buckets) - 1) || ',' || substr(excluded.buckets, 2) END;
    UPDATE runqlat_stats_1m SET buckets = CASE WHEN buckets IS NULL OR buckets = '[]' THEN buckets ELSE (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(buckets)) GROUP BY b ORDER BY b)) END
    WHERE minute = NEW.timestamp / 60000000000 * 60000000000 - 60000000000 AND ifnull(host, X'') = ifnull(NEW.host, X'') AND ifnull(cpu, X'') = ifnull(NEW.cpu, X'')
      AND (SELECT rows FROM runqlat_stats_1m WHERE minute = NEW.timestamp / 60000000000 * 60000000000 AND ifnull(host, X'') = ifnull(NEW.host, X'') AND ifnull(cpu, X'') = ifnull(NEW.cpu, X'')) = 1;
END;
CREATE TRIGGER IF NOT EXISTS trg_runqlat_stats_1m_delete AFTER DELETE ON runqlat_stats BEGIN
    DELETE FROM runqlat_stats_1m WHERE minute = OLD.timestamp / 60000000000 * 60000000000 AND ifnull(host, X'') = ifnull(OLD.host, X'') AND ifnull(cpu, X'') = ifnull(OLD.cpu, X'');
    INSERT INTO runqlat_stats_1m (minute, host, cpu, rows, first_ts, last_ts, interval_ns, sum_us, count, buckets)
    SELECT timestamp / 60000000000 * 60000000000, host, cpu, 1, timestamp, timestamp, interval_ns, sum_us, count, CASE WHEN json_valid(buckets) THEN CASE WHEN json_type(buckets) = 'array' THEN json(buckets) END END FROM runqlat_stats WHERE timestamp >= OLD.timestamp / 60000000000 * 60000000000 AND timestamp < OLD.timestamp / 60000000000 * 60000000000 + 60000000000 AND host IS OLD.host AND cpu IS OLD.cpu ORDER BY timestamp, id
    ON CONFLICT (minute, ifnull(host, X''), ifnull(cpu, X'')) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        interval_ns = CASE WHEN excluded.last_ts >= last_ts THEN excluded.interval_ns ELSE interval_ns END,
        sum_us = coalesce(sum_us, 0) + coalesce(excluded.sum_us, 0),
        count = coalesce(count, 0) + coalesce(excluded.count, 0),
        buckets = CASE WHEN excluded.buckets IS NULL OR excluded.buckets = '[]' THEN buckets WHEN buckets IS NULL OR buckets = '[]' THEN excluded.buckets WHEN length(buckets) + length(excluded.buckets) > 4096 THEN (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(buckets) UNION ALL SELECT value FROM json_each(excluded.buckets)) GROUP BY b ORDER BY b)) ELSE substr(buckets, 1, length(buckets) - 1) || ',' || substr(excluded.buckets, 2) END;
END;

-- runqlat_stats per hour, built from the minutes before they are dropped.
CREATE TABLE IF NOT EXISTS runqlat_stats_1h (
    hour INTEGER NOT NULL,  -- ns: start of the hour (timestamp / 3600 s)
    host TEXT,
    cpu INTEGER,
    rows INTEGER,  -- count: rows summarised
    first_ts INTEGER,  -- ns: first row's timestamp
    last_ts INTEGER,  -- ns: last row's timestamp
    interval_ns INTEGER,  -- ns: the last row's interval
    sum_us REAL,  -- sum
    count INTEGER,  -- sum
    buckets TEXT  -- hist_us: the rows' buckets (a bucket may repeat: sum it)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_runqlat_stats_1h_key ON runqlat_stats_1h(hour, ifnull(host, X''), ifnull(cpu, X''));

-- rtt_stats per minute and host, node, peer, kept by its trigger.
CREATE TABLE IF NOT EXISTS rtt_stats_1m (
    minute INTEGER NOT NULL,  -- ns: start of the minute (timestamp / 60 s)
    host TEXT,
    node TEXT,
    peer TEXT,
    rows INTEGER,  -- count: rows summarised
    first_ts INTEGER,  -- ns: first row's timestamp
    last_ts INTEGER,  -- ns: last row's timestamp
    interval_ns INTEGER,  -- ns: the last row's interval
    count INTEGER,  -- sum
    sum_us INTEGER,  -- sum
    retrans_count INTEGER,  -- sum
    drop_count INTEGER,  -- sum
    buckets TEXT  -- hist_us: the rows' buckets (a bucket may repeat: sum it)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_rtt_stats_1m_key ON rtt_stats_1m(minute, ifnull(host, X''), ifnull(node, X''), ifnull(peer, X''));
CREATE TRIGGER IF NOT EXISTS trg_rtt_stats_1m AFTER INSERT ON rtt_stats BEGIN
    INSERT INTO rtt_stats_1m (minute, host, node, peer, rows, first_ts, last_ts, interval_ns, count, sum_us, retrans_count, drop_count, buckets)
    VALUES (NEW.timestamp / 60000000000 * 60000000000, NEW.host, NEW.node, NEW.peer, 1, NEW.timestamp, NEW.timestamp, NEW.interval_ns, NEW.count, NEW.sum_us, NEW.retrans_count, NEW.drop_count, CASE WHEN json_valid(NEW.buckets) THEN CASE WHEN json_type(NEW.buckets) = 'array' THEN json(NEW.buckets) END END)
    ON CONFLICT (minute, ifnull(host, X''), ifnull(node, X''), ifnull(peer, X'')) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        interval_ns = CASE WHEN excluded.last_ts >= last_ts THEN excluded.interval_ns ELSE interval_ns END,
        count = coalesce(count, 0) + coalesce(excluded.count, 0),
        sum_us = coalesce(sum_us, 0) + coalesce(excluded.sum_us, 0),
        retrans_count = coalesce(retrans_count, 0) + coalesce(excluded.retrans_count, 0),
        drop_count = coalesce(drop_count, 0) + coalesce(excluded.drop_count, 0),
        buckets = CASE WHEN excluded.buckets IS NULL OR excluded.buckets = '[]' THEN buckets WHEN buckets IS NULL OR buckets = '[]' THEN excluded.buckets WHEN length(buckets) + length(excluded.buckets) > 4096 THEN (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(buckets) UNION ALL SELECT value FROM json_each(excluded.buckets)) GROUP BY b ORDER BY b)) ELSE substr(buckets, 1, length(buckets) - 1) || ',' || substr(excluded.buckets, 2) END;
    UPDATE rtt_stats_1m SET buckets = CASE WHEN buckets IS NULL OR buckets = '[]' THEN buckets ELSE (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(buckets)) GROUP BY b ORDER BY b)) END
    WHERE minute = NEW.timestamp / 60000000000 * 60000000000 - 60000000000 AND ifnull(host, X'') = ifnull(NEW.host, X'') AND ifnull(node, X'') = ifnull(NEW.node, X'') AND ifnull(peer, X'') = ifnull(NEW.peer, X'')
      AND (SELECT rows FROM rtt_stats_1m WHERE minute = NEW.timestamp / 60000000000 * 60000000000 AND ifnull(host, X'') = ifnull(NEW.host, X'') AND ifnull(node, X'') = ifnull(NEW.node, X'') AND ifnull(peer, X'') = ifnull(NEW.peer, X'')) = 1;
END;
CREATE TRIGGER IF NOT EXISTS trg_rtt_stats_1m_delete AFTER DELETE ON rtt_stats BEGIN
    DELETE FROM rtt_stats_1m WHERE minute = OLD.timestamp / 60000000000 * 60000000000 AND ifnull(host, X'') = ifnull(OLD.host, X'') AND ifnull(node, X'') = ifnull(OLD.node, X'') AND ifnull(peer, X'') = ifnull(OLD.peer, X'');
    INSERT INTO rtt_stats_1m (minute, host, node, peer, rows, first_ts, last_ts, interval_ns, count, sum_us, retrans_count, drop_count, buckets)
    SELECT timestamp / 60000000000 * 60000000000, host, node, peer, 1, timestamp, timestamp, interval_ns, count, sum_us, retrans_count, drop_count, CASE WHEN json_valid(buckets) THEN CASE WHEN json_type(buckets) = 'array' THEN json(buckets) END END FROM rtt_stats WHERE timestamp >= OLD.timestamp / 60000000000 * 60000000000 AND timestamp < OLD.timestamp / 60000000000 * 60000000000 + 60000000000 AND host IS OLD.host AND node IS OLD.node AND peer IS OLD.peer ORDER BY timestamp, id
    ON CONFLICT (minute, ifnull(host, X''), ifnull(node, X''), ifnull(peer, X'')) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        interval_ns = CASE WHEN excluded.last_ts >= last_ts THEN excluded.interval_ns ELSE interval_ns END,
        count = coalesce(count, 0) + coalesce(excluded.count, 0),
        sum_us = coalesce(sum_us, 0) + coalesce(excluded.sum_us, 0),
        retrans_count = coalesce(retrans_count, 0) + coalesce(excluded.retrans_count, 0),
        drop_count = coalesce(drop_count, 0) + coalesce(excluded.drop_count, 0),
        buckets = CASE WHEN excluded.buckets IS NULL OR excluded.buckets = '[]' THEN buckets WHEN buckets IS NULL OR buckets = '[]' THEN excluded.buckets WHEN length(buckets) + length(excluded.buckets) > 4096 THEN (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(buckets) UNION ALL SELECT value FROM json_each(excluded.buckets)) GROUP BY b ORDER BY b)) ELSE substr(buckets, 1, length(buckets) - 1) || ',' || substr(excluded.buckets, 2) END;
END;

-- rtt_stats per hour, built from the minutes before they are dropped.
CREATE TABLE IF NOT EXISTS rtt_stats_1h (
    hour INTEGER NOT NULL,  -- ns: start of the hour (timestamp / 3600 s)
    host TEXT,
    node TEXT,
    peer TEXT,
    rows INTEGER,  -- count: rows summarised
    first_ts INTEGER,  -- ns: first row's timestamp
    last_ts INTEGER,  -- ns: last row's timestamp
    interval_ns INTEGER,  -- ns: the last row's interval
    count INTEGER,  -- sum
    sum_us INTEGER,  -- sum
    retrans_count INTEGER,  -- sum
    drop_count INTEGER,  -- sum
    buckets TEXT  -- hist_us: the rows' buckets (a bucket may repeat: sum it)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_rtt_stats_1h_key ON rtt_stats_1h(hour, ifnull(host, X''), ifnull(node, X''), ifnull(peer, X''));

-- collector_stats per minute and host, collector, kept by its trigger.
CREATE TABLE IF NOT EXISTS collector_stats_1m (
    minute INTEGER NOT NULL,  -- ns: start of the minute (timestamp / 60 s)
    host TEXT,
    collector TEXT,
    rows INTEGER,  -- count: rows summarised
    first_ts INTEGER,  -- ns: first row's timestamp
    last_ts INTEGER,  -- ns: last row's timestamp
    interval_ns INTEGER,  -- ns: the last row's interval
    events INTEGER,  -- sum
    lost_ringbuf INTEGER,  -- sum
    lost_map_full INTEGER,  -- sum
    lost_completion INTEGER,  -- sum
    lost_untraced_switch INTEGER,  -- sum
    lost_recursion INTEGER,  -- sum
    cpu_user_ns INTEGER,  -- sum
    cpu_system_ns INTEGER,  -- sum
    bpf_run_ns INTEGER,  -- sum
    bpf_runs INTEGER  -- sum
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_collector_stats_1m_key ON collector_stats_1m(minute, ifnull(host, X''), ifnull(collector, X''));
CREATE TRIGGER IF NOT EXISTS trg_collector_stats_1m AFTER INSERT ON collector_stats BEGIN
    INSERT INTO collector_stats_1m (minute, host, collector, rows, first_ts, last_ts, interval_ns, events, lost_ringbuf, lost_map_full, lost_completion, lost_untraced_switch, lost_recursion, cpu_user_ns, cpu_system_ns, bpf_run_ns, bpf_runs)
    VALUES (NEW.timestamp / 60000000000 * 60000000000, NEW.host, NEW.collector, 1, NEW.timestamp, NEW.timestamp, NEW.interval_ns, NEW.events, NEW.lost_ringbuf, NEW.lost_map_full, NEW.lost_completion, NEW.lost_untraced_switch, NEW.lost_recursion, NEW.cpu_user_ns, NEW.cpu_system_ns, NEW.bpf_run_ns, NEW.bpf_runs)
    ON CONFLICT (minute, ifnull(host, X''), ifnull(collector, X'')) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        interval_ns = CASE WHEN excluded.last_ts >= last_ts THEN excluded.interval_ns ELSE interval_ns END,
        events = coalesce(events, 0) + coalesce(excluded.events, 0),
        lost_ringbuf = coalesce(lost_ringbuf, 0) + coalesce(excluded.lost_ringbuf, 0),
        lost_map_full = coalesce(lost_map_full, 0) + coalesce(excluded.lost_map_full, 0),
        lost_completion = coalesce(lost_completion, 0) + coalesce(excluded.lost_completion, 0),
        lost_untraced_switch = coalesce(lost_untraced_switch, 0) + coalesce(excluded.lost_untraced_switch, 0),
        lost_recursion = coalesce(lost_recursion, 0) + coalesce(excluded.lost_recursion, 0),
        cpu_user_ns = coalesce(cpu_user_ns, 0) + coalesce(excluded.cpu_user_ns, 0),
        cpu_system_ns = coalesce(cpu_system_ns, 0) + coalesce(excluded.cpu_system_ns, 0),
        bpf_run_ns = coalesce(bpf_run_ns, 0) + coalesce(excluded.bpf_run_ns, 0),
        bpf_runs = coalesce(bpf_runs, 0) + coalesce(excluded.bpf_runs, 0);
END;
CREATE TRIGGER IF NOT EXISTS trg_collector_stats_1m_delete AFTER DELETE ON collector_stats BEGIN
    DELETE FROM collector_stats_1m WHERE minute = OLD.timestamp / 60000000000 * 60000000000 AND ifnull(host, X'') = ifnull(OLD.host, X'') AND ifnull(collector, X'') = ifnull(OLD.collector, X'');
    INSERT INTO collector_stats_1m (minute, host, collector, rows, first_ts, last_ts, interval_ns, events, lost_ringbuf, lost_map_full, lost_completion, lost_untraced_switch, lost_recursion, cpu_user_ns, cpu_system_ns, bpf_run_ns, bpf_runs)
    SELECT timestamp / 60000000000 * 60000000000, host, collector, 1, timestamp, timestamp, interval_ns, events, lost_ringbuf, lost_map_full, lost_completion, lost_untraced_switch, lost_recursion, cpu_user_ns, cpu_system_ns, bpf_run_ns, bpf_runs FROM collector_stats WHERE timestamp >= OLD.timestamp / 60000000000 * 60000000000 AND timestamp < OLD.timestamp / 60000000000 * 60000000000 + 60000000000 AND host IS OLD.host AND collector IS OLD.collector ORDER BY timestamp, id
    ON CONFLICT (minute, ifnull(host, X''), ifnull(collector, X'')) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        interval_ns = CASE WHEN excluded.last_ts >= last_ts THEN excluded.interval_ns ELSE interval_ns END,
        events = coalesce(events, 0) + coalesce(excluded.events, 0),
        lost_ringbuf = coalesce(lost_ringbuf, 0) + coalesce(excluded.lost_ringbuf, 0),
        lost_map_full = coalesce(lost_map_full, 0) + coalesce(excluded.lost_map_full, 0),
        lost_completion = coalesce(lost_completion, 0) + coalesce(excluded.lost_completion, 0),
        lost_untraced_switch = coalesce(lost_untraced_switch, 0) + coalesce(excluded.lost_untraced_switch, 0),
        lost_recursion = coalesce(lost_recursion, 0) + coalesce(excluded.lost_recursion, 0),
        cpu_user_ns = coalesce(cpu_user_ns, 0) + coalesce(excluded.cpu_user_ns, 0),
        cpu_system_ns = coalesce(cpu_system_ns, 0) + coalesce(excluded.cpu_system_ns, 0),
        bpf_run_ns = coalesce(bpf_run_ns, 0) + coalesce(excluded.bpf_run_ns, 0),
        bpf_runs = coalesce(bpf_runs, 0) + coalesce(excluded.bpf_runs, 0);
END;

-- collector_stats per hour, built from the minutes before they are dropped.
CREATE TABLE IF NOT EXISTS collector_stats_1h (
    hour INTEGER NOT NULL,  -- ns: start of the hour (timestamp / 3600 s)
    host TEXT,
    collector TEXT,
    rows INTEGER,  -- count: rows summarised
    first_ts INTEGER,  -- ns: first row's timestamp
    last_ts INTEGER,  -- ns: last row's timestamp
    interval_ns INTEGER,  -- ns: the last row's interval
    events INTEGER,  -- sum
    lost_ringbuf INTEGER,  -- sum
    lost_map_full INTEGER,  -- sum
    lost_completion INTEGER,  -- sum
    lost_untraced_switch INTEGER,  -- sum
    lost_recursion INTEGER,  -- sum
    cpu_user_ns INTEGER,  -- sum
    cpu_system_ns INTEGER,  -- sum
    bpf_run_ns INTEGER,  -- sum
    bpf_runs INTEGER  -- sum
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_collector_stats_1h_key ON collector_stats_1h(hour, ifnull(host, X''), ifnull(collector, X''));

-- block_stats per minute and host, device_name, kept by its trigger.
CREATE TABLE IF NOT EXISTS block_stats_1m (
    minute INTEGER NOT NULL,  -- ns: start of the minute (timestamp / 60 s)
    host TEXT,
    device_name TEXT,
    rows INTEGER,  -- count: rows summarised
    first_ts INTEGER,  -- ns: first row's timestamp
    last_ts INTEGER,  -- ns: last row's timestamp
    in_flight INTEGER,  -- largest
    read_ios_first INTEGER,  -- first reading
    read_ios_last INTEGER,  -- last reading
    read_ios_inc INTEGER,  -- increase within the minute, resets handled
    read_merges_first INTEGER,  -- first reading
    read_merges_last INTEGER,  -- last reading
    read_merges_inc INTEGER,  -- increase within the minute, resets handled
    read_sectors_first INTEGER,  -- first reading
    read_sectors_last INTEGER,  -- last reading
    read_sectors_inc INTEGER,  -- increase within the minute, resets handled
    read_ticks_first INTEGER,  -- first reading
    read_ticks_last INTEGER,  -- last reading
    read_ticks_inc INTEGER,  -- increase within the minute, resets handled
    write_ios_first INTEGER,  -- first reading
    write_ios_last INTEGER,  -- last reading
    write_ios_inc INTEGER,  -- increase within the minute, resets handled
    write_merges_first INTEGER,  -- first reading
    write_merges_last INTEGER,  -- last reading
    write_merges_inc INTEGER,  -- increase within the minute, resets handled
    write_sectors_first INTEGER,  -- first reading
    write_sectors_last INTEGER,  -- last reading
    write_sectors_inc INTEGER,  -- increase within the minute, resets handled
    write_ticks_first INTEGER,  -- first reading
    write_ticks_last INTEGER,  -- last reading
    write_ticks_inc INTEGER,  -- increase within the minute, resets handled
    io_ticks_first INTEGER,  -- first reading
    io_ticks_last INTEGER,  -- last reading
    io_ticks_inc INTEGER,  -- increase within the minute, resets handled
    time_in_queue_first INTEGER,  -- first reading
    time_in_queue_last INTEGER,  -- last reading
    time_in_queue_inc INTEGER,  -- increase within the minute, resets handled
    ordered INTEGER  -- 0 once a row arrived older than the minute's last: queries then read that minute's rows
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_block_stats_1m_key ON block_stats_1m(minute, ifnull(host, X''), ifnull(device_name, X''));
CREATE TRIGGER IF NOT EXISTS trg_block_stats_1m AFTER INSERT ON block_stats BEGIN
    INSERT INTO block_stats_1m (minute, host, device_name, rows, first_ts, last_ts, in_flight, read_ios_first, read_ios_last, read_ios_inc, read_merges_first, read_merges_last, read_merges_inc, read_sectors_first, read_sectors_last, read_sectors_inc, read_ticks_first, read_ticks_last, read_ticks_inc, write_ios_first, write_ios_last, write_ios_inc, write_merges_first, write_merges_last, write_merges_inc, write_sectors_first, write_sectors_last, write_sectors_inc, write_ticks_first, write_ticks_last, write_ticks_inc, io_ticks_first, io_ticks_last, io_ticks_inc, time_in_queue_first, time_in_queue_last, time_in_queue_inc, ordered)
    VALUES (NEW.timestamp / 60000000000 * 60000000000, NEW.host, NEW.device_name, 1, NEW.timestamp, NEW.timestamp, NEW.in_flight, NEW.read_ios, NEW.read_ios, 0, NEW.read_merges, NEW.read_merges, 0, NEW.read_sectors, NEW.read_sectors, 0, NEW.read_ticks, NEW.read_ticks, 0, NEW.write_ios, NEW.write_ios, 0, NEW.write_merges, NEW.write_merges, 0, NEW.write_sectors, NEW.write_sectors, 0, NEW.write_ticks, NEW.write_ticks, 0, NEW.io_ticks, NEW.io_ticks, 0, NEW.time_in_queue, NEW.time_in_queue, 0, 1)
    ON CONFLICT (minute, ifnull(host, X''), ifnull(device_name, X'')) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        in_flight = max(coalesce(in_flight, excluded.in_flight), coalesce(excluded.in_flight, in_flight)),
        read_ios_inc = read_ios_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.read_ios_last IS NOT NULL AND read_ios_last IS NOT NULL THEN CASE WHEN excluded.read_ios_last >= read_ios_last THEN excluded.read_ios_last - read_ios_last ELSE excluded.read_ios_last END ELSE 0 END,
        read_ios_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.read_ios_last ELSE read_ios_last END,
        read_merges_inc = read_merges_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.read_merges_last IS NOT NULL AND read_merges_last IS NOT NULL THEN CASE WHEN excluded.read_merges_last >= read_merges_last THEN excluded.read_merges_last - read_merges_last ELSE excluded.read_merges_last END ELSE 0 END,
        read_merges_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.read_merges_last ELSE read_merges_last END,
        read_sectors_inc = read_sectors_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.read_sectors_last IS NOT NULL AND read_sectors_last IS NOT NULL THEN CASE WHEN excluded.read_sectors_last >= read_sectors_last THEN excluded.read_sectors_last - read_sectors_last ELSE excluded.read_sectors_last END ELSE 0 END,
        read_sectors_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.read_sectors_last ELSE read_sectors_last END,
        read_ticks_inc = read_ticks_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.read_ticks_last IS NOT NULL AND read_ticks_last IS NOT NULL THEN CASE WHEN excluded.read_ticks_last >= read_ticks_last THEN excluded.read_ticks_last - read_ticks_last ELSE excluded.read_ticks_last END ELSE 0 END,
        read_ticks_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.read_ticks_last ELSE read_ticks_last END,
        write_ios_inc = write_ios_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.write_ios_last IS NOT NULL AND write_ios_last IS NOT NULL THEN CASE WHEN excluded.write_ios_last >= write_ios_last THEN excluded.write_ios_last - write_ios_last ELSE excluded.write_ios_last END ELSE 0 END,
        write_ios_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.write_ios_last ELSE write_ios_last END,
        write_merges_inc = write_merges_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.write_merges_last IS NOT NULL AND write_merges_last IS NOT NULL THEN CASE WHEN excluded.write_merges_last >= write_merges_last THEN excluded.write_merges_last - write_merges_last ELSE excluded.write_merges_last END ELSE 0 END,
        write_merges_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.write_merges_last ELSE write_merges_last END,
        write_sectors_inc = write_sectors_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.write_sectors_last IS NOT NULL AND write_sectors_last IS NOT NULL THEN CASE WHEN excluded.write_sectors_last >= write_sectors_last THEN excluded.write_sectors_last - write_sectors_last ELSE excluded.write_sectors_last END ELSE 0 END,
        write_sectors_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.write_sectors_last ELSE write_sectors_last END,
        write_ticks_inc = write_ticks_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.write_ticks_last IS NOT NULL AND write_ticks_last IS NOT NULL THEN CASE WHEN excluded.write_ticks_last >= write_ticks_last THEN excluded.write_ticks_last - write_ticks_last ELSE excluded.write_ticks_last END ELSE 0 END,
        write_ticks_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.write_ticks_last ELSE write_ticks_last END,
        io_ticks_inc = io_ticks_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.io_ticks_last IS NOT NULL AND io_ticks_last IS NOT NULL THEN CASE WHEN excluded.io_ticks_last >= io_ticks_last THEN excluded.io_ticks_last - io_ticks_last ELSE excluded.io_ticks_last END ELSE 0 END,
        io_ticks_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.io_ticks_last ELSE io_ticks_last END,
        time_in_queue_inc = time_in_queue_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.time_in_queue_last IS NOT NULL AND time_in_queue_last IS NOT NULL THEN CASE WHEN excluded.time_in_queue_last >= time_in_queue_last THEN excluded.time_in_queue_last - time_in_queue_last ELSE excluded.time_in_queue_last END ELSE 0 END,
        time_in_queue_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.time_in_queue_last ELSE time_in_queue_last END,
        ordered = ordered AND excluded.first_ts >= last_ts;
END;
CREATE TRIGGER IF NOT EXISTS trg_block_stats_1m_delete AFTER DELETE ON block_stats BEGIN
    DELETE FROM block_stats_1m WHERE minute = OLD.timestamp / 60000000000 * 60000000000 AND ifnull(host, X'') = ifnull(OLD.host, X'') AND ifnull(device_name, X'') = ifnull(OLD.device_name, X'');
    INSERT INTO block_stats_1m (minute, host, device_name, rows, first_ts, last_ts, in_flight, read_ios_first, read_ios_last, read_ios_inc, read_merges_first, read_merges_last, read_merges_inc, read_sectors_first, read_sectors_last, read_sectors_inc, read_ticks_first, read_ticks_last, read_ticks_inc, write_ios_first, write_ios_last, write_ios_inc, write_merges_first, write_merges_last, write_merges_inc, write_sectors_first, write_sectors_last, write_sectors_inc, write_ticks_first, write_ticks_last, write_ticks_inc, io_ticks_first, io_ticks_last, io_ticks_inc, time_in_queue_first, time_in_queue_last, time_in_queue_inc, ordered)
    SELECT timestamp / 60000000000 * 60000000000, host, device_name, 1, timestamp, timestamp, in_flight, read_ios, read_ios, 0, read_merges, read_merges, 0, read_sectors, read_sectors, 0, read_ticks, read_ticks, 0, write_ios, write_ios, 0, write_merges, write_merges, 0, write_sectors, write_sectors, 0, write_ticks, write_ticks, 0, io_ticks, io_ticks, 0, time_in_queue, time_in_queue, 0, 1 FROM block_stats WHERE timestamp >= OLD.timestamp / 60000000000 * 60000000000 AND timestamp < OLD.timestamp / 60000000000 * 60000000000 + 60000000000 AND host IS OLD.host AND device_name IS OLD.device_name ORDER BY timestamp, id
    ON CONFLICT (minute, ifnull(host, X''), ifnull(device_name, X'')) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        in_flight = max(coalesce(in_flight, excluded.in_flight), coalesce(excluded.in_flight, in_flight)),
        read_ios_inc = read_ios_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.read_ios_last IS NOT NULL AND read_ios_last IS NOT NULL THEN CASE WHEN excluded.read_ios_last >= read_ios_last THEN excluded.read_ios_last - read_ios_last ELSE excluded.read_ios_last END ELSE 0 END,
        read_ios_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.read_ios_last ELSE read_ios_last END,
        read_merges_inc = read_merges_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.read_merges_last IS NOT NULL AND read_merges_last IS NOT NULL THEN CASE WHEN excluded.read_merges_last >= read_merges_last THEN excluded.read_merges_last - read_merges_last ELSE excluded.read_merges_last END ELSE 0 END,
        read_merges_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.read_merges_last ELSE read_merges_last END,
        read_sectors_inc = read_sectors_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.read_sectors_last IS NOT NULL AND read_sectors_last IS NOT NULL THEN CASE WHEN excluded.read_sectors_last >= read_sectors_last THEN excluded.read_sectors_last - read_sectors_last ELSE excluded.read_sectors_last END ELSE 0 END,
        read_sectors_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.read_sectors_last ELSE read_sectors_last END,
        read_ticks_inc = read_ticks_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.read_ticks_last IS NOT NULL AND read_ticks_last IS NOT NULL THEN CASE WHEN excluded.read_ticks_last >= read_ticks_last THEN excluded.read_ticks_last - read_ticks_last ELSE excluded.read_ticks_last END ELSE 0 END,
        read_ticks_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.read_ticks_last ELSE read_ticks_last END,
        write_ios_inc = write_ios_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.write_ios_last IS NOT NULL AND write_ios_last IS NOT NULL THEN CASE WHEN excluded.write_ios_last >= write_ios_last THEN excluded.write_ios_last - write_ios_last ELSE excluded.write_ios_last END ELSE 0 END,
        write_ios_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.write_ios_last ELSE write_ios_last END,
        write_merges_inc = write_merges_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.write_merges_last IS NOT NULL AND write_merges_last IS NOT NULL THEN CASE WHEN excluded.write_merges_last >= write_merges_last THEN excluded.write_merges_last - write_merges_last ELSE excluded.write_merges_last END ELSE 0 END,
        write_merges_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.write_merges_last ELSE write_merges_last END,
        write_sectors_inc = write_sectors_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.write_sectors_last IS NOT NULL AND write_sectors_last IS NOT NULL THEN CASE WHEN excluded.write_sectors_last >= write_sectors_last THEN excluded.write_sectors_last - write_sectors_last ELSE excluded.write_sectors_last END ELSE 0 END,
        write_sectors_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.write_sectors_last ELSE write_sectors_last END,
        write_ticks_inc = write_ticks_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.write_ticks_last IS NOT NULL AND write_ticks_last IS NOT NULL THEN CASE WHEN excluded.write_ticks_last >= write_ticks_last THEN excluded.write_ticks_last - write_ticks_last ELSE excluded.write_ticks_last END ELSE 0 END,
        write_ticks_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.write_ticks_last ELSE write_ticks_last END,
        io_ticks_inc = io_ticks_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.io_ticks_last IS NOT NULL AND io_ticks_last IS NOT NULL THEN CASE WHEN excluded.io_ticks_last >= io_ticks_last THEN excluded.io_ticks_last - io_ticks_last ELSE excluded.io_ticks_last END ELSE 0 END,
        io_ticks_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.io_ticks_last ELSE io_ticks_last END,
        time_in_queue_inc = time_in_queue_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.time_in_queue_last IS NOT NULL AND time_in_queue_last IS NOT NULL THEN CASE WHEN excluded.time_in_queue_last >= time_in_queue_last THEN excluded.time_in_queue_last - time_in_queue_last ELSE excluded.time_in_queue_last END ELSE 0 END,
        time_in_queue_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.time_in_queue_last ELSE time_in_queue_last END,
        ordered = ordered AND excluded.first_ts >= last_ts;
END;

-- block_stats per hour, built from the minutes before they are dropped.
CREATE TABLE IF NOT EXISTS block_stats_1h (
    hour INTEGER NOT NULL,  -- ns: start of the hour (timestamp / 3600 s)
    host TEXT,
    device_name TEXT,
    rows INTEGER,  -- count: rows summarised
    first_ts INTEGER,  -- ns: first row's timestamp
    last_ts INTEGER,  -- ns: last row's timestamp
    in_flight INTEGER,  -- largest
    read_ios_first INTEGER,  -- first reading
    read_ios_last INTEGER,  -- last reading
    read_ios_inc INTEGER,  -- increase within the minute, resets handled
    read_merges_first INTEGER,  -- first reading
    read_merges_last INTEGER,  -- last reading
    read_merges_inc INTEGER,  -- increase within the minute, resets handled
    read_sectors_first INTEGER,  -- first reading
    read_sectors_last INTEGER,  -- last reading
    read_sectors_inc INTEGER,  -- increase within the minute, resets handled
    read_ticks_first INTEGER,  -- first reading
    read_ticks_last INTEGER,  -- last reading
    read_ticks_inc INTEGER,  -- increase within the minute, resets handled
    write_ios_first INTEGER,  -- first reading
    write_ios_last INTEGER,  -- last reading
    write_ios_inc INTEGER,  -- increase within the minute, resets handled
    write_merges_first INTEGER,  -- first reading
    write_merges_last INTEGER,  -- last reading
    write_merges_inc INTEGER,  -- increase within the minute, resets handled
    write_sectors_first INTEGER,  -- first reading
    write_sectors_last INTEGER,  -- last reading
    write_sectors_inc INTEGER,  -- increase within the minute, resets handled
    write_ticks_first INTEGER,  -- first reading
    write_ticks_last INTEGER,  -- last reading
    write_ticks_inc INTEGER,  -- increase within the minute, resets handled
    io_ticks_first INTEGER,  -- first reading
    io_ticks_last INTEGER,  -- last reading
    io_ticks_inc INTEGER,  -- increase within the minute, resets handled
    time_in_queue_first INTEGER,  -- first reading
    time_in_queue_last INTEGER,  -- last reading
    time_in_queue_inc INTEGER,  -- increase within the minute, resets handled
    ordered INTEGER  -- 0 once a row arrived older than the minute's last: queries then read that minute's rows
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_block_stats_1h_key ON block_stats_1h(hour, ifnull(host, X''), ifnull(device_name, X''));

-- network_interface_stats per minute and host, interface_name, kept by its trigger.
CREATE TABLE IF NOT EXISTS network_interface_stats_1m (
    minute INTEGER NOT NULL,  -- ns: start of the minute (timestamp / 60 s)
    host TEXT,
    interface_name TEXT,
    rows INTEGER,  -- count: rows summarised
    first_ts INTEGER,  -- ns: first row's timestamp
    last_ts INTEGER,  -- ns: last row's timestamp
    rx_bytes_first INTEGER,  -- first reading
    rx_bytes_last INTEGER,  -- last reading
    rx_bytes_inc INTEGER,  -- increase within the minute, resets handled
    rx_packets_first INTEGER,  -- first reading
    rx_packets_last INTEGER,  -- last reading
    rx_packets_inc INTEGER,  -- increase within the minute, resets handled
    rx_errors_first INTEGER,  -- first reading
    rx_errors_last INTEGER,  -- last reading
    rx_errors_inc INTEGER,  -- increase within the minute, resets handled
    rx_drops_first INTEGER,  -- first reading
    rx_drops_last INTEGER,  -- last reading
    rx_drops_inc INTEGER,  -- increase within the minute, resets handled
    tx_bytes_first INTEGER,  -- first reading
    tx_bytes_last INTEGER,  -- last reading
    tx_bytes_inc INTEGER,  -- increase within the minute, resets handled
    tx_packets_first INTEGER,  -- first reading
    tx_packets_last INTEGER,  -- last reading
    tx_packets_inc INTEGER,  -- increase within the minute, resets handled
    tx_errors_first INTEGER,  -- first reading
    tx_errors_last INTEGER,  -- last reading
    tx_errors_inc INTEGER,  -- increase within the minute, resets handled
    tx_drops_first INTEGER,  -- first reading
    tx_drops_last INTEGER,  -- last reading
    tx_drops_inc INTEGER,  -- increase within the minute, resets handled
    ordered INTEGER  -- 0 once a row arrived older than the minute's last: queries then read that minute's rows
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_network_interface_stats_1m_key ON network_interface_stats_1m(minute, ifnull(host, X''), ifnull(interface_name, X''));
CREATE TRIGGER IF NOT EXISTS trg_network_interface_stats_1m AFTER INSERT ON network_interface_stats BEGIN
    INSERT INTO network_interface_stats_1m (minute, host, interface_name, rows, first_ts, last_ts, rx_bytes_first, rx_bytes_last, rx_bytes_inc, rx_packets_first, rx_packets_last, rx_packets_inc, rx_errors_first, rx_errors_last, rx_errors_inc, rx_drops_first, rx_drops_last, rx_drops_inc, tx_bytes_first, tx_bytes_last, tx_bytes_inc, tx_packets_first, tx_packets_last, tx_packets_inc, tx_errors_first, tx_errors_last, tx_errors_inc, tx_drops_first, tx_drops_last, tx_drops_inc, ordered)
    VALUES (NEW.timestamp / 60000000000 * 60000000000, NEW.host, NEW.interface_name, 1, NEW.timestamp, NEW.timestamp, NEW.rx_bytes, NEW.rx_bytes, 0, NEW.rx_packets, NEW.rx_packets, 0, NEW.rx_errors, NEW.rx_errors, 0, NEW.rx_drops, NEW.rx_drops, 0, NEW.tx_bytes, NEW.tx_bytes, 0, NEW.tx_packets, NEW.tx_packets, 0, NEW.tx_errors, NEW.tx_errors, 0, NEW.tx_drops, NEW.tx_drops, 0, 1)
    ON CONFLICT (minute, ifnull(host, X''), ifnull(interface_name, X'')) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        rx_bytes_inc = rx_bytes_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.rx_bytes_last IS NOT NULL AND rx_bytes_last IS NOT NULL THEN CASE WHEN excluded.rx_bytes_last >= rx_bytes_last THEN excluded.rx_bytes_last - rx_bytes_last ELSE excluded.rx_bytes_last END ELSE 0 END,
        rx_bytes_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.rx_bytes_last ELSE rx_bytes_last END,
        rx_packets_inc = rx_packets_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.rx_packets_last IS NOT NULL AND rx_packets_last IS NOT NULL THEN CASE WHEN excluded.rx_packets_last >= rx_packets_last THEN excluded.rx_packets_last - rx_packets_last ELSE excluded.rx_packets_last END ELSE 0 END,
        rx_packets_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.rx_packets_last ELSE rx_packets_last END,
        rx_errors_inc = rx_errors_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.rx_errors_last IS NOT NULL AND rx_errors_last IS NOT NULL THEN CASE WHEN excluded.rx_errors_last >= rx_errors_last THEN excluded.rx_errors_last - rx_errors_last ELSE excluded.rx_errors_last END ELSE 0 END,
        rx_errors_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.rx_errors_last ELSE rx_errors_last END,
        rx_drops_inc = rx_drops_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.rx_drops_last IS NOT NULL AND rx_drops_last IS NOT NULL THEN CASE WHEN excluded.rx_drops_last >= rx_drops_last THEN excluded.rx_drops_last - rx_drops_last ELSE excluded.rx_drops_last END ELSE 0 END,
        rx_drops_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.rx_drops_last ELSE rx_drops_last END,
        tx_bytes_inc = tx_bytes_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.tx_bytes_last IS NOT NULL AND tx_bytes_last IS NOT NULL THEN CASE WHEN excluded.tx_bytes_last >= tx_bytes_last THEN excluded.tx_bytes_last - tx_bytes_last ELSE excluded.tx_bytes_last END ELSE 0 END,
        tx_bytes_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.tx_bytes_last ELSE tx_bytes_last END,
        tx_packets_inc = tx_packets_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.tx_packets_last IS NOT NULL AND tx_packets_last IS NOT NULL THEN CASE WHEN excluded.tx_packets_last >= tx_packets_last THEN excluded.tx_packets_last - tx_packets_last ELSE excluded.tx_packets_last END ELSE 0 END,
        tx_packets_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.tx_packets_last ELSE tx_packets_last END,
        tx_errors_inc = tx_errors_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.tx_errors_last IS NOT NULL AND tx_errors_last IS NOT NULL THEN CASE WHEN excluded.tx_errors_last >= tx_errors_last THEN excluded.tx_errors_last - tx_errors_last ELSE excluded.tx_errors_last END ELSE 0 END,
        tx_errors_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.tx_errors_last ELSE tx_errors_last END,
        tx_drops_inc = tx_drops_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.tx_drops_last IS NOT NULL AND tx_drops_last IS NOT NULL THEN CASE WHEN excluded.tx_drops_last >= tx_drops_last THEN excluded.tx_drops_last - tx_drops_last ELSE excluded.tx_drops_last END ELSE 0 END,
        tx_drops_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.tx_drops_last ELSE tx_drops_last END,
        ordered = ordered AND excluded.first_ts >= last_ts;
END;
CREATE TRIGGER IF NOT EXISTS trg_network_interface_stats_1m_delete AFTER DELETE ON network_interface_stats BEGIN
    DELETE FROM network_interface_stats_1m WHERE minute = OLD.timestamp / 60000000000 * 60000000000 AND ifnull(host, X'') = ifnull(OLD.host, X'') AND ifnull(interface_name, X'') = ifnull(OLD.interface_name, X'');
    INSERT INTO network_interface_stats_1m (minute, host, interface_name, rows, first_ts, last_ts, rx_bytes_first, rx_bytes_last, rx_bytes_inc, rx_packets_first, rx_packets_last, rx_packets_inc, rx_errors_first, rx_errors_last, rx_errors_inc, rx_drops_first, rx_drops_last, rx_drops_inc, tx_bytes_first, tx_bytes_last, tx_bytes_inc, tx_packets_first, tx_packets_last, tx_packets_inc, tx_errors_first, tx_errors_last, tx_errors_inc, tx_drops_first, tx_drops_last, tx_drops_inc, ordered)
    SELECT timestamp / 60000000000 * 60000000000, host, interface_name, 1, timestamp, timestamp, rx_bytes, rx_bytes, 0, rx_packets, rx_packets, 0, rx_errors, rx_errors, 0, rx_drops, rx_drops, 0, tx_bytes, tx_bytes, 0, tx_packets, tx_packets, 0, tx_errors, tx_errors, 0, tx_drops, tx_drops, 0, 1 FROM network_interface_stats WHERE timestamp >= OLD.timestamp / 60000000000 * 60000000000 AND timestamp < OLD.timestamp / 60000000000 * 60000000000 + 60000000000 AND host IS OLD.host AND interface_name IS OLD.interface_name ORDER BY timestamp, id
    ON CONFLICT (minute, ifnull(host, X''), ifnull(interface_name, X'')) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        rx_bytes_inc = rx_bytes_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.rx_bytes_last IS NOT NULL AND rx_bytes_last IS NOT NULL THEN CASE WHEN excluded.rx_bytes_last >= rx_bytes_last THEN excluded.rx_bytes_last - rx_bytes_last ELSE excluded.rx_bytes_last END ELSE 0 END,
        rx_bytes_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.rx_bytes_last ELSE rx_bytes_last END,
        rx_packets_inc = rx_packets_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.rx_packets_last IS NOT NULL AND rx_packets_last IS NOT NULL THEN CASE WHEN excluded.rx_packets_last >= rx_packets_last THEN excluded.rx_packets_last - rx_packets_last ELSE excluded.rx_packets_last END ELSE 0 END,
        rx_packets_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.rx_packets_last ELSE rx_packets_last END,
        rx_errors_inc = rx_errors_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.rx_errors_last IS NOT NULL AND rx_errors_last IS NOT NULL THEN CASE WHEN excluded.rx_errors_last >= rx_errors_last THEN excluded.rx_errors_last - rx_errors_last ELSE excluded.rx_errors_last END ELSE 0 END,
        rx_errors_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.rx_errors_last ELSE rx_errors_last END,
        rx_drops_inc = rx_drops_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.rx_drops_last IS NOT NULL AND rx_drops_last IS NOT NULL THEN CASE WHEN excluded.rx_drops_last >= rx_drops_last THEN excluded.rx_drops_last - rx_drops_last ELSE excluded.rx_drops_last END ELSE 0 END,
        rx_drops_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.rx_drops_last ELSE rx_drops_last END,
        tx_bytes_inc = tx_bytes_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.tx_bytes_last IS NOT NULL AND tx_bytes_last IS NOT NULL THEN CASE WHEN excluded.tx_bytes_last >= tx_bytes_last THEN excluded.tx_bytes_last - tx_bytes_last ELSE excluded.tx_bytes_last END ELSE 0 END,
        tx_bytes_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.tx_bytes_last ELSE tx_bytes_last END,
        tx_packets_inc = tx_packets_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.tx_packets_last IS NOT NULL AND tx_packets_last IS NOT NULL THEN CASE WHEN excluded.tx_packets_last >= tx_packets_last THEN excluded.tx_packets_last - tx_packets_last ELSE excluded.tx_packets_last END ELSE 0 END,
        tx_packets_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.tx_packets_last ELSE tx_packets_last END,
        tx_errors_inc = tx_errors_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.tx_errors_last IS NOT NULL AND tx_errors_last IS NOT NULL THEN CASE WHEN excluded.tx_errors_last >= tx_errors_last THEN excluded.tx_errors_last - tx_errors_last ELSE excluded.tx_errors_last END ELSE 0 END,
        tx_errors_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.tx_errors_last ELSE tx_errors_last END,
        tx_drops_inc = tx_drops_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.tx_drops_last IS NOT NULL AND tx_drops_last IS NOT NULL THEN CASE WHEN excluded.tx_drops_last >= tx_drops_last THEN excluded.tx_drops_last - tx_drops_last ELSE excluded.tx_drops_last END ELSE 0 END,
        tx_drops_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.tx_drops_last ELSE tx_drops_last END,
        ordered = ordered AND excluded.first_ts >= last_ts;
END;

-- network_interface_stats per hour, built from the minutes before they are dropped.
CREATE TABLE IF NOT EXISTS network_interface_stats_1h (
    hour INTEGER NOT NULL,  -- ns: start of the hour (timestamp / 3600 s)
    host TEXT,
    interface_name TEXT,
    rows INTEGER,  -- count: rows summarised
    first_ts INTEGER,  -- ns: first row's timestamp
    last_ts INTEGER,  -- ns: last row's timestamp
    rx_bytes_first INTEGER,  -- first reading
    rx_bytes_last INTEGER,  -- last reading
    rx_bytes_inc INTEGER,  -- increase within the minute, resets handled
    rx_packets_first INTEGER,  -- first reading
    rx_packets_last INTEGER,  -- last reading
    rx_packets_inc INTEGER,  -- increase within the minute, resets handled
    rx_errors_first INTEGER,  -- first reading
    rx_errors_last INTEGER,  -- last reading
    rx_errors_inc INTEGER,  -- increase within the minute, resets handled
    rx_drops_first INTEGER,  -- first reading
    rx_drops_last INTEGER,  -- last reading
    rx_drops_inc INTEGER,  -- increase within the minute, resets handled
    tx_bytes_first INTEGER,  -- first reading
    tx_bytes_last INTEGER,  -- last reading
    tx_bytes_inc INTEGER,  -- increase within the minute, resets handled
    tx_packets_first INTEGER,  -- first reading
    tx_packets_last INTEGER,  -- last reading
    tx_packets_inc INTEGER,  -- increase within the minute, resets handled
    tx_errors_first INTEGER,  -- first reading
    tx_errors_last INTEGER,  -- last reading
    tx_errors_inc INTEGER,  -- increase within the minute, resets handled
    tx_drops_first INTEGER,  -- first reading
    tx_drops_last INTEGER,  -- last reading
    tx_drops_inc INTEGER,  -- increase within the minute, resets handled
    ordered INTEGER  -- 0 once a row arrived older than the minute's last: queries then read that minute's rows
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_network_interface_stats_1h_key ON network_interface_stats_1h(hour, ifnull(host, X''), ifnull(interface_name, X''));

-- tcp_retransmit_stats per minute and host, kept by its trigger.
CREATE TABLE IF NOT EXISTS tcp_retransmit_stats_1m (
    minute INTEGER NOT NULL,  -- ns: start of the minute (timestamp / 60 s)
    host TEXT,
    rows INTEGER,  -- count: rows summarised
    first_ts INTEGER,  -- ns: first row's timestamp
    last_ts INTEGER,  -- ns: last row's timestamp
    retrans_segs_first INTEGER,  -- first reading
    retrans_segs_last INTEGER,  -- last reading
    retrans_segs_inc INTEGER,  -- increase within the minute, resets handled
    out_segs_first INTEGER,  -- first reading
    out_segs_last INTEGER,  -- last reading
    out_segs_inc INTEGER,  -- increase within the minute, resets handled
    in_errs_first INTEGER,  -- first reading
    in_errs_last INTEGER,  -- last reading
    in_errs_inc INTEGER,  -- increase within the minute, resets handled
    timeouts_first INTEGER,  -- first reading
    timeouts_last INTEGER,  -- last reading
    timeouts_inc INTEGER,  -- increase within the minute, resets handled
    lost_retransmit_first INTEGER,  -- first reading
    lost_retransmit_last INTEGER,  -- last reading
    lost_retransmit_inc INTEGER,  -- increase within the minute, resets handled
    fast_retrans_first INTEGER,  -- first reading
    fast_retrans_last INTEGER,  -- last reading
    fast_retrans_inc INTEGER,  -- increase within the minute, resets handled
    slow_start_retrans_first INTEGER,  -- first reading
    slow_start_retrans_last INTEGER,  -- last reading
    slow_start_retrans_inc INTEGER,  -- increase within the minute, resets handled
    syn_retrans_first INTEGER,  -- first reading
    syn_retrans_last INTEGER,  -- last reading
    syn_retrans_inc INTEGER,  -- increase within the minute, resets handled
    listen_overflows_first INTEGER,  -- first reading
    listen_overflows_last INTEGER,  -- last reading
    listen_overflows_inc INTEGER,  -- increase within the minute, resets handled
    listen_drops_first INTEGER,  -- first reading
    listen_drops_last INTEGER,  -- last reading
    listen_drops_inc INTEGER,  -- increase within the minute, resets handled
    ordered INTEGER  -- 0 once a row arrived older than the minute's last: queries then read that minute's rows
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_tcp_retransmit_stats_1m_key ON tcp_retransmit_stats_1m(minute, ifnull(host, X''));
CREATE TRIGGER IF NOT EXISTS trg_tcp_retransmit_stats_1m AFTER INSERT ON tcp_retransmit_stats BEGIN
    INSERT INTO tcp_retransmit_stats_1m (minute, host, rows, first_ts, last_ts, retrans_segs_first, retrans_segs_last, retrans_segs_inc, out_segs_first, out_segs_last, out_segs_inc, in_errs_first, in_errs_last, in_errs_inc, timeouts_first, timeouts_last, timeouts_inc, lost_retransmit_first, lost_retransmit_last, lost_retransmit_inc, fast_retrans_first, fast_retrans_last, fast_retrans_inc, slow_start_retrans_first, slow_start_retrans_last, slow_start_retrans_inc, syn_retrans_first, syn_retrans_last, syn_retrans_inc, listen_overflows_first, listen_overflows_last, listen_overflows_inc, listen_drops_first, listen_drops_last, listen_drops_inc, ordered)
    VALUES (NEW.timestamp / 60000000000 * 60000000000, NEW.host, 1, NEW.timestamp, NEW.timestamp, NEW.retrans_segs, NEW.retrans_segs, 0, NEW.out_segs, NEW.out_segs, 0, NEW.in_errs, NEW.in_errs, 0, NEW.timeouts, NEW.timeouts, 0, NEW.lost_retransmit, NEW.lost_retransmit, 0, NEW.fast_retrans, NEW.fast_retrans, 0, NEW.slow_start_retrans, NEW.slow_start_retrans, 0, NEW.syn_retrans, NEW.syn_retrans, 0, NEW.listen_overflows, NEW.listen_overflows, 0, NEW.listen_drops, NEW.listen_drops, 0, 1)
    ON CONFLICT (minute, ifnull(host, X'')) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        retrans_segs_inc = retrans_segs_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.retrans_segs_last IS NOT NULL AND retrans_segs_last IS NOT NULL THEN CASE WHEN excluded.retrans_segs_last >= retrans_segs_last THEN excluded.retrans_segs_last - retrans_segs_last ELSE excluded.retrans_segs_last END ELSE 0 END,
        retrans_segs_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.retrans_segs_last ELSE retrans_segs_last END,
        out_segs_inc = out_segs_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.out_segs_last IS NOT NULL AND out_segs_last IS NOT NULL THEN CASE WHEN excluded.out_segs_last >= out_segs_last THEN excluded.out_segs_last - out_segs_last ELSE excluded.out_segs_last END ELSE 0 END,
        out_segs_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.out_segs_last ELSE out_segs_last END,
        in_errs_inc = in_errs_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.in_errs_last IS NOT NULL AND in_errs_last IS NOT NULL THEN CASE WHEN excluded.in_errs_last >= in_errs_last THEN excluded.in_errs_last - in_errs_last ELSE excluded.in_errs_last END ELSE 0 END,
        in_errs_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.in_errs_last ELSE in_errs_last END,
        timeouts_inc = timeouts_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.timeouts_last IS NOT NULL AND timeouts_last IS NOT NULL THEN CASE WHEN excluded.timeouts_last >= timeouts_last THEN excluded.timeouts_last - timeouts_last ELSE excluded.timeouts_last END ELSE 0 END,
        timeouts_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.timeouts_last ELSE timeouts_last END,
        lost_retransmit_inc = lost_retransmit_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.lost_retransmit_last IS NOT NULL AND lost_retransmit_last IS NOT NULL THEN CASE WHEN excluded.lost_retransmit_last >= lost_retransmit_last THEN excluded.lost_retransmit_last - lost_retransmit_last ELSE excluded.lost_retransmit_last END ELSE 0 END,
        lost_retransmit_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.lost_retransmit_last ELSE lost_retransmit_last END,
        fast_retrans_inc = fast_retrans_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.fast_retrans_last IS NOT NULL AND fast_retrans_last IS NOT NULL THEN CASE WHEN excluded.fast_retrans_last >= fast_retrans_last THEN excluded.fast_retrans_last - fast_retrans_last ELSE excluded.fast_retrans_last END ELSE 0 END,
        fast_retrans_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.fast_retrans_last ELSE fast_retrans_last END,
        slow_start_retrans_inc = slow_start_retrans_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.slow_start_retrans_last IS NOT NULL AND slow_start_retrans_last IS NOT NULL THEN CASE WHEN excluded.slow_start_retrans_last >= slow_start_retrans_last THEN excluded.slow_start_retrans_last - slow_start_retrans_last ELSE excluded.slow_start_retrans_last END ELSE 0 END,
        slow_start_retrans_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.slow_start_retrans_last ELSE slow_start_retrans_last END,
        syn_retrans_inc = syn_retrans_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.syn_retrans_last IS NOT NULL AND syn_retrans_last IS NOT NULL THEN CASE WHEN excluded.syn_retrans_last >= syn_retrans_last THEN excluded.syn_retrans_last - syn_retrans_last ELSE excluded.syn_retrans_last END ELSE 0 END,
        syn_retrans_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.syn_retrans_last ELSE syn_retrans_last END,
        listen_overflows_inc = listen_overflows_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.listen_overflows_last IS NOT NULL AND listen_overflows_last IS NOT NULL THEN CASE WHEN excluded.listen_overflows_last >= listen_overflows_last THEN excluded.listen_overflows_last - listen_overflows_last ELSE excluded.listen_overflows_last END ELSE 0 END,
        listen_overflows_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.listen_overflows_last ELSE listen_overflows_last END,
        listen_drops_inc = listen_drops_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.listen_drops_last IS NOT NULL AND listen_drops_last IS NOT NULL THEN CASE WHEN excluded.listen_drops_last >= listen_drops_last THEN excluded.listen_drops_last - listen_drops_last ELSE excluded.listen_drops_last END ELSE 0 END,
        listen_drops_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.listen_drops_last ELSE listen_drops_last END,
        ordered = ordered AND excluded.first_ts >= last_ts;
END;
CREATE TRIGGER IF NOT EXISTS trg_tcp_retransmit_stats_1m_delete AFTER DELETE ON tcp_retransmit_stats BEGIN
    DELETE FROM tcp_retransmit_stats_1m WHERE minute = OLD.timestamp / 60000000000 * 60000000000 AND ifnull(host, X'') = ifnull(OLD.host, X'');
    INSERT INTO tcp_retransmit_stats_1m (minute, host, rows, first_ts, last_ts, retrans_segs_first, retrans_segs_last, retrans_segs_inc, out_segs_first, out_segs_last, out_segs_inc, in_errs_first, in_errs_last, in_errs_inc, timeouts_first, timeouts_last, timeouts_inc, lost_retransmit_first, lost_retransmit_last, lost_retransmit_inc, fast_retrans_first, fast_retrans_last, fast_retrans_inc, slow_start_retrans_first, slow_start_retrans_last, slow_start_retrans_inc, syn_retrans_first, syn_retrans_last, syn_retrans_inc, listen_overflows_first, listen_overflows_last, listen_overflows_inc, listen_drops_first, listen_drops_last, listen_drops_inc, ordered)
    SELECT timestamp / 60000000000 * 60000000000, host, 1, timestamp, timestamp, retrans_segs, retrans_segs, 0, out_segs, out_segs, 0, in_errs, in_errs, 0, timeouts, timeouts, 0, lost_retransmit, lost_retransmit, 0, fast_retrans, fast_retrans, 0, slow_start_retrans, slow_start_retrans, 0, syn_retrans, syn_retrans, 0, listen_overflows, listen_overflows, 0, listen_drops, listen_drops, 0, 1 FROM tcp_retransmit_stats WHERE timestamp >= OLD.timestamp / 60000000000 * 60000000000 AND timestamp < OLD.timestamp / 60000000000 * 60000000000 + 60000000000 AND host IS OLD.host ORDER BY timestamp, id
    ON CONFLICT (minute, ifnull(host, X'')) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        retrans_segs_inc = retrans_segs_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.retrans_segs_last IS NOT NULL AND retrans_segs_last IS NOT NULL THEN CASE WHEN excluded.retrans_segs_last >= retrans_segs_last THEN excluded.retrans_segs_last - retrans_segs_last ELSE excluded.retrans_segs_last END ELSE 0 END,
        retrans_segs_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.retrans_segs_last ELSE retrans_segs_last END,
        out_segs_inc = out_segs_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.out_segs_last IS NOT NULL AND out_segs_last IS NOT NULL THEN CASE WHEN excluded.out_segs_last >= out_segs_last THEN excluded.out_segs_last - out_segs_last ELSE excluded.out_segs_last END ELSE 0 END,
        out_segs_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.out_segs_last ELSE out_segs_last END,
        in_errs_inc = in_errs_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.in_errs_last IS NOT NULL AND in_errs_last IS NOT NULL THEN CASE WHEN excluded.in_errs_last >= in_errs_last THEN excluded.in_errs_last - in_errs_last ELSE excluded.in_errs_last END ELSE 0 END,
        in_errs_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.in_errs_last ELSE in_errs_last END,
        timeouts_inc = timeouts_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.timeouts_last IS NOT NULL AND timeouts_last IS NOT NULL THEN CASE WHEN excluded.timeouts_last >= timeouts_last THEN excluded.timeouts_last - timeouts_last ELSE excluded.timeouts_last END ELSE 0 END,
        timeouts_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.timeouts_last ELSE timeouts_last END,
        lost_retransmit_inc = lost_retransmit_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.lost_retransmit_last IS NOT NULL AND lost_retransmit_last IS NOT NULL THEN CASE WHEN excluded.lost_retransmit_last >= lost_retransmit_last THEN excluded.lost_retransmit_last - lost_retransmit_last ELSE excluded.lost_retransmit_last END ELSE 0 END,
        lost_retransmit_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.lost_retransmit_last ELSE lost_retransmit_last END,
        fast_retrans_inc = fast_retrans_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.fast_retrans_last IS NOT NULL AND fast_retrans_last IS NOT NULL THEN CASE WHEN excluded.fast_retrans_last >= fast_retrans_last THEN excluded.fast_retrans_last - fast_retrans_last ELSE excluded.fast_retrans_last END ELSE 0 END,
        fast_retrans_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.fast_retrans_last ELSE fast_retrans_last END,
        slow_start_retrans_inc = slow_start_retrans_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.slow_start_retrans_last IS NOT NULL AND slow_start_retrans_last IS NOT NULL THEN CASE WHEN excluded.slow_start_retrans_last >= slow_start_retrans_last THEN excluded.slow_start_retrans_last - slow_start_retrans_last ELSE excluded.slow_start_retrans_last END ELSE 0 END,
        slow_start_retrans_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.slow_start_retrans_last ELSE slow_start_retrans_last END,
        syn_retrans_inc = syn_retrans_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.syn_retrans_last IS NOT NULL AND syn_retrans_last IS NOT NULL THEN CASE WHEN excluded.syn_retrans_last >= syn_retrans_last THEN excluded.syn_retrans_last - syn_retrans_last ELSE excluded.syn_retrans_last END ELSE 0 END,
        syn_retrans_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.syn_retrans_last ELSE syn_retrans_last END,
        listen_overflows_inc = listen_overflows_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.listen_overflows_last IS NOT NULL AND listen_overflows_last IS NOT NULL THEN CASE WHEN excluded.listen_overflows_last >= listen_overflows_last THEN excluded.listen_overflows_last - listen_overflows_last ELSE excluded.listen_overflows_last END ELSE 0 END,
        listen_overflows_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.listen_overflows_last ELSE listen_overflows_last END,
        listen_drops_inc = listen_drops_inc + CASE WHEN excluded.first_ts >= last_ts AND excluded.listen_drops_last IS NOT NULL AND listen_drops_last IS NOT NULL THEN CASE WHEN excluded.listen_drops_last >= listen_drops_last THEN excluded.listen_drops_last - listen_drops_last ELSE excluded.listen_drops_last END ELSE 0 END,
        listen_drops_last = CASE WHEN excluded.first_ts >= last_ts THEN excluded.listen_drops_last ELSE listen_drops_last END,
        ordered = ordered AND excluded.first_ts >= last_ts;
END;

-- tcp_retransmit_stats per hour, built from the minutes before they are dropped.
CREATE TABLE IF NOT EXISTS tcp_retransmit_stats_1h (
    hour INTEGER NOT NULL,  -- ns: start of the hour (timestamp / 3600 s)
    host TEXT,
    rows INTEGER,  -- count: rows summarised
    first_ts INTEGER,  -- ns: first row's timestamp
    last_ts INTEGER,  -- ns: last row's timestamp
    retrans_segs_first INTEGER,  -- first reading
    retrans_segs_last INTEGER,  -- last reading
    retrans_segs_inc INTEGER,  -- increase within the minute, resets handled
    out_segs_first INTEGER,  -- first reading
    out_segs_last INTEGER,  -- last reading
    out_segs_inc INTEGER,  -- increase within the minute, resets handled
    in_errs_first INTEGER,  -- first reading
    in_errs_last INTEGER,  -- last reading
    in_errs_inc INTEGER,  -- increase within the minute, resets handled
    timeouts_first INTEGER,  -- first reading
    timeouts_last INTEGER,  -- last reading
    timeouts_inc INTEGER,  -- increase within the minute, resets handled
    lost_retransmit_first INTEGER,  -- first reading
    lost_retransmit_last INTEGER,  -- last reading
    lost_retransmit_inc INTEGER,  -- increase within the minute, resets handled
    fast_retrans_first INTEGER,  -- first reading
    fast_retrans_last INTEGER,  -- last reading
    fast_retrans_inc INTEGER,  -- increase within the minute, resets handled
    slow_start_retrans_first INTEGER,  -- first reading
    slow_start_retrans_last INTEGER,  -- last reading
    slow_start_retrans_inc INTEGER,  -- increase within the minute, resets handled
    syn_retrans_first INTEGER,  -- first reading
    syn_retrans_last INTEGER,  -- last reading
    syn_retrans_inc INTEGER,  -- increase within the minute, resets handled
    listen_overflows_first INTEGER,  -- first reading
    listen_overflows_last INTEGER,  -- last reading
    listen_overflows_inc INTEGER,  -- increase within the minute, resets handled
    listen_drops_first INTEGER,  -- first reading
    listen_drops_last INTEGER,  -- last reading
    listen_drops_inc INTEGER,  -- increase within the minute, resets handled
    ordered INTEGER  -- 0 once a row arrived older than the minute's last: queries then read that minute's rows
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_tcp_retransmit_stats_1h_key ON tcp_retransmit_stats_1h(hour, ifnull(host, X''));

-- Valid JSON objects ks-ingest could not place: kept whole, with when and why.
CREATE TABLE IF NOT EXISTS unknown_events (
    id INTEGER PRIMARY KEY,
    received_ns INTEGER NOT NULL,  -- ns: when ks-ingest read it
    type TEXT,  -- its "type" field, if any
    reason TEXT,  -- why it was not placed
    raw TEXT NOT NULL  -- the line as read
);

-- What ks-retain last applied, per table and tier (raw, or a TIERS suffix): queries
-- read a coarser tier where a finer one was dropped, and `ks-query tables` shows it.
CREATE TABLE IF NOT EXISTS retention_state (
    tbl TEXT NOT NULL,  -- the event table
    tier TEXT NOT NULL,  -- raw, _1m, _1h
    keep TEXT,  -- the age kept, as given to ks-retain (7d)
    cutoff_ns INTEGER NOT NULL,  -- ns: rows of the tier older than this are gone
    applied_ns INTEGER NOT NULL,  -- ns: when
    PRIMARY KEY (tbl, tier)
);

-- The last commit of each running ks-ingest (ingest/writer.py): kept in the same transaction.
CREATE TABLE IF NOT EXISTS ingest_commits (
    writer TEXT PRIMARY KEY,  -- the run's token
    batch INTEGER NOT NULL,  -- its last committed job
    result TEXT NOT NULL  -- JSON: rows stored per table, rows refused
);

-- Per input file: the lines ks-ingest has committed (stored, rejected or blank), for --resume.
CREATE TABLE IF NOT EXISTS ingest_sources (
    path TEXT PRIMARY KEY,  -- the file's real path
    dev INTEGER NOT NULL,  -- st_dev and st_ino: the same file, not one put in its place
    inode INTEGER NOT NULL,
    lines INTEGER NOT NULL,  -- lines read and committed from its start
    updated_ns INTEGER NOT NULL  -- ns: when that commit was made
);

CREATE VIEW IF NOT EXISTS v_recent_slow_syscalls AS
SELECT timestamp, host, pid, tid, comm, syscall_name,
       latency_ns / 1e6 AS latency_ms, ret_value, is_error
FROM syscall_events
WHERE timestamp > (CAST(strftime('%s', 'now') AS INTEGER) - 3600) * 1000000000
ORDER BY latency_ns DESC;

CREATE VIEW IF NOT EXISTS v_memory_pressure AS
SELECT timestamp, host, mem_total_kb, mem_available_kb,
       (mem_total_kb - mem_available_kb) * 100.0 / NULLIF(mem_total_kb, 0) AS used_pct,
       swap_total_kb - swap_free_kb AS swap_used_kb,
       (swap_total_kb - swap_free_kb) * 100.0 / NULLIF(swap_total_kb, 0) AS swap_used_pct,
       dirty_kb, writeback_kb
FROM memory_metrics;

CREATE VIEW IF NOT EXISTS v_io_performance AS
SELECT timestamp, host, device,
       read_count, write_count,
       read_bytes * 1e9 / COALESCE(NULLIF(interval_ns, 0), 1000000000) AS read_bytes_per_s,
       write_bytes * 1e9 / COALESCE(NULLIF(interval_ns, 0), 1000000000) AS write_bytes_per_s,
       read_p95_us, read_p99_us, read_max_us,
       write_p95_us, write_p99_us, write_max_us
FROM io_latency_stats;
