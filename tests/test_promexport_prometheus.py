"""ks-promexport for real, on loopback: node_exporter's textfile collector serves the
file, a Prometheus server scrapes it every second, and histogram_quantile over
rate() of our RTT histogram gives the p99 of the last seconds only — not of the
history the cumulative counters also hold."""

from __future__ import annotations

import json
import math
import random
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import run_ks
from kernelsight.ingest import histogram
from kernelsight.query import synthetic

NS = 1_000_000_000
PROMETHEUS = shutil.which("prometheus")
NODE_EXPORTER = shutil.which("prometheus-node-exporter")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (PROMETHEUS and NODE_EXPORTER), reason="prometheus / node_exporter not installed"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def promql(port: int, query: str):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    data = json.loads(get(url))
    assert data["status"] == "success", data
    return data["data"]["result"]


def rtt_events(ts: int, values: list[int]) -> dict:
    h = histogram.sparse({i: c for i, c in _count(values).items()})
    return {"type": "rtt", "timestamp": ts, "host": "loop", "node": "edge", "peer": "127.0.0.1", "family": 4,
            "interval_ns": NS, "sum_us": sum(values), "count": len(values), "buckets": h}


def _count(values):
    out: dict = {}
    for v in values:
        out[histogram.index(v)] = out.get(histogram.index(v), 0) + 1
    return out


@pytest.fixture
def servers(tmp_path):
    procs = []

    def start(args, log):
        p = subprocess.Popen(args, stdout=open(tmp_path / log, "wb"), stderr=subprocess.STDOUT)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


def prometheus_scraping(servers, tmp_path, port: int) -> int:
    """A real Prometheus server scraping 127.0.0.1:port every second; its own port."""
    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                      "scrape_configs:\n  - job_name: ks\n    static_configs:\n"
                      f"      - targets: ['127.0.0.1:{port}']\n")
    servers([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"], "prometheus.log")
    return prom_port


def test_histogram_quantile_over_rate_is_the_p99_of_the_window(tmp_path, servers):
    db, tf = tmp_path / "ks.db", tmp_path / "textfile"
    tf.mkdir()
    rnd = random.Random(11)
    now = time.time_ns()
    # History: two minutes of a fast link (100-200 us).  The counters carry it forever.
    history = [rtt_events(now - (130 - s) * NS, [rnd.randint(100, 200) for _ in range(50)]) for s in range(120)]
    synthetic.write_events(db, history)
    export = ["--db-path", str(db), "--textfile-dir", str(tf)]
    assert run_ks("ks-promexport", *export).returncode == 0

    ne_port = free_port()
    servers([NODE_EXPORTER, "--collector.disable-defaults", "--collector.textfile",
             f"--collector.textfile.directory={tf}", f"--web.listen-address=127.0.0.1:{ne_port}"], "ne.log")
    prom_port = prometheus_scraping(servers, tmp_path, ne_port)

    page = wait_for(lambda: get(f"http://127.0.0.1:{ne_port}/metrics").decode(), 15, "node_exporter")
    served = {(s.name, s.labels.get("le")): s.value
              for fam in text_string_to_metric_families(page) for s in fam.samples
              if s.labels.get("node") == "edge" or s.name == "node_textfile_scrape_error"}
    assert served[("ks_tcp_rtt_seconds_bucket", "+Inf")] == 6000
    assert served[("node_textfile_scrape_error", None)] == 0
    wait_for(lambda: promql(prom_port, 'ks_tcp_rtt_seconds_count{node="edge"}'), 30, "the first scrape")
    time.sleep(2)

    # Now the link is slow: 5-10 ms, 200 samples a second, exported every second.
    recent: list[int] = []
    tick = time.monotonic()
    for _ in range(12):
        values = [rnd.randint(5000, 10000) for _ in range(200)]
        recent += values
        synthetic.write_events(db, [rtt_events(time.time_ns(), values)])
        assert run_ks("ks-promexport", *export).returncode == 0
        tick += 1.0
        time.sleep(max(0.0, tick - time.monotonic()))
    time.sleep(1.5)  # let the last file be scraped

    result = promql(prom_port, 'histogram_quantile(0.99, rate(ks_tcp_rtt_seconds_bucket{node="edge"}[8s]))')
    assert len(result) == 1, result
    got_us = float(result[0]["value"][1]) * 1e6
    s = sorted(recent)
    want_us = s[math.ceil(0.99 * len(s)) - 1]
    # within the emitted buckets' error: 4 bounds per octave, linear inside (uniform data)
    assert abs(got_us - want_us) <= 0.07 * want_us, (got_us, want_us)
    # and nothing like the all-time p99, which history drags down
    everything = sorted(recent + [v for e in history for v in _values_of(e)])
    assert got_us > 2 * everything[len(everything) // 2]

    (gauge,) = promql(prom_port, 'ebpf_rtt_p99_milliseconds{node="edge"}')
    assert float(gauge["value"][1]) == pytest.approx(want_us / 1e3, rel=0.07)


def _values_of(event) -> list[float]:
    """Representative values of a stored histogram (bucket lower bounds): enough for a median."""
    return [histogram.lower(i) for i, c in event["buckets"] for _ in range(c)]
