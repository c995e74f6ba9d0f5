"""The PostgreSQL connector against a scratch database on the embedded server."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from django.conf import settings

from datasources.connectors import (
    ConnectionConfig,
    ConnectorError,
    GuardPolicy,
    QueryOptions,
    Visibility,
    build_connector,
)
from datasources.connectors.base import WriteResult
from datasources.connectors.postgres import PostgresConnector, close_pools
from tests.conftest import _free_port, wait_for

POLICY = GuardPolicy(allow_private=True)  # the embedded server listens on 127.0.0.1

SCHEMA = """
CREATE SCHEMA sales;
CREATE TABLE sales.customers (
    id integer PRIMARY KEY,
    name character varying(120) NOT NULL,
    region text
);
COMMENT ON TABLE sales.customers IS 'People who buy from us';
COMMENT ON COLUMN sales.customers.region IS 'Sales region, e.g. EMEA';
CREATE TABLE sales.orders (
    id bigint PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES sales.customers (id),
    amount numeric(10, 2),
    placed_at timestamptz NOT NULL DEFAULT '2024-05-01T12:00:00Z'
);
ALTER TABLE sales.orders DROP COLUMN IF EXISTS nothing;
CREATE VIEW sales.big_orders AS SELECT * FROM sales.orders WHERE amount > 10;
CREATE MATERIALIZED VIEW sales.order_totals AS SELECT customer_id, sum(amount) AS total FROM sales.orders GROUP BY 1;
CREATE TABLE public.notes (id serial PRIMARY KEY, body text);
INSERT INTO sales.customers VALUES (1, 'Alice', 'EMEA'), (2, 'Bob', NULL), (3, 'Charlie', 'NA');
INSERT INTO sales.orders (id, customer_id, amount) SELECT g, 1 + g % 3, g * 1.5 FROM generate_series(1, 50) g;
REFRESH MATERIALIZED VIEW sales.order_totals;
ANALYZE;
"""


def _server() -> dict[str, Any]:
    default = settings.DATABASES["default"]
    return {
        "host": str(default["HOST"]),
        "port": int(default["PORT"]),
        "user": str(default["USER"]),
        "password": str(default["PASSWORD"]),
    }


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A scratch database with a small schema, dropped afterwards."""
    server = _server()
    name = f"psa_connector_test_{os.getpid()}"
    admin = psycopg.connect(dbname="postgres", autocommit=True, **server)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(dbname=name, autocommit=True, **server) as conn:
            conn.execute(SCHEMA)
        yield name
    finally:
        close_pools()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def pg_connector(database: str, **overrides: Any) -> PostgresConnector:
    server = _server()
    password = overrides.pop("password", server["password"])
    config_settings = {
        "host": server["host"],
        "port": server["port"],
        "database": database,
        "user": server["user"],
        **overrides,
    }
    connector = build_connector(ConnectionConfig("postgresql", config_settings, {"password": password}), POLICY)
    assert isinstance(connector, PostgresConnector)
    return connector


@pytest.fixture
def connector(database: str) -> PostgresConnector:
    return pg_connector(database)


def count_orders(database: str) -> int:
    with psycopg.connect(dbname=database, **_server()) as conn:
        row = conn.execute("SELECT count(*) FROM sales.orders").fetchone()
    assert row is not None
    return int(row[0])


def test_test_returns_the_server_version(connector: PostgresConnector) -> None:
    info = connector.test()

    assert info.server_version.startswith("PostgreSQL ")
    assert info.latency_ms > 0


