"""PostgreSQL through psycopg 3, with one small connection pool per server and login."""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, cast

import psycopg
import sqlglot
from psycopg import errors as pgerrors
from psycopg import pq
from psycopg import sql as pgsql
from psycopg_pool import ConnectionPool, PoolTimeout
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
    plural,
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

SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
CONNECT_TIMEOUT_SECONDS = 5
POOL_MAX_SIZE = 4
# How long a statement waits for one of the pool's connections before giving up.
POOL_WAIT_SECONDS = 15.0
INTROSPECTION_TIMEOUT_SECONDS = 120.0
# The catalog query of visibility() takes milliseconds; this only bounds a pathological catalog.
VISIBILITY_TIMEOUT_SECONDS = 10.0
_STREAM_CHUNK_ROWS = 1000


# --- connection parameters and pools -----------------------------------------------------------

# Pool keys hold a keyed digest of the password, not the password: the key differs per process, so
# the digest is no use outside it.
_DIGEST_KEY = os.urandom(16)


@dataclass(frozen=True)
class _PoolKey:
    host: str
    hostaddr: str
    port: int
    database: str
    user: str
    sslmode: str
    password_digest: str


@dataclass(frozen=True)
class _Params:
    host: str  # the name as configured: libpq uses it for TLS verification and SNI
    hostaddr: str  # the address resolve_host checked: libpq connects there, no second DNS lookup
    port: int
    database: str
    user: str
    sslmode: str
    password: str

    def pool_key(self) -> _PoolKey:
        digest = hashlib.blake2b(self.password.encode("utf-8"), key=_DIGEST_KEY, digest_size=16).hexdigest()
        return _PoolKey(self.host, self.hostaddr, self.port, self.database, self.user, self.sslmode, digest)

    def connect_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "host": self.host,
            "hostaddr": self.hostaddr,
            "port": self.port,
            "dbname": self.database,
            "user": self.user,
            "sslmode": self.sslmode,
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "application_name": "prompt-studio",
            "keepalives": 1,
            "keepalives_idle": 30,
            # Transactions are opened explicitly; statements are never auto-prepared because user
            # SQL rarely repeats and the pool's reset (DISCARD ALL) drops prepared statements.
            "autocommit": True,
            "prepare_threshold": None,
        }
        if self.password:
            kwargs["password"] = self.password
        return kwargs


_POOLS: dict[_PoolKey, ConnectionPool] = {}
_POOLS_LOCK = threading.Lock()


def _reset_session(conn: psycopg.Connection[Any]) -> None:
    # User SQL may SET a parameter or the role, or take an advisory lock; none of it may leak to
    # the next statement that borrows this connection.
    conn.execute("DISCARD ALL")


def _pool_for(params: _Params) -> ConnectionPool:
    key = params.pool_key()
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
    if pool is not None:
        return pool
    # The first use of a login goes through one direct connection: a pool reports a wrong
    # password, a missing database and a dead server all alike, as a timeout.
    _direct_connect(params).close()
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = ConnectionPool(
                kwargs=params.connect_kwargs(),
                min_size=0,
                max_size=POOL_MAX_SIZE,
                open=True,
                timeout=POOL_WAIT_SECONDS,
                max_idle=120.0,
                max_lifetime=1800.0,
                reconnect_timeout=30.0,
                check=ConnectionPool.check_connection,
                reset=_reset_session,
                name=f"datasource-{key.password_digest[:8]}",
            )
            _POOLS[key] = pool
    return pool


def close_pools() -> None:
    """Closes every pool of this process (at exit, and in tests)."""
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        pool.close(timeout=5.0)


def _forget_pools_in_child() -> None:
    # A forked worker must not use its parent's sockets, nor can it close them cleanly.
    _POOLS.clear()


atexit.register(close_pools)
os.register_at_fork(after_in_child=_forget_pools_in_child)


def _direct_connect(params: _Params) -> psycopg.Connection[Any]:
    try:
        return psycopg.Connection.connect(**params.connect_kwargs())
    except psycopg.Error as exc:
        raise _connect_error(exc, params) from exc


