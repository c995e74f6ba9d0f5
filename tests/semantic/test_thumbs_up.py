"""A thumbs-up on a completed execution (API and page), the glossary page, the curation form of the
data source page, and the admin: all through the same services and checks as the API."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from datasources.models import CatalogTable
from executions.models import ExecutionStatus, PromptExecution, Turn
from executions.services.create import execution_grant
from semantic.models import GlossaryTerm, VerifiedQuery
from tests.factories import make_user

pytestmark = pytest.mark.django_db

WRITTEN = "SELECT region, COUNT(*) AS n FROM billing_customers GROUP BY region"
REWRITTEN = (
    "SELECT region, COUNT(*) AS n FROM (SELECT * FROM billing_customers) AS billing_customers "
    "GROUP BY region LIMIT 1000"
)


def completed_execution(
    tenancy: Any, user: Any, datasource: Any, status: str = ExecutionStatus.COMPLETED
) -> PromptExecution:
    """An execution as the worker leaves it: the model's run_query call, its rewritten SQL as the result."""
    execution = PromptExecution.objects.create(
        workspace=tenancy.acme, user=user, prompt_text="customers per region", status=status,
        generated_query_text=REWRITTEN, selected_data_source_ids=[str(datasource.pk)],
    )  # fmt: skip
    execution_grant(execution, user)
    call = {"id": "c1", "name": "run_query", "arguments": {"datasource_id": str(datasource.pk), "sql": WRITTEN}}
    Turn.objects.create(
        execution=execution, index=2, reply={"content": "", "tool_calls": [call]},
        observations={"c1": {"observation": {}, "sql": REWRITTEN, "data": {"datasource_id": str(datasource.pk)}}},
    )  # fmt: skip
    return execution


@pytest.mark.parametrize(("persona", "state"), [("alice", "verified"), ("ana", "proposed")])
def test_a_thumbs_up_verifies_or_proposes_the_sql_as_the_model_wrote_it(
    tenancy, sqlite_source, client_for, persona, state
) -> None:
    user = getattr(tenancy, persona)
    execution = completed_execution(tenancy, user, sqlite_source)

    response = client_for(user).post(f"/api/v1/executions/{execution.pk}/verify")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == state and body["origin"] == "thumbs_up"
    assert body["sql"] == WRITTEN and body["question"] == "customers per region"
    assert body["source_execution_id"] == str(execution.pk)


def test_only_a_completed_execution_with_a_query_can_be_verified(tenancy, sqlite_source, client_for) -> None:
    running = completed_execution(tenancy, tenancy.alice, sqlite_source, status=ExecutionStatus.RUNNING)
    no_query = PromptExecution.objects.create(workspace=tenancy.acme, user=tenancy.alice, prompt_text="hi",
                                              status=ExecutionStatus.COMPLETED)  # fmt: skip
    execution_grant(no_query, tenancy.alice)
    alice = client_for(tenancy.alice)

    refused = alice.post(f"/api/v1/executions/{running.pk}/verify")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "execution_not_completed"
    refused = alice.post(f"/api/v1/executions/{no_query.pk}/verify")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "no_result"
    assert VerifiedQuery.objects.count() == 0


def test_someone_who_cannot_see_the_execution_gets_a_404(tenancy, sqlite_source, client_for) -> None:
    execution = completed_execution(tenancy, tenancy.alice, sqlite_source)

    assert client_for(tenancy.bob).post(f"/api/v1/executions/{execution.pk}/verify").status_code == 404
    assert client_for(tenancy.vic).post(f"/api/v1/executions/{execution.pk}/verify").status_code == 404


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_execution_page_has_the_thumbs_up_form(tenancy, sqlite_source) -> None:
    execution = completed_execution(tenancy, tenancy.alice, sqlite_source)
    page = signed_in(tenancy.alice)

    html = page.get(f"/executions/{execution.pk}/").content.decode()
    assert 'id="verify-form"' in html and "Verify this answer" in html

    response = page.post(f"/executions/{execution.pk}/verify")
    assert response.status_code == 302
    assert VerifiedQuery.objects.get().sql == WRITTEN
    html = page.get(f"/executions/{execution.pk}/").content.decode()
    assert 'id="verify-form"' not in html and "Verified: models answer" in html


