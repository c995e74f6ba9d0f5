"""CSV, Parquet and JSON files queried with DuckDB: a folder (or one file, or a few URLs) is a
schema, each file or sub-folder a table.

Every statement runs on a fresh in-memory DuckDB whose configuration is locked before any user
SQL reaches it: external access is off except for the source's own files (``allowed_paths``) and a
private spill folder, extensions cannot be installed or loaded, and only a single SELECT is
accepted. Files are never written.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

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
    setting_str,
    setting_str_list,
    visibility_of,
)
from datasources.connectors.guards import check_url, confine_path, fetch_url, url_file_name

FORMATS = ("csv", "parquet", "json")
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}
_COMPRESSIONS = (".gz", ".zst")
# DuckDB reads these characters in a path as a glob pattern; a file named so could match others.
_GLOB_CHARACTERS = frozenset("*?[]{}")
MAX_FILES = 10_000
MAX_URLS = 100
# Exact row counts of CSV and JSON tables are taken only below this total size.
_COUNT_MAX_BYTES = 50 * 1024 * 1024
_FETCH_CHUNK_ROWS = 2048


@dataclass(frozen=True)
class FileTable:
    name: str
    format: str
    paths: tuple[Path, ...]


@dataclass
class _Scan:
    """The tables of a source, and what was found beside them and left out (for visibility())."""

    tables: list[FileTable] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # data files or sub-folders the server may not read
    outside: list[str] = field(default_factory=list)  # links leading outside the roots, names read as globs
    mixed: list[str] = field(default_factory=list)  # sub-folders of more than one format
    other: list[str] = field(default_factory=list)  # files (and sub-folders) of no known format


def _left_out_reasons(root: Path, scan: _Scan) -> list[tuple[str, str]]:
    """Why the data files that are there were left out, for a person."""
    reasons: list[tuple[str, str]] = []
    if scan.unreadable and root.is_file():
        message = (
            f"The server may not read the file {root.name!r} (file permissions): let the account it runs as read it."
        )
        reasons.append(("no_tables_visible", message))
    elif scan.unreadable:
        them = "it" if len(scan.unreadable) == 1 else "them"
        message = (
            f"The server may not read {name_list(scan.unreadable)} in the folder {root.name!r} (file permissions): "
            f"let the account it runs as read {them}."
        )
        reasons.append(("no_tables_visible", message))
    if scan.outside:
        one = len(scan.outside) == 1
        message = (
            f"{name_list(scan.outside)} in the folder {root.name!r} {'is' if one else 'are'} left out: "
            f"{'it leads' if one else 'they lead'} outside the allowed folders (a symbolic link) or "
            f"{'has' if one else 'have'} * ? [ ] {{ }} in the name."
        )
        reasons.append(("no_tables_visible", message))
    if scan.mixed:
        one = len(scan.mixed) == 1
        message = (
            f"The sub-folder{'' if one else 's'} {name_list(scan.mixed)} {'mixes' if one else 'mix'} formats, so "
            f"{'it is' if one else 'they are'} not read as a table: keep one format per sub-folder."
        )
        reasons.append(("empty_schema", message))
    return reasons


def _nothing_to_read(folder: str, other: Sequence[str], forced: str | None) -> str:
    if forced:
        return f"The folder {folder!r} holds no files to read as {forced} (names starting with . or _ are left out)."
    message = (
        f"The folder {folder!r} holds no CSV, Parquet or JSON files (.csv, .tsv, .parquet, .json, .jsonl, .ndjson, "
        "also compressed as .gz or .zst)."
    )
    if other:
        message += (
            f" It holds {name_list(other)}: to read files of another extension, set the format setting (csv, "
            "parquet or json)."
        )
    return message


def table_name(stem: str) -> str:
    """A lower_snake identifier for a file or folder name: "Sales 2024 (EU)" -> "sales_2024_eu"."""
    name = re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_")
    if not name:
        name = "table"
    if name[0].isdigit():
        name = "t_" + name
    return name[:63]


def _strip_compression(name: str) -> str:
    lowered = name.lower()
    for suffix in _COMPRESSIONS:
        if lowered.endswith(suffix):
            return name[: -len(suffix)]
    return name


def format_of(name: str, forced: str | None = None) -> str | None:
    """The format of a file name, or the forced one for any file name."""
    if forced:
        return forced
    return _EXTENSIONS.get(os.path.splitext(_strip_compression(name).lower())[1])


def _stem(name: str) -> str:
    return os.path.splitext(_strip_compression(name))[0]


def _hidden(name: str) -> bool:
    # "_SUCCESS", ".DS_Store", "_delta_log": markers written next to data files by other tools.
    return name.startswith((".", "_"))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _reader_sql(table: FileTable) -> str:
    files = "[" + ", ".join(_literal(str(path)) for path in table.paths) + "]"
    if table.format == "parquet":
        return f"read_parquet({files}, union_by_name = true)"
    if table.format == "json":
        return f"read_json_auto({files}, union_by_name = true)"
    return f"read_csv({files}, auto_detect = true, union_by_name = true)"


def _unique_names(tables: list[FileTable]) -> list[FileTable]:
    """ "sales.csv" and "sales.parquet" side by side become "sales" and "sales_2"."""
    seen: set[str] = set()
    unique: list[FileTable] = []
    for table in tables:
        name, counter = table.name, 2
        while name in seen:
            name = f"{table.name}_{counter}"
            counter += 1
        seen.add(name)
        unique.append(FileTable(name=name, format=table.format, paths=table.paths))
    return unique


class FilesConnector(Connector):
    kind = "files"
    dialect = "duckdb"
    supports_writes = False

    def __init__(self, config: ConnectionConfig, policy: GuardPolicy) -> None:
        super().__init__(config, policy)
        self._lock = threading.Lock()
        self._cancelled = False
        self._stopped_for = ""  # "timeout" when the timer interrupted the statement
        self._active: duckdb.DuckDBPyConnection | None = None
        self._downloads: dict[str, Path] = {}  # one download per URL for this connector's life

    @classmethod
    def validate_settings(cls, settings: dict[str, Any], policy: GuardPolicy) -> dict[str, Any]:
        check_known_settings(settings, ("path", "urls", "format"))
        has_path, has_urls = settings.get("path") not in (None, ""), settings.get("urls") is not None
        if has_path == has_urls:
            raise ConnectorError("datasource_invalid_settings", "give either a path or a list of URLs")
        normalised: dict[str, Any] = {}
        forced = settings.get("format")
        if forced not in (None, ""):
            forced = setting_str(settings, "format").lower()
            if forced not in FORMATS:
                raise ConnectorError("datasource_invalid_settings", f"format must be one of {', '.join(FORMATS)}")
            normalised["format"] = forced
        else:
            forced = None
        if has_path:
            path = confine_path(setting_str(settings, "path"), policy)
            if any(char in _GLOB_CHARACTERS for char in str(path)):
                raise ConnectorError("datasource_invalid_settings", "the path may not contain * ? [ ] { }")
            normalised["path"] = str(path)
            return normalised
        urls = setting_str_list(settings, "urls", limit=MAX_URLS) or []
        for url in urls:
            check_url(url, policy)
            if format_of(url_file_name(url), forced) is None:
                raise ConnectorError(
                    "datasource_invalid_settings",
                    f"cannot tell the format of {url_file_name(url) or url}: set format (csv, parquet or json)",
                )
        normalised["urls"] = urls
        return normalised

    # --- tables ---

    def tables(self) -> list[FileTable]:
        """The tables of this source; downloads URLs on first use."""
        return self._scan().tables

    def _scan(self) -> _Scan:
        settings = self.validate_settings(self.config.settings, self.policy)
        forced: str | None = settings.get("format")
        if "urls" in settings:
            found: list[FileTable] = []
            for url in settings["urls"]:
                if url not in self._downloads:
                    self._downloads[url] = fetch_url(url, self.policy)
                name = url_file_name(url)
                found.append(
                    FileTable(table_name(_stem(name)), format_of(name, forced) or "csv", (self._downloads[url],))
                )
            return _Scan(tables=_unique_names(found))
        root = Path(settings["path"])
        if root.is_file():
            fmt = format_of(root.name, forced)
            if fmt is None:
                raise ConnectorError(
                    "datasource_invalid_settings",
                    f"cannot tell the format of {root.name}: set format (csv, parquet or json)",
                )
            if not os.access(root, os.R_OK):
                return _Scan(unreadable=[root.name])
            return _Scan(tables=[FileTable(table_name(_stem(root.name)), fmt, (root,))])
        if not root.is_dir():
            raise ConnectorError("datasource_not_found", f"there is no file or folder at {root}")
        scan = self._discover(root, forced)
        scan.tables = _unique_names(scan.tables)
        return scan

    def _confined(self, path: Path) -> tuple[Path | None, str]:
        """The real path of a file found in the folder, or None and why it is left out: "outside"
        (a symlink leading outside the roots, or a name that would read as a glob pattern),
        "unreadable" (file permissions), "" (not a file: a broken link, a socket)."""
        try:
            real = confine_path(str(path), self.policy)
        except ConnectorError:
            return None, "outside"
        if any(char in _GLOB_CHARACTERS for char in str(real)):
            return None, "outside"
        if not real.is_file():
            return None, ""
        if not os.access(real, os.R_OK):
            return None, "unreadable"
        return real, ""

    def _discover(self, folder: Path, forced: str | None) -> _Scan:
        scan = _Scan()
        counted = 0
        try:
            entries = sorted(folder.iterdir())
        except OSError as exc:
            raise ConnectorError("datasource_unreachable", f"cannot list {folder}: {exc.strerror}") from exc
        for entry in entries:
            if _hidden(entry.name):
                continue
            if entry.is_file():
                fmt = format_of(entry.name, forced)
                if fmt is None:
                    scan.other.append(entry.name)
                    continue
                real, left_out = self._confined(entry)
                if real is not None:
                    scan.tables.append(FileTable(table_name(_stem(entry.name)), fmt, (real,)))
                    counted += 1
                elif left_out:
                    (scan.outside if left_out == "outside" else scan.unreadable).append(entry.name)
            elif entry.is_dir():
                files, unreadable = self._folder_files(entry, forced)
                counted += len(files)
                formats = {fmt for fmt, _path in files}
                if unreadable:
                    # Without some of its parts the table would be wrong, not smaller: it is left out.
                    scan.unreadable.append(f"{entry.name}/")
                elif len(formats) == 1:
                    scan.tables.append(FileTable(table_name(entry.name), formats.pop(), tuple(p for _f, p in files)))
                elif formats:
                    scan.mixed.append(entry.name)  # a folder of mixed formats is not one table
                else:
                    scan.other.append(f"{entry.name}/")
            if counted > MAX_FILES:
                raise ConnectorError("datasource_invalid_settings", f"the folder holds more than {MAX_FILES} files")
        return scan

    def _folder_files(self, folder: Path, forced: str | None) -> tuple[list[tuple[str, Path]], bool]:
        """The data files under a sub-folder, and whether some could not be read (a file, or a
        folder that could not be listed)."""
        found: list[tuple[str, Path]] = []
        unreadable = False

        def cannot_list(_error: OSError) -> None:
            nonlocal unreadable
            unreadable = True

        # followlinks=False: a symlinked folder could loop or lead outside the roots.
        for directory, subdirectories, names in os.walk(folder, onerror=cannot_list, followlinks=False):
            subdirectories[:] = sorted(name for name in subdirectories if not _hidden(name))
            for name in sorted(names):
                fmt = format_of(name, forced)
                if _hidden(name) or fmt is None:
                    continue
                real, left_out = self._confined(Path(directory) / name)
                if real is not None:
                    found.append((fmt, real))
                unreadable = unreadable or left_out == "unreadable"
                if len(found) > MAX_FILES:
                    raise ConnectorError(
                        "datasource_invalid_settings", f"the folder {folder.name} holds more than {MAX_FILES} files"
                    )
        return found, unreadable

    # --- the engine ---

    def _open(self, tables: Sequence[FileTable], views: Sequence[FileTable]) -> tuple[duckdb.DuckDBPyConnection, Path]:
        """An in-memory DuckDB that can read the files of ``tables`` and nothing else, with a view
        for each table of ``views``. Returns it with its private spill folder."""
        spill = Path(tempfile.mkdtemp(prefix="prompt-studio-duckdb-"))
        try:
            conn = duckdb.connect(
                ":memory:", config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
            )
        except duckdb.Error as exc:
            shutil.rmtree(spill, ignore_errors=True)
            raise ConnectorError("query_failed", f"cannot start DuckDB: {exc}") from exc
        allowed = sorted({str(path) for table in tables for path in table.paths})
        try:
            # Order matters: the spill folder can only be set while external access is on, and
            # nothing can be changed once the configuration is locked.
            conn.execute(f"SET temp_directory = {_literal(str(spill))}")
            conn.execute(f"SET allowed_directories = [{_literal(str(spill) + os.sep)}]")
            conn.execute(f"SET allowed_paths = [{', '.join(_literal(path) for path in allowed)}]")
            conn.execute("SET enable_external_access = false")
            conn.execute("SET lock_configuration = true")
            for table in views:
                # Names are quoted identifiers and paths SQL string literals (see _reader_sql).
                conn.execute(f"CREATE VIEW {_identifier(table.name)} AS SELECT * FROM {_reader_sql(table)}")  # noqa: S608
        except duckdb.Error as exc:
            conn.close()
            shutil.rmtree(spill, ignore_errors=True)
            raise self._translate(exc, reading=f"the files of a table: {exc}") from exc
        return conn, spill

    @staticmethod
    def _close(conn: duckdb.DuckDBPyConnection, spill: Path) -> None:
        conn.close()
        shutil.rmtree(spill, ignore_errors=True)

    def _statement(self, conn: duckdb.DuckDBPyConnection, sql: str) -> None:
        """Exactly one SELECT: DuckDB's parser says what the statement is, so COPY ... TO, ATTACH,
        EXPORT, SET, PRAGMA or CREATE never run, however they are written."""
        try:
            statements = conn.extract_statements(sql)
        except duckdb.Error as exc:
            raise self._translate(exc) from exc
        if len(statements) != 1:
            raise ConnectorError("query_invalid", f"expected one statement, found {len(statements)}")
        if statements[0].type != duckdb.StatementType.SELECT:
            kind = str(statements[0].type).rsplit(".", 1)[-1]
            raise ConnectorError("query_not_read_only", f"files are read-only: a {kind} statement is not allowed")

    def _translate(self, exc: duckdb.Error, *, reading: str = "") -> ConnectorError:
        text = str(exc).strip()
        first_line = text.splitlines()[0] if text else type(exc).__name__
        if isinstance(exc, duckdb.InterruptException):
            if self._stopped_for == "timeout" and not self._cancelled:
                return ConnectorError("query_timeout", "the statement ran past its time limit")
            return ConnectorError("query_cancelled", "the statement was cancelled")
        if isinstance(exc, duckdb.PermissionException):
            return ConnectorError("datasource_path_forbidden", "the statement reads a file outside this data source")
        if isinstance(exc, duckdb.CatalogException):
            return ConnectorError("table_not_found", first_line)
        if isinstance(exc, duckdb.BinderException):
            if "not found" in first_line.lower() or "does not exist" in first_line.lower():
                return ConnectorError("table_not_found", first_line)
            return ConnectorError("query_invalid", first_line)
        if isinstance(exc, duckdb.ParserException | duckdb.SyntaxException):
            return ConnectorError("query_invalid", first_line)
        if isinstance(exc, duckdb.IOException):
            if "no files found" in text.lower() or "no such file" in text.lower():
                return ConnectorError("datasource_not_found", first_line)
            return ConnectorError("datasource_unreachable", first_line)
        return ConnectorError("query_failed", reading or first_line)

    def _referenced(self, tables: list[FileTable], sql: str) -> list[FileTable]:
        """The tables whose name appears in the SQL: creating a view makes DuckDB read the file's
        header (and sniff a CSV), so a query on one table of a big folder does not pay for all."""
        lowered = sql.lower()
        return [table for table in tables if re.search(rf"(?<![a-z0-9_]){re.escape(table.name)}(?![a-z0-9_])", lowered)]

    def _timer(self, conn: duckdb.DuckDBPyConnection, seconds: float) -> threading.Timer:
        def stop() -> None:
            with self._lock:
                if self._active is conn:
                    self._stopped_for = "timeout"
                    conn.interrupt()

        timer = threading.Timer(seconds, stop)
        timer.daemon = True
        return timer

    def _begin(self, conn: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            if self._cancelled:
                raise ConnectorError("query_cancelled", "the statement was cancelled")
            self._active = conn
            self._stopped_for = ""

    def _end(self) -> None:
        with self._lock:
            self._active = None

    # --- the interface ---

    def test(self) -> ConnectionInfo:
        started = time.monotonic()
        scan = self._scan()
        conn, spill = self._open(scan.tables, ())
        self._close(conn, spill)
        return ConnectionInfo(
            server_version=f"DuckDB {duckdb.__version__}",
            latency_ms=elapsed_ms(started),
            visibility=self._visibility_of(scan),
        )

    def visibility(self) -> Visibility:
        """From the folder's listing and file permissions; no file is opened. URLs are not fetched
        for it: each counts as a table (test() and introspect() fetch and read them)."""
        settings = self.validate_settings(self.config.settings, self.policy)
        if "urls" in settings:
            return visibility_of(len(settings["urls"]), None, [])
        return self._visibility_of(self._scan())

    def _visibility_of(self, scan: _Scan) -> Visibility:
        settings = self.validate_settings(self.config.settings, self.policy)
        if "urls" in settings:
            return visibility_of(len(scan.tables), None, [])
        root = Path(settings["path"])
        reasons = _left_out_reasons(root, scan)
        if not reasons:
            reasons.append(("empty_schema", _nothing_to_read(root.name, scan.other, settings.get("format"))))
        return visibility_of(len(scan.tables), len(scan.unreadable) + len(scan.outside), reasons)

    def introspect(self, *, progress: Callable[[int, int], None] | None = None) -> Introspection:
        scan = self._scan()
        tables = scan.tables
        conn, spill = self._open(tables, tables)
        introspected: list[IntrospectedTable] = []
        try:
            for done, table in enumerate(tables, start=1):
                described = conn.execute(f"DESCRIBE {_identifier(table.name)}").fetchall()
                introspected.append(
                    IntrospectedTable(
                        schema="main",
                        name=table.name,
                        kind="table",
                        row_estimate=self._row_estimate(conn, table),
                        comment="",
                        columns=tuple(
                            IntrospectedColumn(name=str(row[0]), ordinal=ordinal, data_type=str(row[1]), nullable=True)
                            for ordinal, row in enumerate(described, start=1)
                        ),
                    )
                )
                if progress is not None:
                    progress(done, len(tables))
        except duckdb.Error as exc:
            raise self._translate(exc) from exc
        finally:
            self._close(conn, spill)
        return Introspection(
            server_version=f"DuckDB {duckdb.__version__}",
            tables=tuple(introspected),
            visibility=None if tables else self._visibility_of(scan),
        )

    @staticmethod
    def _row_estimate(conn: duckdb.DuckDBPyConnection, table: FileTable) -> int | None:
        if table.format == "parquet":  # the footers hold the counts
            files = "[" + ", ".join(_literal(str(path)) for path in table.paths) + "]"
            row = conn.execute(f"SELECT sum(num_rows) FROM parquet_file_metadata({files})").fetchone()  # noqa: S608
            return int(row[0]) if row and row[0] is not None else None
        size = sum(path.stat().st_size for path in table.paths)
        if size > _COUNT_MAX_BYTES:
            return None
        row = conn.execute(f"SELECT count(*) FROM {_identifier(table.name)}").fetchone()  # noqa: S608
        return int(row[0]) if row else None

    def execute_read(self, sql: str, *, options: QueryOptions) -> QueryResult:
        started = time.monotonic()
        tables = self.tables()
        conn, spill = self._open(tables, self._referenced(tables, sql))
        timer = self._timer(conn, options.timeout_seconds)
        try:
            self._statement(conn, sql)
            self._begin(conn)
            timer.start()
            try:
                # execute() streams: rows are produced as they are fetched.
                conn.execute(sql)
                columns, types = _describe(conn)
                collected = collect_rows(_iter_rows(conn), options)
            finally:
                timer.cancel()
                self._end()
        except duckdb.Error as exc:
            raise self._translate(exc) from exc
        finally:
            self._close(conn, spill)
        return query_result(columns, types, collected, started=started)

    def execute_write(self, sql: str, *, options: QueryOptions, dry_run: bool = False) -> WriteResult:
        raise ConnectorError(
            "writes_not_supported", "files data sources are read-only: they take no INSERT, UPDATE, DELETE or DDL"
        )

    def stream(self, sql: str, *, options: QueryOptions, batch_rows: int = 10_000) -> StreamedResult:
        return _FilesStream(self, sql, options=options, batch_rows=batch_rows)

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._active is not None:
                self._active.interrupt()


def _describe(conn: duckdb.DuckDBPyConnection) -> tuple[list[str], list[str]]:
    description = conn.description or []
    return [str(column[0]) for column in description], [str(column[1]) for column in description]


def _iter_rows(conn: duckdb.DuckDBPyConnection) -> Iterator[Sequence[Any]]:
    while True:
        rows = conn.fetchmany(_FETCH_CHUNK_ROWS)
        if not rows:
            return
        yield from rows


class _FilesStream(StreamedResult):
    """DuckDB's streaming result read in batches; the time limit covers the whole stream."""

    def __init__(self, connector: FilesConnector, sql: str, *, options: QueryOptions, batch_rows: int) -> None:
        self._connector = connector
        self._batch_rows = max(1, batch_rows)
        tables = connector.tables()
        self._conn, self._spill = connector._open(tables, connector._referenced(tables, sql))
        self._timer = connector._timer(self._conn, options.timeout_seconds)
        try:
            connector._statement(self._conn, sql)
            connector._begin(self._conn)
            self._timer.start()
            self._conn.execute(sql)
        except duckdb.Error as exc:
            self.__exit__(None, None, None)
            raise connector._translate(exc) from exc
        except BaseException:
            self.__exit__(None, None, None)
            raise
        columns, types = _describe(self._conn)
        self.columns = tuple(columns)
        self.column_types = tuple(types)

    def batches(self) -> Iterator[Sequence[tuple[Any, ...]]]:
        while True:
            try:
                rows = self._conn.fetchmany(self._batch_rows)
            except duckdb.Error as exc:
                raise self._connector._translate(exc) from exc
            if not rows:
                return
            yield [json_row(row) for row in rows]

    def __exit__(self, *exc_info: Any) -> None:
        self._timer.cancel()
        self._connector._end()
        FilesConnector._close(self._conn, self._spill)
