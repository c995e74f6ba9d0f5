"""The files connector: CSV, Parquet and JSON under the file roots (or from URLs), read with DuckDB."""

from __future__ import annotations

import csv
import dataclasses
import http.server
import json
import os
import pwd
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datasources.connectors import (
    ConnectionConfig,
    ConnectorError,
    GuardPolicy,
    QueryOptions,
    Visibility,
    build_connector,
)
from datasources.connectors.files import FilesConnector, table_name
from tests.conftest import wait_for

SLOW = "SELECT sum(a.range * b.range) FROM range(1000000) a CROSS JOIN range(1000000) b"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A data folder: single files, a folder of parquet parts, a mixed folder and some noise."""
    root = tmp_path / "root"
    data = root / "shop"
    (data / "events").mkdir(parents=True)
    (data / "mixed").mkdir()
    with open(data / "Sales 2024.csv", "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "region", "amount"])
        writer.writerows([i, "EMEA" if i % 2 else "NA", f"{i * 1.5:.2f}"] for i in range(1, 51))
    pq.write_table(
        pa.table({"id": pa.array([1, 2, 3], pa.int32()), "name": ["Alice", "Bob", "Charlie"]}),
        data / "customers.parquet",
    )
    pq.write_table(
        pa.table({"event_id": list(range(0, 40)), "kind": ["view"] * 40}), data / "events" / "part-0.parquet"
    )
    pq.write_table(
        pa.table({"event_id": list(range(40, 60)), "kind": ["buy"] * 20}), data / "events" / "part-1.parquet"
    )
    (data / "events" / "_SUCCESS").write_text("")
    with open(data / "logs.jsonl", "w") as out:
        for i in range(5):
            out.write(json.dumps({"level": "info", "n": i}) + "\n")
    (data / "mixed" / "a.csv").write_text("x\n1\n")
    pq.write_table(pa.table({"x": [2]}), data / "mixed" / "b.parquet")
    (data / "notes.txt").write_text("not a table")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("password\nhunter2\n")
    (data / "escape.csv").symlink_to(outside / "secret.csv")  # must not become a table
    return data


@pytest.fixture
def policy(folder: Path, tmp_path: Path) -> GuardPolicy:
    return GuardPolicy(file_roots=(folder.parent,), download_dir=tmp_path / "downloads")


def files_connector(settings: dict[str, object], policy: GuardPolicy) -> FilesConnector:
    connector = build_connector(ConnectionConfig("files", settings), policy)
    assert isinstance(connector, FilesConnector)
    return connector


@pytest.fixture
def connector(folder: Path, policy: GuardPolicy) -> FilesConnector:
    return files_connector({"path": str(folder)}, policy)


def test_test_returns_the_duckdb_version(connector: FilesConnector) -> None:
    assert connector.test().server_version == f"DuckDB {duckdb.__version__}"


def test_table_names_are_lower_snake_identifiers() -> None:
    assert table_name("Sales 2024") == "sales_2024"
    assert table_name("2024-orders") == "t_2024_orders"
    assert table_name("...") == "table"


def test_each_file_and_each_single_format_folder_is_a_table(connector: FilesConnector) -> None:
    introspection = connector.introspect()

    tables = {table.name: table for table in introspection.tables}
    assert sorted(tables) == ["customers", "events", "logs", "sales_2024"]  # no mixed/, notes.txt, escape.csv
    assert {(table.schema, table.kind, table.comment) for table in tables.values()} == {("main", "table", "")}
    assert [(c.name, c.data_type, c.nullable, c.ordinal) for c in tables["customers"].columns] == [
        ("id", "INTEGER", True, 1),
        ("name", "VARCHAR", True, 2),
    ]
    assert [(c.name, c.data_type) for c in tables["sales_2024"].columns] == [
        ("id", "BIGINT"),
        ("region", "VARCHAR"),
        ("amount", "DOUBLE"),
    ]
    assert {c.name for c in tables["logs"].columns} == {"level", "n"}
    assert tables["events"].row_estimate == 60  # from the parquet footers of both parts
    assert tables["customers"].row_estimate == 3
    assert tables["sales_2024"].row_estimate == 50
    assert tables["logs"].row_estimate == 5
    assert introspection.server_version == f"DuckDB {duckdb.__version__}"


def test_a_read_is_capped_at_max_rows_and_previews_preview_rows(connector: FilesConnector) -> None:
    result = connector.execute_read(
        "SELECT id, region, amount FROM sales_2024 ORDER BY id", options=QueryOptions(max_rows=20, preview_rows=3)
    )

    assert result.columns == ("id", "region", "amount")
    assert result.column_types == ("BIGINT", "VARCHAR", "DOUBLE")
    assert result.rows == ((1, "EMEA", 1.5), (2, "NA", 3.0), (3, "EMEA", 4.5))
    assert (result.rows_returned, result.truncated) == (20, True)

    parts = connector.execute_read(
        "SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY kind", options=QueryOptions()
    )
    assert (parts.rows, parts.truncated) == ((("buy", 20), ("view", 40)), False)

    joined = connector.execute_read(
        "SELECT c.name, sum(s.amount)::DECIMAL(10, 2) AS total FROM customers c JOIN sales_2024 s ON s.id = c.id "
        "GROUP BY c.name ORDER BY c.name",
        options=QueryOptions(),
    )
    assert joined.rows == (("Alice", "1.50"), ("Bob", "3.00"), ("Charlie", "4.50"))  # decimals as exact strings


@pytest.mark.parametrize(
    "sql",
    [
        "COPY sales_2024 TO 'copy.csv'",
        "COPY (SELECT 1) TO 'prompt-studio-copy.csv'",
        "ATTACH 'evil.db' AS evil",
        "CREATE TABLE evil AS SELECT 1",
        "INSERT INTO sales_2024 VALUES (1, 'x', 1)",
        "DROP VIEW sales_2024",
        "EXPORT DATABASE 'dump'",
        "SET enable_external_access = true",
        "INSTALL httpfs",
        "PRAGMA version",
    ],
)
def test_anything_but_a_select_is_refused(connector: FilesConnector, folder: Path, sql: str) -> None:
    before = sorted(path.name for path in folder.rglob("*"))

    with pytest.raises(ConnectorError) as caught:
        connector.execute_read(sql, options=QueryOptions())

    assert caught.value.code == "query_not_read_only"
    assert sorted(path.name for path in folder.rglob("*")) == before
    assert not Path("prompt-studio-copy.csv").exists()


def test_files_outside_the_source_cannot_be_read(connector: FilesConnector, tmp_path: Path) -> None:
    for sql in [
        "SELECT * FROM read_csv('/etc/passwd')",
        f"SELECT * FROM read_csv('{tmp_path / 'outside' / 'secret.csv'}')",
        f"SELECT * FROM read_text('{tmp_path / 'outside' / 'secret.csv'}')",
        "SELECT * FROM glob('/etc/*')",
    ]:
        with pytest.raises(ConnectorError) as caught:
            connector.execute_read(sql, options=QueryOptions())
        assert caught.value.code == "datasource_path_forbidden", sql


def test_several_statements_are_invalid(connector: FilesConnector) -> None:
    with pytest.raises(ConnectorError) as caught:
        connector.execute_read("SELECT 1; COPY sales_2024 TO 'x.csv'", options=QueryOptions())

    assert caught.value.code == "query_invalid"


def test_a_slow_statement_times_out(connector: FilesConnector) -> None:
    started = time.monotonic()
    with pytest.raises(ConnectorError) as caught:
        connector.execute_read(SLOW, options=QueryOptions(timeout_seconds=0.5))

    assert caught.value.code == "query_timeout"
    assert time.monotonic() - started < 10


def test_cancel_from_another_thread_stops_a_running_statement(connector: FilesConnector) -> None:
    errors: list[ConnectorError] = []

    def run() -> None:
        try:
            connector.execute_read(SLOW, options=QueryOptions(timeout_seconds=60))
        except ConnectorError as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    # White-box wait: an in-memory DuckDB has no process list; the connector marks its running one.
    wait_for(lambda: connector._active is not None, timeout=10, what="the statement starting")
    connector.cancel()
    thread.join(timeout=10)

    assert not thread.is_alive()
    assert [error.code for error in errors] == ["query_cancelled"]


def test_stream_yields_every_row_in_batches(connector: FilesConnector) -> None:
    with connector.stream("SELECT range AS n FROM range(25000)", options=QueryOptions(), batch_rows=10_000) as streamed:
        batches = [list(batch) for batch in streamed.batches()]

    assert streamed.columns == ("n",)
    assert [len(batch) for batch in batches] == [10_000, 10_000, 5_000]
    assert sum(row[0] for batch in batches for row in batch) == sum(range(25000))


def test_stream_is_read_only_too(connector: FilesConnector) -> None:
    with pytest.raises(ConnectorError) as caught:
        connector.stream("COPY sales_2024 TO 'copy.csv'", options=QueryOptions())

    assert caught.value.code == "query_not_read_only"


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("SELECT * FROM no_such_table", "table_not_found"),
        ("SELECT no_such_column FROM customers", "table_not_found"),
        ("SELEC 1", "query_invalid"),
    ],
)
def test_engine_errors_have_stable_codes(connector: FilesConnector, sql: str, code: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        connector.execute_read(sql, options=QueryOptions())

    assert caught.value.code == code


def test_files_are_never_written(connector: FilesConnector) -> None:
    with pytest.raises(ConnectorError) as caught:
        connector.execute_write("DELETE FROM customers", options=QueryOptions(), dry_run=True)

    assert caught.value.code == "writes_not_supported"


def test_a_single_file_is_one_table(folder: Path, policy: GuardPolicy) -> None:
    connector = files_connector({"path": str(folder / "customers.parquet")}, policy)

    result = connector.execute_read("SELECT name FROM customers ORDER BY id", options=QueryOptions())

    assert [table.name for table in connector.introspect().tables] == ["customers"]
    assert result.rows == (("Alice",), ("Bob",), ("Charlie",))


def test_settings_are_validated_without_reading_anything(folder: Path, policy: GuardPolicy, tmp_path: Path) -> None:
    assert FilesConnector.validate_settings({"path": "shop", "format": "CSV"}, policy) == {
        "path": str(folder.resolve()),
        "format": "csv",
    }
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "datasource_invalid_settings"),
        ({"path": str(folder), "urls": ["https://example.com/a.csv"]}, "datasource_invalid_settings"),
        ({"path": str(tmp_path / "outside")}, "datasource_path_forbidden"),
        ({"path": str(folder / "escape.csv")}, "datasource_path_forbidden"),
        ({"path": str(folder), "format": "xlsx"}, "datasource_invalid_settings"),
        ({"urls": ["file:///etc/passwd"]}, "datasource_invalid_settings"),
        ({"urls": ["http://169.254.169.254/latest/data.csv"]}, "datasource_forbidden_host"),
        ({"urls": ["http://127.0.0.1/data.csv"]}, "datasource_forbidden_host"),
    ]
    for settings, code in cases:
        with pytest.raises(ConnectorError) as caught:
            FilesConnector.validate_settings(settings, policy)
        assert caught.value.code == code, settings
    with pytest.raises(ConnectorError) as missing:
        files_connector({"path": str(folder / "gone")}, policy).test()
    assert missing.value.code == "datasource_not_found"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served_folder(folder: Path) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_urls_are_downloaded_and_read_as_tables(served_folder: str, tmp_path: Path) -> None:
    policy = GuardPolicy(allow_private=True, download_dir=tmp_path / "downloads")
    connector = files_connector(
        {"urls": [f"{served_folder}/customers.parquet", f"{served_folder}/events/part-1.parquet"]}, policy
    )

    result = connector.execute_read(
        "SELECT (SELECT count(*) FROM customers) AS customers, (SELECT count(*) FROM part_1) AS events",
        options=QueryOptions(),
    )

    assert result.rows == ((3, 20),)
    assert sorted(table.name for table in connector.introspect().tables) == ["customers", "part_1"]
    assert len(list((tmp_path / "downloads").iterdir())) == 2


def test_urls_of_a_private_server_are_refused_unless_allowed(served_folder: str, tmp_path: Path) -> None:
    connector = files_connector(
        {"urls": [f"{served_folder}/customers.parquet"]}, GuardPolicy(download_dir=tmp_path / "downloads")
    )

    with pytest.raises(ConnectorError) as caught:
        connector.test()

    assert caught.value.code == "datasource_forbidden_host"


# --- what the folder shows ---------------------------------------------------------------------


def assert_carried(connector: FilesConnector, expected: Visibility) -> None:
    """visibility(), test() and, where there are no tables, introspect() say the same."""
    assert connector.visibility() == expected
    assert connector.test().visibility == expected
    introspection = connector.introspect()
    if expected.visible:
        assert (len(introspection.tables), introspection.visibility) == (expected.visible, None)
    else:
        assert (introspection.tables, introspection.visibility) == ((), expected)


def test_a_folder_of_data_files_is_visible_and_counts_what_it_leaves_out(connector: FilesConnector) -> None:
    # The symlink leading outside the roots is a file the source may not read; the mixed folder and
    # notes.txt are not tables at all.
    assert_carried(connector, Visibility(visible=4, unreadable=1, code="", message=""))


def test_the_demo_parquet_folder_is_visible(demo_files: dict[str, Any]) -> None:
    demo = demo_files["files"]
    path = Path(demo.settings["path"])
    parquet = files_connector(demo.settings, GuardPolicy(file_roots=(path.parent,)))

    visibility = parquet.visibility()

    assert (visibility.code, visibility.message, visibility.unreadable) == ("", "", 0)
    assert visibility.visible == len(parquet.introspect().tables) > 0
    assert parquet.test().visibility == visibility


FORMATS_MESSAGE = (
    "The folder 'inbox' holds no CSV, Parquet or JSON files (.csv, .tsv, .parquet, .json, .jsonl, .ndjson, also "
    "compressed as .gz or .zst)."
)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, FORMATS_MESSAGE),
        ({"_SUCCESS": "", ".DS_Store": ""}, FORMATS_MESSAGE),  # markers of other tools say nothing
        (
            {"notes.txt": "not a table"},
            FORMATS_MESSAGE + " It holds 'notes.txt': to read files of another extension, set the format setting "
            "(csv, parquet or json).",
        ),
        (
            {"mixed/a.csv": "x\n1\n", "mixed/b.json": '{"x": 2}\n'},
            "The sub-folder 'mixed' mixes formats, so it is not read as a table: keep one format per sub-folder.",
        ),
    ],
)
def test_a_folder_without_data_files_is_an_empty_schema(
    folder: Path, policy: GuardPolicy, files: dict[str, str], message: str
) -> None:
    inbox = folder.parent / "inbox"
    inbox.mkdir()
    for name, text in files.items():
        (inbox / name).parent.mkdir(exist_ok=True)
        (inbox / name).write_text(text)

    assert_carried(
        files_connector({"path": str(inbox)}, policy),
        Visibility(visible=0, unreadable=0, code="empty_schema", message=message),
    )


def test_a_forced_format_says_no_file_is_there_to_read(folder: Path, policy: GuardPolicy) -> None:
    inbox = folder.parent / "inbox"
    inbox.mkdir()

    assert files_connector({"path": str(inbox), "format": "csv"}, policy).visibility() == Visibility(
        visible=0,
        unreadable=0,
        code="empty_schema",
        message="The folder 'inbox' holds no files to read as csv (names starting with . or _ are left out).",
    )


def test_a_folder_whose_only_file_leads_outside_the_roots_shows_no_table(
    folder: Path, policy: GuardPolicy, tmp_path: Path
) -> None:
    inbox = folder.parent / "inbox"
    inbox.mkdir()
    (inbox / "escape.csv").symlink_to(tmp_path / "outside" / "secret.csv")

    assert_carried(
        files_connector({"path": str(inbox)}, policy),
        Visibility(
            visible=0,
            unreadable=1,
            code="no_tables_visible",
            message="'escape.csv' in the folder 'inbox' is left out: it leads outside the allowed folders (a symbolic "
            "link) or has * ? [ ] { } in the name.",
        ),
    )


def test_urls_count_as_tables_without_being_fetched_for_visibility(served_folder: str, tmp_path: Path) -> None:
    policy = GuardPolicy(allow_private=True, download_dir=tmp_path / "downloads")
    connector = files_connector({"urls": [f"{served_folder}/customers.parquet"]}, policy)

    assert connector.visibility() == Visibility(visible=1, unreadable=None, code="", message="")
    assert not (tmp_path / "downloads").exists() or not list((tmp_path / "downloads").iterdir())
    assert connector.test().visibility == Visibility(visible=1, unreadable=None, code="", message="")


@pytest.fixture
def shared_root() -> Iterator[Path]:
    """A file root an unprivileged account can walk (pytest's tmp_path is private to root)."""
    root = Path(tempfile.mkdtemp(prefix="psa-visibility-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        for path in root.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(root)


def what_is_seen(settings: dict[str, Any], root: Path) -> dict[str, Any]:
    connector = files_connector(settings, GuardPolicy(file_roots=(root,)))
    introspection = connector.introspect()
    found = [connector.visibility(), connector.test().visibility, introspection.visibility]
    return {
        "visibility": [dataclasses.asdict(v) if v else None for v in found],
        "tables": [table.name for table in introspection.tables],
    }


def as_unprivileged(settings: dict[str, Any], root: Path) -> dict[str, Any]:
    """What the connector sees as an account that file permissions apply to: root reads every file,
    so as root the connector runs in a forked child that has become 'nobody'."""
    if os.geteuid() != 0:
        return what_is_seen(settings, root)
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("running as root and there is no 'nobody' account to read files as")
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover  (the child reports through the pipe, then leaves at once)
        status = 1
        try:
            os.close(read_end)
            os.setgid(nobody.pw_gid)
            os.setgroups([])
            os.setuid(nobody.pw_uid)
            with os.fdopen(write_end, "w") as out:
                out.write(json.dumps(what_is_seen(settings, root)))
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end) as report:
        text = report.read()
    _pid, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0, text
    return dict(json.loads(text))


@pytest.mark.parametrize(
    ("layout", "path", "expected", "tables"),
    [
        (
            {"secret.csv": 0o000},
            "inbox",
            Visibility(
                visible=0,
                unreadable=1,
                code="no_tables_visible",
                message="The server may not read 'secret.csv' in the folder 'inbox' (file permissions): let the "
                "account it runs as read it.",
            ),
            [],
        ),
        (
            {"secret.csv": 0o000},
            "inbox/secret.csv",
            Visibility(
                visible=0,
                unreadable=1,
                code="no_tables_visible",
                message="The server may not read the file 'secret.csv' (file permissions): let the account it runs "
                "as read it.",
            ),
            [],
        ),
        (
            # a readable file is still a table beside an unreadable one, and a folder missing a part is left out
            {"open.csv": 0o644, "secret.csv": 0o000, "events/part-0.csv": 0o644, "events/part-1.csv": 0o000},
            "inbox",
            Visibility(visible=1, unreadable=2, code="", message=""),
            ["open"],
        ),
    ],
)
def test_files_the_server_may_not_read_are_no_tables_visible(
    shared_root: Path, layout: dict[str, int], path: str, expected: Visibility, tables: list[str]
) -> None:
    inbox = shared_root / "inbox"
    inbox.mkdir(mode=0o755)
    for name, mode in layout.items():
        file = inbox / name
        file.parent.mkdir(mode=0o755, exist_ok=True)
        file.write_text("id\n1\n")
        file.chmod(mode)

    found = as_unprivileged({"path": str(shared_root / path)}, shared_root)

    assert found["visibility"] == [dataclasses.asdict(expected)] * 2 + [
        None if expected.visible else dataclasses.asdict(expected)
    ]
    assert found["tables"] == tables
