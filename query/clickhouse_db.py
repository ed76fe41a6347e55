"""ks-query --clickhouse URL: a window of a ClickHouse store as a kernelsight Database.

The query library is written against one SQLite schema.  Rather than a second
dialect of every query, ClickHouse does what it is good at -- finding a window's
rows of a host among months of a fleet's, by partition and sort key -- and the
same query functions run over those rows: each table a query touches is fetched on
first use (``WHERE timestamp in the window [AND host = ...]``, with FINAL, so a
batch that arrived twice counts once) into an in-memory SQLite file with the
kernelsight schema, whose triggers build the per-minute rollups as ks-ingest's do.
So the answers are the SQLite backend's, by construction, and a test holds them to
it on the same data.

The cost is the window's rows over the network: fine for the hours an incident
spans, not for a scan of a month (ask ClickHouse directly for that: the rollup
tables and docs/clickhouse.md's examples).
"""

from __future__ import annotations

import sqlite3

from ..ingest import clickhouse_schema as chs
from ..ingest import events as ev
from ..ingest import schema
from ..ingest.clickhouse_sink import describe_error
from .db import Database, QueryError, _stop_requested

SCHEME = "clickhouse://"


def is_url(path: str) -> bool:
    return str(path).startswith(SCHEME)


class ClickHouseDatabase(Database):
    """The rows of [start, end) (of ``host``) of a ClickHouse store, read-only.
    ``start``/``end`` None: no bound on that side."""

    def __init__(self, url: str, start: int | None = None, end: int | None = None, host: str | None = None):
        from ..ingest.clickhouse_sink import MissingDriver, connect, parse_url

        try:
            self.target = parse_url(url)
            self.client = connect(self.target)
        except (ValueError, MissingDriver) as e:
            raise QueryError(str(e)) from None
        self.path = self.target.name
        self.window = (start, end, host)
        try:
            self.remote = {r[0] for r in self.client.execute("SHOW TABLES")}
        except Exception as e:   # noqa: BLE001 - any driver or network error: one line
            raise QueryError(f"cannot read {self.path}: {describe_error(e)}") from None
        if not any(t.table in self.remote for t in ev.TYPES):
            raise QueryError(f"{self.path} has no kernelsight tables: fill it with "
                             f"`ks-ingest --clickhouse {self.path}`")
        self.conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        schema.apply(self.conn)
        self.conn.row_factory = sqlite3.Row
        self.conn.set_progress_handler(_stop_requested, 100_000)
        self._loaded: set[str] = set()
        self._tables = None

    def close(self) -> None:
        self.client.disconnect()
        self.conn.close()

    def has(self, table: str) -> bool:
        base = table[: -len(ev.ROLLUP_SUFFIX)] if table.endswith(ev.ROLLUP_SUFFIX) else table
        if base in ev.BY_TABLE or base == ev.UNKNOWN_TABLE:
            if base not in self.remote:
                return False
            self._load(base)
            return True
        return table == "schema_version"

    def newest(self) -> int | None:
        best = None
        for t in ev.TYPES:
            if t.table in self.remote:
                got = self._execute(f"SELECT max(timestamp), count() FROM {t.table}")[0]
                if got[1] and (best is None or got[0] > best):
                    best = got[0]
        return best

    def _load(self, table: str) -> None:
        if table in self._loaded:
            return
        self._loaded.add(table)
        # unknown_events: `tables` counts all of them, whatever the window (as on SQLite)
        start, end, host = self.window if table != ev.UNKNOWN_TABLE else (None, None, None)
        stamp = chs.stamp_column(table)
        cond, params = [], {}
        if start is not None:
            cond.append(f"{stamp} >= %(start)s")
            params["start"] = start
        if end is not None:
            cond.append(f"{stamp} < %(end)s")
            params["end"] = end
        if host:
            cond.append("host = %(host)s")
            params["host"] = host
        cols = chs.insert_columns(table)[: -len(chs.BATCH_COLUMNS)]
        where = f"WHERE {' AND '.join(cond)}" if cond else ""
        rows = self._execute(f"SELECT {', '.join(cols)} FROM {table} FINAL {where} "
                             f"ORDER BY {stamp}, ks_batch, ks_row", params)
        marks = ", ".join("?" * len(cols))
        self.conn.execute("BEGIN")
        self.conn.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", rows)
        self.conn.execute("COMMIT")

    def _execute(self, sql: str, params=None) -> list:
        try:
            return self.client.execute(sql, params or {})
        except Exception as e:   # noqa: BLE001 - any driver or network error: one line
            raise QueryError(f"{self.path}: {describe_error(e)}") from None
