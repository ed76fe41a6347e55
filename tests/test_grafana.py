"""contrib/grafana/kernelsight.json cannot rot: every PromQL expression in it is
asked of a real Prometheus scraping ks-promexport --listen (over its HTTP API)
while rows keep arriving, and each returns data, with no error."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from conftest import REPO
from kernelsight.query import synthetic
from test_promexport_listen import listener  # noqa: F401
from test_promexport_prometheus import PROMETHEUS, prometheus_scraping, promql, servers, wait_for  # noqa: F401

NS = 1_000_000_000
DASHBOARD = REPO / "contrib" / "grafana" / "kernelsight.json"
# What Grafana substitutes: the host variable's "All" value and a rate window that
# spans several of the test's 1 s scrapes.
GRAFANA_VARS = {"$__rate_interval": "10s", "$host": ".*"}


def expressions() -> list[str]:
    out = []
    for p in json.loads(DASHBOARD.read_text())["panels"]:
        for t in p["targets"]:
            e = t["expr"]
            for var, value in GRAFANA_VARS.items():
                e = e.replace(var, value)
            out.append(e)
    return out


def test_the_json_is_what_make_dashboard_writes():
    p = subprocess.run([sys.executable, "-c",
                        "import json, runpy; m = runpy.run_path('contrib/grafana/make_dashboard.py');"
                        "print(json.dumps(m['dashboard'](), indent=2))"], cwd=REPO, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout == DASHBOARD.read_text()
    assert all("$" not in e for e in expressions())   # every variable used is one the test substitutes


@pytest.mark.slow
@pytest.mark.skipif(not PROMETHEUS, reason="prometheus not installed")
def test_every_dashboard_expression_returns_data(tmp_path, listener, servers):  # noqa: F811
    db = tmp_path / "ks.db"
    start = (time.time_ns() // NS - 20) * NS
    synthetic.write_events(db, synthetic.scenario(start, 20, seed=8).events)
    srv = listener(db)
    prom_port = prometheus_scraping(servers, tmp_path, srv.port)
    wait_for(lambda: promql(prom_port, "ks_exporter_scrape_duration_seconds_count"), 30, "the first scrape")
    # rows keep arriving, one second of every table each second, so rates are not empty
    for s in range(8):
        synthetic.write_events(db, synthetic.scenario(start + (20 + s) * NS, 1, seed=9 + s).events)
        time.sleep(1)
    answers = {e: promql(prom_port, e) for e in expressions()}   # promql() asserts "success"
    assert [e for e, r in answers.items() if not r] == [], "dashboard expressions with no data"
    # a quantile of rates that saw no samples is NaN: data in name only
    nan = [e for e, r in answers.items() if all(x["value"][1] == "NaN" for x in r)]
    assert nan == [], "dashboard expressions that are all NaN"
