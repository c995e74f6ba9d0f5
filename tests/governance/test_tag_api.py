"""The classification API: who may see and decide tags, and clear errors for bad input."""

from __future__ import annotations

import pytest

from datasources.models import CatalogColumn
from governance.classification import ReadClassification, column_tags_store, tag_create
from governance.detect import Detection
from governance.models import AuditEvent, ColumnTag, TableVisibilityPolicy, Tag

pytestmark = pytest.mark.django_db

PERSONAS = ["anonymous", "bob", "vic", "ana", "adam", "alice"]
MATRIX = {
    # anonymous, other organisation, viewer, analyst, admin, owner
    "tags": [401, 404, 200, 200, 200, 200],
    "tag_create": [401, 404, 403, 403, 201, 201],
    "tag_update": [401, 404, 403, 403, 200, 200],
    "tag_delete": [401, 404, 403, 403, 204, 204],
    "column_tags": [401, 404, 200, 200, 200, 200],
    "column_tag_add": [401, 404, 403, 403, 201, 201],
    "column_tag_review": [401, 404, 403, 403, 200, 200],
    "column_tag_remove": [401, 404, 403, 403, 204, 204],
}


@pytest.fixture
def phone_detected(sqlite_source):
    key = ("main", "crm_contacts", "phone")
    found = {key: (Detection("pii.phone", 0.93, "the name 'phone'; 95 of 100 sampled values are phone numbers"),)}
    column_tags_store(datasource=sqlite_source, classification=ReadClassification(found, 1, 0))
    return ColumnTag.objects.get(datasource=sqlite_source)


def _call(api, tenancy, source, endpoint, column_tag):
    tag = Tag.objects.filter(name="cost_centre").first() or tag_create(workspace_id=tenancy.acme.pk, name="cost_centre")
    if endpoint == "tags":
        return api.get("/api/v1/tags/", {"workspace_id": str(tenancy.acme.pk)})
    if endpoint == "tag_create":
        return api.post(
            "/api/v1/tags/",
            {"workspace_id": str(tenancy.acme.pk), "name": "finance.amount", "name_patterns": ["*amount*"]},
            format="json",
        )
    if endpoint == "tag_update":
        return api.patch(f"/api/v1/tags/{tag.pk}", {"description": "Who pays"}, format="json")
    if endpoint == "tag_delete":
        return api.delete(f"/api/v1/tags/{tag.pk}")
    if endpoint == "column_tags":
        return api.get(f"/api/v1/datasources/{source.pk}/column-tags/")
    if endpoint == "column_tag_add":
        return api.post(
            f"/api/v1/datasources/{source.pk}/column-tags/",
            {"table": "crm_contacts", "column": "last_name", "tag": "pii.person_name"},
            format="json",
        )
    if endpoint == "column_tag_review":
        return api.patch(f"/api/v1/column-tags/{column_tag.pk}", {"state": "confirmed"}, format="json")
    return api.delete(f"/api/v1/column-tags/{column_tag.pk}")


@pytest.mark.parametrize("endpoint", list(MATRIX))
@pytest.mark.parametrize("persona", PERSONAS)
def test_permission_matrix(tenancy, client_for, sqlite_source, phone_detected, endpoint, persona):
    user = None if persona == "anonymous" else getattr(tenancy, persona)
    response = _call(client_for(user), tenancy, sqlite_source, endpoint, phone_detected)
    assert response.status_code == MATRIX[endpoint][PERSONAS.index(persona)], response.content


def test_the_tags_list_has_the_builtin_tags_and_the_workspaces_own(tenancy, client_for):
    tag_create(workspace_id=tenancy.acme.pk, name="region", name_patterns=["region"], values=["EMEA", "NA"])
    tag_create(workspace_id=tenancy.globex.pk, name="plant")
    body = client_for(tenancy.ana).get("/api/v1/tags/", {"workspace_id": str(tenancy.acme.pk)}).json()
    names = [t["name"] for t in body]
    assert "pii.email" in names and "pii.iban" in names and "region" in names and "plant" not in names
    region = next(t for t in body if t["name"] == "region")
    assert region["builtin"] is False and region["name_patterns"] == ["region"] and region["values"] == ["EMEA", "NA"]
    assert next(t for t in body if t["name"] == "pii.email")["personal"] is True


