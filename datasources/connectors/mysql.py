"""MySQL 8 and MariaDB through PyMySQL: one short-lived connection per operation."""

from __future__ import annotations

import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import pymysql
import sqlglot
from pymysql.constants import FIELD_TYPE
from pymysql.cursors import Cursor, SSCursor
from sqlglot import exp
from sqlglot.errors import SqlglotError

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
    name_list,
    query_result,
    secret_str,
    setting_port,
    setting_str,
    setting_str_list,
    visibility_of,
    written_table,
)
from datasources.connectors.guards import resolve_host

logger = logging.getLogger(__name__)

SSLMODES = ("disable", "prefer", "require", "verify-ca", "verify-full")
CONNECT_TIMEOUT_SECONDS = 5
INTROSPECTION_TIMEOUT_SECONDS = 120.0
# The catalog queries of visibility() take milliseconds; this only bounds a pathological catalog.
VISIBILITY_TIMEOUT_SECONDS = 10.0
# The socket read timeout is a backstop past the server-side limit, for a server that stops
# answering altogether.
_READ_TIMEOUT_GRACE_SECONDS = 30.0
_FETCH_CHUNK_ROWS = 1000

_NOT_READ_ONLY = {1792, 1036, 1180, 1290}  # read-only transaction, read-only table, commit failed, --read-only
_TIMEOUT = {1969, 3024}  # MariaDB max_statement_time, MySQL max_execution_time
_INTERRUPTED = {1317, 1927}  # KILL QUERY; connection killed
_NOT_FOUND = {1146, 1054, 1109, 1356}  # table, column, unknown table, a view's missing table
_INVALID = {1064, 1149, 1052, 1060, 1066, 1111, 1140, 1222, 1241, 1248, 1305, 1327, 1582, 1583, 1584}
_AUTH = {1045, 1044, 1698, 1251}
_UNREACHABLE = {2002, 2003, 2005, 2006, 2013, 2026, 2055, 1040, 1129, 1130}
_SSL_NOT_SUPPORTED = 2026

# Statements MySQL can roll back: DDL commits implicitly, so a dry run of it would be real.
_DRY_RUN_KEYWORDS = {"insert", "update", "delete", "replace", "with"}
_LEADING_NOISE = re.compile(r"^(?:\s+|--[^\n]*\n?|#[^\n]*\n?|/\*.*?\*/|\()*", re.DOTALL)

_TYPE_NAMES = {
    FIELD_TYPE.DECIMAL: "decimal",
    FIELD_TYPE.NEWDECIMAL: "decimal",
    FIELD_TYPE.TINY: "tinyint",
    FIELD_TYPE.SHORT: "smallint",
    FIELD_TYPE.INT24: "mediumint",
    FIELD_TYPE.LONG: "int",
    FIELD_TYPE.LONGLONG: "bigint",
    FIELD_TYPE.FLOAT: "float",
    FIELD_TYPE.DOUBLE: "double",
    FIELD_TYPE.BIT: "bit",
    FIELD_TYPE.NULL: "null",
    FIELD_TYPE.TIMESTAMP: "timestamp",
    FIELD_TYPE.DATE: "date",
    FIELD_TYPE.NEWDATE: "date",
    FIELD_TYPE.TIME: "time",
    FIELD_TYPE.DATETIME: "datetime",
    FIELD_TYPE.YEAR: "year",
    FIELD_TYPE.VARCHAR: "varchar",
    FIELD_TYPE.VAR_STRING: "varchar",
    FIELD_TYPE.STRING: "char",
    FIELD_TYPE.JSON: "json",
    FIELD_TYPE.ENUM: "enum",
    FIELD_TYPE.SET: "set",
    FIELD_TYPE.TINY_BLOB: "blob",
    FIELD_TYPE.MEDIUM_BLOB: "blob",
    FIELD_TYPE.LONG_BLOB: "blob",
    FIELD_TYPE.BLOB: "blob",
    FIELD_TYPE.GEOMETRY: "geometry",
}


def _error_code(exc: pymysql.MySQLError) -> int | None:
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else None


def _error_text(exc: pymysql.MySQLError) -> str:
    return str(exc.args[1]) if len(exc.args) > 1 else str(exc)


def _first_keyword(sql: str) -> str:
    rest = _LEADING_NOISE.sub("", sql, count=1)
    match = re.match(r"[A-Za-z]+", rest)
    return match.group(0).lower() if match else ""


