"""ks-retain (ingest/retain.py): raw rows older than the cutoff go, every rollup row stays."""

from __future__ import annotations

import sqlite3
import subprocess
import time

from kernelsight.ingest import events as ev
from kernelsight.ingest import retain
from kernelsight.query import synthetic

NS = 1_000_000_000
ROLLED = [t for t in ev.TYPES if t.rollup]


def _rollups(path) -> dict:
    with sqlite3.connect(path) as c:
        return {t.rollup_table: sorted(c.execute(f"SELECT * FROM {t.rollup_table}").fetchall(), key=repr)
                for t in ROLLED}


def _counts(path, where="true", args=()) -> dict:
    with sqlite3.connect(path) as c:
        return {t.table: c.execute(f"SELECT count(*) FROM {t.table} WHERE {where}", args).fetchone()[0]
                for t in ev.TYPES}


def _exe() -> str:
    return synthetic.ingest_command().replace("ks-ingest", "ks-retain")


def _db(tmp_path):
    start = (time.time_ns() // ev.ROLLUP_NS - 12) * ev.ROLLUP_NS + 17 * NS
    path = tmp_path / "ks.db"
    synthetic.write_events(path, synthetic.scenario(start, 600).events)
    return path, start


def test_drop_keeps_rollups_and_young_rows(tmp_path):
    path, start = _db(tmp_path)
    cutoff = start + 300 * NS
    rollups, young = _rollups(path), _counts(path, "timestamp >= ?", (cutoff,))
    old = _counts(path, "timestamp < ?", (cutoff,))
    assert sum(old.values()) > 0 and any(_rollups(path).values())
    conn = sqlite3.connect(path, isolation_level=None)
    dropped = retain.drop_raw(conn, cutoff, batch=7)   # small batches: many transactions
    assert dropped == old
    assert _counts(path, "timestamp < ?", (cutoff,)) == {t: 0 for t in old}
    assert _counts(path, "timestamp >= ?", (cutoff,)) == young
    assert _rollups(path) == rollups


def test_plain_delete_still_fixes_rollups(tmp_path):
    """The trigger is back after retention: a deliberate DELETE re-summarises its minutes."""
    path, start = _db(tmp_path)
    conn = sqlite3.connect(path, isolation_level=None)
    retain.drop_raw(conn, start + 60 * NS)
    before = _rollups(path)
    t = next(t for t in ROLLED if _counts(path)[t.table])
    conn.execute(f"DELETE FROM {t.table}")
    assert _rollups(path)[t.rollup_table] != before[t.rollup_table]


def test_cli_exit_codes(tmp_path):
    path, start = _db(tmp_path)
    exe = _exe()
    bad = subprocess.run([exe, "--db-path", str(path), "--raw", "seven days"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--raw" in bad.stderr
    ok = subprocess.run([exe, "--db-path", str(path), "--raw", "1d"], capture_output=True, text=True)
    assert ok.returncode == 0 and len(ok.stdout.splitlines()) == len(ev.TYPES)
    broken = tmp_path / "not.db"
    broken.write_bytes(b"not a database" * 100)
    assert subprocess.run([exe, "--db-path", str(broken), "--raw", "1d"], capture_output=True).returncode == 1
    missing = tmp_path / "missing.db"
    assert subprocess.run([exe, "--db-path", str(missing), "--raw", "1d"], capture_output=True).returncode == 1
    assert not missing.exists()


def test_live_ingest_loses_nothing(tmp_path):
    """A ks-ingest writing young rows while retention drops old ones: every live row lands,
    and the old rows' rollups are the same as before."""
    import orjson

    path, start = _db(tmp_path)
    cutoff = start + 600 * NS + 1          # every pre-filled row is older
    before = _rollups(path)
    old_minutes = {k: {r for r in v} for k, v in before.items()}
    live = synthetic.scenario(time.time_ns() + 3600 * NS, 120, host="livehost", seed=2).events
    proc = subprocess.Popen([synthetic.ingest_command(), "--db-path", str(path), "--batch-size", "5"],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    conn = sqlite3.connect(path, isolation_level=None, timeout=0.01)   # busy often: retries run
    half = len(live) // 2
    proc.stdin.write(b"".join(orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE) for e in live[:half]))
    proc.stdin.flush()
    dropped = retain.drop_raw(conn, cutoff, batch=3)
    proc.stdin.write(b"".join(orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE) for e in live[half:]))
    proc.stdin.close()
    assert proc.wait(timeout=120) == 0, proc.stderr.read()[-500:]
    assert sum(dropped.values()) > 0
    want: dict = {}
    for e in live:
        table = ev.lookup(e["type"]).table
        want[table] = want.get(table, 0) + 1
    assert _counts(path, "host = 'livehost'") == {t.table: want.get(t.table, 0) for t in ev.TYPES}
    assert _counts(path, "host <> 'livehost'") == {t.table: 0 for t in ev.TYPES}
    with sqlite3.connect(path) as c:
        for t in ROLLED:
            kept = set(c.execute(f"SELECT * FROM {t.rollup_table} WHERE host <> 'livehost'"))
            assert kept == old_minutes[t.rollup_table]


def test_dry_run_counts_and_changes_nothing(tmp_path):
    path, start = _db(tmp_path)
    cutoff = start + 300 * NS
    conn = sqlite3.connect(path)
    plan = retain.would_drop(conn, cutoff)
    assert {t: n for t, (n, _) in plan.items()} == _counts(path, "timestamp < ?", (cutoff,))
    assert all(size > 0 for n, size in plan.values() if n)
    rows, rollups = _counts(path), _rollups(path)
    out = subprocess.run([_exe(), "--db-path", str(path),
                          "--raw", "1s", "--dry-run"], capture_output=True, text=True)
    assert out.returncode == 0 and len(out.stdout.splitlines()) == len(ev.TYPES)
    assert _counts(path) == rows and _rollups(path) == rollups
