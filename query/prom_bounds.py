"""Histogram ``le`` bounds for ks-promexport: a fixed grid of true bucket bounds.

``le_per_octave`` bounds per power of two (2^k, and 1.25, 1.5, 1.75 x 2^k with the
default 4), each the upper bound of a bucket of kernelsight's histogram, so a count
"<= le" is exact.  Only the octaves between the smallest and the largest sample
ever stored are emitted (plus +Inf): a handful of series on a quiet link, never
more than the scheme's 28 octaves.
"""

from __future__ import annotations

import math

from ..ingest import histogram


def le_grid(h: dict[int, int], per_octave: int = 4) -> list[float]:
    """Upper bounds in us to emit for a histogram: per_octave true bucket bounds per
    power of two, over the octaves its samples span."""
    if not h:
        return []
    lo = histogram.lower(min(h))
    top = max(h)
    hi = histogram.lower(top) if top >= histogram.OVERFLOW else histogram.upper(top)
    k_lo = max(0, math.floor(math.log2(max(lo, 1.0))))
    k_hi = max(k_lo + 1, math.ceil(math.log2(max(hi, 1.0))))
    out = []
    for k in range(k_lo, k_hi + 1):
        for j in range(per_octave):
            b = (2 ** k) * (1 + j / per_octave)
            if b <= 2 ** k_hi and _is_bound(b):
                out.append(b)
    return sorted(set(out))


def _is_bound(b: float) -> bool:
    """True when b is the upper bound of some bucket (so "<= b" is exact)."""
    if b != int(b) or b < 1 or b > 2 ** histogram.MAX_BITS:
        return False
    return histogram.lower(histogram.index(int(b))) == b


def coarse_buckets(h: dict[int, int], bounds: list[float]) -> list[tuple[float, int]]:
    """[(le in us, samples <= le)] for the given bounds, then (+Inf, total)."""
    cum = histogram.cumulative(h)  # [(upper us, count <= upper)], ends with +Inf
    out, i, seen = [], 0, 0
    for b in bounds:
        while i < len(cum) and cum[i][0] <= b:
            seen = cum[i][1]
            i += 1
        out.append((b, seen))
    out.append((math.inf, histogram.total(h)))
    return out


def estimated_sum_us(h: dict[int, int]) -> float:
    """Sum of samples when the table keeps none: bucket midpoints (overflow: its floor)."""
    total = 0.0
    for i, c in h.items():
        lo, hi = histogram.lower(i), histogram.upper(i)
        total += c * (lo if math.isinf(hi) else (lo + hi) / 2)
    return total
