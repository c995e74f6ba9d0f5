"""Loaders of the Acme demo data into PostgreSQL, SQLite and Parquet; each recreates what it owns."""

from __future__ import annotations

import math
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql

from datasources.demo_data.generator import AcmeDataset, Row
from datasources.demo_data.schema import (
    REVENUE_VIEW,
    REVENUE_VIEW_COMMENT,
    SCHEMA_COMMENTS,
    SCHEMAS,
    TABLES,
    TABLES_BY_NAME,
    USD_PER_UNIT,
    SqlType,
    Table,
)

EVENT_PARTS = 4  # web_events is written as this many Parquet part files, to show a partitioned table

# SQLite: ``INTEGER`` (exactly) makes ``id`` the rowid; money is REAL because NUMERIC affinity would
# store 100.00 as an INTEGER and 12.50 as a REAL in the same column; times are ISO-8601 text in UTC.
_SQLITE_TYPES = {
    SqlType.INTEGER: "INTEGER",
    SqlType.BIGINT: "INTEGER",
    SqlType.TEXT: "TEXT",
    SqlType.MONEY: "REAL",
    SqlType.DATE: "DATE",
    SqlType.TIMESTAMP: "TIMESTAMP",
}
_ARROW_TYPES = {
    SqlType.INTEGER: pa.int32(),
    SqlType.BIGINT: pa.int64(),
    SqlType.TEXT: pa.string(),
    SqlType.MONEY: pa.decimal128(12, 2),
    SqlType.DATE: pa.date32(),
    SqlType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
}


@dataclass(frozen=True)
class LoadSummary:
    """What one loader did: every count is of rows actually written."""

    engine: str  # postgresql, sqlite or parquet
    target: str  # where it went; never contains a password
    row_counts: Mapping[str, int] = field(hash=False)  # by qualified name, e.g. "billing.invoices"
    elapsed_seconds: float

    @property
    def total_rows(self) -> int:
        return sum(self.row_counts.values())


def _postgres_ddl() -> list[sql.Composed]:
    statements: list[sql.Composed] = []
    for schema in SCHEMAS:
        name = sql.Identifier(schema)
        statements += [
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(name),
            sql.SQL("CREATE SCHEMA {}").format(name),
            sql.SQL("COMMENT ON SCHEMA {} IS {}").format(name, sql.Literal(SCHEMA_COMMENTS[schema])),
        ]
    for table in TABLES:
        ident = sql.Identifier(table.schema, table.name)
        columns = [
            sql.SQL("{} {}{}").format(
                sql.Identifier(c.name), sql.SQL(c.type.value), sql.SQL("" if c.nullable else " NOT NULL")
            )
            for c in table.columns
        ]
        columns.append(sql.SQL("PRIMARY KEY ({})").format(sql.Identifier(table.primary_key)))
        statements.append(sql.SQL("CREATE TABLE {} ({})").format(ident, sql.SQL(", ").join(columns)))
        statements.append(sql.SQL("COMMENT ON TABLE {} IS {}").format(ident, sql.Literal(table.comment)))
        for c in table.columns:
            statements.append(
                sql.SQL("COMMENT ON COLUMN {} IS {}").format(
                    sql.Identifier(table.schema, table.name, c.name), sql.Literal(c.comment)
                )
            )
    return statements


def _postgres_constraints() -> list[sql.Composed]:
    """Foreign keys and their indexes, added after COPY: faster, and load order does not matter."""
    statements: list[sql.Composed] = []
    for table in TABLES:
        for c in table.foreign_keys:
            assert c.references is not None
            parent = TABLES_BY_NAME[c.references]
            statements.append(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})").format(
                    sql.Identifier(table.schema, table.name),
                    sql.Identifier(f"{table.name}_{c.name}_fkey"),
                    sql.Identifier(c.name),
                    sql.Identifier(parent.schema, parent.name),
                    sql.Identifier(parent.primary_key),
                )
            )
            statements.append(
                sql.SQL("CREATE INDEX {} ON {} ({})").format(
                    sql.Identifier(f"{table.name}_{c.name}_idx"),
                    sql.Identifier(table.schema, table.name),
                    sql.Identifier(c.name),
                )
            )
    return statements


