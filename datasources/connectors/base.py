"""The connector contract: one interface over every engine a data source can live in.

A connector is built per use from a ``ConnectionConfig`` (plain settings plus decrypted secrets)
and a ``GuardPolicy`` (what hosts and paths this deployment allows). It never imports Django: the
``datasources.services`` layer builds it from a ``DataSource`` row.

Every error a user can cause is a ``ConnectorError`` with a stable ``code``; the message is
plain words and never contains a password.
"""

from __future__ import annotations

import datetime
import ipaddress
import math
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from sqlglot import exp

# --- errors ------------------------------------------------------------------------------------


class ConnectorError(Exception):
    """A failure with a stable code for clients. ``code`` is one of ERROR_CODES."""

    def __init__(self, code: str, message: str, *, details: dict[str, Any] | None = None) -> None:
        assert code in ERROR_CODES, code
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


ERROR_CODES = {
    "datasource_invalid_settings": "the connection settings are incomplete or malformed",
    "datasource_forbidden_host": "the host resolves to an address this deployment refuses (SSRF guard)",
    "datasource_path_forbidden": "the file path is outside the configured roots",
    "datasource_unreachable": "the server or file cannot be reached",
    "datasource_auth_failed": "the credentials were refused",
    "datasource_not_found": "the database, file or folder does not exist",
    "query_invalid": "the engine could not parse or plan the statement",
    "query_not_read_only": "a statement that writes reached the read path and was refused by the engine",
    "query_timeout": "the statement ran past its time limit and was stopped",
    "query_cancelled": "the statement was cancelled",
    "table_not_found": "a table or column the statement names does not exist (any more)",
    "query_failed": "the engine reported another error while running the statement",
    "writes_not_supported": "this kind of data source is read-only: it takes no INSERT, UPDATE, DELETE or DDL",
    "dry_run_not_supported": "the engine commits this statement at once (MySQL DDL), so it cannot be tried first",
}


# --- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GuardPolicy:
    """What this deployment lets a data source reach.

    Link-local and cloud-metadata addresses are always refused; loopback and private ranges only
    when ``allow_private`` is set. ``deny`` wins over ``allow``; both hold host names or CIDRs.
    """

    allow_private: bool = False
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    file_roots: tuple[Path, ...] = ()
    # Largest file fetched from an http(s) URL for the files connector.
    max_download_bytes: int = 512 * 1024 * 1024
    download_dir: Path | None = None


@dataclass(frozen=True)
class ConnectionConfig:
    """``settings`` are shown to users; ``secrets`` (passwords, tokens) never are.

    Settings by kind:
    - postgresql: host, port (5432), database, user, sslmode (prefer), schemas (list, optional)
    - mysql: host, port (3306), database, user, sslmode (prefer), schemas (list, optional: databases)
    - sqlite: path
    - files: path (a folder or a file) or urls (list of http(s) URLs); format (csv|parquet|json,
      optional: guessed from the extension)
    Secrets: password (postgresql, mysql).
    """

    kind: str
    settings: dict[str, Any]
    secrets: dict[str, Any] = field(default_factory=dict)


# --- results -----------------------------------------------------------------------------------

# Why a source shows no table, most telling first: when several parts of a source say different
# things (one schema missing, another unreadable), the code is the first of them that applies.
VISIBILITY_CODES = {
    "no_tables_visible": "tables exist, but this login may not read them",
    "schema_not_found": "a configured schema (or database) does not exist",
    "empty_schema": "there is nothing to read: no tables or views (no data files)",
}


@dataclass(frozen=True)
class Visibility:
    """What the login of a source can read, and when that is nothing, why: from the engine's
    catalog, never from the data."""

    visible: int  # tables and views this login can read in the configured schemas
    unreadable: int | None  # tables that exist there but this login may not read (None: the engine cannot tell)
    code: str  # "" when visible > 0, else one of VISIBILITY_CODES
    message: str  # plain words for a person: what is wrong and what to do ("" when visible > 0)

    def __post_init__(self) -> None:
        assert (self.code == "") == (self.visible > 0), (self.visible, self.code)
        assert self.code == "" or self.code in VISIBILITY_CODES, self.code


