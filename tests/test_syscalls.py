"""ks-syscalls against a child whose slow and fast calls are known in advance.

The child waits until the tracers are attached, then makes K nanosleep(20 ms) calls
(the raw syscall, so no libc picks another one), N getppid calls, a select() with
a 30 ms timeout on an empty pipe followed by a non-blocking read (fast EAGAIN), and
a read on a socket with a 30 ms receive timeout (slow EAGAIN), then the waits
ks-syscalls leaves out by default: a 30 ms poll(), a FUTEX_WAIT that times out, a
read of a terminal (a pty in raw mode with a 0.1 s VTIME) and a read of a pipe
the test writes into 50 ms later.  The tracers run with --pid child, so everything
they report is the child's own doing.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap
import time

import orjson
import pytest

from conftest import Background, ks, needs_root, pipe_into_ingest, rows, run_ks

K_SLEEPS = 5
N_GETPPID = 20000
SLEEP_NS = 20_000_000
EAGAIN = 11
CHILD_COMM = "ks-sc-truth"
ETIMEDOUT = 110
N_MISSING, N_BADFD = 3000, 1000    # stat() of a missing file (ENOENT), close() of no fd (EBADF)
WAITS = ["poll", "futex", "read", "read"]   # the child's waits after the socket read, in order

CHILD = textwrap.dedent(f"""
    import ctypes, os, select, socket, struct, sys, termios, time
    libc = ctypes.CDLL(None, use_errno=True)

    class Timespec(ctypes.Structure):
        _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]

    libc.prctl(15, b"{CHILD_COMM}", 0, 0, 0)        # PR_SET_NAME: for --comm
    r, w = os.pipe()
    os.set_blocking(r, False)
    a, b = socket.socketpair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 30000))
    ts = Timespec(0, {SLEEP_NS})
    futex_word, futex_timeout = ctypes.c_int(0), Timespec(0, 30_000_000)
    tty_master, tty = os.openpty()
    attrs = termios.tcgetattr(tty)
    attrs[3] &= ~termios.ICANON
    attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 0, 1   # read returns b"" after 0.1 s
    termios.tcsetattr(tty, termios.TCSANOW, attrs)
    stdin_fd = os.dup(0)     # the test's pipe, read raw (no buffering in the way)
    print("ready", r, a.fileno(), flush=True)
    sys.stdin.readline()           # blocked here before the tracers start: not reported
    for _ in range({N_GETPPID}):
        os.getppid()
    for _ in range({N_MISSING}):
        try:
            os.stat("/ks-no-such-file")
        except FileNotFoundError:
            pass
    for _ in range({N_BADFD}):
        try:
            os.close(987654)
        except OSError:
            pass
    slept = []
    for _ in range({K_SLEEPS}):
        t0 = time.monotonic_ns()                    # vDSO: no syscall
        libc.syscall(35, ctypes.byref(ts), None)    # x86_64 nanosleep(2)
        slept.append(time.monotonic_ns() - t0)
    select.select([r], [], [], 0.03)                # slow, returns 0: no error
    try:
        os.read(r, 1)                               # fast EAGAIN: under the threshold
    except BlockingIOError:
        pass
    try:
        os.read(a.fileno(), 1)                      # slow EAGAIN after SO_RCVTIMEO
    except BlockingIOError:
        pass
    select.poll().poll(30)                          # waits: left out by default
    libc.syscall(202, ctypes.byref(futex_word), 128, 0, ctypes.byref(futex_timeout))
    os.read(tty, 1)                                 # FUTEX_WAIT_PRIVATE above, tty here
    print("waiting", stdin_fd, tty, flush=True)
    os.read(stdin_fd, 2)                            # the pipe: the test writes in 50 ms
    print("done", *slept, flush=True)
    sys.stdin.readline()
