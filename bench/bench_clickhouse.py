"""ks-ingest into ClickHouse against ks-ingest into SQLite: rows/s, ratio.

The same mixed events as bench_ingest.py (1M; ``--quick``: 100k), from a file:

* ks-ingest --db-path (SQLite, writer process) at --batch-size 10000, the bulk-load
  setting, and at its default of 100;
* ks-ingest --clickhouse at its default (10000 rows or 1 s), into a throwaway
  clickhouse-server on loopback (tests/chserver.py) on the same machine, so the
  server's CPU competes with ks-ingest's for the two cores: its CPU seconds are
  printed beside ks-ingest's.

Every run must store every row (counted afterwards).  Prints rows/s and the ratio
ClickHouse / SQLite.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile

import bench_ingest as bi

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import chserver  # noqa: E402

from kernelsight.ingest import events as ev  # noqa: E402


def _cpu_s(pid: int) -> float:
    """utime + stime of a running process, seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ch_count(server) -> int:
    from clickhouse_driver import Client

    c = Client("127.0.0.1", port=server.tcp_port, database="bench")
    return sum(c.execute(f"SELECT count() FROM {t.table}")[0][0] for t in ev.TYPES)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if not chserver.available():
        print(f"skipped: {chserver.BINARY} is missing (apt-get install clickhouse-server)")
        return 0
    n = 100_000 if args.quick else 1_000_000
    (HERE / "out" / "ingest").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-ch-") as tmp:
        work = pathlib.Path(tmp)
        events = work / "events.ndjson"
        bi.generate(n, events)
        results = {}
        for label, flags in (("sqlite --batch-size 10000", ["--batch-size", "10000"]),
                             ("sqlite (default batch 100)", [])):
            db = work / "ks.db"
            dt, _, cpu, _ = bi.bench_ks_ingest(events, db, n, *flags)
            results[label] = (n / dt, cpu, None)
        server = chserver.Server(work / "server").start()
        try:
            before = _cpu_s(server.proc.pid)
            dt, _, cpu, _ = bi.run([str(bi.BIN / "ks-ingest"), "--clickhouse", server.url("bench"),
                                    "--spool-dir", str(work / "spool")], stdin_path=events)
            server_cpu = _cpu_s(server.proc.pid) - before
            stored = ch_count(server)
        finally:
            server.kill()
        assert stored == n, f"ClickHouse holds {stored} rows of {n}"
        results["clickhouse (default batch 10000 / 1 s)"] = (n / dt, cpu, server_cpu)
    print(f"{n:,} mixed events from a file")
    print(f"{'':42} {'rows/s':>10} {'ks-ingest CPU s':>16} {'server CPU s':>13}")
    for label, (rate, cpu, server_cpu) in results.items():
        extra = f"{server_cpu:13.1f}" if server_cpu is not None else f"{'':>13}"
        print(f"{label:42} {rate:10,.0f} {cpu:16.1f} {extra}")
    ch = results["clickhouse (default batch 10000 / 1 s)"][0]
    for label in ("sqlite --batch-size 10000", "sqlite (default batch 100)"):
        print(f"ratio clickhouse / {label}: {ch / results[label][0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
