"""Join keys a schema does not declare: inferred at every catalog read on every connector, reviewed by
the owners of the source, kept across reads, and carried to the model like declared keys."""

from __future__ import annotations

import csv
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.core.cache import cache

from agent.context import table_to_context
from datasources import services
from datasources.catalog import catalog_search
from datasources.connectors.base import IntrospectedColumn, IntrospectedTable, Introspection
from datasources.keys import MIN_SCORE, infer_keys, type_family
from datasources.models import DataSource, InferredKey, InferredKeyState
from datasources.vocabulary import index_tokens, singular
from governance.audit import audit_verify
from governance.catalog import visible_catalog_search
from governance.models import AuditEvent
from workspaces.models import Membership

pytestmark = pytest.mark.django_db


# --- inference, on an introspection -------------------------------------------------------------


def col(name: str, data_type: str = "integer", *, pk: bool = False, fk: tuple[str, str, str] | None = None) -> Any:
    schema, table, column = fk or ("", "", "")
    return IntrospectedColumn(name=name, ordinal=1, data_type=data_type, nullable=not pk, is_primary_key=pk,
                              fk_schema=schema, fk_table=table, fk_column=column)  # fmt: skip


def tbl(name: str, *columns: Any, schema: str = "main") -> IntrospectedTable:
    return IntrospectedTable(schema=schema, name=name, kind="table", row_estimate=None, comment="", columns=columns)


def inferred(*tables: IntrospectedTable) -> dict[str, str]:
    found = infer_keys(Introspection(server_version="", tables=tables))
    assert all(key.score >= MIN_SCORE and key.evidence for key in found)
    return {f"{k.table}.{k.column}": f"{k.target_table}.{k.target_column}" for k in found}


def test_singular_uses_the_english_rules_and_keeps_words_that_only_look_plural() -> None:
    assert [singular(w) for w in ("courses", "categories", "addresses", "companies", "boxes", "invoices")] == [
        "course", "category", "address", "company", "box", "invoice",
    ]  # fmt: skip
    assert [singular(w) for w in ("status", "address", "analysis", "bus", "data", "news", "2024")] == [
        "status", "address", "analysis", "bus", "data", "news", "2024",
    ]  # fmt: skip
    assert index_tokens("invoice_lines") == ["invoice", "lines", "line"]  # its callers keep working


@pytest.mark.parametrize(
    ("data_type", "family"),
    [("integer", "integer"), ("bigint unsigned", "integer"), ("INT(11)", "integer"), ("BIGINT", "integer"),
     ("serial", "integer"), ("character varying(120)", "text"), ("VARCHAR", "text"), ("text", "text"),
     ("uuid", "uuid"), ("NUMBER(10)", "integer"), ("numeric(12, 0)", "integer"),
     ("numeric(10,2)", None), ("timestamp", None), ("", None), ("interval", None)],
)  # fmt: skip
def test_type_families(data_type: str, family: str | None) -> None:
    assert type_family(data_type) == family


def test_keys_follow_names_plurals_compounds_and_types() -> None:
    keys = inferred(
        tbl("customers", col("id", pk=True), col("name", "text")),
        tbl("orders", col("id", pk=True), col("customer_id"), col("paid")),
        tbl("orderItems", col("orderId", "bigint"), col("productid")),
        tbl("products", col("product_id", pk=True)),
        tbl("courses", col("course_id", "varchar(10)")),
        tbl("enrollments", col("courseid", "character varying(10)"), col("student_id", "uuid")),
        tbl("students", col("id", pk=True)),
    )
    assert keys == {
        "orders.customer_id": "customers.id",  # name and primary key
        "orderItems.orderId": "orders.id",  # camelCase, bigint to integer
        "orderItems.productid": "products.product_id",  # lower-cased camelCase, <table>_id key
        "enrollments.courseid": "courses.course_id",  # plural table, text to text
    }  # student_id is a uuid, students.id an integer: no key; "paid" is not a key


def test_no_key_is_inferred_where_one_is_declared_nor_where_two_tables_fit_equally() -> None:
    keys = inferred(
        tbl("customers", col("id", pk=True), schema="crm"),
        tbl("customers", col("id", pk=True), schema="billing"),
        tbl("accounts", col("id", pk=True), schema="main"),
        tbl("orders", col("customer_id"), col("account_id", fk=("main", "accounts", "id")), schema="main"),
        tbl("invoices", col("customer_id"), schema="billing"),
    )
    # main.orders.customer_id fits crm.customers and billing.customers alike; billing's own wins there.
    assert keys == {"invoices.customer_id": "customers.id"}


