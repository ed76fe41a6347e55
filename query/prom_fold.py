"""ks-promexport's incremental fold: the rows added since the last run, into the totals.

Each table of ``HISTOGRAMS`` and ``COUNTERS`` (prom_spec.py) is read once, in id
order from the last row seen, and its histograms and counts are added to the
running totals of the state (prom_state.py).  Labels with open-ended values (node,
syscall) are bounded: the ``top`` busiest get their own series (prom_rank.py, which
also says why no counter goes backwards); everything else is summed under "other".
"""

from __future__ import annotations

import json

from ..ingest import events as ev
from ..ingest import histogram
from .db import Database, host_only
from .prom_bounds import estimated_sum_us
from .prom_rank import rank_table
from .prom_spec import COUNTERS, HISTOGRAMS, OTHER, unit_of
from .prom_state import State, TableState

FOLD_EVERY = 5000   # rows between two merges of the pending histograms


def update(db: Database, state: State, *, top: int = 10, host: str | None = None) -> None:
    """Fold every row added since the last run into the totals."""
    tables = {s.table for s in HISTOGRAMS} | {s.table for s in COUNTERS}
    for table in sorted(tables):
        if db.has(table) and _update_table(db, state, table, top, host):
            state.save()  # a long first run keeps what it has done so far


def _update_table(db: Database, state: State, table: str, top: int, host: str | None) -> bool:
    """Fold the table's new rows in; True when there were any."""
    st = state.table(db, table)
    hists = [s for s in HISTOGRAMS if s.table == table]
    counters = [s for s in COUNTERS if s.table == table]
    cols = sorted({"id", "timestamp", "host"}.union(*(s.columns() for s in hists + counters)))
    # per histogram: bucket label -> (sum column, mul, div), the factor from its unit to us
    sums = [{op: (col, *ev.factor(unit_of(table, col), "us")) for op, col in s.sums.items()} for s in hists]
    hc, hp = host_only(host)
    rank_table(db, st, table, top, host)
    # Streamed: a first run folds in every row the table has ever stored.
    cur = db.conn.execute(f"SELECT {', '.join(cols)} FROM {table} WHERE id > ? AND {hc} ORDER BY id",
                          [st.last_id] + hp)
    last = None
    pending: dict = {}     # key -> stored histograms (JSON) not merged yet
    estimate: dict = {}    # key -> those of them whose row has no latency sum
    keys: dict = {}        # label tuple -> state key (json.dumps once per series)
    for n, r in enumerate(cur, 1):
        last = r
        for s, sum_of in zip(hists, sums):
            if s.only and r[s.only[0]] != s.only[1]:
                continue
            base = (s.name, r["host"], *[_bounded(st, c, r[c]) if c in s.bounded else r[c] for c in s.labels])
            for op, col in s.buckets.items():
                if not r[col] or r[col] == "[]":
                    continue
                t = base + ((op,) if op else ())
                key = keys.get(t) or keys.setdefault(t, json.dumps(list(t)))
                pending.setdefault(key, []).append(r[col])
                sum_col = sum_of.get(op)
                if sum_col and r[sum_col[0]] is not None:
                    acc = st.hists.setdefault(key, {"h": {}, "sum": 0.0})
                    acc["sum"] += r[sum_col[0]] * sum_col[1] / sum_col[2]
                else:
                    estimate.setdefault(key, []).append(r[col])
        for s in counters:
            value = 1 if not s.column else (r[s.column] or 0)
            if not (value or (s.zeros and r[s.column] is not None)) or not s.counts(r):
                continue
            label = _bounded(st, s.label, r[s.label]) if s.label else None
            t = (s.name, r["host"], label, *[r[c] for c, _ in s.also], *[v for _, v in s.extra])
            key = keys.get(t) or keys.setdefault(t, json.dumps(list(t)))
            st.counts[key] = st.counts.get(key, 0) + value
        if n % FOLD_EVERY == 0:
            _fold(st, pending, estimate)
    _fold(st, pending, estimate)
    if last is not None:
        st.last_id, st.last_ts = last["id"], last["timestamp"]
    return last is not None


def _fold(st: TableState, pending: dict, estimate: dict) -> None:
    """Merge the stored histograms read so far into the totals (one merge per series)."""
    for key, hs in pending.items():
        acc = st.hists.setdefault(key, {"h": {}, "sum": 0.0})
        acc["h"] = histogram.merge([acc["h"], *hs])
    for key, hs in estimate.items():
        # the same values were merged (and any bad one noted) just above
        st.hists[key]["sum"] += estimated_sum_us(histogram.merge(hs, skipped=None))
    pending.clear()
    estimate.clear()


def _bounded(st: TableState, col: str, value):
    return value if value in st.named.get(col, ()) else OTHER