def test_introspection_reads_tables_views_columns_keys_comments_and_estimates(connector: PostgresConnector) -> None:
    progress: list[tuple[int, int]] = []

    introspection = connector.introspect(progress=lambda done, total: progress.append((done, total)))

    tables = {(table.schema, table.name): table for table in introspection.tables}
    assert sorted(tables) == [
        ("public", "notes"),
        ("sales", "big_orders"),
        ("sales", "customers"),
        ("sales", "order_totals"),
        ("sales", "orders"),
    ]
    customers, orders = tables["sales", "customers"], tables["sales", "orders"]
    assert (customers.kind, customers.comment, customers.row_estimate) == ("table", "People who buy from us", 3)
    assert orders.row_estimate == 50
    assert tables["sales", "big_orders"].kind == "view" and tables["sales", "big_orders"].row_estimate is None
    assert tables["sales", "order_totals"].kind == "view"  # a materialized view
    assert [(c.name, c.ordinal, c.data_type, c.nullable, c.is_primary_key) for c in customers.columns] == [
        ("id", 1, "integer", False, True),
        ("name", 2, "character varying(120)", False, False),
        ("region", 3, "text", True, False),
    ]
    assert customers.columns[2].comment == "Sales region, e.g. EMEA"
    customer_id = next(column for column in orders.columns if column.name == "customer_id")
    assert (customer_id.fk_schema, customer_id.fk_table, customer_id.fk_column) == ("sales", "customers", "id")
    assert next(column for column in orders.columns if column.name == "amount").data_type == "numeric(10,2)"
    assert progress[-1] == (5, 5)


def test_the_schemas_setting_limits_introspection(database: str) -> None:
    introspection = pg_connector(database, schemas=["public"]).introspect()

    assert [(table.schema, table.name) for table in introspection.tables] == [("public", "notes")]


def test_a_read_is_capped_at_max_rows_and_previews_preview_rows(connector: PostgresConnector) -> None:
    result = connector.execute_read(
        "SELECT id, amount, placed_at FROM sales.orders ORDER BY id", options=QueryOptions(max_rows=20, preview_rows=2)
    )

    assert result.columns == ("id", "amount", "placed_at")
    assert result.column_types == ("int8", "numeric(10,2)", "timestamptz")
    assert result.rows == ((1, "1.50", "2024-05-01T12:00:00+00:00"), (2, "3.00", "2024-05-01T12:00:00+00:00"))
    assert (result.rows_returned, result.truncated) == (20, True)

    whole = connector.execute_read("SELECT id FROM sales.orders", options=QueryOptions(max_rows=50))
    assert (whole.rows_returned, whole.truncated) == (50, False)

    empty = connector.execute_read("SELECT id, name FROM sales.customers WHERE false", options=QueryOptions())
    assert (empty.columns, empty.column_types, empty.rows_returned) == (("id", "name"), ("int4", "varchar(120)"), 0)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO sales.orders (id, customer_id) VALUES (1000, 1)",
        "UPDATE sales.orders SET amount = 0",
        "DELETE FROM sales.orders",
        "CREATE TABLE sales.evil (id integer)",
        "DROP TABLE sales.orders CASCADE",
        "TRUNCATE sales.orders CASCADE",
        "WITH d AS (DELETE FROM sales.orders RETURNING *) SELECT * FROM d",
        "SELECT nextval('public.notes_id_seq')",
    ],
)
def test_writes_on_the_read_path_are_refused_by_the_engine(
    connector: PostgresConnector, database: str, sql: str
) -> None:
    with pytest.raises(ConnectorError) as caught:
        connector.execute_read(sql, options=QueryOptions())

    assert caught.value.code == "query_not_read_only"
    assert count_orders(database) == 50