def test_weak_matches_are_left_out() -> None:
    # Only the last word of the table, a key that is neither declared nor named id, and another type.
    assert inferred(tbl("web_sessions", col("session_id", "text")), tbl("hits", col("session_id", "integer"))) == {}


def test_a_thing_named_like_the_first_column_of_a_keyless_table_references_it() -> None:
    # Public dumps of lookup tables declare no key and lead with the thing they describe.
    keys = inferred(
        tbl("geographic", col("city_name", "text"), col("county", "text"), col("region", "text")),
        tbl("restaurant", col("id", "bigint"), col("name", "text"), col("city_name", "text")),
        tbl("location", col("restaurant_id", "bigint"), col("city_name", "text")),
    )
    assert keys == {
        "restaurant.city_name": "geographic.city_name",
        "location.city_name": "geographic.city_name",
        "location.restaurant_id": "restaurant.id",
    }  # geographic.city_name leads its own table: its key, not a reference
    keys = inferred(
        tbl("state", col("state_name", "text"), col("population", "bigint")),
        tbl("highlow", col("state_name", "text"), col("highest_point", "text")),
        tbl("city", col("city_name", "text"), col("state_name", "text")),
        tbl("mountain", col("mountain_name", "text"), col("state_name", "text")),
    )
    # "state_name" names the table state: it wins over highlow, which leads with the same column.
    assert keys == {"city.state_name": "state.state_name", "mountain.state_name": "state.state_name"}


def test_a_column_named_like_the_primary_key_of_one_other_table_references_it() -> None:
    # Schemas that join by a shared key name: the table's own name says nothing ("customerAccounts").
    keys = inferred(
        tbl("customerAccounts", col("customerId", pk=True), col("firstName", "text")),
        tbl("salesOrders", col("orderId", pk=True), col("customerId")),
        tbl("Student", col("StuID", pk=True)),
        tbl("Has_Allergy", col("StuID"), col("Allergy", "text")),
    )
    assert keys == {"salesOrders.customerId": "customerAccounts.customerId", "Has_Allergy.StuID": "Student.StuID"}
    # Not a bare id, not when two tables have that key, not another type, not a table's own key.
    keys = inferred(
        tbl("a", col("code", pk=True)),
        tbl("b", col("ref_no", pk=True)),
        tbl("c", col("ref_no", pk=True)),
        tbl("d", col("ref_no"), col("code")),
        tbl("e", col("ref_no", "text", pk=True)),
    )
    assert keys == {}


def test_no_natural_key_where_the_table_declares_another_or_the_column_counts_something() -> None:
    keys = inferred(
        tbl("regions", col("id", pk=True), col("region_name", "text")),
        tbl("shops", col("id", pk=True), col("region_name", "text"), col("total", "integer")),
        tbl("totals", col("total", "integer"), col("day", "text")),
    )
    assert keys == {}


# --- every connector, at every catalog read ------------------------------------------------------

ROWS: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {
    "customers": (["id", "name"], [(1, "Alice"), (2, "Bob"), (3, "Charlie")]),
    "orders": (["id", "customer_id", "amount"], [(10, 1, 5.5), (11, 1, 4.5), (12, 2, 7.0), (13, 3, 1.0)]),
}
SQL_TYPES = {"id": "INTEGER", "customer_id": "INTEGER", "name": "VARCHAR(50)", "amount": "NUMERIC(10,2)"}


def _create_sql(quote: str = '"') -> list[str]:
    statements = []
    for table, (columns, rows) in ROWS.items():
        defs = ", ".join(f"{quote}{c}{quote} {SQL_TYPES[c]}{' PRIMARY KEY' if c == 'id' else ''}" for c in columns)
        statements.append(f"CREATE TABLE {table} ({defs})")
        values = ", ".join("(" + ", ".join(repr(v) for v in row) + ")" for row in rows)
        statements.append(f"INSERT INTO {table} VALUES {values}")
    return statements


