"""The semantic API: verified queries, glossary terms and curated descriptions, with who may do what.

Alice (owner) and Adam (admin) verify; Ana (analyst) proposes; Vic (viewer) may do neither; Bob,
of another organisation, should have no access to any of Acme's stuff.
"""

from __future__ import annotations

from typing import Any

import pytest

from datasources import services as datasource_services
from datasources.catalog import catalog_apply, catalog_search
from datasources.models import CatalogTable
from governance.models import TableVisibilityPolicy
from semantic.models import GlossaryTerm, VerifiedQuery
from semantic.selectors import glossary_for_prompt, verified_examples
from workspaces.selectors import membership_in

pytestmark = pytest.mark.django_db

SQL = "SELECT region, SUM(total_amount) AS total FROM billing_invoices WHERE status = 'paid' GROUP BY region"


def create(client: Any, datasource: Any, **extra: Any) -> Any:
    body = {"datasource_id": str(datasource.pk), "question": "Paid revenue by region", "sql": SQL, **extra}
    return client.post("/api/v1/verified-queries/", body, format="json")


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


# --- verified queries --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "status", "state"),
    [
        ("alice", 201, "verified"),
        ("adam", 201, "verified"),
        ("ana", 201, "proposed"),
        ("vic", 403, None),
        ("bob", 404, None),
        (None, 401, None),
    ],
)
def test_who_may_verify_or_propose_a_query(tenancy, sqlite_source, client_for, persona, status, state) -> None:
    user = getattr(tenancy, persona) if persona else None

    response = create(client_for(user), sqlite_source)

    assert response.status_code == status, response.content
    if state is not None:
        body = response.json()
        assert body["status"] == state and body["origin"] == "api" and body["sql"] == SQL
        assert body["verified_by"] == (persona if state == "verified" else None)
    else:
        assert VerifiedQuery.objects.count() == 0


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("DELETE FROM billing_invoices", "sql_rejected"),
        ("SELECT * FROM no_such_table", "sql_rejected"),
        ("SELECT 1; SELECT 2", "sql_not_one_statement"),
        ("SELEC region FROM", "sql_invalid"),
        ("   ", "validation_error"),  # blank: refused by the serializer already
    ],
)
def test_the_sql_is_checked_on_save(tenancy, sqlite_source, client_for, sql, code) -> None:
    response = create(client_for(tenancy.alice), sqlite_source, sql=sql)

    assert response.status_code == 400, response.content
    assert error_code(response) == code
    assert VerifiedQuery.objects.count() == 0


def test_a_firewall_refusal_says_why(tenancy, sqlite_source, client_for) -> None:
    response = create(client_for(tenancy.alice), sqlite_source, sql="DELETE FROM billing_invoices")

    assert response.json()["error"]["details"]["firewall_code"]


def test_an_analyst_proposes_and_an_admin_verifies(tenancy, sqlite_source, client_for) -> None:
    proposal = create(client_for(tenancy.ana), sqlite_source).json()

    refused = client_for(tenancy.ana).post(f"/api/v1/verified-queries/{proposal['id']}/verify")
    assert refused.status_code == 403 and error_code(refused) == "permission_denied"

    verified = client_for(tenancy.adam).post(f"/api/v1/verified-queries/{proposal['id']}/verify")
    assert verified.status_code == 200
    assert verified.json()["status"] == "verified" and verified.json()["verified_by"] == "adam"


def test_another_workspace_sees_nothing(tenancy, sqlite_source, client_for) -> None:
    created = create(client_for(tenancy.alice), sqlite_source).json()
    bob = client_for(tenancy.bob)

    assert bob.get(f"/api/v1/verified-queries/{created['id']}").status_code == 404
    assert bob.patch(f"/api/v1/verified-queries/{created['id']}", {"question": "x"}, format="json").status_code == 404
    assert bob.delete(f"/api/v1/verified-queries/{created['id']}").status_code == 404
    assert bob.get("/api/v1/verified-queries/").json()["count"] == 0
    assert bob.get("/api/v1/verified-queries/not-a-uuid").status_code == 404


def test_owners_change_and_delete_verified_queries(tenancy, sqlite_source, client_for) -> None:
    created = create(client_for(tenancy.alice), sqlite_source).json()
    url = f"/api/v1/verified-queries/{created['id']}"

    assert client_for(tenancy.ana).patch(url, {"question": "x"}, format="json").status_code == 403
    bad = client_for(tenancy.alice).patch(url, {"sql": "DROP TABLE billing_invoices"}, format="json")
    assert bad.status_code == 400 and error_code(bad) == "sql_rejected"
    changed = client_for(tenancy.alice).patch(url, {"question": "Revenue of paid invoices by region"}, format="json")
    assert changed.status_code == 200 and changed.json()["question"] == "Revenue of paid invoices by region"

    assert client_for(tenancy.ana).delete(url).status_code == 403
    assert client_for(tenancy.alice).delete(url).status_code == 204
    assert client_for(tenancy.alice).get(url).status_code == 404