def _connect_error(exc: psycopg.Error, params: _Params) -> ConnectorError:
    """libpq reports connection failures as text without a SQLSTATE; the text never holds the
    password."""
    state = exc.sqlstate or ""
    text = str(exc)
    if state in ("28P01", "28000") or "authentication failed" in text or "no password supplied" in text:
        return ConnectorError("datasource_auth_failed", f"the server refused the credentials of user {params.user!r}")
    if state == "3D000" or (f'database "{params.database}" does not exist' in text):
        return ConnectorError("datasource_not_found", f"the database {params.database!r} does not exist")
    return ConnectorError(
        "datasource_unreachable",
        f"cannot connect to {params.host}:{params.port}: {_last_line(text)}",
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "connection failed"
    # libpq puts the useful part after the last "failed:"; the hint lines after it only repeat.
    return lines[0].rsplit("failed:", 1)[-1].strip() or lines[0]


# --- the connector -----------------------------------------------------------------------------


class PostgresConnector(Connector):
    kind = "postgresql"
    dialect = "postgres"
    transactional_ddl = True

    def __init__(self, config: ConnectionConfig, policy: GuardPolicy) -> None:
        super().__init__(config, policy)
        # cancel() runs on another thread; the lock also keeps the running connection from going
        # back to the pool (and to another statement) while a cancel request for it is in flight.
        self._lock = threading.RLock()
        self._cancelled = False
        self._active: psycopg.Connection[Any] | None = None

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
            "port": setting_port(settings, 5432),
            "database": setting_str(settings, "database"),
            "user": setting_str(settings, "user"),
            "sslmode": sslmode,
        }
        schemas = setting_str_list(settings, "schemas")
        if schemas is not None:
            normalised["schemas"] = schemas
        return normalised

    def _params(self) -> _Params:
        """Settings checked again at each connection (DNS may have changed since they were saved);
        the host is resolved once, and the checked address is the one connected to."""
        settings = self._normalise(self.config.settings)
        return _Params(
            host=settings["host"],
            hostaddr=resolve_host(settings["host"], settings["port"], self.policy),
            port=settings["port"],
            database=settings["database"],
            user=settings["user"],
            sslmode=settings["sslmode"],
            password=secret_str(self.config.secrets, "password"),
        )

    # --- sessions ---

    @contextmanager
    def _running(self, conn: psycopg.Connection[Any]) -> Iterator[None]:
        with self._lock:
            if self._cancelled:
                raise ConnectorError("query_cancelled", "the statement was cancelled")
            self._active = conn
        try:
            yield
        finally:
            with self._lock:
                self._active = None

    @contextmanager
    def _session(self, *, timeout_seconds: float, read_only: bool, rollback: bool) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection inside a transaction with a statement timeout; read-only when asked,
        so that the server itself refuses any write, whatever the SQL looks like."""
        params = self._params()
        pool = _pool_for(params)
        try:
            with (
                pool.connection(timeout=POOL_WAIT_SECONDS) as conn,
                self._running(conn),
                conn.transaction(force_rollback=rollback),
            ):
                if read_only:
                    conn.execute("SET TRANSACTION READ ONLY")
                conn.execute(
                    pgsql.SQL("SET LOCAL statement_timeout = {}").format(
                        pgsql.Literal(max(1, int(timeout_seconds * 1000)))
                    )
                )
                yield conn
        except PoolTimeout as exc:
            # Tell apart "the server went away / the password changed" from "all busy".
            _direct_connect(params).close()
            raise ConnectorError(
                "datasource_unreachable", "all connections to this data source are busy; try again shortly"
            ) from exc
        except psycopg.Error as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: psycopg.Error) -> ConnectorError:
        state = exc.sqlstate or ""
        diag = exc.diag
        message = (diag.message_primary if diag is not None else None) or _last_line(str(exc))
        details = {"sqlstate": state} if state else {}
        if not state and isinstance(exc, psycopg.ProgrammingError | psycopg.NotSupportedError):
            # raised by psycopg itself, e.g. for a statement that returns no rows on the read path
            return ConnectorError("query_invalid", str(exc))
        if state == "25006":
            return ConnectorError("query_not_read_only", f"refused on the read-only path: {message}", details=details)
        if state == "0A000" and "data-modifying" in message:
            return ConnectorError("query_not_read_only", f"refused on the read-only path: {message}", details=details)
        if state == "57014":
            with self._lock:
                cancelled = self._cancelled
            if cancelled or "statement timeout" not in message:
                return ConnectorError("query_cancelled", "the statement was cancelled", details=details)
            return ConnectorError("query_timeout", "the statement ran past its time limit", details=details)
        if state in ("42P01", "42703", "3F000"):
            # undefined table / column / schema: the catalog may be out of date
            return ConnectorError("table_not_found", message, details=details)
        if state == "42501":
            return ConnectorError("query_failed", message, details=details)
        if state.startswith("42") or state == "0A000":
            return ConnectorError("query_invalid", message, details=details)
        if state in ("28P01", "28000"):
            return ConnectorError("datasource_auth_failed", "the server refused the credentials", details=details)
        if state == "3D000":
            return ConnectorError("datasource_not_found", message, details=details)
        if state.startswith("08") or state in ("57P01", "57P02", "57P03") or not state:
            return ConnectorError("datasource_unreachable", f"the connection failed: {message}", details=details)
        return ConnectorError("query_failed", message, details=details)

    # --- the interface ---

    def test(self) -> ConnectionInfo:
        started = time.monotonic()
        params = self._params()
        conn = _direct_connect(params)
        try:
            row = conn.execute("SHOW server_version").fetchone()
            latency = elapsed_ms(started)
            visibility = self._test_visibility(conn)
        except psycopg.Error as exc:
            raise self._translate(exc) from exc
        finally:
            conn.close()
        version = str(row[0]) if row else "unknown"
        return ConnectionInfo(server_version=f"PostgreSQL {version}", latency_ms=latency, visibility=visibility)

    def _test_visibility(self, conn: psycopg.Connection[Any]) -> Visibility | None:
        """On the test's own connection (two round trips more, no second connection); a failure
        here is logged, not a failed test: the server answered and took the credentials."""
        try:
            # The connection is closed after the test: the setting goes with it.
            conn.execute(
                pgsql.SQL("SET statement_timeout = {}").format(pgsql.Literal(int(VISIBILITY_TIMEOUT_SECONDS * 1000)))
            )
            return self._visibility(conn)
        except psycopg.Error:
            logger.warning("reading what a PostgreSQL login can see failed", exc_info=True)
            return None

    def visibility(self) -> Visibility:
        with self._session(timeout_seconds=VISIBILITY_TIMEOUT_SECONDS, read_only=True, rollback=True) as conn:
            return self._visibility(conn)

    def _visibility(self, conn: psycopg.Connection[Any]) -> Visibility:
        settings = self._normalise(self.config.settings)
        schemas: list[str] | None = settings.get("schemas")
        rows = conn.execute(_VISIBILITY_SQL, {"schemas": schemas}).fetchall()
        return _visibility_of(
            rows, user=settings["user"], database=settings["database"], configured=schemas is not None
        )

    def introspect(self, *, progress: Callable[[int, int], None] | None = None) -> Introspection:
        schemas = self._normalise(self.config.settings).get("schemas")
        with self._session(timeout_seconds=INTROSPECTION_TIMEOUT_SECONDS, read_only=True, rollback=True) as conn:
            version_row = conn.execute("SHOW server_version").fetchone()
            relations = conn.execute(_RELATIONS_SQL, {"schemas": schemas}).fetchall()
            oids = [row[0] for row in relations]
            columns = conn.execute(_COLUMNS_SQL, {"oids": oids}).fetchall()
            keys = conn.execute(_KEYS_SQL, {"oids": oids}).fetchall()
            visibility = None if relations else self._visibility(conn)
        primary: set[tuple[int, str]] = set()
        foreign: dict[tuple[int, str], tuple[str, str, str]] = {}
        for relid, contype, column, fk_schema, fk_table, fk_column in keys:
            if contype == "p":
                primary.add((relid, column))
            else:
                foreign.setdefault((relid, column), (fk_schema, fk_table, fk_column))
        columns_of: dict[int, list[IntrospectedColumn]] = {}
        for relid, name, ordinal, data_type, nullable, comment in columns:
            fk = foreign.get((relid, name), ("", "", ""))
            columns_of.setdefault(relid, []).append(
                IntrospectedColumn(
                    name=name,
                    ordinal=int(ordinal),
                    data_type=data_type,
                    nullable=bool(nullable),
                    is_primary_key=(relid, name) in primary,
                    comment=comment,
                    fk_schema=fk[0],
                    fk_table=fk[1],
                    fk_column=fk[2],
                )
            )
        tables: list[IntrospectedTable] = []
        total = len(relations)
        step = max(1, total // 100)
        for done, (relid, schema, name, relkind, reltuples, comment) in enumerate(relations, start=1):
            is_view = relkind in ("v", "m")
            estimate = None if relkind == "v" or reltuples is None or reltuples < 0 else int(reltuples)
            tables.append(
                IntrospectedTable(
                    schema=schema,
                    name=name,
                    kind="view" if is_view else "table",
                    row_estimate=estimate,
                    comment=comment,
                    columns=tuple(columns_of.get(relid, ())),
                )
            )
            if progress is not None and (done % step == 0 or done == total):
                progress(done, total)
        version = f"PostgreSQL {version_row[0]}" if version_row else "PostgreSQL"
        return Introspection(server_version=version, tables=tuple(tables), visibility=visibility)

    def execute_read(self, sql: str, *, options: QueryOptions) -> QueryResult:
        started = time.monotonic()
        with self._session(timeout_seconds=options.timeout_seconds, read_only=True, rollback=True) as conn:
            cursor = conn.cursor()
            # stream() always uses the extended protocol, which takes exactly one statement: with
            # the simple protocol "COMMIT; DELETE ..." would end the read-only transaction.
            # Rows arrive in chunks; leaving the loop early cancels the rest on the server.
            rows = cast(
                Generator[Any, None, None],
                cursor.stream(sql, size=max(1, min(options.max_rows + 1, _STREAM_CHUNK_ROWS))),
            )
            try:
                collected = collect_rows(rows, options)
                columns, types = _describe(cursor)
            finally:
                rows.close()
            if not columns and collected.rows_returned == 0:
                # A result without rows comes back without its row description in stream mode.
                columns, types = _describe_statement(conn, sql)
        return query_result(columns, types, collected, started=started)

    def execute_write(self, sql: str, *, options: QueryOptions, dry_run: bool = False) -> WriteResult:
        started = time.monotonic()
        preview: QueryResult | None = None
        consumed: tuple[str, ...] = ()
        with self._session(timeout_seconds=options.timeout_seconds, read_only=False, rollback=dry_run) as conn:
            watch = _SequenceWatch.start(conn, sql) if dry_run else None
            cursor = conn.cursor()
            # binary=True makes psycopg use the extended protocol: exactly one statement.
            cursor.execute(sql, binary=True)
            rows_affected = max(cursor.rowcount, 0)
            if cursor.description is not None:  # INSERT/UPDATE/DELETE ... RETURNING
                collected = collect_rows(cursor, options)
                columns, types = _describe(cursor)
                preview = query_result(columns, types, collected, started=started)
            if watch is not None:
                consumed = watch.restore(conn)  # before the rollback: setval outlasts it
        return WriteResult(
            rows_affected=rows_affected,
            duration_ms=elapsed_ms(started),
            committed=not dry_run,
            preview=preview,
            sequences_consumed=consumed,
        )

    def stream(self, sql: str, *, options: QueryOptions, batch_rows: int = 10_000) -> StreamedResult:
        return _PostgresStream(self, sql, options=options, batch_rows=batch_rows)

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            conn = self._active
            if conn is not None:
                try:
                    conn.cancel_safe(timeout=5.0)
                except psycopg.Error:
                    logger.warning("cancelling a PostgreSQL statement failed", exc_info=True)


def _describe(cursor: psycopg.Cursor[Any]) -> tuple[list[str], list[str]]:
    if cursor.description is None:
        return [], []
    return [column.name for column in cursor.description], [column.type_display for column in cursor.description]


def _describe_statement(conn: psycopg.Connection[Any], sql: str) -> tuple[list[str], list[str]]:
    """Column names and types of a statement, from the server's parse of it (nothing runs)."""
    encoding = conn.info.encoding
    pgconn = conn.pgconn
    if pgconn.prepare(b"", sql.encode(encoding)).status != pq.ExecStatus.COMMAND_OK:
        return [], []
    described = pgconn.describe_prepared(b"")
    names: list[str] = []
    types: list[str] = []
    for index in range(described.nfields):
        names.append((described.fname(index) or b"").decode(encoding))
        oid, fmod = described.ftype(index), described.fmod(index)
        info = conn.adapters.types.get(oid)
        types.append(info.get_type_display(oid=oid, fmod=fmod) if info is not None else str(oid))
    return names, types


