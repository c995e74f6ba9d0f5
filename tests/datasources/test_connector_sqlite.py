"""The SQLite connector against real database files."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from datasources.connectors import (
    ConnectionConfig,
    ConnectorError,
    GuardPolicy,
    QueryOptions,
    Visibility,
    build_connector,
)
from datasources.connectors.sqlite import SQLiteConnector
from tests.conftest import wait_for

# A statement that would run for minutes: counting to a billion.
SLOW = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000) SELECT max(i) FROM n"


@pytest.fixture
def database(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    path = root / "shop.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, region TEXT);
        CREATE TABLE orders (
            id INTEGER PRIMARY KEY,
            customer_id INTEGER NOT NULL REFERENCES customers(id),
            amount NUMERIC,
            note BLOB
        );
        CREATE TABLE order_lines (
            order_id INTEGER REFERENCES orders,
            line INTEGER,
            sku TEXT,
            PRIMARY KEY (order_id, line)
        );
        CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 10;
        INSERT INTO customers VALUES (1, 'Alice', 'EMEA'), (2, 'Bob', NULL), (3, 'Charlie', 'NA');
        """
    )
    conn.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?)", [(i, 1 + i % 3, i * 1.5, b"\x01\x02") for i in range(1, 51)]
    )
    conn.executemany("INSERT INTO order_lines VALUES (?, ?, ?)", [(i, 1, f"SKU-{i}") for i in range(1, 11)])
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def policy(database: Path) -> GuardPolicy:
    return GuardPolicy(file_roots=(database.parent,))


def connector_for(path: Path | str, policy: GuardPolicy) -> SQLiteConnector:
    connector = build_connector(ConnectionConfig("sqlite", {"path": str(path)}), policy)
    assert isinstance(connector, SQLiteConnector)
    return connector


@pytest.fixture
def connector(database: Path, policy: GuardPolicy) -> SQLiteConnector:
    return connector_for(database, policy)


def count_orders(database: Path) -> int:
    conn = sqlite3.connect(database)
    try:
        return int(conn.execute("SELECT count(*) FROM orders").fetchone()[0])
    finally:
        conn.close()


def test_test_returns_the_sqlite_version(connector: SQLiteConnector) -> None:
    info = connector.test()

    assert info.server_version == f"SQLite {sqlite3.sqlite_version}"
    assert info.latency_ms >= 0


def test_introspection_reads_tables_views_columns_keys_and_row_counts(connector: SQLiteConnector) -> None:
    calls: list[tuple[int, int]] = []

    introspection = connector.introspect(progress=lambda done, total: calls.append((done, total)))

    tables = {table.name: table for table in introspection.tables}
    assert sorted(tables) == ["big_orders", "customers", "order_lines", "orders"]
    assert {table.schema for table in tables.values()} == {"main"}
    assert tables["big_orders"].kind == "view" and tables["big_orders"].row_estimate is None
    assert tables["orders"].kind == "table" and tables["orders"].row_estimate == 50
    assert tables["customers"].row_estimate == 3
    customers = {column.name: column for column in tables["customers"].columns}
    assert [column.ordinal for column in tables["customers"].columns] == [1, 2, 3]
    assert customers["id"].is_primary_key and not customers["id"].nullable
    assert customers["name"].data_type == "TEXT" and not customers["name"].nullable
    assert customers["region"].nullable and not customers["region"].is_primary_key
    customer_id = next(column for column in tables["orders"].columns if column.name == "customer_id")
    assert (customer_id.fk_schema, customer_id.fk_table, customer_id.fk_column) == ("main", "customers", "id")
    # REFERENCES orders (no column) points at the target's primary key
    order_id = next(column for column in tables["order_lines"].columns if column.name == "order_id")
    assert (order_id.fk_table, order_id.fk_column) == ("orders", "id")
    assert [column.name for column in tables["order_lines"].columns if column.is_primary_key] == ["order_id", "line"]
    assert calls[-1] == (4, 4)


