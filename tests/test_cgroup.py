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


# ---- which hierarchy holds a controller; whom the kernel charges a cgroup's I/O to --------
def _fake_machine(tmp_path, *mounts: tuple[str, str, str]) -> str:
    """A mounts file listing (where, fstype, options) under tmp_path; returns its path."""
    lines = [f"cgroup {tmp_path / where} {fstype} rw,{options} 0 0" for where, fstype, options in mounts]
    for where, _, _ in mounts:
        (tmp_path / where).mkdir(parents=True, exist_ok=True)
    (tmp_path / "mounts").write_text("proc /proc proc rw 0 0\n" + "\n".join(lines) + "\n")
    return str(tmp_path / "mounts")


def _cgroup(root, rel: str, controllers: str = "", procs: str = "") -> str:
    d = root / rel
    d.mkdir(parents=True, exist_ok=True)
    (d / "cgroup.controllers").write_text(controllers + "\n")
    (d / "cgroup.procs").write_text(procs)
    return str(d)


def test_a_controller_lives_on_its_v1_mount_else_on_v2(tmp_path):
    from kernelsight.collectors.cgroups import controller_root

    hybrid = _fake_machine(tmp_path, ("blkio", "cgroup", "blkio"), ("unified", "cgroup2", "nsdelegate"))
    assert controller_root("blkio", hybrid) == str(tmp_path / "blkio")
    assert controller_root("perf_event", hybrid) == str(tmp_path / "unified")
    assert controller_root("blkio", _fake_machine(tmp_path, ("cpu", "cgroup", "cpu"))) is None


def test_io_charged_to_the_cgroup_on_v2_only_with_io_enabled_for_it(tmp_path):
    from kernelsight.collectors.cgroups import io_cgroup

    mounts = _fake_machine(tmp_path, ("v2", "cgroup2", "nsdelegate"))
    root = tmp_path / "v2"
    _cgroup(root, "", "cpu io memory")
    on = _cgroup(root, "pod", "io memory")
    off = _cgroup(root, "pod/sidecar", "memory")      # io not enabled below pod
    assert io_cgroup(on, mounts) == (on, os.stat(on).st_ino)
    assert io_cgroup(off, mounts) is None
    assert io_cgroup(str(root), mounts) == (str(root), os.stat(root).st_ino)
    _cgroup(root, "", "cpu memory")                   # io bound elsewhere: none on v2
    assert io_cgroup(on, mounts) is None


def test_io_charged_on_a_hybrid_machine_to_the_blkio_twin_with_the_same_processes(tmp_path):
    from kernelsight.collectors.cgroups import io_cgroup

    mounts = _fake_machine(tmp_path, ("blkio", "cgroup", "blkio"), ("unified", "cgroup2", "x"))
    v2 = _cgroup(tmp_path / "unified", "system.slice/db.service", "", "10\n11\n")
    v1 = _cgroup(tmp_path / "blkio", "system.slice/db.service", "", "11\n10\n")
    assert io_cgroup(v2, mounts) == (v1, os.stat(v1).st_ino)
    (tmp_path / "blkio" / "system.slice/db.service/cgroup.procs").write_text("10\n")
    assert io_cgroup(v2, mounts) is None              # 11 is charged elsewhere
    lonely = _cgroup(tmp_path / "unified", "only-v2", "", "12\n")
    assert io_cgroup(lonely, mounts) is None          # no blkio cgroup of that path