# --- sequences in dry runs ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Sequence:
    oid: int
    schema: str
    name: str
    readable: bool  # SELECT on it: its exact state can be read, so it can be set back
    shared: bool  # the default of a table outside the lock draws from it too

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}"


# (last_value, is_called); without SELECT on the sequence (USAGE only) last_value is None until the
# sequence is first called, which is enough to tell a change.
_SequenceState = tuple[int | None, bool]


# The sequences the defaults of a table draw from: serial and identity sequences (owned by one of its
# columns) and any other a column default calls, each with whether a table outside the lock (LOCK
# TABLE takes the partitions and child tables too) has a default drawing from it as well.
_SEQUENCES_SQL = """
WITH RECURSIVE target AS (
    SELECT c.oid, n.nspname, c.relname
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = to_regclass(%(table)s)
), locked (relid) AS (
    SELECT oid FROM target
    UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN locked l ON i.inhparent = l.relid
), drawn (seqid) AS (
    SELECT d.objid FROM pg_catalog.pg_depend d JOIN target t ON d.refobjid = t.oid
    WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    UNION
    SELECT d.refobjid FROM pg_catalog.pg_depend d
    JOIN pg_catalog.pg_attrdef ad ON ad.oid = d.objid JOIN target t ON ad.adrelid = t.oid
    WHERE d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass
)
SELECT t.nspname, t.relname, s.oid::bigint, n.nspname, s.relname, has_sequence_privilege(s.oid, 'SELECT'),
       EXISTS (
           SELECT FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_attrdef ad ON ad.oid = d.objid
           WHERE d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass
             AND d.refobjid = s.oid AND ad.adrelid NOT IN (SELECT relid FROM locked)
       )
FROM target t
JOIN drawn ON true
JOIN pg_catalog.pg_class s ON s.oid = drawn.seqid AND s.relkind = 'S'
JOIN pg_catalog.pg_namespace n ON n.oid = s.relnamespace
ORDER BY n.nspname, s.relname
"""


