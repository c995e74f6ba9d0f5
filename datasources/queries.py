"""Running queries on a data source: read-only, time-boxed, row-capped, cancellable, exportable;
and the write path (INSERT, UPDATE, DELETE, DDL), with dry runs.

This is the execution half of the read and write paths; the governance firewall decides *what* may
run before anything here is called (callers pass ``GatewayDecision.sql_after``).
"""

from __future__ import annotations

import csv
import os
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from django.conf import settings
from django.core.cache import cache
from sqlglot import exp
from sqlglot.errors import SqlglotError

from config.db import release_database_connection
from datasources.connectors import CONNECTORS
from datasources.connectors.base import (
    Connector,
    QueryOptions,
    QueryResult,
    WriteResult,
    to_json_value,
    written_table,
)
from datasources.models import DataSource, QueryExport
from datasources.services import connector_for

_CANCEL_KEY = "query-cancel:{}"
_CANCEL_POLL_SECONDS = 0.1
EXPORT_FORMATS = ("csv", "parquet")


def query_options(
    datasource: DataSource, *, max_rows: int | None = None, preview_rows: int | None = None
) -> QueryOptions:
    return QueryOptions(
        timeout_seconds=float(datasource.workspace.query_timeout_seconds),
        max_rows=min(max_rows or settings.QUERY_MAX_ROWS, settings.QUERY_MAX_ROWS),
        preview_rows=min(preview_rows or settings.QUERY_PREVIEW_ROWS, settings.QUERY_MAX_ROWS),
    )


def query_cancel(*, query_id: str) -> None:
    """Asks the process running ``query_id`` (any worker, any machine) to stop it. The request holds
    for an hour for every query run under that id (an execution's queries share its id, and several
    may run at once), so it is never consumed by one of them before the others have seen it."""
    cache.set(_CANCEL_KEY.format(query_id), True, timeout=3600)


