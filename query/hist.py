"""Histograms a person reads: bcc-style log2 blocks from ks events (ks-hist).

Which fields are histograms and what keys a row comes from are the registry's
(ingest/events.py: ``hist_columns`` and the rollup keys); the buckets are merged by
kernelsight.ingest.histogram.  A log2 row of ``lo -> hi`` is exact: every fine bucket
lies inside one power of two.  With --msecs a fine bucket counts in the row of its
lower bound (a bucket is at most 1/16 of its lower bound wide).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..ingest import histogram
from ..ingest.events import TYPES

BLOCKS = " ▏▎▍▌▋▊▉█"  # eighths, for a bar on a terminal


def _specs() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """type -> (key columns, histogram columns), for every type with a histogram."""
    out = {}
    for t in TYPES:
        if t.hist_columns:
            keys = t.rollup.keys if t.rollup else ()
            out[t.name] = (keys, t.hist_columns)
    return out


SPECS = _specs()

# Types whose events are single samples, a latency_ns each (ks-syscalls' and
# ks-pagefaults' slow or sampled events): counted one per event into the bucket of
# its latency, per these keys, as biolatency counts requests.
SAMPLES = {"syscall": ("syscall_name",), "page_fault": ("fault_type",)}


def key_of(event: dict, keys: tuple[str, ...], column: str) -> str:
    """``runqlat cpu=-1``, ``io_latency device=vda op=read``."""
    parts = [str(event.get("type"))] + [f"{k}={event.get(k)}" for k in keys
                                        if event.get(k) is not None]   # tid of a process row
    if column != "buckets":
        parts.append(f"op={column.removesuffix('_buckets')}")
    return " ".join(parts)


def spec_of(event) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(key columns, histogram columns) of an event ks-hist counts, else None; a
    single sample's one "histogram" is its latency (``buckets``, see _found)."""
    kind = event.get("type") if isinstance(event, dict) else None
    if not isinstance(kind, str):
        return None
    return SPECS.get(kind) or ((SAMPLES[kind], ("buckets",)) if kind in SAMPLES else None)