@dataclass(frozen=True)
class _SequenceWatch:
    """Sequences are not transactional: a dry run that draws ids (serial, identity, a default calling
    nextval) would leave them used up after its rollback, and the real write would get other ids
    than those the dry run showed, after a gap. The watch notes where the sequences of the written
    table stand, and sets them back after the statement, before the rollback.

    The table is locked against other writers (SHARE ROW EXCLUSIVE: readers go on, writers of the
    table wait for the dry run, and so does a second dry run), so that no one else draws from its
    defaults meanwhile. The lock waits within the session's statement timeout.
    """

    sequences: tuple[_Sequence, ...]
    before: tuple[_SequenceState, ...]
    locked: bool

    @classmethod
    def start(cls, conn: psycopg.Connection[Any], sql: str) -> _SequenceWatch | None:
        table = _defaults_target(sql)
        if table is None:
            return None
        rows = conn.execute(_SEQUENCES_SQL, {"table": table}).fetchall()
        if not rows:
            return None
        locked = True
        try:
            with conn.transaction():  # a savepoint: the login may insert but not lock in this mode
                lock = pgsql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(pgsql.Identifier(*rows[0][:2]))
                conn.execute(lock)
        except pgerrors.InsufficientPrivilege:
            locked = False
        sequences = tuple(_Sequence(*row[2:]) for row in rows)
        return cls(sequences, tuple(_sequence_state(conn, sequence) for sequence in sequences), locked)

    def restore(self, conn: psycopg.Connection[Any]) -> tuple[str, ...]:
        """Sets back what the statement advanced; returns the names of the sequences it could not."""
        consumed: list[str] = []
        for sequence, before in zip(self.sequences, self.before, strict=True):
            after = _sequence_state(conn, sequence)
            if after == before:
                continue
            # Set back only a change surely the dry run's alone (the table locked, no other table's
            # default drawing from the sequence) to a state exactly known (SELECT on the sequence).
            safe = self.locked and sequence.readable and not sequence.shared
            if not (safe and _set_back(conn, sequence, before, after)):
                consumed.append(sequence.label)
        return tuple(consumed)


