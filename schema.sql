-- kernelsight SQLite schema, generated from ingest/events.py by `make schema`.
-- Do not edit by hand: change the registry and regenerate (a test compares them).
-- Timestamps are INTEGER ns since the Unix epoch; units are in each column's comment.

CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL,  -- kernelsight schema version
    applied_ns INTEGER NOT NULL  -- ns: when this version was applied
);

-- syscall: A system call slower than the tracer's threshold (default 10 ms), stamped when it returned.
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
    comm TEXT  -- thread name, at most 16 characters
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
    comm TEXT
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
    cpu_time_ms REAL,  -- ms: time on a CPU, switch-in to switch-out (interrupts and steal time included)
    avg_timeslice_us REAL,  -- us: cpu_time over context_switches
    runq_wait_ns INTEGER,  -- ns: time its threads were runnable but waiting for a CPU
    runq_waits INTEGER  -- count: run-queue waits that ended in the interval
);
CREATE INDEX IF NOT EXISTS idx_sched_stats_timestamp ON sched_stats(timestamp);
CREATE INDEX IF NOT EXISTS idx_sched_stats_pid ON sched_stats(pid);

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

-- memory: /proc/meminfo.
CREATE TABLE IF NOT EXISTS memory_metrics (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    mem_total_kb INTEGER,  -- kB
    mem_free_kb INTEGER,  -- kB
    mem_available_kb INTEGER,  -- kB
    buffers_kb INTEGER,  -- kB
    cached_kb INTEGER,  -- kB
    swap_total_kb INTEGER,  -- kB
    swap_free_kb INTEGER,  -- kB
    active_kb INTEGER,  -- kB
    inactive_kb INTEGER,  -- kB
    dirty_kb INTEGER,  -- kB
    writeback_kb INTEGER  -- kB
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
    read_ios INTEGER,  -- count
    read_merges INTEGER,  -- count
    read_sectors INTEGER,  -- sectors
    read_ticks INTEGER,  -- ms
    write_ios INTEGER,  -- count
    write_merges INTEGER,  -- count
    write_sectors INTEGER,  -- sectors
    write_ticks INTEGER,  -- ms
    in_flight INTEGER,  -- count
    io_ticks INTEGER,  -- ms
    time_in_queue INTEGER  -- ms
);
CREATE INDEX IF NOT EXISTS idx_block_stats_timestamp ON block_stats(timestamp);
CREATE INDEX IF NOT EXISTS idx_block_stats_device_name_timestamp ON block_stats(device_name, timestamp);

-- network: /proc/net/dev, per interface; cumulative counters.
CREATE TABLE IF NOT EXISTS network_interface_stats (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    interface_name TEXT,
    rx_bytes INTEGER,  -- bytes
    rx_packets INTEGER,  -- count
    rx_errors INTEGER,  -- count
    rx_drops INTEGER,  -- count
    tx_bytes INTEGER,  -- bytes
    tx_packets INTEGER,  -- count
    tx_errors INTEGER,  -- count
    tx_drops INTEGER  -- count
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
    retrans_segs INTEGER,  -- count: Tcp RetransSegs
    out_segs INTEGER,  -- count: Tcp OutSegs
    in_errs INTEGER,  -- count: Tcp InErrs
    timeouts INTEGER,  -- count: TcpExt TCPTimeouts
    lost_retransmit INTEGER,  -- count: TcpExt TCPLostRetransmit
    fast_retrans INTEGER,  -- count: TcpExt TCPFastRetrans
    slow_start_retrans INTEGER,  -- count: TcpExt TCPSlowStartRetrans
    syn_retrans INTEGER,  -- count: TcpExt TCPSynRetrans
    listen_overflows INTEGER,  -- count: TcpExt ListenOverflows
    listen_drops INTEGER  -- count: TcpExt ListenDrops
);
CREATE INDEX IF NOT EXISTS idx_tcp_retransmit_stats_timestamp ON tcp_retransmit_stats(timestamp);

