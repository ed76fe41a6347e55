"""ks-promexport --top: open-ended labels keep the values busiest by what they
measure (calls, segments, bytes), never the alphabetically first; a value that
gets busy later takes a series without any counter going backwards."""

from __future__ import annotations

import random

from prometheus_client.parser import text_string_to_metric_families

from conftest import run_ks
from kernelsight.query import synthetic

NS = 1_000_000_000
HOUR = 3600 * NS
T0 = 1_780_000_000 * NS
# alphabetically first and nearly idle, then the busy ones (as in the issue)
IDLE = ["access", "bpf", "close", "epoll_wait", "fcntl", "futex", "getpid", "ioctl", "lseek", "mmap"]
BUSY = {"pwrite64": 3950, "pselect6": 3600, "pread64": 1800}


def export(db, tf, top, *args) -> dict:
    p = run_ks("ks-promexport", "--db-path", str(db), "--textfile-dir", str(tf), "--top", str(top), *args)
    assert p.returncode == 0, p.stderr.decode()
    text = (tf / "kernelsight.prom").read_text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def series(out, name, label) -> dict:
    return {dict(k)[label]: v for (n, k), v in out.items() if n == name}


def syscall_rows(start, minutes, counts, seed):
    rnd = random.Random(seed)
    events = []
    for m in range(minutes):
        for name, n in counts.items():
            events.append({"type": "syscall_stats", "timestamp": start + m * 60 * NS, "host": "h",
                           "interval_ns": 60 * NS, "syscall_name": name,
                           "count": max(1, int(n * rnd.uniform(0.8, 1.2))), "errors": 0,
                           "total_ns": n * 1000, "max_ns": 1000})
    return events


def test_syscalls_rank_by_calls_and_a_late_busy_one_enters(tmp_path):
    db, tf = tmp_path / "ks.db", tmp_path / "tf"
    tf.mkdir()
    first = syscall_rows(T0, 30, {**{n: 1 for n in IDLE}, **BUSY}, seed=1)
    synthetic.write_events(db, first)
    one = series(export(db, tf, 3), "ks_syscalls_total", "syscall")
    truth = {}
    for e in first:
        truth[e["syscall_name"]] = truth.get(e["syscall_name"], 0) + e["count"]
    assert set(one) == {*BUSY, "other"}
    assert {k: one[k] for k in BUSY} == {k: truth[k] for k in BUSY}
    assert one["other"] == sum(truth[n] for n in IDLE)

    # Two hours later `write` (alphabetically last) is the busiest of all; pread64 went quiet.
    later = syscall_rows(T0 + 2 * HOUR, 30, {"write": 9000, "pwrite64": 3950, "pselect6": 3600,
                                              "pread64": 1, "access": 1}, seed=2)
    synthetic.write_events(db, later)
    two = series(export(db, tf, 3), "ks_syscalls_total", "syscall")
    assert set(two) == {"write", "pwrite64", "pselect6", "other"}
    for name, value in one.items():           # nothing that is still written went backwards
        assert two.get(name, value) >= value, name
    assert two["write"] == sum(e["count"] for e in later if e["syscall_name"] == "write")
    # every call is in exactly one series; pread64's is no longer written, its total frozen
    total = sum(e["count"] for e in first + later)
    assert sum(two.values()) == total - one["pread64"]


def test_a_near_tie_does_not_swap_series_every_run(tmp_path):
    db, tf = tmp_path / "ks.db", tmp_path / "tf"
    tf.mkdir()
    synthetic.write_events(db, syscall_rows(T0, 10, {"read": 1000, "write": 990}, seed=3))
    assert set(series(export(db, tf, 1), "ks_syscalls_total", "syscall")) == {"read", "other"}
    # write now slightly ahead: not by a quarter, so read keeps its series
    synthetic.write_events(db, syscall_rows(T0 + 10 * 60 * NS, 10, {"read": 1000, "write": 1100}, seed=4))
    assert set(series(export(db, tf, 1), "ks_syscalls_total", "syscall")) == {"read", "other"}