def _sqlite(root: Path) -> dict[str, Any]:
    path = root / f"shop-{uuid.uuid4().hex[:8]}.sqlite"
    with sqlite3.connect(path) as conn:
        for statement in _create_sql():
            conn.execute(statement)
    return {"settings": {"path": str(path)}}


def _files(root: Path) -> dict[str, Any]:
    folder = root / f"shop-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    for table, (columns, rows) in ROWS.items():
        with open(folder / f"{table}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows(rows)
    return {"settings": {"path": str(folder)}}


def _pg_server() -> dict[str, Any]:
    db = settings.DATABASES["default"]
    return {"host": str(db["HOST"]), "port": int(db["PORT"]), "user": str(db["USER"]), "password": str(db["PASSWORD"])}


@pytest.fixture
def engine_source(request: pytest.FixtureRequest, tenancy: Any, files_root: Path) -> Iterator[Callable[[], DataSource]]:
    """A source of the kind the test is parametrised with, holding customers and orders and declaring
    no foreign key; calling it reads the catalog as a refresh does (every catalog step included)."""
    kind = request.param
    cleanup: list[Callable[[], None]] = []
    if kind == "sqlite":
        config = _sqlite(files_root)
    elif kind == "files":
        config = _files(files_root)
    elif kind == "postgresql":
        server, name = _pg_server(), f"psa_keys_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        with psycopg.connect(dbname=name, autocommit=True, **server) as conn:
            for statement in _create_sql():
                conn.execute(statement)

        def drop_pg() -> None:
            from datasources.connectors.postgres import close_pools

            close_pools()
            with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        cleanup.append(drop_pg)
        login = {k: v for k, v in server.items() if k != "password"}
        config = {"settings": {**login, "database": name}, "secrets": {"password": server["password"]}}
    else:
        from tests.datasources.test_connector_mysql import _admin, _server

        server, name = _server(), f"psa_keys_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = _admin()
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}`")
        conn = _admin(name)
        with conn.cursor() as cursor:
            for statement in _create_sql("`"):
                cursor.execute(statement)
        conn.close()

        def drop_mysql() -> None:
            with admin.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            admin.close()

        cleanup.append(drop_mysql)
        login = {k: v for k, v in server.items() if k != "password"}
        config = {"settings": {**login, "database": name}, "secrets": {"password": server["password"]}}
    datasource = services.datasource_create(workspace=tenancy.acme, name=f"Shop {kind}", kind=kind, **config)

    def read() -> DataSource:
        assert services.datasource_introspect(datasource_id=datasource.pk) is not None
        datasource.refresh_from_db()
        return datasource

    try:
        yield read
    finally:
        for step in cleanup:
            step()


def keys_of(datasource: DataSource) -> dict[str, tuple[str, str]]:
    return {
        f"{k.column.table.name}.{k.column.name}": (f"{k.target.table.name}.{k.target.name}", k.state)
        for k in InferredKey.objects.filter(datasource=datasource).select_related("column__table", "target__table")
    }


@pytest.mark.parametrize("engine_source", ["postgresql", "mysql", "sqlite", "files"], indirect=True)
def test_every_connector_infers_the_key_at_each_catalog_read(engine_source: Callable[[], DataSource]) -> None:
    datasource = engine_source()
    assert datasource.status == "ready"
    assert keys_of(datasource) == {"orders.customer_id": ("customers.id", "detected")}
    key = InferredKey.objects.get(datasource=datasource)
    assert key.score >= MIN_SCORE and "customers" in key.evidence


@pytest.mark.parametrize("engine_source", ["sqlite"], indirect=True)
def test_a_reread_keeps_decisions_and_drops_keys_whose_columns_are_gone(
    engine_source: Callable[[], DataSource], tenancy: Any
) -> None:
    datasource = engine_source()
    key = InferredKey.objects.get(datasource=datasource)
    services.inferred_key_review(key=key, state="rejected", user=tenancy.alice)

    engine_source()
    key.refresh_from_db()
    assert (key.state, key.reviewed_by) == ("rejected", tenancy.alice)  # a read never undoes a person

    services.inferred_key_review(key=key, state="confirmed", user=tenancy.alice)
    engine_source()
    assert keys_of(datasource) == {"orders.customer_id": ("customers.id", "confirmed")}
    # Each decision is in the workspace's audit chain, with who made it and what it changed.
    reviews = AuditEvent.objects.filter(workspace=tenancy.acme, tool="inferred_key.review").order_by("pk")
    assert [(e.actor, e.reason.split(": ")[-1]) for e in reviews] == [
        (tenancy.alice, "detected -> rejected"), (tenancy.alice, "rejected -> confirmed"),
    ]  # fmt: skip
    assert "orders.customer_id -> " in reviews[0].reason and not list(audit_verify())

    with sqlite3.connect(datasource.settings["path"]) as conn:
        conn.execute("ALTER TABLE orders RENAME COLUMN customer_id TO buyer")
    engine_source()
    assert keys_of(datasource) == {}  # its column left the schema: the key goes, confirmed or not


