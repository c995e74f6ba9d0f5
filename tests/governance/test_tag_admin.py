"""Tags and tag policies in the admin: the same services (and checks, and audit rows) as the API."""

from __future__ import annotations

import pytest
from django.test import Client

from governance.classification import ReadClassification, column_tags_store
from governance.detect import Detection
from governance.models import AuditEvent, ColumnTag, Tag, TagMaskPolicy, TagRowFilterPolicy
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(tenancy):
    client = Client()
    client.force_login(make_user("root-admin", staff=True))
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/governance/tag/",
        "/admin/governance/tag/add/",
        "/admin/governance/columntag/",
        "/admin/governance/tagmaskpolicy/",
        "/admin/governance/tagmaskpolicy/add/",
        "/admin/governance/tagrowfilterpolicy/",
        "/admin/governance/tagrowfilterpolicy/add/",
        "/admin/governance/tagmaskpolicy/preview/",
    ],
)
def test_the_classification_pages_render(admin_client, url):
    assert admin_client.get(url).status_code == 200


def test_a_tag_mask_policy_naming_an_unknown_tag_is_refused_with_the_reason(admin_client, tenancy):
    response = admin_client.post(
        "/admin/governance/tagmaskpolicy/add/",
        {"workspace": str(tenancy.acme.pk), "name": "Bad", "tag": "pii.nothing", "strategy": "redact",
         "table_tags": "", "roles": "", "exempt_roles": "owner,admin", "enabled": "on"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "There is no tag" in response.content.decode()
    assert not TagMaskPolicy.objects.exists()


def test_a_tag_row_filter_is_checked_like_the_service_does(admin_client, tenancy):
    Tag.objects.create(workspace=tenancy.acme, name="region")
    fields = {"workspace": str(tenancy.acme.pk), "name": "Own region", "tag": "region", "table_tags": "pii.*",
              "roles": "analyst,viewer", "exempt_roles": "", "enabled": "on"}  # fmt: skip
    bad = admin_client.post("/admin/governance/tagrowfilterpolicy/add/", {**fields, "predicate": "region = 'EMEA'"})
    assert "condition on the tagged column" in bad.content.decode()
    good = admin_client.post(
        "/admin/governance/tagrowfilterpolicy/add/", {**fields, "predicate": "{{ column }} = {{ user.region }}"}
    )
    assert good.status_code == 302, good.content.decode()[:3000]
    assert TagRowFilterPolicy.objects.get().table_tags == ["pii.*"]


def test_the_confirm_action_reviews_the_selected_tags_as_the_admin_user(admin_client, tenancy, sqlite_source):
    found = {("main", "crm_contacts", "phone"): (Detection("pii.phone", 0.9, "the name 'phone'"),)}
    column_tags_store(datasource=sqlite_source, classification=ReadClassification(found, 0, 0))
    tag = ColumnTag.objects.get()
    response = admin_client.post(
        "/admin/governance/columntag/", {"action": "confirm", "_selected_action": [tag.pk]}, follow=True
    )
    assert response.status_code == 200
    tag.refresh_from_db()
    assert tag.state == "confirmed"
    assert tag.reviewed_by is not None and tag.reviewed_by.username == "root-admin"
    assert AuditEvent.objects.filter(tool="column_tag.review").count() == 1