def _defaults_target(sql: str) -> str | None:
    """The table whose column defaults the statement may evaluate, as ``to_regclass`` reads a name:
    INSERT and MERGE fill the columns they leave out, an UPDATE does only for SET c = DEFAULT.
    None for anything else (a DELETE or DDL draws from no default)."""
    try:
        statement = sqlglot.parse_one(sql, read="postgres")
    except SqlglotError:
        return None
    if isinstance(statement, exp.Update) and not any(_is_default(node.expression) for node in statement.expressions):
        return None
    table = written_table(statement) if isinstance(statement, exp.Insert | exp.Update | exp.Merge) else None
    return ".".join(part.sql(dialect="postgres") for part in table.parts) if table is not None else None


def _is_default(node: exp.Expr) -> bool:
    # sqlglot reads the DEFAULT of "SET c = DEFAULT" as a column of that name, not quoted.
    return (
        isinstance(node, exp.Column)
        and not node.table
        and isinstance(node.this, exp.Identifier)
        and not node.this.quoted
        and node.name.upper() == "DEFAULT"
    )


def _sequence_state(conn: psycopg.Connection[Any], sequence: _Sequence) -> _SequenceState:
    if sequence.readable:
        query = pgsql.SQL("SELECT last_value, is_called FROM {}").format(
            pgsql.Identifier(sequence.schema, sequence.name)
        )
        row = conn.execute(query).fetchone()
    else:
        row = conn.execute(
            "SELECT v, v IS NOT NULL FROM pg_catalog.pg_sequence_last_value(%s::oid::regclass) AS v", (sequence.oid,)
        ).fetchone()
    assert row is not None
    return row[0], bool(row[1])


