"""ks-retain on the 10M-row bench database (``--quick``: 1M), built and cached by
bench_query.py; each run works on a fresh copy of it.

Measured:
* rows dropped per second by ``ks-retain --raw`` (the older half of the rows goes), and
  with ``--archive``; baseline: one plain DELETE per table in one transaction with the
  rollups' delete triggers dropped (SQLite's own floor: no batches, nothing for a live
  writer to get in between);
* a live ks-ingest's throughput (lines/s, young rows into the same file) while ks-retain
  runs, as a ratio to the same ingest with no retention beside it;
* what incremental auto-vacuum (set on every new file) costs ks-ingest: lines/s into a
  new file against one made without it.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import orjson

import bench_query as bq
from kernelsight.ingest import events as ev
from kernelsight.ingest import schema
from kernelsight.query import synthetic

NS = 1_000_000_000
RUNS = 3


def _rows(db) -> int:
    with sqlite3.connect(db) as c:
        return sum(c.execute(f"SELECT count(*) FROM {t.table}").fetchone()[0] for t in ev.TYPES)


def _fresh(src: pathlib.Path, dst: pathlib.Path) -> pathlib.Path:
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{dst}{suffix}"):
            os.unlink(f"{dst}{suffix}")
    shutil.copyfile(src, dst)
    return dst


def _half_age(db) -> tuple[str, int]:
    """--raw that drops the older half of the rows, and that cutoff in ns."""
    with sqlite3.connect(db) as c:
        lo, hi = c.execute("SELECT min(timestamp), max(timestamp) FROM rtt_stats").fetchone()
    cutoff = (lo + hi) // 2
    return f"{(time.time_ns() - cutoff) // NS}s", cutoff


def plain_delete(db, cutoff: int) -> tuple[int, float]:
    conn = sqlite3.connect(db, isolation_level=None)
    t0 = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    n = 0
    for t in ev.TYPES:
        if t.rollup:
            conn.execute(f"DROP TRIGGER IF EXISTS trg_{t.rollup_table}_delete")
        n += conn.execute(f"DELETE FROM {t.table} WHERE timestamp < ?", (cutoff,)).rowcount
    conn.execute("COMMIT")
    took = time.perf_counter() - t0
    conn.close()
    return n, took


def ks_retain(db, age: str, *extra: str) -> tuple[int, float, subprocess.CompletedProcess]:
    before = _rows(db)
    t0 = time.perf_counter()
    p = subprocess.run([str(bq.BIN / "ks-retain"), "--db-path", str(db), "--raw", age, *extra],
                       capture_output=True, text=True)
    took = time.perf_counter() - t0
    if p.returncode:
        sys.exit(f"ks-retain failed: {p.stderr}")
    return before - _rows(db), took, p


def _ingest(db, lines: pathlib.Path) -> float:
    """ks-ingest of the file into db: lines per second."""
    n = sum(1 for _ in open(lines, "rb"))
    t0 = time.perf_counter()
    subprocess.run([str(bq.BIN / "ks-ingest"), "--db-path", str(db), str(lines)], check=True, capture_output=True)
    return n / (time.perf_counter() - t0)


def live_writer(src, work: pathlib.Path, seconds: int) -> None:
    lines = work / "live.ndjson"
    events = synthetic.scenario(time.time_ns() // NS * NS, seconds, host="live").events
    lines.write_bytes(b"".join(orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE) for e in events))
    alone = statistics.median(_ingest(_fresh(src, work / "alone.db"), lines) for _ in range(RUNS))
    print(f"live ks-ingest of {len(events):,} young lines (a whole process each, median of {RUNS}), "
          f"alone: {alone:,.0f} lines/s")
    for label, extra in (("beside ks-retain --raw", ()), ("beside ks-retain --raw --archive", ("--archive",))):
        rates, overlapped = [], True
        for i in range(RUNS):
            db = _fresh(src, work / "during.db")
            age, _ = _half_age(db)
            archive = [str(work / f"b{i}.db")] if extra else []
            retain = subprocess.Popen([str(bq.BIN / "ks-retain"), "--db-path", str(db), "--raw", age, *extra, *archive],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(0.5)          # past its start-up: deleting
                rates.append(_ingest(db, lines))
                overlapped = overlapped and retain.poll() is None
            finally:
                retain.wait()
        during = statistics.median(rates)
        print(f"  {label:<34}{during:>8,.0f} lines/s: {during / alone:.2f}x alone"
              + ("" if overlapped else "  (ks-retain ended first in a run: the ratio understates the cost)"))


def auto_vacuum_cost(work: pathlib.Path, seconds: int) -> None:
    """ks-ingest into a new file (incremental auto-vacuum, as ks-ingest creates it) against
    a file made without it (the schema alone, as before): the price of giving space back."""
    lines = work / "cost.ndjson"
    events = synthetic.scenario(time.time_ns() // NS * NS - 3600 * NS, seconds, host="cost").events
    lines.write_bytes(b"".join(orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE) for e in events))

    def new_file(incremental: bool) -> pathlib.Path:
        db = work / "cost.db"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(f"{db}{suffix}"):
                os.unlink(f"{db}{suffix}")
        if not incremental:
            with sqlite3.connect(db) as c:
                c.execute("PRAGMA journal_mode=WAL")
                c.executescript(schema.ddl())
        return db

    rates = {True: [], False: []}
    for _ in range(RUNS):
        for incremental in rates:
            rates[incremental].append(_ingest(new_file(incremental), lines))
    on, off = statistics.median(rates[True]), statistics.median(rates[False])
    print(f"ks-ingest of {len(events):,} lines into a new file: {on:,.0f} lines/s with incremental auto-vacuum, "
          f"{off:,.0f} without (baseline): {on / off:.2f}x")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1M rows instead of 10M")
    args = ap.parse_args()
    src, _ = bq.bench_database(args.quick)
    with tempfile.TemporaryDirectory(dir=bq.OUT) as tmp:
        work = pathlib.Path(tmp)
        db = _fresh(src, work / "ks.db")
        age, cutoff = _half_age(db)
        print(f"database: {src.name}, {_rows(db):,} rows, {db.stat().st_size / 1e9:.2f} GB; "
              f"the older half goes (--raw {age})")
        n, took = plain_delete(db, cutoff)
        base = n / took
        print(f"baseline: one DELETE per table, one transaction, triggers dropped: {n:,} rows in {took:.1f} s, "
              f"{base:,.0f} rows/s")
        for label, extra in (("ks-retain --raw", ()), ("ks-retain --raw --archive", ("--archive", str(work / "a.db")))):
            db = _fresh(src, work / "ks.db")
            if os.path.exists(work / "a.db"):
                os.unlink(work / "a.db")
            n, took, p = ks_retain(db, age, *extra)
            shrink = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ""
            print(f"{label:<28}{n:>12,} rows in {took:6.1f} s: {n / took:>10,.0f} rows/s, "
                  f"{n / took / base:.2f}x baseline  [{shrink.removeprefix('ks-retain: ')}]")
        live_writer(src, work, 300 if args.quick else 1200)
        auto_vacuum_cost(work, 900 if args.quick else 1800)
    return 0


if __name__ == "__main__":
    sys.exit(main())
