"""ks-perf against the kernel's other bookkeeping: getrusage of the counted process,
/proc/stat's context-switch total, and the CPU time of a process in a cgroup."""

from __future__ import annotations

import collections
import json
import os
import pathlib
import signal
import subprocess
import sys

import pytest

from conftest import collector_events, ks, needs_root, rows, run_ks
from kernelsight.collectors.perf_events import COUNTERS, perf_event_open
from kernelsight.collectors.perf_session import cgroup_root

SOFTWARE = ("task-clock", "context-switches", "cpu-migrations", "page-faults",
            "minor-faults", "major-faults")
HARDWARE = ("cycles", "instructions", "cache-references", "cache-misses", "branch-misses")


def events(stdout: bytes) -> list[dict]:
    return collector_events(stdout)


def totals(evs: list[dict]) -> dict[str, float]:
    """Each counter's cpu = -1 values summed over all intervals."""
    out = collections.Counter()
    for e in evs:
        if e["cpu"] == -1 and e["value"] is not None:
            out[e["counter"]] += e["value"]
    return out


def has_pmu() -> bool:
    try:
        os.close(perf_event_open(COUNTERS["cycles"], 0, -1))
        return True
    except OSError:
        return False


def stolen_ns() -> int:
    """irq + softirq + steal time of the whole machine so far, from /proc/stat.

    perf's task-clock is time on a CPU by the clock, so it includes interrupts served
    and (in a VM) time the hypervisor took away while the task was running; getrusage
    leaves both out.  The difference over a window is at most this much (plus a tick).
    """
    fields = pathlib.Path("/proc/stat").read_text().split("\n", 1)[0].split()
    irq, softirq, steal = (int(x) for x in fields[6:9])
    return (irq + softirq + steal) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def assert_task_clock_matches(task_clock: float, cpu_ns: float, stolen: int) -> None:
    tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    assert task_clock >= cpu_ns * 0.95
    assert task_clock <= cpu_ns * 1.05 + stolen + 3 * tick, (task_clock, cpu_ns, stolen)


def wait_for_attach(p: subprocess.Popen) -> None:
    """ks-perf -v says 'attached' on stderr once its counters are open."""
    for line in p.stderr:
        if b"attached" in line:
            return
    pytest.fail(f"ks-perf never attached: {p.wait()}")


# A child that waits for the go, then sleeps 200 x 1 ms, touches pages, burns CPU and
# forks a grandchild that does the same on a smaller scale; it prints what getrusage
# (itself plus its waited-for child) says that work cost.
CHILD = r"""
import json, mmap, os, resource, sys, time
def usage():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return [s.ru_nvcsw + s.ru_nivcsw + c.ru_nvcsw + c.ru_nivcsw,
            s.ru_minflt + s.ru_majflt + c.ru_minflt + c.ru_majflt,
            (s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime) * 1e9]
def work(sleeps, pages, spin):
    for _ in range(sleeps):
        time.sleep(0.001)
    m = mmap.mmap(-1, pages * 4096)
    for i in range(0, pages * 4096, 4096):
        m[i] = 1
    m.close()
    end = time.thread_time() + spin
    while time.thread_time() < end:
        pass
sys.stdin.readline()
before = usage()
work(200, 3000, 0.3)
pid = os.fork()
if pid == 0:
    work(100, 1000, 0.1)
    os._exit(0)
os.waitpid(pid, 0)
after = usage()
sys.stdout.write(json.dumps([b - a for a, b in zip(before, after)]) + "\n")
sys.stdout.flush()
sys.stdin.readline()  # stay, idle, until the counting has stopped: exit costs CPU too
"""