@pytest.mark.parametrize("engine_source", ["sqlite"], indirect=True)
def test_a_declared_key_replaces_an_inferred_one(engine_source: Callable[[], DataSource], tenancy: Any) -> None:
    datasource = engine_source()
    services.inferred_key_review(key=InferredKey.objects.get(datasource=datasource), state="confirmed",
                                 user=tenancy.alice)  # fmt: skip
    with sqlite3.connect(datasource.settings["path"]) as conn:
        conn.executescript(
            "ALTER TABLE orders RENAME TO old_orders;"
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers (id),"
            " amount NUMERIC(10,2));"
            "INSERT INTO orders SELECT * FROM old_orders; DROP TABLE old_orders;"
        )
    engine_source()
    assert keys_of(datasource) == {}


# --- what the model is told ---------------------------------------------------------------------


@pytest.mark.parametrize("engine_source", ["sqlite"], indirect=True)
def test_search_and_context_carry_inferred_keys_like_declared_ones_but_never_rejected_ones(
    engine_source: Callable[[], DataSource], tenancy: Any
) -> None:
    datasource = engine_source()
    cache.clear()
    membership = Membership.objects.get(user=tenancy.alice, workspace=tenancy.acme)

    def orders_columns() -> dict[str, dict[str, Any]]:
        matches = visible_catalog_search(membership=membership, prompt="orders amount", datasource_ids=[datasource.pk])
        orders = next(table_to_context(m) for m in matches if m.name == "orders")
        return {c["name"]: c for c in orders["columns"]}

    # Chosen although no word of the prompt names it: it is a key.
    assert orders_columns()["customer_id"] == {
        "name": "customer_id", "type": "INTEGER", "pk": False, "references": "main.customers.id", "inferred": True,
        "masked": "", "comment": "", "description": "", "synonyms": [],
    }  # fmt: skip
    services.inferred_key_review(key=InferredKey.objects.get(datasource=datasource), state="rejected",
                                 user=tenancy.alice)  # fmt: skip
    assert "customer_id" not in orders_columns()  # the search's cache follows the decision
    assert all(not c.inferred for m in catalog_search(workspace_id=tenancy.acme.pk, prompt="orders customer")
               for c in m.columns)  # fmt: skip


# --- the API ------------------------------------------------------------------------------------


@pytest.fixture
def shop(tenancy: Any, files_root: Path) -> DataSource:
    datasource = services.datasource_create(workspace=tenancy.acme, name="Shop", kind="sqlite",
                                            **_sqlite(files_root))  # fmt: skip
    services.datasource_introspect(datasource_id=datasource.pk)
    return datasource


def url(datasource: DataSource, key: Any = None) -> str:
    base = f"/api/v1/datasources/{datasource.pk}/inferred-keys/"
    return base if key is None else f"{base}{key}"


@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 401), ("bob", 404), ("vic", 403), ("ana", 403), ("adam", 200), ("alice", 200)],
)
def test_who_may_list_the_inferred_keys(shop: DataSource, tenancy: Any, client_for: Any, who: str, status: int) -> None:
    """Alice owns the workspace, Adam administers it; Ana (analyst) and Vic (viewer) see the keys in
    the catalog but do not review them; Bob, of another organisation, should have no access at all."""
    user = None if who == "anonymous" else getattr(tenancy, who)
    response = client_for(user).get(url(shop))
    assert response.status_code == status, response.content
    if status == 200:
        (key,) = response.json()
        assert (key["column"], key["references"], key["state"]) == ("main.orders.customer_id", "main.customers.id",
                                                                     "detected")  # fmt: skip
    elif status != 401:
        assert response.json()["error"]["code"] == ("not_found" if status == 404 else "permission_denied")


