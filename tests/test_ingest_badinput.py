"""Bad input never stops ks-ingest, never garbles the lines after it, and never
disappears: each bad line is counted, told on stderr with its line number and kept in
the reject file; each valid object of an unknown type lands in unknown_events."""

from __future__ import annotations

import json
import pathlib
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import rows, run_ks

from kernelsight.ingest import events as ev
from kernelsight.ingest.parse import Parser, Rejected, Unknown

TS = 1795455835925270528
MB = 1 << 20


def good(i: int) -> bytes:
    return json.dumps({"type": "load", "timestamp": TS + i, "load_1min": 0.5, "last_pid": i}).encode()


def syscall(**fields) -> bytes:
    e = {"type": "syscall", "timestamp": TS, "pid": 1, "latency_ns": 5}
    e.update(fields)
    return json.dumps(e).encode()


# (bad line, words its reason must contain)
BAD = [
    (b"}", "invalid JSON"),
    (b"[1,2,3]", "not a JSON object"),
    (b'"just a string"', "not a JSON object"),
    (b"42", "not a JSON object"),
    (b"null", "not a JSON object"),
    (b'{"type":"load","timestamp":', "invalid JSON"),
    (b'{"type":"load","timestamp":1795455835925270528,"load_1min":NaN}', "invalid JSON"),
    (b'{"type":"load","timestamp":1795455835925270528,"load_1min":Infinity}', "invalid JSON"),
    (b'{"type":"load","timestamp":1795455835925270528,"load_1min":1e999}', "invalid JSON"),
    (b'{"type":"load","comm":"\xff\xfe"}', "UTF-8"),
    (b"\xc3\x28\xa0\xa1", "UTF-8"),
    (b'{"type":"load","load_1min":1}', "timestamp"),
    (b'{"type":"load","timestamp":1795455835925270528}', "load_1min"),
    (b'{"type":"load","timestamp":"yesterday","load_1min":1}', "timestamp must be an integer"),
    (b'{"type":"load","timestamp":1.5e18,"load_1min":1}', "timestamp must be an integer"),
    (b'{"type":"load","timestamp":-5,"load_1min":1}', "negative"),
    (syscall(pid="one"), "pid must be an integer"),
    (syscall(pid=[1]), "pid must be an integer"),
    (syscall(pid=None), "missing required field 'pid'"),
    (syscall(comm={"a": 1}), "comm must be a string"),
    (syscall(latency_ns=2**63), "out of SQLite's 64-bit integer range"),
    (syscall(latency_ns=2**64 - 1), "out of SQLite's 64-bit integer range"),
    (syscall(pid=-(2**63) - 1), "64-bit integer range"),   # orjson reads it as a float
    (syscall(latency_ns=10**30), "64-bit integer range"),
    (syscall(arg0=2**64), "64-bit integer range"),
    (b'{"type":"memory","data":{"mem_total_kb":"lots"},"timestamp":1795455835925270528}', "mem_total_kb"),
    (b"{" + b'"a":' * 3 + b"1}", "invalid JSON"),
    (b"[" * 2000 + b"]" * 2000, "invalid JSON"),
]


