"""Rows into ClickHouse: the sink beside SQLiteSink (sink.py), fed by the same parser
and batching; one INSERT per table per commit, over the native protocol
(clickhouse-driver).

Nothing is lost while the server is down or slow: a batch it does not take goes to
the spool (clickhouse_spool.py, an append-only file) and every later batch queues
behind it, so the server receives them in order once it answers again; a spool left
by a stopped ks-ingest is replayed by the next one.  Duplicates are avoided, and
made harmless where they cannot be avoided:

* every batch gets its id (``ks_batch``, and ``ks_row`` per row) before the first
  attempt and keeps it in the spool;
* before a spooled batch is replayed, the server is asked which of its rows it
  already has (an insert that succeeded but whose answer was lost: a crash, a
  timeout), and only the others are sent;
* if a batch still arrives twice, the raw tables are ReplacingMergeTree sorted by
  (..., ks_batch, ks_row): the copies are one row after a merge, and at once for a
  query with FINAL.  (The per-minute rollup views would count such a copy twice.)
"""

from __future__ import annotations

import logging
import os
import pathlib
import random
import time
import urllib.parse
from dataclasses import dataclass
from typing import Callable, Sequence

from . import clickhouse_schema as chs
from . import events as ev
from .clickhouse_spool import Batch, Spool, SpoolBusy
from .sink import SinkFailed

DEFAULT_PORT = 9000
DEFAULT_DATABASE = "kernelsight"
DEFAULT_BATCH_SIZE = 10_000      # ClickHouse wants few, large blocks
CONNECT_TIMEOUT_S = 2.0
SEND_RECEIVE_TIMEOUT_S = 30.0
RETRY_FIRST_S, RETRY_MAX_S = 1.0, 30.0
PARTITION_CHECK_S = 3600.0       # how often retention without TTL drops old days
INT64 = (-(2**63), 2**63 - 1)


class ServerDown(Exception):
    """The server did not take the batch (unreachable, timed out, or it refused)."""


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    database: str
    user: str
    password: str

    @property
    def name(self) -> str:
        return f"clickhouse://{self.host}:{self.port}/{self.database}"


def parse_url(url: str) -> Target:
    """clickhouse://[user[:password]@]host[:port][/database]; raises ValueError."""
    u = urllib.parse.urlsplit(url)
    if u.scheme != "clickhouse" or not u.hostname:
        raise ValueError(f"{url!r} is no ClickHouse URL: use clickhouse://HOST[:PORT]/DATABASE "
                         "(the native protocol, port 9000)")
    database = u.path.strip("/") or DEFAULT_DATABASE
    if not database.replace("_", "").isalnum():
        raise ValueError(f"{database!r} is no database name (letters, digits, _)")
    return Target(u.hostname, u.port or DEFAULT_PORT, database,
                  urllib.parse.unquote(u.username or "default"), urllib.parse.unquote(u.password or ""))


def spool_path(spool_dir: str | os.PathLike, target: Target) -> pathlib.Path:
    return pathlib.Path(spool_dir) / f"clickhouse-{target.host}-{target.port}-{target.database}.spool"


class MissingDriver(Exception):
    """clickhouse-driver is not installed."""


def connect(target: Target, database: str | None = None):
    """A clickhouse-driver Client (it connects on its first query).  The driver's own
    log (a traceback for every refused connection) is silenced: our messages say
    the cause in one line."""
    logging.getLogger("clickhouse_driver").setLevel(logging.CRITICAL)
    try:
        from clickhouse_driver import Client
    except ImportError:
        raise MissingDriver("--clickhouse needs clickhouse-driver: pip install 'kernelsight[clickhouse]'") from None

    return Client(target.host, port=target.port, database=database or target.database,
                  user=target.user, password=target.password, connect_timeout=CONNECT_TIMEOUT_S,
                  send_receive_timeout=SEND_RECEIVE_TIMEOUT_S, client_name="ks-ingest",
                  settings={"insert_block_size": 1 << 20})


def server_version(client) -> tuple[int, ...]:
    text = client.execute("SELECT version()")[0][0]
    return tuple(int(x) for x in text.split(".")[:3] if x.isdigit())


def create_schema(target: Target, ttl_days: int | None = None) -> list[str]:
    """Create the database and every table missing (first use); returns what was
    done.  On a server without TTL (before 19.6) retention is by partition drops."""
    first = connect(target, "default")
    version = server_version(first)
    first.execute(f"CREATE DATABASE IF NOT EXISTS {target.database}")
    first.disconnect()
    client = connect(target)
    if version < chs.LOW_CARDINALITY_SINCE:
        client.settings[chs.LOW_CARDINALITY_SETTING] = 1
    have = {r[0] for r in client.execute("SHOW TABLES")}
    ttl = ttl_days if version >= chs.TTL_SINCE else None
    for statement in chs.statements(ttl):
        client.execute(statement)
    created = [t for t in chs.all_tables() if t not in have]
    added = _add_missing_columns(client, target.database, have)
    stored = client.execute("SELECT max(version), count() FROM schema_version")[0]
    if not stored[1] or stored[0] < ev.SCHEMA_VERSION:
        client.execute("INSERT INTO schema_version (version, applied_ns) VALUES",
                       [(ev.SCHEMA_VERSION, time.time_ns())])
    client.disconnect()
    changes = [f"created {len(created)} tables"] if created else []
    if added:
        changes.append(f"added {len(added)} columns a newer kernelsight writes: {', '.join(added)}")
    return changes


