"""ks-pagefaults against the kernel's own per-process fault counters.

A child process maps memory, waits until the tracer is attached, touches every
page once and reports its getrusage() ru_minflt / ru_majflt delta around the loop.
The tracer (--pid child, --min-latency 0: every fault as an event) must see exactly
those faults at those addresses, and, over the whole traced window, exactly as many
as /proc/PID/stat's minflt/majflt moved (read while the child is blocked, so nothing
can fault in between).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap
import time

import orjson
import pytest

from conftest import Background, ks, needs_root, pipe_into_ingest, rows, run_ks

PAGE = os.sysconf("SC_PAGE_SIZE")

# Maps N anonymous pages (or a file), prints "ready BASE NPAGES", waits for a line on
# stdin, touches each page once (itself, or in "kernel" mode by having read() fill
# 8 bytes of it), prints "MINFLT MAJFLT" deltas, waits for another line.
CHILD = textwrap.dedent("""
    import ctypes, mmap, os, resource, sys
    PAGE = mmap.PAGESIZE
    mode = sys.argv[1]
    zero = os.open("/dev/zero", os.O_RDONLY)
    ctypes.CDLL(None).prctl(15, b"ks-pf-truth", 0, 0, 0)   # PR_SET_NAME: for --comm

    def anon(n):
        m = mmap.mmap(-1, n * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        m.madvise(mmap.MADV_NOHUGEPAGE)   # one fault per 4 KiB page, not per 2 MiB
        return m

    def touch(m, n):
        view = memoryview(m)
        if mode == "anon":
            for off in range(0, n * PAGE, PAGE):
                m[off] = 1
        elif mode == "kernel":            # the kernel writes: copy_to_user
            for off in range(0, n * PAGE, PAGE):
                os.preadv(zero, [view[off:off + 8]], 0)
        else:
            total = 0
            for off in range(0, n * PAGE, PAGE):
                total += m[off]
        view.release()

    if mode == "file":
        f = open(sys.argv[2], "rb")
        n = os.fstat(f.fileno()).st_size // PAGE
        m = mmap.mmap(f.fileno(), n * PAGE, access=mmap.ACCESS_COPY)
        m.madvise(mmap.MADV_RANDOM)       # no readahead: every page from the disk
    else:
        n = int(sys.argv[2])
        m = anon(n)
    base = ctypes.addressof(ctypes.c_char.from_buffer(m))
    # Warm-up on scratch memory: the measured loop then allocates nothing new, so
    # the interpreter takes no faults of its own inside it.
    touch(anon(16), 16)
    resource.getrusage(resource.RUSAGE_SELF)
    print("ready", base, n, flush=True)
    sys.stdin.readline()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    touch(m, n)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    print(r1.ru_minflt - r0.ru_minflt, r1.ru_majflt - r0.ru_majflt, flush=True)
    sys.stdin.readline()
""")


def Tracer(*args: str) -> Background:  # noqa: N802 - reads like the class it was
    """A ks-pagefaults run in the background, ready once its perf events are attached."""
    return Background("ks-pagefaults", "-v", *args, ready="fault ends counted")


def wait_blocked_on_stdin(pid: int, timeout: float = 10) -> None:
    """Until the process sleeps in read(0, ...): /proc/PID/syscall says "0 0x0 ..."."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/syscall") as f:
            if f.read().startswith("0 0x0 "):
                return
        time.sleep(0.005)
    raise AssertionError(f"process {pid} did not block reading its stdin")


