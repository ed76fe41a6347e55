"""Timestamps in s, ms, us or ns since boot, told apart by size (issue 17 item 3)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from conftest import ks, rows
from kernelsight.ingest.parse import FUTURE_SKEW_NS
from kernelsight.ingest.timestamps import SINCE_BOOT, Ambiguous, UnitGuesser

# Recorded values: "now" of a run on 2026-12-03, and what tools printed then.
NOW = 1_796_306_098_123_456_789
EPOCH_S, EPOCH_MS, EPOCH_US = 1_796_306_098, 1_796_306_098_123, 1_796_306_098_123_456
SYSCALL_TRACER = 1_049_268_204_060      # tests/fixtures/kernelsight-v1/syscall_tracer.ndjson: ns since boot
MIN, DAY = 60 * 10**9, 86400 * 10**9


def guesser(uptime_ns: int) -> UnitGuesser:
    return UnitGuesser(NOW - uptime_ns, FUTURE_SKEW_NS)


@pytest.mark.parametrize("uptime", [10 * MIN, 2 * DAY])
def test_epoch_seconds_and_since_boot_ns_are_told_apart(uptime):
    g = guesser(uptime)
    assert g.to_epoch_ns(EPOCH_S, NOW) == ("s", EPOCH_S * 10**9)
    if uptime > SYSCALL_TRACER:
        assert g.to_epoch_ns(SYSCALL_TRACER, NOW) == (SINCE_BOOT, NOW - uptime + SYSCALL_TRACER)


def test_milliseconds_are_plain_on_a_young_boot_and_ambiguous_on_an_old_one():
    assert guesser(10 * MIN).to_epoch_ns(EPOCH_MS, NOW) == ("ms", EPOCH_MS * 10**6)
    with pytest.raises(Ambiguous, match="epoch ms"):
        guesser(2 * DAY).to_epoch_ns(EPOCH_MS, NOW)


def test_microseconds_until_the_boot_is_three_weeks_old():
    assert guesser(2 * DAY).to_epoch_ns(EPOCH_US, NOW) == ("us", EPOCH_US * 1000)
    with pytest.raises(Ambiguous, match="epoch us"):
        guesser(30 * DAY).to_epoch_ns(EPOCH_US, NOW)


def test_an_ambiguous_value_takes_the_unit_its_source_has_shown():
    g = guesser(30 * DAY)
    g.source = "a.ndjson"
    g.converted[("a.ndjson", "us")] = 1                  # the source has shown microseconds
    assert g.to_epoch_ns(EPOCH_US, NOW) == ("us", EPOCH_US * 1000)
    g.source = "b.ndjson"                                 # another source has not
    with pytest.raises(Ambiguous):
        g.to_epoch_ns(EPOCH_US, NOW)
    assert g.converted == {("a.ndjson", "us"): 2}


def test_a_value_that_fits_nothing_stays_since_boot():
    # an earlier boot's ns (longer than this uptime), too large for epoch seconds
    # and too small for milliseconds: as before, since boot (then said as future)
    g = guesser(10 * MIN)
    assert g.to_epoch_ns(20 * MIN, NOW) == (SINCE_BOOT, NOW - 10 * MIN + 20 * MIN)


def test_ks_ingest_converts_says_once_per_source_and_counts(tmp_path, db_path):
    import time

    now_s = time.time_ns() // 10**9
    src = tmp_path / "mixed.ndjson"
    lines = [{"type": "load", "timestamp": now_s - i, "load_1min": 1, "last_pid": i} for i in range(3)]
    lines += [{"type": "load", "timestamp": (now_s - 10) * 10**6, "load_1min": 1, "last_pid": 10}]
    src.write_text("".join(json.dumps(x) + "\n" for x in lines))
    p = subprocess.run([ks("ks-ingest"), "--db-path", str(db_path), str(src)], capture_output=True,
                       timeout=60)
    err = p.stderr.decode()
    assert p.returncode == 0, err
    got = {r[0]: r[1] for r in rows(db_path, "SELECT last_pid, timestamp FROM load_metrics")}
    assert got == {0: now_s * 10**9, 1: (now_s - 1) * 10**9, 2: (now_s - 2) * 10**9,
                   10: (now_s - 10) * 10**9}
    assert err.count("timestamps in epoch s ") == 1 and err.count("timestamps in epoch us ") == 1
    assert f"{src}: timestamps in epoch s" in err
    assert re.search(r"4 timestamps converted \(3 from s, 1 from us\)", err), err
