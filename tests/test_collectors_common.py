"""What every eBPF collector promises alike: the privilege error, and a --help that teaches."""

import pytest
from conftest import as_nobody, needs_root, run_ks

BPF_COLLECTORS = ["ks-rtt", "ks-syscalls", "ks-pagefaults", "ks-iolat", "ks-sched"]


@needs_root
@pytest.mark.parametrize("tool", BPF_COLLECTORS)
def test_without_privileges_one_line_and_exit_77(tool):
    r = as_nobody(tool, "--duration", "1")
    assert r.returncode == 77, r.stderr
    assert len(r.stderr.decode().strip().splitlines()) == 1, r.stderr
    assert b"CAP_BPF" in r.stderr and b"root" in r.stderr
    assert r.stdout == b""


@pytest.mark.parametrize("tool", BPF_COLLECTORS + ["ks-procfs", "ks-perf"])
def test_help_teaches_a_pipeline(tool):
    r = run_ks(tool, "--help")
    assert r.returncode == 0
    assert b"ks-ingest" in r.stdout
    assert b"--interval" in r.stdout and b"--duration" in r.stdout


@pytest.mark.parametrize("tool", BPF_COLLECTORS + ["ks-procfs", "ks-perf", "ks-ingest", "ks-query", "ks-promexport"])
def test_dash_h_is_help_everywhere(tool):
    short, long = run_ks(tool, "-h"), run_ks(tool, "--help")
    assert (short.returncode, short.stdout) == (0, long.stdout) and b"Usage:" in short.stdout, short.stderr