-- cpu: CPU utilisation over the last interval from /proc/stat deltas (cpu = -1: whole machine).
CREATE TABLE IF NOT EXISTS cpu_metrics (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,  -- ns: wall-clock time, ns since the Unix epoch
    host TEXT,  -- hostname of the machine the event describes
    cpu INTEGER,  -- -1 for the whole machine
    user_pct REAL,  -- pct
    nice_pct REAL,  -- pct
    system_pct REAL,  -- pct
    iowait_pct REAL,  -- pct
    irq_pct REAL,  -- pct
    softirq_pct REAL,  -- pct
    steal_pct REAL,  -- pct
    idle_pct REAL  -- pct
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
    buckets TEXT  -- hist_us: merged
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_page_fault_stats_1m_key ON page_fault_stats_1m(minute, host, pid, comm);
CREATE TRIGGER IF NOT EXISTS trg_page_fault_stats_1m AFTER INSERT ON page_fault_stats BEGIN
    INSERT INTO page_fault_stats_1m (minute, host, pid, comm, rows, first_ts, last_ts, interval_ns, minor_count, major_count, latency_sum_ns, count, buckets)
    VALUES (NEW.timestamp / 60000000000 * 60000000000, NEW.host, NEW.pid, NEW.comm, 1, NEW.timestamp, NEW.timestamp, NEW.interval_ns, NEW.minor_count, NEW.major_count, NEW.latency_sum_ns, NEW.count, CASE WHEN json_valid(NEW.buckets) THEN NEW.buckets END)
    ON CONFLICT (minute, host, pid, comm) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        interval_ns = CASE WHEN excluded.last_ts >= last_ts THEN excluded.interval_ns ELSE interval_ns END,
        minor_count = coalesce(minor_count, 0) + coalesce(excluded.minor_count, 0),
        major_count = coalesce(major_count, 0) + coalesce(excluded.major_count, 0),
        latency_sum_ns = coalesce(latency_sum_ns, 0) + coalesce(excluded.latency_sum_ns, 0),
        count = coalesce(count, 0) + coalesce(excluded.count, 0),
        buckets = CASE WHEN excluded.buckets IS NULL THEN buckets WHEN buckets IS NULL THEN excluded.buckets ELSE (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(buckets) UNION ALL SELECT value FROM json_each(excluded.buckets)) WHERE json_type(value) = 'array' GROUP BY b ORDER BY b)) END;
END;
CREATE TRIGGER IF NOT EXISTS trg_page_fault_stats_1m_delete AFTER DELETE ON page_fault_stats BEGIN
    DELETE FROM page_fault_stats_1m WHERE minute = OLD.timestamp / 60000000000 * 60000000000 AND host IS OLD.host AND pid IS OLD.pid AND comm IS OLD.comm;
    INSERT INTO page_fault_stats_1m (minute, host, pid, comm, rows, first_ts, last_ts, interval_ns, minor_count, major_count, latency_sum_ns, count, buckets)
    SELECT timestamp / 60000000000 * 60000000000, host, pid, comm, 1, timestamp, timestamp, interval_ns, minor_count, major_count, latency_sum_ns, count, CASE WHEN json_valid(buckets) THEN buckets END FROM page_fault_stats WHERE timestamp >= OLD.timestamp / 60000000000 * 60000000000 AND timestamp < OLD.timestamp / 60000000000 * 60000000000 + 60000000000 AND host IS OLD.host AND pid IS OLD.pid AND comm IS OLD.comm ORDER BY id
    ON CONFLICT (minute, host, pid, comm) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        interval_ns = CASE WHEN excluded.last_ts >= last_ts THEN excluded.interval_ns ELSE interval_ns END,
        minor_count = coalesce(minor_count, 0) + coalesce(excluded.minor_count, 0),
        major_count = coalesce(major_count, 0) + coalesce(excluded.major_count, 0),
        latency_sum_ns = coalesce(latency_sum_ns, 0) + coalesce(excluded.latency_sum_ns, 0),
        count = coalesce(count, 0) + coalesce(excluded.count, 0),
        buckets = CASE WHEN excluded.buckets IS NULL THEN buckets WHEN buckets IS NULL THEN excluded.buckets ELSE (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(buckets) UNION ALL SELECT value FROM json_each(excluded.buckets)) WHERE json_type(value) = 'array' GROUP BY b ORDER BY b)) END;