def _revenue_view_postgres() -> list[sql.Composed]:
    rate = sql.SQL(" ").join(
        sql.SQL("WHEN {} THEN {}").format(sql.Literal(cur), sql.Literal(r)) for cur, r in USD_PER_UNIT.items()
    )
    view = sql.Identifier("billing", REVENUE_VIEW)
    return [
        sql.SQL(
            "CREATE VIEW {view} AS SELECT date_trunc('month', issued_at AT TIME ZONE 'UTC')::date AS month, region, "
            "sum(total_amount * CASE currency {rate} END)::numeric(14, 2) AS revenue "
            "FROM billing.invoices WHERE status <> 'void' GROUP BY 1, 2"
        ).format(view=view, rate=rate),
        sql.SQL("COMMENT ON VIEW {} IS {}").format(view, sql.Literal(REVENUE_VIEW_COMMENT)),
    ]


def _load_postgres(dataset: AcmeDataset, conninfo: str) -> LoadSummary:
    started = time.perf_counter()
    counts: dict[str, int] = {}
    with psycopg.connect(conninfo) as conn:
        target = f"postgresql://{conn.info.host}:{conn.info.port}/{conn.info.dbname}"
        # One transaction: readers see the old data or the new, never a half-loaded schema.
        with conn.transaction(), conn.cursor() as cur:
            # Fail clearly instead of waiting forever behind a long query on the old tables.
            cur.execute("SET LOCAL lock_timeout = '30s'")
            for statement in _postgres_ddl():
                cur.execute(statement)
            for table in TABLES:
                copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(table.schema, table.name),
                    sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns),
                )
                count = 0
                with cur.copy(copy_sql) as copy:
                    for batch in dataset.batches(table):
                        for row in batch:
                            copy.write_row(row)
                        count += len(batch)
                counts[table.qualified_name] = count
            for statement in _postgres_constraints() + _revenue_view_postgres():
                cur.execute(statement)
            # Fresh statistics, so that the planner (and EXPLAIN-based row estimates) are right at once.
            cur.execute(
                sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(sql.Identifier(t.schema, t.name) for t in TABLES))
            )
    return LoadSummary("postgresql", target, counts, time.perf_counter() - started)


def load_postgres(conninfo: str, *, scale: float = 1.0) -> LoadSummary:
    """(Re)create schemas billing, crm and web in an existing PostgreSQL database and load them.

    Dropping the schemas with CASCADE also drops anything else that lives in them.
    """
    return _load_postgres(AcmeDataset(scale), conninfo)


def _sqlite_ddl(table: Table) -> str:
    # SQLite keeps the CREATE statement verbatim, comments included, so the descriptions survive
    # in sqlite_schema where a schema reader can see them.
    lines = []
    for c in table.columns:
        spec = f"{c.name} {_SQLITE_TYPES[c.type]}{'' if c.nullable else ' NOT NULL'}"
        if c.name == table.primary_key:
            spec += " PRIMARY KEY"
        if c.references:
            spec += f" REFERENCES {TABLES_BY_NAME[c.references].flat_name} (id)"
        lines.append(f"  {spec}, -- {c.comment}")
    lines[-1] = lines[-1].replace(", --", "  --", 1)
    return f"CREATE TABLE {table.flat_name} ( -- {table.comment}\n" + "\n".join(lines) + "\n)"


def _sqlite_row_converter(table: Table) -> Callable[[Row], Row] | None:
    converters: list[tuple[int, Callable[[Any], Any]]] = []
    for i, c in enumerate(table.columns):
        if c.type is SqlType.MONEY:
            converters.append((i, float))
        elif c.type is SqlType.DATE:
            converters.append((i, date.isoformat))
        elif c.type is SqlType.TIMESTAMP:
            # Every datetime is whole seconds in UTC: "2026-09-30 12:34:56", what CURRENT_TIMESTAMP gives.
            converters.append((i, lambda v: str(v)[:19]))
    if not converters:
        return None

    def convert(row: Row) -> Row:
        values = list(row)
        for i, function in converters:
            if values[i] is not None:
                values[i] = function(values[i])
        return tuple(values)

    return convert


