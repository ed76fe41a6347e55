"""Shared test helpers: where the ks-* commands are, and a fresh database per test.

Tests run the real console scripts from the venv that runs pytest, on real SQLite
files, on the real kernel.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import sqlite3
import subprocess
import sys
import threading

import pytest

BIN = pathlib.Path(sys.executable).parent
REPO = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "kernelsight-v1"


def collector_events(out: bytes, *, stats: bool = False) -> list[dict]:
    """A collector's stdout as events, each checked against the registry: a known type
    and only fields that are its columns, so a misspelt field fails the test instead of
    being dropped by ks-ingest (which counts, but stores nothing of, a key it lacks).
    The collector_stats events every BPF collector adds are left out (``stats=True``:
    only those)."""
    import orjson

    from kernelsight.ingest import events as ev

    events = [orjson.loads(line) for line in out.splitlines()]
    for e in events:
        t = ev.BY_NAME.get(e.get("type"))
        assert t is not None, f"not a registered event type: {e}"
        extra = set(e) - {c.name for c in ev.columns_of(t)} - {"type"}
        assert not extra, f"{t.name}: fields the registry lacks: {sorted(extra)} in {e}"
    return [e for e in events if (e["type"] == "collector_stats") == stats]


def ks(name: str) -> str:
    """Absolute path of a ks-* console script of this venv."""
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in {BIN}: run `make setup`")
    return str(path)


def run_ks(name: str, *args: str, input: bytes | str | None = None, timeout: float = 60,
           check: bool = False, **kw) -> subprocess.CompletedProcess:
    if isinstance(input, str):
        input = input.encode()
    return subprocess.run([ks(name), *args], input=input, capture_output=True,
                          timeout=timeout, check=check, **kw)


@pytest.fixture
def db_path(tmp_path) -> pathlib.Path:
    return tmp_path / "ks.db"


def reported(stderr: str, what: str) -> int:
    """The sum of N over a collector's stderr lines that say "N <what>" (its losses,
    evictions: counted and said, never silent)."""
    return sum(int(n) for n in re.findall(rf"(\d+) {re.escape(what)}", stderr))


def rows(db: pathlib.Path, sql: str, *params) -> list[sqlite3.Row]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


is_root = os.geteuid() == 0
# The `bpf` marker (declared in pyproject.toml): the test needs root and a BPF-capable
# kernel.  Skipped when not root; `pytest -m "not bpf"` runs the pure tests anywhere.
needs_root = pytest.mark.bpf


def pytest_runtest_setup(item) -> None:
    if item.get_closest_marker("bpf") and not is_root:
        pytest.skip("needs root (BPF, namespaces, perf)")


def as_nobody(name: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """Run a ks command as the unprivileged user nobody."""
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                           ks(name), *args], capture_output=True, timeout=timeout)


def pipe_into_ingest(db: pathlib.Path, name: str, *args: str, during=None,
                     timeout: float = 30) -> None:
    """`ks-<name> ARGS | ks-ingest --db-path DB`; ``during()`` runs while it collects.

    Both ends must exit 0: the collector when its --duration ends, ks-ingest at EOF.
    """
    collector = subprocess.Popen([ks(name), *args], stdout=subprocess.PIPE)
    ingest = subprocess.Popen([ks("ks-ingest"), "--db-path", str(db)], stdin=collector.stdout,
                              stderr=subprocess.PIPE)
    collector.stdout.close()
    if during is not None:
        during()
    assert collector.wait(timeout=timeout) == 0
    _, err = ingest.communicate(timeout=timeout)
    assert ingest.returncode == 0, err.decode()


class Background:
    """A ks collector running in the background, returned once its stderr says ``ready``
    (run it with -v so it says when it is attached); ``stop()`` ends it with a signal
    and returns its events.  Its stdout is read all along, as a real consumer would:
    a full pipe would stall the collector's intervals."""

    def __init__(self, name: str, *args: str, ready: str = "attached", timeout: float = 30):
        self.name = name
        self.proc = subprocess.Popen([ks(name), *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self._out: list[bytes] = []
        self._err: list[bytes] = []
        started, said = threading.Event(), []

        def read_err() -> None:
            for line in self.proc.stderr:
                self._err.append(line)
                if not said and ready.encode() in line:
                    said.append(line)
                    started.set()
            started.set()  # EOF: it ended, maybe before saying it was ready

        self._readers = [threading.Thread(target=self._out.extend, args=(self.proc.stdout,),
                                          daemon=True),
                         threading.Thread(target=read_err, daemon=True)]
        for t in self._readers:
            t.start()
        if not started.wait(timeout) or not said:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{name} did not say {ready!r} within {timeout} s: "
                                 f"{b''.join(self._err).decode()}")

    @property
    def stderr(self) -> str:
        """What it said on stderr so far."""
        return b"".join(self._err).decode()

    def stop(self, sig: int = 2) -> list[dict]:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)
        for t in self._readers:
            t.join(timeout=30)
        out = b"".join(self._out)
        assert self.proc.returncode == 0, self.stderr
        assert "Traceback" not in self.stderr
        return collector_events(out)


