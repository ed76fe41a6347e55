"""Downsampling tiers (ingest/tiers.py, events.TIERS): hours built from the minutes,
each tier's retention (ks-retain --rollups / --hourly), and queries that stitch raw
rows, minutes and hours (query/common.py window_source)."""

from __future__ import annotations

import sqlite3
import subprocess
import time

import orjson
import pytest

from kernelsight.ingest import events as ev
from kernelsight.ingest import histogram, schema, tiers
from kernelsight.query import synthetic

NS = 1_000_000_000
H, M = ev.HOUR_NS, ev.ROLLUP_NS
ROLLED = [t for t in ev.TYPES if t.rollup]
SPACING = 600   # one synthetic second becomes ten minutes: two weeks in 2000 samples
# The rollup-backed commands, with what identifies a row of their answer.
COMMANDS = {"io": ("host", "device"), "rtt": ("host", "node"), "runqlat": ("host", "cpu"),
            "syscall-stats": ("host", "syscall"), "block": ("host", "device"),
            "network": ("host", "interface"), "retransmits": ("host",), "pagefaults": ("host", "pid")}


def _exe(name: str) -> str:
    return synthetic.ingest_command().replace("ks-ingest", name)


def _weeks_db(tmp_path, samples: int = 2000):
    """Two weeks of every table, one sample per ten minutes, ending an hour ago."""
    end = time.time_ns() // H * H - H
    start = end - samples * SPACING * NS
    events = synthetic.scenario(start, samples).events
    for e in events:
        e["timestamp"] = start + (e["timestamp"] - start) * SPACING
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "ks.db"
    assert synthetic.write_events(path, events) == "ks-ingest"
    return path, start