def _load_sqlite(dataset: AcmeDataset, path: Path) -> LoadSummary:
    started = time.perf_counter()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    counts: dict[str, int] = {}
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            # A private temporary file that is renamed into place when complete: no journal needed.
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("BEGIN")
            for table in TABLES:
                conn.execute(_sqlite_ddl(table))
                placeholders = ", ".join("?" * len(table.columns))
                insert = f"INSERT INTO {table.flat_name} VALUES ({placeholders})"  # noqa: S608 - names from TABLES
                convert = _sqlite_row_converter(table)
                count = 0
                for batch in dataset.batches(table):
                    conn.executemany(insert, batch if convert is None else map(convert, batch))
                    count += len(batch)
                counts[table.qualified_name] = count
                for c in table.foreign_keys:
                    conn.execute(f"CREATE INDEX {table.flat_name}_{c.name}_idx ON {table.flat_name} ({c.name})")
            view = f"billing_{REVENUE_VIEW}"
            rate = " ".join(f"WHEN '{cur}' THEN {r}" for cur, r in USD_PER_UNIT.items())
            conn.execute(
                f"CREATE VIEW {view} AS -- {REVENUE_VIEW_COMMENT}\n"
                f"SELECT strftime('%Y-%m-01', issued_at) AS month, region, "
                f"round(sum(total_amount * CASE currency {rate} END), 2) AS revenue "
                f"FROM billing_invoices WHERE status <> 'void' GROUP BY 1, 2"
            )
            conn.execute("COMMIT")
            conn.execute("ANALYZE")
        finally:
            conn.close()
        tmp.chmod(0o644)  # mkstemp makes it private; the file is meant to be shared like any database
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return LoadSummary("sqlite", str(path), counts, time.perf_counter() - started)


def load_sqlite(path: Path, *, scale: float = 1.0) -> LoadSummary:
    """Write the demo data into one SQLite file (tables named ``billing_invoices`` etc.), replacing it atomically."""
    return _load_sqlite(AcmeDataset(scale), path)


def _arrow_schema(table: Table) -> pa.Schema:
    fields = [
        pa.field(c.name, _ARROW_TYPES[c.type], nullable=c.nullable, metadata={"comment": c.comment})
        for c in table.columns
    ]
    return pa.schema(fields, metadata={"comment": table.comment, "table": table.qualified_name})


def _write_parquet_table(dataset: AcmeDataset, table: Table, dest: Path, rows_per_file: int | None) -> int:
    """Write one file, or (with ``rows_per_file``) a folder of part files; each batch is one row group."""
    schema = _arrow_schema(table)
    count, part, writer = 0, 0, None
    try:
        for batch in dataset.batches(table):
            while batch:
                if writer is None:
                    if rows_per_file is None:
                        writer = pq.ParquetWriter(dest, schema)
                    else:
                        dest.mkdir(exist_ok=True)
                        writer = pq.ParquetWriter(dest / f"part-{part:04d}.parquet", schema)
                take = len(batch) if rows_per_file is None else rows_per_file * (part + 1) - count
                chunk, batch = batch[:take], batch[take:]
                columns = zip(*chunk, strict=True)
                arrays = [pa.array(values, type=f.type) for values, f in zip(columns, schema, strict=True)]
                writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
                count += len(chunk)
                if rows_per_file is not None and count == rows_per_file * (part + 1):
                    writer.close()
                    writer, part = None, part + 1
    finally:
        if writer is not None:
            writer.close()
    return count


def _write_parquet(dataset: AcmeDataset, folder: Path) -> LoadSummary:
    started = time.perf_counter()
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    counts: dict[str, int] = {}
    try:
        for table in TABLES:
            if table.qualified_name == "web.events":
                rows_per_file = max(1, math.ceil(dataset.row_counts()["web.events"] / EVENT_PARTS))
                count = _write_parquet_table(dataset, table, tmp / table.flat_name, rows_per_file)
            else:
                count = _write_parquet_table(dataset, table, tmp / f"{table.flat_name}.parquet", None)
            counts[table.qualified_name] = count
        tmp.chmod(0o755)
        # Two renames: the old folder is out of the way only for an instant, and is removed after.
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return LoadSummary("parquet", str(folder), counts, time.perf_counter() - started)


def write_parquet(folder: Path, *, scale: float = 1.0) -> LoadSummary:
    """Write one ``<schema>_<table>.parquet`` per table into ``folder`` (replaced whole).

    ``web_events`` is a sub-folder of part files (``part-0000.parquet``...), readable as one table
    with ``read_parquet('web_events/*.parquet')``. Money is decimal(12,2), times are UTC timestamps.
    """
    return _write_parquet(AcmeDataset(scale), folder)


def load_all(
    *, postgres_conninfo: str | None, sqlite_path: Path, parquet_dir: Path, scale: float = 1.0
) -> list[LoadSummary]:
    """Load the same data into PostgreSQL (skipped when ``postgres_conninfo`` is None), SQLite and Parquet.

    Each target is replaced whole, so calling this again gives the same result.
    """
    dataset = AcmeDataset(scale)  # the plan is computed once and shared
    summaries = []
    if postgres_conninfo is not None:
        summaries.append(_load_postgres(dataset, postgres_conninfo))
    summaries.append(_load_sqlite(dataset, sqlite_path))
    summaries.append(_write_parquet(dataset, parquet_dir))
    return summaries
