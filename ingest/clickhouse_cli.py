"""ks-ingest --clickhouse: the ClickHouse sink behind the same committer interface
as SQLite's (writer.py), kept out of cli.py so that the SQLite path imports none of it."""

from __future__ import annotations

import pathlib
import re

import typer

from .pipeline import warn
from .sink import SinkFailed
from .writer import InlineCommitter, ProcessCommitter


def ttl_days(text: str | None) -> int | None:
    """--clickhouse-ttl: whole days, "30d" or "30"."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*d?\s*", text)
    if not m or int(m.group(1)) < 1:
        raise typer.BadParameter(f"{text!r}: give whole days, e.g. 30d", param_hint="'--clickhouse-ttl'")
    return int(m.group(1))


def open_committer(url: str, spool_dir: pathlib.Path, ttl: str | None, init_only: bool,
                   single_process: bool = False):
    """(committer, the name to tell) for ``--clickhouse URL``; raises SinkFailed.

    The sink runs in the writer process, as SQLite's does: clickhouse-driver spends
    about as much CPU on a row (5 us) as the parser, and the two then overlap.
    --init-only needs the server; a normal run starts without it and spools until
    it answers."""
    from .clickhouse_sink import ClickHouseSink, parse_url

    days = ttl_days(ttl)
    if not (init_only or single_process):
        try:
            name = parse_url(url).name
        except ValueError as e:
            raise SinkFailed(str(e)) from None
        return ProcessCommitter(name, ["--clickhouse", url, str(spool_dir), str(days or "")]), name
    sink = ClickHouseSink(url, spool_dir, ttl_days=days, on_message=warn)
    if init_only and sink.client is None:
        sink.close()
        raise SinkFailed(f"cannot create the tables: {sink.target.name} does not answer")
    return InlineCommitter(sink), sink.target.name


def child_sink(args: list[str]):
    """The writer process's sink: URL, spool folder, TTL days ('' for none)."""
    from .clickhouse_sink import ClickHouseSink

    url, spool_dir, days = args
    return ClickHouseSink(url, spool_dir, ttl_days=int(days) if days else None, on_message=warn)
