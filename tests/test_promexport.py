"""ks-promexport: text format promtool accepts, histograms whose buckets are exact
counts of the raw samples, counters that survive incremental runs."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import run_ks
from kernelsight.query import synthetic

NS = 1_000_000_000
SECONDS = 300
PROMTOOL = shutil.which("promtool")


def exact_percentile(values, q):
    s = sorted(values)
    return s[max(1, math.ceil(q / 100 * len(s))) - 1]


@pytest.fixture
def db(tmp_path):
    start = (time.time_ns() // NS - SECONDS - 5) * NS
    sc = synthetic.scenario(start, SECONDS, seed=3)
    path = tmp_path / "ks.db"
    synthetic.write_events(path, sc.events)
    return path, sc, start


def export(db_path, *args) -> str:
    p = run_ks("ks-promexport", "--db-path", str(db_path), *args)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode()


def samples(text: str, name: str) -> list:
    out = []
    for fam in text_string_to_metric_families(text):
        out += [s for s in fam.samples if s.name == name]
    return out


def buckets_of(text, name, **labels):
    return sorted(((float(s.labels["le"]), s.value) for s in samples(text, f"{name}_bucket")
                   if all(s.labels.get(k) == v for k, v in labels.items())))


def one(text, name, **labels):
    (s,) = [s for s in samples(text, name) if all(s.labels.get(k) == v for k, v in labels.items())]
    return s.value


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed")
def test_promtool_is_silent(db):
    out = export(db[0], "--no-rtt-gauges", "-")
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=out.encode(), capture_output=True)
    assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
    # The RTT design's gauge names are the one thing its lint objects to.
    out = export(db[0], "-")
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=out.encode(), capture_output=True)
    findings = (p.stdout + p.stderr).decode().splitlines()
    assert sorted(findings) == [f'ebpf_rtt_p{q}_milliseconds use base unit "seconds" instead of "milliseconds"'
                                for q in (50, 99)]


def test_no_timestamps_and_bounded_le(db):
    out = export(db[0], "-")
    for line in out.splitlines():
        if line and not line.startswith("#"):
            after_labels = line.rpartition("}")[2] if "}" in line else line.partition(" ")[2]
            assert len(after_labels.split()) == 1, f"more than a value on {line!r}"
    les = [le for le, _ in buckets_of(out, "ks_tcp_rtt_seconds", node="alpha")]
    # alpha's samples span 1-30 ms: the octaves 2^9..2^15 us at 4 bounds each, 2^15 itself, +Inf
    assert len(les) == 6 * 4 + 1 + 1
    assert les[0] == 512e-6 and les[-2] == 32768e-6


def test_histogram_buckets_are_exact_counts_of_the_raw_samples(db):
    path, sc, _ = db
    out = export(path, "-")
    for node in ("alpha", "beta"):
        raw = sc.samples(("rtt", node))
        got = buckets_of(out, "ks_tcp_rtt_seconds", node=node)
        assert got[-1] == (math.inf, len(raw))
        for le, count in got[:-1]:
            # bucket bounds are exclusive in kernelsight's scheme: le counts samples below it
            assert count == sum(1 for v in raw if v < round(le * 1e6)), (node, le)
        assert one(out, "ks_tcp_rtt_seconds_count", node=node) == len(raw)
        assert one(out, "ks_tcp_rtt_seconds_sum", node=node) == pytest.approx(sum(raw) / 1e6)
    raw = sc.samples(("io", "vda", "write"))
    assert one(out, "ks_block_io_latency_seconds_count", device="vda", op="write") == len(raw)
    # io_latency_stats keeps no sum: estimated from bucket midpoints, within the bucket width
    assert one(out, "ks_block_io_latency_seconds_sum", device="vda", op="write") == pytest.approx(
        sum(raw) / 1e6, rel=1 / 32)
    assert one(out, "ks_runqueue_latency_seconds_count") == len(sc.samples(("runq",)))


def test_seed_gauges_over_the_window(db):
    path, sc, _ = db
    out = export(path, "--window", "1h", "-")
    for node in ("alpha", "beta", "gamma"):
        raw = sc.samples(("rtt", node))
        assert one(out, "ebpf_rtt_p99_milliseconds", node=node) == pytest.approx(
            exact_percentile(raw, 99) / 1e3, rel=1 / 16 + 0.01)
        assert one(out, "ebpf_rtt_p50_milliseconds", node=node) == pytest.approx(
            exact_percentile(raw, 50) / 1e3, rel=1 / 16 + 0.01)
    # the last 100 s are all in alpha's slow phase (10-30 ms)
    out = export(path, "--window", "100s", "-")
    assert 25 < one(out, "ebpf_rtt_p99_milliseconds", node="alpha") < 32


def test_gauges_counters_and_freshness(db):
    path, sc, start = db
    before = time.time_ns()
    out = export(path, "-")
    after = time.time_ns()
    assert one(out, "ks_memory_total_bytes") == 8_000_000 * 1024
    assert one(out, "ks_tcp_connections", state="listen") == 4
    assert one(out, "ks_cpu_usage_ratio", mode="idle") == pytest.approx(0.2)
    slow = [e for e in sc.events if e["type"] == "syscall"]
    assert one(out, "ks_slow_syscalls_total", syscall="read") == sum(1 for e in slow if e["syscall_name"] == "read")
    assert one(out, "ks_page_faults_total", kind="major") == SECONDS // 10
    newest = start + (SECONDS - 1) * NS
    age = one(out, "ks_table_newest_row_age_seconds", table="rtt_stats")
    assert (before - newest) / NS - 0.01 <= age <= (after - newest) / NS + 0.01


def test_top_n_keeps_the_busiest_and_sums_the_rest(db):
    path, sc, _ = db
    out = export(path, "--top", "1", "-")
    nodes = {s.labels["node"] for s in samples(out, "ks_tcp_rtt_seconds_count")}
    assert nodes == {"alpha", "other"}
    assert one(out, "ks_tcp_rtt_seconds_count", node="other") == (
        len(sc.samples(("rtt", "beta"))) + len(sc.samples(("rtt", "gamma"))))
    assert {s.labels["node"] for s in samples(out, "ebpf_rtt_p99_milliseconds")} == {"alpha", "other"}


def test_textfile_is_atomic_and_runs_are_incremental(db, tmp_path):
    path, sc, start = db
    tf = tmp_path / "textfile"
    tf.mkdir()
    export(path, "--textfile-dir", str(tf))
    first = (tf / "kernelsight.prom").read_text()
    # more rows arrive: a minute after the first batch
    more = synthetic.scenario(start + SECONDS * NS, 60, seed=4)
    synthetic.write_events(path, more.events)
    export(path, "--textfile-dir", str(tf))
    second = (tf / "kernelsight.prom").read_text()
    assert sorted(os.listdir(tf)) == ["kernelsight.prom"]   # the state is beside the database
    assert sorted(os.listdir(tmp_path / "promexport-state")) == ["textfile.state", "textfile.state.lock"]
    fresh = export(path, "-")  # no state: every row read again
    for name in ("ks_tcp_rtt_seconds_count", "ks_slow_syscalls_total", "ks_page_faults_total",
                 "ks_block_io_latency_seconds_count"):
        a = {tuple(sorted(s.labels.items())): s.value for s in samples(first, name)}
        b = {tuple(sorted(s.labels.items())): s.value for s in samples(second, name)}
        c = {tuple(sorted(s.labels.items())): s.value for s in samples(fresh, name)}
        assert b == c, name
        assert all(b[k] >= v for k, v in a.items()), f"{name} went backwards"
    raw = sc.samples(("rtt", "alpha")) + more.samples(("rtt", "alpha"))
    assert one(second, "ks_tcp_rtt_seconds_count", node="alpha") == len(raw)


def test_a_new_database_starts_the_totals_afresh(db, tmp_path):
    path, _, start = db
    tf = tmp_path / "tf"
    tf.mkdir()
    export(path, "--textfile-dir", str(tf))
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{path}{suffix}"):
            os.unlink(f"{path}{suffix}")
    small = synthetic.scenario(start, 20, seed=5)
    synthetic.write_events(path, small.events)
    export(path, "--textfile-dir", str(tf))
    out = (tf / "kernelsight.prom").read_text()
    assert one(out, "ks_tcp_rtt_seconds_count", node="alpha") == len(small.samples(("rtt", "alpha")))


def test_errors_are_one_line(tmp_path, db):
    p = run_ks("ks-promexport", "--db-path", str(tmp_path / "none.db"), "-")
    assert p.returncode == 1 and p.stderr.decode().count("\n") == 1 and b"no database at" in p.stderr
    p = run_ks("ks-promexport", "--db-path", str(db[0]), "--textfile-dir", str(tmp_path / "missing"))
    assert p.returncode == 1 and b"not a directory" in p.stderr and b"Traceback" not in p.stderr
    p = run_ks("ks-promexport", "--db-path", str(db[0]), "--window", "soon", "-")
    assert p.returncode == 2 and b"duration" in p.stderr and b"Traceback" not in p.stderr


def test_a_second_run_steps_aside_while_the_first_holds_the_state(db, tmp_path):
    import fcntl

    tf = tmp_path / "tf"
    tf.mkdir()
    (tmp_path / "promexport-state").mkdir()
    with open(tmp_path / "promexport-state" / "textfile.state.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        p = run_ks("ks-promexport", "--db-path", str(db[0]), "--textfile-dir", str(tf))
    assert p.returncode == 0 and b"another ks-promexport" in p.stderr
    assert not (tf / "kernelsight.prom").exists()
    export(db[0], "--textfile-dir", str(tf))  # the lock is free again
    assert (tf / "kernelsight.prom").exists()