def test_a_read_is_capped_at_max_rows_and_previews_preview_rows(connector: SQLiteConnector) -> None:
    result = connector.execute_read(
        "SELECT id, amount, note FROM orders ORDER BY id", options=QueryOptions(max_rows=20, preview_rows=5)
    )

    assert result.columns == ("id", "amount", "note")
    assert result.column_types == ("INTEGER", "REAL", "BLOB")
    assert result.rows == ((1, 1.5, "0102"), (2, 3.0, "0102"), (3, 4.5, "0102"), (4, 6.0, "0102"), (5, 7.5, "0102"))
    assert (result.rows_returned, result.truncated) == (20, True)

    whole = connector.execute_read("SELECT id FROM orders", options=QueryOptions(max_rows=50, preview_rows=100))
    assert (whole.rows_returned, whole.truncated, len(whole.rows)) == (50, False, 50)

    empty = connector.execute_read("SELECT id, name FROM customers WHERE 0", options=QueryOptions())
    assert (empty.columns, empty.rows, empty.rows_returned) == (("id", "name"), (), 0)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO orders (customer_id, amount) VALUES (1, 1)",
        "UPDATE orders SET amount = 0",
        "DELETE FROM orders",
        "CREATE TABLE evil (id INTEGER)",
        "CREATE TEMP TABLE evil (id INTEGER)",
        "DROP TABLE orders",
        "DROP VIEW big_orders",
        "ALTER TABLE orders ADD COLUMN evil TEXT",
        "ATTACH DATABASE ':memory:' AS evil",
        "VACUUM INTO 'copy.db'",
        "PRAGMA query_only = OFF",
        "REPLACE INTO orders (id, customer_id) VALUES (1, 1)",
        "SELECT load_extension('evil')",
    ],
)
def test_writes_on_the_read_path_are_refused_by_the_engine(
    connector: SQLiteConnector, database: Path, sql: str
) -> None:
    with pytest.raises(ConnectorError) as caught:
        connector.execute_read(sql, options=QueryOptions())

    assert caught.value.code == "query_not_read_only"
    assert count_orders(database) == 50
    assert not (database.parent / "copy.db").exists()


def test_a_slow_statement_times_out(connector: SQLiteConnector) -> None:
    started = time.monotonic()
    with pytest.raises(ConnectorError) as caught:
        connector.execute_read(SLOW, options=QueryOptions(timeout_seconds=0.3))

    assert caught.value.code == "query_timeout"
    assert time.monotonic() - started < 5


def test_cancel_from_another_thread_stops_a_running_statement(connector: SQLiteConnector) -> None:
    errors: list[ConnectorError] = []

    def run() -> None:
        try:
            connector.execute_read(SLOW, options=QueryOptions(timeout_seconds=60))
        except ConnectorError as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    started = time.monotonic()
    thread.start()
    # White-box wait: SQLite has no process list to watch; the connector marks its running connection.
    wait_for(lambda: connector._active is not None, timeout=10, what="the statement starting")
    connector.cancel()
    thread.join(timeout=10)

    assert not thread.is_alive()
    assert [error.code for error in errors] == ["query_cancelled"]
    assert time.monotonic() - started < 10


def test_stream_yields_every_row_in_batches(connector: SQLiteConnector) -> None:
    sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 25000) SELECT i FROM n"

    with connector.stream(sql, options=QueryOptions(), batch_rows=10_000) as streamed:
        sizes = []
        total = 0
        for batch in streamed.batches():
            sizes.append(len(batch))
            total += sum(row[0] for row in batch)

    assert streamed.columns == ("i",)
    assert sizes == [10_000, 10_000, 5_000]
    assert total == 25_000 * 25_001 // 2


