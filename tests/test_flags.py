"""The command line is the same in every ks command: --version everywhere, a short
option letter means one thing across all of them (the old spellings that moved still
work, with a note), a --pid that names no process is exit 2 in every collector, and
the collectors take bcc's positional INTERVAL [COUNT]."""

from __future__ import annotations

import collections
import os
import importlib
import subprocess
import tomllib
from importlib.metadata import version

import orjson
import pytest
import typer

from conftest import REPO, collector_events, ks, run_ks

SCRIPTS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
# ks, the umbrella, has no options of its own but -h and --version (test_umbrella.py)
TYPER_SCRIPTS = {k: v for k, v in SCRIPTS.items() if k != "ks"}
PID_COLLECTORS = ["ks-sched", "ks-syscalls", "ks-pagefaults", "ks-perf"]
# Long options that are one meaning under two names: "at most N".
SAME = {"--top": "--limit"}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_version_everywhere(name):
    r = run_ks(name, "--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == f"{name} (kernelsight) {version('kernelsight')}"


def _commands():
    """(script, click command) of every console script, ks-query's subcommands each."""
    for name, target in TYPER_SCRIPTS.items():
        module, attr = target.split(":")
        mod = importlib.import_module(module)
        if name == "ks-query":
            group = typer.main.get_command(mod.build_app())
            yield name, group
            yield from ((name, sub) for sub in group.commands.values())
        elif name == "ks-hist":
            app = typer.Typer()
            app.command()(mod.command)
            yield name, typer.main.get_command(app)
        else:
            app = getattr(mod, "app", None) or getattr(mod, attr)
            yield name, typer.main.get_command(app)


def test_a_short_option_means_one_thing_in_every_command():
    meaning = collections.defaultdict(set)
    for name, cmd in _commands():
        for p in cmd.params:
            if p.param_type_name == "option":   # typer carries its own click
                long = next((o for o in p.opts if o.startswith("--")), p.opts[0])
                for short in (o for o in p.opts + p.secondary_opts if len(o) == 2):
                    meaning[short].add((SAME.get(long, long), name))
    two = {s: sorted(u) for s, u in meaning.items() if len({long for long, _ in u}) > 1}
    assert not two, two
    assert ("--duration", "ks-sched") in meaning["-d"]


def test_moved_short_options_still_work_with_a_note(tmp_path):
    from kernelsight.query import synthetic

    db = tmp_path / "ks.db"
    synthetic.write_events(db, synthetic.scenario(10**18, 60).events)
    old = run_ks("ks-query", "tables", "-d", str(db), "-f", "json")
    new = run_ks("ks-query", "tables", "--db-path", str(db), "-f", "json")
    assert old.returncode == new.returncode == 0, old.stderr
    assert [r["rows"] for r in map(orjson.loads, old.stdout.splitlines())] == \
        [r["rows"] for r in map(orjson.loads, new.stdout.splitlines())]
    assert b"-d is deprecated" in old.stderr and b"--db-path" in old.stderr and not new.stderr
    hist = run_ks("ks-hist", "-m", input=b"")
    assert hist.returncode == 0 and b"use --msecs" in hist.stderr


def _vanished_pid() -> int:
    """The pid of a process that has been reaped: no process has it now."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


@pytest.mark.parametrize("tool", PID_COLLECTORS)
def test_a_pid_that_does_not_exist_is_exit_2_everywhere(tool):
    pid = _vanished_pid()
    r = run_ks(tool, "--pid", str(pid), "--count", "1", timeout=30)
    err = r.stderr.decode().strip()
    assert r.returncode == 2, err
    assert err.splitlines() == [err] and f"--pid {pid}: no such process" in err, err
    assert r.stdout == b""


def test_bcc_positional_interval_and_count():
    # ks-procfs needs no root: its samples are the intervals, one timestamp each
    stamps = {e["timestamp"] for e in collector_events(run_ks("ks-procfs", "0.2", "3", check=True).stdout)}
    assert len(stamps) == 3
    assert len({e["timestamp"] for e in collector_events(
        run_ks("ks-procfs", "0.2", "--count", "2", check=True).stdout)}) == 2
    for bad, says in ((["0.2", "2.5"], b"whole number"), (["0.2", "2", "3"], b"at most two"),
                      (["0.2", "-i", "3"], b"given twice"), (["0.2", "2", "-c", "2"], b"given twice")):
        r = run_ks("ks-procfs", *bad)
        assert r.returncode == 2 and says in r.stderr and r.stdout == b"", (bad, r.stderr)


@pytest.mark.parametrize("name", sorted(TYPER_SCRIPTS))
def test_shell_completion_answers(name):
    # what the script of `NAME --install-completion` asks (typer's protocol, bash flavour)
    var = "_" + name.upper().replace("-", "_") + "_COMPLETE"
    env = {**os.environ, var: "complete_bash", "COMP_WORDS": f"{name} --vers", "COMP_CWORD": "1"}
    r = subprocess.run([ks(name)], env=env, capture_output=True, timeout=30)
    assert r.returncode == 0 and r.stdout.split() == [b"--version"], (r.stdout, r.stderr)
