"""--cgroup: a busy process moved into a fresh cgroup v2 and an identical one outside;
each collector that takes --cgroup reports the one inside, and only it."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest

from conftest import collector_events, ks, needs_root

# Syscalls, page faults and context switches, without forking (children would join too).
BUSY = """
import mmap, os
while True:
    m = mmap.mmap(-1, 1 << 20)
    for i in range(0, 1 << 20, 4096):
        m[i] = 1
    m.close()
    os.sched_yield()
"""


def _v2_root() -> str | None:
    from kernelsight.collectors.cgroups import v2_mounts

    roots = v2_mounts()
    return roots[0] if roots else None


@pytest.fixture
def cgroup_pair(fresh_cgroup):
    """(cgroup path relative to the v2 mount, pid inside, pid outside); both processes
    are killed even when the test fails (fresh_cgroup removes the cgroup)."""
    path, directory = fresh_cgroup
    procs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(2)]
    try:
        with open(os.path.join(directory, "cgroup.procs"), "w") as f:
            f.write(str(procs[0].pid))
        yield path, procs[0].pid, procs[1].pid
    finally:
        for p in procs:
            p.kill()
            p.wait()


@needs_root
@pytest.mark.parametrize("tool, args, kind", [
    ("ks-syscalls", ("--min-latency", "0"), "syscall"),
    ("ks-pagefaults", (), "page_fault_stats"),
    ("ks-sched", ("--per-process",), "sched_stats"),
])
def test_only_the_process_inside(cgroup_pair, tool, args, kind):
    path, inside, outside = cgroup_pair
    out = subprocess.run([ks(tool), *args, "--cgroup", path, "-i", "0.5", "--count", "2"],
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    evs = [e for e in map(orjson.loads, out.stdout.splitlines()) if e["type"] == kind]
    pids = {e["pid"] for e in evs}
    assert pids == {inside}, (pids, inside, outside)
    assert all(e.get("comm", "python3").startswith("python") for e in evs)
    # the per-process events name the cgroup
    if kind in ("syscall", "sched_stats", "page_fault_stats"):
        assert {e["cgroup"] for e in evs} == {path}


@needs_root
@pytest.mark.parametrize("tool, args, kind", [
    ("ks-syscalls", ("--stats", "--per-process"), "syscall_process_stats"),
    ("ks-sched", ("--per-process",), "sched_stats"),
    ("ks-pagefaults", (), "page_fault_stats"),
    ("ks-pagefaults", ("--min-latency", "0"), "page_fault"),
])
def test_per_process_rows_name_each_cgroup(cgroup_pair, tool, args, kind):
    """Unfiltered, each process's rows carry its own cgroup as /proc/PID/cgroup says."""
    path, inside, outside = cgroup_pair
    out = subprocess.run([ks(tool), *args, "-i", "0.5", "--count", "2"],
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    evs = [e for e in map(orjson.loads, out.stdout.splitlines()) if e["type"] == kind]
    named = {e["pid"]: e["cgroup"] for e in evs if e["pid"] in (inside, outside)}
    assert named == {inside: path, outside: _proc_cgroup(outside)}


def _proc_cgroup(pid: int) -> str:
    with open(f"/proc/{pid}/cgroup") as f:
        return next(line[3:].strip() for line in f if line.startswith("0::"))


def test_cgroup_names_walk_once_then_again_for_a_new_id(tmp_path):
    from kernelsight.collectors.cgroups import CgroupNames

    (tmp_path / "a" / "b").mkdir(parents=True)
    now = [0.0]
    names = CgroupNames(str(tmp_path), clock=lambda: now[0])
    ino = lambda p: p.stat().st_ino  # noqa: E731
    assert names(ino(tmp_path / "a" / "b")) == "/a/b" and names(ino(tmp_path)) == "/"
    (tmp_path / "c").mkdir()
    assert names(ino(tmp_path / "c")) is None       # walked less than a second ago
    now[0] = 1.5
    assert names(ino(tmp_path / "c")) == "/c"       # a new id: walked again
    assert names(0) is None


@needs_root
def test_the_full_mount_path_too(cgroup_pair):
    path, inside, _ = cgroup_pair
    full = _v2_root() + path
    out = subprocess.run([ks("ks-pagefaults"), "--cgroup", full, "-i", "0.5", "--count", "1"],
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert {e["pid"] for e in collector_events(out.stdout)} == {inside}


@needs_root
def test_no_such_cgroup_is_one_clear_line():
    out = subprocess.run([ks("ks-sched"), "--cgroup", "/ks-no-such-cgroup", "--count", "1"],
                         capture_output=True, timeout=30)
    assert out.returncode != 0
    assert b"--cgroup /ks-no-such-cgroup: no such cgroup v2" in out.stderr
    assert b"Traceback" not in out.stderr
