"""The collector runtime: whole-line atomic writes, quiet exits, the interval loop."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import orjson

from kernelsight.collectors.runtime import PIPE_BUF, Emitter, RunOptions, Runner

WRITER = textwrap.dedent("""
    import sys
    from kernelsight.collectors.runtime import Emitter, RunOptions, Runner, main_guard
    n, pad = int(sys.argv[1]), int(sys.argv[2])
    em = Emitter()
    def sample():
        for i in range(n):
            em.emit("test", {"i": i, "pad": "x" * pad, "who": sys.argv[3]})
    def body():
        Runner(RunOptions(interval=0.01, count=int(sys.argv[4])), em).run(sample)
    sys.exit(main_guard(body))
""")


def _writer(*args):
    return [sys.executable, "-c", WRITER, *map(str, args)]


def test_two_writers_into_one_pipe_never_interleave_a_line():
    r, w = os.pipe()
    procs = [subprocess.Popen(_writer(300, 700, who, 20), stdout=w) for who in "ab"]
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    os.close(r)
    for p in procs:
        assert p.wait() == 0
    lines = data.splitlines()
    assert len(lines) == 2 * 300 * 20
    events = [orjson.loads(line) for line in lines]  # every line parses whole
    assert {e["who"] for e in events} == {"a", "b"}


def test_closed_pipe_ends_quietly():
    p = subprocess.Popen(_writer(10, 10, "a", 100000), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.readline()
    p.stdout.close()
    assert p.wait(timeout=10) == 0
    assert json.loads(first)["type"] == "test"
    assert p.stderr.read() == b""


def test_sigterm_ends_quietly_with_the_partial_interval():
    p = subprocess.Popen(_writer(1, 1, "a", 10**9), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.readline()
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=10)
    assert p.returncode == 0 and err == b""


def test_emitter_packs_whole_lines_into_pipe_buf_writes(tmp_path):
    r, w = os.pipe()
    em = Emitter(fd=w, host="h")
    for i in range(100):
        em.emit("t", {"i": i, "pad": "y" * 100}, timestamp=1)
    em.flush()
    os.close(w)
    data = os.read(r, 1 << 20)
    lines = data.splitlines()
    assert len(lines) == 100
    assert orjson.loads(lines[0]) == {"type": "t", "timestamp": 1, "host": "h", "i": 0, "pad": "y" * 100}
    assert PIPE_BUF == 4096


def test_runner_duration_reports_the_partial_last_interval():
    calls = []
    em = Emitter(fd=os.open(os.devnull, os.O_WRONLY))
    start = time.monotonic()
    Runner(RunOptions(interval=5, duration=0.3), em).run(lambda: calls.append(time.monotonic()))
    assert len(calls) == 1 and calls[0] - start >= 0.3


def test_runner_count_samples_exactly_n_intervals():
    calls = []
    em = Emitter(fd=os.open(os.devnull, os.O_WRONLY))
    Runner(RunOptions(interval=0.02, count=5), em).run(lambda: calls.append(1))
    assert len(calls) == 5


def test_closed_pipe_ends_the_run_before_the_next_flush():
    # A long interval: the run must notice the reader left without waiting to write.
    code = WRITER.replace("interval=0.01", "interval=30")
    p = subprocess.Popen([sys.executable, "-c", code, "1", "1", "a", "5"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)
    p.stdout.close()
    assert p.wait(timeout=5) == 0  # well before the first 30 s interval ends
    assert p.stderr.read() == b""
