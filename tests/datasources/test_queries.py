"""Query execution: read-only, time-boxed, row-capped, cancellable, exported by streaming."""

from __future__ import annotations

import sqlite3
import threading

import pyarrow.parquet as pq
import pytest
from django.conf import settings

from datasources import queries, services
from datasources.catalog import catalog_apply
from datasources.connectors.base import ConnectorError
from datasources.models import DataSource
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def postgres_source(tenancy, demo_files, postgres_settings):
    return services.datasource_create(workspace=tenancy.acme, name="Warehouse", kind="postgresql", **postgres_settings)


@pytest.fixture
def files_source(tenancy, demo_files):
    return services.datasource_create(
        workspace=tenancy.acme, name="Lake", kind="files", settings=demo_files["files"].settings
    )


def sources(request):
    return [request.getfixturevalue(name) for name in ("postgres_source", "sqlite_source", "files_source")]


TABLE = {"postgresql": "billing.invoices", "sqlite": "billing_invoices", "files": "billing_invoices"}


@pytest.mark.parametrize("kind", ["postgresql", "sqlite", "files"])
def test_a_read_returns_a_preview_the_row_count_and_whether_it_was_capped(request, kind):
    source = next(s for s in sources(request) if s.kind == kind)
    result = queries.query_read(
        datasource=source, sql=f"SELECT id, total_amount FROM {TABLE[kind]} ORDER BY id", max_rows=500, preview_rows=5
    )
    assert result.columns == ("id", "total_amount")
    assert len(result.rows) == 5 and result.rows_returned == 500 and result.truncated
    small = queries.query_read(datasource=source, sql=f"SELECT count(*) AS n FROM {TABLE[kind]}")
    assert small.rows == ((20000,),) and not small.truncated


WRITES = {
    "postgresql": ["DELETE FROM billing.invoices", "UPDATE billing.customers SET email = 'x'",
                   "WITH d AS (DELETE FROM billing.payments RETURNING *) SELECT count(*) FROM d",
                   "CREATE TABLE billing.evil (id int)", "DROP TABLE billing.invoices CASCADE"],
    "sqlite": ["DELETE FROM billing_invoices", "UPDATE billing_customers SET email = 'x'",
               "CREATE TABLE evil (id int)", "DROP TABLE billing_invoices"],
    "files": ["CREATE TABLE evil AS SELECT 1", "COPY billing_invoices TO 'stolen.csv'", "DELETE FROM billing_invoices"],
}  # fmt: skip


@pytest.mark.parametrize("kind", ["postgresql", "sqlite", "files"])
def test_a_write_through_the_read_path_is_refused_by_the_engine_and_changes_nothing(request, kind):
    source = next(s for s in sources(request) if s.kind == kind)
    for sql in WRITES[kind]:
        with pytest.raises(ConnectorError) as refused:
            queries.query_read(datasource=source, sql=sql)
        assert refused.value.code in {"query_not_read_only", "query_invalid"}, (sql, refused.value.code)
    assert queries.query_read(datasource=source, sql=f"SELECT count(*) FROM {TABLE[kind]}").rows == ((20000,),)


def test_a_query_past_the_workspace_timeout_is_stopped(postgres_source):
    postgres_source.workspace.query_timeout_seconds = 1
    postgres_source.workspace.save(update_fields=["query_timeout_seconds"])
    with pytest.raises(ConnectorError) as stopped:
        queries.query_read(datasource=DataSource.objects.get(pk=postgres_source.pk), sql="SELECT pg_sleep(5)")
    assert stopped.value.code == "query_timeout"


@pytest.mark.django_db(transaction=True)  # the query runs on another thread, with its own connection
@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_a_running_query_is_cancelled_from_elsewhere(request, kind):
    source = next(s for s in sources(request) if s.kind == kind)
    slow = {
        "postgresql": "SELECT pg_sleep(20)",
        "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
    }[kind]
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            queries.query_read(datasource=source, sql=slow, query_id="q-cancel-me")
        except ConnectorError as exc:
            outcome["code"] = exc.code

    worker = threading.Thread(target=run)
    worker.start()

    # Ask until the running query has seen it (the watcher polls every 100 ms).
    def cancelled() -> bool:
        queries.query_cancel(query_id="q-cancel-me")
        return "code" in outcome

    wait_for(cancelled, timeout=15, what="cancel")
    worker.join(timeout=15)
    assert outcome["code"] == "query_cancelled"


