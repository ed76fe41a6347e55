"""ks-retain --archive: killed at any moment, no row is lost, none is kept twice for
longer than the next run, and the source's rollups stay as they were.

What is guaranteed (ingest/archive.py): after a kill, every row is in the source or the
archive, unchanged; a row in both is one of the batch noted in the archive's
ks_retain_pending, identical in both; the next run with the same archive deletes it from
the source first, whatever that run's --raw."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import time

from kernelsight.ingest import archive, retain, schema
from kernelsight.ingest import events as ev
from kernelsight.query import synthetic

NS = 1_000_000_000
ROLLED = [t for t in ev.TYPES if t.rollup]
TRIALS = 16


def _exe(name: str) -> str:
    return synthetic.ingest_command().replace("ks-ingest", name)


def _rows(path) -> dict[str, dict[int, tuple]]:
    """{table: {id: row}}; a table not there (an archive killed while being created:
    its schema is one transaction) holds nothing."""
    with sqlite3.connect(path) as c:
        have = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {t.table: {r[0]: r for r in c.execute(
            f"SELECT id, {', '.join(col.name for col in ev.columns_of(t))} FROM {t.table}")}
            if t.table in have else {} for t in ev.TYPES}


def _rollups(path) -> dict:
    with sqlite3.connect(path) as c:
        return {t.rollup_table: sorted(c.execute(f"SELECT * FROM {t.rollup_table}").fetchall(), key=repr)
                for t in ROLLED}


def _pending(path) -> dict[str, set[int]]:
    with sqlite3.connect(path) as c:
        if not c.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (archive.PENDING,)).fetchone():
            return {}
        return {tbl: set(json.loads(ids)) for tbl, ids in c.execute(f"SELECT tbl, ids FROM {archive.PENDING}")}


def _source(tmp_path, seconds=600):
    start = (time.time_ns() // ev.ROLLUP_NS - seconds // 60 - 2) * ev.ROLLUP_NS
    path = tmp_path / "ks.db"
    synthetic.write_events(path, synthetic.scenario(start, seconds).events)
    return path, start


def _old_and_young(path):
    """Two hours ago (goes with --raw 1h) and the last three minutes (stays): a gap of
    an hour, so the cutoff moving with the clock during the test changes nothing."""
    now = time.time_ns() // ev.ROLLUP_NS * ev.ROLLUP_NS
    events = (synthetic.scenario(now - 2 * 3600 * NS, 300).events
              + synthetic.scenario(now - 180 * NS, 120, seed=2).events)
    synthetic.write_events(path, events)
    return now - 3600 * NS


def _both(src, arc) -> int:
    s, a = _rows(src), _rows(arc)
    return sum(len(set(s[t]) & set(a[t])) for t in s)


def _check_after_kill(original, src, arc) -> None:
    """Every row somewhere and unchanged; in both only if in the pending batch."""
    now_src, now_arc = _rows(src), _rows(arc) if arc.exists() else {}
    pending = _pending(arc) if arc.exists() else {}
    for table, rows in original.items():
        s, a = now_src[table], now_arc.get(table, {})
        assert set(s) | set(a) == set(rows), f"{table}: rows lost"
        assert all(s[i] == rows[i] for i in s) and all(a[i] == rows[i] for i in a), f"{table}: rows changed"
        assert set(s) & set(a) <= pending.get(table, set()), f"{table}: in both, not pending"


def _kill_at(cmd, after_s: float) -> None:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(after_s)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def _reset(pristine, src, arc) -> None:
    for f in (src, arc):
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(f"{f}{suffix}"):
                os.unlink(f"{f}{suffix}")
    _copy(pristine, src)


def test_kill_9_at_random_moments(tmp_path):
    """Each trial: a fresh source, ks-retain killed at a random moment of its run (a
    second kill in half the trials, to chain interrupted runs), the guarantee checked,
    then runs that finish the job and leave exactly the old rows in the archive."""
    pristine, src, arc = tmp_path / "pristine.db", tmp_path / "ks.db", tmp_path / "archive.db"
    cutoff = _old_and_young(pristine)
    original, rollups = _rows(pristine), _rollups(pristine)
    with sqlite3.connect(pristine) as c:   # the truth: split by timestamp, straight from SQL
        old = {t.table: {r[0] for r in c.execute(f"SELECT id FROM {t.table} WHERE timestamp < ?", (cutoff,))}
               for t in ev.TYPES}
    assert sum(map(len, old.values())) > 1000
    cmd = [_exe("ks-retain"), "--db-path", str(src), "--raw", "1h", "--archive", str(arc), "--batch", "40"]
    _reset(pristine, src, arc)
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True)
    took = time.monotonic() - t0
    seed = random.randrange(1 << 30)
    rnd, midway, in_both = random.Random(seed), 0, 0
    for trial in range(TRIALS):
        _reset(pristine, src, arc)
        for _ in range(1 + trial % 2):
            _kill_at(cmd, rnd.uniform(0, took))
        _check_after_kill(original, src, arc)
        assert _rollups(src) == rollups, f"trial {trial} (seed {seed}): rollups changed"
        moved = arc.exists() and sum(map(len, _rows(arc).values()))
        midway += bool(moved) and moved < sum(map(len, old.values()))
        in_both += bool(arc.exists() and _both(src, arc))
        # a run that drops nothing by age still finishes the interrupted batch first
        later = subprocess.run(cmd[:4] + ["3650d"] + cmd[5:], capture_output=True)
        assert later.returncode == 0, later.stderr
        assert _both(src, arc) == 0
        final = subprocess.run(cmd, capture_output=True)
        assert final.returncode == 0, final.stderr
        s, a = _rows(src), _rows(arc)
        for table, rows in original.items():
            assert set(a[table]) == old[table], f"trial {trial} (seed {seed}): {table}: archive is not the old rows"
            assert set(s[table]) == set(rows) - old[table], f"trial {trial}: {table}: source is not the young rows"
            assert all(a[table][i] == rows[i] for i in a[table])
        assert _rollups(src) == rollups
    print(f"seed {seed}: {TRIALS} trials within {took:.2f} s runs: {midway} killed midway, "
          f"{in_both} left a batch in both files")
    assert midway >= TRIALS // 4   # the kills did land inside the work


def _copy(src, dst) -> None:
    """A consistent copy of a WAL database (the backup API, not a file copy)."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)


