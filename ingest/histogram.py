"""The one latency histogram scheme of kernelsight: log2 with linear sub-buckets.

The kernel side is ``bpf/hist.bpf.h``; this module decodes, merges and reads
percentiles from what it fills.  Values are whole microseconds.

* Values below ``2**MANTISSA_BITS`` (32 us) each get their own bucket.
* Above that, every power of two is split into ``SUB = 2**(MANTISSA_BITS-1)`` (16)
  equal buckets, so a bucket is at most 1/16 (6.25 %) of its lower bound wide: any
  percentile read from it is within 6.25 % of the exact value.
* Bucket ``i`` holds values in ``[lower(i), upper(i))``.  ``upper(i)`` is a true upper
  bound: a value is never counted in a bucket whose upper bound is below it (the
  Prometheus ``le`` of bucket i is upper(i)).  A value recorded as whole
  microseconds, truncated from nanoseconds, is still below upper(i).
* Values of 2**32 us (71 minutes) and more land in the last bucket, ``OVERFLOW``,
  whose upper bound is +Inf.

On the wire (JSON events) and in SQLite a histogram is the sparse list
``[[bucket, count], ...]`` in bucket order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import orjson

MANTISSA_BITS = 5
SUB = 1 << (MANTISSA_BITS - 1)          # buckets per power of two above the exact range
EXACT = 1 << MANTISSA_BITS              # values below this have a bucket each
MAX_BITS = 32                           # values >= 2**MAX_BITS overflow
OVERFLOW = (MAX_BITS - MANTISSA_BITS + 1) * SUB + SUB  # index of the overflow bucket
NBUCKETS = OVERFLOW + 1                 # size of the kernel's bucket array

Sparse = list[list[int]]


def index(value_us: int) -> int:
    """Bucket of a value in microseconds (the same arithmetic as hist.bpf.h)."""
    v = int(value_us)
    if v < EXACT:
        return max(v, 0)
    if v >= 1 << MAX_BITS:
        return OVERFLOW
    shift = v.bit_length() - MANTISSA_BITS
    return shift * SUB + (v >> shift)


def lower(i: int) -> float:
    if i < EXACT:
        return float(i)
    if i >= OVERFLOW:
        return float(1 << MAX_BITS)
    shift, m = divmod(i, SUB)
    shift -= 1
    return float((m + SUB) << shift)


def upper(i: int) -> float:
    """Exclusive upper bound in us (+Inf for the overflow bucket)."""
    if i < EXACT:
        return float(i + 1)
    if i >= OVERFLOW:
        return math.inf
    shift, m = divmod(i, SUB)
    shift -= 1
    return float((m + SUB + 1) << shift)


def sparse(counts: Sequence[int] | Mapping[int, int]) -> Sparse:
    """Dense kernel array (or {bucket: count}) to the sparse wire form."""
    items = counts.items() if isinstance(counts, Mapping) else enumerate(counts)
    return [[int(i), int(c)] for i, c in sorted(items) if c]


class BadHistogram(ValueError):
    """A value that is not a bucket list; the message says what is wrong with it."""


def checked(value) -> Sparse:
    """``value`` (a sparse list or its JSON text) as a sparse list, or BadHistogram:
    every entry a pair of whole numbers, the bucket in [0, NBUCKETS), the count >= 0.
    ks-ingest stores nothing else, so every reader can merge what it finds."""
    if isinstance(value, (str, bytes)):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise BadHistogram("not JSON") from None
    if type(value) is not list:
        raise BadHistogram(f"not a list of [bucket, count] pairs: {_excerpt(value)}")
    try:   # the per-line cost of every histogram ks-ingest stores: one tight loop
        for i, c in value:
            if not (type(i) is int is type(c) and 0 <= i < NBUCKETS and c >= 0):
                break
        else:
            return value
    except (TypeError, ValueError):
        pass
    raise BadHistogram(_what_is_wrong(value))


def _what_is_wrong(value: list) -> str:
    for e in value:
        if type(e) is not list or len(e) != 2 or type(e[0]) is not int or type(e[1]) is not int:
            return f"entry {_excerpt(e)} is not a [bucket, count] pair of integers"
        if not 0 <= e[0] < NBUCKETS:
            return f"bucket {e[0]} is outside 0..{NBUCKETS - 1}"
        if e[1] < 0:
            return f"bucket {e[0]} has a negative count ({e[1]})"
    return "not a list of [bucket, count] pairs"


def _excerpt(value, limit: int = 40) -> str:
    text = value if isinstance(value, str) else orjson.dumps(
        value, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


class Skipped:
    """Stored values that merge() left out because they are not bucket lists (a row
    written by hand or by an old version): counted, with the first one, so a reader
    can say so instead of crashing or hiding it."""

    def __init__(self):
        self.count = 0
        self.first: str | None = None
        self.why: str | None = None

    def note(self, value, why: Exception) -> None:
        self.count += 1
        if self.first is None:
            self.first, self.why = _excerpt(value), str(why)

    def message(self) -> str | None:
        if not self.count:
            return None
        # a command may read one row twice (a gauge and a histogram): readings, not rows
        return (f"left out {self.count} reading(s) of stored histogram values that are not "
                f"bucket lists (first: {self.first}: {self.why})")


SKIPPED = Skipped()   # one per process: ks-query and ks-promexport say it when they end


def decode(value) -> dict[int, int]:
    """Sparse list, its JSON text, or None to {bucket: count}; raises BadHistogram."""
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        return {int(k): int(c) for k, c in value.items() if c}
    out: dict[int, int] = {}
    for i, c in checked(value):  # a rollup's list may repeat a bucket: summed
        if c:
            out[i] = out.get(i, 0) + c
    return out


def encode(h: Mapping[int, int]) -> str:
    return orjson.dumps(sparse(h)).decode()


def merge(hists: Iterable, skipped: Skipped | None = SKIPPED) -> dict[int, int]:
    """Sum any number of histograms (sparse lists, JSON text or dicts).

    A value that is not a bucket list is left out whole and noted in ``skipped``.
    The hot path of every merged-window query: buckets are summed into one dense
    array rather than a dict per row (about 3x faster on an hour of rows).
    """
    acc = [0] * NBUCKETS
    for h in hists:
        if not h:
            continue
        try:
            _add(acc, h)
        except (ValueError, TypeError) as e:   # orjson's JSONDecodeError is a ValueError
            if skipped is not None:
                skipped.note(h, e)
    return {i: c for i, c in enumerate(acc) if c}


def _add(acc: list[int], h) -> None:
    """Add one histogram's counts to ``acc``; on a bad entry take back what was added
    and raise, so a bad value counts for nothing."""
    pairs = orjson.loads(h) if isinstance(h, (str, bytes)) else h
    if isinstance(pairs, Mapping):   # {bucket: count}, as decode() gives (JSON keys are text)
        pairs = [(int(k), c) for k, c in pairs.items()]
    if not isinstance(pairs, list):
        raise BadHistogram("not a list of [bucket, count] pairs")
    n = 0
    try:
        for i, c in pairs:
            if type(i) is not int or type(c) is not int or not 0 <= i < NBUCKETS or c < 0:
                raise BadHistogram(f"entry {_excerpt([i, c])} is not a bucket and a count")
            acc[i] += c
            n += 1
    except BaseException:
        for i, c in list(pairs)[:n]:
            acc[i] -= c
        raise


def total(h: Mapping[int, int]) -> int:
    return sum(h.values())


def percentile(h: Mapping[int, int], q: float) -> float | None:
    """The q-th percentile (0-100) in us, interpolated linearly inside its bucket.

    None for an empty histogram.  The overflow bucket answers with its lower bound.
    """
    n = total(h)
    if n == 0:
        return None
    rank = max(q / 100.0 * n, 1e-9)
    seen = 0
    for i in sorted(h):
        c = h[i]
        if seen + c >= rank:
            lo, hi = lower(i), upper(i)
            if math.isinf(hi):
                return lo
            return lo + (hi - lo) * (rank - seen) / c
        seen += c
    return upper(max(h))


def max_value(h: Mapping[int, int]) -> float | None:
    """Upper bound of the highest non-empty bucket (a value no sample exceeded)."""
    if not h:
        return None
    top = max(i for i, c in h.items() if c)
    return lower(top) if top >= OVERFLOW else upper(top)


def summary(h: Mapping[int, int], quantiles=(50, 90, 95, 99)) -> dict[str, float | int | None]:
    """count, pNN_us and max_us of a histogram, ready to put into an event."""
    out: dict[str, float | int | None] = {"count": total(h)}
    for q in quantiles:
        p = percentile(h, q)
        out[f"p{q}_us"] = None if p is None else round(p, 3)
    out["max_us"] = max_value(h)
    return out


def cumulative(h: Mapping[int, int]) -> list[tuple[float, int]]:
    """[(upper bound in us, count of samples <= it)], ending with (+Inf, total)."""
    out, seen = [], 0
    for i in sorted(h):
        seen += h[i]
        out.append((upper(i), seen))
    if not out or not math.isinf(out[-1][0]):
        out.append((math.inf, seen))
    return out
