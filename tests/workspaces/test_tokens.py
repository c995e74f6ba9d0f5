"""Bearer JWTs scoped to a workspace for the API: obtain, use, refresh (membership re-read)."""

from __future__ import annotations

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from tests.factories import PASSWORD
from workspaces import services
from workspaces.models import Membership

pytestmark = pytest.mark.django_db


def obtain(api, username, **extra):
    return api.post("/api/v1/auth/token/", {"username": username, "password": PASSWORD, **extra}, format="json")


def test_token_claims_carry_the_workspace_and_roles(api, tenancy):
    response = obtain(api, "ana")
    assert response.status_code == 200
    body = response.json()
    claims = AccessToken(body["access"])
    assert claims["workspace_id"] == str(tenancy.acme.pk)
    assert claims["organization_id"] == str(tenancy.acme.organization_id)
    assert claims["roles"] == ["analyst"]
    assert body["roles"] == ["analyst"]


def test_a_bearer_token_authenticates_the_api(api, tenancy):
    access = obtain(api, "ana").json()["access"]
    response = api.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert response.status_code == 200
    assert response.json()["username"] == "ana"


def test_a_token_for_a_workspace_i_am_not_in_is_refused(api, tenancy):
    response = obtain(api, "bob", workspace_id=str(tenancy.acme.pk))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert "workspace_id" in response.json()["error"]["details"]


def test_wrong_password_is_a_401(api, tenancy):
    response = api.post("/api/v1/auth/token/", {"username": "ana", "password": "nope"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "no_active_account"


def test_refresh_gives_a_new_access_token_with_current_roles(api, tenancy):
    refresh = obtain(api, "ana").json()["refresh"]
    services.membership_set(workspace=tenancy.acme, user=tenancy.ana, role="admin")
    response = api.post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json")
    assert response.status_code == 200
    assert AccessToken(response.json()["access"])["roles"] == ["admin"]


def test_refresh_is_refused_once_the_membership_is_gone(api, tenancy):
    refresh = obtain(api, "vic").json()["refresh"]
    services.membership_remove(membership=Membership.objects.get(user=tenancy.vic))
    response = api.post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "membership_revoked"


def test_a_garbage_refresh_token_is_a_401(api):
    response = api.post("/api/v1/auth/token/refresh/", {"refresh": "garbage"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"