def test_stream_is_read_only_too(connector: SQLiteConnector, database: Path) -> None:
    with pytest.raises(ConnectorError) as caught:
        connector.stream("DELETE FROM orders", options=QueryOptions())

    assert caught.value.code == "query_not_read_only"
    assert count_orders(database) == 50


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("SELECT * FROM no_such_table", "table_not_found"),
        ("SELECT no_such_column FROM orders", "table_not_found"),
        ("SELEC 1", "query_invalid"),
        ("SELECT 1; SELECT 2", "query_invalid"),
    ],
)
def test_engine_errors_have_stable_codes(connector: SQLiteConnector, sql: str, code: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        connector.execute_read(sql, options=QueryOptions())

    assert caught.value.code == code


def test_missing_files_outside_paths_and_non_databases_are_reported(
    database: Path, policy: GuardPolicy, tmp_path: Path
) -> None:
    (database.parent / "notes.txt").write_text("not a database, just words " * 100)

    cases = [
        (database.parent / "missing.db", "datasource_not_found"),
        (tmp_path / "elsewhere.db", "datasource_path_forbidden"),
        (database.parent / "notes.txt", "datasource_invalid_settings"),
    ]
    for path, code in cases:
        with pytest.raises(ConnectorError) as caught:
            connector_for(path, policy).test()
        assert caught.value.code == code, path


def test_execute_write_dry_run_rolls_back_and_a_real_run_commits(connector: SQLiteConnector, database: Path) -> None:
    dry = connector.execute_write("DELETE FROM orders WHERE id <= 10", options=QueryOptions(), dry_run=True)
    assert (dry.rows_affected, dry.committed) == (10, False)
    assert count_orders(database) == 50

    ddl = connector.execute_write("DROP TABLE order_lines", options=QueryOptions(), dry_run=True)
    assert ddl.committed is False
    assert "order_lines" in {table.name for table in connector.introspect().tables}

    preview = connector.execute_write(
        "UPDATE orders SET amount = 0 WHERE id IN (1, 2) RETURNING id, amount", options=QueryOptions(), dry_run=True
    )
    assert preview.preview is not None and sorted(preview.preview.rows) == [(1, 0), (2, 0)]

    real = connector.execute_write("DELETE FROM orders WHERE id <= 10", options=QueryOptions())
    assert (real.rows_affected, real.committed) == (10, True)
    assert count_orders(database) == 40


def test_execute_write_still_refuses_attach(connector: SQLiteConnector, database: Path) -> None:
    with pytest.raises(ConnectorError) as caught:
        connector.execute_write(f"ATTACH DATABASE '{database.parent / 'other.db'}' AS other", options=QueryOptions())

    assert caught.value.code == "query_invalid"
    assert not (database.parent / "other.db").exists()


def test_validate_settings_confines_the_path_without_opening_it(database: Path, policy: GuardPolicy) -> None:
    relative = SQLiteConnector.validate_settings({"path": "shop.db"}, policy)
    assert relative == {"path": str(database.resolve())}

    for settings, code in [
        ({}, "datasource_invalid_settings"),
        ({"path": "/etc/passwd"}, "datasource_path_forbidden"),
        ({"path": "shop.db", "mode": "rw"}, "datasource_invalid_settings"),
    ]:
        with pytest.raises(ConnectorError) as caught:
            SQLiteConnector.validate_settings(settings, policy)
        assert caught.value.code == code


# --- what the file shows -----------------------------------------------------------------------


def test_a_database_with_tables_is_visible_and_needs_no_explanation(connector: SQLiteConnector) -> None:
    visibility = connector.visibility()

    assert visibility == Visibility(visible=4, unreadable=0, code="", message="")
    assert connector.test().visibility == visibility
    assert connector.introspect().visibility is None


def test_the_demo_file_is_visible(demo_files: dict[str, Any]) -> None:
    path = Path(demo_files["sqlite"].settings["path"])
    demo = connector_for(path, GuardPolicy(file_roots=(path.parent,)))

    visibility = demo.visibility()

    assert (visibility.code, visibility.message, visibility.unreadable) == ("", "", 0)
    assert visibility.visible == len(demo.introspect().tables) > 0


@pytest.mark.parametrize("content", ["nothing", "dropped"])
def test_an_empty_file_is_an_empty_schema(policy: GuardPolicy, database: Path, content: str) -> None:
    path = database.parent / "empty.db"
    if content == "nothing":
        path.write_bytes(b"")  # SQLite reads a file of no bytes as an empty database
    else:
        conn = sqlite3.connect(path)
        conn.executescript("CREATE TABLE gone (id INTEGER); DROP TABLE gone;")
        conn.close()
    empty = connector_for(path, policy)
    expected = Visibility(
        visible=0,
        unreadable=0,
        code="empty_schema",
        message="The file 'empty.db' holds no tables or views: it is an empty SQLite database.",
    )

    info = empty.test()
    introspection = empty.introspect()

    assert empty.visibility() == expected
    assert info.visibility == expected
    assert (introspection.tables, introspection.visibility) == ((), expected)
