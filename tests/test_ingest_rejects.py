"""The reject file keeps each rejected line byte for byte, and --replay-rejects feeds
those exact lines through ks-ingest again: a reject is never lost, nor changed."""

from __future__ import annotations

import base64

import orjson

from conftest import rows, run_ks

GOOD = b'{"type":"load","timestamp":1796237712860381713,"host":"h","load_1min":0.25}'
NOT_UTF8 = b"\xff\xfe not text"
TEXT_LOOKALIKE = b"not json \\xff"          # the four characters \xff, valid UTF-8
BAD_FIELD = b'{"type":"load","timestamp":"x","host":"h"}'


def records(path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def original_bytes(record: dict) -> bytes:
    if "raw_base64" in record:
        return base64.b64decode(record["raw_base64"])
    return record["raw"].encode()


def ingest_with_rejects(tmp_path):
    src = tmp_path / "in.ndjson"
    src.write_bytes(b"\n".join([GOOD, NOT_UTF8, TEXT_LOOKALIKE, BAD_FIELD, b""]) + b"\n")
    rej = tmp_path / "rej.ndjson"
    r = run_ks("ks-ingest", "--db-path", str(tmp_path / "a.db"), "--reject-file", str(rej),
               str(src))
    assert r.returncode == 0, r.stderr
    return rej


def test_each_reject_keeps_the_exact_bytes_of_its_line(tmp_path):
    got = records(ingest_with_rejects(tmp_path))
    assert [(g["source"].rsplit("/", 1)[-1], g["line"]) for g in got] == \
        [("in.ndjson", 2), ("in.ndjson", 3), ("in.ndjson", 4)]
    assert [original_bytes(g) for g in got] == [NOT_UTF8, TEXT_LOOKALIKE, BAD_FIELD]
    # Only the line that is not UTF-8 needs base64; the look-alike text is kept as text.
    assert ["raw_base64" in g for g in got] == [True, False, False]
    assert got[0]["raw"] != got[1]["raw"]


def test_replayed_rejects_are_rejected_again_with_their_origin(tmp_path):
    rej = ingest_with_rejects(tmp_path)
    again = tmp_path / "again.ndjson"
    r = run_ks("ks-ingest", "--db-path", str(tmp_path / "b.db"), "--replay-rejects", str(rej),
               "--reject-file", str(again))
    assert r.returncode == 0, r.stderr
    assert records(again) == records(rej)
    assert b"(replayed from " in r.stderr and b"3 rejected" in r.stderr


def test_a_fixed_reject_file_lands_its_rows(tmp_path):
    rej = ingest_with_rejects(tmp_path)
    fixed = [dict(g, raw=g["raw"].replace('"x"', '1796237712860381713,"load_1min":0.5'))
             for g in records(rej) if "timestamp" in g["raw"]]
    path = tmp_path / "fixed.ndjson"
    path.write_bytes(b"".join(orjson.dumps(g) + b"\n" for g in fixed))
    db = tmp_path / "c.db"
    r = run_ks("ks-ingest", "--db-path", str(db), "--replay-rejects", str(path))
    assert r.returncode == 0 and b"0 rejected" in r.stderr, r.stderr
    assert [tuple(x) for x in rows(db, "SELECT timestamp, load_1min FROM load_metrics")] == \
        [(1796237712860381713, 0.5)]


def test_a_file_of_no_reject_records_is_counted_and_refused(tmp_path):
    path = tmp_path / "other.ndjson"
    path.write_bytes(GOOD + b"\n" + b'{"x":1}\n')
    db = tmp_path / "d.db"
    r = run_ks("ks-ingest", "--db-path", str(db), "--replay-rejects", str(path))
    assert r.returncode == 2 and b"Traceback" not in r.stderr, r.stderr
    assert b"2 of 2 lines are no reject record" in r.stderr
    assert rows(db, "SELECT count(*) AS n FROM load_metrics")[0]["n"] == 0
