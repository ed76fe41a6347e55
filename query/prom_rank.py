"""Which values of an open-ended label (node, syscall, interface, device) get a
series of their own in ks-promexport, the rest being summed under "other".

Values are ranked by what they measure (calls, segments, bytes; prom_spec.RANKS),
over the recent data: each row counts with a weight that halves every
``HALF_LIFE_NS`` of data time before the table's newest row, so a value that
becomes busy late rises to the top, and one that went quiet makes room.  A value
that holds a series keeps it until another outscores it by ``HOLD``, so two
near-equal values do not swap series every run.

No counter goes backwards when the set changes: a promoted value's series starts
with the rows of the run that promoted it (its earlier rows stay in "other",
which only ever adds), and a demoted value's series is no longer written (its
total stays in the state file, so if it comes back it carries on from there).
"""

from __future__ import annotations

from typing import NamedTuple

from .db import Database, host_only
from .prom_spec import RANKS, Rank
from .prom_state import TableState

NS = 1_000_000_000
HALF_LIFE_NS = 3600 * NS
WINDOW_NS = 6 * HALF_LIFE_NS      # older rows weigh under 1/64: left out
BUCKET_NS = 600 * NS              # rows are weighed in 10-minute steps
HOLD = 1.25


def rank_table(db: Database, st: TableState, table: str, top: int, host: str | None) -> None:
    """Choose, for each ranked label of ``table``, the values with a series of their own."""
    for r in RANKS:
        if r.table == table:
            st.named[r.column] = choose(st.named.get(r.column, []), scores(db, st, r, host), top)


def scores(db: Database, st: TableState, r: Rank, host: str | None) -> dict:
    """value -> its measured quantity over the recent data, decayed by age."""
    source, time, quantity = (r.source, r.time, r.quantity) if db.has(r.source) else (r.table, "timestamp", "1")
    hc, hp = host_only(host)
    newest = db.one(f"SELECT max({time}) FROM {source} WHERE {hc}", hp)[0]
    if newest is None:
        return {}
    window = _Window(source, time, quantity, r.column, hc, hp)
    if source == r.table:
        steps = _raw_steps(db, st.recent.setdefault(r.column, {"id": 0, "steps": []}), newest, window)
    else:  # a rollup's newest minute changes in place: read its window again (it is small)
        steps = _steps(db, window, f"{time} >= ?", [newest - WINDOW_NS])
    out: dict = {}
    for step, value, q in steps:
        # a value with nothing measured lately still ranks (last, by name) when there is room
        age = newest // BUCKET_NS - step
        out[value] = out.get(value, 0.0) + max(q, 0.0) * 0.5 ** (age * BUCKET_NS / HALF_LIFE_NS)
    return out


class _Window(NamedTuple):
    """What is summed per 10-minute step and value, from which rows."""
    source: str
    time: str
    quantity: str
    column: str
    host_clause: str
    host_params: list


def _steps(db: Database, w: _Window, where: str, params: list) -> list:
    """[10-minute step, value, quantity] of the rows ``where`` says."""
    return [list(r) for r in db.conn.execute(
        f"""SELECT {w.time} / {BUCKET_NS}, {w.column}, total({w.quantity}) FROM {w.source}
            WHERE {w.host_clause} AND {w.column} IS NOT NULL AND {where} GROUP BY 1, 2""",
        w.host_params + params)]


def _raw_steps(db: Database, kept: dict, newest: int, window: _Window) -> list:
    """The steps of a raw table, read incrementally: raw rows only ever arrive, so each
    run adds the rows after the last one it read to the sums kept in the state (a
    scrape must not re-read six hours of syscall events; bench_promserve)."""
    hi = db.one(f"SELECT max(id) FROM {window.source}")[0] or 0
    where, params = "id > ? AND id <= ?", [kept["id"], hi]
    if not kept["id"]:   # the first run: the window only, not all history
        where, params = where + f" AND {window.time} >= ?", params + [newest - WINDOW_NS]
    sums = {(step, value): q for step, value, q in kept["steps"]}
    for step, value, q in _steps(db, window, where, params):
        sums[step, value] = sums.get((step, value), 0.0) + q
    oldest = (newest - WINDOW_NS) // BUCKET_NS
    kept["id"] = hi
    kept["steps"] = [[step, value, q] for (step, value), q in sums.items() if step >= oldest]
    return kept["steps"]


def choose(named: list, scores: dict, top: int) -> list:
    """The ``top`` best scores, those already named counting ``HOLD`` times theirs;
    an exact tie goes by name, so the choice is the same on every run."""
    def held(v):
        return scores.get(v, 0.0) * (HOLD if v in named else 1.0)

    ranked = sorted(set(scores) | set(named), key=lambda v: (-held(v), str(v)))
    return ranked[:top]


def shown(st: TableState | None, column: str, value) -> bool:
    """Whether a folded series of this label value is written this run."""
    return st is None or value in st.named.get(column, ()) or value == "other"
