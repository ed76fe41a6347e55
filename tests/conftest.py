"""Shared test helpers: where the ks-* commands are, and a fresh database per test.

Tests run the real console scripts from the venv that runs pytest, on real SQLite
files, on the real kernel.
"""

from __future__ import annotations

import os
import pathlib
import sqlite3
import subprocess
import sys

import pytest

BIN = pathlib.Path(sys.executable).parent
REPO = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = REPO.parent / "shared" / "fixtures" / "kernelsight-v1"


def ks(name: str) -> str:
    """Absolute path of a ks-* console script of this venv."""
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in {BIN}: run `make setup`")
    return str(path)


def run_ks(name: str, *args: str, input: bytes | str | None = None, timeout: float = 60,
           check: bool = False, **kw) -> subprocess.CompletedProcess:
    if isinstance(input, str):
        input = input.encode()
    return subprocess.run([ks(name), *args], input=input, capture_output=True,
                          timeout=timeout, check=check, **kw)


@pytest.fixture
def db_path(tmp_path) -> pathlib.Path:
    return tmp_path / "ks.db"


def rows(db: pathlib.Path, sql: str, *params) -> list[sqlite3.Row]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


is_root = os.geteuid() == 0
needs_root = pytest.mark.skipif(not is_root, reason="needs root (BPF, namespaces, perf)")
