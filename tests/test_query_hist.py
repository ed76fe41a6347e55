"""ks-query runqlat|io|pagefaults --hist: the window's merged buckets (raw rows and
per-minute rollups), each row's count exact against a data set built by hand."""

from __future__ import annotations

import orjson

from conftest import run_ks
from test_hist import blocks

T0 = 1_796_000_040 * 10**9  # a whole minute, so the window spans whole and partial minutes
N = 13                      # events, 20 s apart: four minutes, the last one partial


def _stream(make) -> bytes:
    return b"".join(orjson.dumps(make(T0 + i * 20 * 10**9, i)) + b"\n" for i in range(N))


def _ingest(db, data: bytes):
    r = run_ks("ks-ingest", "--db-path", str(db), input=data)
    assert r.returncode == 0, r.stderr


def _hist(db, *args):
    r = run_ks("ks-query", *args, "--hist", "--db-path", str(db), "--since", str(T0 // 10**9 - 60),
               "--until", str(T0 // 10**9 + 3600))
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


# Buckets 5, 40 and 200 hold 5 us, [48, 50) us and [49152, 53248) us (ingest/histogram.py):
# the log2 rows 4 -> 7, 32 -> 63 and 32768 -> 65535.
BUCKETS = [[5, 1], [40, 2], [200, 3]]


def test_runqlat_hist_rows_exact(db_path):
    data = _stream(lambda ts, i: {"type": "runqlat", "timestamp": ts, "host": "h", "interval_ns": 20 * 10**9,
                                  "cpu": -1, "sum_us": 1.0, "count": 6, "buckets": BUCKETS})
    _ingest(db_path, data)
    out = _hist(db_path, "runqlat")
    rows = {f"{lo} -> {hi}": c for lo, hi, c in blocks(out)["runqlat cpu=-1"]}
    assert rows["4 -> 7"] == N and rows["32 -> 63"] == 2 * N and rows["32768 -> 65535"] == 3 * N
    assert sum(rows.values()) == 6 * N
    assert f"count {6 * N}  " in out
    # the database answers what ks-hist says of the stream itself
    assert out.strip() == run_ks("ks-hist", "--total", input=data, check=True).stdout.decode().strip()


def test_io_hist_per_device_and_op(db_path):
    def ev(ts, i):
        return {"type": "io_latency", "timestamp": ts, "host": "h", "device": "vd" + "ab"[i % 2],
                "interval_ns": 20 * 10**9, "read_buckets": BUCKETS, "write_buckets": [[5, 4]]}
    _ingest(db_path, _stream(ev))
    got = blocks(_hist(db_path, "io"))
    na, nb = (N + 1) // 2, N // 2
    assert got["io_latency device=vda op=write"] == [("4", "7", 4 * na)]
    assert [c for *_, c in got["io_latency device=vdb op=read"] if c] == [nb, 2 * nb, 3 * nb]
    only = blocks(_hist(db_path, "io", "--device", "vdb"))
    assert set(only) == {"io_latency device=vdb op=read", "io_latency device=vdb op=write"}


def test_pagefaults_hist_per_process(db_path):
    def ev(ts, i):
        return {"type": "page_fault_stats", "timestamp": ts, "host": "h", "interval_ns": 20 * 10**9,
                "pid": 7, "comm": "x", "minor_count": 6, "count": 6, "buckets": BUCKETS}
    _ingest(db_path, _stream(ev))
    got = blocks(_hist(db_path, "pagefaults", "--pid", "7"))
    assert sum(c for *_, c in got["page_fault_stats pid=7 comm=x"]) == 6 * N


def test_hist_nothing_in_the_window(db_path):
    _ingest(db_path, _stream(lambda ts, i: {"type": "runqlat", "timestamp": ts, "host": "h", "cpu": -1,
                                            "buckets": BUCKETS}))
    r = run_ks("ks-query", "rtt", "--hist", "--db-path", str(db_path), "--since", str(T0 // 10**9))
    assert r.stdout == b"" and b"no rtt histograms" in r.stderr


def test_hist_as_json_rows_that_ks_hist_reads_back(db_path):
    """--hist -f json: one event-shaped row per key with its merged buckets and counts;
    piped into ks-hist it prints the blocks --hist prints itself."""
    def ev(ts, i):
        return {"type": "io_latency", "timestamp": ts, "host": "h", "device": "vd" + "ab"[i % 2],
                "interval_ns": 20 * 10**9, "read_buckets": BUCKETS, "write_buckets": [[5, 4]]}
    _ingest(db_path, _stream(ev))
    rows = [orjson.loads(line) for line in _hist(db_path, "io", "-f", "json").splitlines()]
    na, nb = (N + 1) // 2, N // 2
    by_device = {r["device"]: r for r in rows}
    assert set(by_device) == {"vda", "vdb"} and all(r["type"] == "io_latency" for r in rows)
    assert by_device["vda"]["read_buckets"] == [[b, c * na] for b, c in BUCKETS]
    assert (by_device["vda"]["read_count"], by_device["vdb"]["write_count"]) == (6 * na, 4 * nb)
    assert by_device["vda"]["timestamp_ns"] == T0
    text = "\n".join(orjson.dumps(r).decode() for r in rows)
    again = run_ks("ks-hist", "--total", input=text, check=True).stdout.decode()
    assert again.strip() == _hist(db_path, "io").strip()
