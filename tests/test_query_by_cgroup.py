"""ks-query sched-procs / syscall-procs --by cgroup: per-process rows ks-ingest stored,
summed per cgroup v2 path; the same rows --by process sum to the same totals."""

from __future__ import annotations

import time

import orjson
import pytest

from conftest import run_ks

# (pid, comm, cgroup, run-queue wait ns, slow-call latencies ns)
PROCS = [
    (101, "nginx", "/kubepods/pod-a", 5_000_000, [20_000_000, 30_000_000]),
    (102, "nginx", "/kubepods/pod-a", 7_000_000, [15_000_000]),
    (201, "postgres", "/kubepods/pod-b", 40_000_000, [50_000_000, 60_000_000, 70_000_000]),
    (301, "sshd", None, 1_000_000, []),     # a row without cgroup (an older collector)
]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("bycg") / "ks.db"
    now = time.time_ns() - 60_000_000_000
    lines = []
    for i in range(2):      # two intervals: sums, not the last row
        for pid, comm, cgroup, wait, calls in PROCS:
            lines.append({"type": "sched_stats", "timestamp": now + i, "host": "h", "pid": pid,
                          "comm": comm, "cgroup": cgroup, "interval_ns": 1_000_000_000,
                          "runq_wait_ns": wait, "runq_waits": 2, "context_switches": 3})
    for pid, comm, cgroup, _, calls in PROCS:
        for latency in calls:
            lines.append({"type": "syscall", "timestamp": now, "host": "h", "pid": pid,
                          "comm": comm, "cgroup": cgroup, "syscall_name": "read",
                          "latency_ns": latency})
    feed = b"\n".join(orjson.dumps({k: v for k, v in e.items() if v is not None}) for e in lines)
    run_ks("ks-ingest", "--db-path", str(path), input=feed + b"\n", check=True)
    return path


def query(db, *args) -> list[dict]:
    r = run_ks("ks-query", *args, "--db-path", str(db), "-f", "json", "--since", "10m")
    assert r.returncode == 0, r.stderr
    return [orjson.loads(line) for line in r.stdout.splitlines()]


def test_sched_procs_by_cgroup_sums_its_processes(db):
    got = {r["cgroup"]: (r["runq_wait_ms"], r["processes"]) for r in query(db, "sched-procs", "--by", "cgroup")}
    assert got == {"/kubepods/pod-b": (80.0, 1), "/kubepods/pod-a": (24.0, 2), "": (2.0, 1)}
    by_pid = query(db, "sched-procs")
    assert sum(r["runq_wait_ms"] for r in by_pid) == sum(w for w, _ in got.values())
    assert {r["pid"] for r in by_pid} == {p[0] for p in PROCS}


def test_syscall_procs_by_cgroup(db):
    rows = query(db, "syscall-procs", "--by", "cgroup")
    assert [(r["cgroup"], r["slow_calls"], r["total_latency_ms"]) for r in rows] == \
        [("/kubepods/pod-b", 3, 180.0), ("/kubepods/pod-a", 3, 65.0)]
    assert "top_syscall" in query(db, "syscall-procs")[0]


def test_a_bad_by_is_one_line(db):
    r = run_ks("ks-query", "sched-procs", "--by", "pod", "--db-path", str(db))
    assert r.returncode != 0 and b"use one of process, cgroup" in r.stderr
    assert b"Traceback" not in r.stderr
