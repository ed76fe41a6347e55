"""ks-hist: golden blocks of recorded streams, row counts against the collectors' own
counts, and a live ks-sched pipeline."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess

import orjson
import pytest

from conftest import ks, needs_root, run_ks

STREAMS = pathlib.Path(__file__).resolve().parent / "fixtures" / "streams"
ROW = re.compile(r"^\s*(\S+) -> (\S+) : (\d+)\s+\|")
TOTAL = re.compile(r"^count (\d+)  p50 ")
UTC = {**os.environ, "TZ": "UTC"}


def blocks(text: str) -> dict[str, list[tuple[str, str, int]]]:
    """{title: [(lo, hi, count)]}; a repeated title (one per interval) gets #n."""
    out: dict[str, list] = {}
    for chunk in text.strip().split("\n\n"):
        title, *lines = chunk.splitlines()
        if not lines:       # a heading: an interval's time, or "all N blocks"
            continue
        name, n = title, 1
        while name in out:
            n += 1
            name = f"{title} #{n}"
        out[name] = [(m[1], m[2], int(m[3])) for m in map(ROW.match, lines) if m]
    return out


def events(name: str) -> list[dict]:
    out = []
    for line in (STREAMS / name).read_bytes().splitlines():
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            pass
    return out


@pytest.mark.parametrize("stream, args, golden", [
    ("sched.ndjson", (), "sched.intervals.txt"),
    ("sched.ndjson", ("--total",), "sched.hist.txt"),
    ("sched.ndjson", ("--linear", "--top", "1", "-w", "20", "--total"), "sched.linear.txt"),
    ("iolat.ndjson", ("-i", "1", "--msecs"), "iolat.msecs.txt"),
])
def test_golden(stream, args, golden):
    """Blocks per interval, headed by its time (TZ=UTC here), and all of them at the end."""
    r = run_ks("ks-hist", *args, input=(STREAMS / stream).read_bytes(), env=UTC)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == (STREAMS / golden).read_text()


def test_rows_add_up_to_the_collectors_counts():
    """Each key's rows sum to the sum of the events' own `count` (the kernel's)."""
    evs = [e for e in events("sched.ndjson") if e["type"] == "runqlat"]
    out = run_ks("ks-hist", "--total", input=(STREAMS / "sched.ndjson").read_bytes(),
                 check=True).stdout.decode()
    got = blocks(out)
    assert set(got) == {f"runqlat cpu={c}" for c in {e["cpu"] for e in evs}}
    for title, rows in got.items():
        cpu = int(title.split("=")[1])
        assert sum(c for *_, c in rows) == sum(e["count"] for e in evs if e["cpu"] == cpu)
    # log2 rows are powers of two, contiguous: 4 -> 7, 8 -> 15, ...
    for rows in got.values():
        for lo, hi, _ in rows:
            assert int(hi) == 2 * int(lo) - 1 or (lo, hi) == ("0", "1")


def test_log2_rows_hold_each_sample_exactly():
    """Every bucket's whole range lies inside the row it is counted in."""
    from kernelsight.ingest import histogram
    from kernelsight.query import hist

    h = {i: 1 for i in range(0, histogram.OVERFLOW)}
    rows = hist.log2_rows(h)
    assert sum(c for *_, c in rows) == len(h)
    for i in h:
        v_lo, v_hi = int(histogram.lower(i)), int(histogram.upper(i)) - 1
        (row,) = [r for r in rows if r[0] <= v_lo <= r[1]]
        assert row[0] <= v_hi <= row[1]


def test_bad_lines_counted_not_fatal():
    r = run_ks("ks-hist", input=(STREAMS / "iolat.ndjson").read_bytes())
    err = r.stderr.decode()
    assert r.returncode == 0
    assert "1 line(s) not JSON, skipped (first: line 2)" in err
    assert "1 event(s) without a histogram" in err


def test_unicode_only_on_a_terminal(monkeypatch):
    from kernelsight.query import hist

    h = {40: 8, 41: 3}
    assert "█" in hist.block("k", h, unicode=True) and "*" not in hist.block("k", h, unicode=True)
    assert hist.block("k", h).isascii()
    assert "\x1b[" in hist.block("k", h, colour=True) and "\x1b[" not in hist.block("k", h)


def test_top_keeps_the_busiest_keys():
    out = run_ks("ks-hist", "--top", "1", input=(STREAMS / "sched.ndjson").read_bytes(), check=True).stdout.decode()
    assert list(blocks(out)) == ["runqlat cpu=-1"] + [f"runqlat cpu=-1 #{n}" for n in (2, 3, 4)]