def _set_back(
    conn: psycopg.Connection[Any], sequence: _Sequence, before: _SequenceState, after: _SequenceState
) -> bool:
    """setval, only while the sequence is still where the dry run left it, so that a session that
    called its nextval explicitly since (not through the locked table) is not handed its value again.
    setval is not transactional: it outlasts the dry run's rollback."""
    try:
        with conn.transaction():  # a savepoint: the login may draw from the sequence but not set it
            query = pgsql.SQL(
                "SELECT pg_catalog.setval(%(oid)s::oid::regclass, %(value)s, %(called)s) FROM {} "
                "WHERE last_value = %(now)s AND is_called = %(now_called)s"
            ).format(pgsql.Identifier(sequence.schema, sequence.name))
            params = {"oid": sequence.oid, "value": before[0], "called": before[1], "now": after[0],
                      "now_called": after[1]}  # fmt: skip
            return conn.execute(query, params).fetchone() is not None
    except pgerrors.InsufficientPrivilege:
        logger.info("the dry run could not set back the sequence %s (no UPDATE privilege)", sequence.label)
        return False


class _PostgresStream(StreamedResult):
    """A named (server-side) cursor in a read-only transaction: the server keeps the result and
    hands it over ``batch_rows`` at a time. Each FETCH has the statement timeout, and the whole
    stream must end within ``options.timeout_seconds`` too."""

    def __init__(self, connector: PostgresConnector, sql: str, *, options: QueryOptions, batch_rows: int) -> None:
        self._connector = connector
        self._batch_rows = max(1, batch_rows)
        self._deadline = time.monotonic() + options.timeout_seconds
        self._stack = ExitStack()
        try:
            conn = self._stack.enter_context(
                connector._session(timeout_seconds=options.timeout_seconds, read_only=True, rollback=True)
            )
            self._cursor: psycopg.ServerCursor[Any] = conn.cursor(name="prompt_studio_export")
            self._cursor.itersize = self._batch_rows
            self._cursor.execute(sql)
        except psycopg.Error as exc:
            error = connector._translate(exc)
            self._stack.close()
            raise error from exc
        except BaseException:
            self._stack.close()
            raise
        description = self._cursor.description or []
        self.columns = tuple(column.name for column in description)
        self.column_types = tuple(column.type_display for column in description)

    def batches(self) -> Iterator[Sequence[tuple[Any, ...]]]:
        while True:
            if time.monotonic() > self._deadline:
                raise ConnectorError("query_timeout", "the export ran past its time limit")
            try:
                rows = self._cursor.fetchmany(self._batch_rows)
            except psycopg.Error as exc:
                raise self._connector._translate(exc) from exc
            if not rows:
                return
            yield [json_row(row) for row in rows]

    def __exit__(self, *exc_info: Any) -> None:
        try:
            self._cursor.close()
        except psycopg.Error:
            logger.debug("closing an export cursor failed", exc_info=True)
        self._stack.close()