def test_nodes_rank_by_segments(tmp_path):
    db, tf = tmp_path / "ks.db", tmp_path / "tf"
    tf.mkdir()
    events = []
    for s in range(120):
        for node, n in (("a-idle", 1), ("b-idle", 1), ("z-busy", 500)):
            events.append({"type": "rtt", "timestamp": T0 + s * NS, "host": "h", "node": node,
                           "interval_ns": NS, "count": n, "sum_us": n * 1000, "buckets": [[200, n]]})
    synthetic.write_events(db, events)
    out = export(db, tf, 1, "--window", "100000d")
    counts = series(out, "ks_tcp_rtt_seconds_count", "node")
    assert counts == {"z-busy": 120 * 500, "other": 240}
    assert set(series(out, "ebpf_rtt_p99_milliseconds", "node")) == {"z-busy", "other"}


def test_interfaces_and_devices_rank_by_bytes_moved_lately(tmp_path):
    """eth0 moved the most bytes since boot but is idle now; wlan9 is busy now."""
    db, tf = tmp_path / "ks.db", tmp_path / "tf"
    tf.mkdir()
    events = []
    for s in range(180):
        ts = T0 + s * NS
        for name, base, rate in (("eth0", 10**12, 0), ("lo", 0, 1), ("wlan9", 0, 10**6)):
            events.append({"type": "network", "timestamp": ts, "host": "h", "interface_name": name,
                           "rx_bytes": base + rate * s, "tx_bytes": base, "rx_packets": 0, "tx_packets": 0})
        for name, base, rate in (("sda", 10**10, 0), ("vdb", 0, 5000)):
            events.append({"type": "block", "timestamp": ts, "host": "h", "device_name": name,
                           "read_ios": s, "write_ios": 0, "read_sectors": base + rate * s,
                           "write_sectors": base, "in_flight": 0})
    synthetic.write_events(db, events)
    p = run_ks("ks-promexport", "--db-path", str(db), "--top", "1", "--stale-after", "100000d", "-")
    assert p.returncode == 0, p.stderr.decode()
    out = {(s.name, tuple(sorted(s.labels.items()))): s.value
           for fam in text_string_to_metric_families(p.stdout.decode()) for s in fam.samples}
    assert series(out, "ks_network_rx_bytes_total", "interface") == {"wlan9": 179 * 10**6}
    assert series(out, "ks_block_read_bytes_total", "device") == {"vdb": 179 * 5000 * 512}


def sched_and_perf_rows(start, seconds):
    """Per-process run-queue waits and ks-perf counters: `zz-batch` waits the most,
    scope pid:42 uses the most CPU; the alphabetically first are nearly idle."""
    events = []
    for s in range(seconds):
        ts = start + s * NS
        for pid, comm, wait in ((1, "aa-idle", 1000), (2, "bb-idle", 2000), (3, "zz-batch", 7_000_000)):
            events.append({"type": "sched_stats", "timestamp": ts, "host": "h", "interval_ns": NS, "pid": pid,
                           "comm": comm, "context_switches": 2, "runq_wait_ns": wait, "runq_waits": 2})
        for scope, clock in (("cgroup:/a", 1000), ("pid:42", 900_000_000), ("system", 5_000)):
            for counter, value in (("task-clock", clock), ("context-switches", 7), ("ipc", 1.5)):
                events.append({"type": "perf", "timestamp": ts, "host": "h", "interval_ns": NS, "cpu": -1,
                               "counter": counter, "scope": scope, "value": value})
            events.append({"type": "perf", "timestamp": ts, "host": "h", "interval_ns": NS, "cpu": 0,
                           "counter": "task-clock", "scope": scope, "value": clock})   # per CPU: not summed
    return events