def test_an_owner_confirms_and_rejects_through_the_api(shop: DataSource, tenancy: Any, client_for: Any) -> None:
    client = client_for(tenancy.alice)
    key = InferredKey.objects.get(datasource=shop)

    response = client.patch(url(shop, key.pk), {"state": "confirmed"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["state"], response.json()["reviewed_by"]) == ("confirmed", "alice")
    assert client.get(url(shop) + "?state=rejected").json() == []

    bad = client.patch(url(shop, key.pk), {"state": "maybe"}, format="json")
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "validation_error")
    assert client.get(url(shop) + "?state=maybe").json()["error"]["code"] == "validation_error"
    assert client.patch(url(shop, "nope"), {"state": "rejected"}, format="json").status_code == 404
    key.refresh_from_db()
    assert key.state == InferredKeyState.CONFIRMED


def test_a_key_of_another_workspace_is_not_found(
    shop: DataSource, tenancy: Any, client_for: Any, files_root: Path
) -> None:
    theirs = services.datasource_create(workspace=tenancy.globex, name="Their shop", kind="sqlite",
                                        **_sqlite(files_root))  # fmt: skip
    services.datasource_introspect(datasource_id=theirs.pk)
    their_key = InferredKey.objects.get(datasource=theirs)

    client = client_for(tenancy.alice)
    assert client.get(url(theirs)).status_code == 404
    # Their key through my source: not found.
    response = client.patch(url(shop, their_key.pk), {"state": "rejected"}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    their_key.refresh_from_db()
    assert their_key.state == "detected"


# --- the data source page -----------------------------------------------------------------------


def test_the_page_shows_inferred_keys_and_owners_decide_there_with_csrf(shop: DataSource, tenancy: Any) -> None:
    from django.test import Client

    key = InferredKey.objects.get(datasource=shop)
    owner = Client(enforce_csrf_checks=True)
    owner.force_login(tenancy.alice)
    page = owner.get(f"/datasources/{shop.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="inferred-keys"' in html and "main.orders.customer_id" in html and "FK?" in html

    refused = owner.post(f"/datasources/{shop.pk}/inferred-keys", {"key": key.pk, "state": "confirmed"})
    assert refused.status_code == 403  # no CSRF token
    token = page.cookies["csrftoken"].value
    done = owner.post(f"/datasources/{shop.pk}/inferred-keys", {"key": key.pk, "state": "confirmed",
                                                                 "csrfmiddlewaretoken": token})  # fmt: skip
    assert done.status_code == 302
    key.refresh_from_db()
    assert (key.state, key.reviewed_by) == ("confirmed", tenancy.alice)

    analyst = Client()
    analyst.force_login(tenancy.ana)
    html = analyst.get(f"/datasources/{shop.pk}/").content.decode()
    assert 'id="inferred-keys"' not in html and "FK?" in html  # sees the key, does not decide on it
    refused = analyst.post(f"/datasources/{shop.pk}/inferred-keys", {"key": key.pk, "state": "rejected"})
    assert refused.status_code == 403


@pytest.mark.parametrize("engine_source", ["sqlite"], indirect=True)
def test_a_key_to_a_table_hidden_from_the_member_names_nothing(
    engine_source: Callable[[], DataSource], tenancy: Any
) -> None:
    """Customers are hidden from analysts: Ana sees orders.customer_id, but not where it points."""
    from governance.models import TableVisibilityPolicy

    datasource = engine_source()
    TableVisibilityPolicy.objects.create(
        workspace=tenancy.acme, datasource=datasource, name="No customers", schema_name="main",
        table_name="customers", hidden_for_roles=["analyst"],
    )  # fmt: skip
    cache.clear()
    ana = Membership.objects.get(user=tenancy.ana, workspace=tenancy.acme)
    (orders,) = visible_catalog_search(membership=ana, prompt="orders customer", datasource_ids=[datasource.pk])
    customer_id = next(c for c in orders.columns if c.name == "customer_id")
    assert (customer_id.references, customer_id.inferred) == ("", False)

    from django.test import Client

    page = Client()
    page.force_login(tenancy.ana)
    assert "customers" not in page.get(f"/datasources/{datasource.pk}/").content.decode()
