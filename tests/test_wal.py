"""The WAL does not grow without bound (issue 17 item 11): past SQLiteSink.WAL_MAX_BYTES
and the database's own size, the writer truncates it after a commit; a reader that
holds it past CHECKPOINT_WAIT_MS only postpones that to a later commit."""

from __future__ import annotations

import os
import sqlite3
import time

import pytest

from kernelsight.ingest import events as ev
from kernelsight.ingest.sink import SQLiteSink

T = ev.BY_NAME["load"]
SQL = f"INSERT INTO {T.table} (timestamp, host, load_1min, last_pid) VALUES (?, ?, ?, ?)"


@pytest.fixture
def small_wal(monkeypatch):
    monkeypatch.setattr(SQLiteSink, "WAL_MAX_BYTES", 64 << 10)
    monkeypatch.setattr(SQLiteSink, "CHECKPOINT_WAIT_MS", 50)
    monkeypatch.setattr(SQLiteSink, "CHECKPOINT_RETRY_S", 0.0)


def commit_rows(sink: SQLiteSink, start: int, n: int = 2000) -> None:
    now = time.time_ns()
    assert sink.write(T.table, SQL, [(now + i, "h", 1.0, i) for i in range(start, start + n)]) == []
    sink.commit()


def wal_size(db) -> int:
    return os.stat(f"{db}-wal").st_size


def test_a_large_wal_is_truncated_after_a_commit(db_path, small_wal):
    sink = SQLiteSink(db_path)
    try:
        sizes = []
        for k in range(20):
            commit_rows(sink, k * 2000)
            sizes.append(wal_size(db_path))
        db_size = os.stat(db_path).st_size
        assert 0 in sizes                                  # it was truncated ...
        assert max(sizes) <= 2 * max(db_size, 64 << 10) + (1 << 20)   # ... before it got far
    finally:
        sink.close()
    assert sqlite3.connect(db_path).execute(f"SELECT count(*) FROM {T.table}").fetchone()[0] == 40000


def test_a_reader_holding_the_wal_postpones_the_truncation(db_path, small_wal):
    sink = SQLiteSink(db_path)
    reader = sqlite3.connect(db_path, isolation_level=None)
    try:
        commit_rows(sink, 0)
        reader.execute("BEGIN")
        reader.execute(f"SELECT count(*) FROM {T.table}").fetchone()   # a snapshot in the WAL
        for k in range(1, 10):
            commit_rows(sink, k * 2000)
        held = wal_size(db_path)
        assert held > 64 << 10 and held > os.stat(db_path).st_size   # could not start over
        reader.execute("COMMIT")
        commit_rows(sink, 10 * 2000)
        assert wal_size(db_path) == 0
    finally:
        reader.close()
        sink.close()