# --- what a login can see ----------------------------------------------------------------------

# Per schema (the configured ones, else every schema introspect reads): whether it exists, whether
# the login may use it, its relations (as introspect counts them) and those the login may SELECT
# from. pg_namespace and pg_class are readable by every login, whatever it may read.
_VISIBILITY_SQL = """
WITH wanted AS (
    SELECT n.oid, n.nspname AS name
    FROM pg_catalog.pg_namespace n
    WHERE %(schemas)s::text[] IS NULL AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
    UNION ALL
    SELECT n.oid, s.name
    FROM unnest(%(schemas)s::text[]) AS s(name)
    LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = s.name
)
SELECT w.name, w.oid IS NOT NULL, coalesce(has_schema_privilege(w.oid, 'USAGE'), false),
       count(c.oid),
       count(c.oid) FILTER (WHERE has_table_privilege(c.oid, 'SELECT') OR has_any_column_privilege(c.oid, 'SELECT'))
FROM wanted w
LEFT JOIN pg_catalog.pg_class c
       ON c.relnamespace = w.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
GROUP BY w.name, w.oid
ORDER BY w.name
"""

_PLAIN_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_$]*")


def _ident(name: str) -> str:
    """A name as it would be typed in a GRANT statement."""
    return name if _PLAIN_IDENTIFIER.fullmatch(name) else '"' + name.replace('"', '""') + '"'


