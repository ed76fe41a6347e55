"""collector_stats: every BPF collector's own account, per interval, into the database
(issue 17 item 12), and its losses said on stderr without flooding it (issue 15).

The truth for what was printed is the output itself (lines counted); for what was
lost, the collector's stderr, which says each lost record exactly once."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import collector_events, ks, needs_root, reported, rows, run_ks
from kernelsight.collectors.loss_notice import LossNotice

RINGBUF_LOST = "lost: ring buffer full"


# ---- the notice: unit tests on a clock we move -----------------------------------------------
class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def notice(verbose=False):
    said, clock = [], FakeClock()
    n = LossNotice({"lost_x": "x dropped"}, said.append, verbose=verbose, every_s=60, clock=clock)
    return n, said, clock


def test_a_loss_is_said_at_once_then_at_most_once_a_minute_and_at_exit():
    n, said, clock = notice()
    n.add({"lost_x": 5})
    assert said == ["5 lost: x dropped (total 5)"]
    for _ in range(59):                   # a minute of one-second intervals, each losing 2
        clock.t += 1
        n.add({"lost_x": 2})
    assert len(said) == 1
    clock.t += 1
    n.add({"lost_x": 2})
    assert said[1:] == ["120 lost: x dropped (total 125)"]
    clock.t += 1
    n.add({"lost_x": 3})
    n.add({"lost_x": 0})
    n.close()
    assert said[2:] == ["3 lost: x dropped (total 128)"]
    assert reported("\n".join(said), "lost: x dropped") == 128


def test_the_total_is_said_at_exit_even_when_nothing_is_left_unsaid():
    n, said, _ = notice()
    n.add({"lost_x": 7})
    n.close()
    assert said == ["7 lost: x dropped (total 7)", "total lost: 7 (x dropped)"]
    assert reported("\n".join(said), "lost: x dropped") == 7


def test_verbose_says_every_interval_and_nothing_without_losses():
    n, said, clock = notice(verbose=True)
    for lost in (1, 0, 2, 3):
        clock.t += 1
        n.add({"lost_x": lost})
    n.close()
    assert said == ["1 lost: x dropped (total 1)", "2 lost: x dropped (total 3)",
                    "3 lost: x dropped (total 6)"]
    quiet, said, _ = notice()
    quiet.add({"lost_x": 0})
    quiet.close()
    assert said == []


# ---- the real thing: ks-syscalls --min-latency 0 against a getppid loop -------------------
LOOP = "import os\nwhile True: os.getppid()\n"


@pytest.fixture(scope="module")
def flooded(tmp_path_factory):
    """ks-syscalls printing every call for 2 s in 0.2 s intervals while a process makes
    system calls as fast as it can: its 256 KB ring buffer overflows every interval."""
    d = tmp_path_factory.mktemp("flood")
    out = {}
    for mode, extra in (("quiet", ()), ("verbose", ("--verbose",))):
        loop = subprocess.Popen([sys.executable, "-c", LOOP])
        try:
            p = subprocess.run([ks("ks-syscalls"), "--min-latency", "0", "-i", "0.2", "-d", "2", *extra],
                               capture_output=True, timeout=60)
        finally:
            loop.kill()
            loop.wait()
        assert p.returncode == 0, p.stderr
        (d / f"{mode}.ndjson").write_bytes(p.stdout)
        out[mode] = {"stdout": p.stdout, "stderr": p.stderr.decode(), "path": d / f"{mode}.ndjson"}
    return out


@needs_root
def test_stats_count_every_printed_line_and_every_loss_said(flooded, tmp_path):
    run = flooded["quiet"]
    stats = collector_events(run["stdout"], stats=True)
    printed = collector_events(run["stdout"])
    assert len(stats) >= 2             # one per interval (fewer when the machine is slow)
    assert sum(s["events"] for s in stats) == len(printed)
    said = reported(run["stderr"], RINGBUF_LOST)
    assert said > 0, "no loss to count: the ring buffer kept up"
    assert sum(s["lost_ringbuf"] for s in stats) == said
    assert all(s["collector"] == "ks-syscalls" and s["cpu_user_ns"] >= 0 for s in stats)
    # and so in the database
    db = tmp_path / "ks.db"
    r = run_ks("ks-ingest", "--db-path", str(db), str(run["path"]))
    assert r.returncode == 0, r.stderr
    (stored,) = rows(db, "SELECT sum(events), sum(lost_ringbuf), count(*) FROM collector_stats")
    assert tuple(stored) == (len(printed), said, len(stats))
    assert rows(db, "SELECT count(*) FROM syscall_events")[0][0] == len(printed)


@needs_root
def test_losses_are_not_said_every_interval(flooded):
    quiet, verbose = flooded["quiet"], flooded["verbose"]
    lines = [x for x in quiet["stderr"].splitlines() if "ring buffer full" in x]   # "total lost:" too
    losing = [s for s in collector_events(quiet["stdout"], stats=True) if s["lost_ringbuf"]]
    # the first loss, then (2 s < a minute) only what was left at exit, or its total
    assert len(losing) >= 2 and len(lines) == 2, quiet["stderr"]
    assert reported(quiet["stderr"], RINGBUF_LOST) == sum(s["lost_ringbuf"] for s in losing)
    intervals_lost = [s for s in collector_events(verbose["stdout"], stats=True) if s["lost_ringbuf"]]
    said = [x for x in verbose["stderr"].splitlines() if RINGBUF_LOST in x]
    assert len(said) == len(intervals_lost) >= 2
    assert reported(verbose["stderr"], RINGBUF_LOST) == sum(s["lost_ringbuf"] for s in intervals_lost)


@needs_root
def test_summary_and_prometheus_show_the_losses(flooded, tmp_path):
    run = flooded["quiet"]
    db = tmp_path / "ks.db"
    assert run_ks("ks-ingest", "--db-path", str(db), str(run["path"])).returncode == 0
    said = reported(run["stderr"], RINGBUF_LOST)
    printed = len(collector_events(run["stdout"]))
    r = run_ks("ks-query", "summary", "--db-path", str(db), "--since", "1h", "--format", "json")
    assert r.returncode == 0, r.stderr
    (line,) = [x for x in map(orjson.loads, r.stdout.splitlines()) if x["section"] == "Collectors"]
    assert line["subject"] == "ks-syscalls"
    assert (line["events"], line["lost"], line["lost_by_cause"]) == (printed, said, {"ringbuf": said})
    prom = run_ks("ks-promexport", "--db-path", str(db), "-")
    assert prom.returncode == 0, prom.stderr
    text = prom.stdout.decode()
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value
           for fam in text_string_to_metric_families(text) for s in fam.samples}
    lost = [v for (name, labels), v in got.items()
            if name == "ks_collector_lost_total" and ("cause", "ringbuf") in labels]
    events = [v for (name, _), v in got.items() if name == "ks_collector_events_total"]
    assert lost == [said] and events == [printed]


def test_losses_are_exported_at_zero_before_the_first_one(tmp_path):
    """ks_collector_lost_total{cause} exists at 0 from a collector's first row, so the
    usual alert, increase(...[5m]) > 0, sees the first loss (a series that appears at
    its first loss has no earlier sample to increase from).  A cause the row leaves
    out makes no series."""
    import time

    now = time.time_ns()
    rows = [{"type": "collector_stats", "timestamp": now - (3 - i) * 10**9, "host": "h",
             "interval_ns": 10**9, "collector": "ks-iolat", "pid": 9, "events": 2,
             "lost_ringbuf": 0, "lost_map_full": 3 * i, "lost_completion": 0} for i in range(3)]
    db = tmp_path / "ks.db"
    data = b"".join(orjson.dumps(r) + b"\n" for r in rows)
    assert run_ks("ks-ingest", "--db-path", str(db), input=data).returncode == 0
    prom = run_ks("ks-promexport", "--db-path", str(db), "-")
    assert prom.returncode == 0, prom.stderr
    lost = {s.labels["cause"]: s.value for fam in text_string_to_metric_families(prom.stdout.decode())
            for s in fam.samples if s.name == "ks_collector_lost_total"}
    assert lost == {"ringbuf": 0, "map_full": 9, "completion": 0}
