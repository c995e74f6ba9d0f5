"""The gateway: permissions, row filters rendered from attributes, safety levels, approvals, audit."""

from __future__ import annotations

import pytest

from datasources.queries import query_read
from governance.audit import audit_verify
from governance.catalog import visible_catalog_search
from governance.gateway import Actor, authorize
from governance.models import (
    ApprovalAction,
    ApprovalRule,
    AuditEvent,
    ColumnMaskPolicy,
    RowFilterPolicy,
    TableVisibilityPolicy,
)
from governance.policies import PolicyError, render_predicate
from workspaces.models import Membership

pytestmark = pytest.mark.django_db


def actor(tenancy, name, workspace=None):
    user = getattr(tenancy, name)
    membership = Membership.objects.select_related("workspace", "user").get(
        user=user, workspace=workspace or tenancy.acme
    )
    return Actor(user=user, workspace=membership.workspace, membership=membership)


@pytest.fixture
def emea_only(tenancy, sqlite_source):
    return RowFilterPolicy.objects.create(
        workspace=tenancy.acme, datasource=sqlite_source, name="Own region only", schema_name="main",
        table_name="billing_customers", predicate="region = {{ user.region }}", roles=["analyst", "viewer"],
    )  # fmt: skip


def run(tenancy, who, source, sql):
    return authorize(actor(tenancy, who), "run_query", {"datasource_id": str(source.pk), "sql": sql})


def test_a_row_filter_holds_with_the_members_attribute_as_a_literal(tenancy, sqlite_source, emea_only):
    decision = run(tenancy, "ana", sqlite_source, "SELECT region, count(*) FROM billing_customers GROUP BY region")
    assert decision.allowed and decision.code == "ok"
    assert "'EMEA'" in decision.sql_after
    assert decision.policies_applied == ("Own region only",)
    rows = query_read(datasource=sqlite_source, sql=decision.sql_after).rows
    assert [row[0] for row in rows] == ["EMEA"]


def test_owners_are_not_filtered_when_the_policy_names_other_roles(tenancy, sqlite_source, emea_only):
    decision = run(tenancy, "alice", sqlite_source, "SELECT DISTINCT region FROM billing_customers")
    rows = query_read(datasource=sqlite_source, sql=decision.sql_after).rows
    assert len(rows) == 4


def test_an_attribute_can_never_become_sql(tenancy, sqlite_source, emea_only):
    membership = Membership.objects.get(user=tenancy.ana)
    membership.attributes = {"region": "EMEA' OR '1'='1"}
    membership.save()
    decision = run(tenancy, "ana", sqlite_source, "SELECT count(*) FROM billing_customers")
    assert query_read(datasource=sqlite_source, sql=decision.sql_after).rows == ((0,),)


def test_a_missing_attribute_matches_no_row_and_a_list_means_any_of(tenancy, sqlite_source, emea_only):
    membership = Membership.objects.get(user=tenancy.ana)
    membership.attributes = {}
    membership.save()
    decision = run(tenancy, "ana", sqlite_source, "SELECT count(*) FROM billing_customers")
    assert query_read(datasource=sqlite_source, sql=decision.sql_after).rows == ((0,),)
    membership.attributes = {"region": ["EMEA", "APAC"]}
    membership.save()
    decision = run(tenancy, "ana", sqlite_source, "SELECT DISTINCT region FROM billing_customers ORDER BY 1")
    assert query_read(datasource=sqlite_source, sql=decision.sql_after).rows == (("APAC",), ("EMEA",))


@pytest.mark.parametrize(
    "template",
    ["region = {{ user.region }}; DROP TABLE x", "region IN (SELECT 'EMEA')", "{{ user.region }", "SELECT 1"],
)
def test_bad_templates_are_refused(template):
    with pytest.raises(PolicyError):
        render_predicate(template, {"region": "EMEA"}, "sqlite")


def test_a_viewer_may_not_query_and_another_workspace_does_not_exist(tenancy, sqlite_source):
    assert run(tenancy, "vic", sqlite_source, "SELECT 1").code == "permission_denied"
    bob = actor(tenancy, "bob", tenancy.globex)
    decision = authorize(bob, "run_query", {"datasource_id": str(sqlite_source.pk), "sql": "SELECT 1"})
    assert (decision.allowed, decision.code) == (False, "not_found")


def test_unknown_tools_are_denied_and_every_decision_is_audited(tenancy, sqlite_source):
    before = AuditEvent.objects.count()
    assert authorize(actor(tenancy, "ana"), "rm_rf", {}).code == "unknown_tool"
    run(tenancy, "ana", sqlite_source, "SELECT 1; DROP TABLE billing_customers")
    run(tenancy, "ana", sqlite_source, "SELECT count(*) FROM billing_customers")
    events = list(AuditEvent.objects.order_by("id"))[before:]
    assert [(e.tool, e.decision) for e in events] == [
        ("rm_rf", "denied"),
        ("run_query", "denied"),
        ("run_query", "allowed"),
    ]
    assert events[1].code == "sql_multiple_statements"
    assert list(audit_verify()) == []


