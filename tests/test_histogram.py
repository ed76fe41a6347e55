"""The one histogram scheme: true upper bounds, <= 6.25 % percentile error, exact merges."""

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from kernelsight.ingest import histogram as h


@given(st.integers(min_value=0, max_value=(1 << 40)))
def test_a_value_lies_inside_its_bucket(v):
    i = h.index(v)
    assert h.lower(i) <= v < h.upper(i)  # never in a bucket whose upper bound is below it
    assert 0 <= i < h.NBUCKETS


def test_buckets_tile_the_line_without_gaps():
    for i in range(h.OVERFLOW):
        assert h.upper(i) == h.lower(i + 1)
        assert h.index(int(h.lower(i))) == i
    assert math.isinf(h.upper(h.OVERFLOW))


def test_bucket_width_is_at_most_a_sixteenth_of_its_lower_bound():
    for i in range(h.EXACT, h.OVERFLOW):
        assert (h.upper(i) - h.lower(i)) / h.lower(i) <= 1 / 16


@settings(max_examples=50)
@given(st.lists(st.integers(min_value=1, max_value=10_000_000), min_size=1, max_size=2000),
       st.sampled_from([50, 90, 95, 99]))
def test_percentiles_are_within_the_schemes_error_of_the_exact_value(values, q):
    hist = {}
    for v in values:
        hist[h.index(v)] = hist.get(h.index(v), 0) + 1
    exact = sorted(values)[max(0, math.ceil(q / 100 * len(values)) - 1)]
    got = h.percentile(hist, q)
    # The estimate lies in the exact value's bucket, so it is off by at most one bucket width.
    assert abs(got - exact) <= max(1.0, exact / 16), (got, exact)


def test_merge_of_windows_equals_histogram_of_all_values():
    rnd = random.Random(7)
    windows = [[rnd.lognormvariate(5, 1.5) for _ in range(500)] for _ in range(6)]
    parts = [h.sparse(_dense(w)) for w in windows]
    merged = h.merge([h.encode(h.decode(p)) for p in parts])
    assert merged == h.decode(h.sparse(_dense([v for w in windows for v in w])))


def test_summary_of_an_empty_histogram_is_none_not_zero():
    s = h.summary({})
    assert s["count"] == 0 and s["p99_us"] is None and s["max_us"] is None


def test_cumulative_ends_with_inf_and_total():
    cum = h.cumulative({3: 2, 40: 5})
    assert cum[-1] == (math.inf, 7)
    assert [c for _, c in cum] == sorted(c for _, c in cum)


def _dense(values):
    counts = [0] * h.NBUCKETS
    for v in values:
        counts[h.index(int(v))] += 1
    return counts


def test_merge_takes_lists_json_and_dicts_alike():
    assert h.merge([[[3, 2], [40, 1]], "[[3,1]]", {40: 2, "5": 1}, None, ""]) == {3: 3, 5: 1, 40: 3}