def visibility_of(visible: int, unreadable: int | None, reasons: Iterable[tuple[str, str]]) -> Visibility:
    """A Visibility from what the connector counted and, for the parts of the source that show
    nothing, (code, message) reasons; they only matter when nothing at all is visible."""
    if visible > 0:
        return Visibility(visible=visible, unreadable=unreadable, code="", message="")
    order = list(VISIBILITY_CODES)
    ranked = sorted(reasons, key=lambda reason: order.index(reason[0])) or [
        ("empty_schema", "There are no tables or views to read.")
    ]
    return Visibility(
        visible=0, unreadable=unreadable, code=ranked[0][0], message=" ".join(message for _code, message in ranked)
    )


def name_list(names: Sequence[str], *, limit: int = 5) -> str:
    """ "'a'", "'a' and 'b'", "'a', 'b', 'c' and 4 more": names for a message."""
    quoted = [repr(name) for name in names[:limit]]
    rest = len(names) - len(quoted)
    if rest > 0:
        return f"{', '.join(quoted)} and {rest} more"
    if len(quoted) < 2:
        return "".join(quoted)
    return f"{', '.join(quoted[:-1])} and {quoted[-1]}"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """ "1 table", "3 tables"."""
    return f"{count} {singular if count == 1 else (plural_form or singular + 's')}"


@dataclass(frozen=True)
class ConnectionInfo:
    server_version: str
    latency_ms: float
    # What the login can read (filled by every connector's test(); None when that check failed).
    visibility: Visibility | None = None


@dataclass(frozen=True)
class IntrospectedColumn:
    name: str
    ordinal: int  # 1-based position in the table
    data_type: str  # as the engine names it, e.g. "integer", "character varying(120)"
    nullable: bool
    is_primary_key: bool = False
    comment: str = ""
    # Set when the column is (part of) a foreign key.
    fk_schema: str = ""
    fk_table: str = ""
    fk_column: str = ""


@dataclass(frozen=True)
class IntrospectedTable:
    schema: str  # "" where the engine has no schemas (the files connector uses "main")
    name: str
    kind: str  # "table" | "view"
    row_estimate: int | None
    comment: str
    columns: tuple[IntrospectedColumn, ...]


@dataclass(frozen=True)
class Introspection:
    server_version: str
    tables: tuple[IntrospectedTable, ...]
    # Why there are no tables: set by introspect() when it found none.
    visibility: Visibility | None = None


@dataclass(frozen=True)
class QueryOptions:
    timeout_seconds: float = 30.0
    max_rows: int = 10_000  # rows read at most; more means ``truncated``
    preview_rows: int = 100  # rows kept in ``QueryResult.rows``


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    column_types: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]  # the first ``preview_rows`` rows, JSON-friendly values
    rows_returned: int  # rows read, at most max_rows
    truncated: bool  # the statement had more than max_rows rows
    duration_ms: float


@dataclass(frozen=True)
class WriteResult:
    rows_affected: int
    duration_ms: float
    committed: bool  # False for a dry run (rolled back)
    preview: QueryResult | None = None  # for dry runs: the affected rows, when the engine can show them
    # For dry runs: the sequences (or MySQL AUTO_INCREMENT counters) the statement advanced and that could
    # not be put back, so the real write's generated ids will differ from the dry run's.
    sequences_consumed: tuple[str, ...] = ()


class StreamedResult(AbstractContextManager["StreamedResult"]):
    """The rows of one statement, in batches, at constant memory (a server-side cursor)."""

    columns: tuple[str, ...]
    column_types: tuple[str, ...]

    @abstractmethod
    def batches(self) -> Iterator[Sequence[tuple[Any, ...]]]: ...


