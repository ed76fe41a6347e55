"""The docs name what the code has (sqlite-utils style): every subcommand of ks-query,
every exported query function, every console script and every registry event type."""

from __future__ import annotations

import re
import tomllib

import pytest
from conftest import REPO

import kernelsight.query as query
from kernelsight.ingest import events as ev
from kernelsight.query.cli import ALIASES, COMMANDS

QUERY_MD = (REPO / "docs" / "query.md").read_text()
README = (REPO / "README.md").read_text()


def subcommand_rows() -> set[str]:
    """The subcommands the table under "| subcommand |" in docs/query.md lists (its
    first cells: `a` or `a`, `b`)."""
    lines = QUERY_MD.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| subcommand |"))
    names = set()
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        names |= set(re.findall(r"`([a-z][a-z-]*)`", line.split("|")[1]))
    return names


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_subcommand_is_in_the_query_docs_table(name):
    assert name in subcommand_rows(), f"docs/query.md lacks a row for `ks-query {name}`"


@pytest.mark.parametrize("name", sorted(query.__all__))
def test_every_exported_query_function_is_in_the_query_docs(name):
    assert re.search(rf"\b{name}\b", QUERY_MD), f"docs/query.md does not mention {name}"


def test_the_docs_table_lists_no_subcommand_that_is_not_there():
    rows = subcommand_rows()
    assert len(rows) >= len(COMMANDS) and rows - set(COMMANDS) - set(ALIASES) == set()


def test_every_console_script_is_in_the_readme():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    missing = [s for s in scripts if s not in README]
    assert not missing, f"README.md does not mention {missing}"


def test_every_event_type_is_in_events_md():
    events_md = (REPO / "docs" / "events.md").read_text()
    assert [t.name for t in ev.TYPES if f"`{t.name}`" not in events_md] == []