def test_bad_input_corpus_is_counted_reported_and_kept(db_path, tmp_path):
    lines, expect = [], {}
    for i, (bad, why) in enumerate(BAD):
        lines.append(good(i))
        lines.append(bad.replace(b"\n", b" "))
        expect[len(lines)] = why
    huge = b'{"type":"load","timestamp":1795455835925270528,"load_1min":1,"x":"' + b"a" * (3 * MB) + b'"}'
    lines += [good(1000), huge, good(1001)]
    expect[len(lines) - 1] = "longer than the limit"
    lines += [b"", b"   ", good(1002), b'{"type":"martian","timestamp":1}', b'{"no":"type"}',
              b'{"type":[1],"timestamp":1}', b'{"type":{"a":1}}', b'{"type":5}', good(1003)]
    rej = tmp_path / "rej.ndjson"
    r = run_ks("ks-ingest", "--db-path", str(db_path), "--reject-file", str(rej),
               input=b"\n".join(lines) + b"\n")
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert "Traceback" not in err
    kept = {k["line"]: k for k in map(json.loads, rej.read_bytes().split(b"\n")[:-1])}
    assert sorted(kept) == sorted(expect)
    for lineno, why in expect.items():
        assert why in kept[lineno]["reason"], (lineno, kept[lineno])
    assert kept[len(BAD) * 2 + 2]["truncated"] is True
    # every good line landed, in order, unchanged
    got = [r["last_pid"] for r in rows(db_path, "SELECT last_pid FROM load_metrics ORDER BY id")]
    assert got == list(range(len(BAD))) + [1000, 1001, 1002, 1003]
    unknown = rows(db_path, "SELECT type, reason, raw FROM unknown_events ORDER BY id")
    assert [(u["type"], json.loads(u["raw"])) for u in unknown] == [
        ("martian", {"type": "martian", "timestamp": 1}), (None, {"no": "type"}),
        (None, {"type": [1], "timestamp": 1}), (None, {"type": {"a": 1}}), (None, {"type": 5})]
    assert "unknown type 'martian'" in unknown[0]["reason"]
    assert "type is not a string" in unknown[2]["reason"]
    assert f"{len(expect)} rejected, 5 unknown, 2 blank" in err
    assert f"{len(lines)} lines read" in err
    # rate-limited: the first few one by one with their line numbers, then counted
    told = [x for x in err.splitlines() if ": rejected: " in x]
    assert 1 <= len(told) <= 10
    assert told[0].startswith("ks-ingest: line 2: rejected: invalid JSON")


def test_rejects_go_to_stderr_without_a_reject_file(db_path):
    r = run_ks("ks-ingest", "--db-path", str(db_path), input=good(1) + b"\n{bad\n" + good(2) + b"\n")
    assert r.returncode == 0
    assert "line 2: rejected: invalid JSON" in r.stderr.decode()
    assert len(rows(db_path, "SELECT * FROM load_metrics")) == 2


# ---- property: arbitrary bytes mixed with valid events --------------------------------
def valid_event(i: int):
    t = ev.TYPES[i % len(ev.TYPES)]
    e = {"type": t.name, "timestamp": TS + i, "host": "prop"}
    for c in t.columns:
        if c.required or i % 2:
            e[c.name] = {"INTEGER": i, "REAL": i + 0.25, "TEXT": f"v{i}"}[c.sql]
            if c.unit == "hist_us":
                e[c.name] = [[1, i + 1]]
    return e


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=12)
# objects that look like events: a "type" (any JSON value, or a real type name) and
# some of its columns, with values of any JSON type
event_like = st.builds(
    lambda t, fields: {"type": t, **fields},
    st.sampled_from([t.name for t in ev.TYPES] + ["sched", "pagefault", "io"]) | json_values,
    st.dictionaries(st.sampled_from(sorted({c.name for t in ev.TYPES for c in ev.columns_of(t)} | {"data"})),
                    json_values, max_size=6),
)
junk = st.one_of(
    event_like.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.text(max_size=100).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
                 lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
                 max_leaves=12).map(lambda v: json.dumps(v).encode()),
).map(lambda b: b.replace(b"\n", b" "))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.booleans(), junk, st.integers(0, 10**6)), min_size=1, max_size=60))
def test_any_bytes_mixed_with_valid_events(tmp_path, items):
    run_dir = pathlib.Path(tempfile.mkdtemp(dir=tmp_path))   # tmp_path is shared by examples
    db, rej = run_dir / "ks.db", run_dir / "rej.ndjson"
    lines, valid = [], []
    for is_valid, j, i in items:
        if is_valid:
            e = valid_event(i)
            valid.append(e)
            lines.append(json.dumps(e).encode())
        else:
            lines.append(j)
    r = run_ks("ks-ingest", "--db-path", str(db), "--reject-file", str(rej), input=b"\n".join(lines) + b"\n")
    err = r.stderr.decode()
    assert r.returncode == 0 and "Traceback" not in err, err
    # every valid event landed in its table, with its values
    for t in ev.TYPES:
        mine = sorted(e["timestamp"] for e in valid if e["type"] == t.name)
        got = sorted(x[0] for x in rows(db, f"SELECT timestamp FROM {t.table} WHERE host = 'prop'"))
        assert got == mine, t.table
    # every other line is accounted for: a row of some table, unknown, blank or rejected
    # (split on \n only: str.splitlines would also split at U+0085 and friends in "raw")
    n_rej = len(rej.read_bytes().split(b"\n")[:-1]) if rej.exists() else 0
    stored = sum(rows(db, f"SELECT count(*) FROM {t.table}")[0][0] for t in ev.TYPES)
    n_unknown = rows(db, "SELECT count(*) FROM unknown_events")[0][0]
    # the lines as ks-ingest reads them: a \r in the junk ends a line too (reader.py)
    read = (b"\n".join(lines) + b"\n").replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")[:-1]
    n_blank = sum(1 for x in read if not x.strip())
    assert stored + n_unknown + n_rej + n_blank == len(read)
    assert f"{n_rej} rejected, {n_unknown} unknown" in err