def test_the_list_filters_by_status(tenancy, sqlite_source, client_for) -> None:
    create(client_for(tenancy.alice), sqlite_source)
    create(client_for(tenancy.ana), sqlite_source, question="Revenue per region")

    listed = client_for(tenancy.alice).get("/api/v1/verified-queries/", {"status": "proposed"}).json()

    assert [q["question"] for q in listed["results"]] == ["Revenue per region"]


# --- what a model is given ---------------------------------------------------------------------


def test_the_model_is_given_the_most_similar_verified_queries_and_the_glossary_terms_named(
    tenancy, sqlite_source, client_for
) -> None:
    create(client_for(tenancy.alice), sqlite_source)
    create(client_for(tenancy.alice), sqlite_source, question="Number of customers",
           sql="SELECT COUNT(*) FROM billing_customers")  # fmt: skip
    create(client_for(tenancy.ana), sqlite_source, question="Paid revenue per region please")  # a proposal
    GlossaryTerm.objects.create(workspace=tenancy.acme, term="revenue", kind="metric", sql="SUM(total_amount)")
    ana = membership_in(user=tenancy.ana, workspace_id=tenancy.acme.pk)

    examples = verified_examples(
        membership=ana, prompt="paid revenue by region in 2024", datasource_ids=[sqlite_source.pk]
    )
    terms = glossary_for_prompt(
        membership=ana, prompt="paid revenue by region in 2024", datasource_ids=[sqlite_source.pk]
    )

    assert [e["question"] for e in examples] == ["Paid revenue by region"]
    assert examples[0]["sql"] == SQL and examples[0]["datasource_id"] == str(sqlite_source.pk)
    assert [t["term"] for t in terms] == ["revenue"]
    bob = membership_in(user=tenancy.bob, workspace_id=tenancy.globex.pk)
    assert verified_examples(membership=bob, prompt="paid revenue by region", datasource_ids=[sqlite_source.pk]) == []


# --- glossary ----------------------------------------------------------------------------------


def term_body(workspace: Any, **extra: Any) -> dict[str, Any]:
    return {"workspace_id": str(workspace.pk), "term": "revenue", "synonyms": ["sales", "Sales", " "],
            "kind": "metric", "sql": "SUM(total_amount)", "description": "Paid invoices.", **extra}  # fmt: skip


@pytest.mark.parametrize(
    ("persona", "status"), [("alice", 201), ("adam", 201), ("ana", 403), ("vic", 403), ("bob", 404)]
)
def test_who_may_define_glossary_terms(tenancy, client_for, persona, status) -> None:
    response = client_for(getattr(tenancy, persona)).post("/api/v1/glossary/", term_body(tenancy.acme), format="json")

    assert response.status_code == status, response.content
    if status == 201:
        assert response.json()["synonyms"] == ["sales"]


def test_a_term_over_a_table_is_checked_by_the_firewall(tenancy, sqlite_source, client_for) -> None:
    alice = client_for(tenancy.alice)
    body = term_body(tenancy.acme, datasource_id=str(sqlite_source.pk), table_name="billing_invoices")

    assert alice.post("/api/v1/glossary/", body, format="json").status_code == 201
    filter_body = {**body, "term": "paid", "kind": "filter", "sql": "status = 'paid'"}
    assert alice.post("/api/v1/glossary/", filter_body, format="json").status_code == 201
    unknown = alice.post("/api/v1/glossary/", {**body, "term": "x", "sql": "SUM(no_such_column)"}, format="json")
    assert unknown.status_code == 400 and error_code(unknown) == "sql_rejected"


@pytest.mark.parametrize(
    ("extra", "status", "code"),
    [
        ({"sql": "SELECT 1"}, 400, "sql_not_expression"),
        ({"sql": "total_amount IN (SELECT 1)"}, 400, "sql_not_expression"),
        ({"sql": "DROP TABLE x"}, 400, "sql_not_expression"),
        ({"sql": "SUM(("}, 400, "sql_invalid"),
        ({"kind": "bogus"}, 400, "validation_error"),
        ({"table_name": "billing_invoices"}, 400, "table_without_datasource"),
        ({"synonyms": ["x" * 121]}, 400, "validation_error"),
    ],
)
def test_bad_glossary_terms_are_refused_with_a_code(tenancy, client_for, extra, status, code) -> None:
    response = client_for(tenancy.alice).post("/api/v1/glossary/", term_body(tenancy.acme, **extra), format="json")

    assert response.status_code == status, response.content
    assert error_code(response) == code


def test_a_term_is_defined_once_and_changed_by_owners(tenancy, client_for) -> None:
    alice = client_for(tenancy.alice)
    created = alice.post("/api/v1/glossary/", term_body(tenancy.acme), format="json").json()
    again = alice.post("/api/v1/glossary/", term_body(tenancy.acme, term="Revenue"), format="json")
    assert again.status_code == 409 and error_code(again) == "term_exists"

    url = f"/api/v1/glossary/{created['id']}"
    changed = alice.patch(url, {"sql": "SUM(total_amount) FILTER (WHERE status = 'paid')"}, format="json")
    assert changed.status_code == 200 and changed.json()["term"] == "revenue"
    assert client_for(tenancy.ana).get(url).status_code == 200
    assert client_for(tenancy.ana).patch(url, {"description": "x"}, format="json").status_code == 403
    assert client_for(tenancy.bob).get(url).status_code == 404
    assert client_for(tenancy.alice).delete(url).status_code == 204


