"""The Acme demo data: the same on every run, internally consistent, and alike in every engine.

The loaders run against real engines: a scratch database on the test PostgreSQL server, a SQLite
file and a Parquet folder under pytest's tmp_path, all at a small scale.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow.parquet as pq
import pytest
from django.conf import settings
from psycopg import sql
from psycopg.conninfo import make_conninfo

from datasources.demo_data import (
    ANCHOR_DATE,
    DEPARTMENTS,
    REGIONS,
    TABLES,
    TABLES_BY_NAME,
    AcmeDataset,
    LoadSummary,
    Table,
    dataset_fingerprint,
    load_all,
    load_postgres,
    load_sqlite,
    write_parquet,
)
from datasources.demo_data.loaders import EVENT_PARTS

SCALE = 0.02
SCRATCH_DB = "psa_demo_test"
ROOT = Path(__file__).resolve().parents[2]
FOREIGN_KEYS = [(t, c.name, c.references) for t in TABLES for c in t.foreign_keys]
FK_IDS = [f"{t.flat_name}.{column}" for t, column, _ in FOREIGN_KEYS]
EMAIL = re.compile(r"^[a-z]+\.[a-z]+\d*@example\.(com|org|net)$")
PHONE = re.compile(r"^\+1-\d{3}-555-01\d{2}$")
LAST_QUARTER = (date(2026, 7, 1), ANCHOR_DATE)
ANCHOR = datetime(2026, 10, 1, tzinfo=UTC)


def _server(dbname: str) -> str:
    db = settings.DATABASES["default"]
    return make_conninfo(host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"], dbname=dbname)


def _recreate_database(name: str, *, create: bool) -> None:
    with psycopg.connect(_server("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if create:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@dataclass(frozen=True)
class Loaded:
    conninfo: str
    sqlite_path: Path
    parquet_dir: Path
    summaries: dict[str, LoadSummary]
    expected: dict[str, int]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    _recreate_database(SCRATCH_DB, create=True)
    try:
        folder = tmp_path_factory.mktemp("demo")
        conninfo = _server(SCRATCH_DB)
        summaries = load_all(
            postgres_conninfo=conninfo, sqlite_path=folder / "acme.sqlite3", parquet_dir=folder / "parquet", scale=SCALE
        )
        yield Loaded(
            conninfo=conninfo,
            sqlite_path=folder / "acme.sqlite3",
            parquet_dir=folder / "parquet",
            summaries={s.engine: s for s in summaries},
            expected=AcmeDataset(SCALE).row_counts(),
        )
    finally:
        _recreate_database(SCRATCH_DB, create=False)


@pytest.fixture
def pg(loaded: Loaded) -> Iterator[psycopg.Connection]:
    with psycopg.connect(loaded.conninfo, autocommit=True) as conn:
        yield conn


@pytest.fixture
def lite(loaded: Loaded) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(loaded.sqlite_path)
    yield conn
    conn.close()


def _one(
    conn: psycopg.Connection | sqlite3.Connection | duckdb.DuckDBPyConnection, query: str, params: Any = None
) -> Any:
    row = (conn.execute(query) if params is None else conn.execute(query, params)).fetchone()
    assert row is not None
    return row[0]


def _parquet_source(loaded: Loaded, table: Table) -> str:
    if table.qualified_name == "web.events":
        return f"read_parquet('{loaded.parquet_dir / table.flat_name}/*.parquet')"
    return f"read_parquet('{loaded.parquet_dir / table.flat_name}.parquet')"


# --- the generator ---------------------------------------------------------------------------------


def test_the_same_scale_gives_the_same_data_and_another_scale_other_data() -> None:
    assert dataset_fingerprint(SCALE) == dataset_fingerprint(SCALE)
    assert dataset_fingerprint(SCALE) != dataset_fingerprint(0.03)


def test_another_process_with_another_hash_seed_generates_the_same_data() -> None:
    code = f"from datasources.demo_data import dataset_fingerprint; print(dataset_fingerprint({SCALE}))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "4242"},
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert result.stdout.strip() == dataset_fingerprint(SCALE)


@pytest.mark.parametrize("scale", [0, -1.0, float("nan"), float("inf")])
def test_a_scale_that_is_not_a_positive_number_is_refused(scale: float) -> None:
    with pytest.raises(ValueError, match="scale must be a positive number"):
        AcmeDataset(scale)


def test_scale_multiplies_the_big_tables_but_not_the_price_list() -> None:
    full, small = AcmeDataset(1.0).row_counts(), AcmeDataset(SCALE).row_counts()
    assert full["billing.customers"] == 2_000 and small["billing.customers"] == 40
    assert full["billing.invoices"] == 20_000 and small["billing.invoices"] == 400
    assert full["web.events"] == 100_000 and small["web.events"] == 2_000
    assert full["billing.products"] == small["billing.products"] == 40
    assert 45_000 < full["billing.invoice_lines"] < 55_000
    assert 15_000 < full["billing.payments"] < 19_000


# --- PostgreSQL ----------------------------------------------------------------------------------


def test_every_target_reports_the_planned_row_counts(loaded: Loaded) -> None:
    assert set(loaded.summaries) == {"postgresql", "sqlite", "parquet"}
    for summary in loaded.summaries.values():
        assert dict(summary.row_counts) == loaded.expected
        assert summary.elapsed_seconds > 0
    assert "password" not in loaded.summaries["postgresql"].target.lower()


def test_postgres_tables_hold_the_counted_rows(loaded: Loaded, pg: psycopg.Connection) -> None:
    for table in TABLES:
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table.schema, table.name))
        assert _one(pg, query.as_string(pg)) == loaded.expected[table.qualified_name], table.qualified_name


@pytest.mark.parametrize(("table", "column", "parent"), FOREIGN_KEYS, ids=FK_IDS)
def test_postgres_foreign_key_is_declared_and_has_no_orphans(
    pg: psycopg.Connection, table: Table, column: str, parent: str
) -> None:
    orphans = sql.SQL(
        "SELECT count(*) FROM {child} c WHERE c.{col} IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = c.{col})"
    ).format(child=sql.Identifier(table.schema, table.name), col=sql.Identifier(column), parent=sql.SQL(parent))
    assert _one(pg, orphans.as_string(pg)) == 0
    declared = pg.execute(
        "SELECT confrelid::regclass::text FROM pg_constraint WHERE contype = 'f' AND conrelid = %s::regclass "
        "AND conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s)]",
        [table.qualified_name, table.qualified_name, column],
    ).fetchall()
    assert declared == [(parent,)]


def test_postgres_money_adds_up(pg: psycopg.Connection) -> None:
    invoices_off_their_lines = """
        SELECT count(*) FROM billing.invoices i
        WHERE i.total_amount <> (SELECT sum(l.amount) FROM billing.invoice_lines l WHERE l.invoice_id = i.id)"""
    assert _one(pg, invoices_off_their_lines) == 0
    assert _one(pg, "SELECT count(*) FROM billing.invoice_lines WHERE amount <> quantity * unit_price") == 0
    overpaid = """
        SELECT count(*) FROM billing.invoices i JOIN billing.payments p ON p.invoice_id = i.id
        GROUP BY i.id, i.total_amount, i.status HAVING sum(p.amount) > i.total_amount"""
    assert pg.execute(overpaid).fetchall() == []
    paid_in_full = """
        SELECT bool_and(coalesce(paid, 0) = total_amount) FROM billing.invoices i
        LEFT JOIN (SELECT invoice_id, sum(amount) AS paid FROM billing.payments GROUP BY 1) p ON p.invoice_id = i.id
        WHERE i.status = 'paid'"""
    assert _one(pg, paid_in_full) is True
    assert _one(pg, "SELECT count(*) FROM billing.payments p JOIN billing.invoices i ON i.id = p.invoice_id "
                    "WHERE i.status IN ('void', 'open')") == 0  # fmt: skip
    assert _one(pg, "SELECT count(*) FROM billing.subscriptions s JOIN billing.products p ON p.id = s.product_id "
                    "WHERE s.mrr <> s.seats * p.unit_price") == 0  # fmt: skip


def test_postgres_times_are_consistent_and_before_the_anchor(pg: psycopg.Connection) -> None:
    checks = {
        "deals closed before created": "SELECT count(*) FROM crm.deals WHERE closed_at <= created_at",
        "closed deals without closed_at": (
            "SELECT count(*) FROM crm.deals WHERE (stage IN ('closed_won', 'closed_lost')) <> (closed_at IS NOT NULL)"
        ),
        "tickets resolved before opened": "SELECT count(*) FROM crm.support_tickets WHERE resolved_at <= opened_at",
        "subscriptions ended before started": "SELECT count(*) FROM billing.subscriptions WHERE ended_at < started_at",
        "payments before the invoice": (
            "SELECT count(*) FROM billing.payments p JOIN billing.invoices i ON i.id = p.invoice_id "
            "WHERE p.paid_at < i.issued_at"
        ),
        "invoices before the account opened": (
            "SELECT count(*) FROM billing.invoices i JOIN billing.accounts a ON a.id = i.account_id "
            "WHERE i.issued_at < a.opened_at"
        ),
        "events after the anchor": "SELECT count(*) FROM web.events WHERE occurred_at >= %(anchor)s",
        "invoices after the anchor": "SELECT count(*) FROM billing.invoices WHERE issued_at >= %(anchor)s",
        "payments after the anchor": "SELECT count(*) FROM billing.payments WHERE paid_at >= %(anchor)s",
        "deals closed after the anchor": "SELECT count(*) FROM crm.deals WHERE closed_at >= %(anchor)s",
    }
    assert {name: _one(pg, query, {"anchor": ANCHOR}) for name, query in checks.items()} == dict.fromkeys(checks, 0)


def test_postgres_last_quarter_has_data_in_every_time_table(pg: psycopg.Connection) -> None:
    start, end = LAST_QUARTER
    for table, column in [
        ("billing.invoices", "issued_at"), ("billing.payments", "paid_at"), ("crm.deals", "created_at"),
        ("crm.support_tickets", "opened_at"), ("web.events", "occurred_at"), ("billing.customers", "created_at"),
    ]:  # fmt: skip
        query = sql.SQL("SELECT count(*) FROM {} WHERE {} >= %s AND {} < %s").format(
            sql.SQL(table), sql.Identifier(column), sql.Identifier(column)
        )
        assert _one(pg, query.as_string(pg), [start, end]) > 0, table


def test_postgres_has_every_region_and_department_to_filter_on(pg: psycopg.Connection) -> None:
    for table in TABLES:
        names = {c.name for c in table.columns}
        for column, values in (("region", REGIONS), ("department", DEPARTMENTS)):
            if column in names:
                query = sql.SQL("SELECT DISTINCT {} FROM {}").format(
                    sql.Identifier(column), sql.Identifier(table.schema, table.name)
                )
                assert {r[0] for r in pg.execute(query)} == set(values), f"{table.qualified_name}.{column}"


def test_postgres_has_personal_data_to_mask(pg: psycopg.Connection) -> None:
    emails = [r[0] for r in pg.execute("SELECT email FROM billing.customers UNION ALL SELECT email FROM crm.contacts")]
    assert emails and all(EMAIL.match(e) for e in emails)
    assert _one(pg, "SELECT count(DISTINCT email) = count(*) FROM crm.contacts") is True
    phones = [r[0] for r in pg.execute("SELECT phone FROM billing.customers UNION ALL SELECT phone FROM crm.contacts")]
    assert all(PHONE.match(p) for p in phones)
    cards = [r[0] for r in pg.execute("SELECT card_last4 FROM billing.payments WHERE method = 'card'")]
    assert cards and all(re.fullmatch(r"\d{4}", c) for c in cards)
    assert _one(pg, "SELECT count(*) FROM billing.payments WHERE method <> 'card' AND card_last4 IS NOT NULL") == 0
    born = pg.execute("SELECT min(date_of_birth), max(date_of_birth) FROM crm.contacts").fetchone()
    assert born is not None and date(1958, 1, 1) <= born[0] <= born[1] <= date(2003, 12, 31)


def test_postgres_tables_and_columns_carry_the_described_comments(pg: psycopg.Connection) -> None:
    for table in TABLES:
        assert _one(pg, f"SELECT obj_description('{table.qualified_name}'::regclass, 'pg_class')") == table.comment
        stored: dict[str, str] = dict(
            pg.execute(
                "SELECT attname, col_description(attrelid, attnum) FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                [table.qualified_name],
            ).fetchall()
        )
        assert stored == {c.name: c.comment for c in table.columns}
    comment = _one(pg, "SELECT obj_description('billing.invoices'::regclass, 'pg_class')")
    assert comment == "Invoices issued to customer accounts; total_amount is in the invoice currency."


def test_postgres_revenue_view_sums_invoices_in_usd_by_month_and_region(pg: psycopg.Connection) -> None:
    rows = pg.execute("SELECT month, region, revenue FROM billing.revenue_by_month").fetchall()
    assert {r[1] for r in rows} == set(REGIONS)
    assert {r[0] for r in rows} >= {date(2026, 7, 1), date(2026, 8, 1), date(2026, 9, 1)}
    expected = _one(
        pg,
        "SELECT sum(total_amount * CASE currency WHEN 'USD' THEN 1 WHEN 'EUR' THEN 1.08 WHEN 'GBP' THEN 1.27 END) "
        "FROM billing.invoices WHERE status <> 'void'",
    )
    assert isinstance(expected, Decimal)
    assert abs(sum(r[2] for r in rows) - expected) < Decimal("0.01") * len(rows)
    assert _one(pg, "SELECT obj_description('billing.revenue_by_month'::regclass, 'pg_class')")


def test_postgres_statistics_are_fresh_after_the_load(loaded: Loaded, pg: psycopg.Connection) -> None:
    estimate = _one(pg, "SELECT reltuples FROM pg_class WHERE oid = 'web.events'::regclass")
    assert estimate == loaded.expected["web.events"]


def _postgres_snapshot(conninfo: str) -> dict[str, str]:
    with psycopg.connect(conninfo) as conn:
        return {
            t.qualified_name: str(
                _one(
                    conn,
                    sql.SQL("SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM {} t")
                    .format(sql.Identifier(t.schema, t.name))
                    .as_string(conn),
                )
            )
            for t in TABLES
        }


def test_loading_postgres_twice_gives_the_same_database(loaded: Loaded) -> None:
    before = _postgres_snapshot(loaded.conninfo)
    summary = load_postgres(loaded.conninfo, scale=SCALE)
    assert dict(summary.row_counts) == loaded.expected
    assert _postgres_snapshot(loaded.conninfo) == before
    with psycopg.connect(loaded.conninfo) as conn:
        assert _one(conn, "SELECT count(*) FROM pg_views WHERE schemaname = 'billing'") == 1


# --- SQLite --------------------------------------------------------------------------------------


def test_sqlite_tables_hold_the_counted_rows_and_foreign_keys_hold(loaded: Loaded, lite: sqlite3.Connection) -> None:
    for table in TABLES:
        assert _one(lite, f"SELECT count(*) FROM {table.flat_name}") == loaded.expected[table.qualified_name]
        declared = {(r[3], r[2]) for r in lite.execute(f"PRAGMA foreign_key_list({table.flat_name})")}
        parents = {(c.name, f"{c.references}".replace(".", "_")) for c in table.foreign_keys}
        assert declared == parents, table.flat_name
    assert lite.execute("PRAGMA foreign_key_check").fetchall() == []
    assert lite.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_sqlite_money_adds_up_and_times_are_utc_text(lite: sqlite3.Connection) -> None:
    off = """
        SELECT count(*) FROM billing_invoices i
        WHERE abs(i.total_amount - (SELECT sum(amount) FROM billing_invoice_lines WHERE invoice_id = i.id)) > 0.004"""
    assert _one(lite, off) == 0
    assert _one(lite, "SELECT count(*) FROM billing_invoices WHERE typeof(total_amount) <> 'real'") == 0
    issued = str(_one(lite, "SELECT max(issued_at) FROM billing_invoices"))
    assert re.fullmatch(r"2026-09-\d\d \d\d:\d\d:\d\d", issued)
    assert _one(lite, "SELECT count(DISTINCT region) FROM billing_revenue_by_month") == len(REGIONS)
    emails = [r[0] for r in lite.execute("SELECT email FROM crm_contacts")]
    assert all(EMAIL.match(e) for e in emails)


def test_sqlite_keeps_the_descriptions_in_its_schema(lite: sqlite3.Connection) -> None:
    ddl = str(_one(lite, "SELECT sql FROM sqlite_master WHERE name = 'billing_invoices'"))
    assert "total_amount is in the invoice currency" in ddl


def test_loading_sqlite_twice_replaces_the_file_with_the_same_content(loaded: Loaded) -> None:
    def dump() -> str:
        conn = sqlite3.connect(loaded.sqlite_path)
        try:
            return hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()
        finally:
            conn.close()

    before = dump()
    summary = load_sqlite(loaded.sqlite_path, scale=SCALE)
    assert dict(summary.row_counts) == loaded.expected
    assert dump() == before
    assert sorted(p.name for p in loaded.sqlite_path.parent.iterdir() if "sqlite3" in p.name) == ["acme.sqlite3"]


# --- Parquet -------------------------------------------------------------------------------------


def test_parquet_files_are_readable_by_pyarrow_and_duckdb(loaded: Loaded) -> None:
    files = sorted(p.name for p in loaded.parquet_dir.iterdir())
    assert files == sorted(f"{t.flat_name}.parquet" if t.name != "events" else t.flat_name for t in TABLES)
    for table in TABLES:
        expected = loaded.expected[table.qualified_name]
        if table.qualified_name != "web.events":
            path = loaded.parquet_dir / f"{table.flat_name}.parquet"
            assert pq.read_metadata(path).num_rows == expected
            assert pq.read_table(path).schema.names == [c.name for c in table.columns]
        assert _one(duckdb.connect(), f"SELECT count(*) FROM {_parquet_source(loaded, table)}") == expected


def test_parquet_web_events_is_a_folder_of_parts_read_as_one_table(loaded: Loaded) -> None:
    folder = loaded.parquet_dir / "web_events"
    parts = sorted(p.name for p in folder.iterdir())
    assert parts == [f"part-{i:04d}.parquet" for i in range(EVENT_PARTS)]
    assert sum(pq.read_metadata(folder / p).num_rows for p in parts) == loaded.expected["web.events"]
    con = duckdb.connect()
    count, distinct_ids, regions = con.execute(
        f"SELECT count(*), count(DISTINCT id), count(DISTINCT region) FROM read_parquet('{folder}/*.parquet')"
    ).fetchone() or (None, None, None)
    assert (count, distinct_ids, regions) == (loaded.expected["web.events"],) * 2 + (len(REGIONS),)


def test_parquet_columns_have_proper_types_and_exact_money(loaded: Loaded) -> None:
    con = duckdb.connect()
    by_table = {t.qualified_name: t for t in TABLES}
    types = {}
    for name in ("billing.invoices", "crm.contacts", "web.events"):
        source = _parquet_source(loaded, by_table[name])
        types.update({f"{name}.{r[0]}": r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()})
    assert types["billing.invoices.total_amount"] == "DECIMAL(12,2)"
    assert types["billing.invoices.issued_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["billing.invoices.id"] == "INTEGER"
    assert types["crm.contacts.date_of_birth"] == "DATE"
    assert types["web.events.id"] == "BIGINT"
    invoices = _parquet_source(loaded, by_table["billing.invoices"])
    lines = _parquet_source(loaded, by_table["billing.invoice_lines"])
    off = f"""
        SELECT count(*) FROM {invoices} i
        WHERE i.total_amount <> (SELECT sum(amount) FROM {lines} l WHERE l.invoice_id = i.id)"""
    assert _one(con, off) == 0


def test_every_engine_holds_the_same_money(loaded: Loaded, pg: psycopg.Connection, lite: sqlite3.Connection) -> None:
    in_postgres = _one(pg, "SELECT sum(total_amount) FROM billing.invoices")
    in_sqlite = _one(lite, "SELECT round(sum(total_amount), 2) FROM billing_invoices")
    invoices = _parquet_source(loaded, TABLES_BY_NAME["billing.invoices"])
    in_parquet = _one(duckdb.connect(), f"SELECT sum(total_amount) FROM {invoices}")
    assert isinstance(in_postgres, Decimal) and isinstance(in_sqlite, float)
    assert in_postgres == in_parquet == Decimal(str(in_sqlite))


def test_writing_parquet_twice_replaces_the_folder_with_the_same_files(loaded: Loaded) -> None:
    def digests() -> dict[str, str]:
        return {
            str(p.relative_to(loaded.parquet_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(loaded.parquet_dir.rglob("*.parquet"))
        }

    before = digests()
    summary = write_parquet(loaded.parquet_dir, scale=SCALE)
    assert dict(summary.row_counts) == loaded.expected
    assert digests() == before
    assert [p.name for p in loaded.parquet_dir.parent.iterdir() if p.name.startswith(".")] == []