def test_the_thumbs_up_form_needs_csrf(tenancy, sqlite_source) -> None:
    execution = completed_execution(tenancy, tenancy.alice, sqlite_source)
    client = Client(enforce_csrf_checks=True)
    client.force_login(tenancy.alice)

    assert client.post(f"/executions/{execution.pk}/verify").status_code == 403
    assert VerifiedQuery.objects.count() == 0


def test_an_analyst_is_offered_to_propose(tenancy, sqlite_source) -> None:
    execution = completed_execution(tenancy, tenancy.ana, sqlite_source)

    html = signed_in(tenancy.ana).get(f"/executions/{execution.pk}/").content.decode()

    assert "Propose as verified" in html


def test_owners_define_terms_and_verify_proposals_on_the_glossary_page(tenancy, sqlite_source, client_for) -> None:
    client_for(tenancy.ana).post("/api/v1/verified-queries/", {"datasource_id": str(sqlite_source.pk),
                                 "question": "customers per region", "sql": WRITTEN}, format="json")  # fmt: skip
    alice = signed_in(tenancy.alice)

    response = alice.post("/semantic/glossary", {"term": "customer count", "kind": "metric", "sql": "COUNT(*)",
                                                 "synonyms": "clients, buyers"})  # fmt: skip
    assert response.status_code == 302
    assert GlossaryTerm.objects.get().synonyms == ["clients", "buyers"]
    proposal = VerifiedQuery.objects.get()
    assert (
        alice.post("/semantic/verified", {"verified_query_id": str(proposal.pk), "action": "verify"}).status_code == 302
    )
    proposal.refresh_from_db()
    assert proposal.status == "verified"

    html = signed_in(tenancy.ana).get("/semantic/").content.decode()
    assert "customer count" in html and "customers per region" in html and 'id="glossary-form"' not in html
    refused = signed_in(tenancy.ana).post("/semantic/glossary", {"term": "x", "kind": "metric", "sql": "COUNT(*)"},
                                          follow=True)  # fmt: skip
    assert "Not saved" in refused.content.decode() and GlossaryTerm.objects.count() == 1


def test_owners_describe_a_table_on_the_data_source_page(tenancy, sqlite_source) -> None:
    table = CatalogTable.objects.get(datasource=sqlite_source, name="billing_invoices")
    alice = signed_in(tenancy.alice)
    assert 'name="synonyms"' in alice.get(f"/datasources/{sqlite_source.pk}/").content.decode()
    assert 'name="synonyms"' not in signed_in(tenancy.ana).get(f"/datasources/{sqlite_source.pk}/").content.decode()

    form = {"table": table.pk, "column": "", "description": "Bills sent.", "synonyms": "bills"}
    response = alice.post(f"/datasources/{sqlite_source.pk}/curation", form)

    assert response.status_code == 302 and response["Location"].endswith(f"#table-{table.pk}")
    table.refresh_from_db()
    assert table.description == "Bills sent." and table.synonyms == ["bills"]
    assert "Bills sent." in alice.get(f"/datasources/{sqlite_source.pk}/").content.decode()
    assert (
        signed_in(tenancy.bob).post(f"/datasources/{sqlite_source.pk}/curation", {"table": table.pk}).status_code == 404
    )


def test_the_admin_saves_through_the_services(tenancy, sqlite_source) -> None:
    staff = make_user("root", staff=True)
    admin = signed_in(staff)
    body = {"datasource": str(sqlite_source.pk), "question": "customers per region", "sql": WRITTEN, "schema_names": ""}

    refused = admin.post("/admin/semantic/verifiedquery/add/", body)
    assert refused.status_code == 200 and "must be a member" in refused.content.decode()

    alice = signed_in(tenancy.alice)
    tenancy.alice.is_staff = tenancy.alice.is_superuser = True
    tenancy.alice.save(update_fields=["is_staff", "is_superuser"])
    bad = alice.post("/admin/semantic/verifiedquery/add/", {**body, "sql": "DELETE FROM billing_customers"})
    assert bad.status_code == 200 and "firewall refuses" in bad.content.decode()
    assert alice.post("/admin/semantic/verifiedquery/add/", body).status_code == 302
    created = VerifiedQuery.objects.get()
    assert created.origin == "admin" and created.status == "verified" and created.created_by == tenancy.alice
