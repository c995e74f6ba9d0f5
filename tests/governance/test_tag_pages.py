"""The data sources page and the tables API say what is in force on each column and table for the
person looking: tags, the mask and the policy that sets it (and why), the row filters; owners and
admins review tags there."""

from __future__ import annotations

import pytest
from django.test import Client

from governance import services
from governance.classification import ReadClassification, column_tags_store, tag_create
from governance.detect import Detection
from governance.models import AuditEvent, ColumnTag

pytestmark = pytest.mark.django_db

REGION = "{{ column }} = {{ user.region }}"


def client_as(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def governed(tenancy, sqlite_source):
    tag_create(workspace_id=tenancy.acme.pk, name="region")
    found = {
        ("main", "crm_contacts", "email"): (Detection("pii.email", 0.97, "the name 'email'; 100 of 100 values"),),
        ("main", "crm_contacts", "date_of_birth"): (Detection("pii.date_of_birth", 0.8, "the name 'date_of_birth'"),),
        ("main", "crm_contacts", "region"): (Detection("region", 0.8, "the name 'region'"),),
    }
    column_tags_store(datasource=sqlite_source, classification=ReadClassification(found, 1, 0))
    for tag in ColumnTag.objects.filter(tag__in=["pii.email", "region"]):
        tag.state = "confirmed"
        tag.save()
    services.tag_mask_policy_create(workspace=tenancy.acme, tag="pii.email", strategy="partial", name="Partial e-mails")
    services.tag_row_filter_policy_create(workspace=tenancy.acme, tag="region", predicate=REGION, name="Own region")
    return sqlite_source


def contacts_section(page: str) -> str:
    start = page.index("crm_contacts", page.index('class="catalog-table'))
    return page[start : page.index("</section>", start)]


def test_the_page_shows_tags_masks_with_their_policy_and_the_row_filters(tenancy, governed):
    page = client_as(tenancy.ana).get(f"/datasources/{governed.pk}/?q=contacts").content.decode()
    section = contacts_section(page)
    assert 'class="tag confirmed"' in section and ">pii.email<" in section
    assert 'class="tag detected"' in section and ">pii.date_of_birth<" in section
    assert "Tagged pii.email: masked by the tag policy &#x27;Partial e-mails&#x27;." in section
    assert "Detected as pii.date_of_birth and not yet reviewed" in section
    assert "only where <code>&quot;region&quot; = &#x27;EMEA&#x27;</code>" in section
    assert "(Own region (tag region))" in section
    assert "Add a tag" not in section  # analysts do not review


def test_an_owner_confirms_rejects_and_adds_tags_from_the_page(tenancy, governed):
    client = client_as(tenancy.alice)
    page = client.get(f"/datasources/{governed.pk}/?q=contacts").content.decode()
    assert "Add a tag" in contacts_section(page)
    dob = ColumnTag.objects.get(tag="pii.date_of_birth")
    url = f"/datasources/{governed.pk}/column-tags"
    response = client.post(url, {"action": "confirmed", "column_tag": dob.pk, "next": "?q=contacts"})
    assert response.status_code == 302 and response["Location"].endswith(f"?q=contacts#table-{dob.column.table_id}")
    dob.refresh_from_db()
    assert (dob.state, dob.reviewed_by) == ("confirmed", tenancy.alice)

    title = dob.column.table.columns.get(name="title")
    client.post(url, {"action": "add", "column": title.pk, "tag": "pii.person_name"})
    added = ColumnTag.objects.get(column=title)
    assert (added.source, added.state) == ("manual", "confirmed")
    client.post(url, {"action": "remove", "column_tag": added.pk})
    assert not ColumnTag.objects.filter(pk=added.pk).exists()
    assert AuditEvent.objects.filter(tool__startswith="column_tag.", actor=tenancy.alice).count() == 3

    bad = client.post(url, {"action": "add", "column": title.pk, "tag": "pii.nonsense"}, follow=True)
    assert "There is no tag" in bad.content.decode()
    assert not ColumnTag.objects.filter(column=title).exists()


@pytest.mark.parametrize(("persona", "status"), [("ana", 403), ("vic", 403), ("bob", 404), ("adam", 302)])
def test_only_owners_and_admins_decide_on_tags(tenancy, governed, persona, status):
    dob = ColumnTag.objects.get(tag="pii.date_of_birth")
    response = client_as(getattr(tenancy, persona)).post(
        f"/datasources/{governed.pk}/column-tags", {"action": "rejected", "column_tag": dob.pk}
    )
    assert response.status_code == status
    dob.refresh_from_db()
    assert dob.state == ("rejected" if status == 302 else "detected")


def test_the_tables_api_says_the_same(tenancy, client_for, governed):
    body = client_for(tenancy.ana).get(f"/api/v1/datasources/{governed.pk}/tables/", {"limit": 100}).json()
    contacts = next(t for t in body["results"] if t["name"] == "crm_contacts")
    email = next(c for c in contacts["columns"] if c["name"] == "email")
    assert email["masked"] == "partial" and email["mask_policy"] == "Partial e-mails (tag pii.email)"
    assert [t["tag"] for t in email["tags"]] == ["pii.email"] and email["tags"][0]["state"] == "confirmed"
    dob = next(c for c in contacts["columns"] if c["name"] == "date_of_birth")
    assert dob["masked"] == "redact" and "not yet reviewed" in dob["mask_reason"]
    assert contacts["row_filters"] == [{"policy": "Own region (tag region)", "condition": "\"region\" = 'EMEA'"}]
    owner = client_for(tenancy.alice).get(f"/api/v1/datasources/{governed.pk}/tables/", {"limit": 100}).json()
    contacts = next(t for t in owner["results"] if t["name"] == "crm_contacts")
    assert contacts["row_filters"] == [] and not any(c["masked"] for c in contacts["columns"])