def test_per_process_runqueue_wait_and_perf_counters(tmp_path):
    db, tf = tmp_path / "ks.db", tmp_path / "tf"
    tf.mkdir()
    synthetic.write_events(db, sched_and_perf_rows(T0, 60))
    out = export(db, tf, 1)
    assert series(out, "ks_process_runqueue_wait_seconds_total", "comm") == {
        "zz-batch": 60 * 7_000_000 / 1e9, "other": 60 * 3000 / 1e9}
    assert series(out, "ks_process_runqueue_waits_total", "comm") == {"zz-batch": 120, "other": 240}
    clocks = {(dict(k)["scope"], dict(k)["counter"]): v for (n, k), v in out.items()
              if n == "ks_perf_clock_seconds_total"}
    assert clocks == {("pid:42", "task-clock"): 60 * 0.9, ("other", "task-clock"): 60 * 6000 / 1e9}
    events = {(dict(k)["scope"], dict(k)["counter"]): v for (n, k), v in out.items() if n == "ks_perf_events_total"}
    assert events == {("pid:42", "context-switches"): 60 * 7, ("other", "context-switches"): 120 * 7}


def test_sched_procs_answers_who_waited_longest(tmp_path):
    import time

    import orjson

    db = tmp_path / "ks.db"
    start = (time.time_ns() // NS - 120) * NS
    synthetic.write_events(db, sched_and_perf_rows(start, 60))
    p = run_ks("ks-query", "sched-procs", "--db-path", str(db), "--since", "1h", "-f", "json")
    assert p.returncode == 0, p.stderr.decode()
    got = [orjson.loads(line) for line in p.stdout.splitlines()]
    assert [(r["comm"], r["runq_wait_ms"], r["runq_waits"]) for r in got] == [
        ("zz-batch", 60 * 7.0, 120), ("bb-idle", 60 * 0.002, 120), ("aa-idle", 60 * 0.001, 120)]
    assert got[0]["mean_wait_us"] == 3500.0
    # sched-waits, which reads only the waits over the threshold, has nothing to say here
    p = run_ks("ks-query", "sched-waits", "--db-path", str(db), "--since", "1h", "-f", "json")
    assert p.stdout == b"" and b"no long run-queue waits" in p.stderr


def test_raw_table_ranks_read_incrementally_equal_a_fresh_read(tmp_path):
    """sched_stats and perf_counters are ranked from raw rows, read run by run (a
    scrape must not re-read hours of rows): the sums kept in the state, through a save
    and a load, score every value exactly as reading the whole window afresh."""
    from kernelsight.query import prom_rank
    from kernelsight.query.db import Database
    from kernelsight.query.prom_spec import RANKS
    from kernelsight.query.prom_state import State

    db, path = tmp_path / "ks.db", str(tmp_path / "state")
    raw = [r for r in RANKS if r.table in ("sched_stats", "perf_counters")]
    assert all(r.source == r.table for r in raw) and len(raw) == 2
    # runs 4 h apart, the first rows leaving the 6 h window before the last run, and two
    # runs a minute apart whose rows add to the same 10-minute step
    for run, start in enumerate((T0, T0 + 4 * HOUR, T0 + 4 * HOUR + 60 * NS, T0 + 8 * HOUR)):
        synthetic.write_events(db, sched_and_perf_rows(start, 30 + 5 * run))
        state = State(path)
        with Database(str(db)) as d:
            kept = {r.column: prom_rank.scores(d, state.table(d, r.table), r, None) for r in raw}
            fresh = {r.column: prom_rank.scores(d, State(None).table(d, r.table), r, None) for r in raw}
        state.save()
        state.close()
        assert kept.keys() == fresh.keys() and all(kept[c] for c in kept)
        for c in kept:
            assert kept[c].keys() == fresh[c].keys()
            for v in kept[c]:
                assert abs(kept[c][v] - fresh[c][v]) <= 1e-9 * fresh[c][v], (run, c, v)
