"""Running queries on a data source: read-only, time-boxed, row-capped, cancellable, exportable.

This is the execution half of the read path; the governance firewall decides *what* may run
before anything here is called.
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
from django.conf import settings
from django.core.cache import cache

from datasources.connectors.base import Connector, QueryOptions, QueryResult
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
    """Asks the process running ``query_id`` (any worker, any machine) to stop it."""
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
        cache.delete(_CANCEL_KEY.format(query_id))


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
    try:
        with _cancellable(connector, query_id):
            return connector.execute_read(
                sql, options=query_options(datasource, max_rows=max_rows, preview_rows=preview_rows)
            )
    finally:
        connector.close()


@dataclass(frozen=True)
class ExportedResult:
    path: Path  # inside RESULT_STORE_DIR
    format: str
    rows: int
    bytes: int
    duration_ms: float


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
) -> ExportedResult:
    """Streams the full result of a read statement into the result store at constant memory."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    started = time.perf_counter()
    target = result_path(workspace_id=datasource.workspace_id, name=f"{uuid.uuid4().hex}.{fmt}")
    partial = target.with_suffix(target.suffix + ".partial")
    connector = connector_for(datasource)
    try:
        # An export streams the whole result: it gets the longer export limit, not the interactive one.
        options = replace(query_options(datasource), timeout_seconds=float(settings.EXPORT_TIMEOUT_SECONDS))
        with _cancellable(connector, query_id), connector.stream(sql, options=options, batch_rows=batch_rows) as result:
            writer = _write_csv if fmt == "csv" else _write_parquet
            rows = writer(partial, result.columns, result.batches())
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
    )


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
