"""`ks-query tables --tiers`: per table and downsampling tier (ingest/events.py TIERS),
the rows it holds, the time they span, the space they take and the retention that
ks-retain last applied to it (ingest/tiers.py records it)."""

from __future__ import annotations

import sqlite3

from ..ingest import events as ev
from ..ingest import retain_size, tiers
from . import times
from .common import NS, r3


def query_tiers(db) -> list[dict]:
    """One row per table and tier, raw first, then each tier of its rollup."""
    out = []
    for t in ev.TYPES:
        if not db.has(t.table):
            continue
        kept = tiers.recorded(db.conn, t.table)
        out.append(_tier_row(db, t.table, "raw", t.table, "timestamp", kept.get(tiers.RAW)))
        for tier in ev.TIERS if t.rollup else ():
            name = t.tier_table(tier)
            if db.has(name):
                out.append(_tier_row(db, t.table, tier.suffix[1:], name, tier.time, kept.get(tier.suffix)))
    return out


def _tier_row(db, table: str, tier: str, name: str, time_col: str, kept) -> dict:
    n, first, last = db.one(f"SELECT count(*), min({time_col}), max({time_col}) FROM {name}")
    try:
        size = retain_size.table_bytes(db.conn, name)
    except sqlite3.OperationalError:   # SQLite built without dbstat
        size = None
    return {"table": table, "tier": tier, "rows": n,
            "span": times.span((last - first) / NS) if n else None,
            "MB": None if size is None else r3(size / 1e6),
            "keep": kept[0] if kept else "unknown"}
