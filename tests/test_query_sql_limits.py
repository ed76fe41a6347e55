"""ks-query sql under hostile SQL (issue 17, item 8): endless queries end, Ctrl-C
is 130, table-valued pragmas read, SQL comes from a file or stdin."""

from __future__ import annotations

import signal
import subprocess
import time

import orjson
import pytest

from conftest import background_ks, run_ks
from kernelsight.ingest import events as ev

ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
ENDLESS_ROWS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"


@pytest.fixture
def db(db_path):
    line = f'{{"type":"load","timestamp":{time.time_ns()},"load_1min":1}}\n'
    assert run_ks("ks-ingest", "--db-path", str(db_path), input=line).returncode == 0
    return str(db_path)


def test_timeout_ends_an_endless_query_with_one_line(db):
    r = run_ks("ks-query", "sql", ENDLESS, "--db-path", db, "--timeout", "0.5", timeout=60)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert "--timeout" in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("sql", [ENDLESS, ENDLESS_ROWS])
def test_ctrl_c_is_130_while_running_or_fetching(db, sql):
    with background_ks("ks-query", "sql", sql, "--db-path", db, "-f", "json",
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as p:
        time.sleep(1)   # well inside the statement: no time is asserted
        p.send_signal(signal.SIGINT)
        p.wait(timeout=30)
        err = p.stderr.read().decode()
    assert p.returncode == 130, err
    assert "internal error" not in err


def test_pragma_table_info_reads(db):
    r = run_ks("ks-query", "sql", "SELECT name FROM pragma_table_info('load_metrics')",
               "--db-path", db, "-f", "json")
    assert r.returncode == 0, r.stderr
    got = [orjson.loads(x)["name"] for x in r.stdout.splitlines()]
    assert got[0] == "id" and got[1:] == [c.name for c in ev.columns_of(ev.BY_NAME["load"])]


def test_sql_from_a_file_or_stdin(db, tmp_path):
    f = tmp_path / "q.sql"
    f.write_text("SELECT load_1min FROM load_metrics\n")
    a = run_ks("ks-query", "sql", "--file", str(f), "--db-path", db, "-f", "json")
    b = run_ks("ks-query", "sql", "-", "--db-path", db, "-f", "json", input=f.read_bytes())
    assert a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr)
    assert a.stdout == b.stdout == b'{"load_1min":1.0}\n'