def _visibility_of(rows: Sequence[tuple[Any, ...]], *, user: str, database: str, configured: bool) -> Visibility:
    visible = unreadable = 0
    no_usage: list[tuple[str, int]] = []  # the schema holds relations, the login may not use it
    no_select: list[tuple[str, int]] = []  # the login may use it, but read none of its relations
    missing: list[str] = []
    empty: list[str] = []
    for name, exists, usage, relations, readable in rows:
        if not exists:
            missing.append(name)
            continue
        seen = int(readable) if usage else 0
        visible += seen
        unreadable += int(relations) - seen
        if relations == 0:
            empty.append(name)
        elif not usage:
            no_usage.append((name, int(relations)))
        elif seen == 0:
            no_select.append((name, int(relations)))
    grantee = _ident(user)
    reasons: list[tuple[str, str]] = []
    if no_usage:
        names = [name for name, _count in no_usage]
        held = plural(sum(count for _name, count in no_usage), "table or view", "tables or views")
        if len(names) == 1:
            grant = f"grant USAGE ON SCHEMA {_ident(names[0])} TO {grantee}"
            where = f"the schema {names[0]!r} (no USAGE privilege on it), which holds"
        else:
            grant = "grant it USAGE on them"
            where = f"the schemas {name_list(names)} (no USAGE privilege on them), which hold"
        message = f"The login {user!r} may not use {where} {held}: {grant}, and SELECT on the tables it should read."
        reasons.append(("no_tables_visible", message))
    if no_select:
        names = [name for name, _count in no_select]
        held = plural(sum(count for _name, count in no_select), "table or view", "tables or views")
        where = f"the schema {names[0]!r}" if len(names) == 1 else f"the schemas {name_list(names)}"
        schemas = ", ".join(_ident(name) for name in names) if len(names) <= 5 else "..."
        message = (
            f"The login {user!r} may not read any of the {held} in {where}: grant it SELECT on the tables it "
            f"should read (GRANT SELECT ON ALL TABLES IN SCHEMA {schemas} TO {grantee})."
        )
        reasons.append(("no_tables_visible", message))
    if missing:
        if len(missing) == 1:
            message = f"The schema {missing[0]!r} does not exist in the database {database!r}"
        else:
            message = f"The schemas {name_list(missing)} do not exist in the database {database!r}"
        reasons.append(("schema_not_found", f"{message}: check the schemas setting."))
    if empty and configured:
        if len(empty) == 1:
            reasons.append(("empty_schema", f"The schema {empty[0]!r} has no tables or views."))
        else:
            reasons.append(("empty_schema", f"The schemas {name_list(empty)} have no tables or views."))
    elif not configured and not no_usage and not no_select:
        message = f"The database {database!r} has no tables or views outside the system schemas."
        reasons.append(("empty_schema", message))
    return visibility_of(visible, unreadable, reasons)


# --- introspection SQL -------------------------------------------------------------------------

_RELATIONS_SQL = """
SELECT c.oid::bigint, n.nspname, c.relname, c.relkind::text, c.reltuples::float8,
       coalesce(obj_description(c.oid, 'pg_class'), '')
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT c.relispartition
  AND CASE WHEN %(schemas)s::text[] IS NULL
           THEN n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
           ELSE n.nspname = ANY(%(schemas)s::text[]) END
  AND (has_table_privilege(c.oid, 'SELECT') OR has_any_column_privilege(c.oid, 'SELECT'))
  -- SELECT on a table is no use without USAGE on its schema: every query on it would fail.
  AND has_schema_privilege(n.oid, 'USAGE')
ORDER BY n.nspname, c.relname
"""

_COLUMNS_SQL = """
SELECT a.attrelid::bigint, a.attname,
       row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum),
       format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
       coalesce(col_description(a.attrelid, a.attnum), '')
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = ANY(%(oids)s::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

_KEYS_SQL = """
SELECT con.conrelid::bigint, con.contype::text, src.attname,
       coalesce(dn.nspname, ''), coalesce(dc.relname, ''), coalesce(dst.attname, '')
FROM pg_catalog.pg_constraint con
CROSS JOIN LATERAL unnest(con.conkey, coalesce(con.confkey, con.conkey)) WITH ORDINALITY AS k(src, dst, pos)
JOIN pg_catalog.pg_attribute src ON src.attrelid = con.conrelid AND src.attnum = k.src
LEFT JOIN pg_catalog.pg_attribute dst
       ON con.contype = 'f' AND dst.attrelid = con.confrelid AND dst.attnum = k.dst
LEFT JOIN pg_catalog.pg_class dc ON con.contype = 'f' AND dc.oid = con.confrelid
LEFT JOIN pg_catalog.pg_namespace dn ON dn.oid = dc.relnamespace
WHERE con.contype IN ('p', 'f') AND con.conrelid = ANY(%(oids)s::oid[])
ORDER BY con.conrelid, con.contype, con.conname, k.pos
"""
