"""Disk use per day of each tier (raw rows, per-minute and hourly rollups) on the
`make demo` workload: all seven collectors at 2 s intervals beside a small fio,
iperf3 and stress-ng load (query/demo.py).

Measured on data/demo.db (made by `make demo` when missing): rows per second per
table over its span, rollup keys per minute, and bytes per row from dbstat (the
bytes in use of the table and its indexes, free space in pages left out, so a
short demo's half-empty pages do not inflate it). Projected to a day; the hours
are taken at the minutes' bytes per row. Baseline: the raw tier, which is what a
database without retention keeps.
"""

from __future__ import annotations

import argparse
import pathlib
import sqlite3
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kernelsight.ingest import events as ev  # noqa: E402
from kernelsight.ingest import retain_size  # noqa: E402

DEMO_DB = ROOT / "data" / "demo.db"
DAY_S = 86400


def bytes_per_row(conn: sqlite3.Connection, table: str) -> float | None:
    rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return retain_size.table_bytes(conn, table, in_use=True) / rows if rows else None


def span_s(conn: sqlite3.Connection) -> float:
    """How long the demo collected: its first to last row, plus one 2 s interval (n
    samples of an interval cover n intervals).  The same for every table, so a table
    of rare events (a burst of slow page faults) is not rated over its own burst."""
    ends = [conn.execute(f"SELECT min(timestamp), max(timestamp) FROM {t.table}").fetchone() for t in ev.TYPES]
    ends = [e for e in ends if e[0] is not None]
    return (max(e[1] for e in ends) - min(e[0] for e in ends)) / 1e9 + 2.0


def per_day(conn: sqlite3.Connection) -> dict[str, dict[str, float]]:
    """{table: {tier: bytes per day}}."""
    out, seconds = {}, span_s(conn)
    for t in ev.TYPES:
        n = conn.execute(f"SELECT count(*) FROM {t.table}").fetchone()[0]
        per_row = bytes_per_row(conn, t.table)
        if not n or per_row is None:
            continue
        out[t.table] = {"raw": n / seconds * DAY_S * per_row}
        if t.rollup:
            minutes, keys = conn.execute(f"SELECT count(DISTINCT minute), count(*) FROM {t.rollup_table}").fetchone()
            per_key = bytes_per_row(conn, t.rollup_table) or 0.0
            per_minute = keys / max(minutes, 1)
            out[t.table]["1m"] = per_minute * 1440 * per_key
            out[t.table]["1h"] = per_minute * 24 * per_key
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="(no smaller variant: reads the demo database)")
    ap.parse_args()
    if not DEMO_DB.exists():
        subprocess.check_call(["make", "-C", str(ROOT), "demo"], stdout=subprocess.DEVNULL)
    conn = sqlite3.connect(f"file:{DEMO_DB}?mode=ro", uri=True)
    days = per_day(conn)
    totals = {tier: sum(d.get(tier, 0.0) for d in days.values()) for tier in ("raw", "1m", "1h")}
    for table, d in sorted(days.items(), key=lambda kv: -kv[1]["raw"]):
        tiers = "  ".join(f"{tier} {d[tier] / 1e6:7.2f}" for tier in ("raw", "1m", "1h") if tier in d)
        print(f"{table:26} MB/day: {tiers}")
    print(f"all tables, MB/day: raw {totals['raw'] / 1e6:.1f}, per-minute rollups {totals['1m'] / 1e6:.1f} "
          f"({totals['1m'] / totals['raw']:.3f}x raw), hourly {totals['1h'] / 1e6:.2f} "
          f"({totals['1h'] / totals['raw']:.4f}x raw)")
    keep = {"raw": 7, "1m": 90, "1h": 730}
    held = {tier: totals[tier] * days_kept for tier, days_kept in keep.items()}
    print("kept with --raw 7d --rollups 90d --hourly 2y: " + ", ".join(
        f"{tier} {b / 1e9:.2f} GB" for tier, b in held.items()) + f"; total {sum(held.values()) / 1e9:.1f} GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
