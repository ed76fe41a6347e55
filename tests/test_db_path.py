"""One default database for every command: KS_DB, else the root path, else the
user's state directory; the README's cron line works with cron's empty environment."""

from __future__ import annotations

import os
import stat
import subprocess

from conftest import is_root, ks

LINE = b'{"type":"load","timestamp":1780000000000000000,"host":"h","load_1min":0.5}\n'


def run(name, *args, env, input=None):
    return subprocess.run([ks(name), *args], input=input, capture_output=True, timeout=60, env=env)


def test_ks_db_is_honoured_by_ingest_query_and_promexport(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "KS_DB": str(tmp_path / "sub" / "ks.db")}
    assert run("ks-ingest", env=env, input=LINE).returncode == 0
    assert (tmp_path / "sub" / "ks.db").exists()
    assert stat.S_IMODE(os.stat(tmp_path / "sub").st_mode) == 0o750
    p = run("ks-query", "sql", "SELECT load_1min FROM load_metrics", "-f", "csv", env=env)
    assert p.returncode == 0 and b"0.5" in p.stdout, p.stderr
    p = run("ks-promexport", "-", env=env)
    assert p.returncode == 0 and b'ks_table_newest_row_timestamp_seconds{table="load_metrics"}' in p.stdout


def test_the_defaults_in_order(tmp_path, monkeypatch):
    from kernelsight.ingest import paths

    monkeypatch.setenv("KS_DB", str(tmp_path / "a.db"))
    assert paths.default_db_path() == str(tmp_path / "a.db")
    monkeypatch.delenv("KS_DB")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert paths.default_db_path() == "/var/lib/kernelsight/kernelsight.db"
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert paths.default_db_path() == str(tmp_path / "state" / "kernelsight" / "kernelsight.db")
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert paths.default_db_path() == str(tmp_path / ".local" / "state" / "kernelsight" / "kernelsight.db")


def test_cron_line_as_root_with_an_empty_environment(tmp_path):
    """cron gives a job PATH=/usr/bin:/bin and little else: root's default is fixed."""
    from kernelsight.ingest.paths import SYSTEM_PATH

    if not is_root:
        return
    env = {"PATH": "/usr/bin:/bin"}
    code = ("from kernelsight.query.db import DEFAULT_PATH as q; from kernelsight.ingest.paths import "
            "default_db_path as d; print(q, d())")
    p = subprocess.run([os.path.join(os.path.dirname(ks("ks-query")), "python"), "-c", code],
                       capture_output=True, env=env, timeout=60)
    assert p.stdout.split() == [SYSTEM_PATH.encode()] * 2
