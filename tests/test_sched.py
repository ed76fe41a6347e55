"""ks-sched against the kernel's own bookkeeping: /proc/PID/schedstat's run_delay.

More CPU-bound processes than CPUs wait for each other in the run queue; the kernel
adds every such wait to the second field of /proc/PID/schedstat.  ks-sched's
per-process total (sched_stats.runq_wait_ns) over the same span must agree within
10 %, and its histograms and long-wait events must be consistent with that total.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import orjson
import pytest

from conftest import collector_events, ks, needs_root, pipe_into_ingest, reported, rows, run_ks

BUSY_COMM = "ksbusy"
BUSY_SECONDS = 3.0
MIN_LATENCY_MS = 5
TOP = 2     # --hist-per process --top: fewer than the children, so some are summed

# A child that names itself, says it is ready, waits for "go" on stdin, spins for
# BUSY_SECONDS, says "done" and sleeps on stdin until it is killed.
CHILD = f"""
import ctypes, os, time
ctypes.CDLL(None).prctl(15, b"{BUSY_COMM}", 0, 0, 0)   # PR_SET_NAME
os.write(1, b"ready\\n")
os.read(0, 1)
end = time.monotonic() + {BUSY_SECONDS}
while time.monotonic() < end:
    pass
os.write(1, b"done\\n")
os.read(0, 1)
"""


def schedstat(pid: int) -> tuple[int, int]:
    """(ns on a CPU, ns runnable waiting for one, times it got a CPU): the kernel's own
    sums."""
    with open(f"/proc/{pid}/schedstat") as f:
        on_cpu, run_delay, pcount = f.read().split()[:3]
    return int(on_cpu), int(run_delay), int(pcount)


def wait_for(path, needle: str, proc: subprocess.Popen, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if needle in path.read_text():
            return
        if proc.poll() is not None:
            pytest.fail(f"ks-sched exited early: {path.read_text()}")
        time.sleep(0.05)
    pytest.fail(f"ks-sched did not say {needle!r} in {timeout} s")


@pytest.fixture(scope="module", params=["task", "hash"])
def busy_run(request, tmp_path_factory):
    """ks-sched --per-process --comm ksbusy around 2 x ncpu busy children, with the
    enqueue times in task local storage (the default) and in the hash alternative."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    tmp = tmp_path_factory.mktemp("sched")
    out, err = tmp / "out.ndjson", tmp / "err.txt"
    n = 2 * len(os.sched_getaffinity(0))
    children = [subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE) for _ in range(n)]
    tracer = None
    try:
        for c in children:
            assert c.stdout.readline() == b"ready\n"
        # Attached only now, with every child asleep: ks-sched first sees each child
        # when "go" gives it the CPU, the moment `before` stands for.
        tracer = subprocess.Popen(
            [ks("ks-sched"), "--per-process", "--comm", BUSY_COMM, "--interval", "0.5",
             "--hist-per", "process", "--top", str(TOP),
             "--min-latency", str(MIN_LATENCY_MS), "--start-map", request.param, "--verbose"],
            stdout=out.open("wb"), stderr=err.open("wb"))
        wait_for(err, "attached", tracer)
        before = {c.pid: schedstat(c.pid) for c in children}
        for c in children:
            c.stdin.write(b"g")
            c.stdin.flush()
        for c in children:
            assert c.stdout.readline() == b"done\n"
        time.sleep(0.3)  # every child is asleep on stdin again: no wait in progress
        after = {c.pid: schedstat(c.pid) for c in children}
        delay = {pid: after[pid][1] - before[pid][1] for pid in after}
        on_cpu = {pid: after[pid][0] - before[pid][0] for pid in after}
        pcount = {pid: after[pid][2] - before[pid][2] for pid in after}
    finally:  # the tracer first: the children's exit is CPU time after `after`
        if tracer:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(timeout=20)
        for c in children:
            c.kill()
            c.wait()
    events = collector_events(out.read_bytes())
    return {"delay": delay, "on_cpu": on_cpu, "pcount": pcount, "events": events, "status": tracer.returncode,
            "stderr": err.read_text()}


def of_type(run, name):
    return [e for e in run["events"] if e["type"] == name]


@needs_root
def test_clean_exit_on_ctrl_c(busy_run):
    assert busy_run["status"] == 0
    assert "Traceback" not in busy_run["stderr"]