@needs_root
def test_pid_counts_agree_with_the_childs_getrusage():
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
    perf = subprocess.Popen([ks("ks-perf"), "--pid", str(child.pid), "-i", "0.2", "-v",
                             "--events", "task-clock,context-switches,page-faults,minor-faults"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_attach(perf)
        stolen = stolen_ns()
        child.stdin.write(b"go\n")
        child.stdin.flush()
        switches, faults, cpu_ns = json.loads(child.stdout.readline())
        stolen = stolen_ns() - stolen
        perf.send_signal(signal.SIGINT)
        out, _ = perf.communicate(timeout=30)
    finally:
        child.kill()
        perf.kill()
    assert perf.returncode == 0
    got = totals(events(out))
    assert {e["scope"] for e in events(out)} == {f"pid:{child.pid}"}
    assert switches >= 300  # 200 + 100 sleeps: a real workload, not noise
    assert got["context-switches"] == pytest.approx(switches, rel=0.05, abs=5)
    assert faults >= 4000
    assert got["page-faults"] == pytest.approx(faults, rel=0.05, abs=20)
    assert got["minor-faults"] == pytest.approx(faults, rel=0.05, abs=20)
    assert_task_clock_matches(got["task-clock"], cpu_ns, stolen)


@needs_root
def test_pid_run_ends_when_the_process_exits():
    child = subprocess.Popen(["sleep", "2"])
    try:
        r = run_ks("ks-perf", "--pid", str(child.pid), "-i", "0.1", "--events", "task-clock",
                   timeout=30)
    finally:
        child.kill()
        child.wait()
    assert r.returncode == 0 and r.stderr == b""
    assert events(r.stdout)  # at least the last, partial interval


@needs_root
def test_hardware_counters_unavailable_once_and_software_flows():
    if has_pmu():
        pytest.skip("this machine has a hardware PMU")
    r = run_ks("ks-perf", "--count", "3", "-i", "0.1")
    assert r.returncode == 0, r.stderr
    said = [ln for ln in r.stderr.decode().splitlines() if "unavailable" in ln]
    assert len(said) == 1, r.stderr
    assert all(name in said[0] for name in HARDWARE)
    assert any(code in said[0] for code in ("ENOENT", "EOPNOTSUPP", "ENODEV"))
    evs = events(r.stdout)
    assert {e["counter"] for e in evs} == set(SOFTWARE)  # no ipc without cycles
    assert len({e["timestamp"] for e in evs}) == 3


@needs_root
def test_system_wide_rows_per_cpu_add_up_and_stay_within_proc_stat():
    def ctxt() -> int:
        for line in pathlib.Path("/proc/stat").read_text().splitlines():
            if line.startswith("ctxt "):
                return int(line.split()[1])
    before = ctxt()
    r = run_ks("ks-perf", "--count", "2", "-i", "0.3", "--events", "context-switches,task-clock")
    after = ctxt()
    assert r.returncode == 0, r.stderr
    evs = events(r.stdout)
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    for ts in {e["timestamp"] for e in evs}:
        for counter in ("context-switches", "task-clock"):
            these = [e for e in evs if e["timestamp"] == ts and e["counter"] == counter]
            per_cpu = [e for e in these if e["cpu"] >= 0]
            total = [e for e in these if e["cpu"] == -1]
            assert len(per_cpu) == ncpu and len(total) == 1
            assert total[0]["value"] == sum(e["value"] for e in per_cpu)
        # system-wide task-clock runs on every CPU for the whole interval
        clock = [e for e in evs if e["timestamp"] == ts and e["counter"] == "task-clock"
                 and e["cpu"] >= 0]
        for e in clock:
            assert e["running_ns"] == e["enabled_ns"]  # software: never multiplexed
            assert e["value"] == pytest.approx(e["enabled_ns"], rel=1e-3)
            assert e["value"] == pytest.approx(e["interval_ns"], rel=0.1)
    counted = totals(evs)["context-switches"]
    assert 0 < counted <= after - before


CGROUP_CHILD = r"""
import os, resource, sys, time
with open(sys.argv[1] + "/cgroup.procs", "w") as f:
    f.write(str(os.getpid()))
print("in", flush=True)
sys.stdin.readline()
r0 = resource.getrusage(resource.RUSAGE_SELF)
end = time.thread_time() + 0.3
while time.thread_time() < end:
    pass
r1 = resource.getrusage(resource.RUSAGE_SELF)
print((r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) * 1e9, flush=True)
sys.stdin.readline()
"""


@needs_root
def test_cgroup_task_clock_matches_the_cpu_time_of_its_process():
    path = pathlib.Path(cgroup_root()) / f"ks-perf-test-{os.getpid()}"
    path.mkdir()
    child = subprocess.Popen([sys.executable, "-c", CGROUP_CHILD, str(path)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    perf = None
    try:
        assert child.stdout.readline() == b"in\n"
        perf = subprocess.Popen([ks("ks-perf"), "--cgroup", path.name, "-i", "0.2", "-v",
                                 "--events", "task-clock"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for_attach(perf)
        stolen = stolen_ns()
        child.stdin.write(b"go\n")
        child.stdin.flush()
        cpu_ns = float(child.stdout.readline())
        stolen = stolen_ns() - stolen
        perf.send_signal(signal.SIGINT)
        out, err = perf.communicate(timeout=30)
        child.stdin.write(b"done\n")
        child.stdin.flush()
        child.wait(timeout=10)
    finally:
        child.kill()
        if perf:
            perf.kill()
        child.wait()
        path.rmdir()
    assert perf.returncode == 0, err
    assert {e["scope"] for e in events(out)} == {f"cgroup:{path.name}"}
    assert_task_clock_matches(totals(events(out))["task-clock"], cpu_ns, stolen)


@needs_root
def test_nobody_gets_a_one_line_permission_error():
    knob = pathlib.Path("/proc/sys/kernel/perf_event_paranoid")
    saved = knob.read_text()
    try:
        if int(saved) < 2:  # only root may count the whole machine
            knob.write_text("2")
        r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                            ks("ks-perf"), "--count", "1"], capture_output=True, timeout=30)
    finally:
        knob.write_text(saved)
    assert r.returncode == 77
    assert r.stdout == b""
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and "permission denied" in lines[0] and "CAP_PERFMON" in lines[0]


def test_unknown_counter_and_missing_pid_are_one_line_errors():
    r = run_ks("ks-perf", "--events", "cycles,bogus", "--count", "1")
    assert r.returncode == 2 and b"bogus" in r.stderr and len(r.stderr.splitlines()) == 1
    r = run_ks("ks-perf", "--pid", "999999999", "--count", "1")
    assert r.returncode != 0 and len(r.stderr.splitlines()) == 1 and b"no such process" in r.stderr


@needs_root
def test_a_directory_that_is_no_cgroup_is_a_one_line_error(tmp_path):
    r = run_ks("ks-perf", "--cgroup", str(tmp_path), "--count", "1")
    assert r.returncode == 1 and r.stdout == b""
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and "not a cgroup perf can count" in lines[0]


def test_help_teaches_a_pipeline():
    r = run_ks("ks-perf", "--help")
    assert r.returncode == 0 and b"ks-perf | ks-ingest" in r.stdout


@needs_root
def test_sigint_and_closed_pipe_are_clean():
    p = subprocess.Popen([ks("ks-perf"), "-i", "0.1"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    assert json.loads(p.stdout.readline())["type"] == "perf"
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=10)
    assert p.returncode == 0 and b"Traceback" not in err and out.endswith(b"\n")
    r = subprocess.run(f"{ks('ks-perf')} -i 0.1 --events task-clock | head -1", shell=True,
                       capture_output=True, timeout=20, executable="/bin/bash")
    assert r.returncode == 0 and r.stderr == b""
    assert json.loads(r.stdout)["counter"] == "task-clock"


@needs_root
def test_pipeline_lands_rows_in_perf_counters(db_path):
    r = subprocess.run(f"{ks('ks-perf')} --duration 3 | {ks('ks-ingest')} --db-path {db_path}",
                       shell=True, capture_output=True, timeout=60, executable="/bin/bash")
    assert r.returncode == 0, r.stderr
    got = rows(db_path, "SELECT counter, count(*) AS n FROM perf_counters WHERE cpu = -1 "
                        "GROUP BY counter")
    assert {g["counter"] for g in got} >= set(SOFTWARE)
    assert all(g["n"] >= 3 for g in got)


# ==== the arithmetic, on made-up readings (no PMU here to multiplex) ================
def test_scaling_by_time_enabled_over_running():
    from kernelsight.collectors.perf_events import scaled
    assert scaled(1000, 2_000_000, 2_000_000) == 1000           # never multiplexed: as is
    assert scaled(1000, 2_000_000, 500_000) == pytest.approx(4000)  # counted a quarter of the time
    assert scaled(0, 1_000_000, 0) is None                      # never on the PMU: unknown, not 0
    assert scaled(0, 0, 0) == 0                                 # not enabled at all: nothing happened


def test_interval_values_totals_and_derived_ratios(monkeypatch):
    from kernelsight.collectors import perf_session as S
    readings = {  # fd -> successive cumulative (value, enabled, running)
        10: [(0, 0, 0), (1000, 100, 50)],      # cycles cpu0, multiplexed half the time
        11: [(0, 0, 0), (500, 100, 100)],      # cycles cpu1
        20: [(0, 0, 0), (3000, 100, 50)],      # instructions cpu0
        21: [(0, 0, 0), (250, 100, 100)],      # instructions cpu1
    }
    monkeypatch.setattr(S, "read_counter", lambda fd: readings[fd].pop(0))
    session = S.PerfSession(("cycles", "instructions"), S.Scope("system"), cpus=[0, 1])
    session.slots = [S.Slot(COUNTERS[name], cpu, fd) for name, cpu, fd in (
        ("cycles", 0, 10), ("cycles", 1, 11), ("instructions", 0, 20), ("instructions", 1, 21))]
    for slot in session.slots:
        slot.last = S.read_counter(slot.fd)
    out = []
    session.read(lambda t, fields, ts: out.append(fields), 1, 1_000_000_000)
    got = {(e["counter"], e["cpu"]): e["value"] for e in out}
    assert got[("cycles", 0)] == 2000 and got[("cycles", 1)] == 500
    assert got[("cycles", -1)] == 2500 and got[("instructions", -1)] == 6250
    assert got[("ipc", 0)] == 3.0 and got[("ipc", 1)] == 0.5
    assert got[("ipc", -1)] == pytest.approx(6250 / 2500)
    assert ("cache_miss_rate", -1) not in got  # its inputs were not counted
    assert all(e["scope"] == "system" and e["interval_ns"] == 1_000_000_000 for e in out)
