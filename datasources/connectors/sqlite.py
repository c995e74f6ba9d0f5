"""SQLite files under the deployment's file roots, through the standard library's sqlite3."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from datasources.connectors.base import (
    ConnectionConfig,
    ConnectionInfo,
    Connector,
    ConnectorError,
    GuardPolicy,
    IntrospectedColumn,
    IntrospectedTable,
    Introspection,
    QueryOptions,
    QueryResult,
    StreamedResult,
    Visibility,
    WriteResult,
    check_known_settings,
    collect_rows,
    elapsed_ms,
    json_row,
    query_result,
    setting_str,
    visibility_of,
)
from datasources.connectors.guards import confine_path

# The progress handler runs every this many virtual machine instructions: often enough to stop a
# runaway statement within milliseconds, rarely enough to cost nothing measurable.
_PROGRESS_STEPS = 1000
_FETCH_CHUNK_ROWS = 1000
_BUSY_TIMEOUT_SECONDS = 5.0
# Exact row counts are only taken while they are cheap.
_COUNT_BUDGET_PER_TABLE_SECONDS = 0.25
_COUNT_BUDGET_TOTAL_SECONDS = 2.0

_WRITE_ACTIONS = frozenset(
    {
        sqlite3.SQLITE_INSERT,
        sqlite3.SQLITE_UPDATE,
        sqlite3.SQLITE_DELETE,
        sqlite3.SQLITE_ALTER_TABLE,
        sqlite3.SQLITE_REINDEX,
        sqlite3.SQLITE_ANALYZE,
        sqlite3.SQLITE_CREATE_INDEX,
        sqlite3.SQLITE_CREATE_TABLE,
        sqlite3.SQLITE_CREATE_TRIGGER,
        sqlite3.SQLITE_CREATE_VIEW,
        sqlite3.SQLITE_CREATE_VTABLE,
        # Temporary objects live in a separate, writable database even on a read-only connection.
        sqlite3.SQLITE_CREATE_TEMP_INDEX,
        sqlite3.SQLITE_CREATE_TEMP_TABLE,
        sqlite3.SQLITE_CREATE_TEMP_TRIGGER,
        sqlite3.SQLITE_CREATE_TEMP_VIEW,
        sqlite3.SQLITE_DROP_INDEX,
        sqlite3.SQLITE_DROP_TABLE,
        sqlite3.SQLITE_DROP_TRIGGER,
        sqlite3.SQLITE_DROP_VIEW,
        sqlite3.SQLITE_DROP_VTABLE,
        sqlite3.SQLITE_DROP_TEMP_INDEX,
        sqlite3.SQLITE_DROP_TEMP_TABLE,
        sqlite3.SQLITE_DROP_TEMP_TRIGGER,
        sqlite3.SQLITE_DROP_TEMP_VIEW,
    }
)
# ATTACH (and VACUUM INTO, which attaches) would open or create any file the process can reach.
_NEVER_ACTIONS = frozenset({sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH})
# Pragmas that take an argument and only read: the introspection uses them as table functions.
_READING_PRAGMAS = frozenset(
    {"table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list"}
)


# SQLite asks for SQLITE_UPDATE on the schema table when it loads the schema for a statement that
# joins a table-valued function; nothing is written (and the file is opened read-only anyway).
_SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"})


def _read_authorizer(action: int, arg1: str | None, arg2: str | None, _db: str | None, _source: str | None) -> int:
    if action == sqlite3.SQLITE_UPDATE and (arg1 or "").lower() in _SCHEMA_TABLES:
        return sqlite3.SQLITE_OK
    if action in _NEVER_ACTIONS or action in _WRITE_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() == "load_extension":
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and arg2 is not None and (arg1 or "").lower() not in _READING_PRAGMAS:
        return sqlite3.SQLITE_DENY  # setting a pragma (query_only = OFF, writable_schema, ...)
    return sqlite3.SQLITE_OK


def _write_authorizer(action: int, arg1: str | None, arg2: str | None, _db: str | None, _source: str | None) -> int:
    if action in _NEVER_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() == "load_extension":
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _type_of(value: Any) -> str:
    if isinstance(value, bool | int):
        return "INTEGER"
    if isinstance(value, float):
        return "REAL"
    if isinstance(value, str):
        return "TEXT"
    if isinstance(value, bytes):
        return "BLOB"
    return ""


class _TypeSniffer:
    """SQLite types values, not columns, and Python's sqlite3 does not expose the declared types of
    a result: a column's type is that of its first non-NULL value among the rows read."""

    def __init__(self, rows: Iterator[Sequence[Any]]) -> None:
        self._rows = rows
        self.types: list[str] = []

    def __iter__(self) -> Iterator[Sequence[Any]]:
        for row in self._rows:
            if not self.types:
                self.types = [""] * len(row)
            if not all(self.types):
                for index, value in enumerate(row):
                    if not self.types[index] and value is not None:
                        self.types[index] = _type_of(value)
            yield row

    def column_types(self, width: int) -> list[str]:
        return (self.types + [""] * width)[:width]


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class SQLiteConnector(Connector):
    kind = "sqlite"
    dialect = "sqlite"
    transactional_ddl = True

    def __init__(self, config: ConnectionConfig, policy: GuardPolicy) -> None:
        super().__init__(config, policy)
        self._lock = threading.Lock()
        self._cancelled = False
        self._deadline: float | None = None
        self._stopped_for: str = ""  # "timeout" | "cancelled", set by the progress handler
        self._active: sqlite3.Connection | None = None

    @classmethod
    def validate_settings(cls, settings: dict[str, Any], policy: GuardPolicy) -> dict[str, Any]:
        check_known_settings(settings, ("path",))
        return {"path": str(confine_path(setting_str(settings, "path"), policy))}

    def _path(self) -> Path:
        path = Path(self.validate_settings(self.config.settings, self.policy)["path"])
        if not path.is_file():
            raise ConnectorError("datasource_not_found", f"there is no file at {path}")
        return path

    def _open(self, *, read_only: bool) -> sqlite3.Connection:
        uri = self._path().as_uri() + ("?mode=ro" if read_only else "?mode=rw")
        try:
            conn = sqlite3.connect(
                uri,
                uri=True,
                timeout=_BUSY_TIMEOUT_SECONDS,
                isolation_level=None,  # transactions are opened explicitly
                check_same_thread=False,  # cancel() interrupts from another thread
            )
        except sqlite3.Error as exc:
            raise self._translate(exc, read_only=read_only) from exc
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        try:
            if read_only:
                conn.execute("PRAGMA query_only = ON")
            conn.execute("PRAGMA trusted_schema = OFF")  # no side-effecting functions from views/triggers
        except sqlite3.Error as exc:
            conn.close()
            raise self._translate(exc, read_only=read_only) from exc
        conn.set_authorizer(_read_authorizer if read_only else _write_authorizer)
        conn.set_progress_handler(self._progress, _PROGRESS_STEPS)
        return conn

    def _progress(self) -> int:
        """Non-zero stops the statement; sqlite3 then raises OperationalError("interrupted")."""
        if self._cancelled:
            self._stopped_for = "cancelled"
            return 1
        if self._deadline is not None and time.monotonic() > self._deadline:
            self._stopped_for = "timeout"
            return 1
        return 0

    @contextmanager
    def _running(self, conn: sqlite3.Connection, timeout_seconds: float) -> Iterator[None]:
        with self._lock:
            if self._cancelled:
                raise ConnectorError("query_cancelled", "the statement was cancelled")
            self._active = conn
            self._deadline = time.monotonic() + timeout_seconds
            self._stopped_for = ""
        try:
            yield
        finally:
            with self._lock:
                self._active = None
                self._deadline = None

    def _translate(self, exc: sqlite3.Error, *, read_only: bool) -> ConnectorError:
        text = str(exc)
        lowered = text.lower()
        if lowered == "interrupted":
            if self._stopped_for == "timeout" and not self._cancelled:
                return ConnectorError("query_timeout", "the statement ran past its time limit")
            return ConnectorError("query_cancelled", "the statement was cancelled")
        if read_only and (
            "readonly database" in lowered
            or "not authorized" in lowered
            or "authorization denied" in lowered
            or "too many attached databases" in lowered
            or "query_only" in lowered
        ):
            return ConnectorError("query_not_read_only", f"refused on the read-only path: {text}")
        if "not authorized" in lowered or "authorization denied" in lowered or "too many attached" in lowered:
            return ConnectorError("query_invalid", "ATTACH, DETACH and loading extensions are not allowed")
        if "no such table" in lowered or "no such column" in lowered or "no such view" in lowered:
            return ConnectorError("table_not_found", text)
        if "file is not a database" in lowered:
            return ConnectorError("datasource_invalid_settings", "the file is not a SQLite database")
        if "unable to open database" in lowered:
            return ConnectorError("datasource_unreachable", "the database file cannot be opened")
        if (
            isinstance(exc, sqlite3.ProgrammingError)
            or "syntax error" in lowered
            or "incomplete input" in lowered
            or "unrecognized token" in lowered
            or "no such function" in lowered
            or "wrong number of arguments" in lowered
        ):
            return ConnectorError("query_invalid", text)
        return ConnectorError("query_failed", text)

    # --- the interface ---

    def test(self) -> ConnectionInfo:
        started = time.monotonic()
        conn = self._open(read_only=True)
        try:
            # Reading the schema makes SQLite check that the file is a database at all.
            visibility = self._visibility(conn)
            row = conn.execute("SELECT sqlite_version()").fetchone()
        except sqlite3.Error as exc:
            raise self._translate(exc, read_only=True) from exc
        finally:
            conn.close()
        return ConnectionInfo(server_version=f"SQLite {row[0]}", latency_ms=elapsed_ms(started), visibility=visibility)

    def visibility(self) -> Visibility:
        conn = self._open(read_only=True)
        try:
            return self._visibility(conn)
        except sqlite3.Error as exc:
            raise self._translate(exc, read_only=True) from exc
        finally:
            conn.close()

    def _visibility(self, conn: sqlite3.Connection) -> Visibility:
        return self._visibility_of_count(int(conn.execute(_COUNT_RELATIONS_SQL).fetchone()[0]))

    def _visibility_of_count(self, visible: int) -> Visibility:
        """A file has no logins: whoever opens it reads every table (unreadable is 0), so nothing
        visible means an empty database."""
        name = self._path().name
        reason = ("empty_schema", f"The file {name!r} holds no tables or views: it is an empty SQLite database.")
        return visibility_of(visible, 0, [reason])

    def introspect(self, *, progress: Callable[[int, int], None] | None = None) -> Introspection:
        conn = self._open(read_only=True)
        try:
            with self._running(conn, 120.0):
                version = conn.execute("SELECT sqlite_version()").fetchone()[0]
                relations = conn.execute(_RELATIONS_SQL).fetchall()
                columns = self._table_rows(conn, _COLUMNS_SQL, [name for name, _kind in relations], "table_info")
                keys = self._table_rows(
                    conn, _FOREIGN_KEYS_SQL, [name for name, kind in relations if kind == "table"], "foreign_key_list"
                )
                estimates = self._row_estimates(conn, [name for name, kind in relations if kind == "table"])
        except sqlite3.Error as exc:
            raise self._translate(exc, read_only=True) from exc
        finally:
            conn.close()
        if not relations:
            # The file is open and readable, and it has no table: nothing else to ask it.
            empty = self._visibility_of_count(0)
            return Introspection(server_version=f"SQLite {version}", tables=(), visibility=empty)
        columns_of: dict[str, list[tuple[Any, ...]]] = {}
        primary_of: dict[str, list[str]] = {}
        for table, cid, name, data_type, notnull, pk in columns:
            columns_of.setdefault(table, []).append((cid, name, data_type, notnull, pk))
        for table, rows in columns_of.items():
            primary_of[table] = [row[1] for row in sorted((row for row in rows if row[4]), key=lambda row: row[4])]
        foreign: dict[tuple[str, str], tuple[str, str]] = {}
        for table, _fk_id, seq, target, source, target_column in keys:
            if target_column is None:  # REFERENCES t without columns: the target's primary key
                target_pk = primary_of.get(target, [])
                target_column = target_pk[seq] if seq < len(target_pk) else ""
            foreign.setdefault((table, source), (target, target_column))
        tables: list[IntrospectedTable] = []
        total = len(relations)
        for done, (table, kind) in enumerate(relations, start=1):
            introspected_columns = []
            for ordinal, (_cid, name, data_type, notnull, pk) in enumerate(columns_of.get(table, []), start=1):
                target, target_column = foreign.get((table, name), ("", ""))
                introspected_columns.append(
                    IntrospectedColumn(
                        name=name,
                        ordinal=ordinal,
                        data_type=data_type or "",
                        nullable=not (notnull or pk),
                        is_primary_key=bool(pk),
                        fk_schema="main" if target else "",
                        fk_table=target,
                        fk_column=target_column,
                    )
                )
            tables.append(
                IntrospectedTable(
                    schema="main",
                    name=table,
                    kind=kind,
                    row_estimate=estimates.get(table),
                    comment="",
                    columns=tuple(introspected_columns),
                )
            )
            if progress is not None:
                progress(done, total)
        return Introspection(server_version=f"SQLite {version}", tables=tuple(tables))

    def _table_rows(self, conn: sqlite3.Connection, sql: str, tables: list[str], pragma: str) -> list[tuple[Any, ...]]:
        """One set-based query over every table; per table only when one of them cannot be read
        (a virtual table whose module this build lacks), so that one table does not hide the rest."""
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError as exc:
            if str(exc) == "interrupted":
                raise
        rows: list[tuple[Any, ...]] = []
        for table in tables:
            try:
                found = conn.execute(f"SELECT * FROM pragma_{pragma}(?)", (table,)).fetchall()  # noqa: S608
            except sqlite3.OperationalError as exc:
                if str(exc) == "interrupted":
                    raise
                continue
            if pragma == "table_info":  # cid, name, type, notnull, dflt_value, pk
                rows.extend((table, row[0], row[1], row[2], row[3], row[5]) for row in found)
            else:  # id, seq, table, from, to, ...
                rows.extend((table, row[0], row[1], row[2], row[3], row[4]) for row in found)
        return rows

    def _row_estimates(self, conn: sqlite3.Connection, tables: list[str]) -> dict[str, int | None]:
        """ANALYZE statistics where present, else an exact count while it stays cheap."""
        estimates: dict[str, int | None] = {}
        has_stat = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'").fetchone()
        if has_stat:
            for table, count in conn.execute(
                "SELECT tbl, max(CAST(stat AS INTEGER)) FROM sqlite_stat1 GROUP BY tbl"
            ).fetchall():
                estimates[table] = int(count) if count is not None else None
        budget_end = time.monotonic() + _COUNT_BUDGET_TOTAL_SECONDS
        saved_deadline = self._deadline
        try:
            for table in tables:
                if table in estimates:
                    continue
                now = time.monotonic()
                if now >= budget_end:
                    estimates[table] = None
                    continue
                self._deadline = min(budget_end, now + _COUNT_BUDGET_PER_TABLE_SECONDS)
                try:
                    estimates[table] = int(conn.execute(f"SELECT count(*) FROM {_quote(table)}").fetchone()[0])  # noqa: S608
                except sqlite3.OperationalError as exc:
                    if self._cancelled:
                        raise
                    if str(exc) != "interrupted" and "no such module" not in str(exc):
                        raise
                    estimates[table] = None
        finally:
            self._deadline = saved_deadline
        return estimates

    def execute_read(self, sql: str, *, options: QueryOptions) -> QueryResult:
        started = time.monotonic()
        conn = self._open(read_only=True)
        try:
            with self._running(conn, options.timeout_seconds):
                cursor = conn.execute(sql)  # one statement only: sqlite3 refuses more
                sniffer = _TypeSniffer(_iter_rows(cursor))
                collected = collect_rows(sniffer, options)
                columns = [column[0] for column in cursor.description or ()]
        except sqlite3.Error as exc:
            raise self._translate(exc, read_only=True) from exc
        finally:
            conn.close()
        return query_result(columns, sniffer.column_types(len(columns)), collected, started=started)

    def execute_write(self, sql: str, *, options: QueryOptions, dry_run: bool = False) -> WriteResult:
        started = time.monotonic()
        conn = self._open(read_only=False)
        preview: QueryResult | None = None
        try:
            with self._running(conn, options.timeout_seconds):
                # SQLite rolls DDL back too, so a dry run of any statement leaves the file unchanged.
                conn.execute("BEGIN IMMEDIATE")
                cursor = conn.execute(sql)
                if cursor.description is not None:  # ... RETURNING
                    rows = _iter_rows(cursor)
                    sniffer = _TypeSniffer(rows)
                    collected = collect_rows(sniffer, options)
                    for _row in rows:  # the statement must finish before COMMIT
                        pass
                    columns = [column[0] for column in cursor.description]
                    preview = query_result(columns, sniffer.column_types(len(columns)), collected, started=started)
                rows_affected = max(cursor.rowcount, 0)
                conn.execute("ROLLBACK" if dry_run else "COMMIT")
        except sqlite3.Error as exc:
            raise self._translate(exc, read_only=False) from exc
        finally:
            conn.close()  # an open transaction is rolled back
        return WriteResult(
            rows_affected=rows_affected, duration_ms=elapsed_ms(started), committed=not dry_run, preview=preview
        )

    def stream(self, sql: str, *, options: QueryOptions, batch_rows: int = 10_000) -> StreamedResult:
        return _SQLiteStream(self, sql, options=options, batch_rows=batch_rows)

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._active is not None:
                # The progress handler stops the statement too; interrupt() also reaches a
                # statement waiting on a lock, where the handler does not run.
                self._active.interrupt()


