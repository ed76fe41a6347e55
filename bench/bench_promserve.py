"""ks-promexport --listen on the 10M-row bench database (``--quick``: 1M), built and
cached by bench_query.py.

Measured: the wall time of one HTTP scrape (client side) and the exporter's own
ks_exporter_scrape_duration_seconds for it, with no new rows and with a minute of
new rows in the histogram and counter tables (the steady state of a 1-minute
scrape interval; with 15 s scrapes each sees a quarter of that). Baseline: the
textfile mode's cron run over the same minute of rows (a whole process), the
thing --listen replaces. Target: <= 100 ms per scrape.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import bench_query as bq
from prometheus_client.parser import text_string_to_metric_families


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> tuple[float, float]:
    """(client wall ms, the exporter's own sum of scrape durations so far, s)."""
    t = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=600) as r:
        text = r.read().decode()
    wall = (time.perf_counter() - t) * 1000
    total = next(s.value for f in text_string_to_metric_families(text) for s in f.samples
                 if s.name == "ks_exporter_scrape_duration_seconds_sum")
    return wall, total


def timed_scrape(port: int, before: float) -> tuple[float, float]:
    """(client wall ms, server ms) of one scrape; ``before``: the duration sum of the
    scrapes so far (the one reported includes this scrape)."""
    wall, after = scrape(port)
    return wall, (after - before) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1M rows instead of 10M")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    db, newest = bq.bench_database(args.quick)
    with tempfile.TemporaryDirectory() as state:
        port = free_port()
        proc = subprocess.Popen([str(bq.BIN / "ks-promexport"), "--db-path", str(db), "--state-dir", state,
                                 "--listen", f"127.0.0.1:{port}"], stderr=subprocess.DEVNULL)
        try:
            t = time.perf_counter()
            while True:   # the first scrape waits for the warm-up fold of every stored row
                try:
                    scrape(port)
                    break
                except OSError:
                    time.sleep(0.2)
            print(f"warm-up (folds in every stored row) and first scrape: {time.perf_counter() - t:.1f} s wall")
            idle = [timed_scrape(port, scrape(port)[1]) for _ in range(args.runs)]
            walls, servers, first = [], [], None
            for i in range(args.runs):
                # minute after minute, as a collector writes them; removed at the end
                # (removing them under a running exporter would look like a new database)
                _, before = scrape(port)
                added = bq._append_minute(db, newest + 60 * i)
                first = first or added
                wall, server = timed_scrape(port, before)
                walls.append(wall)
                servers.append(server)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        # the baseline starts from the exporter's totals, not from nothing (a 45 s first fold)
        cron = [str(bq.BIN / "ks-promexport"), "--db-path", str(db), "--state-file", f"{state}/listen.state",
                "--textfile-dir", state]
        try:
            added = bq._append_minute(db, newest + 60 * args.runs)
            cron_wall, cron_cpu = bq.median_cpu_ms(lambda: bq.run(cron), 1)
        finally:
            if first:
                bq._remove_rows_after(db, first)
    iw = statistics.median(w for w, _ in idle)
    isv = statistics.median(s for _, s in idle)
    w, s = statistics.median(walls), statistics.median(servers)
    print(f"scrape, no new rows:          {iw:6.1f} ms wall, {isv:6.1f} ms in the exporter")
    print(f"scrape, a minute of new rows: {w:6.1f} ms wall, {s:6.1f} ms in the exporter "
          f"({'ok' if w <= 100 else 'over'}, target 100 ms)")
    print(f"baseline: textfile cron run over the same minute: {cron_wall:.0f} ms wall ({cron_cpu:.0f} ms CPU); "
          f"scrape/cron = {w / cron_wall:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