# --- the interface -----------------------------------------------------------------------------


class Connector(ABC):
    kind: ClassVar[str]
    dialect: ClassVar[str]  # the sqlglot dialect of the engine's SQL
    # Whether execute_write takes anything (the files connector is read-only).
    supports_writes: ClassVar[bool] = True
    # Whether DDL runs inside a transaction (PostgreSQL, SQLite), so that a dry run can try it and
    # roll it back; MySQL and MariaDB commit DDL at once.
    transactional_ddl: ClassVar[bool] = False

    def __init__(self, config: ConnectionConfig, policy: GuardPolicy) -> None:
        self.config = config
        self.policy = policy

    @classmethod
    @abstractmethod
    def validate_settings(cls, settings: dict[str, Any], policy: GuardPolicy) -> dict[str, Any]:
        """Returns normalised settings or raises ConnectorError (invalid settings, forbidden host/path).

        Used before anything is saved, and again before each connection (DNS may have changed).
        """

    @abstractmethod
    def test(self) -> ConnectionInfo:
        """Connects, checks the credentials, and returns the server version and what the login can
        read (``visibility``)."""

    @abstractmethod
    def visibility(self) -> Visibility:
        """How many tables and views the login can read in the configured schemas and, when none,
        why: a few catalog queries, no data read."""

    @abstractmethod
    def introspect(self, *, progress: Callable[[int, int], None] | None = None) -> Introspection:
        """Schemas, tables, views, columns, keys, row estimates and comments; when there are none,
        ``visibility`` says why.

        ``progress(done, total)`` is called as tables are read.
        """

    @abstractmethod
    def execute_read(self, sql: str, *, options: QueryOptions) -> QueryResult:
        """Runs one statement on a read-only transaction or connection, time-boxed and row-capped.

        The engine itself refuses writes here (``query_not_read_only``), whatever the SQL.
        """

    @abstractmethod
    def execute_write(self, sql: str, *, options: QueryOptions, dry_run: bool = False) -> WriteResult:
        """Runs one INSERT/UPDATE/DELETE or DDL statement in a read-write transaction with the
        statement timeout, and commits it; a dry run rolls it back and reports the exact count, and
        names in ``sequences_consumed`` the id sequences it advanced and could not set back.

        ``sql`` is what the governance firewall let through (``GatewayDecision.sql_after``), never
        a model's own text. A dry run of DDL where the engine commits DDL at once (MySQL) raises
        ``dry_run_not_supported``; a read-only kind of source raises ``writes_not_supported``.
        """

    @abstractmethod
    def stream(self, sql: str, *, options: QueryOptions, batch_rows: int = 10_000) -> StreamedResult:
        """Like execute_read without the row cap, for exports; read-only and time-boxed too."""

    @abstractmethod
    def cancel(self) -> None:
        """Stops the statement this connector is running now. Safe to call from another thread."""

    def close(self) -> None:  # noqa: B027  optional for connectors without resources
        """Releases connections held by this connector."""


def is_always_forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Link-local (which includes 169.254.169.254, the cloud metadata address), multicast,
    unspecified and reserved addresses are never reachable from a data source."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_always_forbidden(address.ipv4_mapped)
    return bool(
        address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        # Python counts ::1 as reserved (it lies in ::/8); loopback is a private-range decision.
        or (address.is_reserved and not address.is_loopback)
        or address in ipaddress.ip_network("100.100.100.200/32")  # Alibaba Cloud metadata
        or (isinstance(address, ipaddress.IPv6Address) and address in ipaddress.ip_network("fd00:ec2::254/128"))
    )


# --- helpers shared by the connectors ----------------------------------------------------------


