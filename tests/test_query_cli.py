"""ks-query as a user runs it: every subcommand in every format, the read-only sql,
and one-line errors for bad times and missing databases."""

from __future__ import annotations

import csv
import io
import os
import signal
import sqlite3
import subprocess
import time

import orjson
import pytest

from conftest import ks, run_ks
from kernelsight.query import query_rtt_by_node, synthetic
from kernelsight.ingest import schema

NS = 1_000_000_000
SUBCOMMANDS = ["summary", "tables", "syscalls", "syscall-procs", "syscall-stats", "io", "block", "memory",
               "network", "tcp", "retransmits", "rtt", "runqlat", "cpu", "load", "pagefaults", "perf",
               "correlate-memory", "correlate-rtt"]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    start = (time.time_ns() // NS - 305) * NS
    sc = synthetic.scenario(start, 300, seed=7)
    path = tmp_path_factory.mktemp("cli") / "ks.db"
    synthetic.write_events(path, sc.events)
    return path


def q(db, *args, **kw):
    return run_ks("ks-query", *args, "--db-path", str(db), **kw)


def one_line_error(p):
    err = p.stderr.decode()
    assert p.returncode != 0
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("cmd", SUBCOMMANDS)
def test_every_subcommand_in_every_format(db, cmd, capsys):
    # In process (the same main() the console script calls) to keep 57 runs cheap;
    # the tests below run the real ks-query process.
    from kernelsight.query.cli import main

    for fmt in ("table", "json", "csv"):
        status = main([cmd, "--db-path", str(db), "--format", fmt])
        out, err = capsys.readouterr()
        assert status == 0, err
        assert out.strip(), (cmd, fmt)
        if fmt == "json":
            rows = [orjson.loads(line) for line in out.splitlines()]
            assert rows and all(isinstance(r, dict) for r in rows)
        elif fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(out)))
            assert rows and all(k for k in rows[0])
        elif cmd != "summary":
            head, rule = out.splitlines()[:2]
            assert set(rule) <= {"-", " "} and len(rule) >= len(head.rstrip()) - 1


def test_summary_reads_as_text_with_the_window(db):
    p = q(db, "summary", "-f", "table")
    out = p.stdout.decode()
    assert p.returncode == 0 and p.stderr == b""
    assert out.startswith("kernelsight summary of")
    assert time.strftime("%Z") in out.splitlines()[1]
    for section in ("Slow syscalls", "TCP RTT", "Memory", "CPU"):
        assert f"\n{section}\n" in out


def test_json_is_the_default_in_a_pipe_and_matches_the_library(db):
    p = q(db, "rtt", "--since", "10m")
    rows = [orjson.loads(line) for line in p.stdout.splitlines()]
    lib = query_rtt_by_node(str(db), "10m", "now")
    assert [(r["node"], r["samples"]) for r in rows] == [(r["node"], r["samples"]) for r in lib]


def test_absolute_times_and_env_database(db):
    now = time.time()
    env = {**os.environ, "KS_DB": str(db)}
    p = run_ks("ks-query", "syscalls", "--since", str(int(now - 3600)),
               "--until", time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now + 60)), "-n", "3", env=env)
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.splitlines()) == 3


def test_empty_window_says_where_the_data_is(db):
    p = q(db, "rtt", "--since", "2001-01-01", "--until", "2001-01-02")
    assert p.returncode == 0 and p.stdout == b""
    assert b"newest row" in p.stderr


@pytest.mark.parametrize("sql", [
    "INSERT INTO load_metrics (timestamp, load_1min) VALUES (1, 1)",
    "DELETE FROM rtt_stats",
    "DROP TABLE rtt_stats",
    "CREATE TEMP TABLE x (a)",
    "ATTACH DATABASE '/tmp/ks-attack.db' AS evil",
    "PRAGMA user_version = 5",
    "PRAGMA journal_mode = DELETE",
    "SELECT load_extension('/tmp/evil.so')",
    "SELECT 1; DELETE FROM rtt_stats",
])
def test_sql_refuses_anything_but_reading(db, sql):
    before = synthetic.count_rows(db, "rtt_stats")
    line = one_line_error(q(db, "sql", sql))
    assert line.startswith("ks-query: error:")
    assert synthetic.count_rows(db, "rtt_stats") == before
    assert not os.path.exists("/tmp/ks-attack.db")


