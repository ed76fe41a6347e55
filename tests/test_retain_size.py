"""ks-retain --max-size, --vacuum and --dry-run on real files: the oldest rows go, the file
on disk shrinks, an old file without auto-vacuum is told how and converted by --vacuum."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time

from kernelsight.ingest import events as ev
from kernelsight.ingest import retain, schema
from kernelsight.ingest import retain_size as size
from kernelsight.query import synthetic

NS = 1_000_000_000
ROLLED = [t for t in ev.TYPES if t.rollup]


def _exe() -> str:
    return synthetic.ingest_command().replace("ks-ingest", "ks-retain")


def _db(path, seconds=1500):
    start = (time.time_ns() // ev.ROLLUP_NS - seconds // 60 - 2) * ev.ROLLUP_NS
    synthetic.write_events(path, synthetic.scenario(start, seconds).events)
    with sqlite3.connect(path) as c:   # all in the main file: sizes compare
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return start


def _old_style_db(path, seconds=1500):
    """A database made before ks-ingest set incremental auto-vacuum."""
    with sqlite3.connect(path) as c:
        c.execute("PRAGMA journal_mode=WAL")
        c.executescript(schema.ddl())
    return _db(path, seconds)


def _run(*args):
    return subprocess.run([_exe(), *map(str, args)], capture_output=True, text=True)


def _timestamps(path) -> dict[str, list[int]]:
    with sqlite3.connect(path) as c:
        return {t.table: [r[0] for r in c.execute(f"SELECT timestamp FROM {t.table}")] for t in ev.TYPES}


def _rollups(path) -> dict:
    with sqlite3.connect(path) as c:
        return {t.rollup_table: sorted(c.execute(f"SELECT * FROM {t.rollup_table}").fetchall(), key=repr)
                for t in ROLLED}


def _pragma(path, name):
    with sqlite3.connect(path) as c:
        return c.execute(f"PRAGMA {name}").fetchone()[0]


def test_new_databases_have_incremental_auto_vacuum(tmp_path):
    _db(tmp_path / "ks.db", 60)
    assert _pragma(tmp_path / "ks.db", "auto_vacuum") == 2


def test_max_size_drops_the_oldest_and_the_file_shrinks(tmp_path):
    path = tmp_path / "ks.db"
    _db(path)
    before_rows, rollups = _timestamps(path), _rollups(path)
    before = os.path.getsize(path)
    limit = before // 2
    out = _run("--db-path", path, "--max-size", limit)
    assert out.returncode == 0, out.stderr
    assert os.path.getsize(path) <= limit < before
    assert not os.path.exists(f"{path}-wal") or os.path.getsize(f"{path}-wal") == 0
    after = _timestamps(path)
    kept = min(min(v) for v in after.values() if v)
    for table, ts in before_rows.items():   # exactly the oldest went, all tables alike
        assert sorted(after[table]) == sorted(t for t in ts if t >= kept), table
    assert sum(map(len, after.values())) < sum(map(len, before_rows.values()))
    assert _rollups(path) == rollups        # raw rows sufficed: no minute went


def test_max_size_then_minutes_go_oldest_first(tmp_path):
    path = tmp_path / "ks.db"
    _db(path)
    rollups = _rollups(path)
    # the size with no raw row left, measured on a copy: the limit is below it
    copy = schema.connect(str(tmp_path / "copy.db"))
    with sqlite3.connect(path) as c:
        c.backup(copy)
    retain.drop_raw(copy, 1 << 62)
    size.give_back(copy)
    limit = size.used_bytes(copy) - sum(size.table_bytes(copy, t) for t in retain.rollup_tables()) // 3
    conn = schema.connect(str(path))
    gone = retain.fit(conn, limit)
    assert not any(_timestamps(path).values())
    assert any(gone.get(t, 0) for t in retain.rollup_tables())
    after = _rollups(path)
    for t in ROLLED:   # what is left of each rollup is its newest minutes, unchanged
        left = after[t.rollup_table]
        if left:
            first = min(r[0] for r in left)
            assert left == [r for r in rollups[t.rollup_table] if r[0] >= first]
    # ... and the minutes that went were summarised into hours first: every sum is whole
    with sqlite3.connect(path) as c, sqlite3.connect(tmp_path / "copy.db") as was:
        for t in ROLLED:
            for col in t.rollup.sums:
                before = was.execute(f"SELECT total({col}) FROM {t.rollup_table}").fetchone()[0]
                now = sum(c.execute(f"SELECT total({col}) FROM {t.tier_table(tier)}").fetchone()[0]
                          for tier in ev.TIERS)
                assert now == before, (t.table, col)


def test_max_size_that_cannot_be_met_fails_clearly(tmp_path):
    path = tmp_path / "ks.db"
    _db(path, 120)
    out = _run("--db-path", path, "--max-size", "1KB")
    assert out.returncode == 1 and "no raw row or minute left" in out.stderr


def test_old_database_is_told_then_vacuum_turns_auto_vacuum_on(tmp_path):
    path = tmp_path / "ks.db"
    _old_style_db(path)
    assert _pragma(path, "auto_vacuum") == 0
    before = os.path.getsize(path)
    out = _run("--db-path", path, "--raw", "10m")
    assert out.returncode == 0 and "--vacuum" in out.stderr and "does not shrink" in out.stderr
    assert os.path.getsize(path) == before          # freed pages stay in the file
    assert _pragma(path, "freelist_count") > 0
    out = _run("--db-path", path, "--vacuum")
    assert out.returncode == 0, out.stderr
    assert _pragma(path, "auto_vacuum") == 2 and _pragma(path, "journal_mode") == "wal"
    assert os.path.getsize(path) < before * 0.8
    out = _run("--db-path", path, "--raw", "5m")     # from now on every run gives space back
    assert out.returncode == 0 and "--vacuum" not in out.stderr
    assert _pragma(path, "freelist_count") == 0


def test_dry_run_bytes_estimate_and_exit_codes(tmp_path):
    path = tmp_path / "ks.db"
    _db(path)
    rows = _timestamps(path)
    out = _run("--db-path", path, "--raw", "10m", "--dry-run")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == len(ev.TYPES)
    estimate = sum(int(line.split("about ")[1].split()[0]) for line in lines)
    assert _timestamps(path) == rows                # nothing changed
    was = os.path.getsize(path)
    assert _run("--db-path", path, "--raw", "10m").returncode == 0
    freed = was - os.path.getsize(path)           # the truth: what the file lost
    print(f"dry-run estimate {estimate:,} bytes, the file lost {freed:,}: {estimate / freed:.2f}x")
    assert 0.5 < estimate / freed < 2, (estimate, freed)
    # --max-size alone: the first round's estimate, the excess on stderr
    out = _run("--db-path", path, "--max-size", os.path.getsize(path) // 2, "--dry-run")
    assert out.returncode == 0 and "over --max-size" in out.stderr
    assert sum(int(line.split(": ")[1].split()[0]) for line in out.stdout.splitlines()) > 0
    for bad in (["--max-size", "2 parsecs"], ["--max-size", "0"], ["--raw", "7 days"], []):
        out = _run("--db-path", path, "--dry-run", *bad)
        assert out.returncode == 2 and "ks-retain:" in out.stderr, (bad, out.stderr)
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"no database here" * 512)
    out = _run("--db-path", broken, "--raw", "1d", "--dry-run")
    assert out.returncode == 1 and str(broken) in out.stderr
