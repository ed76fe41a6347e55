"""ks-promexport --listen: a real exporter process on loopback, scraped over HTTP
(by urllib, and by a real Prometheus server), checked against the textfile mode
and against the rows in the database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
import time
import urllib.error

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import ks, run_ks
from kernelsight.query import synthetic
from kernelsight.query.prom_spec import COUNTERS, HISTOGRAMS
from test_promexport_prometheus import (PROMETHEUS, free_port, get, promql, prometheus_scraping,  # noqa: F401
                                        servers, wait_for)

NS = 1_000_000_000
SECONDS = 60


@pytest.fixture
def db(tmp_path):
    start = (time.time_ns() // NS - SECONDS - 5) * NS
    path = tmp_path / "ks.db"
    synthetic.write_events(path, synthetic.scenario(start, SECONDS, seed=3).events)
    return path, start


class Listener:
    """ks-promexport --listen on a free loopback port, until stop()."""

    def __init__(self, db_path, *args: str):
        self.port = free_port()
        self.proc = subprocess.Popen([ks("ks-promexport"), "--db-path", str(db_path),
                                      "--listen", f"127.0.0.1:{self.port}", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for(lambda: self.status("/") == 200, 15, "ks-promexport --listen")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def status(self, path: str) -> int:
        return self.fetch(path)[0]

    def fetch(self, path: str) -> tuple[int, str]:
        try:
            return 200, get(self.url(path), timeout=10).decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metrics(self) -> dict:
        code, text = self.fetch("/metrics")
        assert code == 200, text
        return series(text)

    def stop(self) -> str:
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=10)
        assert self.proc.returncode == 143, err   # SIGTERM: the shell's 128 + 15
        return err.decode()


@pytest.fixture
def listener():
    started = []

    def start(db_path, *args):
        started.append(Listener(db_path, *args))
        return started[-1]

    yield start
    for one in started:
        if one.proc.poll() is None:
            one.proc.kill()
            one.proc.wait()


def series(text: str) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def families(text: str) -> set[str]:
    return {fam.name for fam in text_string_to_metric_families(text)}


def textfile(db_path, *args) -> str:
    p = run_ks("ks-promexport", "--db-path", str(db_path), *args, "-")
    assert p.returncode == 0, p.stderr
    return p.stdout.decode()


# The families folded from stored rows (prom_spec.py); the kernel's own counters
# (LATEST) are the newest reading and go back to zero when the host reboots.
FOLDED = tuple(f"{s.name}_total" for s in COUNTERS) + tuple(
    f"{s.name}_{part}" for s in HISTOGRAMS for part in ("bucket", "count", "sum"))


def slow_syscalls_in(db_path) -> int:
    """The independent truth: one slow syscall per syscall_events row."""
    return synthetic.count_rows(db_path, "syscall_events")


def test_serves_the_textfile_families_and_its_own_health(db, listener):
    path, _ = db
    before = os.stat(path).st_mtime_ns
    srv = listener(path)
    code, page = srv.fetch("/")
    assert code == 200 and 'href="/metrics"' in page
    code, text = srv.fetch("/metrics")
    assert code == 200
    want = textfile(path)
    health = {"ks_exporter_scrape_duration_seconds", "ks_exporter_scrape_errors"}
    assert families(text) == families(want) | health
    # the cumulative families are the same numbers (gauges move with the clock)
    got, exp = series(text), series(want)
    for key, value in exp.items():
        if key[0].endswith(("_total", "_bucket", "_count")):
            assert got[key] == value, key
    assert sum(v for (n, _), v in got.items() if n == "ks_slow_syscalls_total") == slow_syscalls_in(path)
    assert got[("ks_exporter_scrape_errors_total", (("reason", "locked"),))] == 0
    assert srv.status("/nothing") == 404
    assert os.stat(path).st_mtime_ns == before   # read-only: never writes the database
    assert "serving http://127.0.0.1" in srv.stop()


def test_counters_carry_on_across_scrapes_and_a_restart(db, listener, tmp_path):
    path, start = db
    srv = listener(path)
    first = srv.metrics()
    synthetic.write_events(path, synthetic.scenario(start + SECONDS * NS, 20, seed=4).events)
    second = srv.metrics()
    srv.stop()
    assert sorted(os.listdir(tmp_path / "promexport-state")) == ["listen.state", "listen.state.lock"]
    synthetic.write_events(path, synthetic.scenario(start + (SECONDS + 20) * NS, 20, seed=5).events)
    third = listener(path).metrics()
    for a, b in ((first, second), (second, third)):
        for key, value in a.items():
            if key[0] in FOLDED:
                assert b.get(key, 0) >= value, f"{key} went backwards"
    total = sum(v for (n, _), v in third.items() if n == "ks_slow_syscalls_total")
    assert total == slow_syscalls_in(path) > sum(v for (n, _), v in first.items() if n == "ks_slow_syscalls_total")


def test_a_missing_database_is_503_until_it_appears(tmp_path, listener, db):
    later = tmp_path / "later.db"
    srv = listener(later)
    code, text = srv.fetch("/metrics")
    assert code == 503 and text.count("\n") == 1 and "no database at" in text and "Traceback" not in text
    os.link(db[0], later)   # the database appears (as when ks-ingest starts after the exporter)
    got = srv.metrics()
    assert got[("ks_exporter_scrape_errors_total", (("reason", "database"),))] >= 1
    assert sum(v for (n, _), v in got.items() if n == "ks_slow_syscalls_total") == slow_syscalls_in(later)


def test_a_locked_database_is_503_then_recovers(db, listener):
    path, _ = db
    srv = listener(path)
    srv.metrics()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=DELETE")   # in WAL readers never wait; a rollback journal locks them out
    writer.execute("BEGIN EXCLUSIVE")
    try:
        code, text = srv.fetch("/metrics")
    finally:
        writer.execute("ROLLBACK")
        writer.execute("PRAGMA journal_mode=WAL")
        writer.close()
    assert code == 503 and "locked" in text and "Traceback" not in text
    assert srv.metrics()[("ks_exporter_scrape_errors_total", (("reason", "locked"),))] == 1


def test_concurrent_scrapes_fold_each_row_once(db, listener):
    path, start = db
    srv = listener(path)
    synthetic.write_events(path, synthetic.scenario(start + SECONDS * NS, 30, seed=6).events)
    pages, errors = [], []

    def scrape():
        try:
            pages.append(srv.metrics())
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=scrape) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and len(pages) == 8
    truth = slow_syscalls_in(path)
    for page in pages:
        assert sum(v for (n, _), v in page.items() if n == "ks_slow_syscalls_total") == truth


def test_the_textfile_state_moves_out_of_the_textfile_directory(db, tmp_path):
    path, start = db
    tf = tmp_path / "tf"
    tf.mkdir()
    old = tf / ".kernelsight.prom.state"
    # what an older version left: its state, with the totals of the rows so far
    p = run_ks("ks-promexport", "--db-path", str(path), "--state-file", str(old), "--textfile-dir", str(tf))
    assert p.returncode == 0, p.stderr
    synthetic.write_events(path, synthetic.scenario(start + SECONDS * NS, 20, seed=7).events)
    p = run_ks("ks-promexport", "--db-path", str(path), "--textfile-dir", str(tf))
    assert p.returncode == 0 and b"moved the state file" in p.stderr, p.stderr
    assert sorted(os.listdir(tf)) == ["kernelsight.prom"]
    assert (tmp_path / "promexport-state" / "textfile.state").exists()
    out = series((tf / "kernelsight.prom").read_text())
    assert sum(v for (n, _), v in out.items() if n == "ks_slow_syscalls_total") == slow_syscalls_in(path)


def test_bad_listen_and_a_second_exporter_are_one_line(db, listener):
    p = run_ks("ks-promexport", "--db-path", str(db[0]), "--listen", "127.0.0.1:http")
    assert p.returncode == 2 and b"port must be a number" in p.stderr and b"Traceback" not in p.stderr
    srv = listener(db[0])
    p = run_ks("ks-promexport", "--db-path", str(db[0]), "--listen", f"127.0.0.1:{free_port()}")
    assert p.returncode == 1 and b"another ks-promexport uses the state file" in p.stderr
    assert srv.proc.poll() is None


@pytest.mark.slow
@pytest.mark.skipif(not PROMETHEUS, reason="prometheus not installed")
def test_prometheus_scrapes_it_and_sees_no_reset_across_a_restart(db, listener, servers, tmp_path):
    path, _ = db
    srv = listener(path)
    prom_port = prometheus_scraping(servers, tmp_path, srv.port)
    wait_for(lambda: promql(prom_port, "ks_exporter_scrape_duration_seconds_count > 2"), 30, "three scrapes")
    port = srv.port
    srv.stop()
    again = subprocess.Popen([ks("ks-promexport"), "--db-path", str(path), "--listen", f"127.0.0.1:{port}"],
                             stderr=subprocess.DEVNULL)
    try:
        # its own health summary starts again: a count below 3 is the new process
        wait_for(lambda: promql(prom_port, "ks_exporter_scrape_duration_seconds_count < 3"), 30,
                 "the restarted exporter")
        time.sleep(3)
        (up,) = promql(prom_port, 'up{job="ks"}')
        assert up["value"][1] == "1"
        truth = slow_syscalls_in(path)
        (total,) = promql(prom_port, "sum(ks_slow_syscalls_total)")
        assert float(total["value"][1]) == truth
        assert promql(prom_port, "resets(ks_slow_syscalls_total[1m]) > 0") == []
        assert promql(prom_port, "resets(ks_tcp_rtt_seconds_count[1m]) > 0") == []
    finally:
        again.terminate()
        again.wait(timeout=10)


def test_dropping_old_raw_rows_keeps_the_counters(db, listener):
    """What ks-retain does (drop raw rows older than a cut-off): the totals already
    folded in stay, so nothing goes backwards."""
    path, start = db
    srv = listener(path)
    before = srv.metrics()
    conn = sqlite3.connect(path)
    with conn:
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                     "AND name NOT LIKE '%_1m' AND name NOT LIKE 'sqlite%'").fetchall():
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            if "timestamp" in cols:
                conn.execute(f"DELETE FROM {table} WHERE timestamp < ?", [start + SECONDS // 2 * NS])
    conn.close()
    assert slow_syscalls_in(path) < sum(v for (n, _), v in before.items() if n == "ks_slow_syscalls_total")
    after = srv.metrics()
    for key, value in before.items():
        if key[0] in FOLDED:
            assert after[key] == value, key