def test_reviewing_a_tag_records_who_and_when_and_an_audit_row(tenancy, client_for, phone_detected):
    response = client_for(tenancy.adam).patch(
        f"/api/v1/column-tags/{phone_detected.pk}", {"state": "rejected"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == "rejected" and body["reviewed_by"] == "adam" and body["reviewed_at"]
    assert body["table"] == "crm_contacts" and body["column"] == "phone" and body["confidence"] == 0.93
    assert AuditEvent.objects.filter(tool="column_tag.review", actor=tenancy.adam).exists()


def test_a_person_adds_a_tag_confirmed_at_once(tenancy, client_for, sqlite_source):
    response = client_for(tenancy.alice).post(
        f"/api/v1/datasources/{sqlite_source.pk}/column-tags/",
        {"table": "main.crm_contacts", "column": "title", "tag": "pii.person_name"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["source"] == "manual" and response.json()["state"] == "confirmed"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"table": "crm_contacts", "column": "title", "tag": "pii.nonsense"}, "tag"),
        ({"table": "crm_contacts", "column": "nope", "tag": "pii.email"}, "column"),
        ({"table": "nope", "column": "title", "tag": "pii.email"}, "table"),
        ({"table": "crm_contacts", "column": "title"}, "tag"),
    ],
)
def test_bad_column_tags_are_400_with_the_field_and_store_nothing(tenancy, client_for, sqlite_source, body, field):
    response = client_for(tenancy.alice).post(
        f"/api/v1/datasources/{sqlite_source.pk}/column-tags/", body, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert field in response.json()["error"]["details"]
    assert not ColumnTag.objects.exists()


def test_a_bad_state_or_a_malformed_body_is_a_clear_400(tenancy, client_for, phone_detected):
    api = client_for(tenancy.alice)
    bad = api.patch(f"/api/v1/column-tags/{phone_detected.pk}", {"state": "maybe"}, format="json")
    assert bad.status_code == 400 and "state" in bad.json()["error"]["details"]
    malformed = api.generic(
        "PATCH", f"/api/v1/column-tags/{phone_detected.pk}", "{not json", content_type="application/json"
    )
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "parse_error"
    assert ColumnTag.objects.get(pk=phone_detected.pk).state == "detected"


@pytest.mark.parametrize("tag_id", ["999999", "abc", "-1"])
def test_unknown_ids_are_404(tenancy, client_for, tag_id):
    api = client_for(tenancy.alice)
    assert api.patch(f"/api/v1/column-tags/{tag_id}", {"state": "confirmed"}, format="json").status_code == 404
    assert api.delete(f"/api/v1/tags/{tag_id}").status_code == 404


def test_a_tag_name_that_is_builtin_or_taken_or_malformed_is_refused(tenancy, client_for):
    api = client_for(tenancy.alice)
    for name in ("pii.email", "Has Spaces", "x" * 65):
        response = api.post("/api/v1/tags/", {"workspace_id": str(tenancy.acme.pk), "name": name}, format="json")
        assert response.status_code == 400, name
    tag_create(workspace_id=tenancy.acme.pk, name="region")
    taken = api.post("/api/v1/tags/", {"workspace_id": str(tenancy.acme.pk), "name": "region"}, format="json")
    assert taken.status_code == 400 and "name" in taken.json()["error"]["details"]


def test_tags_of_a_hidden_table_are_not_shown_to_who_may_not_see_it(tenancy, client_for, sqlite_source, phone_detected):
    TableVisibilityPolicy.objects.create(
        workspace=tenancy.acme,
        datasource=sqlite_source,
        name="No contacts",
        schema_name="main",
        table_name="crm_contacts",
        hidden_for_roles=["analyst"],
    )
    ana = client_for(tenancy.ana).get(f"/api/v1/datasources/{sqlite_source.pk}/column-tags/").json()
    assert ana["results"] == []
    alice = client_for(tenancy.alice).get(f"/api/v1/datasources/{sqlite_source.pk}/column-tags/").json()
    assert [t["column"] for t in alice["results"]] == ["phone"]
    column = CatalogColumn.objects.get(table__datasource=sqlite_source, table__name="crm_contacts", name="phone")
    assert column.classification.count() == 1
