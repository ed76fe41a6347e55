"""ks-ingest --clickhouse: the ClickHouse sink behind the same committer interface
as SQLite's (writer.py), kept out of cli.py so that the SQLite path imports none of it."""

from __future__ import annotations

import pathlib
import re

import typer

from .pipeline import warn
from .sink import SinkFailed
from .writer import InlineCommitter


def ttl_days(text: str | None) -> int | None:
    """--clickhouse-ttl: whole days, "30d" or "30"."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*d?\s*", text)
    if not m or int(m.group(1)) < 1:
        raise typer.BadParameter(f"{text!r}: give whole days, e.g. 30d", param_hint="'--clickhouse-ttl'")
    return int(m.group(1))


def open_committer(url: str, spool_dir: pathlib.Path, ttl: str | None, init_only: bool):
    """(committer, the name to tell) for ``--clickhouse URL``; raises SinkFailed.

    Inline: the work of a commit is the network round trip and the server's, so a
    writer process would only add a copy of every row.  --init-only needs the server;
    a normal run starts without it and spools until it answers."""
    from .clickhouse_sink import ClickHouseSink

    sink = ClickHouseSink(url, spool_dir, ttl_days=ttl_days(ttl), on_message=warn)
    if init_only and sink.client is None:
        sink.close()
        raise SinkFailed(f"cannot create the tables: {sink.target.name} does not answer")
    return InlineCommitter(sink), sink.target.name
