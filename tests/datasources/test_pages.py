"""The data sources pages: who sees and does what, adding a source (tested before it is saved),
refreshing with real progress, and a catalog that shows what the gateway lets each member see."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from datasources.models import DataSource, DataSourceStatus
from governance import services as governance_services
from governance.models import TableVisibilityPolicy
from tests.factories import make_member, make_workspace
from workspaces.models import Role

pytestmark = pytest.mark.django_db

PERSONAS = ["anonymous", "bob", "vic", "ana", "adam", "alice"]
HX = {"HX-Request": "true"}


def client_as(tenancy: Any, persona: str) -> Client:
    client = Client()
    if persona != "anonymous":
        client.force_login(getattr(tenancy, persona))
    return client


def _call(client: Client, source: DataSource, page: str) -> Any:
    if page == "list":
        return client.get("/datasources/")
    if page == "add":
        return client.get("/datasources/new/?kind=sqlite")
    if page == "add-test":
        return client.post("/datasources/new/test", {"kind": "sqlite", "path": source.settings["path"]}, headers=HX)
    if page == "detail":
        return client.get(f"/datasources/{source.pk}/")
    if page == "status":
        return client.get(f"/datasources/{source.pk}/status?view=row", headers=HX)
    if page == "refresh":
        return client.post(f"/datasources/{source.pk}/refresh", {"view": "row"}, headers=HX)
    raise AssertionError(page)


MATRIX = {
    # anonymous (to sign in), Bob (owner of another organisation: his own workspace), viewer, analyst, admin, owner
    "list": [302, 200, 200, 200, 200, 200],
    "add": [302, 200, 403, 403, 200, 200],
    "add-test": [302, 200, 403, 403, 200, 200],
    "detail": [302, 404, 200, 200, 200, 200],
    "status": [302, 404, 200, 200, 200, 200],
    "refresh": [302, 404, 403, 403, 200, 200],
}


@pytest.mark.parametrize("page", list(MATRIX))
@pytest.mark.parametrize("persona", PERSONAS)
def test_permission_matrix(tenancy, sqlite_source, page, persona):
    response = _call(client_as(tenancy, persona), sqlite_source, page)
    assert response.status_code == MATRIX[page][PERSONAS.index(persona)], response.content[:500]
    if response.status_code == 302:
        assert response["Location"].startswith("/accounts/login/")
    if persona == "bob" and page == "list":
        assert sqlite_source.name not in response.content.decode()


@pytest.mark.parametrize(("persona", "manages"), [("vic", False), ("ana", False), ("adam", True), ("alice", True)])
def test_only_those_who_manage_sources_see_add_and_refresh(tenancy, sqlite_source, persona, manages):
    page = client_as(tenancy, persona).get("/datasources/").content.decode()
    assert sqlite_source.name in page
    assert ("Add a data source" in page) is manages
    assert (f"/datasources/{sqlite_source.pk}/refresh" in page) is manages
    detail = client_as(tenancy, persona).get(f"/datasources/{sqlite_source.pk}/").content.decode()
    assert ("Refresh the catalog</button>" in detail) is manages


def test_the_list_shows_kind_status_last_refresh_and_table_count(tenancy, sqlite_source):
    page = client_as(tenancy, "vic").get("/datasources/").content.decode()
    row = re.search(rf'<tr id="ds-row-{sqlite_source.pk}".*?</tr>', page, re.S)
    assert row is not None
    assert "SQLite file" in row.group(0)
    assert "Ready" in row.group(0)
    assert "just now</time>" in row.group(0)
    assert f'<td class="num">{sqlite_source.catalog_table_count}</td>' in row.group(0)
    assert sqlite_source.catalog_table_count > 10


@pytest.mark.parametrize(("persona", "says"), [("vic", "Ask one of them"), ("alice", "Add one with its connection")])
def test_an_empty_workspace_says_what_to_do_first(tenancy, persona, says):
    page = client_as(tenancy, persona).get("/datasources/").content.decode()
    assert "No data sources yet" in page
    assert says in page


def test_a_source_of_another_of_my_workspaces_is_not_found_from_the_current_one(tenancy, demo_files):
    from datasources.services import datasource_create

    marketing = make_workspace(organization=tenancy.acme.organization, name="Marketing")
    alice = make_member(marketing, "alice", Role.OWNER).user
    source = datasource_create(workspace=marketing, name="Marketing SQLite", kind="sqlite",
                               settings=demo_files["sqlite"].settings)  # fmt: skip
    client = Client()
    client.force_login(alice)  # her current workspace is Acme's Analytics (first by name)
    assert client.get(f"/datasources/{source.pk}/").status_code == 404
    client.post("/workspace/switch", {"workspace_id": str(marketing.pk)})
    assert client.get(f"/datasources/{source.pk}/").status_code == 200


# --- adding a source ---------------------------------------------------------------------------


def test_each_kind_has_its_own_form_and_passwords_are_write_only_fields(tenancy):
    client = client_as(tenancy, "adam")
    postgres = client.get("/datasources/new/?kind=postgresql").content.decode()
    assert 'name="host"' in postgres and 'name="port"' in postgres and 'value="5432"' in postgres
    assert 'type="password"' in postgres and 'autocomplete="new-password"' in postgres
    assert 'value="3306"' in client.get("/datasources/new/?kind=mysql").content.decode()
    sqlite = client.get("/datasources/new/?kind=sqlite").content.decode()
    assert 'name="path"' in sqlite and 'name="host"' not in sqlite
    files = client.get("/datasources/new/?kind=files").content.decode()
    assert 'name="urls"' in files and 'name="format"' in files


def test_test_connection_says_it_works_and_saves_nothing(tenancy, demo_files):
    response = client_as(tenancy, "adam").post(
        "/datasources/new/test", {"kind": "sqlite", "path": demo_files["sqlite"].settings["path"]}, headers=HX
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Connection works" in body and "SQLite 3." in body
    assert "<html" not in body  # the fragment only, for htmx
    assert not DataSource.objects.exists()


@pytest.mark.parametrize(
    ("settings", "password", "says"),
    [
        ({"host": "127.0.0.1", "port": "1"}, "", "could not reach the data source"),
        ({}, "not-the-password", "refused the user name or password"),
        ({"database": "no_such_database"}, None, "no such database"),
        ({"host": "169.254.169.254"}, None, "does not allow data sources at that address"),
    ],
)
def test_a_failing_connection_is_said_plainly_and_saving_saves_nothing(
    tenancy, postgres_settings, settings, password, says
):
    password = postgres_settings["secrets"]["password"] if password is None else password
    fields = {"kind": "postgresql", "name": "Warehouse", "sslmode": "prefer", **postgres_settings["settings"],
              "password": password, **settings}  # fmt: skip
    client = client_as(tenancy, "alice")
    tested = client.post("/datasources/new/test", fields, headers=HX).content.decode()
    assert "Connection failed" in tested and says in tested
    assert "Traceback" not in tested
    saved = client.post("/datasources/new/", fields)
    assert saved.status_code == 200  # the form again, with the reason
    assert "Connection failed" in saved.content.decode() and says in saved.content.decode()
    assert not DataSource.objects.exists()
    if password:
        assert password not in tested and password not in saved.content.decode()


def test_without_javascript_test_connection_shows_the_whole_form_with_the_result(tenancy, demo_files):
    response = client_as(tenancy, "adam").post("/datasources/new/test", {"kind": "sqlite", "name": "Files",
                                                                          "path": "/etc/passwd"})  # fmt: skip
    body = response.content.decode()
    assert "<html" in body and 'name="name" value="Files"' in body
    assert "outside the folders this installation allows" in body
    assert not DataSource.objects.exists()


def test_missing_fields_are_marked_and_said(tenancy):
    response = client_as(tenancy, "adam").post("/datasources/new/test", {"kind": "postgresql"}, headers=HX)
    assert "Fill in the connection settings" in response.content.decode()
    assert "Host: This field is required." in response.content.decode()
    page = client_as(tenancy, "adam").post("/datasources/new/", {"kind": "postgresql"}).content.decode()
    assert 'aria-invalid="true"' in page
    assert not DataSource.objects.exists()


def test_adding_a_sqlite_source_saves_it_and_starts_reading_its_schema(tenancy, demo_files):
    response = client_as(tenancy, "adam").post(
        "/datasources/new/",
        {
            "kind": "sqlite",
            "name": "Shop",
            "description": "The shop's file",
            "path": demo_files["sqlite"].settings["path"],
        },
    )
    source = DataSource.objects.get(name="Shop")
    assert response.status_code == 302 and response["Location"] == f"/datasources/{source.pk}/"
    assert source.kind == "sqlite" and source.workspace == tenancy.acme and source.created_by == tenancy.adam
    assert source.status == DataSourceStatus.INTROSPECTING  # the refresh task is enqueued on commit
    # Its roles' permissions came with it: the analyst may browse it.
    assert client_as(tenancy, "ana").get(f"/datasources/{source.pk}/").status_code == 200


def test_adding_a_postgres_source_keeps_the_password_secret(tenancy, postgres_settings):
    password = postgres_settings["secrets"]["password"]
    client = client_as(tenancy, "alice")
    response = client.post(
        "/datasources/new/",
        {
            "kind": "postgresql",
            "name": "Warehouse",
            "sslmode": "prefer",
            "schemas": "billing, crm",
            **postgres_settings["settings"],
            "password": password,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    source = DataSource.objects.get(name="Warehouse")
    assert source.secrets == {"password": password}
    assert source.settings["schemas"] == ["billing", "crm"]
    for page in (f"/datasources/{source.pk}/", "/datasources/", "/datasources/new/?kind=postgresql",
                 f"/datasources/{source.pk}/status?view=panel"):  # fmt: skip
        body = client.get(page).content.decode()
        assert password not in body, page
    assert "Stored encrypted, never shown." in client.get(f"/datasources/{source.pk}/").content.decode()


def test_a_duplicate_name_is_said_on_the_name_field(tenancy, sqlite_source):
    response = client_as(tenancy, "adam").post(
        "/datasources/new/", {"kind": "sqlite", "name": sqlite_source.name, "path": sqlite_source.settings["path"]}
    )
    assert "already has a data source with this name" in response.content.decode()
    assert DataSource.objects.count() == 1


# --- refresh and its progress ------------------------------------------------------------------


def test_refresh_shows_progress_that_polls_until_done(tenancy, sqlite_source):
    client = client_as(tenancy, "adam")
    started = client.post(f"/datasources/{sqlite_source.pk}/refresh", {"view": "panel"}, headers=HX).content.decode()
    assert 'hx-trigger="every 1s"' in started and "<progress" in started and "Reading the schema" in started
    DataSource.objects.filter(pk=sqlite_source.pk).update(introspection_progress=42)
    polled = client.get(f"/datasources/{sqlite_source.pk}/status?view=panel&polling=1", headers=HX)
    assert 'value="42"' in polled.content.decode() and "42%" in polled.content.decode()
    assert "HX-Refresh" not in polled

    DataSource.objects.filter(pk=sqlite_source.pk).update(status=DataSourceStatus.READY, introspection_progress=100)
    done = client.get(f"/datasources/{sqlite_source.pk}/status?view=panel&polling=1", headers=HX)
    assert "every 1s" not in done.content.decode() and "Ready" in done.content.decode()
    assert done["HX-Refresh"] == "true"  # the catalog page reloads to show the new catalog


def test_a_second_refresh_while_one_runs_is_said_not_doubled(tenancy, sqlite_source):
    client = client_as(tenancy, "adam")
    client.post(f"/datasources/{sqlite_source.pk}/refresh", {"next": "/datasources/"})
    response = client.post(f"/datasources/{sqlite_source.pk}/refresh", {"next": "/datasources/"}, follow=True)
    assert "is already being read" in response.content.decode()


def test_a_failed_refresh_is_said_plainly(tenancy, sqlite_source):
    DataSource.objects.filter(pk=sqlite_source.pk).update(
        status=DataSourceStatus.ERROR, error_code="datasource_unreachable", status_message="cannot resolve nowhere"
    )
    page = client_as(tenancy, "vic").get(f"/datasources/{sqlite_source.pk}/").content.decode()
    assert "Prompt Studio could not reach the data source" in page
    assert "Details: cannot resolve nowhere" in page


# --- the catalog browser -----------------------------------------------------------------------


def _column_row(page: str, column: str) -> str:
    match = re.search(rf"<tr[^>]*>\s*<th scope=\"row\"><code>{column}</code>.*?</tr>", page, re.S)
    assert match is not None, column
    return match.group(0)


def test_the_catalog_shows_tables_columns_types_and_keys(tenancy, sqlite_source):
    page = client_as(tenancy, "vic").get(f"/datasources/{sqlite_source.pk}/?q=invoice_lines").content.decode()
    assert "billing_invoice_lines" in page
    assert "PK" in _column_row(page, "id")
    assert "FK" in _column_row(page, "invoice_id") and "billing_invoices.id" in _column_row(page, "invoice_id")
    assert "billing_customers" not in page  # filtered by name


def test_a_masked_column_is_marked_for_the_analyst_and_not_for_the_owner(tenancy, sqlite_source):
    governance_services.column_mask_policy_create(
        workspace=tenancy.acme,
        datasource=sqlite_source,
        schema_name="main",
        table_name="crm_contacts",
        column_name="email",
        strategy="partial",
    )  # owners and admins are exempt by default
    governance_services.column_mask_policy_create(
        workspace=tenancy.acme,
        datasource=sqlite_source,
        schema_name="main",
        table_name="crm_contacts",
        column_name="phone",
        strategy="hide",
    )
    url = f"/datasources/{sqlite_source.pk}/?q=crm_contacts"
    for_ana = client_as(tenancy, "ana").get(url).content.decode()
    assert "Masked for you: partial" in _column_row(for_ana, "email")
    assert "<code>phone</code>" not in for_ana  # hidden: not even its name
    assert "1 masked column" in for_ana

    for_alice = client_as(tenancy, "alice").get(url).content.decode()
    assert "Masked for you" not in _column_row(for_alice, "email")
    assert "<code>phone</code>" in for_alice


def test_a_hidden_table_is_absent_for_whom_it_is_hidden(tenancy, sqlite_source):
    TableVisibilityPolicy.objects.create(workspace=tenancy.acme, datasource=sqlite_source, name="No payments",
                                         schema_name="main", table_name="billing_payments",
                                         hidden_for_roles=["analyst"])  # fmt: skip
    assert "billing_payments" not in client_as(tenancy, "ana").get(f"/datasources/{sqlite_source.pk}/").content.decode()
    assert "billing_payments" in client_as(tenancy, "vic").get(f"/datasources/{sqlite_source.pk}/").content.decode()


def test_the_catalog_page_reads_a_bounded_number_of_queries(tenancy, sqlite_source, django_assert_max_num_queries):
    client = client_as(tenancy, "ana")
    client.get(f"/datasources/{sqlite_source.pk}/")  # warm the session and caches
    with django_assert_max_num_queries(20):
        client.get(f"/datasources/{sqlite_source.pk}/")
    with django_assert_max_num_queries(20):
        client.get("/datasources/")


def test_a_refresh_that_does_not_move_is_said_not_hidden(tenancy, sqlite_source):
    from datetime import timedelta

    from django.utils import timezone

    DataSource.objects.filter(pk=sqlite_source.pk).update(
        status=DataSourceStatus.INTROSPECTING,
        introspection_progress=30,
        updated_at=timezone.now() - timedelta(minutes=5),
    )
    page = client_as(tenancy, "vic").get("/datasources/").content.decode()
    assert "Still reading after 5" in page and "worker may be down" in page