def _query(path, command: str, *args: str) -> dict:
    p = subprocess.run([_exe("ks-query"), command, "--db-path", str(path), "--format", "json", *args],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    rows = [orjson.loads(line) for line in p.stdout.splitlines()]
    return {tuple(r.get(k) for k in COMMANDS[command]): r for r in rows}


def _retain(path, *args: str) -> subprocess.CompletedProcess:
    p = subprocess.run([_exe("ks-retain"), "--db-path", str(path), *args], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return p


def _count(path, table: str, where: str = "true", args=()) -> int:
    with sqlite3.connect(path) as c:
        return c.execute(f"SELECT count(*) FROM {table} WHERE {where}", args).fetchone()[0]


def _close(a, b) -> bool:
    """Equal, or (percentiles) within the histogram's relative error."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= abs(a) / histogram.SUB + 1e-9
    return a == b


def test_answers_after_raw_and_minutes_went(tmp_path):
    """`--since 30d` over raw rows, then over minutes + raw, then hours + minutes +
    raw: every rollup-backed command answers the same."""
    path, start = _weeks_db(tmp_path)
    before = {c: _query(path, c, "--since", "30d") for c in COMMANDS}
    assert all(before.values())
    _retain(path, "--raw", "3d", "--rollups", "7d", "--hourly", "2y")
    now = time.time_ns()
    assert _count(path, "io_latency_stats", "timestamp < ?", (now - 3 * 86400 * NS,)) == 0
    assert _count(path, "io_latency_stats_1m", "minute < ?", (now - 7 * 86400 * NS - H,)) == 0
    assert _count(path, "io_latency_stats_1h", "hour < ?", (now - 7 * 86400 * NS,)) > 100
    for command, rows in before.items():
        after = _query(path, command, "--since", "30d")
        assert after.keys() == rows.keys(), command
        for key, row in rows.items():
            diff = {f: (v, after[key].get(f)) for f, v in row.items()
                    if f != "time" and not _close(v, after[key].get(f))}   # time: the window start
            assert not diff, (command, key, diff)


def _assert_hours_match_raw(path) -> None:
    """Every hour holds what its raw rows held: rows, sums, buckets, counter increases
    (the raw rows are the independent source; the hours came from the minutes)."""
    c = sqlite3.connect(path)
    hours = c.execute("SELECT device, hour, rows, read_count, read_buckets FROM io_latency_stats_1h").fetchall()
    assert len(hours) > 40
    for dev, hour, rows, reads, buckets in hours:
        span = (dev, hour, hour + H)
        raw = c.execute("SELECT count(*), sum(read_count) FROM io_latency_stats WHERE device = ? "
                        "AND timestamp >= ? AND timestamp < ?", span).fetchone()
        assert (rows, reads) == raw
        lists = [b for (b,) in c.execute("SELECT read_buckets FROM io_latency_stats WHERE device = ? "
                                         "AND timestamp >= ? AND timestamp < ?", span)]
        assert histogram.merge(lists) == histogram.merge([buckets])
    for hour, inc, last in c.execute("SELECT hour, read_ios_inc, read_ios_last FROM block_stats_1h"):
        vals = [v for (v,) in c.execute("SELECT read_ios FROM block_stats WHERE timestamp >= ? "
                                        "AND timestamp < ? ORDER BY timestamp", (hour, hour + H))]
        steps = [b - a if b >= a else b for a, b in zip(vals, vals[1:])]   # a reset restarts at 0
        assert (inc, last) == (sum(steps), vals[-1])
    c.close()


def _as_version_5(path) -> None:
    """The file as kernelsight's schema version 5 left it: no hours, no retention_state."""
    c = sqlite3.connect(path)
    for t in ROLLED:
        c.execute(f"DROP TABLE {t.tier_table(ev.HOURS)}")
    c.execute("DROP TABLE retention_state")
    c.execute("DELETE FROM schema_version")
    c.execute("INSERT INTO schema_version VALUES (5, 0)")
    c.commit()
    c.close()


def test_a_version_5_file_gets_its_hours_on_upgrade(tmp_path):
    path, _ = _weeks_db(tmp_path, samples=300)
    _as_version_5(path)
    p = subprocess.run([synthetic.ingest_command(), "--init-only", "--db-path", str(path)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "per hour into io_latency_stats_1h (once, on upgrade)" in p.stderr
    with sqlite3.connect(path) as c:
        assert c.execute("SELECT max(version) FROM schema_version").fetchone()[0] == ev.SCHEMA_VERSION
    _assert_hours_match_raw(path)


def test_a_late_minute_is_added_into_its_hour(tmp_path):
    """A row that comes in after its hour's minutes went (a replayed old file)
    recreates its minute; the next ks-retain adds that minute into the hour instead
    of summarising the hour from it alone."""
    from kernelsight.ingest import retain

    path, start = _weeks_db(tmp_path, samples=300)
    conn = schema.connect(str(path))
    cutoff = (start // H + 10) * H
    retain.drop_raw(conn, cutoff)   # as ks-retain does: the raw rows first
    tiers.drop(conn, ev.MINUTES, "1d", cutoff)
    hour = (start // H + 2) * H
    before = conn.execute("SELECT rows, read_count FROM io_latency_stats_1h WHERE hour = ? AND device = 'vda'",
                          (hour,)).fetchone()
    conn.execute("INSERT INTO io_latency_stats (timestamp, host, device, read_count, read_buckets) "
                 "VALUES (?, 'testhost', 'vda', 7, '[[5, 7]]')", (hour + 5 * M,))
    assert _count(path, "io_latency_stats_1m", "minute < ?", (cutoff,)) == 1
    retain.drop_raw(conn, cutoff)
    tiers.drop(conn, ev.MINUTES, "1d", cutoff)
    after = conn.execute("SELECT rows, read_count FROM io_latency_stats_1h WHERE hour = ? AND device = 'vda'",
                         (hour,)).fetchone()
    assert after == (before[0] + 1, before[1] + 7)
    assert _count(path, "io_latency_stats_1m", "minute < ?", (cutoff,)) == 0


def test_cli_tier_options(tmp_path):
    """Bad usage exits 2 with a line; --dry-run says what the run then drops."""
    path, _ = _weeks_db(tmp_path, samples=50)
    exe = _exe("ks-retain")
    for args in (["--raw", "7d", "--rollups", "1d"], ["--raw", "1d", "--rollups", "7d", "--hourly", "2d"],
                 ["--raw", "1d", "--hourly", "12h"], ["--raw", "1d", "--rollups", "soon"]):
        p = subprocess.run([exe, "--db-path", str(path), *args], capture_output=True, text=True)
        assert p.returncode == 2 and "--" in p.stderr and "Traceback" not in p.stderr, (args, p.stderr)
    path, _ = _weeks_db(tmp_path / "long", samples=600)   # 4.2 days: minutes to drop
    args = ["--raw", "1d", "--rollups", "2d", "--hourly", "3d"]
    dry = _retain(path, *args, "--dry-run").stdout.splitlines()
    assert len(dry) == len(ev.TYPES) + 2 * len(ROLLED) and all("would go" in x for x in dry)
    assert not _count(path, "retention_state")
    done = _retain(path, *args).stdout.splitlines()
    would = {x.split(":")[0]: int(x.split()[1]) for x in dry}
    assert would == {x.split(":")[0]: int(x.split()[1]) for x in done}
    assert would["io_latency_stats_1m"] > 0 and would["io_latency_stats_1h"] > 0


def _edge_db(tmp_path, boundary: int, spacing: int):
    """io_latency rows of one device at the boundary, a nanosecond before it and
    every ``spacing`` around, each with its own read_count (a power of two)."""
    stamps = sorted({boundary - 1, boundary, *(boundary + k * spacing for k in range(-6, 6))})
    events = [{"type": "io_latency", "timestamp": ts, "host": "h", "device": "vda", "interval_ns": NS,
               "read_count": 1 << i, "read_buckets": [[100 + i, 1 << i]]} for i, ts in enumerate(stamps)]
    path = tmp_path / "edge.db"
    synthetic.write_events(path, events, via="ks-ingest")
    return path, dict(zip(stamps, (1 << i for i in range(len(stamps)))))


def _reads(path, start: int, end: int) -> int:
    from kernelsight.query import storage

    return sum(r["read_ops"] for r in storage.query_io_latency_percentiles(str(path), start, end))


@pytest.mark.parametrize("tier", ["raw", "minutes"])
def test_boundary(tmp_path, tier):
    """Rows exactly at a tier boundary and a nanosecond before it, each with its own
    power of two: the sum says which were read, in windows that start, end on or
    straddle the boundary.  Before it a row counts when its whole period (minute, or
    hour) lies in the window; from it on, as the finer tier holds it."""
    from kernelsight.ingest import retain

    boundary = (time.time_ns() // H - 30 * 24) * H   # a month ago, on a whole hour
    coarse, fine = (M, 1) if tier == "raw" else (H, M)
    path, reads = _edge_db(tmp_path, boundary, 20 * coarse // 60)
    conn = schema.connect(str(path))
    raw_cutoff = boundary if tier == "raw" else boundary + 10 * H   # no raw rows near it
    retain.drop_raw(conn, raw_cutoff)
    tiers.record_raw(conn, "30d", raw_cutoff)
    if tier == "minutes":
        dropped = tiers.drop(conn, ev.MINUTES, "30d", boundary + M)   # rounded down to the hour
        assert dropped["io_latency_stats_1m"] == len({ts // M for ts in reads if ts < boundary})
    conn.close()

    def expect(a, b):
        total = 0
        for ts, n in reads.items():
            g = coarse if ts < boundary else fine
            p = ts // g * g
            total += n if p >= a and p + g <= b else 0
        return total

    spacing = 20 * coarse // 60
    lo, hi = boundary - 5 * spacing, boundary + 5 * spacing
    for a, b in ((lo, hi), (boundary, hi), (lo, boundary), (boundary - coarse, boundary + coarse),
                 (boundary - 1, boundary + 1), (boundary - coarse - 1, boundary + 1)):
        assert _reads(path, a, b) == expect(a, b), ((a - boundary) / NS, (b - boundary) / NS)


def test_tables_tiers_shows_each_tier_in_80_columns(tmp_path):
    path, _ = _weeks_db(tmp_path, samples=600)   # 4.2 days
    args = [_exe("ks-query"), "tables", "--tiers", "--db-path", str(path)]
    before = [orjson.loads(x) for x in subprocess.run([*args, "-f", "json"], capture_output=True,
                                                      text=True, check=True).stdout.splitlines()]
    assert {r["keep"] for r in before} == {"unknown"}
    _retain(path, "--raw", "1d", "--rollups", "2d", "--hourly", "1y")
    rows = [orjson.loads(x) for x in subprocess.run([*args, "-f", "json"], capture_output=True,
                                                    text=True, check=True).stdout.splitlines()]
    tier_tables = {"raw": "", "1m": "_1m", "1h": "_1h"}
    assert len(rows) == len(ev.TYPES) + 2 * len(ROLLED)
    for r in rows:
        assert r["rows"] == _count(path, r["table"] + tier_tables[r["tier"]]), r
        assert r["keep"] == {"raw": "1d", "1m": "2d", "1h": "1y"}[r["tier"]]
        assert r["MB"] > 0
    hours = next(r for r in rows if r["table"] == "io_latency_stats" and r["tier"] == "1h")
    assert hours["rows"] > 0 and hours["span"].endswith(" d")
    text = subprocess.run([*args, "-f", "table"], capture_output=True, text=True, check=True).stdout
    assert max(map(len, text.splitlines())) <= 80


def test_ks_retain_upgrades_a_version_5_file_first(tmp_path):
    path, _ = _weeks_db(tmp_path, samples=600)
    _as_version_5(path)
    args = ["--db-path", str(path), "--raw", "1d", "--rollups", "2d"]
    dry = subprocess.run([_exe("ks-retain"), *args, "--dry-run"], capture_output=True, text=True)
    assert dry.returncode == 1 and "ks-ingest --init-only" in dry.stderr
    before = _query(path, "io", "--since", "30d")
    p = _retain(path, *args)
    assert "per hour into io_latency_stats_1h (once, on upgrade)" in p.stderr
    assert _query(path, "io", "--since", "30d").keys() == before.keys()
    assert _count(path, "io_latency_stats_1h") and _count(path, "retention_state")


def test_live_ingest_while_minutes_go(tmp_path):
    """A ks-ingest writing while the minutes are summarised into hours and dropped, in
    small batches on a connection that gives up on a lock at once (so the retries run):
    every live row lands and the hours hold what the minutes held."""
    from kernelsight.ingest import retain

    path, start = _weeks_db(tmp_path, samples=600)
    cutoff = (start // H + 60) * H
    conn = sqlite3.connect(path, isolation_level=None, timeout=0.01)
    retain.drop_raw(conn, cutoff)
    per_hour = "SELECT {t} / {h} * {h}, device, sum(read_count), sum(rows) FROM io_latency_stats{s} " \
               "WHERE {t} < ? GROUP BY 1, 2"
    minutes = set(conn.execute(per_hour.format(t="minute", h=H, s="_1m"), (cutoff,)))
    live = synthetic.scenario(time.time_ns() + H, 120, host="livehost", seed=2).events
    lines = [orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE) for e in live]
    proc = subprocess.Popen([synthetic.ingest_command(), "--db-path", str(path), "--batch-size", "5"],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(b"".join(lines[: len(lines) // 2]))
        proc.stdin.flush()
        dropped = tiers.drop(conn, ev.MINUTES, "1d", cutoff, batch=7)
        proc.stdin.write(b"".join(lines[len(lines) // 2:]))
        proc.stdin.close()
        assert proc.wait(timeout=120) == 0, proc.stderr.read()[-500:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert dropped["io_latency_stats_1m"] > 100
    want: dict = {}
    for e in live:
        want[ev.lookup(e["type"]).table] = want.get(ev.lookup(e["type"]).table, 0) + 1
    for table, n in want.items():
        assert _count(path, table, "host = 'livehost'") == n, table
    assert set(conn.execute(per_hour.format(t="hour", h=H, s="_1h"), (cutoff,))) == minutes
    assert _count(path, "io_latency_stats_1m", "minute < ?", (cutoff,)) == 0


def test_ingest_retain_spec_takes_the_tiers():
    from kernelsight.ingest import retain

    p = retain.parse_spec("raw=1d,rollups=90d,hourly=2y")
    assert [(tier, text) for tier, text, _ in p.tiers()] == [(ev.MINUTES, "90d"), (ev.HOURS, "2y")]
    assert retain.parse_spec("rollups=30d").tiers()
    for bad in ("raw=7d,rollups=1d", "rollups=30d,hourly=1d", "raw=1d,hourly=soon"):
        with pytest.raises(ValueError):
            retain.parse_spec(bad)