def test_a_table_that_disappeared_since_introspection_is_a_clear_error(tenancy):
    from pathlib import Path

    folder = Path(settings.DATASOURCE_FILE_ROOTS[1])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "vanishing.sqlite"
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, amount REAL)")
    source = services.datasource_create(workspace=tenancy.acme, name="Vanishing", kind="sqlite",
                                        settings={"path": str(path)})  # fmt: skip
    catalog_apply(datasource=source, introspection=services.connector_for(source).introspect())
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE orders")
    with pytest.raises(ConnectorError) as missing:
        queries.query_read(datasource=source, sql="SELECT * FROM orders")
    assert missing.value.code == "table_not_found"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("kind", ["postgresql", "sqlite", "files"])
def test_the_full_result_is_exported_by_streaming(request, kind, fmt):
    source = next(s for s in sources(request) if s.kind == kind)
    table = {"postgresql": "web.events", "sqlite": "web_events", "files": "web_events"}[kind]
    exported = queries.query_export(datasource=source, sql=f"SELECT * FROM {table}", fmt=fmt, batch_rows=7_000)
    assert exported.rows == 100_000
    assert exported.path.is_relative_to(settings.RESULT_STORE_DIR)
    if fmt == "parquet":
        assert pq.ParquetFile(exported.path).metadata.num_rows == 100_000
    else:
        with open(exported.path) as handle:
            assert sum(1 for _ in handle) == 100_001  # header + rows
    exported.path.unlink()


def test_an_export_is_downloadable_by_its_author_and_nobody_outside(tenancy, client_for, sqlite_source):
    from datasources.models import DataSource as Source

    source = Source.objects.get(pk=sqlite_source.pk)
    export = queries.query_export_create(
        datasource=source, sql="SELECT id, name FROM billing_products ORDER BY id", fmt="csv", created_by=tenancy.ana
    )
    url = f"/api/v1/exports/{export.pk}/download"
    response = client_for(tenancy.ana).get(url, HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0] == "id,name" and len(body.splitlines()) == 41
    assert client_for(tenancy.ana).get(f"/api/v1/exports/{export.pk}/").json()["rows"] == 40


@pytest.mark.parametrize(("persona", "status"), [("anonymous", 401), ("bob", 404), ("vic", 404), ("adam", 200)])
def test_who_else_may_download_an_export(tenancy, api, sqlite_source, persona, status):
    export = queries.query_export_create(
        datasource=sqlite_source, sql="SELECT 1 AS one", fmt="parquet", created_by=tenancy.ana
    )
    if persona != "anonymous":
        api.force_authenticate(getattr(tenancy, persona))
    assert api.get(f"/api/v1/exports/{export.pk}/download").status_code == status


@pytest.mark.django_db(transaction=True)
def test_a_large_export_is_sent_in_blocks_by_the_asgi_server(tenancy, sqlite_source, tmp_path):
    """Under ASGI, Django's FileResponse reads the whole file into memory before sending (it warns
    "must consume synchronous iterators"); ours sends blocks from an async iterator."""
    import httpx
    from rest_framework_simplejwt.tokens import RefreshToken

    from tests.conftest import asgi_server

    export = queries.query_export_create(
        datasource=sqlite_source, sql="SELECT * FROM web_events", fmt="csv", created_by=tenancy.ana
    )
    token = str(RefreshToken.for_user(tenancy.ana).access_token)
    with asgi_server(tmp_path) as url:
        with httpx.stream("GET", f"{url}/api/v1/exports/{export.pk}/download",
                          headers={"Authorization": f"Bearer {token}"}, timeout=30) as response:  # fmt: skip
            assert response.status_code == 200
            assert int(response.headers["Content-Length"]) == export.bytes
            chunks = list(response.iter_raw())
    body = b"".join(chunks)
    assert len(body) == export.bytes and body.count(b"\n") == 100_001
    assert "must consume synchronous iterators" not in (tmp_path / "asgi.log").read_text()