@pytest.mark.parametrize(
    ("level", "rule", "allowed", "approval"),
    [("strict", False, False, False), ("standard", False, True, True), ("permissive", False, True, False),
     ("permissive", True, True, True)],
)  # fmt: skip
def test_writes_follow_the_safety_level_and_approval_rules(tenancy, sqlite_source, level, rule, allowed, approval):
    tenancy.acme.safety_level = level
    tenancy.acme.save()
    if rule:
        ApprovalRule.objects.create(workspace=tenancy.acme, action=ApprovalAction.WRITE, approver_roles=["admin"])
    decision = authorize(
        actor(tenancy, "adam"), "execute_write",
        {"datasource_id": str(sqlite_source.pk), "sql": "UPDATE billing_products SET name = 'x' WHERE id = 1"},
    )  # fmt: skip
    assert (decision.allowed, decision.needs_approval) == (allowed, approval), decision
    if not allowed:
        assert decision.code == "safety_level"


def test_schema_changes_always_need_approval_and_analysts_cannot_write(tenancy, sqlite_source):
    tenancy.acme.safety_level = "permissive"
    tenancy.acme.save()
    ddl = authorize(actor(tenancy, "adam"), "apply_schema_change",
                    {"datasource_id": str(sqlite_source.pk), "sql": "CREATE TABLE t (id int)"})  # fmt: skip
    assert (ddl.allowed, ddl.needs_approval) == (True, True)
    write = authorize(actor(tenancy, "ana"), "execute_write",
                      {"datasource_id": str(sqlite_source.pk), "sql": "DELETE FROM billing_products"})  # fmt: skip
    assert write.code == "permission_denied"


def test_policy_changes_need_manage_policies(tenancy):
    assert authorize(actor(tenancy, "ana"), "apply_policy", {}).code == "permission_denied"
    assert authorize(actor(tenancy, "adam"), "apply_policy", {}).allowed


def test_hidden_tables_and_columns_are_absent_for_the_model_and_masks_are_marked(tenancy, sqlite_source):
    TableVisibilityPolicy.objects.create(workspace=tenancy.acme, datasource=sqlite_source, name="No payments",
                                         schema_name="main", table_name="billing_payments",
                                         hidden_for_roles=["analyst"])  # fmt: skip
    ColumnMaskPolicy.objects.create(workspace=tenancy.acme, datasource=sqlite_source, name="Hide phones",
                                    schema_name="main", table_name="crm_contacts", column_name="phone",
                                    strategy="hide", exempt_roles=["owner"])  # fmt: skip
    ColumnMaskPolicy.objects.create(workspace=tenancy.acme, datasource=sqlite_source, name="Mask emails",
                                    schema_name="main", table_name="crm_contacts", column_name="email",
                                    strategy="partial")  # fmt: skip
    membership = Membership.objects.get(user=tenancy.ana)
    matches = visible_catalog_search(membership=membership, prompt="payments card")
    assert "billing_payments" not in {m.name for m in matches}
    contacts = visible_catalog_search(membership=membership, prompt="contacts email phone")[0]
    columns = {c.name: c for c in contacts.columns}
    assert "phone" not in columns
    assert columns["email"].masked == "partial"

    assert run(tenancy, "ana", sqlite_source, "SELECT * FROM billing_payments").code == "sql_unknown_table"
    assert run(tenancy, "ana", sqlite_source, "SELECT phone FROM crm_contacts").code == "sql_unknown_column"
    # The owner sees everything.
    assert run(tenancy, "alice", sqlite_source, "SELECT phone FROM crm_contacts").allowed


def test_the_tables_endpoint_shows_the_catalog_as_the_member_sees_it(tenancy, client_for, sqlite_source):
    TableVisibilityPolicy.objects.create(workspace=tenancy.acme, datasource=sqlite_source, name="No payments",
                                         schema_name="main", table_name="billing_payments",
                                         hidden_for_roles=["analyst"])  # fmt: skip
    ColumnMaskPolicy.objects.create(workspace=tenancy.acme, datasource=sqlite_source, name="Mask emails",
                                    schema_name="main", table_name="crm_contacts", column_name="email",
                                    strategy="partial")  # fmt: skip
    body = client_for(tenancy.ana).get(f"/api/v1/datasources/{sqlite_source.pk}/tables/?limit=100").json()
    tables = {t["name"]: t for t in body["results"]}
    assert "billing_payments" not in tables
    assert {c["name"]: c["masked"] for c in tables["crm_contacts"]["columns"]}["email"] == "partial"


def test_a_sensitive_data_scan_only_reads_and_never_waits_for_approval(tenancy, sqlite_source):
    for action in (ApprovalAction.POLICY, ApprovalAction.DATASOURCE):
        ApprovalRule.objects.create(workspace=tenancy.acme, action=action, approver_roles=["owner"])
    decision = authorize(actor(tenancy, "alice"), "scan_sensitive_data", {"datasource_id": str(sqlite_source.pk)})
    assert (decision.allowed, decision.needs_approval) == (True, False)
    denied = authorize(actor(tenancy, "ana"), "scan_sensitive_data", {"datasource_id": str(sqlite_source.pk)})
    assert (denied.allowed, denied.code) == (False, "permission_denied")