@needs_root
def test_per_process_wait_matches_schedstat_run_delay(busy_run):
    totals: dict[int, int] = {}
    for e in of_type(busy_run, "sched_stats"):
        totals[e["pid"]] = totals.get(e["pid"], 0) + e["runq_wait_ns"]
    for pid, truth in busy_run["delay"].items():
        assert truth > 100_000_000, "the children should have waited: more of them than CPUs"
        ours = totals.get(pid, 0)
        assert ours == pytest.approx(truth, rel=0.10), f"pid {pid}: ours {ours} ns, schedstat {truth} ns"


@needs_root
def test_every_wait_is_timed_or_reported_lost(busy_run):
    """Each time a child got a CPU (schedstat's third field) ended a wait: ks-sched
    timed it, or, when the kernel fired no sched_switch for it, said so (the busy
    children are the only tasks --comm lets it watch)."""
    lost = reported(busy_run["stderr"], "lost: run-queue waits ended by a switch")
    timed = sum(e["runq_waits"] for e in of_type(busy_run, "sched_stats"))
    assert timed + lost == sum(busy_run["pcount"].values()), (timed, lost, busy_run["pcount"])


# Two processes bouncing a byte through pipes: wake-ups often reach a task still on
# its CPU on the way to sleep (it never waits then).  Prints the two pids, bounces
# for a second after a line on stdin, prints "done", both quit after another line.
# The child holds only its own pipe ends, so it also quits (EOF) when the parent dies.
PING_PONG = """
import ctypes, os, sys, time
ctypes.CDLL(None).prctl(15, b"kspong", 0, 0, 0)
a, b = os.pipe(), os.pipe()
pid = os.fork()
if pid == 0:
    os.close(a[1])
    os.close(b[0])
    while os.read(a[0], 1) == b"x":
        os.write(b[1], b"x")
    os._exit(0)
print(os.getpid(), pid, flush=True)
sys.stdin.readline()
end = time.monotonic() + 1
while time.monotonic() < end:
    os.write(a[1], b"x")
    os.read(b[0], 1)
print("done", flush=True)
sys.stdin.readline()
os.write(a[1], b"q")
os.waitpid(pid, 0)
"""


def reap(pid: int, timeout: float = 5) -> None:
    """Wait for a process that is not our child to be gone; kill it if it lingers."""
    end = time.monotonic() + timeout
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < end:
        time.sleep(0.01)
    if os.path.exists(f"/proc/{pid}"):
        os.kill(pid, signal.SIGKILL)