""")

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64",
                                reason="the child calls x86_64 syscall numbers")


def Tracer(*args: str) -> Background:  # noqa: N802 - reads like the class it was
    """A ks-syscalls run in the background, ready once its programs are attached."""
    return Background("ks-syscalls", "-v", *args)


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    """One child run watched by three tracers with different filters."""
    script = tmp_path_factory.mktemp("syscalls") / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        _, pipe_fd, sock_fd = child.stdout.readline().split()
        pid = str(child.pid)
        tracers = {
            "default": Tracer("--pid", pid, "--stats", "--interval", "0.5", "--include-waits"),
            "waits-out": Tracer("--pid", pid, "--stats", "--interval", "0.5"),
            # A --syscall naming a wait keeps its waits without --include-waits.
            "nanosleep": Tracer("--pid", pid, "--syscall", "nanosleep", "--min-latency", "5"),
            "errors": Tracer("--pid", pid, "--errors-only"),
            "comm": Tracer("--comm", CHILD_COMM, "--include-waits"),
            "failures": Tracer("--pid", pid, "--stats", "--failures"),
            "ebadf": Tracer("--pid", pid, "--stats", "--errno", "ebadf"),
            "per-process": Tracer("--comm", CHILD_COMM, "--stats", "--per-process"),
        }
        child.stdin.write("go\n")
        child.stdin.flush()
        waiting, stdin_fd, tty_fd = child.stdout.readline().split()
        assert waiting == "waiting"
        time.sleep(0.05)
        child.stdin.write("x\n")
        child.stdin.flush()
        done, *slept = child.stdout.readline().split()
        assert done == "done"
        events = {name: t.stop() for name, t in tracers.items()}
    finally:
        child.kill()
        child.wait()
    return {"pid": child.pid, "pipe_fd": int(pipe_fd), "sock_fd": int(sock_fd),
            "stdin_fd": int(stdin_fd), "tty_fd": int(tty_fd),
            "slept_ns": [int(ns) for ns in slept], "events": events}


def slow_calls(events: list[dict]) -> list[dict]:
    # The child's first read of stdin began before the tracers: never reported, but
    # if the child were slow to block in it, it could be; leave it out.
    return [e for e in events if e["type"] == "syscall"
            and not (e["syscall_name"] == "read" and e["arg0"] == 0)]


@needs_root
def test_exactly_the_slow_calls_with_names_and_latency(traced):
    got = slow_calls(traced["events"]["default"])
    assert {e["pid"] for e in got} == {traced["pid"]}
    sleeps = [e for e in got if e["syscall_name"] == "nanosleep"]
    assert len(sleeps) == K_SLEEPS
    for e, slept in zip(sleeps, traced["slept_ns"]):
        assert e["syscall_nr"] == 35 and e["ret_value"] == 0 and e["is_error"] == 0
        assert e["tid"] == traced["pid"] and e["uid"] == 0
        # Bracketed by the truth: no shorter than asked, no longer than the child's
        # own clock saw around the call (which, on a loaded machine, also holds the
        # wait for a CPU after the call returned: no tighter bound holds).
        assert SLEEP_NS <= e["latency_ns"] <= slept
    selects = [e for e in got if e["syscall_name"] in ("select", "pselect6")]
    assert len(selects) == 1 and selects[0]["ret_value"] == 0 and not selects[0]["is_error"]
    reads = [e for e in got if e["syscall_name"] == "read"]
    assert [(e["arg0"], e["ret_value"], e["is_error"]) for e in reads] == \
        [(traced["sock_fd"], -EAGAIN, 1), (traced["tty_fd"], 0, 0), (traced["stdin_fd"], 2, 0)]
    futexes = [e for e in got if e["syscall_name"] == "futex"]
    assert [(e["ret_value"], e["is_error"]) for e in futexes] == [(-ETIMEDOUT, 1)]
    assert [e["syscall_name"] for e in got][-len(WAITS):] == WAITS
    # Nothing else: the getppid loop and the fast EAGAIN read stayed in the kernel.
    assert len(got) == K_SLEEPS + 2 + len(WAITS)
    assert all(e["latency_ns"] >= 10_000_000 for e in got)


@needs_root
def test_waits_are_left_out_by_default_and_still_counted(traced):
    events = traced["events"]["waits-out"]
    # Only the socket read is not a wait: sleeps, select, poll, the futex wait and the
    # reads of the tty and the pipe are gone (--include-waits has them, above).
    assert [(e["syscall_name"], e["arg0"]) for e in slow_calls(events)] == \
        [("read", traced["sock_fd"])]
    counted = {}
    for e in events:
        if e["type"] == "syscall_stats":
            counted[e["syscall_name"]] = counted.get(e["syscall_name"], 0) + e["count"]
    assert counted["nanosleep"] == K_SLEEPS and counted["poll"] == 1
    assert counted["futex"] >= 1 and counted["read"] >= 4


def test_the_wait_list_is_this_architectures():
    from kernelsight.collectors import syscall_table, syscall_waits

    bits = int.from_bytes(syscall_waits.bitmap(), "little")
    on = {syscall_table.name_of(nr) for nr in range(512) if bits >> nr & 1}
    assert on == set(syscall_waits.ALWAYS) & set(syscall_table.names().values())
    assert "nanosleep" in on and "read" not in on and "futex" not in on
    assert syscall_waits.rodata(True) == {"include_waits": 1}


@needs_root
def test_comm_filter_sees_the_same_calls(traced):
    by_comm = slow_calls(traced["events"]["comm"])
    by_pid = slow_calls(traced["events"]["default"])
    assert {(e["pid"], e["comm"]) for e in by_comm} == {(traced["pid"], CHILD_COMM)}
    assert [(e["syscall_name"], e["ret_value"]) for e in by_comm] == \
        [(e["syscall_name"], e["ret_value"]) for e in by_pid]


@needs_root
def test_syscall_and_errors_only_filters(traced):
    only_sleeps = slow_calls(traced["events"]["nanosleep"])
    assert [e["syscall_name"] for e in only_sleeps] == ["nanosleep"] * K_SLEEPS
    errors = slow_calls(traced["events"]["errors"])
    assert [(e["syscall_name"], e["arg0"], e["ret_value"]) for e in errors] == \
        [("read", traced["sock_fd"], -EAGAIN)]


@needs_root
def test_stats_count_every_call(traced):
    stats: dict[str, dict[str, int]] = {}
    for e in traced["events"]["default"]:
        if e["type"] == "syscall_stats":
            s = stats.setdefault(e["syscall_name"], {"count": 0, "errors": 0, "max_ns": 0})
            s["count"] += e["count"]
            s["errors"] += e["errors"]
            s["max_ns"] = max(s["max_ns"], e["max_ns"])
    assert stats["getppid"]["count"] == N_GETPPID and stats["getppid"]["errors"] == 0
    assert stats["nanosleep"] == {"count": K_SLEEPS, "errors": 0,
                                  "max_ns": stats["nanosleep"]["max_ns"]}
    assert stats["nanosleep"]["max_ns"] >= SLEEP_NS
    assert stats["read"]["errors"] == 2  # the fast and the slow EAGAIN


def counted(events: list[dict]) -> dict[str, tuple[int, int]]:
    """syscall -> (calls, failures) summed over a run's syscall_stats events."""
    out: dict[str, tuple[int, int]] = {}
    for e in events:
        if e["type"] == "syscall_stats":
            c, f = out.get(e["syscall_name"], (0, 0))
            out[e["syscall_name"]] = (c + e["count"], f + e["errors"])
    return out


