"""`make install` as the README documents it, into a temporary PREFIX and BINDIR: a venv
from Debian's python with every command linked, each command's --help from there, the
README's cron line (and docs/prometheus.md's cron.d line) run under cron's environment
against a real database, and `make uninstall` leaving nothing behind."""

from __future__ import annotations

import os
import re
import shlex
import sqlite3
import subprocess
import time
import tomllib

import pytest

from conftest import REPO
from kernelsight.query import synthetic

pytestmark = pytest.mark.slow

SCRIPTS = sorted(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"])
# What cron gives a job (Debian's cron: PATH=/usr/bin:/bin, and no KS_DB, no venv).
CRON_PATH = "/usr/bin:/bin"
NS = 1_000_000_000


def make(*args: str) -> subprocess.CompletedProcess:
    r = subprocess.run(["make", "-s", "-C", str(REPO), *args], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return r


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("install")
    prefix, bindir = root / "opt" / "kernelsight", root / "bin"
    make("install", f"PREFIX={prefix}", f"BINDIR={bindir}")
    yield prefix, bindir
    make("uninstall", f"PREFIX={prefix}", f"BINDIR={bindir}")   # also on failure


def cron_run(command: str, cwd, **env) -> subprocess.CompletedProcess:
    """``command`` as cron runs it: /bin/sh -c with an almost empty environment."""
    return subprocess.run(["env", "-i", f"PATH={CRON_PATH}", *(f"{k}={v}" for k, v in env.items()),
                           "/bin/sh", "-c", command], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_every_command_runs_from_the_links(installed, tmp_path):
    prefix, bindir = installed
    assert sorted(p.name for p in bindir.iterdir()) == SCRIPTS
    for name in SCRIPTS:
        link = bindir / name
        assert os.readlink(link) == str(prefix / "bin" / name)
        r = cron_run(f"{link} --help", tmp_path)
        assert r.returncode == 0 and "Usage:" in r.stdout, (name, r.stderr)
    # the code comes from the venv, not from this source tree
    where = cron_run(f"{prefix}/bin/python -c 'import kernelsight.query as q; print(q.__file__)'", tmp_path)
    assert where.stdout.startswith(str(prefix)), where


def _cron_lines(text: str, fields: int) -> list[str]:
    """The commands of the crontab lines in ``text`` (``fields``: 5, or 6 with a user)."""
    lines = re.findall(r"^\s*((?:\S+\s+){%d}/usr/local/bin/ks-.*)$" % fields, text, re.M)
    return [" ".join(line.split()[fields:]) for line in lines if line.split()[0] in ("*", "*/1")]


def _database(path) -> int:
    """A real database with one known number: the syscall count ks-promexport must export."""
    start = (time.time_ns() // NS - 120) * NS
    synthetic.write_events(path, synthetic.scenario(start, 100, seed=3).events)
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT sum(count) FROM syscall_stats").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize("doc, fields", [("README.md", 5), ("docs/prometheus.md", 6)])
def test_the_documented_cron_line_works_under_cron(installed, tmp_path, doc, fields):
    _, bindir = installed
    (line,) = _cron_lines((REPO / doc).read_text(), fields)
    textfile = tmp_path / "node-exporter"
    textfile.mkdir()
    db = tmp_path / "kernelsight.db"
    calls = _database(db)
    # Only the machine's paths become the test's: the bin dir, the textfile dir and the
    # root database (a line without --db-path finds it as root's default: KS_DB stands in).
    command = (line.replace("/usr/local/bin/", f"{bindir}/")
               .replace("/var/lib/prometheus/node-exporter", str(textfile))
               .replace("/var/lib/kernelsight/kernelsight.db", str(db)))
    assert shlex.split(command)[0] == str(bindir / "ks-promexport")
    env = {} if str(db) in command else {"KS_DB": db}
    r = cron_run(command, tmp_path, **env)
    assert r.returncode == 0, r.stderr
    prom = (textfile / "kernelsight.prom").read_text()
    exported = sum(float(v) for v in re.findall(r"^ks_syscalls_total\{[^}]*\} (\S+)$", prom, re.M))
    assert exported == calls   # every call of the database, counted once