END;

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
    read_buckets TEXT,  -- hist_us: merged
    write_buckets TEXT  -- hist_us: merged
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_io_latency_stats_1m_key ON io_latency_stats_1m(minute, host, device);
CREATE TRIGGER IF NOT EXISTS trg_io_latency_stats_1m AFTER INSERT ON io_latency_stats BEGIN
    INSERT INTO io_latency_stats_1m (minute, host, device, rows, first_ts, last_ts, interval_ns, read_count, write_count, read_bytes, write_bytes, read_buckets, write_buckets)
    VALUES (NEW.timestamp / 60000000000 * 60000000000, NEW.host, NEW.device, 1, NEW.timestamp, NEW.timestamp, NEW.interval_ns, NEW.read_count, NEW.write_count, NEW.read_bytes, NEW.write_bytes, CASE WHEN json_valid(NEW.read_buckets) THEN NEW.read_buckets END, CASE WHEN json_valid(NEW.write_buckets) THEN NEW.write_buckets END)
    ON CONFLICT (minute, host, device) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        interval_ns = CASE WHEN excluded.last_ts >= last_ts THEN excluded.interval_ns ELSE interval_ns END,
        read_count = coalesce(read_count, 0) + coalesce(excluded.read_count, 0),
        write_count = coalesce(write_count, 0) + coalesce(excluded.write_count, 0),
        read_bytes = coalesce(read_bytes, 0) + coalesce(excluded.read_bytes, 0),
        write_bytes = coalesce(write_bytes, 0) + coalesce(excluded.write_bytes, 0),
        read_buckets = CASE WHEN excluded.read_buckets IS NULL THEN read_buckets WHEN read_buckets IS NULL THEN excluded.read_buckets ELSE (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(read_buckets) UNION ALL SELECT value FROM json_each(excluded.read_buckets)) WHERE json_type(value) = 'array' GROUP BY b ORDER BY b)) END,
        write_buckets = CASE WHEN excluded.write_buckets IS NULL THEN write_buckets WHEN write_buckets IS NULL THEN excluded.write_buckets ELSE (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(write_buckets) UNION ALL SELECT value FROM json_each(excluded.write_buckets)) WHERE json_type(value) = 'array' GROUP BY b ORDER BY b)) END;
END;
CREATE TRIGGER IF NOT EXISTS trg_io_latency_stats_1m_delete AFTER DELETE ON io_latency_stats BEGIN
    DELETE FROM io_latency_stats_1m WHERE minute = OLD.timestamp / 60000000000 * 60000000000 AND host IS OLD.host AND device IS OLD.device;
    INSERT INTO io_latency_stats_1m (minute, host, device, rows, first_ts, last_ts, interval_ns, read_count, write_count, read_bytes, write_bytes, read_buckets, write_buckets)
    SELECT timestamp / 60000000000 * 60000000000, host, device, 1, timestamp, timestamp, interval_ns, read_count, write_count, read_bytes, write_bytes, CASE WHEN json_valid(read_buckets) THEN read_buckets END, CASE WHEN json_valid(write_buckets) THEN write_buckets END FROM io_latency_stats WHERE timestamp >= OLD.timestamp / 60000000000 * 60000000000 AND timestamp < OLD.timestamp / 60000000000 * 60000000000 + 60000000000 AND host IS OLD.host AND device IS OLD.device ORDER BY id
    ON CONFLICT (minute, host, device) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        interval_ns = CASE WHEN excluded.last_ts >= last_ts THEN excluded.interval_ns ELSE interval_ns END,
        read_count = coalesce(read_count, 0) + coalesce(excluded.read_count, 0),
        write_count = coalesce(write_count, 0) + coalesce(excluded.write_count, 0),
        read_bytes = coalesce(read_bytes, 0) + coalesce(excluded.read_bytes, 0),
        write_bytes = coalesce(write_bytes, 0) + coalesce(excluded.write_bytes, 0),
        read_buckets = CASE WHEN excluded.read_buckets IS NULL THEN read_buckets WHEN read_buckets IS NULL THEN excluded.read_buckets ELSE (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(read_buckets) UNION ALL SELECT value FROM json_each(excluded.read_buckets)) WHERE json_type(value) = 'array' GROUP BY b ORDER BY b)) END,
        write_buckets = CASE WHEN excluded.write_buckets IS NULL THEN write_buckets WHEN write_buckets IS NULL THEN excluded.write_buckets ELSE (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(write_buckets) UNION ALL SELECT value FROM json_each(excluded.write_buckets)) WHERE json_type(value) = 'array' GROUP BY b ORDER BY b)) END;