# --- curated descriptions ----------------------------------------------------------------------


def invoices(datasource: Any) -> CatalogTable:
    return CatalogTable.objects.get(datasource=datasource, name="billing_invoices")


def test_owners_describe_tables_and_a_catalog_refresh_keeps_it(tenancy, sqlite_source, client_for) -> None:
    table = invoices(sqlite_source)
    url = f"/api/v1/datasources/{sqlite_source.pk}/tables/{table.pk}/curation"
    body = {"description": "What customers are asked to pay.", "synonyms": ["bills", "receivables"]}

    assert client_for(tenancy.ana).put(url, body, format="json").status_code == 403
    assert client_for(tenancy.bob).put(url, body, format="json").status_code == 404
    response = client_for(tenancy.alice).put(url, body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["synonyms"] == ["bills", "receivables"] and response.json()["comment"] == table.comment

    catalog_apply(datasource=sqlite_source, introspection=datasource_services.connector_for(sqlite_source).introspect())

    table.refresh_from_db()
    assert table.description == "What customers are asked to pay." and table.synonyms == ["bills", "receivables"]
    found = catalog_search(workspace_id=tenancy.acme.pk, prompt="receivables", datasource_ids=[sqlite_source.pk])
    assert found and found[0].name == "billing_invoices"
    assert found[0].description == "What customers are asked to pay." and found[0].synonyms == ("bills", "receivables")
    listed = client_for(tenancy.ana).get(f"/api/v1/datasources/{sqlite_source.pk}/tables/").json()["results"]
    shown = next(t for t in listed if t["name"] == "billing_invoices")
    assert shown["description"] == "What customers are asked to pay." and shown["synonyms"] == ["bills", "receivables"]
    searched = client_for(tenancy.ana).get(
        "/api/v1/catalog/search", {"q": "receivables", "workspace_id": str(tenancy.acme.pk)}
    )
    searched = searched.json()
    assert searched[0]["name"] == "billing_invoices" and searched[0]["synonyms"] == ["bills", "receivables"]


def test_a_column_synonym_is_searched_and_given_to_the_model(tenancy, sqlite_source, client_for) -> None:
    table = invoices(sqlite_source)
    url = f"/api/v1/datasources/{sqlite_source.pk}/tables/{table.pk}/columns/total_amount/curation"

    response = client_for(tenancy.alice).put(url, {"description": "Gross.", "synonyms": ["turnover"]}, format="json")

    assert response.status_code == 200 and response.json()["column"] == "total_amount"
    found = catalog_search(workspace_id=tenancy.acme.pk, prompt="turnover", datasource_ids=[sqlite_source.pk])
    assert found[0].name == "billing_invoices"
    column = next(c for c in found[0].columns if c.name == "total_amount")
    assert column.matched and column.synonyms == ("turnover",) and column.description == "Gross."
    assert client_for(tenancy.alice).put(url.replace("total_amount", "nope"), {"description": ""},
                                         format="json").status_code == 404  # fmt: skip


def test_curation_input_is_checked(tenancy, sqlite_source, client_for) -> None:
    url = f"/api/v1/datasources/{sqlite_source.pk}/tables/{invoices(sqlite_source).pk}/curation"
    alice = client_for(tenancy.alice)

    too_many = alice.put(url, {"description": "", "synonyms": [f"s{i}" for i in range(21)]}, format="json")
    assert too_many.status_code == 400 and error_code(too_many) == "too_many_synonyms"
    assert alice.put(url.replace("/tables/", "/tables/x"), {"description": ""}, format="json").status_code == 404
    assert alice.get(url.replace("/tables/", "/tables/99999999999999999999")).status_code == 404
    assert alice.get("/api/v1/glossary/99999999999999999999").status_code == 404


def test_a_verified_query_over_a_table_hidden_from_the_member_is_not_given_to_them(
    tenancy, sqlite_source, client_for
) -> None:
    payments = "SELECT COUNT(*) FROM billing_payments"
    assert (
        create(client_for(tenancy.alice), sqlite_source, question="Number of payments", sql=payments).status_code == 201
    )
    TableVisibilityPolicy.objects.create(workspace=tenancy.acme, datasource=sqlite_source, name="No payments",
                                         schema_name="main", table_name="billing_payments",
                                         hidden_for_roles=["analyst"])  # fmt: skip
    ana = membership_in(user=tenancy.ana, workspace_id=tenancy.acme.pk)
    alice = membership_in(user=tenancy.alice, workspace_id=tenancy.acme.pk)

    assert verified_examples(membership=ana, prompt="number of payments", datasource_ids=[sqlite_source.pk]) == []
    shown = verified_examples(membership=alice, prompt="number of payments", datasource_ids=[sqlite_source.pk])
    assert [e["sql"] for e in shown] == [payments]
