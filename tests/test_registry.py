"""The event contract is declared once: schema.sql and docs/events.md follow the registry."""

import sqlite3

import pytest

from conftest import REPO

from kernelsight.ingest import docs, events, schema


def test_schema_sql_is_what_the_registry_renders():
    committed = (REPO / "schema.sql").read_text()
    assert committed == schema.ddl(), "schema.sql is stale: run `make schema` and commit it"


def test_events_md_is_what_the_registry_renders():
    committed = (REPO / "docs" / "events.md").read_text()
    assert committed == docs.render(), "docs/events.md is stale: run `make docs` and commit it"


def test_every_table_in_schema_sql_has_the_registry_columns_in_order():
    conn = sqlite3.connect(":memory:")
    conn.executescript((REPO / "schema.sql").read_text())
    for t in events.TYPES:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({t.table})")]
        assert cols == ["id", *[c.name for c in events.columns_of(t)]], t.table


def test_original_kernelsight_tables_and_columns_are_kept():
    # The original schema's names, so the original tools' data lands unchanged.
    original = {
        "syscall_events": "pid tid cpu uid syscall_nr syscall_name latency_ns ret_value is_error arg0 comm",
        "page_fault_events": "pid tid cpu address latency_ns fault_type access_type user_mode comm",
        "io_latency_stats": "read_count write_count read_bytes write_bytes read_p50_us read_p95_us "
                            "read_p99_us read_max_us write_p50_us write_p95_us write_p99_us write_max_us",
        "sched_events": "pid tid cpu latency_ns prev_state next_pid comm",
        "sched_stats": "pid comm context_switches voluntary_switches involuntary_switches wakeups "
                       "cpu_time_ms avg_timeslice_us",
        "memory_metrics": "mem_total_kb mem_free_kb mem_available_kb buffers_kb cached_kb swap_total_kb "
                          "swap_free_kb active_kb inactive_kb dirty_kb writeback_kb",
        "load_metrics": "load_1min load_5min load_15min running_processes total_processes last_pid",
        "block_stats": "device_name read_ios read_merges read_sectors read_ticks write_ios write_merges "
                       "write_sectors write_ticks in_flight io_ticks time_in_queue",
        "network_interface_stats": "interface_name rx_bytes rx_packets rx_errors rx_drops tx_bytes "
                                   "tx_packets tx_errors tx_drops",
        "tcp_stats": "established syn_sent syn_recv fin_wait1 fin_wait2 time_wait close close_wait "
                     "last_ack listen closing",
        "tcp_retransmit_stats": "retrans_segs",
    }
    for table, cols in original.items():
        have = set(events.BY_TABLE[table].column_names) | {"timestamp", "host"}
        assert set(cols.split()) <= have, table


def test_type_names_tables_and_aliases_are_unique():
    names = [t.name for t in events.TYPES] + [a for t in events.TYPES for a in t.aliases]
    assert len(names) == len(set(names))
    assert len({t.table for t in events.TYPES}) == len(events.TYPES)


def test_every_column_has_a_known_sql_type_and_hist_columns_are_text():
    for t in events.TYPES:
        for c in events.columns_of(t):
            assert c.sql in ("INTEGER", "REAL", "TEXT"), (t.name, c.name)
            if c.unit == "hist_us":
                assert c.sql == "TEXT", (t.name, c.name)


def test_apply_upgrades_an_older_database_in_place(tmp_path):
    db = tmp_path / "old.db"
    old = sqlite3.connect(db)
    # The original KernelSight's memory table: no host column, no version table.
    old.execute("CREATE TABLE memory_metrics (id INTEGER PRIMARY KEY, timestamp INTEGER, "
                "mem_total_kb INTEGER, mem_free_kb INTEGER)")
    old.execute("INSERT INTO memory_metrics (timestamp, mem_total_kb, mem_free_kb) VALUES (1, 2, 3)")
    old.commit()
    old.close()
    conn = schema.connect(str(db))
    changes = schema.apply(conn)
    assert "added column memory_metrics.host" in changes
    assert schema.current_version(conn) == events.SCHEMA_VERSION
    assert conn.execute("SELECT timestamp, mem_total_kb, host FROM memory_metrics").fetchall() == [(1, 2, None)]
    assert schema.apply(conn) == []  # idempotent
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_every_column_unit_is_in_the_unit_table():
    for t in events.TYPES:
        for c in events.columns_of(t):
            assert c.unit in events.UNITS, (t.name, c.name, c.unit)


def test_convert_multiplies_or_divides_by_a_whole_factor():
    assert events.convert(1_234_567, "ns", "ms") == 1_234_567 / 1e6
    assert events.convert(1.5, "ms", "ns") == 1_500_000
    assert events.convert(3, "kB", "bytes") == 3 * 1024
    assert events.convert(2, "sectors", "kB") == 1
    assert events.convert(50, "pct", "ratio") == 0.5
    assert events.convert(None, "us", "ms") is None
    assert events.base_unit("hist_us") == "seconds" and events.base_unit("count") == ""
    with pytest.raises(ValueError):
        events.convert(1, "kB", "ms")


def test_sources_are_unique_within_a_type():
    for t in events.TYPES:
        sources = [c.source for c in t.columns if c.source]
        assert len(sources) == len(set(sources)), t.name


# ---- what the readers name: every column a query or ks-promexport reads is the registry's ----
QUERY_MODULES = ("syscalls", "storage", "memory", "network", "sched", "faults", "perf", "correlate",
                 "overview")


def unknown_columns(table: str, cols) -> list[str]:
    """The columns of ``cols`` that ``table`` does not have (the table itself, if unknown)."""
    t = events.BY_TABLE.get(table)
    if t is None:
        return [f"table {table}"]
    known = {c.name for c in events.columns_of(t)}
    return [c for c in cols if c not in known]


def column_uses() -> list[tuple[str, str, tuple[str, ...]]]:
    """(who, table, columns) of every column tuple in query/."""
    import importlib

    from kernelsight.query import common

    for m in QUERY_MODULES:
        importlib.import_module(f"kernelsight.query.{m}")
    return [("query", table, cols) for table, cols in common.DECLARED]


def test_every_column_a_query_tuple_names_is_in_the_registry():
    uses = column_uses()
    assert len(uses) >= 6
    bad = [(who, table, unknown_columns(table, cols)) for who, table, cols in uses if unknown_columns(table, cols)]
    assert not bad, f"columns the registry does not declare: {bad}"


def test_the_column_check_catches_a_column_the_registry_lacks():
    assert unknown_columns("rtt_stats", ("host", "node", "p99_ms")) == ["p99_ms"]
    assert unknown_columns("rtt_table", ("node",)) == ["table rtt_table"]
