"""The governance overview: for owners and admins only, the policies in force in plain words, and
the audit log with filters and pages (htmx fragments, and plain links without JavaScript)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest
from django.test import Client

from governance import services as governance_services
from governance.audit import audit_append
from governance.models import ApprovalAction, ApprovalRule, TableVisibilityPolicy
from tests.datasources.conftest import sqlite_source  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

PERSONAS = ["anonymous", "bob", "vic", "ana", "adam", "alice"]
# Bob owns another organisation's workspace: he sees his own governance page, never Acme's.
EXPECTED = [302, 200, 403, 403, 200, 200]


def client_as(user: Any) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def log(workspace: Any, actor: Any, tool: str, decision: str, *, at: datetime | None = None, **fields: Any) -> Any:
    values = {"workspace_id": workspace.pk, "actor_id": actor.pk, "actor_username": actor.username, "tool": tool,
              "arguments_hash": "0" * 64, "decision": decision, "code": fields.pop("code", decision),
              "reason": fields.pop("reason", ""), **fields}  # fmt: skip
    if at is None:
        return audit_append(**values)
    with mock.patch("governance.audit.timezone.now", return_value=at):
        return audit_append(**values)


@pytest.mark.parametrize("persona", PERSONAS)
def test_permission_matrix(tenancy, persona):
    log(tenancy.acme, tenancy.ana, "run_query", "allowed", reason="Acme's secret decision")
    user = None if persona == "anonymous" else getattr(tenancy, persona)
    response = client_as(user).get("/governance/")
    assert response.status_code == EXPECTED[PERSONAS.index(persona)]
    if response.status_code == 302:
        assert response["Location"].startswith("/accounts/login/")
    if persona == "bob":
        assert "Acme&#x27;s secret decision" not in response.content.decode()
    if persona in ("vic", "ana"):
        assert "Not allowed" in response.content.decode()


@pytest.mark.parametrize(("persona", "shown"), [("vic", False), ("ana", False), ("adam", True), ("alice", True)])
def test_the_navigation_offers_governance_only_to_those_allowed(tenancy, persona, shown):
    page = client_as(getattr(tenancy, persona)).get("/datasources/").content.decode()
    assert ('href="/governance/"' in page) is shown


def test_policies_are_said_in_plain_words_with_links_to_the_admin_for_staff(tenancy, sqlite_source):  # noqa: F811
    row_filter = governance_services.row_filter_policy_create(
        workspace=tenancy.acme, datasource=sqlite_source, schema_name="main", table_name="billing_customers",
        predicate="region = {{ user.region }}", roles=["analyst", "viewer"], name="Own region only",
    )  # fmt: skip
    mask = governance_services.column_mask_policy_create(
        workspace=tenancy.acme, datasource=sqlite_source, schema_name="main", table_name="crm_contacts",
        column_name="email", strategy="partial", name="Partial e-mails",
    )  # fmt: skip
    TableVisibilityPolicy.objects.create(workspace=tenancy.acme, datasource=sqlite_source, name="No payments",
                                         schema_name="main", table_name="billing_payments",
                                         hidden_for_roles=["analyst", "viewer"], enabled=False)  # fmt: skip
    ApprovalRule.objects.create(workspace=tenancy.acme, action=ApprovalAction.WRITE, approver_roles=["owner"],
                                required_approvals=2)  # fmt: skip

    page = client_as(tenancy.adam).get("/governance/").content.decode()
    assert "Safety level: <strong>Strict (read only)</strong>" in page
    assert "analysts and viewers see only the rows where <code>region = {{ user.region }}</code>" in page
    assert "the values of <code>email</code> are partly hidden" in page and "except owners and admins" in page
    assert "the table is hidden from analysts and viewers" in page and '<span class="badge">off</span>' in page
    assert "Data writes (INSERT, UPDATE, DELETE) need 2 approvals from owners" in page
    # Adam is not staff: the admin would refuse him, so no link to it.
    assert "/admin/governance/" not in page and "/admin/workspaces/" not in page and "needs a staff account" in page

    tenancy.alice.is_staff = True
    tenancy.alice.save(update_fields=["is_staff"])
    page = client_as(tenancy.alice).get("/governance/").content.decode()
    assert f'href="/admin/governance/rowfilterpolicy/{row_filter.pk}/change/"' in page
    assert f'href="/admin/governance/columnmaskpolicy/{mask.pk}/change/"' in page
    assert f'href="/admin/workspaces/workspace/{tenancy.acme.pk}/change/"' in page


def test_no_policies_says_what_policies_do_and_where_to_add_them(tenancy):
    tenancy.alice.is_staff = True
    tenancy.alice.save(update_fields=["is_staff"])
    page = client_as(tenancy.alice).get("/governance/").content.decode()
    assert "No policies yet" in page and "which rows each member sees" in page
    assert 'href="/admin/governance/rowfilterpolicy/add/"' in page
    assert "Nothing logged yet" in page


# --- the audit log -----------------------------------------------------------------------------


@pytest.fixture
def decisions(tenancy):
    day = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    return {
        "ana_query": log(
            tenancy.acme,
            tenancy.ana,
            "run_query",
            "allowed",
            at=day,
            reason="ana-read-ok",
            sql_before="SELECT email FROM crm_contacts",
            sql_after="SELECT '***' AS email FROM crm_contacts",
            rows_returned=7,
        ),
        "ana_denied": log(
            tenancy.acme, tenancy.ana, "execute_write", "denied", at=day.replace(day=12), reason="ana-write-denied"
        ),
        "vic_search": log(
            tenancy.acme, tenancy.vic, "search_catalog", "allowed", at=day.replace(day=15), reason="vic-search-ok"
        ),
        "bob": log(tenancy.globex, tenancy.bob, "run_query", "allowed", at=day, reason="bob-in-globex"),
    }


def _reasons(page: str) -> set[str]:
    return {
        reason for reason in ("ana-read-ok", "ana-write-denied", "vic-search-ok", "bob-in-globex") if reason in page
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"ana-read-ok", "ana-write-denied", "vic-search-ok"}),
        ({"actor": "ana"}, {"ana-read-ok", "ana-write-denied"}),
        ({"tool": "run_query"}, {"ana-read-ok"}),
        ({"decision": "denied"}, {"ana-write-denied"}),
        ({"decision": "allowed", "actor": "vic"}, {"vic-search-ok"}),
        ({"since": "2026-03-11"}, {"ana-write-denied", "vic-search-ok"}),
        ({"until": "2026-03-12"}, {"ana-read-ok", "ana-write-denied"}),
        ({"since": "2026-03-11", "until": "2026-03-12"}, {"ana-write-denied"}),
        ({"actor": "bob"}, set()),  # another organisation's log is not there to filter
    ],
)
def test_the_audit_log_filters(tenancy, decisions, query, expected):
    page = client_as(tenancy.adam).get("/governance/", query).content.decode()
    assert _reasons(page) == expected
    if not expected:
        assert "No decision matches these filters" in page


def test_the_audit_log_shows_the_sql_before_and_after_the_policies(tenancy, decisions):
    page = client_as(tenancy.alice).get("/governance/", {"tool": "run_query"}).content.decode()
    assert "SELECT email FROM crm_contacts" in page and "SELECT &#x27;***&#x27; AS email" in page
    assert '<td class="num">7</td>' in page
    assert '<span class="badge ok">allowed</span>' in page


def test_htmx_gets_the_audit_log_alone(tenancy, decisions):
    response = client_as(tenancy.adam).get("/governance/", {"decision": "denied"}, HTTP_HX_REQUEST="true",
                                           HTTP_HX_TARGET="audit")  # fmt: skip
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="audit"') and "<html" not in body
    assert _reasons(body) == {"ana-write-denied"}
    assert "HX-Request" in response["Vary"]


def test_reversed_dates_are_said_plainly(tenancy, decisions):
    page = client_as(tenancy.adam).get("/governance/", {"since": "2026-03-12", "until": "2026-03-01"}).content.decode()
    assert "The “From” date is after the “To” date." in page


def test_the_audit_log_pages_by_newer_and_older(tenancy):
    for index in range(120):
        log(tenancy.acme, tenancy.ana, "run_query", "allowed", reason=f"decision-{index:03d}.")
    client = client_as(tenancy.adam)
    first = client.get("/governance/").content.decode()
    assert "decision-119." in first and "decision-070." in first and "decision-069." not in first
    assert "Older →" in first and "← Newer" not in first

    older = client.get("/governance/", {"before": _id_of(tenancy, 70)}).content.decode()
    assert "decision-069." in older and "decision-020." in older and "decision-070." not in older
    assert "← Newer" in older and "Older →" in older

    last = client.get("/governance/", {"before": _id_of(tenancy, 20)}).content.decode()
    assert "decision-019." in last and "decision-000." in last and "Older →" not in last

    newer = client.get("/governance/", {"after": _id_of(tenancy, 19)}).content.decode()
    assert "decision-020." in newer and "decision-069." in newer and "decision-070." not in newer


def _id_of(tenancy: Any, index: int) -> int:
    from governance.models import AuditEvent

    return AuditEvent.objects.get(workspace=tenancy.acme, reason=f"decision-{index:03d}.").pk


def test_the_page_reads_a_bounded_number_of_queries(tenancy, decisions, django_assert_max_num_queries):
    client = client_as(tenancy.adam)
    client.get("/governance/")
    with django_assert_max_num_queries(25):
        client.get("/governance/", {"actor": "ana"})


def test_tag_policies_are_said_in_plain_words_with_the_review_backlog(tenancy, sqlite_source):  # noqa: F811
    from governance.classification import ReadClassification, column_tags_store, tag_create
    from governance.detect import Detection

    tag_create(workspace_id=tenancy.acme.pk, name="region", name_patterns=["region"])
    governance_services.tag_mask_policy_create(workspace=tenancy.acme, tag="pii.email", strategy="partial",
                                               name="Partial e-mails")  # fmt: skip
    governance_services.tag_row_filter_policy_create(
        workspace=tenancy.acme, tag="region", predicate="{{ column }} = {{ user.region }}", table_tags=["pii.*"],
        name="Own region",
    )  # fmt: skip
    found = {("main", "crm_contacts", "phone"): (Detection("pii.phone", 0.9, "the name 'phone'"),)}
    column_tags_store(datasource=sqlite_source, classification=ReadClassification(found, 0, 0))

    page = client_as(tenancy.adam).get("/governance/").content.decode()
    assert "Tag masks" in page and "Tag row filters" in page
    assert "The values of every column tagged <code>pii.email</code>, on every data source, are partly hidden" in page
    assert "for everyone, except owners and admins" in page
    assert ("In every table with a column tagged <code>region</code>, on every data source (only in tables with a "
            "column tagged pii.*), analysts and viewers see only the rows where <code>the column = "
            "{{ user.region }}</code>") in page  # fmt: skip
    assert "(<strong>1</strong> column waiting)" in page