def test_a_second_statement_cannot_end_the_read_only_transaction(connector: PostgresConnector, database: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        connector.execute_read("COMMIT; DELETE FROM sales.orders", options=QueryOptions())

    assert caught.value.code == "query_invalid"
    assert count_orders(database) == 50


def test_session_state_does_not_leak_to_the_next_statement(connector: PostgresConnector) -> None:
    connector.execute_read("SELECT pg_advisory_lock(4242)", options=QueryOptions())

    result = connector.execute_read(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242", options=QueryOptions()
    )

    assert result.rows == ((0,),)


def test_a_slow_statement_times_out(connector: PostgresConnector) -> None:
    started = time.monotonic()
    with pytest.raises(ConnectorError) as caught:
        connector.execute_read("SELECT pg_sleep(5)", options=QueryOptions(timeout_seconds=0.5))

    assert caught.value.code == "query_timeout"
    assert time.monotonic() - started < 4


def test_cancel_from_another_thread_stops_a_running_statement(connector: PostgresConnector, database: str) -> None:
    errors: list[ConnectorError] = []
    marker = f"cancel-me-{os.getpid()}"

    def run() -> None:
        try:
            connector.execute_read(f"SELECT pg_sleep(30), '{marker}'", options=QueryOptions(timeout_seconds=60))
        except ConnectorError as exc:
            errors.append(exc)

    def running() -> bool:
        with psycopg.connect(dbname=database, **_server()) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s "
                "AND pid <> pg_backend_pid()",
                (f"%{marker}%",),
            ).fetchone()
        return bool(row and row[0] == 1)

    thread = threading.Thread(target=run)
    started = time.monotonic()
    thread.start()
    wait_for(running, timeout=10, what="the statement running on the server")
    connector.cancel()
    thread.join(timeout=10)

    assert not thread.is_alive()
    assert [error.code for error in errors] == ["query_cancelled"]
    assert time.monotonic() - started < 10


def test_stream_yields_every_row_in_batches(connector: PostgresConnector) -> None:
    sql = "SELECT g AS n, g::numeric / 4 AS quarter FROM generate_series(1, 25000) g"

    with connector.stream(sql, options=QueryOptions(), batch_rows=10_000) as streamed:
        batches = [list(batch) for batch in streamed.batches()]

    assert (streamed.columns, streamed.column_types) == (("n", "quarter"), ("int4", "numeric"))
    assert [len(batch) for batch in batches] == [10_000, 10_000, 5_000]
    assert batches[0][0] == (1, "0.25000000000000000000")
    assert sum(row[0] for batch in batches for row in batch) == 25000 * 25001 // 2


