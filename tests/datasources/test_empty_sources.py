"""A source that shows nothing says why: its status after a read, its connection test (API and add
form) and its page name the cause instead of a "ready" with 0 tables."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.test import Client

from datasources import services
from datasources.models import DataSource

pytestmark = pytest.mark.django_db


def client_as(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def empty_sqlite(tenancy: Any, files_root: Path) -> DataSource:
    path = files_root / f"empty-{uuid.uuid4().hex[:8]}.sqlite"
    sqlite3.connect(path).close()
    return services.datasource_create(workspace=tenancy.acme, name="Empty file", kind="sqlite",
                                      settings={"path": str(path)})  # fmt: skip


@pytest.fixture
def login_without_grants(tenancy: Any, postgres_settings: dict[str, Any], demo_files: Any) -> Iterator[DataSource]:
    """The demo warehouse, through a login that may connect but holds no privilege on its schemas."""
    db = settings.DATABASES["default"]
    role, password = f"psa_nobody_{os.getpid()}", uuid.uuid4().hex
    server: dict[str, Any] = {"host": db["HOST"], "port": db["PORT"], "user": db["USER"], "password": db["PASSWORD"]}
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f"DROP ROLE IF EXISTS {role}")
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        yield services.datasource_create(
            workspace=tenancy.acme, name="Warehouse as nobody", kind="postgresql",
            settings={**postgres_settings["settings"], "user": role, "schemas": ["billing", "crm"]},
            secrets={"password": password},
        )  # fmt: skip
    finally:
        from datasources.connectors.postgres import close_pools

        close_pools()
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            admin.execute(f"DROP ROLE IF EXISTS {role}")


def test_an_empty_file_is_read_as_nothing_to_read_with_the_cause(tenancy: Any, empty_sqlite: DataSource) -> None:
    services.datasource_introspect(datasource_id=empty_sqlite.pk)
    empty_sqlite.refresh_from_db()
    assert (empty_sqlite.status, empty_sqlite.error_code) == ("empty", "empty_schema")
    assert "holds no tables or views" in empty_sqlite.status_message

    page = client_as(tenancy.ana).get(f"/datasources/{empty_sqlite.pk}/").content.decode()
    assert "Nothing to read" in page and "holds no tables or views" in page


def test_a_login_that_may_read_nothing_is_told_which_grant_it_lacks(
    tenancy: Any, client_for: Any, login_without_grants: DataSource
) -> None:
    response = client_for(tenancy.alice).post(f"/api/v1/datasources/{login_without_grants.pk}/test")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True
    assert body["visibility"]["visible"] == 0 and body["visibility"]["code"] == "no_tables_visible"
    assert "no USAGE privilege" in body["visibility"]["message"]
    login_without_grants.refresh_from_db()
    assert login_without_grants.error_code == "no_tables_visible"

    services.datasource_introspect(datasource_id=login_without_grants.pk)
    login_without_grants.refresh_from_db()
    assert (login_without_grants.status, login_without_grants.error_code) == ("empty", "no_tables_visible")
    assert login_without_grants.catalog_table_count == 0


def test_a_readable_source_tests_with_its_table_count(tenancy: Any, client_for: Any, sqlite_source: DataSource) -> None:
    body = client_for(tenancy.alice).post(f"/api/v1/datasources/{sqlite_source.pk}/test").json()
    assert body["visibility"]["visible"] >= 13 and body["visibility"]["code"] == ""


def test_the_add_form_says_the_connection_works_but_shows_nothing(tenancy: Any, files_root: Path) -> None:
    path = files_root / f"empty-{uuid.uuid4().hex[:8]}.sqlite"
    sqlite3.connect(path).close()
    response = client_as(tenancy.alice).post("/datasources/new/test", {"kind": "sqlite", "path": str(path)},
                                             headers={"HX-Request": "true"})  # fmt: skip
    page = response.content.decode()
    assert "Nothing to read" in page and "this login sees no table to read" in page


def test_all_tables_hidden_by_policy_is_said_on_the_page_and_in_the_api(
    tenancy: Any, client_for: Any, sqlite_source: DataSource
) -> None:
    from datasources.models import CatalogTable
    from governance.models import TableVisibilityPolicy

    for table in CatalogTable.objects.filter(datasource=sqlite_source, is_present=True):
        TableVisibilityPolicy.objects.create(workspace=tenancy.acme, datasource=sqlite_source, name="Not for analysts",
                                             schema_name=table.schema_name, table_name=table.name,
                                             hidden_for_roles=["analyst"])  # fmt: skip
    page = client_as(tenancy.ana).get(f"/datasources/{sqlite_source.pk}/").content.decode()
    assert "are hidden from you by policy (Not for analysts)" in page
    body = client_for(tenancy.ana).get(f"/api/v1/datasources/{sqlite_source.pk}/tables/").json()
    assert body["results"] == [] and "hidden from you by policy" in body["notice"]
    owner = client_for(tenancy.alice).get(f"/api/v1/datasources/{sqlite_source.pk}/tables/").json()
    assert owner["notice"] == "" and owner["count"] >= 13