def _iter_rows(cursor: sqlite3.Cursor) -> Iterator[Sequence[Any]]:
    while True:
        rows = cursor.fetchmany(_FETCH_CHUNK_ROWS)
        if not rows:
            return
        yield from rows


class _SQLiteStream(StreamedResult):
    """The cursor of a read-only connection, read in batches; the time limit covers the whole
    stream."""

    def __init__(self, connector: SQLiteConnector, sql: str, *, options: QueryOptions, batch_rows: int) -> None:
        self._connector = connector
        self._batch_rows = max(1, batch_rows)
        self._conn = connector._open(read_only=True)
        self._running = connector._running(self._conn, options.timeout_seconds)
        try:
            self._running.__enter__()
        except BaseException:
            self._conn.close()
            raise
        try:
            self._cursor = self._conn.execute(sql)
        except sqlite3.Error as exc:
            self.__exit__(None, None, None)
            raise connector._translate(exc, read_only=True) from exc
        self.columns = tuple(column[0] for column in self._cursor.description or ())
        self.column_types = ("",) * len(self.columns)

    def batches(self) -> Iterator[Sequence[tuple[Any, ...]]]:
        while True:
            try:
                rows = self._cursor.fetchmany(self._batch_rows)
            except sqlite3.Error as exc:
                raise self._connector._translate(exc, read_only=True) from exc
            if not rows:
                return
            yield [json_row(row) for row in rows]

    def __exit__(self, *exc_info: Any) -> None:
        try:
            self._running.__exit__(None, None, None)
        finally:
            self._conn.close()


_RELATIONS_SQL = r"""
SELECT name, type FROM sqlite_master
WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
ORDER BY name
"""

_COUNT_RELATIONS_SQL = r"""
SELECT count(*) FROM sqlite_master
WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
"""

_COLUMNS_SQL = r"""
SELECT m.name, p.cid, p.name, p.type, p."notnull", p.pk
FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p
WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
ORDER BY m.name, p.cid
"""

_FOREIGN_KEYS_SQL = r"""
SELECT m.name, f.id, f.seq, f."table", f."from", f."to"
FROM sqlite_master AS m JOIN pragma_foreign_key_list(m.name) AS f
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
ORDER BY m.name, f.id, f.seq
"""
