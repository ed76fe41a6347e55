"""ks-ingest --clickhouse and ks-query --clickhouse against a real clickhouse-server
(Debian's package, Makefile APT_PACKAGES), started here on loopback ports of its own,
with its own config and data in a temporary folder, and stopped after."""

from __future__ import annotations

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import chserver  # noqa: E402
from conftest import REPO  # noqa: E402

from kernelsight.ingest import clickhouse_schema as chs  # noqa: E402
from kernelsight.ingest import events as ev  # noqa: E402

needs_server = pytest.mark.skipif(not chserver.available(),
                                  reason=f"{chserver.BINARY} is missing: apt-get install clickhouse-server "
                                  "(make setup does, as root)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not chserver.available():
        pytest.skip(f"{chserver.BINARY} is missing: apt-get install clickhouse-server")
    s = chserver.Server(tmp_path_factory.mktemp("clickhouse")).start()
    try:
        yield s
    finally:
        s.kill()


def client(server, database: str | None = None):
    from clickhouse_driver import Client

    return Client("127.0.0.1", port=server.tcp_port, database=database or "default",
                  settings={chs.LOW_CARDINALITY_SETTING: 1})


@pytest.fixture
def database(server, request):
    """A fresh database on the shared server, named after the test."""
    name = "t_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")[:60]
    c = client(server)
    c.execute(f"DROP DATABASE IF EXISTS {name}")
    yield name
    c.execute(f"DROP DATABASE IF EXISTS {name}")


# ---- 1. the schema -------------------------------------------------------------------------
def test_schema_clickhouse_sql_is_what_the_registry_renders():
    committed = (REPO / "schema.clickhouse.sql").read_text()
    assert committed == chs.ddl(), "schema.clickhouse.sql is stale: run `make schema` and commit it"


@needs_server
def test_the_server_takes_the_schema_with_every_registry_column(server, database):
    c = client(server)
    c.execute(f"CREATE DATABASE {database}")
    c = client(server, database)
    for statement in chs.statements():
        c.execute(statement)
    for t in ev.TYPES:
        described = c.execute(f"DESCRIBE TABLE {t.table}")
        names = [r[0] for r in described]
        assert names == [c.name for c in ev.columns_of(t)] + list(chs.BATCH_COLUMNS), t.table
        types = dict((r[0], r[1]) for r in described)
        for col in ev.columns_of(t):
            nullable = "Nullable" in types[col.name]
            assert nullable == (not col.required and col.name not in ("timestamp", "host")), (t.table, col.name)
        engine, key = c.execute("SELECT engine, sorting_key FROM system.tables "
                                f"WHERE database = '{database}' AND name = '{t.table}'")[0]
        assert engine == "ReplacingMergeTree"
        assert key.startswith("host") and key.endswith("timestamp, ks_batch, ks_row"), key
        if t.rollup:
            assert c.execute(f"EXISTS TABLE {t.rollup_table}") == [(1,)]


@needs_server
def test_ttl_needs_a_newer_server_than_this_one(server, database):
    """The TTL clause exists from ClickHouse 19.6: on an older server CREATE fails,
    which is why ks-ingest drops day partitions there instead."""
    c = client(server)
    version = tuple(int(x) for x in c.execute("SELECT version()")[0][0].split(".")[:2])
    c.execute(f"CREATE DATABASE {database}")
    c = client(server, database)
    t = ev.BY_NAME["load"]
    if version >= chs.TTL_SINCE:
        c.execute(chs.table_sql(t, ttl_days=30))
        assert "TTL" in c.execute(f"SHOW CREATE TABLE {t.table}")[0][0]
    else:
        from clickhouse_driver.errors import ServerException

        with pytest.raises(ServerException):
            c.execute(chs.table_sql(t, ttl_days=30))
        c.execute(chs.table_sql(t))