class TracepointHits:
    """How often a tracepoint fired on any CPU while open: one counting perf event per
    CPU (PERF_TYPE_TRACEPOINT).  A counter cannot overrun the way tracefs's bounded
    per-CPU `trace` buffer does, and it changes no tracefs state."""

    def __init__(self, category: str, name: str):
        from kernelsight.bpf import libbpf
        tp = libbpf.tracepoint_id(category, name)
        self.fds = [libbpf.open_perf_event(libbpf.PERF_TYPE_TRACEPOINT, tp, cpu)
                    for cpu in libbpf.online_cpus()]

    def count(self) -> int:
        return sum(int.from_bytes(os.read(fd, 8), "little") for fd in self.fds)

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []


@contextlib.contextmanager
def background_ks(name: str, *args: str, **popen_kw):
    """A ks command running while the block runs; killed and reaped when it ends,
    however it ends (a failed assertion leaves no process behind)."""
    p = subprocess.Popen([ks(name), *args], **popen_kw)
    try:
        yield p
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()


@pytest.fixture
def fresh_cgroup():
    """A new, empty cgroup v2 as (path relative to the v2 mount, its directory); every
    process still in it is killed and the cgroup removed, even when the test fails."""
    from kernelsight.collectors.cgroups import v2_mounts

    roots = v2_mounts()
    if not roots:
        pytest.skip("no cgroup2 mounted")
    path = os.path.join(roots[0], f"ks-test-{os.getpid()}-{threading.get_ident() % 10000}")
    os.mkdir(path)
    try:
        yield "/" + os.path.basename(path), path
    finally:
        _remove_cgroup(path)


def _remove_cgroup(path: str) -> None:
    """Kill what is still in a cgroup and remove it (v1 or v2), however the test went."""
    with open(os.path.join(path, "cgroup.procs")) as f:
        for pid in map(int, f.read().split()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
    for _ in range(100):        # a killed process leaves the cgroup once reaped
        with contextlib.suppress(OSError):
            os.rmdir(path)
            break
        threading.Event().wait(0.05)


@pytest.fixture
def charged_cgroup(fresh_cgroup):
    """fresh_cgroup with the kernel charging its block I/O to it, as (path, the
    directories a process joins to be in it): on a hybrid machine (blkio on v1) a blkio
    cgroup of the same path beside it; on a v2 one the io controller enabled for it
    (and the root's subtree_control put back afterwards)."""
    from kernelsight.collectors.cgroups import controller_root, v2_mounts

    path, directory = fresh_cgroup
    blkio = controller_root("blkio")
    if blkio is None:
        pytest.skip("no blkio/io controller on this kernel")
    if blkio in v2_mounts():
        with open(os.path.join(blkio, "cgroup.controllers")) as f:
            if "io" not in f.read().split():
                pytest.skip("no io controller on cgroup v2 (nor blkio on v1)")
        control = os.path.join(blkio, "cgroup.subtree_control")
        with open(control) as f:
            enabled = "io" in f.read().split()
        if not enabled:
            with open(control, "w") as f:
                f.write("+io")
        try:
            yield path, [directory]
        finally:
            if not enabled:
                with contextlib.suppress(OSError), open(control, "w") as f:
                    f.write("-io")
        return
    twin = os.path.join(blkio, path.lstrip("/"))
    os.mkdir(twin)
    try:
        yield path, [directory, twin]
    finally:
        _remove_cgroup(twin)