def stat_faults(pid: int) -> tuple[int, int]:
    """(minflt, majflt) of a process from /proc/PID/stat (fields 10 and 12)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[7]), int(fields[9])


CHILD_COMM = "ks-pf-truth"


def touch_pages(tmp_path: pathlib.Path, *child_args: str,
                tracer_args: tuple[str, ...] | None = None) -> tuple[list[dict], dict]:
    """Run the child under the tracer (by default --pid child, every fault an event);
    (events, what the kernel counted)."""
    script = tmp_path / "touch.py"
    script.write_text(CHILD)
    child = subprocess.Popen([sys.executable, str(script), *child_args],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        _, base, npages = child.stdout.readline().split()
        tracer = Tracer(*(tracer_args or ("--pid", str(child.pid), "--min-latency", "0")),
                        "--interval", "0.5")
        wait_blocked_on_stdin(child.pid)
        before = stat_faults(child.pid)
        child.stdin.write("go\n")
        child.stdin.flush()
        minflt, majflt = map(int, child.stdout.readline().split())
        wait_blocked_on_stdin(child.pid)
        after = stat_faults(child.pid)
        events = tracer.stop()
    finally:
        child.kill()
        child.wait()
    report = {"pid": child.pid, "base": int(base), "npages": int(npages),
              "minflt": minflt, "majflt": majflt,
              "stat_minflt": after[0] - before[0], "stat_majflt": after[1] - before[1]}
    return events, report


def traced(events: list[dict], pid: int, fault_type: str) -> int:
    return sum(1 for e in events if e["type"] == "page_fault" and e["pid"] == pid
               and e["fault_type"] == fault_type)


def in_region(events: list[dict], report: dict) -> list[dict]:
    lo = report["base"]
    hi = lo + report["npages"] * PAGE
    return [e for e in events if e["type"] == "page_fault" and lo <= e["address"] < hi]


def stats_total(events: list[dict], pid: int, field: str) -> int:
    return sum(e[field] for e in events if e["type"] == "page_fault_stats" and e["pid"] == pid)


def assert_whole_window_matches(events: list[dict], report: dict) -> None:
    """Every fault of the child while traced, as the kernel counted them, and the
    per-process summaries agree with the events."""
    pid = report["pid"]
    assert {e["pid"] for e in events} == {pid}  # --pid filters
    assert traced(events, pid, "minor") == report["stat_minflt"]
    assert traced(events, pid, "major") == report["stat_majflt"]
    assert stats_total(events, pid, "minor_count") == report["stat_minflt"]
    assert stats_total(events, pid, "major_count") == report["stat_majflt"]
    assert stats_total(events, pid, "count") == report["stat_minflt"] + report["stat_majflt"]


@needs_root
def test_minor_faults_match_getrusage(tmp_path):
    n = 3000
    events, report = touch_pages(tmp_path, "anon", str(n))
    assert (report["minflt"], report["majflt"]) == (n, 0), report
    faults = in_region(events, report)
    assert len(faults) == report["minflt"]
    assert {e["address"] // PAGE for e in faults} == {report["base"] // PAGE + i
                                                       for i in range(n)}
    assert {(e["fault_type"], e["access_type"], e["user_mode"]) for e in faults} == \
        {("minor", "write", 1)}
    assert all(e["latency_ns"] > 0 for e in faults)
    assert_whole_window_matches(events, report)


@needs_root
def test_kernel_mode_faults_on_user_memory(tmp_path):
    n = 500
    events, report = touch_pages(tmp_path, "kernel", str(n))
    assert (report["minflt"], report["majflt"]) == (n, 0), report
    faults = in_region(events, report)
    assert len(faults) == n
    assert {(e["fault_type"], e["access_type"], e["user_mode"]) for e in faults} == \
        {("minor", "write", 0)}
    assert_whole_window_matches(events, report)


@needs_root
def test_comm_filter_and_one_in_n_sampling(tmp_path):
    n, every = 2000, 10
    events, report = touch_pages(tmp_path, "anon", str(n), tracer_args=(
        "--comm", CHILD_COMM, "--sample", str(every), "--min-latency", "60000"))
    faults = report["stat_minflt"]
    assert faults >= n
    summary = [e for e in events if e["type"] == "page_fault_stats"]
    assert {(e["pid"], e["comm"]) for e in summary} == {(report["pid"], CHILD_COMM)}
    assert sum(e["minor_count"] for e in summary) == faults
    # No fault is a minute slow: every event is a sample, one per `every` faults on
    # each CPU (the counter is per CPU), so between faults/every - CPUs and faults/every.
    sampled = [e for e in events if e["type"] == "page_fault"]
    assert {e["comm"] for e in sampled} == {CHILD_COMM}
    assert faults // every - os.cpu_count() <= len(sampled) <= faults // every


def real_disk_dir() -> pathlib.Path:
    """A directory on a block device (not tmpfs), so dropping caches means disk reads."""
    d = pathlib.Path("/var/tmp")
    fstype = subprocess.run(["stat", "-f", "-c", "%T", str(d)], capture_output=True,
                            text=True).stdout.strip()
    if fstype in ("tmpfs", "ramfs"):
        pytest.skip(f"{d} is {fstype}: no disk to read from")
    return d


@needs_root
def test_major_faults_match_getrusage(tmp_path):
    data = real_disk_dir() / f"ks-pagefaults-test-{os.getpid()}.dat"
    try:
        data.write_bytes(os.urandom(400 * PAGE))
        os.sync()
        pathlib.Path("/proc/sys/vm/drop_caches").write_text("3\n")
        events, report = touch_pages(tmp_path, "file", str(data))
    finally:
        data.unlink(missing_ok=True)
    assert report["majflt"] > 0, "the page cache was not dropped: no major faults"
    faults = in_region(events, report)
    assert sum(e["fault_type"] == "major" for e in faults) == report["majflt"]
    assert sum(e["fault_type"] == "minor" for e in faults) == report["minflt"]
    assert {(e["access_type"], e["user_mode"]) for e in faults} == {("read", 1)}
    assert_whole_window_matches(events, report)


@needs_root
def test_ctrl_c_and_closed_pipe_are_quiet():
    tracer = Tracer()
    assert tracer.stop() is not None  # SIGINT: exit 0, no traceback (checked in stop)
    # Something must fault for a line to come out: a quiet machine may not, for long.
    faulter = subprocess.Popen([sys.executable, "-c", "import mmap, time\n"
                                "while True:\n"
                                "    m = mmap.mmap(-1, 1 << 20); m[::4096] = b'x' * 256\n"
                                "    m.close(); time.sleep(0.05)"])
    try:
        head = subprocess.run(f"{ks('ks-pagefaults')} --interval 0.2 | head -1", shell=True,
                              capture_output=True, timeout=30)
    finally:
        faulter.kill()
        faulter.wait()
    assert head.returncode == 0
    assert orjson.loads(head.stdout)["type"] in ("page_fault_stats", "page_fault")
    assert b"Traceback" not in head.stderr and b"Broken pipe" not in head.stderr


@needs_root
def test_pipeline_into_ks_ingest(db_path):
    # 4096 faults of our own while it collects, so 1 in 100 sampled gives events even on
    # an idle machine (which alone may fault fewer than 100 times in 3 s: seen in CI)
    def fault_4096_pages():
        time.sleep(1)
        subprocess.run([sys.executable, "-c", "import mmap\n"
                        "m = mmap.mmap(-1, 4096 * 4096); m.madvise(mmap.MADV_NOHUGEPAGE)\n"
                        "m[::4096] = b'x' * 4096"], check=True, timeout=30)

    pipe_into_ingest(db_path, "ks-pagefaults", "--duration", "3", "--sample", "100",
                     during=fault_4096_pages)
    got = rows(db_path, "SELECT SUM(minor_count) AS n, COUNT(DISTINCT pid) AS procs "
               "FROM page_fault_stats")[0]
    assert got["n"] > 0 and got["procs"] > 0
    assert rows(db_path, "SELECT COUNT(*) AS n FROM page_fault_events")[0]["n"] > 0


def test_help_teaches():
    r = run_ks("ks-pagefaults", "--help")
    assert r.returncode == 0
    assert b"ks-ingest" in r.stdout and b"--min-latency" in r.stdout


# ---- the pieces, without the kernel tracer -------------------------------------------------
def test_access_type_from_x86_error_code():
    from kernelsight.collectors.pagefaults import access_type

    assert access_type(0b00100) == "read"      # user, read, not present
    assert access_type(0b00110) == "write"
    assert access_type(0b10100) == "exec"      # instruction fetch
    assert access_type(0b10111) == "exec"


def test_event_and_summary_decoding():
    from kernelsight.collectors.pagefaults import (EVENT, PROC_HEAD, PROC_HIST, decode_event,
                                                   decode_proc)
    from kernelsight.ingest import histogram

    raw = EVENT.pack(5, 1500, 0xFFFF_8880_0000_0000, 10, 11, 1, 0b10, 1, 0, b"db\0" + b"\0" * 13, 77)
    ts, e = decode_event(raw, {77: "/pod"}.get)
    assert ts == 5 and e["address"] < 0 and e["fault_type"] == "major"
    assert e["access_type"] == "write" and e["user_mode"] == 0 and e["comm"] == "db"
    assert e["cgroup"] == "/pod"
    buckets = [0] * histogram.NBUCKETS
    buckets[histogram.index(3)] = 2
    buckets[histogram.index(900)] = 1
    value = PROC_HEAD.pack(2, 1, 906_000, b"db", 77) + PROC_HIST.pack(*buckets)
    s = decode_proc((42).to_bytes(4, "little"), value, 1_000_000_000, {77: "/pod"}.get)
    assert (s["pid"], s["comm"], s["cgroup"], s["minor_count"], s["major_count"], s["count"]) == \
        (42, "db", "/pod", 2, 1, 3)
    assert s["buckets"] == [[3, 2], [histogram.index(900), 1]]
    assert s["p50_us"] < 4 <= 900 <= s["max_us"]