def test_archive_reads_with_ks_query(tmp_path):
    """ks-query io over a window the archive holds answers as the source did before."""
    src, start = _source(tmp_path)
    cutoff = start + 5 * ev.ROLLUP_NS              # a minute boundary
    window = ["--since", str(start // NS), "--until", str(cutoff // NS), "--format", "json"]
    query = [_exe("ks-query"), "io"]
    before = subprocess.run(query + ["--db-path", str(src)] + window, capture_output=True, text=True)
    assert before.returncode == 0 and before.stdout.strip(), before.stderr
    conn = schema.connect(str(src))
    gone = retain.apply(conn, retain.Policy(raw_ns=1, archive=str(tmp_path / "arc.db")), cutoff + 1)
    assert sum(gone.values()) > 0
    after = subprocess.run(query + ["--db-path", str(tmp_path / "arc.db")] + window, capture_output=True, text=True)
    assert after.returncode == 0, after.stderr
    assert after.stdout == before.stdout


def test_archive_of_another_database_is_refused(tmp_path):
    """Ids are the archive's key: another database's rows under the same ids would be
    lost by INSERT OR IGNORE, so nothing is deleted and the run fails."""
    src, start = _source(tmp_path)
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other, _ = _source(other_dir)
    with sqlite3.connect(other) as c:
        c.execute("UPDATE syscall_events SET comm = 'elsewhere'")
    before = _rows(src)
    out = subprocess.run([_exe("ks-retain"), "--db-path", str(src), "--raw", "1s", "--archive", str(other)],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "another database" in out.stderr
    assert _rows(src)["syscall_events"] == before["syscall_events"]


def test_archive_cannot_be_the_database(tmp_path):
    src, _ = _source(tmp_path)
    out = subprocess.run([_exe("ks-retain"), "--db-path", str(src), "--raw", "1s", "--archive", str(src)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "--archive" in out.stderr


def test_ctrl_c_stops_cleanly(tmp_path):
    """SIGINT mid-run: exit 130 with a word on what is left, the guarantee holds."""
    src, arc = tmp_path / "ks.db", tmp_path / "archive.db"
    _old_and_young(src)
    original = _rows(src)
    proc = subprocess.Popen([_exe("ks-retain"), "--db-path", str(src), "--raw", "1h", "--archive", str(arc),
                             "--batch", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(200):          # until it is archiving
            if arc.exists() and sum(map(len, _rows(arc).values())):
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    _check_after_kill(original, src, arc)