# ---- the fast path and the general path agree ------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from([TS, 12345, 0]), st.booleans(), st.text(max_size=30))
def test_fast_path_rows_equal_general_path_rows(i, ts, with_host, comm):
    e = valid_event(i)
    e["timestamp"] = ts
    if not with_host:
        del e["host"]
    if "comm" in e:
        e["comm"] = comm
    line = json.dumps(e).encode()
    p = Parser(host="here", boot_ns=10**18 + 7)
    for _ in range(2):   # the second parse uses the cached plan
        try:
            fast = p.parse(line)
        except (Rejected, Unknown) as x:
            fast = repr(x)
        try:
            general = p.parse_general(line)
        except (Rejected, Unknown) as x:
            general = repr(x)
        assert fast == general


def test_ks_line_that_is_not_plain_still_matches(db_path):
    # bool, null, big unsigned arg0: the fast path passes them on or steps aside
    line = syscall(is_error=True, tid=None, arg0=2**64 - 100)
    r = run_ks("ks-ingest", "--db-path", str(db_path), input=line + b"\n")
    assert r.returncode == 0, r.stderr
    (row,) = rows(db_path, "SELECT is_error, tid, arg0 FROM syscall_events")
    assert tuple(row) == (1, None, -100)


@pytest.mark.parametrize("size", [MB - 200, 2 * MB + 5])
def test_long_lines_near_the_limit(db_path, tmp_path, size):
    pad = b"a" * (size - 100)
    line = b'{"type":"load","timestamp":1795455835925270528,"load_1min":1,"pad":"' + pad + b'"}'
    rej = tmp_path / "r.ndjson"
    r = run_ks("ks-ingest", "--db-path", str(db_path), "--reject-file", str(rej),
               input=line + b"\n" + good(5) + b"\n")
    assert r.returncode == 0
    n = len(rows(db_path, "SELECT * FROM load_metrics"))
    if len(line) <= MB:
        assert n == 2
    else:
        assert n == 1
        (k,) = map(json.loads, rej.read_text().splitlines())
        assert k["line"] == 1 and f"{len(line)} bytes" in k["reason"]


@settings(max_examples=400, deadline=None)
@given(event_like)
def test_parser_answers_every_object_with_a_row_or_a_reason(obj):
    line = json.dumps(obj).encode()
    p = Parser(host="here", boot_ns=10**18)
    for parse in (p.parse, p.parse, p.parse_general):   # new plan, cached plan, general
        try:
            target, row = parse(line)
        except (Rejected, Unknown):
            continue
        assert len(row) == len(target.columns)
        for v in row:
            assert v is None or type(v) in (int, float, str)
