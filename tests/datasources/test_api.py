"""The data sources API: who may do what, secrets that never come back, and clear errors."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client

from datasources.models import DataSource

pytestmark = pytest.mark.django_db

PERSONAS = ["anonymous", "bob", "vic", "ana", "adam", "alice"]


def _user(tenancy, persona):
    return None if persona == "anonymous" else getattr(tenancy, persona)


MATRIX = {
    # anonymous, other organisation, viewer, analyst, admin, owner
    "list": [401, 200, 200, 200, 200, 200],
    "create": [401, 404, 403, 403, 201, 201],
    "retrieve": [401, 404, 200, 200, 200, 200],
    "update": [401, 404, 403, 403, 200, 200],
    "test": [401, 404, 403, 403, 200, 200],
    "tables": [401, 404, 200, 200, 200, 200],
    "search": [401, 404, 200, 200, 200, 200],
    "delete": [401, 404, 403, 403, 204, 204],
}


def _call(api, tenancy, source, endpoint, demo_files):
    base = f"/api/v1/datasources/{source.pk}"
    if endpoint == "list":
        return api.get("/api/v1/datasources/")
    if endpoint == "create":
        return api.post(
            "/api/v1/datasources/",
            {"workspace_id": str(tenancy.acme.pk), "name": "Another", "kind": "sqlite",
             "settings": demo_files["sqlite"].settings, "refresh": False},
            format="json",
        )  # fmt: skip
    if endpoint == "retrieve":
        return api.get(f"{base}/")
    if endpoint == "update":
        return api.patch(f"{base}/", {"description": "The export"}, format="json")
    if endpoint == "test":
        return api.post(f"{base}/test")
    if endpoint == "tables":
        return api.get(f"{base}/tables/")
    if endpoint == "search":
        return api.get("/api/v1/catalog/search", {"q": "invoices", "workspace_id": str(tenancy.acme.pk)})
    if endpoint == "delete":
        return api.delete(f"{base}/")
    raise AssertionError(endpoint)


@pytest.mark.parametrize("endpoint", list(MATRIX))
@pytest.mark.parametrize("persona", PERSONAS)
def test_permission_matrix(tenancy, client_for, sqlite_source, demo_files, endpoint, persona):
    response = _call(client_for(_user(tenancy, persona)), tenancy, sqlite_source, endpoint, demo_files)
    assert response.status_code == MATRIX[endpoint][PERSONAS.index(persona)], response.content
    if persona == "bob" and endpoint in ("list", "search"):
        assert sqlite_source.name not in response.content.decode()


def test_tables_list_columns_keys_and_types(tenancy, client_for, sqlite_source):
    body = client_for(tenancy.ana).get(f"/api/v1/datasources/{sqlite_source.pk}/tables/?limit=100").json()
    tables = {t["name"]: t for t in body["results"]}
    lines = tables["billing_invoice_lines"]
    columns = {c["name"]: c for c in lines["columns"]}
    assert columns["id"]["is_primary_key"]
    assert columns["invoice_id"]["references"].endswith("billing_invoices.id")
    assert lines["row_estimate"] and lines["row_estimate"] > 0


def test_catalog_search_finds_demo_tables_with_word_parts(tenancy, client_for, sqlite_source):
    response = client_for(tenancy.ana).get(
        "/api/v1/catalog/search", {"q": "cust tickets", "workspace_id": str(tenancy.acme.pk), "limit": 3}
    )
    names = [m["name"] for m in response.json()]
    assert "crm_support_tickets" in names and "billing_customers" in names


def test_a_password_is_encrypted_at_rest_and_never_returned(tenancy, client_for, postgres_settings):
    api = client_for(tenancy.alice)
    response = api.post(
        "/api/v1/datasources/",
        {"workspace_id": str(tenancy.acme.pk), "name": "Warehouse", "kind": "postgresql", "refresh": False,
         **postgres_settings},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    password = postgres_settings["secrets"]["password"]
    for body in (response.content, api.get(f"/api/v1/datasources/{response.json()['id']}/").content,
                 api.get("/api/v1/datasources/").content):  # fmt: skip
        assert password.encode() not in body
    assert response.json()["has_secrets"] is True
    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM datasources_datasource WHERE id = %s", [response.json()["id"]])
        (stored,) = cursor.fetchone()
    assert password not in stored and stored.startswith("gAAAA")  # a Fernet token
    assert DataSource.objects.get(pk=response.json()["id"]).secrets == {"password": password}


def test_the_admin_never_shows_a_stored_password(tenancy, postgres_settings):
    from datasources.services import datasource_create
    from tests.factories import make_user

    source = datasource_create(workspace=tenancy.acme, name="Warehouse", kind="postgresql", **postgres_settings)
    client = Client()
    client.force_login(make_user("root", staff=True))
    page = client.get(f"/admin/datasources/datasource/{source.pk}/change/")
    assert page.status_code == 200
    assert postgres_settings["secrets"]["password"].encode() not in page.content


@pytest.mark.parametrize(
    ("settings", "code"),
    [
        ({"host": "169.254.169.254", "port": 5432, "database": "x", "user": "u"}, "datasource_forbidden_host"),
        ({"host": "metadata.google.internal", "port": 5432, "database": "x", "user": "u"}, "datasource_forbidden_host"),
        ({"host": "", "port": 5432, "database": "x", "user": "u"}, "datasource_invalid_settings"),
        ({"host": "db.example.com", "port": 99999, "database": "x", "user": "u"}, "datasource_invalid_settings"),
    ],
)
def test_forbidden_or_malformed_settings_are_refused_and_nothing_is_saved(tenancy, client_for, settings, code):
    response = client_for(tenancy.alice).post(
        "/api/v1/datasources/",
        {"workspace_id": str(tenancy.acme.pk), "name": "Bad", "kind": "postgresql", "settings": settings},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    assert not DataSource.objects.filter(name="Bad").exists()


def test_loopback_is_refused_when_the_deployment_does_not_allow_private_hosts(tenancy, client_for, settings):
    settings.DATASOURCE_ALLOW_PRIVATE_HOSTS = False
    response = client_for(tenancy.alice).post(
        "/api/v1/datasources/",
        {"workspace_id": str(tenancy.acme.pk), "name": "Local", "kind": "postgresql",
         "settings": {"host": "localhost", "port": 5432, "database": "x", "user": "u"}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "datasource_forbidden_host"


def test_a_file_outside_the_roots_is_refused(tenancy, client_for):
    response = client_for(tenancy.alice).post(
        "/api/v1/datasources/",
        {"workspace_id": str(tenancy.acme.pk), "name": "Passwords", "kind": "sqlite",
         "settings": {"path": "/etc/passwd"}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "datasource_path_forbidden"
    assert not DataSource.objects.filter(name="Passwords").exists()


def test_an_unreachable_server_is_a_502_with_a_clear_code(tenancy, client_for):
    api = client_for(tenancy.alice)
    created = api.post(
        "/api/v1/datasources/",
        {"workspace_id": str(tenancy.acme.pk), "name": "Down", "kind": "postgresql", "refresh": False,
         "settings": {"host": "127.0.0.1", "port": 1, "database": "x", "user": "u"}},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201
    response = api.post(f"/api/v1/datasources/{created.json()['id']}/test")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "datasource_unreachable"
    assert DataSource.objects.get(pk=created.json()["id"]).error_code == "datasource_unreachable"


def test_a_wrong_password_is_a_422_auth_failed(tenancy, client_for, postgres_settings):
    api = client_for(tenancy.alice)
    created = api.post(
        "/api/v1/datasources/",
        {"workspace_id": str(tenancy.acme.pk), "name": "Wrong", "kind": "postgresql", "refresh": False,
         "settings": postgres_settings["settings"], "secrets": {"password": "not-the-password"}},
        format="json",
    )  # fmt: skip
    response = api.post(f"/api/v1/datasources/{created.json()['id']}/test")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "datasource_auth_failed"
    assert "not-the-password" not in response.content.decode()


def test_test_connection_reports_the_server_version(tenancy, client_for, postgres_settings):
    api = client_for(tenancy.alice)
    created = api.post(
        "/api/v1/datasources/",
        {"workspace_id": str(tenancy.acme.pk), "name": "Warehouse", "kind": "postgresql", "refresh": False,
         **postgres_settings},
        format="json",
    )  # fmt: skip
    response = api.post(f"/api/v1/datasources/{created.json()['id']}/test")
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert "PostgreSQL" in response.json()["server_version"]


def test_a_duplicate_name_is_a_validation_error(tenancy, client_for, sqlite_source, demo_files):
    response = client_for(tenancy.alice).post(
        "/api/v1/datasources/",
        {"workspace_id": str(tenancy.acme.pk), "name": sqlite_source.name, "kind": "sqlite",
         "settings": demo_files["sqlite"].settings},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    assert "name" in response.json()["error"]["details"]


def test_secrets_are_refused_inside_settings(tenancy, client_for):
    response = client_for(tenancy.alice).post(
        "/api/v1/datasources/",
        {"workspace_id": str(tenancy.acme.pk), "name": "Leaky", "kind": "postgresql",
         "settings": {"host": "db.example.com", "database": "x", "user": "u", "password": "oops"}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.django_db(transaction=True)
def test_refresh_runs_as_a_celery_task_and_the_catalog_follows(celery_worker, demo_files):
    from tests.conftest import wait_for
    from tests.factories import make_member, make_organization, make_workspace

    workspace = make_workspace(organization=make_organization("Initech", "initech"), name="Data")
    owner = make_member(workspace, "olivia", "owner").user
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(owner)
    created = api.post(
        "/api/v1/datasources/",
        {"workspace_id": str(workspace.pk), "name": "Lake", "kind": "files", "settings": demo_files["files"].settings},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["status"] == "introspecting"
    url = f"/api/v1/datasources/{created.json()['id']}/"
    body = wait_for(lambda: (b := api.get(url).json())["status"] == "ready" and b, timeout=60, what="introspection")
    assert body["introspection_progress"] == 100
    assert body["server_version"].startswith("DuckDB")
    tables = api.get(url + "tables/?limit=100").json()
    assert "web_events" in {t["name"] for t in tables["results"]}
    again = api.post(url.rstrip("/") + "/refresh")
    assert again.status_code == 202
    wait_for(lambda: api.get(url).json()["status"] == "ready", timeout=60, what="second introspection")


def test_an_unexpected_introspection_failure_is_recorded_not_left_running(tenancy, sqlite_source, monkeypatch):
    from datasources import services
    from datasources.connectors.sqlite import SQLiteConnector

    def broken(self, *, progress=None):
        raise RuntimeError("driver bug")

    # Stands in for a driver failing in a way no ConnectorError foresaw.
    monkeypatch.setattr(SQLiteConnector, "introspect", broken)
    with pytest.raises(RuntimeError):
        services.datasource_introspect(datasource_id=sqlite_source.pk)
    sqlite_source.refresh_from_db()
    assert (sqlite_source.status, sqlite_source.error_code) == ("error", "introspection_failed")
