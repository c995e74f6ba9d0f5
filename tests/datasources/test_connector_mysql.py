"""The MySQL/MariaDB connector against the server in TEST_MYSQL_URL (skipped without one)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import pymysql
import pytest

from datasources.connectors import (
    ConnectionConfig,
    ConnectorError,
    GuardPolicy,
    QueryOptions,
    Visibility,
    build_connector,
)
from datasources.connectors.mysql import MySQLConnector, _Grants
from tests.conftest import _free_port, wait_for

POLICY = GuardPolicy(allow_private=True)  # test servers listen on 127.0.0.1
# Heavy enough to run for minutes; unlike SLEEP() and BENCHMARK(), MariaDB stops it with an error.
SLOW = "SELECT count(*) FROM information_schema.COLUMNS a, information_schema.COLUMNS b, information_schema.COLUMNS c"

SCHEMA = [
    """CREATE TABLE customers (
        id INT PRIMARY KEY,
        name VARCHAR(120) NOT NULL,
        region VARCHAR(20) NULL COMMENT 'Sales region, e.g. EMEA'
    ) ENGINE=InnoDB COMMENT='People who buy from us'""",
    """CREATE TABLE orders (
        id BIGINT PRIMARY KEY,
        customer_id INT NOT NULL,
        amount DECIMAL(10, 2),
        placed_at DATETIME NOT NULL DEFAULT '2024-05-01 12:00:00',
        CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
    ) ENGINE=InnoDB""",
    "CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 10",
    "INSERT INTO customers VALUES (1, 'Alice', 'EMEA'), (2, 'Bob', NULL), (3, 'Charlie', 'NA')",
    """INSERT INTO orders (id, customer_id, amount)
       WITH RECURSIVE g (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 50)
       SELECT n, 1 + n % 3, n * 1.5 FROM g""",
    "ANALYZE TABLE customers, orders",
]


def _server() -> dict[str, Any]:
    url = os.environ.get("TEST_MYSQL_URL")
    if not url:
        pytest.skip("TEST_MYSQL_URL is not set: MySQL/MariaDB connector tests need a server")
    parts = urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
    }


def _admin(database: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(database=database, autocommit=True, **_server())


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    name = f"psa_connector_test_{os.getpid()}"
    admin = _admin()
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute(f"CREATE DATABASE `{name}`")
    try:
        conn = _admin(name)
        with conn.cursor() as cursor:
            for statement in SCHEMA:
                cursor.execute(statement)
                cursor.fetchall()
        conn.close()
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def mysql_connector(database: str, **overrides: Any) -> MySQLConnector:
    server = _server()
    password = overrides.pop("password", server["password"])
    settings = {"host": server["host"], "port": server["port"], "database": database, "user": server["user"]}
    connector = build_connector(ConnectionConfig("mysql", {**settings, **overrides}, {"password": password}), POLICY)
    assert isinstance(connector, MySQLConnector)
    return connector


@pytest.fixture
def connector(database: str) -> MySQLConnector:
    return mysql_connector(database)


def count_orders(database: str) -> int:
    conn = _admin(database)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM orders")
            row = cursor.fetchone()
    finally:
        conn.close()
    return int(row[0])


def test_test_returns_the_server_version(connector: MySQLConnector) -> None:
    info = connector.test()

    assert info.server_version.split(" ")[0] in {"MySQL", "MariaDB"}
    assert not info.server_version.split(" ")[1].startswith("5.5.5-")


def test_introspection_reads_tables_views_columns_keys_comments_and_estimates(connector: MySQLConnector) -> None:
    progress: list[tuple[int, int]] = []

    introspection = connector.introspect(progress=lambda done, total: progress.append((done, total)))

    tables = {table.name: table for table in introspection.tables}
    assert sorted(tables) == ["big_orders", "customers", "orders"]
    customers, orders, view = tables["customers"], tables["orders"], tables["big_orders"]
    assert (customers.kind, customers.comment) == ("table", "People who buy from us")
    assert (view.kind, view.comment, view.row_estimate) == ("view", "", None)
    assert customers.row_estimate is not None and orders.row_estimate is not None
    assert [(c.name, c.ordinal, c.nullable, c.is_primary_key) for c in customers.columns] == [
        ("id", 1, False, True),
        ("name", 2, False, False),
        ("region", 3, True, False),
    ]
    assert customers.columns[1].data_type == "varchar(120)"
    assert customers.columns[2].comment == "Sales region, e.g. EMEA"
    customer_id = next(column for column in orders.columns if column.name == "customer_id")
    assert (customer_id.fk_schema, customer_id.fk_table, customer_id.fk_column) == (
        customers.schema,
        "customers",
        "id",
    )
    assert next(column for column in orders.columns if column.name == "amount").data_type == "decimal(10,2)"
    assert progress[-1] == (3, 3)


def test_a_read_is_capped_at_max_rows_and_previews_preview_rows(connector: MySQLConnector) -> None:
    result = connector.execute_read(
        "SELECT id, amount, placed_at FROM orders ORDER BY id", options=QueryOptions(max_rows=20, preview_rows=2)
    )

    assert result.columns == ("id", "amount", "placed_at")
    assert result.column_types == ("bigint", "decimal", "datetime")
    assert result.rows == ((1, "1.50", "2024-05-01T12:00:00"), (2, "3.00", "2024-05-01T12:00:00"))
    assert (result.rows_returned, result.truncated) == (20, True)

    whole = connector.execute_read("SELECT id FROM orders WHERE amount LIKE '%.5%'", options=QueryOptions())
    assert (whole.rows_returned, whole.truncated) == (25, False)

    empty = connector.execute_read("SELECT id, name FROM customers WHERE 1 = 0", options=QueryOptions())
    assert (empty.columns, empty.rows_returned) == (("id", "name"), 0)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO orders (id, customer_id) VALUES (1000, 1)",
        "UPDATE orders SET amount = 0",
        "DELETE FROM orders",
        "REPLACE INTO orders (id, customer_id) VALUES (1, 1)",
        "CREATE TABLE evil (id INT)",
        "DROP TABLE orders",
        "TRUNCATE TABLE orders",
        "ALTER TABLE orders ADD COLUMN evil INT",
    ],
)
def test_writes_on_the_read_path_are_refused_by_the_engine(connector: MySQLConnector, database: str, sql: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        connector.execute_read(sql, options=QueryOptions())

    assert caught.value.code == "query_not_read_only"
    assert count_orders(database) == 50


def test_a_second_statement_is_not_run(connector: MySQLConnector, database: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        connector.execute_read("COMMIT; DELETE FROM orders", options=QueryOptions())

    assert caught.value.code == "query_invalid"
    assert count_orders(database) == 50


def test_a_slow_statement_times_out(connector: MySQLConnector) -> None:
    started = time.monotonic()
    with pytest.raises(ConnectorError) as caught:
        connector.execute_read(SLOW, options=QueryOptions(timeout_seconds=0.5))

    assert caught.value.code == "query_timeout"
    assert time.monotonic() - started < 5


def test_a_silently_stopped_function_is_still_a_timeout(connector: MySQLConnector) -> None:
    # MariaDB answers BENCHMARK() with 0 when its time limit stops it, instead of an error.
    with pytest.raises(ConnectorError) as caught:
        connector.execute_read("SELECT BENCHMARK(5000000000, MD5('x'))", options=QueryOptions(timeout_seconds=0.3))

    assert caught.value.code == "query_timeout"


def test_cancel_from_another_thread_stops_a_running_statement(connector: MySQLConnector) -> None:
    errors: list[ConnectorError] = []
    marker = f"cancel-me-{os.getpid()}"

    def run() -> None:
        try:
            connector.execute_read(f"{SLOW} WHERE '{marker}' <> ''", options=QueryOptions(timeout_seconds=60))
        except ConnectorError as exc:
            errors.append(exc)

    def running() -> bool:
        conn = _admin()
        try:
            with conn.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE %s AND ID <> CONNECTION_ID()",
                    (f"%{marker}%",),
                )
                row = cursor.fetchone()
        finally:
            conn.close()
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


def test_stream_yields_every_row_in_batches(connector: MySQLConnector) -> None:
    # Servers cap recursive CTEs at 1000 steps by default: five digits cross-joined instead.
    sql = """
        WITH d (x) AS (SELECT 0 UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
                       UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9),
             g (n) AS (SELECT 1 + a.x + 10 * b.x + 100 * c.x + 1000 * e.x + 10000 * f.x FROM d a, d b, d c, d e, d f)
        SELECT n, n / 4 AS quarter FROM g WHERE n <= 25000 ORDER BY n
    """
    with connector.stream(sql, options=QueryOptions(), batch_rows=10_000) as streamed:
        batches = [list(batch) for batch in streamed.batches()]

    assert streamed.columns == ("n", "quarter")
    assert [len(batch) for batch in batches] == [10_000, 10_000, 5_000]
    assert sum(row[0] for batch in batches for row in batch) == 25000 * 25001 // 2


def test_stream_is_read_only_too(connector: MySQLConnector, database: str) -> None:
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
    ],
)
def test_engine_errors_have_stable_codes(connector: MySQLConnector, sql: str, code: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        connector.execute_read(sql, options=QueryOptions())

    assert caught.value.code == code


def test_a_closed_port_is_unreachable(database: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        mysql_connector(database, port=_free_port()).test()

    assert caught.value.code == "datasource_unreachable"


def test_a_wrong_password_is_refused_without_showing_it(database: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        mysql_connector(database, password="not-the-password-4711").execute_read("SELECT 1", options=QueryOptions())

    assert caught.value.code == "datasource_auth_failed"
    assert "not-the-password-4711" not in caught.value.message


def test_a_missing_database_is_not_found(database: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        mysql_connector(database + "_missing").test()

    assert caught.value.code == "datasource_not_found"


def test_execute_write_dry_run_rolls_back_and_a_real_run_commits(connector: MySQLConnector, database: str) -> None:
    dry = connector.execute_write("DELETE FROM orders WHERE id > 40", options=QueryOptions(), dry_run=True)
    assert (dry.rows_affected, dry.committed) == (10, False)
    assert count_orders(database) == 50

    with pytest.raises(ConnectorError) as ddl:
        connector.execute_write("DROP TABLE orders", options=QueryOptions(), dry_run=True)
    assert ddl.value.code == "dry_run_not_supported"  # MySQL would commit it at once
    assert count_orders(database) == 50

    real = connector.execute_write("DELETE FROM orders WHERE id > 45", options=QueryOptions())
    assert (real.rows_affected, real.committed) == (5, True)
    assert count_orders(database) == 45
    connector.execute_write(
        "INSERT INTO orders (id, customer_id, amount) VALUES (46, 1, 69), (47, 1, 70.5), (48, 1, 72), "
        "(49, 1, 73.5), (50, 1, 75)",
        options=QueryOptions(),
    )
    assert count_orders(database) == 50


def test_validate_settings_normalises_and_refuses_without_connecting() -> None:
    normalised = MySQLConnector.validate_settings(
        {"host": "127.0.0.1", "port": "3307", "database": "shop", "user": "reader"}, POLICY
    )
    assert normalised == {"host": "127.0.0.1", "port": 3307, "database": "shop", "user": "reader", "sslmode": "prefer"}

    base = {"host": "127.0.0.1", "database": "shop", "user": "reader"}
    cases: list[tuple[dict[str, Any], GuardPolicy, str]] = [
        ({"database": ""}, POLICY, "datasource_invalid_settings"),
        ({"port": 65536}, POLICY, "datasource_invalid_settings"),
        ({"sslmode": "verify-identity"}, POLICY, "datasource_invalid_settings"),
        ({"host": "metadata.google.internal"}, POLICY, "datasource_forbidden_host"),
        ({}, GuardPolicy(), "datasource_forbidden_host"),
    ]
    for changes, policy, code in cases:
        with pytest.raises(ConnectorError) as caught:
            MySQLConnector.validate_settings({**base, **changes}, policy)
        assert caught.value.code == code, changes


@pytest.fixture
def tickets(database: str) -> Iterator[str]:
    """An empty table with an AUTO_INCREMENT id."""
    conn = _admin(database)
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE tickets (id INT AUTO_INCREMENT PRIMARY KEY, title TEXT NOT NULL) ENGINE=InnoDB")
    try:
        yield "tickets"
    finally:
        with conn.cursor() as cursor:
            cursor.execute("DROP TABLE tickets")
        conn.close()


def ticket_ids(database: str) -> list[int]:
    conn = _admin(database)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT id FROM tickets ORDER BY id")
            return [row[0] for row in cursor.fetchall()]
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("sql", "real_ids"),
    [
        ("INSERT INTO tickets (title) VALUES ('first'), ('second')", [3, 4]),
        ("REPLACE INTO tickets (title) VALUES ('first'), ('second')", [3, 4]),
        ("INSERT INTO tickets (id, title) VALUES (100, 'first'), (101, 'second')", [102, 103]),  # explicit ids
    ],
)
def test_a_dry_run_that_advances_auto_increment_says_so(
    connector: MySQLConnector, database: str, tickets: str, sql: str, real_ids: list[int]
) -> None:
    dry = connector.execute_write(sql, options=QueryOptions(), dry_run=True)
    real = connector.execute_write("INSERT INTO tickets (title) VALUES ('real'), ('real')", options=QueryOptions())

    assert (dry.rows_affected, dry.committed, dry.sequences_consumed) == (2, False, ("tickets AUTO_INCREMENT",))
    assert real.sequences_consumed == ()
    assert ticket_ids(database) == real_ids  # InnoDB rolled back the rows, not the counter


def test_a_dry_run_names_the_counter_as_the_statement_names_the_table(
    connector: MySQLConnector, database: str, tickets: str
) -> None:
    dry = connector.execute_write(
        f"INSERT INTO `{database}`.tickets (title) VALUES ('first')", options=QueryOptions(), dry_run=True
    )

    assert dry.sequences_consumed == (f"{database}.tickets AUTO_INCREMENT",)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO orders (id, customer_id, amount) VALUES (1000, 1, 1)",  # no AUTO_INCREMENT column
        "DELETE FROM tickets",
        "UPDATE tickets SET title = 'x'",
    ],
)
def test_a_dry_run_that_leaves_auto_increment_alone_says_nothing(
    connector: MySQLConnector, tickets: str, sql: str
) -> None:
    dry = connector.execute_write(sql, options=QueryOptions(), dry_run=True)

    assert dry.sequences_consumed == ()


# --- what a login can see ----------------------------------------------------------------------


@dataclass
class Scratch:
    """Databases and logins made by one test, named with the process id, dropped afterwards."""

    databases: list[str]
    accounts: list[str]

    def database(self, *tables: str) -> str:
        name = f"psa_visibility_{os.getpid()}_{len(self.databases)}"
        self.databases.append(name)
        admin = _admin()
        try:
            with admin.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
                cursor.execute(f"CREATE DATABASE `{name}`")
                for table in tables:
                    cursor.execute(f"CREATE TABLE `{name}`.`{table}` (id INT PRIMARY KEY)")
        finally:
            admin.close()
        return name

    def login(self, grants: list[str], database: str, **overrides: Any) -> MySQLConnector:
        """A login with ``grants`` (statements, ``{account}`` standing for it), connecting to ``database``."""
        user, password = f"psa_reader_{os.getpid()}_{len(self.accounts)}", "reader-password-4711"
        account = f"'{user}'@'%'"
        self.accounts.append(account)
        admin = _admin()
        try:
            with admin.cursor() as cursor:
                cursor.execute(f"DROP USER IF EXISTS {account}")
                cursor.execute(f"CREATE USER {account} IDENTIFIED BY '{password}'")
                for grant in grants:
                    cursor.execute(grant.format(account=account))
        finally:
            admin.close()
        return mysql_connector(database, user=user, password=password, **overrides)


@pytest.fixture
def scratch() -> Iterator[Scratch]:
    made = Scratch(databases=[], accounts=[])
    try:
        yield made
    finally:
        admin = _admin()
        try:
            with admin.cursor() as cursor:
                for account in made.accounts:
                    cursor.execute(f"DROP USER IF EXISTS {account}")
                for name in made.databases:
                    cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
                cursor.execute(f"DROP ROLE IF EXISTS psa_readers_{os.getpid()}")
        finally:
            admin.close()


def engine() -> str:
    admin = _admin()
    try:
        return "MariaDB" if "mariadb" in str(admin.get_server_info()).lower() else "MySQL"
    finally:
        admin.close()


def assert_carried(connector: MySQLConnector, expected: Visibility) -> None:
    """visibility(), test() and, where there are no tables, introspect() say the same."""
    assert connector.visibility() == expected
    assert connector.test().visibility == expected
    introspection = connector.introspect()
    if expected.visible:
        assert (len(introspection.tables), introspection.visibility) == (expected.visible, None)
    else:
        assert (introspection.tables, introspection.visibility) == ((), expected)


def test_a_login_that_reads_the_database_sees_its_tables_and_views(connector: MySQLConnector) -> None:
    assert_carried(connector, Visibility(visible=3, unreadable=None, code="", message=""))


def test_a_login_without_privileges_on_the_tables_of_a_database_is_told_to_grant_select(scratch: Scratch) -> None:
    shop = scratch.database("customers", "orders")
    # LOCK TABLES lets it connect to the database; it holds no privilege on a table.
    reader = scratch.login([f"GRANT LOCK TABLES ON `{shop}`.* TO {{account}}"], shop)
    account = f"'{reader.config.settings['user']}'@'%'"

    assert_carried(
        reader,
        Visibility(
            visible=0,
            unreadable=None,
            code="no_tables_visible",
            message=(
                f"The login {account} sees no tables in the database {shop!r}: {engine()} shows a login only the "
                "tables it holds a privilege on, and it holds none there. Grant it SELECT on the tables it should "
                f"read (GRANT SELECT ON `{shop}`.* TO {account} for a whole database)."
            ),
        ),
    )


def test_a_database_hidden_from_the_login_may_be_missing_or_forbidden(scratch: Scratch) -> None:
    own, shop = scratch.database(), scratch.database("customers")
    reader = scratch.login([f"GRANT SELECT ON `{own}`.* TO {{account}}"], own, schemas=[shop])
    account = f"'{reader.config.settings['user']}'@'%'"

    assert_carried(
        reader,
        Visibility(
            visible=0,
            unreadable=None,
            code="no_tables_visible",
            message=(
                f"The database {shop!r} does not exist, or the login {account} holds no privilege on it ({engine()} "
                f"hides such databases from it): check the schemas setting, or grant it SELECT ON `{shop}`.*."
            ),
        ),
    )


@pytest.mark.parametrize(
    "grant",
    [
        "GRANT SELECT ON `{database}`.* TO {{account}}",
        "GRANT ALL PRIVILEGES ON `{database}`.* TO {{account}}",
        r"GRANT SELECT, INSERT ON `psa\_visibility\_{pid}\_%`.* TO {{account}}",  # a pattern
        "role",  # through its default role
    ],
)
def test_a_login_that_may_read_an_empty_database_is_told_it_is_empty(scratch: Scratch, grant: str) -> None:
    empty = scratch.database()
    if grant == "role":
        role = f"psa_readers_{os.getpid()}"
        grants = [f"CREATE ROLE {role}", f"GRANT SELECT ON `{empty}`.* TO {role}", f"GRANT {role} TO {{account}}",
                  f"SET DEFAULT ROLE {role} FOR {{account}}"]  # fmt: skip
    else:
        grants = [grant.format(database=empty, pid=os.getpid())]
    reader = scratch.login(grants, empty)

    assert_carried(
        reader,
        Visibility(
            visible=0, unreadable=0, code="empty_schema", message=f"The database {empty!r} has no tables or views."
        ),
    )


def test_a_database_in_the_schemas_setting_that_does_not_exist_is_schema_not_found(
    database: str, scratch: Scratch
) -> None:
    missing, empty = f"psa_nowhere_{os.getpid()}", scratch.database()

    # root sees every database: one it does not see is not there
    assert_carried(
        mysql_connector(database, schemas=[missing]),
        Visibility(
            visible=0,
            unreadable=0,
            code="schema_not_found",
            message=f"The database {missing!r} does not exist: check the schemas setting.",
        ),
    )
    # so does a login granted privileges on that name
    grants = [f"GRANT SELECT ON `{name}`.* TO {{account}}" for name in (empty, missing)]
    reader = scratch.login(grants, empty, schemas=[empty, missing])
    assert reader.visibility() == Visibility(
        visible=0,
        unreadable=0,
        code="schema_not_found",
        message=(
            f"The database {missing!r} does not exist: check the schemas setting. "
            f"The database {empty!r} has no tables or views."
        ),
    )
    # beside a database with tables, the missing one leaves something to read
    assert mysql_connector(database, schemas=[database, missing]).visibility().code == ""


def test_show_grants_lines_are_read_as_the_engines_write_them() -> None:
    grants = _Grants.parse(
        [
            "GRANT USAGE ON *.* TO `reader`@`%`",
            "GRANT SELECT (`id`, `name`), INSERT ON `shop`.`customers` TO `reader`@`%`",
            "GRANT EXECUTE ON PROCEDURE `sales`.`refresh` TO `reader`@`%`",
            r"GRANT SELECT, SHOW VIEW ON `report\_%`.* TO `reader`@`%`",
            "GRANT LOCK TABLES ON `sales`.* TO `reader`@`%`",
            "GRANT `analyst`@`%` TO `reader`@`%`",
        ]
    )

    assert [grants.reads_every_table_of(name) for name in ("report_2024", "reportx2024", "sales", "shop")] == [
        True,
        False,
        False,
        False,
    ]
    assert [grants.would_see(name) for name in ("report_2024", "sales", "shop", "other")] == [True, True, False, False]
    # MySQL 8 lists global privileges one by one, and partial revokes take a database back out.
    mysql8 = _Grants.parse(
        ["GRANT SELECT, INSERT ON *.* TO `reader`@`%`", "REVOKE SELECT ON `payroll`.* FROM `reader`@`%`"]
    )
    assert (mysql8.reads_every_table_of("shop"), mysql8.reads_every_table_of("payroll")) == (True, False)
    assert mysql8.would_see("anything")