def test_sql_reads(db):
    p = q(db, "sql", "SELECT node, count(*) AS n FROM rtt_stats GROUP BY node ORDER BY node", "-f", "csv")
    assert p.returncode == 0
    assert p.stdout.decode().splitlines()[0] == "node,n"
    p = q(db, "sql", "PRAGMA table_info(rtt_stats)", "-f", "json")
    assert p.returncode == 0 and b'"name":"buckets"' in p.stdout
    p = q(db, "sql", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5) "
                     "SELECT x FROM c", "-f", "json")
    assert len(p.stdout.splitlines()) == 5


@pytest.mark.parametrize("since", ["yesterday-ish", "-5m", "1h ago later"])
def test_bad_times_are_one_line(db, since):
    line = one_line_error(q(db, "rtt", "--since", since))
    assert "time" in line


def test_inverted_window(db):
    assert "empty" in one_line_error(q(db, "rtt", "--since", "1h", "--until", "2h"))


def test_bad_format(db):
    p = q(db, "rtt", "--format", "xml")
    assert p.returncode == 2 and b"Traceback" not in p.stderr and b"xml" in p.stderr


def test_missing_empty_and_foreign_databases(tmp_path):
    line = one_line_error(run_ks("ks-query", "summary", "--db-path", str(tmp_path / "nope.db")))
    assert "no database at" in line
    empty = tmp_path / "empty.db"
    conn = schema.connect(str(empty))
    schema.apply(conn)
    conn.close()
    assert "is empty" in one_line_error(run_ks("ks-query", "rtt", "--db-path", str(empty)))
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (a)").connection.commit()
    assert "no kernelsight tables" in one_line_error(run_ks("ks-query", "rtt", "--db-path", str(other)))
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    assert "cannot read" in one_line_error(run_ks("ks-query", "rtt", "--db-path", str(junk)))


def test_closed_pipe_is_quiet(db):
    p = subprocess.run(f"{ks('ks-query')} syscalls -n 1000 --db-path {db} | head -1", shell=True,
                       capture_output=True, timeout=30)
    assert p.returncode == 0 and len(p.stdout.splitlines()) == 1
    assert p.stderr == b""


def test_help_teaches_with_examples():
    out = run_ks("ks-query", "--help").stdout.decode()
    assert "Examples:" in out and "ks-query summary" in out
    for cmd in SUBCOMMANDS + ["sql"]:
        assert f"  {cmd} " in out


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_ends_even_a_runaway_statement_quietly(db, sig, status):
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    p = subprocess.Popen([ks("ks-query"), "sql", endless, "--db-path", str(db)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(2.0)  # well inside the statement: start-up takes a tenth of that, even under load
    p.send_signal(sig)
    out, err = p.communicate(timeout=10)
    assert p.returncode == status
    assert err == b"" and out == b""


def test_slow_syscalls_is_another_name_for_syscalls(tmp_path):
    db = tmp_path / "a.db"
    ev = '{"type":"syscall","timestamp":%d,"pid":7,"latency_ns":20000000,"syscall_name":"read","comm":"x"}'
    run_ks("ks-ingest", "--db-path", str(db), input=ev % time.time_ns(), check=True)
    a = run_ks("ks-query", "slow-syscalls", "--db-path", str(db), "--since", "1h", "--format", "json")
    b = run_ks("ks-query", "syscalls", "--db-path", str(db), "--since", "1h", "--format", "json")
    assert a.returncode == 0 and a.stdout == b.stdout and b'"read"' in a.stdout


def test_a_cut_answer_says_so(tmp_path):
    """`syscalls` stops at --limit (20) rows: it says so, on stderr; an uncut one does not."""
    import time as _time

    from kernelsight.query import synthetic as _syn

    db = tmp_path / "ks.db"
    now = _time.time_ns()
    _syn.write_events(db, [{"type": "syscall", "timestamp": now - i * 10**9, "host": "h", "pid": 1,
                            "syscall_name": "read", "latency_ns": 20_000_000} for i in range(25)])
    p = run_ks("ks-query", "syscalls", "--db-path", str(db), "-f", "json")
    assert p.returncode == 0 and len(p.stdout.splitlines()) == 20
    assert b"the first 20 rows; more may match" in p.stderr
    p = run_ks("ks-query", "syscalls", "--db-path", str(db), "-f", "json", "--limit", "30")
    assert len(p.stdout.splitlines()) == 25 and p.stderr == b""