END;

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
    buckets TEXT  -- hist_us: merged
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_runqlat_stats_1m_key ON runqlat_stats_1m(minute, host, cpu);
CREATE TRIGGER IF NOT EXISTS trg_runqlat_stats_1m AFTER INSERT ON runqlat_stats BEGIN
    INSERT INTO runqlat_stats_1m (minute, host, cpu, rows, first_ts, last_ts, interval_ns, sum_us, count, buckets)
    VALUES (NEW.timestamp / 60000000000 * 60000000000, NEW.host, NEW.cpu, 1, NEW.timestamp, NEW.timestamp, NEW.interval_ns, NEW.sum_us, NEW.count, CASE WHEN json_valid(NEW.buckets) THEN NEW.buckets END)
    ON CONFLICT (minute, host, cpu) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        interval_ns = CASE WHEN excluded.last_ts >= last_ts THEN excluded.interval_ns ELSE interval_ns END,
        sum_us = coalesce(sum_us, 0) + coalesce(excluded.sum_us, 0),
        count = coalesce(count, 0) + coalesce(excluded.count, 0),
        buckets = CASE WHEN excluded.buckets IS NULL THEN buckets WHEN buckets IS NULL THEN excluded.buckets ELSE (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(buckets) UNION ALL SELECT value FROM json_each(excluded.buckets)) WHERE json_type(value) = 'array' GROUP BY b ORDER BY b)) END;
END;
CREATE TRIGGER IF NOT EXISTS trg_runqlat_stats_1m_delete AFTER DELETE ON runqlat_stats BEGIN
    DELETE FROM runqlat_stats_1m WHERE minute = OLD.timestamp / 60000000000 * 60000000000 AND host IS OLD.host AND cpu IS OLD.cpu;
    INSERT INTO runqlat_stats_1m (minute, host, cpu, rows, first_ts, last_ts, interval_ns, sum_us, count, buckets)
    SELECT timestamp / 60000000000 * 60000000000, host, cpu, 1, timestamp, timestamp, interval_ns, sum_us, count, CASE WHEN json_valid(buckets) THEN buckets END FROM runqlat_stats WHERE timestamp >= OLD.timestamp / 60000000000 * 60000000000 AND timestamp < OLD.timestamp / 60000000000 * 60000000000 + 60000000000 AND host IS OLD.host AND cpu IS OLD.cpu ORDER BY id
    ON CONFLICT (minute, host, cpu) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        interval_ns = CASE WHEN excluded.last_ts >= last_ts THEN excluded.interval_ns ELSE interval_ns END,
        sum_us = coalesce(sum_us, 0) + coalesce(excluded.sum_us, 0),
        count = coalesce(count, 0) + coalesce(excluded.count, 0),
        buckets = CASE WHEN excluded.buckets IS NULL THEN buckets WHEN buckets IS NULL THEN excluded.buckets ELSE (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(buckets) UNION ALL SELECT value FROM json_each(excluded.buckets)) WHERE json_type(value) = 'array' GROUP BY b ORDER BY b)) END;
