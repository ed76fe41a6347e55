"""Writes kernelsight.json, the Grafana dashboard: `python contrib/grafana/make_dashboard.py`.

Panels are declared here once (title, kind, PromQL); tests/test_grafana.py runs
every expression of the JSON against a real Prometheus scraping ks-promexport.
"""

from __future__ import annotations

import json
import pathlib

H = 'host=~"$host"'
R = "$__rate_interval"


def q(hist: str, p: float, by: str = "") -> str:
    return (f"histogram_quantile({p}, sum by (le{', ' + by if by else ''}) "
            f"(rate({hist}_bucket{{{H}}}[{R}])))")


def heat(hist: str) -> str:
    return f"sum by (le) (rate({hist}_bucket{{{H}}}[{R}]))"


# (title, kind, unit, [(expr, legend)])
PANELS = [
    ("RTT p50 / p99 per node (ks-rtt, the seed's gauges)", "timeseries", "ms",
     [("ebpf_rtt_p50_milliseconds", "p50 {{node}}"), ("ebpf_rtt_p99_milliseconds", "p99 {{node}}")]),
    ("TCP RTT p99 per node (histogram)", "timeseries", "s",
     [(q("ks_tcp_rtt_seconds", 0.99, "node"), "{{node}}")]),
    ("TCP RTT", "heatmap", "s", [(heat("ks_tcp_rtt_seconds"), "{{le}}")]),
    ("Block I/O p99 per device and op", "timeseries", "s",
     [(q("ks_block_io_latency_seconds", 0.99, "device, op"), "{{device}} {{op}}")]),
    ("Block I/O latency", "heatmap", "s", [(heat("ks_block_io_latency_seconds"), "{{le}}")]),
    ("Run-queue latency p50 / p99", "timeseries", "s",
     [(q("ks_runqueue_latency_seconds", 0.5), "p50"), (q("ks_runqueue_latency_seconds", 0.99), "p99")]),
    ("Run-queue latency", "heatmap", "s", [(heat("ks_runqueue_latency_seconds"), "{{le}}")]),
    ("Page-fault latency p99", "timeseries", "s", [(q("ks_page_fault_latency_seconds", 0.99), "p99")]),
    ("Page-fault latency", "heatmap", "s", [(heat("ks_page_fault_latency_seconds"), "{{le}}")]),
    ("Page faults per second", "timeseries", "ops",
     [(f"sum by (kind) (rate(ks_page_faults_total{{{H}}}[{R}]))", "{{kind}}")]),
    ("Memory", "timeseries", "bytes",
     [(f"ks_memory_total_bytes{{{H}}}", "total"), (f"ks_memory_available_bytes{{{H}}}", "available"),
      (f"ks_memory_cached_bytes{{{H}}}", "cached")]),
    ("CPU by mode", "timeseries", "percentunit", [(f"ks_cpu_usage_ratio{{{H}}}", "{{mode}}")]),
    ("Load", "timeseries", "short", [(f"ks_load1{{{H}}}", "1m"), (f"ks_load5{{{H}}}", "5m")]),
    ("TCP connections by state", "timeseries", "short", [(f"ks_tcp_connections{{{H}}}", "{{state}}")]),
    ("TCP retransmits per second", "timeseries", "ops",
     [(f"rate(ks_tcp_retrans_segs_total{{{H}}}[{R}])", "all (kernel)"),
      (f"sum by (node) (rate(ks_tcp_node_retransmits_total{{{H}}}[{R}]))", "{{node}}")]),
    ("Slow system calls per second, top 10", "timeseries", "ops",
     [(f"topk(10, sum by (syscall) (rate(ks_slow_syscalls_total{{{H}}}[{R}])))", "{{syscall}}")]),
    ("Table freshness: age of the newest row (a dead collector grows)", "timeseries", "s",
     [("ks_table_newest_row_age_seconds", "{{table}}")]),
    ("Exporter: scrape time and errors", "timeseries", "s",
     [("rate(ks_exporter_scrape_duration_seconds_sum[$__rate_interval]) / "
       "rate(ks_exporter_scrape_duration_seconds_count[$__rate_interval])", "scrape time"),
      ("sum by (reason) (increase(ks_exporter_scrape_errors_total[$__rate_interval]))", "errors {{reason}}")]),
]


def panel(i: int, title: str, kind: str, unit: str, targets) -> dict:
    p = {"id": i + 1, "title": title, "type": kind, "datasource": {"type": "prometheus", "uid": "${datasource}"},
         "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
         "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
         "targets": [{"refId": chr(65 + j), "expr": e, "legendFormat": leg,
                      **({"format": "heatmap"} if kind == "heatmap" else {})}
                     for j, (e, leg) in enumerate(targets)]}
    if kind == "heatmap":
        p["options"] = {"calculate": False, "yAxis": {"unit": unit}}
    return p


def dashboard() -> dict:
    return {
        "title": "kernelsight", "uid": "kernelsight", "schemaVersion": 39, "version": 1,
        "tags": ["kernelsight", "ebpf"], "time": {"from": "now-1h", "to": "now"}, "refresh": "30s",
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"},
            {"name": "host", "type": "query", "label": "host", "includeAll": True, "multi": True,
             "allValue": ".*", "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "query": {"query": "label_values(ks_memory_total_bytes, host)"},
             "definition": "label_values(ks_memory_total_bytes, host)", "refresh": 2},
        ]},
        "panels": [panel(i, *p) for i, p in enumerate(PANELS)],
    }


if __name__ == "__main__":
    out = pathlib.Path(__file__).with_name("kernelsight.json")
    out.write_text(json.dumps(dashboard(), indent=2) + "\n")