def to_json_value(value: Any) -> Any:
    """One engine value as something ``json.dumps`` takes without losing information.

    Decimals become strings so that money keeps its exact digits; non-finite floats become strings
    because JSON has no NaN; bytes become hex; arrays and JSON documents keep their structure.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [to_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json_value(item) for key, item in value.items()}
    return str(value)


def json_row(row: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(to_json_value(value) for value in row)


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.monotonic()`` reading)."""
    return round((time.monotonic() - started) * 1000.0, 3)


@dataclass(frozen=True)
class CollectedRows:
    preview: tuple[tuple[Any, ...], ...]
    rows_returned: int
    truncated: bool


def collect_rows(rows: Iterable[Sequence[Any]], options: QueryOptions) -> CollectedRows:
    """Reads at most ``max_rows + 1`` rows (one more tells whether the result was truncated) and
    keeps only the first ``preview_rows`` of them, converted; the caller stops the cursor after."""
    preview: list[tuple[Any, ...]] = []
    count = 0
    truncated = False
    for row in rows:
        if count >= options.max_rows:
            truncated = True
            break
        count += 1
        if len(preview) < options.preview_rows:
            preview.append(json_row(row))
    return CollectedRows(preview=tuple(preview), rows_returned=count, truncated=truncated)


def query_result(
    columns: Sequence[str], column_types: Sequence[str], collected: CollectedRows, *, started: float
) -> QueryResult:
    return QueryResult(
        columns=tuple(columns),
        column_types=tuple(column_types),
        rows=collected.preview,
        rows_returned=collected.rows_returned,
        truncated=collected.truncated,
        duration_ms=elapsed_ms(started),
    )


def written_table(statement: exp.Expr) -> exp.Table | None:
    """The table an INSERT, UPDATE, DELETE or MERGE writes to, as the statement names it."""
    if not isinstance(statement, exp.Insert | exp.Update | exp.Delete | exp.Merge):
        return None
    target = statement.this
    if isinstance(target, exp.Schema):  # INSERT INTO t (a, b)
        target = target.this
    return target if isinstance(target, exp.Table) else None


def check_known_settings(settings: dict[str, Any], known: Iterable[str]) -> None:
    """Unknown keys are refused rather than ignored: a typo ("hostname") should not silently fall
    back to a default."""
    if not isinstance(settings, dict):
        raise ConnectorError("datasource_invalid_settings", "settings must be an object")
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ConnectorError(
            "datasource_invalid_settings",
            f"unknown setting(s): {', '.join(unknown)}",
            details={"unknown": unknown},
        )


def setting_str(settings: dict[str, Any], key: str, *, default: str | None = None) -> str:
    """A non-empty string setting; without ``default`` it is required."""
    value = settings.get(key)
    if value is None or value == "":
        if default is None:
            raise ConnectorError("datasource_invalid_settings", f"the setting {key!r} is required")
        return default
    if not isinstance(value, str) or "\x00" in value or len(value) > 1024:
        raise ConnectorError("datasource_invalid_settings", f"the setting {key!r} must be a string")
    return value.strip()


def setting_port(settings: dict[str, Any], default: int) -> int:
    value = settings.get("port")
    if value is None or value == "":
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConnectorError("datasource_invalid_settings", "the port must be a number from 1 to 65535")
    return value


def setting_str_list(settings: dict[str, Any], key: str, *, limit: int = 1000) -> list[str] | None:
    """An optional list of non-empty strings, duplicates dropped, order kept."""
    value = settings.get(key)
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not value or len(value) > limit:
        raise ConnectorError(
            "datasource_invalid_settings", f"the setting {key!r} must be a list of 1 to {limit} strings"
        )
    items: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip() or "\x00" in item:
            raise ConnectorError("datasource_invalid_settings", f"the setting {key!r} must hold non-empty strings")
        if item.strip() not in items:
            items.append(item.strip())
    return items


def secret_str(secrets: dict[str, Any], key: str) -> str:
    """A secret as a string ("" when absent); its value never reaches an error message."""
    value = secrets.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConnectorError("datasource_invalid_settings", f"the secret {key!r} must be a string")
    return value