def _add_missing_columns(client, database: str, have: set[str]) -> list[str]:
    """Bring the raw tables of an existing database (made by an older kernelsight) up
    to the registry's columns, or the inserts of the new ones would fail; returns
    table.column of each one added."""
    columns: dict[str, set[str]] = {}
    for table, name in client.execute(
            "SELECT table, name FROM system.columns WHERE database = %(db)s", {"db": database}):
        columns.setdefault(table, set()).add(name)
    added = []
    for t in ev.TYPES:
        if t.table not in have:
            continue            # created just now, whole
        for name, alter in chs.missing_columns(t, columns.get(t.table, set())):
            client.execute(alter)
            added.append(f"{t.table}.{name}")
    return added


def _errors():
    from clickhouse_driver import errors

    return (errors.Error, OSError, EOFError)


class ClickHouseSink:
    """The Sink interface (sink.py) over ClickHouse, spooling what the server does not
    take.  ``write`` checks and queues rows, ``commit`` sends them (or spools them)."""

    def __init__(self, url: str, spool_dir: str | os.PathLike, *, ttl_days: int | None = None,
                 on_message: Callable[[str], None] = lambda m: None):
        try:
            self.target = parse_url(url)
        except ValueError as e:
            raise SinkFailed(str(e)) from None
        try:
            connect(self.target)
        except MissingDriver as e:
            raise SinkFailed(str(e)) from None
        self.ttl_days = ttl_days
        self.say = on_message
        self.changes: list[str] = []
        try:
            self.spool = Spool(spool_path(spool_dir, self.target))
        except SpoolBusy as e:
            raise SinkFailed(str(e)) from None
        except OSError as e:
            raise SinkFailed(f"cannot open the spool in {spool_dir}: {e.strerror}") from None
        self.client = None
        self.version: tuple[int, ...] = ()
        self.pending: dict[str, list] = {}
        self.retry_at, self.backoff = 0.0, RETRY_FIRST_S
        self.partitions_checked = 0.0
        self._last_batch = 0
        self.spooled_rows = 0          # rows that went to the spool (then replayed or kept)
        if self.spool.pending:
            self.say(f"{self.spool.path}: {self.spool.pending} batches ({self.spool.pending_rows} "
                     "rows) kept from before: sending them first")
        self._reach()

    # -- the interface ------------------------------------------------------------------
    def write(self, table: str, insert_sql: str, rows: Sequence[tuple]) -> list[tuple[int, str]]:
        bad = _out_of_range(table, rows)
        if bad:
            skip = {i for i, _ in bad}
            rows = [r for i, r in enumerate(rows) if i not in skip]
        self.pending.setdefault(table, []).extend(rows)
        return bad

    def commit(self) -> None:
        if not any(self.pending.values()):
            return
        batch = Batch(self._next_id(), [(t, rows) for t, rows in self.pending.items() if rows])
        self.pending = {}
        if not self.spool.pending and self._reach():
            try:
                self._insert(batch, replay=False)
                return
            except ServerDown as e:
                self._down(e)
        self._keep(batch)
        self._drain()

    def rollback(self) -> None:
        self.pending = {}

    def close(self) -> None:
        self.pending = {}
        if self.spool.pending:
            self.retry_at = 0.0
            self._drain()
        if self.spool.pending:
            self.say(f"{self.target.name} did not take {self.spool.pending_rows} rows: kept in "
                     f"{self.spool.path}, sent by the next ks-ingest --clickhouse {self.target.name}")
        if self.client is not None:
            self.client.disconnect()
        self.spool.close()

    # -- the server ---------------------------------------------------------------------
    def _reach(self) -> bool:
        """A client with the schema in place, unless the server is known down and
        its retry time has not come."""
        if self.client is not None:
            return True
        if time.monotonic() < self.retry_at:
            return False
        try:
            self.changes += create_schema(self.target, self.ttl_days)
            self.client = connect(self.target)
            self.version = server_version(self.client)
        except _errors() as e:
            self._down(ServerDown(describe_error(e)))
            return False
        self.backoff = RETRY_FIRST_S
        self._retention()
        return True

    def _down(self, e: ServerDown) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client = None
        self.say(f"{self.target.name}: {e}; spooling to {self.spool.path}, "
                 f"next try in {self.backoff:.0f} s")
        self.retry_at = time.monotonic() + self.backoff
        self.backoff = min(self.backoff * 2, RETRY_MAX_S)

    def _insert(self, batch: Batch, replay: bool) -> None:
        """Every table's rows of the batch, one INSERT each; on a replay only the
        rows the server does not have yet.  Raises ServerDown."""
        try:
            for table, rows in batch.tables:
                have = self._rows_present(table, batch, rows) if replay else set()
                keep = [i for i in range(len(rows)) if i not in have] if have else range(len(rows))
                if keep:
                    cols = ", ".join(chs.insert_columns(table))
                    self.client.execute(f"INSERT INTO {table} ({cols}) VALUES",
                                        _columns(rows, keep, batch.id), columnar=True)
        except _errors() as e:
            raise ServerDown(describe_error(e)) from None

    def _rows_present(self, table: str, batch: Batch, rows: list) -> set[int]:
        stamp = chs.stamp_column(table)
        i = chs.insert_columns(table).index(stamp)
        lo, hi = min(r[i] for r in rows), max(r[i] for r in rows)
        found = self.client.execute(
            f"SELECT ks_row FROM {table} WHERE {stamp} >= %(lo)s AND {stamp} <= %(hi)s "
            "AND ks_batch = %(b)s", {"lo": lo, "hi": hi, "b": batch.id})
        return {r[0] for r in found}

    # -- the spool ----------------------------------------------------------------------
    def _keep(self, batch: Batch) -> None:
        try:
            self.spool.append(batch)
        except OSError as e:
            raise SinkFailed(f"{self.target.name} is unreachable and the spool {self.spool.path} "
                             f"cannot take the rows: {e.strerror}") from None
        self.spooled_rows += batch.rows

    def _drain(self) -> None:
        """Send the spooled batches in order, as far as the server takes them."""
        if not self.spool.pending or not self._reach():
            return
        sent = 0
        for batch in self.spool.batches():
            try:
                self._insert(batch, replay=True)
            except ServerDown as e:
                self._down(e)
                return
            self.spool.ack(batch)
            sent += batch.rows
        self.say(f"{self.target.name} answers again: {sent} spooled rows sent")

    def _next_id(self) -> int:
        """Unique across ks-ingest processes (milliseconds, then 22 random bits) and
        increasing within one, so that ks_batch orders a host's batches in time."""
        fresh = (time.time_ns() // 1_000_000) << 22 | random.getrandbits(22)
        self._last_batch = max(fresh, self._last_batch + 1)
        return self._last_batch

    # -- retention without TTL ------------------------------------------------------------
    def _retention(self) -> None:
        """--clickhouse-ttl on a server older than TTL_SINCE: drop the day partitions
        past it, now and every PARTITION_CHECK_S (whole days: a day goes once all of
        it is older than the TTL)."""
        if not self.ttl_days or self.version >= chs.TTL_SINCE:
            return
        now = time.monotonic()
        if self.partitions_checked and now - self.partitions_checked < PARTITION_CHECK_S:
            return
        self.partitions_checked = now
        cutoff = int(time.strftime("%Y%m%d", time.gmtime(time.time() - self.ttl_days * 86400)))
        parts = self.client.execute(
            "SELECT DISTINCT table, partition FROM system.parts WHERE database = %(d)s AND active",
            {"d": self.target.database})
        for table, partition in parts:
            if partition.isdigit() and int(partition) < cutoff and table in chs.ttl_tables():
                self.client.execute(f"ALTER TABLE {table} DROP PARTITION {partition}")
                self.changes.append(f"dropped {table} day {partition} (older than {self.ttl_days} days)")


def describe_error(e: BaseException) -> str:
    """One line: a server error's code and the first line of its message."""
    text = " ".join(str(e).strip().splitlines()[:2]).replace("DB::Exception: ", "")
    return (text or type(e).__name__)[:300]


def _columns(rows: list, keep, batch_id: int) -> list:
    """The block column by column (the driver's native layout: no transposing of
    its own), the batch columns last."""
    picked = rows if len(keep) == len(rows) else [rows[i] for i in keep]
    return [*map(list, zip(*picked)), [batch_id] * len(picked), list(keep)]


_INT_POSITIONS: dict[str, tuple[int, ...]] = {}


def _out_of_range(table: str, rows: Sequence[tuple]) -> list[tuple[int, str]]:
    """Rows with an integer ClickHouse's Int64 cannot hold (the parser's fast path
    passes integers through as read): refused here, so the pipeline converts them on
    its general path or rejects them, as with SQLite."""
    pos = _INT_POSITIONS.get(table)
    if pos is None:
        t = ev.BY_TABLE.get(table)
        cols = ev.columns_of(t) if t else ()
        pos = _INT_POSITIONS[table] = tuple(i for i, c in enumerate(cols) if c.sql == ev.INTEGER)
    lo, hi = INT64
    bad = []
    for n, row in enumerate(rows):
        for i in pos:
            v = row[i]
            if v is not None and not lo <= v <= hi:
                bad.append((n, f"database refused the row: {v} is out of Int64's range"))
                break
    return bad