END;

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
    buckets TEXT  -- hist_us: merged
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_rtt_stats_1m_key ON rtt_stats_1m(minute, host, node, peer);
CREATE TRIGGER IF NOT EXISTS trg_rtt_stats_1m AFTER INSERT ON rtt_stats BEGIN
    INSERT INTO rtt_stats_1m (minute, host, node, peer, rows, first_ts, last_ts, interval_ns, count, sum_us, retrans_count, drop_count, buckets)
    VALUES (NEW.timestamp / 60000000000 * 60000000000, NEW.host, NEW.node, NEW.peer, 1, NEW.timestamp, NEW.timestamp, NEW.interval_ns, NEW.count, NEW.sum_us, NEW.retrans_count, NEW.drop_count, CASE WHEN json_valid(NEW.buckets) THEN NEW.buckets END)
    ON CONFLICT (minute, host, node, peer) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        interval_ns = CASE WHEN excluded.last_ts >= last_ts THEN excluded.interval_ns ELSE interval_ns END,
        count = coalesce(count, 0) + coalesce(excluded.count, 0),
        sum_us = coalesce(sum_us, 0) + coalesce(excluded.sum_us, 0),
        retrans_count = coalesce(retrans_count, 0) + coalesce(excluded.retrans_count, 0),
        drop_count = coalesce(drop_count, 0) + coalesce(excluded.drop_count, 0),
        buckets = CASE WHEN excluded.buckets IS NULL THEN buckets WHEN buckets IS NULL THEN excluded.buckets ELSE (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(buckets) UNION ALL SELECT value FROM json_each(excluded.buckets)) WHERE json_type(value) = 'array' GROUP BY b ORDER BY b)) END;
END;
CREATE TRIGGER IF NOT EXISTS trg_rtt_stats_1m_delete AFTER DELETE ON rtt_stats BEGIN
    DELETE FROM rtt_stats_1m WHERE minute = OLD.timestamp / 60000000000 * 60000000000 AND host IS OLD.host AND node IS OLD.node AND peer IS OLD.peer;
    INSERT INTO rtt_stats_1m (minute, host, node, peer, rows, first_ts, last_ts, interval_ns, count, sum_us, retrans_count, drop_count, buckets)
    SELECT timestamp / 60000000000 * 60000000000, host, node, peer, 1, timestamp, timestamp, interval_ns, count, sum_us, retrans_count, drop_count, CASE WHEN json_valid(buckets) THEN buckets END FROM rtt_stats WHERE timestamp >= OLD.timestamp / 60000000000 * 60000000000 AND timestamp < OLD.timestamp / 60000000000 * 60000000000 + 60000000000 AND host IS OLD.host AND node IS OLD.node AND peer IS OLD.peer ORDER BY id
    ON CONFLICT (minute, host, node, peer) DO UPDATE SET
        rows = rows + 1,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts),
        interval_ns = CASE WHEN excluded.last_ts >= last_ts THEN excluded.interval_ns ELSE interval_ns END,
        count = coalesce(count, 0) + coalesce(excluded.count, 0),
        sum_us = coalesce(sum_us, 0) + coalesce(excluded.sum_us, 0),
        retrans_count = coalesce(retrans_count, 0) + coalesce(excluded.retrans_count, 0),
        drop_count = coalesce(drop_count, 0) + coalesce(excluded.drop_count, 0),
        buckets = CASE WHEN excluded.buckets IS NULL THEN buckets WHEN buckets IS NULL THEN excluded.buckets ELSE (SELECT json_group_array(json_array(b, n)) FROM (SELECT value ->> 0 AS b, sum(value ->> 1) AS n FROM (SELECT value FROM json_each(buckets) UNION ALL SELECT value FROM json_each(excluded.buckets)) WHERE json_type(value) = 'array' GROUP BY b ORDER BY b)) END;
END;

-- Valid JSON objects ks-ingest could not place: kept whole, with when and why.
CREATE TABLE IF NOT EXISTS unknown_events (
    id INTEGER PRIMARY KEY,
    received_ns INTEGER NOT NULL,  -- ns: when ks-ingest read it
    type TEXT,  -- its "type" field, if any
    reason TEXT,  -- why it was not placed
    raw TEXT NOT NULL  -- the line as read
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