@needs_root
def test_live_one_block_per_interval(tmp_path):
    """ks-sched -i 1 --count 3 | tee | ks-hist: a whole-machine block per interval, each
    summing to the count of the interval's event (which tee kept), then all of them."""
    rec = tmp_path / "rec.ndjson"
    sched = subprocess.Popen([ks("ks-sched"), "-i", "1", "--count", "3"], stdout=subprocess.PIPE)
    tee = subprocess.Popen(["tee", str(rec)], stdin=sched.stdout, stdout=subprocess.PIPE)
    sched.stdout.close()
    out, _ = subprocess.Popen([ks("ks-hist")], stdin=tee.stdout,
                              stdout=subprocess.PIPE).communicate(timeout=30)
    assert sched.wait(10) == 0 and tee.wait(10) == 0
    whole = [e["count"] for e in map(orjson.loads, rec.read_bytes().splitlines()) if e.get("cpu") == -1]
    got = [sum(c for *_, c in rows) for t, rows in blocks(out.decode()).items()
           if t.startswith("runqlat cpu=-1")]
    assert len(whole) == 3
    per_interval = [n for n in whole if n]
    assert got == per_interval + ([sum(whole)] if len(per_interval) > 1 else [])


def test_malformed_histograms_counted():
    lines = b'{"type":"runqlat","cpu":0,"buckets":"nope"}\n{"type":["x"]}\n{"type":"runqlat","cpu":0,"buckets":[[40,2]]}\n'
    r = run_ks("ks-hist", input=lines)
    assert r.returncode == 0, r.stderr
    assert "1 event(s) with a malformed histogram" in r.stderr.decode()
    assert "1 event(s) without a histogram" in r.stderr.decode()
    assert [c for *_, c in blocks(r.stdout.decode())["runqlat cpu=0"]] == [2]


def _read_until(p: subprocess.Popen, text: bytes, timeout: float = 10) -> bytes:
    """What p printed, read as it comes until `text` is in it (or the time is up)."""
    import select
    import time

    got, end = b"", time.monotonic() + timeout
    while text not in got and time.monotonic() < end:
        if select.select([p.stdout], [], [], 0.1)[0]:
            got += os.read(p.stdout.fileno(), 1 << 16)
    return got


def test_each_block_printed_when_its_interval_has_come():
    """A live pipe: an interval's block appears as soon as its lines have come, before
    the next interval's; Ctrl-C then prints all of them and exits 130 (as runqlat)."""
    import signal

    lines = (STREAMS / "sched.ndjson").read_bytes().splitlines(keepends=True)
    intervals = [lines[i:i + 3] for i in range(0, 9, 3)]     # cpu -1, 0 and 1 of one time
    golden = (STREAMS / "sched.intervals.txt").read_text()
    p = subprocess.Popen([ks("ks-hist")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=UTC)
    try:
        shown = b""
        for n, interval in enumerate(intervals, 1):
            p.stdin.write(b"".join(interval))
            p.stdin.flush()
            # the n-th block is whole once the next heading (or the total) would follow
            expected = golden[:golden.index("all 3 blocks")] if n == 3 else \
                golden[:golden.index(["08:50:47", "08:50:48"][n - 1])]
            shown += _read_until(p, expected.encode()[len(shown):][-40:])
            assert shown.decode() == expected, n
        p.send_signal(signal.SIGINT)    # stdin still open: only Ctrl-C ends it
        out, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err
    assert (shown + out).decode() == golden


def test_single_samples_make_a_histogram_per_syscall():
    """ks-syscalls' events are one latency each: counted one per event, per syscall,
    each into the row holding its latency; a bad latency is counted, not fatal."""
    lat = {"read": [1500, 3000, 3999, 70_000], "fsync": [12_000_000]}
    lines = [orjson.dumps({"type": "syscall", "timestamp": 10**18 + i, "syscall_name": name,
                           "latency_ns": ns})
             for i, (name, ns) in enumerate((n, ns) for n, v in lat.items() for ns in v)]
    lines.append(b'{"type":"syscall","timestamp":1,"syscall_name":"read","latency_ns":-5}')
    lines.append(b'{"type":"page_fault","timestamp":2,"fault_type":"major","latency_ns":2500000}')
    r = run_ks("ks-hist", "--total", input=b"\n".join(lines) + b"\n", check=True)
    got = {t: [(lo, hi, c) for lo, hi, c in rows if c] for t, rows in blocks(r.stdout.decode()).items()}
    assert got == {"syscall syscall_name=read": [("0", "1", 1), ("2", "3", 2), ("64", "127", 1)],
                   "syscall syscall_name=fsync": [("8192", "16383", 1)],
                   "page_fault fault_type=major": [("2048", "4095", 1)]}
    assert "1 event(s) with a malformed histogram" in r.stderr.decode()