def _found(event: dict, cols: tuple[str, ...]) -> list[tuple[str, dict[int, int]]]:
    """(column, histogram) of each histogram column; ValueError/TypeError if malformed."""
    if event["type"] in SAMPLES:
        ns = event.get("latency_ns")
        if not isinstance(ns, int) or isinstance(ns, bool) or ns < 0:
            raise ValueError(f"latency_ns {ns!r}")
        return [("buckets", {histogram.index(ns // 1000): 1})]
    return [(c, histogram.decode(event.get(c))) for c in cols]


@dataclass
class Accumulator:
    """Merged buckets per key, and what was left out (counted, never silent)."""
    hists: dict[str, dict[int, int]] = field(default_factory=dict)
    skipped: int = 0      # events of a type without histograms
    malformed: int = 0    # a histogram field that is not a bucket list

    def add(self, event: dict) -> bool:
        spec = spec_of(event)
        if spec is None:
            self.skipped += 1
            return False
        keys, cols = spec
        try:
            found = _found(event, cols)
        except (ValueError, TypeError):
            self.malformed += 1
            return False
        for col, h in found:
            if h:
                k = key_of(event, keys, col)
                self.hists[k] = histogram.merge([self.hists.get(k, {}), h])
        return True

    def take(self) -> dict[str, dict[int, int]]:
        out, self.hists = self.hists, {}
        return out


def log2_rows(h: dict[int, int], scale: int = 1) -> list[tuple[int, int | float, int]]:
    """[(lo, hi, count)] per power of two from the first to the last non-empty row,
    in us (scale 1) or ms (scale 1000); hi is inclusive, inf for the overflow row."""
    rows: dict[int, int] = {}
    for i, c in h.items():
        v = int(histogram.lower(i)) // scale
        r = max(v.bit_length() - 1, 0)
        rows[r] = rows.get(r, 0) + c
    lo_r, hi_r = min(rows), max(rows)
    out = []
    for r in range(lo_r, hi_r + 1):
        lo = 0 if r == 0 else 1 << r
        hi = (1 << (r + 1)) - 1
        if scale == 1 and r == histogram.MAX_BITS:
            hi = math.inf
        out.append((lo, hi, rows.get(r, 0)))
    return out


def linear_rows(h: dict[int, int], scale: int = 1) -> list[tuple[float, float, int]]:
    """[(lo, hi, count)] (hi inclusive in us) per fine bucket from the first to the last non-empty one."""
    out = []
    for i in range(min(h), max(h) + 1):
        lo, hi = histogram.lower(i) / scale, histogram.upper(i) / scale
        if scale == 1 and not math.isinf(hi):
            hi -= 1  # whole microseconds: the last value inside, as the log2 rows show
        out.append((lo, hi, h.get(i, 0)))
    return out


def bar(count: int, peak: int, width: int, unicode: bool) -> str:
    if peak <= 0:
        return " " * width
    if not unicode:
        return ("*" * (count * width // peak)).ljust(width)
    eighths = count * width * 8 // peak
    full, part = divmod(eighths, 8)
    return ("█" * full + (BLOCKS[part] if part else "")).ljust(width)


def _num(v) -> str:
    if isinstance(v, float):
        if math.isinf(v):
            return "inf"
        return f"{v:g}" if v != int(v) else str(int(v))
    return str(v)


def block(key: str, h: dict[int, int], *, msecs=False, linear=False, width=40,
          unicode=False, colour=False) -> str:
    """One key's histogram: a title, the bcc table, then count/p50/p99/max."""
    scale, unit = (1000, "msecs") if msecs else (1, "usecs")
    rows = linear_rows(h, scale) if linear else log2_rows(h, scale)
    peak = max(c for _, _, c in rows)
    labels = [f"{_num(lo)} -> {_num(hi)}" for lo, hi, _ in rows]
    lw = max(len(unit) + 4, *(len(s) for s in labels))
    bold, reset = ("\x1b[1m", "\x1b[0m") if colour else ("", "")
    lines = [f"{bold}{key}{reset}", f"{unit:>{lw}} : count     distribution"]
    for label, (_, _, c) in zip(labels, rows):
        lines.append(f"{label:>{lw}} : {c:<9} |{bar(c, peak, width, unicode)}|")
    lines.append(summary_line(h, scale, unit))
    return "\n".join(lines) + "\n"


def summary_line(h: dict[int, int], scale: int, unit: str) -> str:
    short = unit[0] + "s"  # us or ms
    def f(v):
        return "-" if v is None else f"{v / scale:.3f}"
    return (f"count {histogram.total(h)}  p50 {f(histogram.percentile(h, 50))} {short}"
            f"  p99 {f(histogram.percentile(h, 99))} {short}"
            f"  max {f(histogram.max_value(h))} {short}")


def render(hists: dict[str, dict[int, int]], top: int | None = None, **opts) -> str:
    """Blocks, the keys with the most samples first (ties by key), at most ``top``."""
    order = sorted(hists, key=lambda k: (-histogram.total(hists[k]), k))
    if top:
        order = order[:top]
    return "\n".join(block(k, hists[k], **opts) for k in order)


def from_db(db, type_name: str, start: int, end: int, host=None, extra: str = "",
            params=()) -> dict[str, dict[int, int]]:
    """Per key, the buckets of ``type_name``'s table over [start, end) merged (whole
    minutes from the rollup, as every ks-query percentile is)."""
    acc = Accumulator()
    for row in merged_rows(db, type_name, start, end, host, extra, params):
        acc.add(row)
    return acc.take()


def merged_rows(db, type_name: str, start: int, end: int, host=None, extra: str = "",
                params=()) -> list[dict]:
    """Per key, one row shaped as the collector's events are (``type``, the key columns,
    each histogram column's buckets merged over the window), so that ks-hist reads
    ``ks-query ... --hist -f json`` back as it reads a stream; with the count and
    p50/p99/max (us) of each histogram and the key's first data timestamp."""
    from ..ingest.events import lookup
    from . import times
    from .common import interval_rows, rollup_columns

    t = lookup(type_name)
    if not db.has(t.table):
        return []
    keys, cols = SPECS[type_name]
    groups: dict[tuple, list] = {}
    for r in interval_rows(db, t.table, rollup_columns(t.table), start, end, host, extra, params):
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for key, rs in groups.items():
        row = {"type": type_name, **times.stamp(rs[0]["first_ts"]),
               **{k: v for k, v in zip(keys, key) if v is not None}}
        for c in cols:
            h = histogram.merge(r[c] for r in rs)
            prefix = c.removesuffix("buckets")
            row[c] = histogram.sparse(h)
            row.update({prefix + k: v for k, v in histogram.summary(h, (50, 99)).items()})
        if any(row[c] for c in cols):
            out.append(row)
    return out
