"""Tag policies: masks and row filters that follow a tag to every column and table carrying it, the
safe default for personal data nobody has reviewed, and what a person decides surviving a re-read."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from datasources.models import CatalogColumn
from datasources.queries import query_read
from governance import services
from governance.classification import (
    ReadClassification,
    column_tag_add,
    column_tag_remove,
    column_tag_review,
    column_tags_store,
    tag_create,
    tag_delete,
)
from governance.detect import Detection
from governance.gateway import Actor, authorize
from governance.models import AuditEvent, ColumnMaskPolicy, ColumnTag, TagMaskPolicy, TagRowFilterPolicy
from governance.policies import catalog_view
from workspaces.models import Membership

pytestmark = pytest.mark.django_db


def actor(tenancy, name):
    user = getattr(tenancy, name)
    membership = Membership.objects.select_related("workspace", "user").get(user=user, workspace=tenancy.acme)
    return Actor(user=user, workspace=membership.workspace, membership=membership)


def read(tenancy, who, source, sql):
    decision = authorize(actor(tenancy, who), "run_query", {"datasource_id": str(source.pk), "sql": sql})
    assert decision.allowed and decision.sql_after, (decision.code, decision.reason)
    return decision, query_read(datasource=source, sql=decision.sql_after, max_rows=10_000, preview_rows=10_000)


def view(tenancy, who, source):
    return catalog_view(membership=actor(tenancy, who).membership, datasource=source)


def column(source, table, name):
    return CatalogColumn.objects.get(table__datasource=source, table__name=table, name=name)


def detected(source, *found):
    """What a catalog read would store for these (table, column, tag) detections."""
    detections: dict[tuple[str, str, str], tuple[Detection, ...]] = {}
    for table, name, tag in found:
        key = ("main", table, name)
        detections[key] = (*detections.get(key, ()), Detection(tag, 0.9, f"the name {name!r}"))
    column_tags_store(datasource=source, classification=ReadClassification(detections, 0, 0))


@pytest.fixture
def region_tag(tenancy):
    return tag_create(workspace_id=tenancy.acme.pk, name="region", name_patterns=["region"])


@pytest.fixture
def tagged(tenancy, sqlite_source, region_tag):
    """E-mails and regions of customers and contacts tagged by a person (confirmed)."""
    for table in ("billing_customers", "crm_contacts"):
        column_tag_add(column=column(sqlite_source, table, "email"), tag="pii.email", user=tenancy.alice)
        column_tag_add(column=column(sqlite_source, table, "region"), tag="region", user=tenancy.alice)
    column_tag_add(column=column(sqlite_source, "crm_companies", "region"), tag="region", user=tenancy.alice)
    return sqlite_source


def test_a_tag_mask_masks_every_column_carrying_the_tag_for_its_audience(tenancy, tagged):
    services.tag_mask_policy_create(workspace=tenancy.acme, tag="pii.email", strategy="partial", name="Partial e-mails")
    for table in ("billing_customers", "crm_contacts"):
        decision, result = read(tenancy, "ana", tagged, f"SELECT email FROM {table}")
        assert all(value.split("@")[0] == value[0] + "***" for (value,) in result.rows)
        assert decision.policies_applied == ("Partial e-mails (tag pii.email)",)
        _, owner = read(tenancy, "alice", tagged, f"SELECT email FROM {table}")
        assert not any("***" in value for (value,) in owner.rows)


def test_a_tag_row_filter_keeps_the_members_region_on_every_tagged_table(tenancy, tagged):
    services.tag_row_filter_policy_create(
        workspace=tenancy.acme, tag="region", predicate="{{ column }} = {{ user.region }}"
    )
    for table in ("billing_customers", "crm_contacts", "crm_companies"):
        _, result = read(tenancy, "ana", tagged, f"SELECT DISTINCT region FROM {table}")
        assert [row[0] for row in result.rows] == ["EMEA"], table
        _, owner = read(tenancy, "alice", tagged, f"SELECT DISTINCT region FROM {table}")
        assert len(owner.rows) == 4
    # An untagged region column (accounts) is not filtered: the tag is what the policy follows.
    _, accounts = read(tenancy, "ana", tagged, "SELECT DISTINCT region FROM billing_accounts")
    assert len(accounts.rows) == 4


def test_a_table_condition_limits_a_tag_filter_to_tables_holding_personal_data(tenancy, tagged):
    services.tag_row_filter_policy_create(
        workspace=tenancy.acme, tag="region", predicate="{{ column }} = {{ user.region }}", table_tags=["pii.*"]
    )
    _, contacts = read(tenancy, "ana", tagged, "SELECT DISTINCT region FROM crm_contacts")
    assert [row[0] for row in contacts.rows] == ["EMEA"]
    _, companies = read(tenancy, "ana", tagged, "SELECT DISTINCT region FROM crm_companies")
    assert len(companies.rows) == 4  # tagged region, but no personal data in the table


def test_a_missing_attribute_shows_no_rows_and_says_why(tenancy, tagged):
    services.tag_row_filter_policy_create(
        workspace=tenancy.acme, tag="region", predicate="{{ column }} = {{ user.territory }}", name="By territory"
    )
    decision, result = read(tenancy, "ana", tagged, "SELECT count(*) FROM crm_contacts")
    assert result.rows == ((0,),)
    assert len(decision.notices) == 1
    assert "'territory'" in decision.notices[0] and "By territory (tag region)" in decision.notices[0]


def test_several_columns_with_the_tag_must_all_hold(tenancy, tagged):
    column_tag_add(column=column(tagged, "crm_contacts", "department"), tag="region", user=tenancy.alice)
    services.tag_row_filter_policy_create(
        workspace=tenancy.acme, tag="region", predicate="{{ column }} = {{ user.region }}"
    )
    _, result = read(tenancy, "ana", tagged, "SELECT count(*) FROM crm_contacts")
    assert result.rows == ((0,),)  # no department is called EMEA: fail closed, never all rows


def test_the_strictest_tag_mask_wins_and_a_table_policy_is_the_exception(tenancy, tagged):
    services.tag_mask_policy_create(workspace=tenancy.acme, tag="pii.email", strategy="partial", name="Partial")
    services.tag_mask_policy_create(
        workspace=tenancy.acme, tag="pii.email", strategy="null", roles=["analyst"], name="Nothing for analysts"
    )
    _, contacts = read(tenancy, "ana", tagged, "SELECT email FROM crm_contacts")
    assert {value for (value,) in contacts.rows} == {None}
    assert view(tenancy, "vic", tagged).column_state("main", "crm_contacts", "email") == "partial"
    services.column_mask_policy_create(
        workspace=tenancy.acme,
        datasource=tagged,
        schema_name="main",
        table_name="billing_customers",
        column_name="email",
        strategy="hash",
    )
    decision, customers = read(tenancy, "ana", tagged, "SELECT email FROM billing_customers LIMIT 5")
    assert all(value == "***" for (value,) in customers.rows)  # SQLite hashes as redaction
    assert decision.policies_applied == ("Mask email in main.billing_customers (hash)",)


def test_a_hide_tag_mask_removes_the_column(tenancy, tagged):
    services.tag_mask_policy_create(workspace=tenancy.acme, tag="pii.email", strategy="hide")
    decision = authorize(
        actor(tenancy, "ana"), "run_query", {"datasource_id": str(tagged.pk), "sql": "SELECT email FROM crm_contacts"}
    )
    assert not decision.allowed and decision.code == "sql_unknown_column"
    _, star = read(tenancy, "ana", tagged, "SELECT * FROM crm_contacts LIMIT 1")
    assert "email" not in star.columns


def test_unreviewed_personal_data_is_masked_below_admin_until_reviewed(tenancy, sqlite_source):
    detected(sqlite_source, ("crm_contacts", "phone", "pii.phone"))
    decision, result = read(tenancy, "ana", sqlite_source, "SELECT phone FROM crm_contacts LIMIT 3")
    assert all(value == "***" for (value,) in result.rows)
    assert decision.policies_applied == ("Unreviewed personal data (tag pii.phone)",)
    rule = view(tenancy, "vic", sqlite_source).column_rule("main", "crm_contacts", "phone")
    assert rule is not None and rule.strategy == "redact" and "not yet reviewed" in rule.reason
    assert view(tenancy, "adam", sqlite_source).column_state("main", "crm_contacts", "phone") == ""
    for who in ("alice", "adam"):
        _, result = read(tenancy, who, sqlite_source, "SELECT phone FROM crm_contacts WHERE phone IS NOT NULL LIMIT 3")
        assert not any(value == "***" for (value,) in result.rows)

    phone = ColumnTag.objects.get(datasource=sqlite_source, tag="pii.phone")
    column_tag_review(column_tag=phone, state="confirmed", user=tenancy.alice)
    _, confirmed = read(tenancy, "ana", sqlite_source, "SELECT phone FROM crm_contacts WHERE phone IS NOT NULL LIMIT 3")
    assert not any(value == "***" for (value,) in confirmed.rows)  # reviewed, and no policy masks phones


def test_a_rejected_tag_applies_to_nothing(tenancy, sqlite_source):
    detected(sqlite_source, ("crm_contacts", "phone", "pii.phone"))
    services.tag_mask_policy_create(workspace=tenancy.acme, tag="pii.phone", strategy="redact")
    column_tag_review(column_tag=ColumnTag.objects.get(datasource=sqlite_source), state="rejected", user=tenancy.adam)
    decision, result = read(
        tenancy, "ana", sqlite_source, "SELECT phone FROM crm_contacts WHERE phone IS NOT NULL LIMIT 3"
    )
    assert not any(value == "***" for (value,) in result.rows)
    assert decision.policies_applied == ()


def test_a_re_read_never_undoes_a_persons_decision(tenancy, sqlite_source):
    detected(
        sqlite_source,
        ("crm_contacts", "phone", "pii.phone"),
        ("crm_contacts", "email", "pii.email"),
        ("crm_contacts", "title", "pii.person_name"),
    )
    tags = {t.tag: t for t in ColumnTag.objects.filter(datasource=sqlite_source)}
    column_tag_review(column_tag=tags["pii.phone"], state="confirmed", user=tenancy.alice)
    column_tag_review(column_tag=tags["pii.person_name"], state="rejected", user=tenancy.alice)
    column_tag_add(column=column(sqlite_source, "crm_contacts", "last_name"), tag="pii.person_name", user=tenancy.adam)

    # The next read sees the phone and the title again, no longer the e-mail, and nothing of last_name.
    detected(sqlite_source, ("crm_contacts", "phone", "pii.phone"), ("crm_contacts", "title", "pii.person_name"))
    after = {
        (t.column.name, t.tag): t for t in ColumnTag.objects.filter(datasource=sqlite_source).select_related("column")
    }
    assert after[("phone", "pii.phone")].state == "confirmed"
    assert after[("phone", "pii.phone")].reviewed_by == tenancy.alice
    assert after[("title", "pii.person_name")].state == "rejected"
    assert after[("last_name", "pii.person_name")].source == "manual"
    assert ("email", "pii.email") not in after  # an unreviewed detection the read no longer makes goes


def test_removing_a_detected_tag_rejects_it_and_a_manual_one_goes(tenancy, sqlite_source):
    detected(sqlite_source, ("crm_contacts", "phone", "pii.phone"))
    column_tag_remove(column_tag=ColumnTag.objects.get(datasource=sqlite_source), user=tenancy.alice)
    assert ColumnTag.objects.get(datasource=sqlite_source).state == "rejected"
    manual = column_tag_add(
        column=column(sqlite_source, "crm_contacts", "title"), tag="pii.person_name", user=tenancy.alice
    )
    column_tag_remove(column_tag=manual, user=tenancy.alice)
    assert not ColumnTag.objects.filter(pk=manual.pk).exists()
    assert AuditEvent.objects.filter(workspace=tenancy.acme, tool__startswith="column_tag.").count() == 3


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"tag": "pii.nonsense", "strategy": "redact"}, "tag"),
        ({"tag": "Not A Tag", "strategy": "redact"}, "tag"),
        ({"tag": "pii.email", "strategy": "scramble"}, "strategy"),
        ({"tag": "pii.email", "strategy": "redact", "table_tags": ["nothing.*"]}, "table_tags"),
        ({"tag": "pii.email", "strategy": "redact", "roles": ["superhero"]}, "roles"),
    ],
)
def test_a_bad_tag_mask_is_refused_at_save_and_nothing_is_stored(tenancy, kwargs, field):
    with pytest.raises(ValidationError) as error:
        services.tag_mask_policy_create(workspace=tenancy.acme, **kwargs)
    assert field in error.value.message_dict
    assert not TagMaskPolicy.objects.exists()


@pytest.mark.parametrize(
    ("predicate", "words"),
    [
        ("{{ column }} = ", "not valid SQL"),
        ("region = {{ user.region }}", "condition on the tagged column"),
        ("{{ column }} = {{ user.region }} OR department = 'sales'", "not department"),
        ("{{ column }} IN (SELECT 1)", "subqueries"),
        ("{{ table }} = 1", "placeholders"),
        ("", "condition"),
    ],
)
def test_a_bad_tag_row_filter_is_refused_at_save_with_the_reason(tenancy, region_tag, predicate, words):
    with pytest.raises(ValidationError) as error:
        services.tag_row_filter_policy_create(workspace=tenancy.acme, tag="region", predicate=predicate)
    assert words in " ".join(error.value.message_dict["predicate"])
    assert not TagRowFilterPolicy.objects.exists()


def test_a_tag_a_policy_uses_cannot_be_deleted(tenancy, region_tag):
    services.tag_row_filter_policy_create(
        workspace=tenancy.acme, tag="region", predicate="{{ column }} = 'EMEA'", name="EMEA"
    )
    with pytest.raises(ValidationError, match="EMEA"):
        tag_delete(tag=region_tag)
    TagRowFilterPolicy.objects.all().delete()
    tag_delete(tag=region_tag)


def test_tags_of_another_workspace_are_unknown_here(tenancy):
    tag_create(workspace_id=tenancy.globex.pk, name="cost_centre")
    with pytest.raises(ValidationError):
        services.tag_mask_policy_create(workspace=tenancy.acme, tag="cost_centre", strategy="redact")


def test_the_audit_row_names_the_tag_policy_that_acted(tenancy, tagged):
    services.tag_mask_policy_create(workspace=tenancy.acme, tag="pii.email", strategy="partial", name="Partial e-mails")
    services.tag_row_filter_policy_create(
        workspace=tenancy.acme, tag="region", predicate="{{ column }} = {{ user.region }}", name="Own region"
    )
    decision, _ = read(tenancy, "ana", tagged, "SELECT email FROM crm_contacts")
    event = AuditEvent.objects.get(pk=decision.audit_id)
    assert set(event.policies_applied) == {"Partial e-mails (tag pii.email)", "Own region (tag region)"}
    assert not ColumnMaskPolicy.objects.exists()


def test_the_workspace_setting_turns_the_safe_default_off(tenancy, sqlite_source):
    detected(sqlite_source, ("crm_contacts", "phone", "pii.phone"))
    tenancy.acme.mask_unreviewed_personal_data = False
    tenancy.acme.save(update_fields=["mask_unreviewed_personal_data"])
    decision, result = read(tenancy, "ana", sqlite_source, "SELECT phone FROM crm_contacts WHERE phone IS NOT NULL")
    assert not any(value == "***" for (value,) in result.rows)
    assert decision.policies_applied == ()


def test_a_workspace_tag_marked_personal_is_masked_by_default_too(tenancy, sqlite_source):
    tag_create(workspace_id=tenancy.acme.pk, name="hr.salary_band", personal=True)
    tag_create(workspace_id=tenancy.acme.pk, name="sales.segment")
    detected(
        sqlite_source, ("billing_customers", "segment", "hr.salary_band"), ("crm_contacts", "title", "sales.segment")
    )
    _, bands = read(tenancy, "ana", sqlite_source, "SELECT segment FROM billing_customers LIMIT 3")
    assert {value for (value,) in bands.rows} == {"***"}
    _, titles = read(tenancy, "ana", sqlite_source, "SELECT title FROM crm_contacts LIMIT 3")
    assert "***" not in {value for (value,) in titles.rows}