def test_stream_is_read_only_too(connector: PostgresConnector, database: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        connector.stream("WITH d AS (DELETE FROM sales.orders RETURNING *) SELECT * FROM d", options=QueryOptions())

    assert caught.value.code == "query_not_read_only"
    assert count_orders(database) == 50


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("SELECT * FROM sales.no_such_table", "table_not_found"),
        ("SELECT no_such_column FROM sales.orders", "table_not_found"),
        ("SELEC 1", "query_invalid"),
        ("SELECT 1 +", "query_invalid"),
    ],
)
def test_engine_errors_have_stable_codes(connector: PostgresConnector, sql: str, code: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        connector.execute_read(sql, options=QueryOptions())

    assert caught.value.code == code


def test_a_closed_port_is_unreachable(database: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        pg_connector(database, port=_free_port()).test()

    assert caught.value.code == "datasource_unreachable"


def test_a_wrong_password_is_refused_without_showing_it(database: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        pg_connector(database, password="not-the-password-4711").execute_read("SELECT 1", options=QueryOptions())

    assert caught.value.code == "datasource_auth_failed"
    assert "not-the-password-4711" not in caught.value.message


def test_a_missing_database_is_not_found(database: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        pg_connector(database + "_missing").test()

    assert caught.value.code == "datasource_not_found"


def test_execute_write_dry_run_rolls_back_and_a_real_run_commits(connector: PostgresConnector, database: str) -> None:
    dry = connector.execute_write(
        "DELETE FROM sales.orders WHERE id > 40 RETURNING id", options=QueryOptions(), dry_run=True
    )
    assert (dry.rows_affected, dry.committed) == (10, False)
    assert dry.preview is not None and dry.preview.rows_returned == 10
    assert count_orders(database) == 50

    ddl = connector.execute_write("DROP TABLE public.notes", options=QueryOptions(), dry_run=True)
    assert ddl.committed is False
    assert ("public", "notes") in {(t.schema, t.name) for t in connector.introspect().tables}

    real = connector.execute_write("DELETE FROM sales.orders WHERE id > 45", options=QueryOptions())
    assert (real.rows_affected, real.committed, real.preview) == (5, True, None)
    assert count_orders(database) == 45
    connector.execute_write(
        "INSERT INTO sales.orders (id, customer_id, amount) SELECT g, 1, g * 1.5 FROM generate_series(46, 50) g",
        options=QueryOptions(),
    )
    assert count_orders(database) == 50


def test_execute_write_takes_exactly_one_statement(connector: PostgresConnector, database: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        connector.execute_write(
            "DELETE FROM sales.orders WHERE id = 1; DELETE FROM sales.orders", options=QueryOptions()
        )

    assert caught.value.code == "query_invalid"
    assert count_orders(database) == 50


def test_validate_settings_normalises_and_refuses_without_connecting() -> None:
    normalised = PostgresConnector.validate_settings(
        {"host": "127.0.0.1", "port": "6543", "database": "shop", "user": "reader"}, POLICY
    )
    assert normalised == {"host": "127.0.0.1", "port": 6543, "database": "shop", "user": "reader", "sslmode": "prefer"}

    base = {"host": "127.0.0.1", "database": "shop", "user": "reader"}
    cases: list[tuple[dict[str, Any], GuardPolicy, str]] = [
        ({"host": ""}, POLICY, "datasource_invalid_settings"),
        ({"port": 0}, POLICY, "datasource_invalid_settings"),
        ({"port": "http"}, POLICY, "datasource_invalid_settings"),
        ({"sslmode": "sometimes"}, POLICY, "datasource_invalid_settings"),
        ({"schemas": "public"}, POLICY, "datasource_invalid_settings"),
        ({"hostname": "db"}, POLICY, "datasource_invalid_settings"),
        ({"host": "169.254.169.254"}, POLICY, "datasource_forbidden_host"),
        ({}, GuardPolicy(), "datasource_forbidden_host"),
    ]
    for changes, policy, code in cases:
        with pytest.raises(ConnectorError) as caught:
            PostgresConnector.validate_settings({**base, **changes}, policy)
        assert caught.value.code == code, changes


# --- sequences in dry runs ---------------------------------------------------------------------

# Tables whose ids a default draws from a sequence: serial, identity, and a default calling nextval.
ID_COLUMNS = {
    "serial": "id serial PRIMARY KEY",
    "identity": "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    "nextval": "id bigint PRIMARY KEY DEFAULT nextval('public.ticket_numbers')",
}


def admin_connection(database: str) -> psycopg.Connection[Any]:
    return psycopg.connect(dbname=database, autocommit=True, **_server())


@pytest.fixture
def tickets(database: str, request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """An empty table ``public.tickets`` with ids from a sequence (``request.param`` of ID_COLUMNS,
    serial by default); yields the table and its sequence."""
    kind = getattr(request, "param", "serial")
    with admin_connection(database) as conn:
        conn.execute("CREATE SEQUENCE public.ticket_numbers")
        conn.execute(f"CREATE TABLE public.tickets ({ID_COLUMNS[kind]}, title text NOT NULL)")
        row = conn.execute("SELECT pg_get_serial_sequence('public.tickets', 'id')").fetchone()
    sequence = row[0] if row and row[0] else "public.ticket_numbers"
    try:
        yield "public.tickets", sequence
    finally:
        with admin_connection(database) as conn:
            conn.execute("DROP TABLE public.tickets")
            conn.execute("DROP SEQUENCE public.ticket_numbers")


def next_id(database: str, sequence: str) -> int:
    """Draws from ``sequence``, as the next writer would."""
    with admin_connection(database) as conn:
        row = conn.execute("SELECT nextval(%s)", (sequence,)).fetchone()
    assert row is not None
    return int(row[0])


def returned_ids(result: WriteResult) -> list[int]:
    assert result.preview is not None
    return [row[0] for row in result.preview.rows]


@pytest.mark.parametrize("tickets", list(ID_COLUMNS), indirect=True)
def test_a_dry_run_insert_shows_the_ids_the_real_insert_gets(
    connector: PostgresConnector, database: str, tickets: tuple[str, str]
) -> None:
    table, sequence = tickets
    sql = f"INSERT INTO {table} (title) VALUES ('first'), ('second') RETURNING id"

    for expected in ([1, 2], [3, 4]):  # from a sequence never called yet, then from one that was
        dry = connector.execute_write(sql, options=QueryOptions(), dry_run=True)
        again = connector.execute_write(sql, options=QueryOptions(), dry_run=True)
        real = connector.execute_write(sql, options=QueryOptions())

        assert returned_ids(dry) == returned_ids(again) == returned_ids(real) == expected
        assert dry.sequences_consumed == again.sequences_consumed == real.sequences_consumed == ()
    assert next_id(database, sequence) == 5  # no gap


def test_an_update_setting_an_id_to_its_default_is_set_back_too(
    connector: PostgresConnector, database: str, tickets: tuple[str, str]
) -> None:
    table, sequence = tickets
    connector.execute_write(f"INSERT INTO {table} (title) VALUES ('first')", options=QueryOptions())

    dry = connector.execute_write(
        f"UPDATE {table} SET id = DEFAULT WHERE id = 1 RETURNING id", options=QueryOptions(), dry_run=True
    )

    assert (returned_ids(dry), dry.sequences_consumed) == ([2], ())
    assert next_id(database, sequence) == 2


@pytest.mark.parametrize("tickets", ["nextval"], indirect=True)
def test_a_sequence_another_tables_default_draws_from_is_not_set_back_but_named(
    connector: PostgresConnector, database: str, tickets: tuple[str, str]
) -> None:
    table, sequence = tickets
    with admin_connection(database) as conn:
        conn.execute("CREATE TABLE public.tasks (id bigint DEFAULT nextval('public.ticket_numbers'), title text)")
    try:
        # The writers of public.tasks are not locked out: the change might not be the dry run's alone.
        dry = connector.execute_write(
            f"INSERT INTO {table} (title) VALUES ('first') RETURNING id", options=QueryOptions(), dry_run=True
        )
    finally:
        with admin_connection(database) as conn:
            conn.execute("DROP TABLE public.tasks")

    assert (returned_ids(dry), dry.sequences_consumed) == ([1], (sequence,))
    assert next_id(database, sequence) == 2


@pytest.fixture
def ticket_writer(database: str, tickets: tuple[str, str]) -> Iterator[Callable[[str, str], PostgresConnector]]:
    """Makes a login granted ``table_grants`` on the tickets and ``sequence_grants`` on their
    sequence, and returns a connector for it; the logins are dropped afterwards."""
    roles: list[str] = []

    def make(table_grants: str, sequence_grants: str) -> PostgresConnector:
        role, password = f"psa_ticket_writer_{os.getpid()}_{len(roles)}", "writer-password-4711"
        roles.append(role)
        with admin_connection(database) as conn:
            conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
            conn.execute(f"GRANT {table_grants} ON {tickets[0]} TO {role}")
            conn.execute(f"GRANT {sequence_grants} ON SEQUENCE {tickets[1]} TO {role}")
        return pg_connector(database, user=role, password=password)

    try:
        yield make
    finally:
        close_pools()  # the logins' pooled connections
        with admin_connection(database) as conn:
            for role in roles:
                conn.execute(f"DROP OWNED BY {role}")
                conn.execute(f"DROP ROLE {role}")


@pytest.mark.parametrize(
    ("table_grants", "sequence_grants"),
    [
        ("INSERT", "USAGE"),  # it cannot lock the table in SHARE ROW EXCLUSIVE mode, nor read the sequence
        ("INSERT, UPDATE", "USAGE, SELECT"),  # it locks and reads, but setval needs UPDATE on the sequence
    ],
)
def test_a_login_that_cannot_set_the_sequence_back_is_told_its_dry_run_used_up_ids(
    database: str,
    tickets: tuple[str, str],
    ticket_writer: Callable[[str, str], PostgresConnector],
    table_grants: str,
    sequence_grants: str,
) -> None:
    table, sequence = tickets
    writer = ticket_writer(table_grants, sequence_grants)
    sql = f"INSERT INTO {table} (title) VALUES ('first'), ('second')"  # RETURNING would need SELECT

    dry = writer.execute_write(sql, options=QueryOptions(), dry_run=True)
    real = writer.execute_write(sql, options=QueryOptions())

    assert (dry.rows_affected, dry.committed, dry.sequences_consumed) == (2, False, (sequence,))
    assert (real.rows_affected, real.sequences_consumed) == (2, ())
    with admin_connection(database) as conn:
        ids = [row[0] for row in conn.execute(f"SELECT id FROM {table} ORDER BY id")]
    assert ids == [3, 4]  # the dry run used up 1 and 2


def test_a_writer_waits_for_a_dry_run_and_then_gets_the_ids_it_showed(
    connector: PostgresConnector, database: str, tickets: tuple[str, str]
) -> None:
    table, sequence = tickets
    connector.execute_write(f"INSERT INTO {table} (title) VALUES ('first')", options=QueryOptions())
    gate = 4711_0000 + os.getpid() % 10_000
    # The dry run's statement waits for an advisory lock the test holds: it is running, and holds
    # its table lock, until the test lets it go.
    dry_sql = (
        f"INSERT INTO {table} (title) SELECT 'dry' FROM (SELECT pg_advisory_xact_lock({gate})) AS gate RETURNING id"
    )
    results: dict[str, Any] = {}

    def dry_run() -> None:
        results["dry"] = connector.execute_write(dry_sql, options=QueryOptions(timeout_seconds=30), dry_run=True)

    def write() -> None:
        with admin_connection(database) as conn:
            row = conn.execute(f"INSERT INTO {table} (title) VALUES ('concurrent') RETURNING id").fetchone()
        results["write"] = row[0] if row else None

    def table_locks(granted: bool) -> set[str]:
        with admin_connection(database) as conn:
            rows = conn.execute(
                "SELECT mode FROM pg_locks WHERE relation = %s::regclass AND granted = %s", (table, granted)
            ).fetchall()
        return {row[0] for row in rows}

    with admin_connection(database) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (gate,))
        dry_thread = threading.Thread(target=dry_run)
        dry_thread.start()
        wait_for(lambda: "ShareRowExclusiveLock" in table_locks(True), timeout=10, what="the dry run's table lock")
        write_thread = threading.Thread(target=write)
        write_thread.start()
        wait_for(lambda: "RowExclusiveLock" in table_locks(False), timeout=10, what="the writer waiting")
        assert "write" not in results
        holder.execute("SELECT pg_advisory_unlock(%s)", (gate,))
        dry_thread.join(timeout=10)
        write_thread.join(timeout=10)

    assert not dry_thread.is_alive() and not write_thread.is_alive()
    assert (returned_ids(results["dry"]), results["dry"].sequences_consumed) == ([2], ())
    assert results["write"] == 2
    assert next_id(database, sequence) == 3


def test_a_dry_run_waits_for_the_table_lock_no_longer_than_the_statement_timeout(
    connector: PostgresConnector, database: str, tickets: tuple[str, str]
) -> None:
    table, _ = tickets
    with admin_connection(database) as writer, writer.transaction():
        writer.execute(f"INSERT INTO {table} (title) VALUES ('uncommitted')")  # holds ROW EXCLUSIVE
        started = time.monotonic()
        with pytest.raises(ConnectorError) as caught:
            connector.execute_write(
                f"INSERT INTO {table} (title) VALUES ('dry')", options=QueryOptions(timeout_seconds=0.5), dry_run=True
            )

    assert caught.value.code == "query_timeout"
    assert time.monotonic() - started < 4


def test_a_delete_dry_run_does_not_lock_the_table(
    connector: PostgresConnector, database: str, tickets: tuple[str, str]
) -> None:
    table, _ = tickets
    with admin_connection(database) as writer, writer.transaction():
        writer.execute(f"INSERT INTO {table} (title) VALUES ('uncommitted')")  # holds ROW EXCLUSIVE

        dry = connector.execute_write(
            f"DELETE FROM {table} RETURNING id", options=QueryOptions(timeout_seconds=5), dry_run=True
        )

    assert (dry.rows_affected, dry.sequences_consumed) == (0, ())


# --- what a login can see ----------------------------------------------------------------------


@pytest.fixture
def make_schema(database: str) -> Iterator[Callable[[int], str]]:
    """Makes a schema holding ``tables`` tables and one view on the first (none when 0), owned by
    the superuser; dropped afterwards."""
    made: list[str] = []

    def make(tables: int) -> str:
        name = f"psa_visibility_{os.getpid()}_{len(made)}"
        made.append(name)
        with admin_connection(database) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
            for index in range(tables):
                conn.execute(f"CREATE TABLE {name}.t{index} (id integer PRIMARY KEY)")
            if tables:
                conn.execute(f"CREATE VIEW {name}.v AS SELECT id FROM {name}.t0")
        return name

    try:
        yield make
    finally:
        with admin_connection(database) as conn:
            for name in made:
                conn.execute(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture
def make_login(database: str) -> Iterator[Callable[..., PostgresConnector]]:
    """Makes a login with ``grants`` (statements, ``{role}`` standing for it) and returns a connector
    for it with the ``schemas`` setting given; the logins are dropped afterwards."""
    roles: list[str] = []

    def make(grants: list[str], **overrides: Any) -> PostgresConnector:
        role, password = f"psa_reader_{os.getpid()}_{len(roles)}", "reader-password-4711"
        roles.append(role)
        with admin_connection(database) as conn:
            conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
            for grant in grants:
                conn.execute(grant.format(role=role))
        return pg_connector(database, user=role, password=password, **overrides)

    try:
        yield make
    finally:
        close_pools()
        with admin_connection(database) as conn:
            for role in roles:
                conn.execute(f"DROP OWNED BY {role}")
                conn.execute(f"DROP ROLE {role}")


def assert_carried(connector: PostgresConnector, expected: Visibility) -> None:
    """visibility(), test() and, where there are no tables, introspect() say the same."""
    assert connector.visibility() == expected
    assert connector.test().visibility == expected
    introspection = connector.introspect()
    if expected.visible:
        assert (len(introspection.tables), introspection.visibility) == (expected.visible, None)
    else:
        assert (introspection.tables, introspection.visibility) == ((), expected)


def test_a_login_that_reads_everything_sees_every_table_and_view(connector: PostgresConnector) -> None:
    assert_carried(connector, Visibility(visible=5, unreadable=0, code="", message=""))


def test_the_demo_warehouse_is_visible(demo_files: dict[str, Any]) -> None:
    demo = demo_files["postgresql"]
    warehouse = build_connector(ConnectionConfig("postgresql", demo.settings, demo.secrets), POLICY)

    visibility = warehouse.visibility()

    assert (visibility.code, visibility.message, visibility.unreadable) == ("", "", 0)
    assert visibility.visible == len(warehouse.introspect().tables) > 0
    assert warehouse.test().visibility == visibility


def test_a_login_without_select_on_a_schema_with_tables_sees_none_and_is_told_to_grant_select(
    make_schema: Callable[[int], str], make_login: Callable[..., PostgresConnector]
) -> None:
    schema = make_schema(2)
    reader = make_login([f"GRANT USAGE ON SCHEMA {schema} TO {{role}}"], schemas=[schema])
    role = reader.config.settings["user"]

    assert_carried(
        reader,
        Visibility(
            visible=0,
            unreadable=3,
            code="no_tables_visible",
            message=(
                f"The login {role!r} may not read any of the 3 tables or views in the schema {schema!r}: grant it "
                f"SELECT on the tables it should read (GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role})."
            ),
        ),
    )


def test_a_login_granted_select_but_not_usage_on_the_schema_is_told_so(
    make_schema: Callable[[int], str], make_login: Callable[..., PostgresConnector]
) -> None:
    schema = make_schema(2)
    reader = make_login([f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {{role}}"], schemas=[schema])
    role = reader.config.settings["user"]

    # Its tables are left out of the catalog too: every query on them would fail.
    assert_carried(
        reader,
        Visibility(
            visible=0,
            unreadable=3,
            code="no_tables_visible",
            message=(
                f"The login {role!r} may not use the schema {schema!r} (no USAGE privilege on it), which holds 3 "
                f"tables or views: grant USAGE ON SCHEMA {schema} TO {role}, and SELECT on the tables it should read."
            ),
        ),
    )
    with pytest.raises(ConnectorError, match="permission denied for schema"):
        reader.execute_read(f"SELECT * FROM {schema}.t0", options=QueryOptions())


def test_a_login_that_reads_some_tables_counts_the_others_as_unreadable(
    make_schema: Callable[[int], str], make_login: Callable[..., PostgresConnector]
) -> None:
    schema = make_schema(3)
    grants = [f"GRANT USAGE ON SCHEMA {schema} TO {{role}}", f"GRANT SELECT ON {schema}.t1 TO {{role}}",
              f"GRANT SELECT (id) ON {schema}.t2 TO {{role}}"]  # fmt: skip
    reader = make_login(grants, schemas=[schema])

    assert_carried(reader, Visibility(visible=2, unreadable=2, code="", message=""))


def test_an_empty_schema_is_an_empty_schema(database: str, make_schema: Callable[[int], str]) -> None:
    schema = make_schema(0)

    assert_carried(
        pg_connector(database, schemas=[schema]),
        Visibility(
            visible=0, unreadable=0, code="empty_schema", message=f"The schema {schema!r} has no tables or views."
        ),
    )


def test_a_schema_setting_that_names_no_schema_is_schema_not_found(
    database: str, make_schema: Callable[[int], str]
) -> None:
    missing = f"psa_nowhere_{os.getpid()}"
    empty = make_schema(0)

    assert_carried(
        pg_connector(database, schemas=[missing]),
        Visibility(
            visible=0,
            unreadable=0,
            code="schema_not_found",
            message=f"The schema {missing!r} does not exist in the database {database!r}: check the schemas setting.",
        ),
    )
    # A missing schema says more than an empty one: it comes first, and both are named.
    assert pg_connector(database, schemas=[empty, missing]).visibility() == Visibility(
        visible=0,
        unreadable=0,
        code="schema_not_found",
        message=(
            f"The schema {missing!r} does not exist in the database {database!r}: check the schemas setting. "
            f"The schema {empty!r} has no tables or views."
        ),
    )
    # A schema that exists beside it and holds tables is what counts.
    assert pg_connector(database, schemas=["sales", missing]).visibility() == Visibility(
        visible=4, unreadable=0, code="", message=""
    )


def test_a_database_without_tables_is_an_empty_schema_without_a_schemas_setting() -> None:
    server = _server()
    name = f"psa_connector_empty_{os.getpid()}"
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            assert_carried(
                pg_connector(name),
                Visibility(
                    visible=0,
                    unreadable=0,
                    code="empty_schema",
                    message=f"The database {name!r} has no tables or views outside the system schemas.",
                ),
            )
        finally:
            close_pools()
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