@contextmanager
def _cancellable(connector: Connector, query_id: str | None) -> Iterator[None]:
    """While the block runs, a watcher polls Redis for a cancel request and stops the statement."""
    if query_id is None:
        yield
        return
    done = threading.Event()

    def watch() -> None:
        key = _CANCEL_KEY.format(query_id)
        while not done.wait(_CANCEL_POLL_SECONDS):
            if cache.get(key):
                connector.cancel()
                return

    watcher = threading.Thread(target=watch, name=f"cancel-{query_id}", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join(timeout=1)


def query_read(
    *,
    datasource: DataSource,
    sql: str,
    max_rows: int | None = None,
    preview_rows: int | None = None,
    query_id: str | None = None,
) -> QueryResult:
    """One statement on the engine's read-only path. Raises ConnectorError with a stable code."""
    connector = connector_for(datasource)
    release_database_connection()  # not held while the source works
    try:
        with _cancellable(connector, query_id):
            return connector.execute_read(
                sql, options=query_options(datasource, max_rows=max_rows, preview_rows=preview_rows)
            )
    finally:
        connector.close()


def query_write(*, datasource: DataSource, sql: str, dry_run: bool, query_id: str | None = None) -> WriteResult:
    """One INSERT/UPDATE/DELETE or DDL statement in a read-write transaction with the workspace's
    statement timeout; committed, or rolled back when ``dry_run`` (the count is still exact).

    ``sql`` must be what the gateway let through (``decision.sql_after``). Raises ConnectorError:
    ``writes_not_supported`` for read-only kinds of source, ``dry_run_not_supported`` for a dry run of
    DDL where the engine commits DDL at once (MySQL), or the engine's error.
    """
    connector = connector_for(datasource)
    release_database_connection()
    try:
        with _cancellable(connector, query_id):
            return connector.execute_write(sql, options=query_options(datasource), dry_run=dry_run)
    finally:
        connector.close()


def writes_supported(datasource: DataSource) -> bool:
    return CONNECTORS[datasource.kind].supports_writes


def ddl_dry_runnable(datasource: DataSource) -> bool:
    """Whether a dry run can try a schema change and roll it back (transactional DDL)."""
    return CONNECTORS[datasource.kind].transactional_ddl


@dataclass(frozen=True)
class WritePlan:
    """What a write statement does, read from its syntax tree, for an approval preview.

    ``affected_select`` reads the rows an UPDATE or DELETE changes (the target's columns, the same
    WHERE, so the row filter the firewall ANDed into it too) or the rows an INSERT ... SELECT adds;
    it is a read like any other and must go through the firewall before it runs.
    """

    kind: str  # insert | update | delete | ddl | other
    table: str  # the written table as the statement names it ("" when there is none)
    affected_select: str | None = None
    insert_columns: tuple[str, ...] = ()
    insert_rows: tuple[tuple[Any, ...], ...] = ()  # the first ``limit`` rows of INSERT ... VALUES
    insert_row_count: int | None = None  # all rows of INSERT ... VALUES
    description: str = ""  # "UPDATE", "DELETE", "ALTER TABLE", "CREATE INDEX", ...


def write_plan(sql: str, *, dialect: str, limit: int = 20) -> WritePlan:
    """Reads one write or DDL statement (already checked by the firewall) into a ``WritePlan``."""
    try:
        statement = sqlglot.parse_one(sql, read=dialect)
    except SqlglotError:
        return WritePlan(kind="other", table="")
    if isinstance(statement, exp.Update | exp.Delete):
        return _update_or_delete_plan(statement, dialect=dialect, limit=limit)
    if isinstance(statement, exp.Insert):
        return _insert_plan(statement, dialect=dialect, limit=limit)
    if isinstance(statement, exp.Create | exp.Drop | exp.Alter | exp.TruncateTable):
        return WritePlan(kind="ddl", table=_ddl_table(statement, dialect), description=_ddl_words(statement))
    return WritePlan(kind="other", table="")


def _update_or_delete_plan(statement: exp.Update | exp.Delete, *, dialect: str, limit: int) -> WritePlan:
    kind = "update" if isinstance(statement, exp.Update) else "delete"
    target = written_table(statement)
    if target is None:
        return WritePlan(kind=kind, table="", description=kind.upper())
    select = exp.select(exp.Star()).from_(target.copy(), copy=False)
    where = statement.args.get("where")
    if isinstance(where, exp.Where):
        select.set("where", where.copy())
    order = statement.args.get("order")
    if isinstance(order, exp.Order):  # MySQL: UPDATE/DELETE ... ORDER BY ... LIMIT n
        select.set("order", order.copy())
    own_limit = _int_literal(statement.args.get("limit"))
    select.set("limit", exp.Limit(expression=exp.Literal.number(min(limit, own_limit) if own_limit else limit)))
    return WritePlan(
        kind=kind,
        table=_table_words(target, dialect),
        affected_select=select.sql(dialect=dialect),
        description=kind.upper(),
    )


def _insert_plan(statement: exp.Insert, *, dialect: str, limit: int) -> WritePlan:
    schema = statement.this
    target = written_table(statement)
    columns = tuple(
        node.name for node in (schema.expressions if isinstance(schema, exp.Schema) else []) if hasattr(node, "name")
    )
    table = _table_words(target, dialect) if target is not None else ""
    source = statement.expression
    if isinstance(source, exp.Values):
        rows = [row.expressions if isinstance(row, exp.Tuple) else [row] for row in source.expressions]
        shown = tuple(tuple(_value(node, dialect) for node in row) for row in rows[:limit])
        return WritePlan(kind="insert", table=table, insert_columns=columns, insert_rows=shown,
                         insert_row_count=len(rows), description="INSERT")  # fmt: skip
    if isinstance(source, exp.Query):
        query = source.copy()
        query = exp.select(exp.Star()).from_(exp.Subquery(this=query, alias=exp.TableAlias(
            this=exp.to_identifier("_inserted"))), copy=False).limit(limit, copy=False)  # fmt: skip
        return WritePlan(kind="insert", table=table, insert_columns=columns,
                         affected_select=query.sql(dialect=dialect), description="INSERT")  # fmt: skip
    return WritePlan(kind="insert", table=table, insert_columns=columns, description="INSERT")


def _value(node: exp.Expr, dialect: str) -> Any:
    """A literal of INSERT ... VALUES as a JSON value; any other expression as its SQL text."""
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    sign, literal = (-1, node.this) if isinstance(node, exp.Neg) else (1, node)
    if isinstance(literal, exp.Literal):
        if literal.is_string:
            return literal.this if sign == 1 else node.sql(dialect=dialect)
        for number in (int, float):
            try:
                return to_json_value(sign * number(literal.this))
            except ValueError:
                continue
    return node.sql(dialect=dialect)


def _int_literal(node: Any) -> int | None:
    value = node.expression if isinstance(node, exp.Limit) else node
    if isinstance(value, exp.Literal) and not value.is_string and value.name.isdigit():
        return int(value.name)
    return None


def _table_words(table: exp.Table, dialect: str) -> str:
    return ".".join(part.name for part in table.parts) if table.parts else table.sql(dialect=dialect)


def _ddl_table(statement: exp.Expr, dialect: str) -> str:
    node = statement.this
    if isinstance(node, exp.Schema):
        node = node.this
    if isinstance(node, exp.Index):
        node = node.args.get("table")
    if isinstance(statement, exp.Drop | exp.TruncateTable) and not isinstance(node, exp.Table):
        tables = statement.args.get("tables") or statement.expressions
        node = tables[0] if tables else None
    return _table_words(node, dialect) if isinstance(node, exp.Table) else ""


def _ddl_words(statement: exp.Expr) -> str:
    kind = str(statement.args.get("kind") or "").upper()
    if isinstance(statement, exp.Create):
        return f"CREATE {kind}".strip()
    if isinstance(statement, exp.Drop):
        return f"DROP {kind}".strip()
    if isinstance(statement, exp.Alter):
        return f"ALTER {kind or 'TABLE'}"
    return "TRUNCATE TABLE"


@dataclass(frozen=True)
class ExportedResult:
    path: Path  # inside RESULT_STORE_DIR
    format: str
    rows: int
    bytes: int
    duration_ms: float
    truncated: bool = False  # the statement had more rows than ``max_rows``: the file stops there


def result_path(*, workspace_id: Any, name: str) -> Path:
    """Where an export of a workspace lives; names are generated, never taken from users."""
    folder = Path(settings.RESULT_STORE_DIR) / str(workspace_id)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def query_export(
    *,
    datasource: DataSource,
    sql: str,
    fmt: str,
    query_id: str | None = None,
    batch_rows: int = 10_000,
    max_rows: int | None = None,
) -> ExportedResult:
    """Streams the full result of a read statement into the result store at constant memory.

    ``max_rows``: at most that many rows, and ``truncated`` when the statement had more (a download
    of a governed statement passes QUERY_MAX_ROWS: the gateway's LIMIT lets one more row through to
    tell); None: every row."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    started = time.perf_counter()
    target = result_path(workspace_id=datasource.workspace_id, name=f"{uuid.uuid4().hex}.{fmt}")
    partial = target.with_suffix(target.suffix + ".partial")
    connector = connector_for(datasource)
    try:
        # An export streams the whole result: it gets the longer export limit, not the interactive one.
        options = replace(query_options(datasource), timeout_seconds=float(settings.EXPORT_TIMEOUT_SECONDS))
        capped = _Capped(max_rows)
        with _cancellable(connector, query_id), connector.stream(sql, options=options, batch_rows=batch_rows) as result:
            writer = _write_csv if fmt == "csv" else _write_parquet
            rows = writer(partial, result.columns, capped.batches(result.batches()))
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
        connector.close()
    return ExportedResult(
        path=target,
        format=fmt,
        rows=rows,
        bytes=target.stat().st_size,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
        truncated=capped.truncated,
    )


class _Capped:
    """Passes batches of rows on until ``max_rows`` rows went through (None: all); notes whether any
    were left."""

    def __init__(self, max_rows: int | None) -> None:
        self.left = max_rows
        self.truncated = False

    def batches(self, batches: Iterator[Sequence[tuple[Any, ...]]]) -> Iterator[Sequence[tuple[Any, ...]]]:
        if self.left is None:
            yield from batches
            return
        for batch in batches:
            if len(batch) > self.left:
                self.truncated = True
                if self.left:
                    yield batch[: self.left]
                return  # the cursor is closed by the stream's context: the rest is never read
            self.left -= len(batch)
            yield batch


def _write_csv(path: Path, columns: Sequence[str], batches: Iterator[Sequence[tuple[Any, ...]]]) -> int:
    rows = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for batch in batches:
            writer.writerows(batch)
            rows += len(batch)
    return rows


def _arrow_type(values: Sequence[Any]) -> pa.DataType:
    kinds = {type(v) for v in values if v is not None}
    if kinds == {bool}:
        return pa.bool_()
    if kinds and kinds <= {int}:
        return pa.int64()
    if kinds and kinds <= {int, float}:
        return pa.float64()
    return pa.string()


def _column(values: list[Any], kind: pa.DataType) -> pa.Array:
    # Connectors hand out one Python type per column, so the type guessed from the first batch holds;
    # text columns take anything.
    if kind == pa.string():
        values = [None if v is None else str(v) for v in values]
    return pa.array(values, type=kind)


def _write_parquet(path: Path, columns: Sequence[str], batches: Iterator[Sequence[tuple[Any, ...]]]) -> int:
    rows = 0
    writer: pq.ParquetWriter | None = None
    schema: pa.Schema | None = None
    try:
        for batch in batches:
            if not batch:
                continue
            by_column = [list(values) for values in zip(*batch, strict=True)]
            if schema is None:
                schema = pa.schema([(name, _arrow_type(v)) for name, v in zip(columns, by_column, strict=True)])
                writer = pq.ParquetWriter(path, schema, compression="zstd")
            arrays = [_column(v, field.type) for v, field in zip(by_column, schema, strict=True)]
            assert writer is not None
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            rows += len(batch)
        if writer is None:  # no rows: still a valid file with the column names
            schema = pa.schema([(name, pa.string()) for name in columns])
            writer = pq.ParquetWriter(path, schema)
    finally:
        if writer is not None:
            writer.close()
    return rows


def query_export_create(
    *, datasource: DataSource, sql: str, fmt: str, created_by: Any = None, query_id: str | None = None
) -> QueryExport:
    """Exports the result and records it, so it can be listed and downloaded through the API."""
    exported = query_export(datasource=datasource, sql=sql, fmt=fmt, query_id=query_id)
    return QueryExport.objects.create(
        workspace_id=datasource.workspace_id,
        datasource=datasource,
        created_by=created_by,
        format=fmt,
        file_name=str(exported.path.relative_to(Path(settings.RESULT_STORE_DIR))),
        sql_text=sql,
        rows=exported.rows,
        bytes=exported.bytes,
        duration_ms=exported.duration_ms,
    )


def export_path(export: QueryExport) -> Path:
    return Path(settings.RESULT_STORE_DIR) / export.file_name