@needs_root
def test_failures_counts_only_failed_calls(traced):
    got = counted(traced["events"]["failures"])
    # Exactly the child's own failures; its 20,000 getppid calls and the rest not at all.
    assert got["newfstatat"] == (N_MISSING, N_MISSING) and got["close"] == (N_BADFD, N_BADFD)
    assert "getppid" not in got and all(c == f for c, f in got.values())
    assert sum(c for c, _ in got.values()) - N_MISSING - N_BADFD <= 5, got


@needs_root
def test_errno_counts_only_that_errno(traced):
    got = counted(traced["events"]["ebadf"])
    assert got == {"close": (N_BADFD, N_BADFD)}


@needs_root
def test_per_process_stats_are_the_processes_own(traced):
    rows_ = [e for e in traced["events"]["per-process"] if e["type"] == "syscall_process_stats"]
    assert {(e["pid"], e["comm"]) for e in rows_} == {(traced["pid"], CHILD_COMM)}
    calls = sum(e["count"] for e in rows_)
    errors = sum(e["errors"] for e in rows_)
    # Per syscall the default tracer saw the same run: the sums agree to the call.
    per_syscall = counted(traced["events"]["default"])
    assert calls == sum(c for c, _ in per_syscall.values())
    assert errors == sum(f for _, f in per_syscall.values())
    assert calls >= N_GETPPID + N_MISSING + N_BADFD + K_SLEEPS
    assert errors >= N_MISSING + N_BADFD
    assert all(e["max_ns"] <= e["total_ns"] for e in rows_)
    assert not [e for e in traced["events"]["per-process"] if e["type"] == "syscall_stats"]


