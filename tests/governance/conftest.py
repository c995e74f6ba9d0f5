"""Real engines for the firewall's adversarial suite: the demo data in PostgreSQL, SQLite and
Parquet (DuckDB), and a small copy of it in MariaDB/MySQL when TEST_MYSQL_URL is set.

Each engine comes with the policy Ana (EMEA analyst) has on it and the truth read as the owner:
the real e-mails, the EMEA row counts, the names only non-EMEA customers have.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pymysql
import pytest
import sqlglot
from django.conf import settings

from datasources.connectors import ConnectionConfig, Connector, GuardPolicy, QueryOptions, build_connector
from datasources.demo_data import TABLES
from governance.firewall import FirewallPolicy, MaskStrategy, VisibleTable
from tests.datasources.conftest import demo_files  # noqa: F401  (session fixture, re-exported)

OWNER_READ = QueryOptions(timeout_seconds=60, max_rows=1_000_000, preview_rows=1_000_000)
MAX_ROWS = 1000
EMEA = "region = 'EMEA'"
# A costlier row filter: PostgreSQL evaluates cheap user predicates before it unless the rewritten
# subquery is fenced, which the "error oracle" case relies on.
EMEA_COSTLY = "upper(trim(region)) = 'EMEA'"
FILTERED = {"customers": EMEA, "contacts": EMEA, "support_tickets": EMEA, "accounts": EMEA, "invoices": EMEA_COSTLY}
HIDDEN_TABLES = frozenset({"payments", "invoice_lines", "subscriptions"})
HIDDEN_COLUMNS = {"customers": frozenset({"phone"})}
MASKS: Mapping[str, Mapping[str, MaskStrategy]] = {
    "customers": {"email": MaskStrategy.HASH},
    "contacts": {"email": MaskStrategy.PARTIAL, "phone": MaskStrategy.REDACT, "date_of_birth": MaskStrategy.NULL},
}
POLICY_NAMES = {
    "customers": ("emea_only", "hash_customer_email", "hide_customer_phone"),
    "contacts": ("emea_only", "mask_contact_pii"),
    "support_tickets": ("emea_only",),
    "accounts": ("emea_only",),
    "invoices": ("emea_only",),
}
# Tables copied into MariaDB (a few hundred rows each).
MYSQL_TABLES = ("customers", "contacts", "support_tickets", "accounts", "invoices", "payments", "events", "companies")
MYSQL_ROWS = 400


@dataclass(frozen=True)
class Truth:
    emea_counts: Mapping[str, int]  # logical table name -> rows the filter keeps
    emails: frozenset[str]  # every real e-mail (customers and contacts)
    contact_email_md5s: frozenset[str]  # md5 of contact e-mails (which are PARTIAL-masked, never hashed)
    non_emea_names: frozenset[str]  # customer names that only non-EMEA customers have
    non_emea_invoice_id: int


@dataclass(frozen=True)
class Engine:
    name: str  # postgresql | sqlite | duckdb | mysql
    connector: Connector
    policy: FirewallPolicy
    names: Mapping[str, str]  # logical table name -> how the cases write it
    truth: Truth

    def sql(self, template: str) -> str:
        cte_name = self.names["customers"].rsplit(".", 1)[-1]
        return template.format(**self.names, cname=cte_name, inv_id=self.truth.non_emea_invoice_id)


def build_policy(dialect: str, schema_of: Callable[[str, str], str], name_of: Callable[[str, str], str],
                 default_schema: str, only: tuple[str, ...] | None = None) -> FirewallPolicy:  # fmt: skip
    visible = []
    for table in TABLES:
        if table.name in HIDDEN_TABLES or (only is not None and table.name not in only):
            continue
        hidden = HIDDEN_COLUMNS.get(table.name, frozenset())
        condition = FILTERED.get(table.name)
        visible.append(
            VisibleTable(
                schema=schema_of(table.schema, table.name),
                name=name_of(table.schema, table.name),
                columns=tuple(c.name for c in table.columns if c.name not in hidden),
                row_filter=sqlglot.condition(condition, dialect=dialect) if condition else None,
                masks=MASKS.get(table.name, {}),
                policies=POLICY_NAMES.get(table.name, ()),
            )
        )
    return FirewallPolicy(dialect=dialect, tables=tuple(visible), max_rows=MAX_ROWS, default_schema=default_schema)


def rows(connector: Connector, sql: str) -> tuple[tuple[Any, ...], ...]:
    return connector.execute_read(sql, options=OWNER_READ).rows


def read_truth(connector: Connector, names: Mapping[str, str]) -> Truth:
    """What Ana must never see, read as the owner (no firewall)."""
    customers, contacts = names["customers"], names["contacts"]
    counts = {
        table: rows(connector, f"SELECT count(*) FROM {names[table]} WHERE region = 'EMEA'")[0][0] for table in FILTERED
    }
    customer_emails = {r[0] for r in rows(connector, f"SELECT email FROM {customers}")}
    contact_emails = {r[0] for r in rows(connector, f"SELECT email FROM {contacts}")}
    names_by_region: dict[bool, set[str]] = {True: set(), False: set()}
    for name, region in rows(connector, f"SELECT name, region FROM {customers}"):
        names_by_region[region == "EMEA"].add(name)
    invoice = rows(connector, f"SELECT min(id) FROM {names['invoices']} WHERE region <> 'EMEA'")
    return Truth(
        emea_counts=counts,
        emails=frozenset(customer_emails | contact_emails),
        contact_email_md5s=frozenset(hashlib.md5(e.encode()).hexdigest() for e in contact_emails - customer_emails),  # noqa: S324
        non_emea_names=frozenset(names_by_region[False] - names_by_region[True]),
        non_emea_invoice_id=int(invoice[0][0]),
    )


def guard() -> GuardPolicy:
    return GuardPolicy(allow_private=True, file_roots=(Path(settings.DEMO_DATA_DIR),))


@pytest.fixture(scope="session")
def postgresql_engine(demo_files: dict[str, Any]) -> Iterator[Engine]:  # noqa: F811
    from datasources.connectors.postgres import close_pools

    if "postgresql" not in demo_files:
        pytest.skip("the demo PostgreSQL database could not be created")
    db = settings.DATABASES["default"]
    connector = build_connector(
        ConnectionConfig(
            "postgresql",
            {"host": db["HOST"], "port": int(db["PORT"]), "database": settings.DEMO_DATABASE_NAME, "user": db["USER"]},
            {"password": db["PASSWORD"]},
        ),
        guard(),
    )
    names = {table.name: table.qualified_name for table in TABLES}
    policy = build_policy("postgres", lambda schema, _: schema, lambda _, name: name, "public")
    yield Engine("postgresql", connector, policy, names, read_truth(connector, names))
    connector.close()
    close_pools()


@pytest.fixture(scope="session")
def sqlite_engine(demo_files: dict[str, Any]) -> Engine:  # noqa: F811
    connector = build_connector(ConnectionConfig("sqlite", dict(demo_files["sqlite"].settings)), guard())
    names = {table.name: table.flat_name for table in TABLES}
    policy = build_policy("sqlite", lambda *_: "", lambda schema, name: f"{schema}_{name}", "")
    return Engine("sqlite", connector, policy, names, read_truth(connector, names))


@pytest.fixture(scope="session")
def duckdb_engine(demo_files: dict[str, Any]) -> Engine:  # noqa: F811
    connector = build_connector(ConnectionConfig("files", dict(demo_files["files"].settings)), guard())
    names = {table.name: table.flat_name for table in TABLES}
    policy = build_policy("duckdb", lambda *_: "main", lambda schema, name: f"{schema}_{name}", "main")
    return Engine("duckdb", connector, policy, names, read_truth(connector, names))


def _mysql_server() -> dict[str, Any]:
    url = os.environ.get("TEST_MYSQL_URL")
    if not url:
        pytest.skip("TEST_MYSQL_URL is not set: the MariaDB/MySQL cases need a server (mysql://root@127.0.0.1:3306/x)")
    parts = urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
    }


def _copy_to_mysql(conn: pymysql.connections.Connection, sqlite_path: str) -> None:
    """A few hundred rows of some demo tables, from the SQLite file (plain types: it is a lookalike)."""
    source = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    try:
        with conn.cursor() as cursor:
            for table in (t for t in TABLES if t.name in MYSQL_TABLES):
                info = source.execute(f'PRAGMA table_info("{table.flat_name}")').fetchall()
                types = {"INTEGER": "BIGINT", "REAL": "DOUBLE"}
                columns = ", ".join(f"`{c[1]}` {types.get(str(c[2]).upper(), 'TEXT')}" for c in info)
                cursor.execute(f"CREATE TABLE `{table.flat_name}` ({columns})")
                data = source.execute(f'SELECT * FROM "{table.flat_name}" ORDER BY rowid LIMIT {MYSQL_ROWS}').fetchall()
                marks = ", ".join(["%s"] * len(info))
                cursor.executemany(f"INSERT INTO `{table.flat_name}` VALUES ({marks})", data)
    finally:
        source.close()


@contextmanager
def mysql_demo_copy(database: str, sqlite_path: str) -> Iterator[dict[str, Any]]:
    """A MariaDB/MySQL database ``database`` holding a copy of some demo tables (created now, dropped
    on exit); yields the connection settings of the server (skips without TEST_MYSQL_URL)."""
    server = _mysql_server()
    admin = pymysql.connect(autocommit=True, **server)
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
        cursor.execute(f"CREATE DATABASE `{database}`")
    try:
        loader = pymysql.connect(database=database, autocommit=True, **server)
        _copy_to_mysql(loader, sqlite_path)
        loader.close()
        yield server
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
        admin.close()


@pytest.fixture(scope="session")
def mysql_engine(demo_files: dict[str, Any]) -> Iterator[Engine]:  # noqa: F811
    database = f"psa_firewall_test_{os.getpid()}"
    with mysql_demo_copy(database, demo_files["sqlite"].settings["path"]) as server:
        connector = build_connector(
            ConnectionConfig(
                "mysql",
                {"host": server["host"], "port": server["port"], "database": database, "user": server["user"]},
                {"password": server["password"]} if server["password"] else {},
            ),
            guard(),
        )
        names = {table.name: table.flat_name for table in TABLES}
        policy = build_policy("mysql", lambda *_: database, lambda schema, name: f"{schema}_{name}", database,
                              only=MYSQL_TABLES)  # fmt: skip
        yield Engine("mysql", connector, policy, names, read_truth(connector, names))
        connector.close()
