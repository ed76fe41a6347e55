"""Hostile input that ks-ingest used to accept and every reader then choked on
(issue 17): bad histograms, negative counts, schema from the future, \\r line ends."""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time

import pytest

from conftest import as_nobody, is_root, rows, run_ks

# Not on a minute's first 0.1 s: the readers' window below starts 0.1 s before it.
NOW = max(time.time_ns(), time.time_ns() // 60_000_000_000 * 60_000_000_000 + 10**8)
BAD_BUCKETS = ['"garbage"', '[["a",1]]', "[[5]]", '[[5,"x"]]', "[[5,-3]]", "[[99999,1]]", '"[[1,2"']


def rtt(buckets: str, **extra) -> bytes:
    fields = "".join(f',"{k}":{v}' for k, v in extra.items())
    return f'{{"type":"rtt","timestamp":{NOW},"node":"n","buckets":{buckets}{fields}}}'.encode()


GOOD = rtt("[[40,10]]", count=10, sum_us=400)


@pytest.mark.parametrize("buckets", BAD_BUCKETS)
def test_bad_histogram_is_rejected_at_ingest_with_its_reason(db_path, tmp_path, buckets):
    rej = tmp_path / "rej.ndjson"
    r = run_ks("ks-ingest", "--db-path", str(db_path), "--reject-file", str(rej),
               input=GOOD + b"\n" + rtt(buckets) + b"\n")
    assert r.returncode == 0, r.stderr
    kept = [json.loads(x) for x in rej.read_bytes().splitlines()]
    assert [k["line"] for k in kept] == [2]
    assert "buckets" in kept[0]["reason"]
    assert len(rows(db_path, "SELECT * FROM rtt_stats")) == 1


@pytest.mark.parametrize("reader", [("ks-promexport",), ("ks-query", "rtt"), ("ks-query", "summary")])
def test_readers_skip_count_and_say_a_bad_stored_histogram(db_path, reader):
    assert run_ks("ks-ingest", "--db-path", str(db_path), input=GOOD + b"\n").returncode == 0
    conn = sqlite3.connect(db_path)   # written behind ks-ingest's back, as an old version could
    with conn:
        conn.execute("INSERT INTO rtt_stats (timestamp, host, node, buckets) "
                     "SELECT timestamp + 1, host, node, 'garbage' FROM rtt_stats")
    conn.close()
    # A window that starts inside the rows' minute, so ks-query reads the raw rows: a
    # whole minute comes from the rollup, which never took the bad value (schema.py).
    since = [] if reader[0] == "ks-promexport" else ["--since", f"{(NOW - 10**8) / 1e9:.3f}"]
    r = run_ks(*reader, "--db-path", str(db_path), *since)
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert "of stored histogram values" in err and "'garbage'" in err, err
    if reader == ("ks-query", "rtt"):
        assert "10" in r.stdout.decode()   # the good row's samples still count


def test_negative_counts_and_latencies_are_rejected(db_path, tmp_path):
    rej = tmp_path / "rej.ndjson"
    lines = [GOOD, rtt("[[40,1]]", retrans_count=-50), rtt("[[40,1]]", count=-1),
             f'{{"type":"syscall","timestamp":{NOW},"pid":1,"latency_ns":-5}}'.encode(),
             f'{{"type":"io_latency","timestamp":{NOW},"device":"vda","read_bytes":-1}}'.encode(),
             # a negative value where the registry allows one stays accepted
             f'{{"type":"syscall","timestamp":{NOW},"pid":1,"latency_ns":5,"ret_value":-2}}'.encode()]
    r = run_ks("ks-ingest", "--db-path", str(db_path), "--reject-file", str(rej),
               input=b"\n".join(lines) + b"\n")
    assert r.returncode == 0, r.stderr
    kept = {k["line"]: k["reason"] for k in map(json.loads, rej.read_bytes().splitlines())}
    assert sorted(kept) == [2, 3, 4, 5]
    for lineno, col in ((2, "retrans_count"), (3, "count"), (4, "latency_ns"), (5, "read_bytes")):
        assert col in kept[lineno] and "negative" in kept[lineno]
    assert rows(db_path, "SELECT ret_value FROM syscall_events")[0][0] == -2


def test_cr_only_and_crlf_line_ends_split_lines(db_path):
    lines = [rtt("[[40,1]]", count=1, sum_us=i) for i in range(3)]
    data = lines[0] + b"\r" + lines[1] + b"\r\n" + lines[2] + b"\r"
    r = run_ks("ks-ingest", "--db-path", str(db_path), input=data)
    assert r.returncode == 0, r.stderr
    assert " 0 rejected, 0 unknown" in r.stderr.decode()
    assert [x[0] for x in rows(db_path, "SELECT sum_us FROM rtt_stats ORDER BY sum_us")] == [0, 1, 2]


def _future(db_path):
    assert run_ks("ks-ingest", "--db-path", str(db_path), input=GOOD + b"\n").returncode == 0
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("UPDATE schema_version SET version = 99")
    conn.close()


def test_ingest_refuses_a_schema_from_the_future(db_path):
    _future(db_path)
    r = run_ks("ks-ingest", "--db-path", str(db_path), input=GOOD + b"\n")
    err = r.stderr.decode()
    assert r.returncode != 0
    assert "99" in err and "upgrade" in err, err
    assert "Traceback" not in err
    assert rows(db_path, "SELECT count(*) FROM rtt_stats")[0][0] == 1


def test_query_reads_a_schema_from_the_future_with_a_warning(db_path):
    _future(db_path)
    r = run_ks("ks-query", "summary", "--db-path", str(db_path))
    assert r.returncode == 0, r.stderr
    assert "99" in r.stderr.decode() and "newer" in r.stderr.decode()


def test_an_unprivileged_reader_reads_a_root_owned_database():
    if not is_root:
        pytest.skip("needs root to make a file nobody cannot write")
    with tempfile.TemporaryDirectory(dir="/tmp") as d:   # pytest's tmp is root's only
        os.chmod(d, 0o755)     # nobody may read the file, not create the -shm beside it
        db = os.path.join(d, "ks.db")
        assert run_ks("ks-ingest", "--db-path", db, input=GOOD + b"\n").returncode == 0
        r = as_nobody("ks-query", "rtt", "--db-path", db, "-f", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[0])["samples"] == 10
    assert "read-only" in r.stderr.decode()


def test_a_timestamp_in_the_future_is_stored_and_said(db_path):
    ahead = NOW + 3600 * 10**9
    later = f'{{"type":"rtt","timestamp":{ahead},"node":"n","buckets":[[40,1]]}}'.encode()
    r = run_ks("ks-ingest", "--db-path", str(db_path), input=GOOD + b"\n" + later + b"\n")
    assert r.returncode == 0, r.stderr
    assert "1 timestamp(s) more than 60 s in the future" in r.stderr.decode()
    assert [x[0] for x in rows(db_path, "SELECT timestamp FROM rtt_stats ORDER BY timestamp")] == [NOW, ahead]