def test_errno_names_and_mistakes():
    from kernelsight.collectors.syscalls import errno_number

    assert errno_number("ENOENT") == 2 and errno_number("eagain") == 11
    assert errno_number("9") == 9
    r = run_ks("ks-syscalls", "--errno", "ENOENTT")
    assert r.returncode == 2 and b"did you mean ENOENT" in r.stderr
    r = run_ks("ks-syscalls", "--per-process")
    assert r.returncode == 2 and b"give --stats too" in r.stderr


@needs_root
def test_ctrl_c_and_closed_pipe_are_quiet():
    Tracer().stop()  # SIGINT: exit 0, no traceback (checked in stop)
    head = subprocess.run(f"{ks('ks-syscalls')} --stats --interval 0.2 | head -1",
                          shell=True, capture_output=True, timeout=30)
    assert head.returncode == 0
    assert orjson.loads(head.stdout)["type"] in ("syscall_stats", "syscall")
    assert b"Traceback" not in head.stderr and b"Broken pipe" not in head.stderr


@needs_root
def test_pipeline_into_ks_ingest(db_path):
    pipe_into_ingest(db_path, "ks-syscalls", "--duration", "3", "--stats", "--min-latency", "5")
    assert rows(db_path, "SELECT SUM(count) AS n FROM syscall_stats")[0]["n"] > 0
    # The ingest side's own blocking reads of the pipe are slow calls of their own.
    assert rows(db_path, "SELECT COUNT(*) AS n FROM syscall_events")[0]["n"] > 0


def test_unknown_syscall_is_a_usage_error():
    r = run_ks("ks-syscalls", "--syscall", "nanoslep")
    assert r.returncode == 2
    assert b"did you mean nanosleep" in r.stderr and b"Traceback" not in r.stderr


def test_help_teaches():
    r = run_ks("ks-syscalls", "--help")
    assert r.returncode == 0
    assert b"ks-ingest" in r.stdout and b"--min-latency" in r.stderr + r.stdout


# ---- the pieces, without the kernel tracer -------------------------------------------------
def test_syscall_table_numbers_are_the_kernels():
    """Calling a syscall by the table's number does what its name says."""
    import ctypes
    import os

    from kernelsight.collectors import syscall_table

    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.syscall(syscall_table.number_of("getpid")) == os.getpid()
    assert libc.syscall(syscall_table.number_of("getppid")) == os.getppid()
    assert libc.syscall(syscall_table.number_of("getuid")) == os.getuid()
    assert syscall_table.name_of(syscall_table.number_of("clock_nanosleep")) == "clock_nanosleep"
    assert syscall_table.number_of("sys_read") == syscall_table.number_of("read")
    assert syscall_table.name_of(100_000) == "syscall_100000"
    assert len(syscall_table.names()) > 300


def test_syscall_table_parse_skips_junk():
    from kernelsight.collectors.syscall_table import parse

    assert parse("0\tread\n\nx\ty\n1\twrite\n2\t\n") == {0: "read", 1: "write"}


def test_event_decoding():
    from kernelsight.collectors.syscalls import EVENT, decode_event

    raw = EVENT.pack(123, 25_000_000, -11, (1 << 64) - 1, 10, 11, 1000, 1, 0,
                     b"worker\0\0\0\0\0\0\0\0\0\0", 4242)
    ts, fields = decode_event(raw, {4242: "/pod-a"}.get)
    assert ts == 123
    assert fields == {"pid": 10, "tid": 11, "cpu": 1, "uid": 1000, "syscall_nr": 0,
                      "syscall_name": "read", "latency_ns": 25_000_000, "ret_value": -11,
                      "is_error": 1, "arg0": -1, "comm": "worker", "cgroup": "/pod-a"}
    _, ok = decode_event(EVENT.pack(1, 1, -5000, 7, 1, 1, 0, 0, 0, b"x" * 16, 0))
    # Only -4095..-1 are errors; a full 16-byte comm has no NUL and is kept whole.
    assert ok["is_error"] == 0 and ok["comm"] == "x" * 16


@needs_root  # /proc/timer_list is root's
def test_kernel_hz_matches_the_measured_tick():
    from kernelsight.collectors.syscalls import STANDARD_HZ, kernel_hz, measured_hz

    hz = kernel_hz()
    assert hz in STANDARD_HZ
    assert measured_hz() == hz