def _auto_increment_target(sql: str) -> tuple[str, str] | None:
    """(database or "", table) of an INSERT or REPLACE: InnoDB does not roll back the AUTO_INCREMENT
    counter they advance, and setting it back is DDL (an implicit commit)."""
    try:
        statement = sqlglot.parse_one(sql, read="mysql")
        if isinstance(statement, exp.Command) and statement.name.upper() == "REPLACE":
            # sqlglot keeps REPLACE as an opaque command; what follows the keyword is INSERT's syntax.
            statement = sqlglot.parse_one(f"INSERT {statement.expression.name}", read="mysql")
    except SqlglotError:
        return None
    table = written_table(statement) if isinstance(statement, exp.Insert) else None
    return (table.db, table.name) if table is not None else None


def _ssl_context(sslmode: str) -> ssl.SSLContext | None:
    if sslmode == "disable":
        return None
    context = ssl.create_default_context()
    if sslmode in ("prefer", "require"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif sslmode == "verify-ca":
        context.check_hostname = False
    return context


class MySQLConnector(Connector):
    kind = "mysql"
    dialect = "mysql"

    def __init__(self, config: ConnectionConfig, policy: GuardPolicy) -> None:
        super().__init__(config, policy)
        # Re-entrant: cancelling holds it while connecting, and a failed connect translates its error.
        self._lock = threading.RLock()
        self._cancelled = False
        self._timed_out = False
        self._thread_id: int | None = None

    @classmethod
    def validate_settings(cls, settings: dict[str, Any], policy: GuardPolicy) -> dict[str, Any]:
        normalised = cls._normalise(settings)
        resolve_host(normalised["host"], normalised["port"], policy)
        return normalised

    @staticmethod
    def _normalise(settings: dict[str, Any]) -> dict[str, Any]:
        check_known_settings(settings, ("host", "port", "database", "user", "sslmode", "schemas"))
        sslmode = setting_str(settings, "sslmode", default="prefer").lower()
        if sslmode not in SSLMODES:
            raise ConnectorError("datasource_invalid_settings", f"sslmode must be one of {', '.join(SSLMODES)}")
        normalised: dict[str, Any] = {
            "host": setting_str(settings, "host"),
            "port": setting_port(settings, 3306),
            "database": setting_str(settings, "database"),
            "user": setting_str(settings, "user"),
            "sslmode": sslmode,
        }
        schemas = setting_str_list(settings, "schemas")
        if schemas is not None:
            normalised["schemas"] = schemas
        return normalised

    # --- connections ---

    def _connect(self, *, read_timeout: float | None) -> pymysql.connections.Connection:
        """A new connection to the address resolve_host checked.

        PyMySQL gets the configured name as ``host`` (it is the TLS server name) and a socket
        already connected to the checked address, so the name is never looked up again.
        """
        # Checked again at each connection (DNS may have changed since the settings were saved).
        settings = self._normalise(self.config.settings)
        address = resolve_host(settings["host"], settings["port"], self.policy)
        sslmode = settings["sslmode"]
        try:
            return self._connect_to(address, settings, _ssl_context(sslmode), read_timeout)
        except pymysql.MySQLError as exc:
            if sslmode != "prefer" or _error_code(exc) != _SSL_NOT_SUPPORTED:
                raise self._translate(exc) from exc
        # "prefer", like libpq: TLS when the server offers it, else a plain connection.
        try:
            return self._connect_to(address, settings, None, read_timeout)
        except pymysql.MySQLError as exc:
            raise self._translate(exc) from exc

    def _connect_to(
        self, address: str, settings: dict[str, Any], context: ssl.SSLContext | None, read_timeout: float | None
    ) -> pymysql.connections.Connection:
        host, port = settings["host"], settings["port"]
        conn = pymysql.connections.Connection(
            host=host,
            port=port,
            user=settings["user"],
            password=secret_str(self.config.secrets, "password"),
            database=settings["database"],
            charset="utf8mb4",
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=read_timeout,
            write_timeout=read_timeout,
            autocommit=True,
            local_infile=False,  # LOAD DATA LOCAL would let the server read this machine's files
            ssl=context,
            defer_connect=True,
        )
        try:
            sock = socket.create_connection((address, port), timeout=CONNECT_TIMEOUT_SECONDS)
        except OSError as exc:
            raise ConnectorError(
                "datasource_unreachable", f"cannot connect to {host}:{port}: {exc.strerror or exc}"
            ) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        try:
            conn.connect(sock)
        except BaseException:
            sock.close()
            raise
        return conn

    @staticmethod
    def _is_mariadb(conn: pymysql.connections.Connection) -> bool:
        return "mariadb" in str(conn.get_server_info()).lower()

    def _set_time_limit(self, conn: pymysql.connections.Connection, seconds: float) -> None:
        with conn.cursor() as cursor:
            if self._is_mariadb(conn):
                cursor.execute("SET SESSION max_statement_time = %s", (max(0.001, round(seconds, 3)),))
            else:
                # MySQL limits SELECT statements only; writes get a watchdog (see execute_write).
                cursor.execute("SET SESSION max_execution_time = %s", (max(1, int(seconds * 1000)),))

    def _auto_increment(self, conn: pymysql.connections.Connection, table: tuple[str, str]) -> int | None:
        """The table's AUTO_INCREMENT counter (None without an auto-increment column); read in
        information_schema, which is not transactional."""
        with conn.cursor() as cursor:
            if not self._is_mariadb(conn):
                # MySQL 8 caches table statistics, the counter among them, for a day by default.
                cursor.execute("SET SESSION information_schema_stats_expiry = 0")
            cursor.execute(_AUTO_INCREMENT_SQL, table)
            row = cursor.fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def _start_read_only(self, conn: pymysql.connections.Connection, seconds: float) -> None:
        self._set_time_limit(conn, seconds)
        with conn.cursor() as cursor:
            # The session default covers the transaction MySQL starts after an implicit commit.
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
            cursor.execute("START TRANSACTION READ ONLY")

    @contextmanager
    def _running(self, conn: pymysql.connections.Connection) -> Iterator[None]:
        with self._lock:
            if self._cancelled:
                raise ConnectorError("query_cancelled", "the statement was cancelled")
            self._thread_id = conn.thread_id()
        try:
            yield
        finally:
            with self._lock:
                self._thread_id = None

    def _kill_running(self) -> None:
        """KILL QUERY from a second connection: the running one is blocked in its statement.
        Called with ``self._lock`` held, so the connection cannot move on meanwhile."""
        thread_id = self._thread_id
        if thread_id is None:
            return
        try:
            killer = self._connect(read_timeout=10.0)
        except ConnectorError:
            logger.warning("cannot connect to cancel a MySQL statement", exc_info=True)
            return
        try:
            with killer.cursor() as cursor:
                cursor.execute("KILL QUERY %s", (int(thread_id),))
        except pymysql.MySQLError:
            logger.warning("cancelling a MySQL statement failed", exc_info=True)
        finally:
            killer.close()

    def _translate(self, exc: pymysql.MySQLError) -> ConnectorError:
        code = _error_code(exc)
        text = _error_text(exc)
        details = {"mysql_error": code} if code is not None else {}
        with self._lock:
            cancelled, timed_out = self._cancelled, self._timed_out
        if code in _TIMEOUT or (code in _INTERRUPTED and timed_out and not cancelled):
            return ConnectorError("query_timeout", "the statement ran past its time limit", details=details)
        if code in _INTERRUPTED:
            return ConnectorError("query_cancelled", "the statement was cancelled", details=details)
        if code in _NOT_READ_ONLY:
            return ConnectorError("query_not_read_only", f"refused on the read-only path: {text}", details=details)
        if code in _NOT_FOUND:
            return ConnectorError("table_not_found", text, details=details)
        if code == 1049:
            return ConnectorError("datasource_not_found", text, details=details)
        if code in _INVALID:
            return ConnectorError("query_invalid", text, details=details)
        if code in _AUTH:
            return ConnectorError("datasource_auth_failed", "the server refused the credentials", details=details)
        if code in _UNREACHABLE or isinstance(exc, pymysql.err.InterfaceError):
            return ConnectorError("datasource_unreachable", f"the connection failed: {text}", details=details)
        if isinstance(exc, pymysql.err.ProgrammingError):
            return ConnectorError("query_invalid", text, details=details)
        return ConnectorError("query_failed", text, details=details)

    def _check_silent_interrupt(
        self, conn: pymysql.connections.Connection, started: float, timeout_seconds: float
    ) -> None:
        """MariaDB stops SLEEP() and BENCHMARK() at the time limit (or at KILL QUERY) by returning
        a value instead of an error; the session counter tells whether that happened."""
        with self._lock:
            if self._cancelled:
                raise ConnectorError("query_cancelled", "the statement was cancelled")
        if time.monotonic() - started < timeout_seconds:
            return
        name = "Max_statement_time_exceeded" if self._is_mariadb(conn) else "Max_execution_time_exceeded"
        with conn.cursor() as cursor:
            cursor.execute("SHOW SESSION STATUS LIKE %s", (name,))
            row = cursor.fetchone()
        if row and str(row[1]).isdigit() and int(row[1]) > 0:
            raise ConnectorError("query_timeout", "the statement ran past its time limit")

    # --- the interface ---

    def test(self) -> ConnectionInfo:
        started = time.monotonic()
        conn = self._connect(read_timeout=30.0)
        try:
            version = str(conn.get_server_info())
            latency = elapsed_ms(started)
            visibility = self._test_visibility(conn)
        finally:
            conn.close()
        # MariaDB prefixes its version with "5.5.5-" for old clients.
        version = version.removeprefix("5.5.5-")
        name = "MariaDB" if "mariadb" in version.lower() else "MySQL"
        return ConnectionInfo(server_version=f"{name} {version}", latency_ms=latency, visibility=visibility)

    def _test_visibility(self, conn: pymysql.connections.Connection) -> Visibility | None:
        """On the test's own connection (one query more when tables are visible); a failure here is
        logged, not a failed test: the server answered and took the credentials."""
        try:
            return self._visibility(conn)
        except pymysql.MySQLError:
            logger.warning("reading what a MySQL login can see failed", exc_info=True)
            return None

    def visibility(self) -> Visibility:
        conn = self._connect(read_timeout=VISIBILITY_TIMEOUT_SECONDS + _READ_TIMEOUT_GRACE_SECONDS)
        try:
            return self._visibility(conn)
        except pymysql.MySQLError as exc:
            raise self._translate(exc) from exc
        finally:
            conn.close()

    def _visibility(self, conn: pymysql.connections.Connection) -> Visibility:
        """information_schema lists only the tables the login holds some privilege on, so a count of
        0 is either an empty database or tables hidden from it; the login's own grants (SHOW GRANTS,
        which needs no privilege) tell the two apart where it may read the whole database."""
        settings = self._normalise(self.config.settings)
        schemas = tuple(settings.get("schemas") or [settings["database"]])
        with conn.cursor() as cursor:
            cursor.execute(_VISIBLE_SQL, (schemas,))
            visible = sum(int(count) for _schema, count in cursor.fetchall())
            if visible:
                return visibility_of(visible, None, [])
            cursor.execute("SELECT CURRENT_USER(), CURRENT_ROLE()")
            account, roles = cursor.fetchone()
            cursor.execute(_SCHEMATA_SQL, (schemas,))
            existing = {str(name).lower(): str(name) for (name,) in cursor.fetchall()}
            grants = self._grants(conn, roles)
        mariadb = self._is_mariadb(conn)
        return _visibility_of(schemas, existing, grants, account=_account(str(account)), mariadb=mariadb)

    def _grants(self, conn: pymysql.connections.Connection, roles: str | None) -> _Grants:
        with conn.cursor() as cursor:
            cursor.execute("SHOW GRANTS")
            lines = [str(row[0]) for row in cursor.fetchall()]
            if roles and roles != "NONE" and not self._is_mariadb(conn):
                # MariaDB's SHOW GRANTS includes the current role's grants; MySQL 8 shows which roles
                # are granted but not their privileges, unless asked USING them (CURRENT_ROLE() gives
                # them quoted, e.g. `reader`@`%`).
                try:
                    cursor.execute(f"SHOW GRANTS FOR CURRENT_USER() USING {roles}")
                    lines = [str(row[0]) for row in cursor.fetchall()]
                except pymysql.MySQLError:
                    logger.info("SHOW GRANTS ... USING the active roles failed; reading the login's own grants")
        return _Grants.parse(lines)

    def introspect(self, *, progress: Callable[[int, int], None] | None = None) -> Introspection:
        settings = self._normalise(self.config.settings)
        schemas = tuple(settings.get("schemas") or [settings["database"]])
        conn = self._connect(read_timeout=INTROSPECTION_TIMEOUT_SECONDS + _READ_TIMEOUT_GRACE_SECONDS)
        try:
            mariadb = self._is_mariadb(conn)
            version = str(conn.get_server_info()).removeprefix("5.5.5-")
            with conn.cursor() as cursor:
                if not mariadb:
                    # MySQL 8 caches table statistics in information_schema for a day by default.
                    cursor.execute("SET SESSION information_schema_stats_expiry = 0")
                self._start_read_only(conn, INTROSPECTION_TIMEOUT_SECONDS)
                cursor.execute(_TABLES_SQL, (schemas,))
                relations = cursor.fetchall()
                cursor.execute(_COLUMNS_SQL, (schemas,))
                columns = cursor.fetchall()
                cursor.execute(_KEYS_SQL, (schemas,))
                keys = cursor.fetchall()
            visibility = None if relations else self._visibility(conn)
        except pymysql.MySQLError as exc:
            raise self._translate(exc) from exc
        finally:
            conn.close()
        primary: set[tuple[str, str, str]] = set()
        foreign: dict[tuple[str, str, str], tuple[str, str, str]] = {}
        for schema, table, column, constraint, ref_schema, ref_table, ref_column in keys:
            if constraint == "PRIMARY KEY":
                primary.add((schema, table, column))
            elif ref_table:
                foreign.setdefault((schema, table, column), (ref_schema or "", ref_table, ref_column or ""))
        columns_of: dict[tuple[str, str], list[IntrospectedColumn]] = {}
        for schema, table, column, ordinal, data_type, nullable, comment in columns:
            fk = foreign.get((schema, table, column), ("", "", ""))
            columns_of.setdefault((schema, table), []).append(
                IntrospectedColumn(
                    name=column,
                    ordinal=int(ordinal),
                    data_type=str(data_type),
                    nullable=nullable == "YES",
                    is_primary_key=(schema, table, column) in primary,
                    comment=comment or "",
                    fk_schema=fk[0],
                    fk_table=fk[1],
                    fk_column=fk[2],
                )
            )
        tables: list[IntrospectedTable] = []
        total = len(relations)
        step = max(1, total // 100)
        for done, (schema, table, table_type, table_rows, comment) in enumerate(relations, start=1):
            is_view = table_type in ("VIEW", "SYSTEM VIEW")
            tables.append(
                IntrospectedTable(
                    schema=schema,
                    name=table,
                    kind="view" if is_view else "table",
                    row_estimate=None if is_view or table_rows is None else int(table_rows),
                    # MySQL reports "VIEW" as the comment of every view.
                    comment="" if is_view else (comment or ""),
                    columns=tuple(columns_of.get((schema, table), ())),
                )
            )
            if progress is not None and (done % step == 0 or done == total):
                progress(done, total)
        name = "MariaDB" if mariadb else "MySQL"
        return Introspection(server_version=f"{name} {version}", tables=tuple(tables), visibility=visibility)

    def execute_read(self, sql: str, *, options: QueryOptions) -> QueryResult:
        started = time.monotonic()
        conn = self._connect(read_timeout=options.timeout_seconds + _READ_TIMEOUT_GRACE_SECONDS)
        try:
            self._start_read_only(conn, options.timeout_seconds)
            # Unbuffered: only the rows read cross the network into memory. No query parameters,
            # so PyMySQL leaves "%" in the SQL alone; multi-statements are off in PyMySQL.
            cursor = SSCursor(conn)
            with self._running(conn):
                cursor.execute(sql)
                collected = collect_rows(_iter_rows(cursor), options)
                columns, types = _describe(cursor)
            if not collected.truncated:
                self._check_silent_interrupt(conn, started, options.timeout_seconds)
        except pymysql.MySQLError as exc:
            raise self._translate(exc) from exc
        finally:
            # Closing the socket, not the cursor: the cursor would read the rest of the result.
            conn.close()
        return query_result(columns, types, collected, started=started)

    def execute_write(self, sql: str, *, options: QueryOptions, dry_run: bool = False) -> WriteResult:
        if dry_run and _first_keyword(sql) not in _DRY_RUN_KEYWORDS:
            raise ConnectorError(
                "dry_run_not_supported", "MySQL commits DDL statements at once, so only INSERT, UPDATE, DELETE "
                "and REPLACE can be dry-run",
            )  # fmt: skip
        started = time.monotonic()
        conn = self._connect(read_timeout=options.timeout_seconds + _READ_TIMEOUT_GRACE_SECONDS)
        watchdog: threading.Timer | None = None
        preview: QueryResult | None = None
        counted = _auto_increment_target(sql) if dry_run else None
        consumed: tuple[str, ...] = ()
        try:
            self._set_time_limit(conn, options.timeout_seconds)
            if not self._is_mariadb(conn):
                watchdog = threading.Timer(options.timeout_seconds, self._stop_for_timeout)
                watchdog.daemon = True
            cursor = Cursor(conn)
            with self._running(conn):
                counter = self._auto_increment(conn, counted) if counted is not None else None
                cursor.execute("START TRANSACTION")
                if watchdog is not None:
                    watchdog.start()
                cursor.execute(sql)
                rows_affected = max(cursor.rowcount, 0)
                if cursor.description is not None:  # ... RETURNING on MariaDB
                    collected = collect_rows(_iter_rows(cursor), options)
                    columns, types = _describe(cursor)
                    preview = query_result(columns, types, collected, started=started)
                if watchdog is not None:
                    watchdog.cancel()
                if counted is not None and counter is not None and self._auto_increment(conn, counted) != counter:
                    # The rollback leaves the counter where the statement put it (past the ids it drew,
                    # or past an explicit id above it): the real write's ids will skip them.
                    consumed = (f"{'.'.join(filter(None, counted))} AUTO_INCREMENT",)
            self._check_silent_interrupt(conn, started, options.timeout_seconds)
            if dry_run:
                conn.rollback()
            else:
                conn.commit()
        except pymysql.MySQLError as exc:
            raise self._translate(exc) from exc
        finally:
            if watchdog is not None:
                watchdog.cancel()
            conn.close()  # an uncommitted transaction is rolled back
        return WriteResult(
            rows_affected=rows_affected,
            duration_ms=elapsed_ms(started),
            committed=not dry_run,
            preview=preview,
            sequences_consumed=consumed,
        )

    def _stop_for_timeout(self) -> None:
        with self._lock:
            self._timed_out = True
            self._kill_running()

    def stream(self, sql: str, *, options: QueryOptions, batch_rows: int = 10_000) -> StreamedResult:
        return _MySQLStream(self, sql, options=options, batch_rows=batch_rows)

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            self._kill_running()


def _iter_rows(cursor: Cursor) -> Iterator[Sequence[Any]]:
    while True:
        rows = cursor.fetchmany(_FETCH_CHUNK_ROWS)
        if not rows:
            return
        yield from rows


def _describe(cursor: Cursor) -> tuple[list[str], list[str]]:
    if not cursor.description:
        return [], []
    return (
        [str(column[0]) for column in cursor.description],
        [_TYPE_NAMES.get(column[1], str(column[1])) for column in cursor.description],
    )


class _MySQLStream(StreamedResult):
    """An unbuffered cursor in a read-only transaction; the server-side time limit covers the
    whole statement, reading included."""

    def __init__(self, connector: MySQLConnector, sql: str, *, options: QueryOptions, batch_rows: int) -> None:
        self._connector = connector
        self._batch_rows = max(1, batch_rows)
        self._started = time.monotonic()
        self._timeout = options.timeout_seconds
        self._stack = ExitStack()
        try:
            self._conn = connector._connect(read_timeout=options.timeout_seconds + _READ_TIMEOUT_GRACE_SECONDS)
            self._stack.callback(self._conn.close)
            connector._start_read_only(self._conn, options.timeout_seconds)
            self._stack.enter_context(connector._running(self._conn))
            self._cursor = SSCursor(self._conn)
            self._cursor.execute(sql)
        except pymysql.MySQLError as exc:
            self._stack.close()
            raise connector._translate(exc) from exc
        except BaseException:
            self._stack.close()
            raise
        columns, types = _describe(self._cursor)
        self.columns = tuple(columns)
        self.column_types = tuple(types)

    def batches(self) -> Iterator[Sequence[tuple[Any, ...]]]:
        while True:
            try:
                rows = self._cursor.fetchmany(self._batch_rows)
            except pymysql.MySQLError as exc:
                raise self._connector._translate(exc) from exc
            if not rows:
                break
            yield [json_row(row) for row in rows]
        try:
            self._connector._check_silent_interrupt(self._conn, self._started, self._timeout)
        except pymysql.MySQLError as exc:
            raise self._connector._translate(exc) from exc

    def __exit__(self, *exc_info: Any) -> None:
        # Closing the socket, not the cursor, which would first read the rest of the result.
        self._stack.close()


# --- what a login can see ----------------------------------------------------------------------

_QUOTED = r"`(?:[^`]|``)*`"
# One line of SHOW GRANTS on tables: GRANT SELECT, INSERT ON `db`.* TO ..., GRANT SELECT (`a`) ON
# `db`.`t` TO ..., and MySQL 8's partial revokes (REVOKE SELECT ON `db`.* FROM ...). Role grants
# (GRANT `r` TO ...), PROXY and routine grants do not match or are skipped.
_GRANT_LINE = re.compile(
    rf"^(?P<verb>GRANT|REVOKE)\s+(?P<privileges>(?:{_QUOTED}|[^`])+?)\s+ON\s+"
    rf"(?:(?P<kind>TABLE|FUNCTION|PROCEDURE|PACKAGE\s+BODY|PACKAGE)\s+)?"
    rf"(?P<database>\*|{_QUOTED})\.(?P<table>\*|{_QUOTED})\s+(?:TO|FROM)\s",
    re.IGNORECASE | re.DOTALL,
)
_COLUMN_LIST = re.compile(rf"\((?:{_QUOTED}|[^)`])*\)")
_READS_ALL = frozenset({"SELECT", "ALL", "ALL PRIVILEGES"})
# A login holding one of these on *.* sees every database in information_schema.SCHEMATA.
_SEES_EVERY_DATABASE = _READS_ALL | {"SHOW DATABASES"}


def _unquote(name: str) -> str:
    return name[1:-1].replace("``", "`") if name.startswith("`") else name


def _privilege_names(text: str) -> frozenset[str]:
    """ "SELECT (`a`, `b`), INSERT" -> {"SELECT", "INSERT"}: the names, without column lists."""
    bare = _COLUMN_LIST.sub("", text)
    return frozenset(" ".join(name.split()).upper() for name in bare.split(",") if name.strip())


def _database_pattern(pattern: str) -> re.Pattern[str]:
    """A database name in a grant is a LIKE pattern: _ and % are wildcards unless escaped (\\_)."""
    parts: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


@dataclass(frozen=True)
class _Grants:
    """What SHOW GRANTS says about the login's reach over whole databases (table grants do not
    matter here: a table the login holds any privilege on is listed in information_schema)."""

    on_every_database: frozenset[str]
    on_databases: tuple[tuple[re.Pattern[str], frozenset[str]], ...]
    revoked: tuple[tuple[str, frozenset[str]], ...]  # MySQL 8 partial revokes: exact names

    @classmethod
    def parse(cls, lines: Sequence[str]) -> _Grants:
        every: set[str] = set()
        databases: list[tuple[re.Pattern[str], frozenset[str]]] = []
        revoked: list[tuple[str, frozenset[str]]] = []
        for line in lines:
            match = _GRANT_LINE.match(line.strip())
            if match is None or match["table"] != "*" or (match["kind"] or "TABLE").upper() != "TABLE":
                continue
            privileges = _privilege_names(match["privileges"]) - {"USAGE"}
            if match["verb"].upper() == "REVOKE":
                revoked.append((_unquote(match["database"]), privileges))
            elif match["database"] == "*":
                every |= privileges
            else:
                databases.append((_database_pattern(_unquote(match["database"])), privileges))
        return cls(frozenset(every), tuple(databases), tuple(revoked))

    def _revoked(self, database: str) -> frozenset[str]:
        return frozenset(name for revoked, names in self.revoked if revoked == database for name in names)

    def reads_every_table_of(self, database: str) -> bool:
        if _READS_ALL & self._revoked(database):
            return False
        if _READS_ALL & self.on_every_database:
            return True
        return any(_READS_ALL & names and pattern.fullmatch(database) for pattern, names in self.on_databases)

    def would_see(self, database: str) -> bool:
        """Whether the database would be in information_schema.SCHEMATA for this login, if it existed."""
        if _SEES_EVERY_DATABASE & self.on_every_database:
            return True
        return any(names and pattern.fullmatch(database) for pattern, names in self.on_databases)


def _account(current_user: str) -> str:
    """ "reader@%" (CURRENT_USER()) -> "'reader'@'%'", as a GRANT statement names it."""
    user, _at, host = current_user.rpartition("@")
    return f"'{user}'@'{host}'" if user else f"'{current_user}'"


def _visibility_of(
    schemas: Sequence[str], existing: dict[str, str], grants: _Grants, *, account: str, mariadb: bool
) -> Visibility:
    """Nothing is visible in ``schemas``; says why, database by database. ``existing``: the
    configured names (lowercased) that information_schema.SCHEMATA shows the login."""
    engine = "MariaDB" if mariadb else "MySQL"
    hidden: list[str] = []  # it exists, the login holds no privilege that shows its tables
    unknown: list[str] = []  # not shown: missing, or hidden from a login without privileges on it
    missing: list[str] = []
    empty: list[str] = []
    for schema in schemas:
        name = existing.get(schema.lower())
        if name is not None:
            (empty if grants.reads_every_table_of(name) else hidden).append(name)
        elif grants.would_see(schema):
            missing.append(schema)
        else:
            unknown.append(schema)
    reasons: list[tuple[str, str]] = []
    if hidden:
        where = f"the database {hidden[0]!r}" if len(hidden) == 1 else f"the databases {name_list(hidden)}"
        target = f"`{hidden[0]}`.*" if len(hidden) == 1 else "`<database>`.*"
        message = (
            f"The login {account} sees no tables in {where}: {engine} shows a login only the tables it holds a "
            f"privilege on, and it holds none there. Grant it SELECT on the tables it should read "
            f"(GRANT SELECT ON {target} TO {account} for a whole database)."
        )
        reasons.append(("no_tables_visible", message))
    if unknown:
        if len(unknown) == 1:
            what, them, target = f"The database {unknown[0]!r} does not", "it", f"SELECT ON `{unknown[0]}`.*"
        else:
            what, them, target = f"The databases {name_list(unknown)} do not", "them", "SELECT on them"
        message = (
            f"{what} exist, or the login {account} holds no privilege on {them} ({engine} hides such databases "
            f"from it): check the schemas setting, or grant it {target}."
        )
        reasons.append(("no_tables_visible", message))
    if missing:
        what = (
            f"The database {missing[0]!r} does not"
            if len(missing) == 1
            else f"The databases {name_list(missing)} do not"
        )
        reasons.append(("schema_not_found", f"{what} exist: check the schemas setting."))
    if empty:
        what = f"The database {empty[0]!r} has" if len(empty) == 1 else f"The databases {name_list(empty)} have"
        reasons.append(("empty_schema", f"{what} no tables or views."))
    return visibility_of(0, None if hidden or unknown else 0, reasons)


_VISIBLE_SQL = """
SELECT TABLE_SCHEMA, COUNT(*) FROM information_schema.TABLES
WHERE TABLE_SCHEMA IN %s
GROUP BY TABLE_SCHEMA
"""

_SCHEMATA_SQL = """
SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN %s
"""

_AUTO_INCREMENT_SQL = """
SELECT AUTO_INCREMENT FROM information_schema.TABLES
WHERE TABLE_SCHEMA = COALESCE(NULLIF(%s, ''), DATABASE()) AND TABLE_NAME = %s
"""

_TABLES_SQL = """
SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, TABLE_ROWS, TABLE_COMMENT
FROM information_schema.TABLES
WHERE TABLE_SCHEMA IN %s
ORDER BY TABLE_SCHEMA, TABLE_NAME
"""

_COLUMNS_SQL = """
SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, COLUMN_COMMENT
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA IN %s
ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION
"""

_KEYS_SQL = """
SELECT k.TABLE_SCHEMA, k.TABLE_NAME, k.COLUMN_NAME, c.CONSTRAINT_TYPE,
       k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME
FROM information_schema.KEY_COLUMN_USAGE k
JOIN information_schema.TABLE_CONSTRAINTS c
  ON c.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND c.TABLE_SCHEMA = k.TABLE_SCHEMA
 AND c.TABLE_NAME = k.TABLE_NAME AND c.CONSTRAINT_NAME = k.CONSTRAINT_NAME
WHERE k.TABLE_SCHEMA IN %s AND c.CONSTRAINT_TYPE IN ('PRIMARY KEY', 'FOREIGN KEY')
ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, c.CONSTRAINT_TYPE DESC, k.CONSTRAINT_NAME, k.ORDINAL_POSITION
"""
