"""`ks NAME ...` is `ks-NAME ...`: the same help, output and exit status, for every command."""

from __future__ import annotations

import subprocess
import tomllib

import pytest

from conftest import REPO, collector_events, run_ks
from kernelsight.ingest.umbrella import COMMANDS

SCRIPTS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]


def test_every_command_is_under_ks_and_nothing_else():
    assert {f"ks-{name}": target for name, (target, _) in COMMANDS.items()} == \
        {s: t for s, t in SCRIPTS.items() if s != "ks"}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_ks_name_help_is_ks_dash_name_help(name):
    via, direct = run_ks("ks", name, "--help"), run_ks(f"ks-{name}", "--help")
    assert via.returncode == direct.returncode == 0, via.stderr
    assert via.stdout == direct.stdout and via.stdout.startswith(f"Usage: ks-{name}".encode())


def test_ks_lists_the_commands_and_refuses_others():
    listing = run_ks("ks", "-h")
    assert listing.returncode == 0
    for name in COMMANDS:
        assert f"\n  {name} ".encode() in listing.stdout
    bare = run_ks("ks")
    assert bare.returncode == 2 and bare.stdout == b"" and b"Usage: ks COMMAND" in bare.stderr
    wrong = run_ks("ks", "rtx")
    assert wrong.returncode == 2 and len(wrong.stderr.splitlines()) == 1 and b"'rtx'" in wrong.stderr


def test_output_and_exit_status_are_the_commands():
    events = collector_events(run_ks("ks", "procfs", "0.1", "1", check=True).stdout)
    assert {e["type"] for e in events} == {e["type"] for e in collector_events(
        run_ks("ks-procfs", "0.1", "1", check=True).stdout)}
    p = subprocess.Popen(["true"])
    p.wait()
    gone = run_ks("ks", "sched", "--pid", str(p.pid))
    assert gone.returncode == 2 and gone.stderr.startswith(b"ks-sched: error: --pid")