@needs_root
def test_a_wakeup_on_the_cpu_is_no_wait_and_no_loss(tmp_path):
    """Timed waits plus those reported lost are exactly the times the tasks got a CPU,
    also when most wake-ups find their task still running."""
    pong = subprocess.Popen([sys.executable, "-c", PING_PONG], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    err = tmp_path / "err.txt"
    tracer = subprocess.Popen([ks("ks-sched"), "--per-process", "--comm", "kspong", "-i", "0.5",
                               "--min-latency", "1000", "--verbose"],
                              stdout=subprocess.PIPE, stderr=err.open("wb"))
    pids: list[int] = []
    try:
        pids = [int(p) for p in pong.stdout.readline().split()]
        wait_for(err, "attached", tracer)
        before = {p: schedstat(p)[2] for p in pids}
        pong.stdin.write("go\n")
        pong.stdin.flush()
        assert pong.stdout.readline() == "done\n"
        time.sleep(0.1)  # both asleep on their pipes again
        ran = sum(schedstat(p)[2] - before[p] for p in pids)
        tracer.send_signal(signal.SIGINT)
        out, _ = tracer.communicate(timeout=20)
    finally:
        tracer.kill()
        tracer.wait()
        pong.kill()
        pong.wait()
        if pids[1:]:
            reap(pids[1])
    stderr = err.read_text()
    lost = reported(stderr, "lost: run-queue waits ended by a switch")
    timed = sum(e["runq_waits"] for e in map(orjson.loads, out.splitlines())
                if e["type"] == "sched_stats")
    assert timed > 1000  # a second of bouncing
    assert timed + lost == ran, (timed, lost, ran, stderr[-500:])


@needs_root
def test_comm_filter_keeps_only_the_busy_children(busy_run):
    stats = of_type(busy_run, "sched_stats")
    assert stats and {e["comm"] for e in stats} == {BUSY_COMM}
    assert set(busy_run["delay"]) <= {e["pid"] for e in stats}


@needs_root
def test_cpu_time_matches_schedstat_and_children_are_preempted(busy_run):
    per_pid: dict[int, dict[str, float]] = {}
    for e in of_type(busy_run, "sched_stats"):
        acc = per_pid.setdefault(e["pid"], {"invol": 0, "cpu_ms": 0.0})
        acc["invol"] += e["involuntary_switches"]
        acc["cpu_ms"] += e["cpu_time_ms"]
    # CPU time against schedstat's first field.  Both are the scheduler's own sum,
    # so every slice must be there, in the right process, through every generation
    # flip: equal but for cpu_time_ms's rounding to the microsecond per interval.
    for pid, truth_ns in busy_run["on_cpu"].items():
        assert per_pid[pid]["invol"] > 10
        assert per_pid[pid]["cpu_ms"] * 1e6 == pytest.approx(truth_ns, abs=20_000)


@needs_root
def test_histogram_sums_agree_with_the_per_process_totals(busy_run):
    machine = [e for e in of_type(busy_run, "runqlat") if e["cpu"] == -1]
    per_cpu = [e for e in of_type(busy_run, "runqlat") if e["cpu"] >= 0]
    waits = sum(e["runq_waits"] for e in of_type(busy_run, "sched_stats"))
    wait_us = sum(e["runq_wait_ns"] for e in of_type(busy_run, "sched_stats")) / 1000
    assert sum(e["count"] for e in machine) == waits
    # Each wait is truncated to whole microseconds in the histogram's sum.
    assert wait_us - waits <= sum(e["sum_us"] for e in machine) <= wait_us
    assert sum(e["count"] for e in per_cpu) == waits
    for e in machine:
        if e["count"]:
            assert e["p50_us"] <= e["p99_us"] <= e["max_us"]
            # no wait without a start time turned into a huge one
            assert e["max_us"] < 10 * BUSY_SECONDS * 1e6


@needs_root
def test_per_process_histograms_hold_each_process_s_waits(busy_run):
    """--hist-per process --top 2: per interval, the two children with the most waits
    have their own histogram (as many waits as their sched_stats row, the same sum),
    the others one summed row (pid -1): nothing left out."""
    stats = {(e["timestamp"], e["pid"]): e for e in of_type(busy_run, "sched_stats")}
    hists = of_type(busy_run, "runqlat_task")
    assert hists and {e["tid"] for e in hists} == {None}
    for ts in {e["timestamp"] for e in hists}:
        rows_ = [e for e in hists if e["timestamp"] == ts]
        own = [e for e in rows_ if e["pid"] != -1]
        assert len(own) <= TOP and len(rows_) <= TOP + 1
        waits = {pid: e["runq_waits"] for (t, pid), e in stats.items() if t == ts}
        for e in own:
            s = stats[(ts, e["pid"])]
            assert e["count"] == s["runq_waits"] and e["comm"] == BUSY_COMM
            assert s["runq_wait_ns"] / 1000 - e["count"] <= e["sum_us"] <= s["runq_wait_ns"] / 1000
            assert e["count"] >= max((n for p, n in waits.items() if p not in
                                      {r["pid"] for r in own}), default=0)
        others = [e["count"] for e in rows_ if e["pid"] == -1]
        assert sum(others) == sum(waits.values()) - sum(e["count"] for e in own)


@needs_root
def test_per_thread_histograms_name_each_thread(tmp_path):
    """--hist-per thread: a process with two spinning threads (more runnable threads
    than CPUs, with the main one) gets one row per thread, pid its own."""
    code = ("import threading, time, sys\n"
            "def spin():\n    end = time.monotonic() + 1.5\n    while time.monotonic() < end: pass\n"
            "ts = [threading.Thread(target=spin) for _ in range(3)]\n"
            "[t.start() for t in ts]\nprint(*[t.native_id for t in ts], flush=True)\n"
            "[t.join() for t in ts]\nsys.stdin.readline()\n")
    err = tmp_path / "err.txt"
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
    tracer = None
    try:
        tracer = subprocess.Popen([ks("ks-sched"), "--hist-per", "thread", "--pid", str(child.pid),
                                   "-i", "0.5", "-v"], stdout=subprocess.PIPE, stderr=err.open("wb"))
        wait_for(err, "attached", tracer)
        tids = {int(t) for t in child.stdout.readline().split()}
        time.sleep(2)
    finally:
        if tracer:
            tracer.send_signal(signal.SIGINT)
            out, _ = tracer.communicate(timeout=20)
        child.kill()
        child.wait()
    rows_ = [e for e in collector_events(out) if e["type"] == "runqlat_task"]
    assert {e["pid"] for e in rows_} == {child.pid}
    assert tids <= {e["tid"] for e in rows_} <= tids | {child.pid}


@needs_root
def test_long_wait_events_are_over_the_threshold_and_within_the_totals(busy_run):
    long_waits = of_type(busy_run, "sched")
    assert long_waits, "2 x ncpu spinning children wait more than 5 ms now and then"
    for e in long_waits:
        assert e["latency_ns"] >= MIN_LATENCY_MS * 1_000_000
        assert e["comm"] == BUSY_COMM and e["next_pid"] == e["tid"]
        assert e["prev_state"] in {"R", "S", "D", "I", "T", "t", "X", "Z", "P"} \
            or e["prev_state"].startswith("0x")
    totals: dict[int, int] = {}
    for e in of_type(busy_run, "sched_stats"):
        totals[e["pid"]] = totals.get(e["pid"], 0) + e["runq_wait_ns"]
    for pid in {e["pid"] for e in long_waits}:
        assert sum(e["latency_ns"] for e in long_waits if e["pid"] == pid) <= totals[pid]


@needs_root
def test_closed_pipe_ends_quietly():
    p = subprocess.Popen([ks("ks-sched"), "--interval", "0.2"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    first = p.stdout.readline()
    p.stdout.close()
    assert p.wait(timeout=20) == 0
    assert orjson.loads(first)["type"] in ("runqlat", "sched")
    # nothing but the collector's counts of lost records, which it must report
    assert all(b" lost: " in line for line in p.stderr.read().splitlines())


@needs_root
def test_output_lands_in_sqlite(db_path):
    pipe_into_ingest(db_path, "ks-sched", "--duration", "3", "--per-process")
    machine = rows(db_path, "SELECT * FROM runqlat_stats WHERE cpu = -1")
    assert len(machine) >= 3 and sum(r["count"] for r in machine) > 0
    assert rows(db_path, "SELECT count(*) AS n FROM sched_stats")[0]["n"] > 0
    assert rows(db_path, "SELECT count(*) AS n FROM sched_stats WHERE runq_wait_ns > 0")[0]["n"] > 0


def test_bad_start_map_is_a_usage_error():
    r = run_ks("ks-sched", "--start-map", "array")
    assert r.returncode == 2
    assert r.stderr.decode().strip().splitlines() == [
        "ks-sched: error: --start-map must be task or hash, not 'array'"]


@needs_root
def test_pid_filter_keeps_only_that_process(tmp_path):
    spinner = subprocess.Popen([sys.executable, "-c",
                                "import time\nend = time.monotonic() + 3\n"
                                "while time.monotonic() < end: time.sleep(0.001)"])
    try:
        r = run_ks("ks-sched", "--per-process", "--pid", str(spinner.pid), "--duration", "2",
                   "--min-latency", "0")
    finally:
        spinner.kill()
        spinner.wait()
    assert r.returncode == 0, r.stderr
    events = collector_events(r.stdout)
    stats = [e for e in events if e["type"] == "sched_stats"]
    waits = [e for e in events if e["type"] == "sched"]
    # a thread sleeping 1 ms at a time wakes about a thousand times a second
    assert stats and {e["pid"] for e in stats} == {spinner.pid}
    assert sum(e["wakeups"] for e in stats) > 100
    assert waits and {e["pid"] for e in waits} == {spinner.pid}
    machine = sum(e["count"] for e in events if e["type"] == "runqlat" and e["cpu"] == -1)
    # with --min-latency 0 every wait is also an event; the three are read one after
    # the other at the end, so a wait or two may fall between the reads
    for other in (len(waits), sum(e["runq_waits"] for e in stats)):
        assert abs(machine - other) <= 5 + machine // 50
