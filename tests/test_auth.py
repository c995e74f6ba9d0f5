"""Sign-in: session login for pages (and for the API, with CSRF). Bearer JWTs scoped to a workspace
are tests/workspaces/test_tokens.py's."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_the_api_accepts_a_session_too(tenancy):
    client = Client()
    client.force_login(tenancy.vic)
    assert client.get("/api/v1/me").json()["username"] == "vic"


def test_session_writes_need_csrf(tenancy):
    client = Client(enforce_csrf_checks=True)
    client.force_login(tenancy.alice)
    response = client.post(
        f"/api/v1/workspaces/{tenancy.acme.pk}/members/",
        {"username": "vic", "role": "viewer"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_the_studio_asks_anonymous_people_to_sign_in():
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_signing_in_leads_to_the_studio_with_my_workspace(tenancy):
    client = Client()
    response = client.post("/accounts/login/", {"username": "ana", "password": PASSWORD}, follow=True)
    assert response.status_code == 200
    assert b"Analytics" in response.content
    assert b"analyst" in response.content


def test_a_wrong_password_shows_a_plain_message():
    response = Client().post("/accounts/login/", {"username": "ana", "password": "nope"})
    assert response.status_code == 200
    assert b"did not match" in response.content


def test_the_workspace_switcher_only_switches_to_my_workspaces(tenancy):
    client = Client()
    client.force_login(tenancy.alice)
    mine = client.post("/workspace/switch", {"workspace_id": str(tenancy.acme.pk)})
    assert mine.status_code == 302
    theirs = client.post("/workspace/switch", {"workspace_id": str(tenancy.globex.pk)})
    assert theirs.status_code == 404
