"""Bad input gets the uniform error body, the right status, and never a stack trace."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import include, path
from rest_framework_simplejwt.tokens import AccessToken

pytestmark = pytest.mark.django_db


def assert_error_body(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert "Traceback" not in response.content.decode()
    return body


def test_malformed_json_is_a_400_parse_error(tenancy, client_for):
    api = client_for(tenancy.alice)
    response = api.post(
        f"/api/v1/workspaces/{tenancy.acme.pk}/members/", data='{"username": "x",', content_type="application/json"
    )
    assert_error_body(response, 400, "parse_error")


def test_invalid_fields_are_a_400_validation_error_with_field_details(tenancy, client_for):
    api = client_for(tenancy.alice)
    response = api.post(f"/api/v1/workspaces/{tenancy.acme.pk}/members/", {"role": "emperor"}, format="json")
    body = assert_error_body(response, 400, "validation_error")
    assert set(body["error"]["details"]) == {"username", "role"}


def test_unknown_api_route_is_a_json_404(client_for, tenancy):
    response = client_for(tenancy.alice).get("/api/v1/no-such-thing/")
    assert_error_body(response, 404, "not_found")


def test_unknown_page_is_an_html_404_without_trace():
    response = Client().get("/no-such-page")
    assert response.status_code == 404
    assert b"Not found" in response.content
    assert b"Traceback" not in response.content


def test_missing_token_is_a_401_with_bearer_challenge(api):
    response = api.get("/api/v1/me")
    assert_error_body(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_expired_token_is_a_401_token_not_valid(api, tenancy):
    token = AccessToken.for_user(tenancy.alice)
    token.set_exp(lifetime=-timedelta(seconds=1))
    response = api.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_error_body(response, 401, "token_not_valid")


def test_garbage_token_is_a_401_token_not_valid(api):
    response = api.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer not.a.jwt")
    assert_error_body(response, 401, "token_not_valid")


def test_oversize_body_is_a_413_before_the_view_reads_it(api, tenancy, settings):
    settings.MAX_REQUEST_BODY_BYTES = 2048
    api.force_authenticate(tenancy.alice)
    big = '{"username": "' + "x" * 4096 + '"}'
    response = api.post(f"/api/v1/workspaces/{tenancy.acme.pk}/members/", data=big, content_type="application/json")
    body = assert_error_body(response, 413, "request_too_large")
    assert body["error"]["details"] == {"limit_bytes": 2048}


def test_method_not_allowed_is_a_405(client_for, tenancy):
    response = client_for(tenancy.alice).delete("/api/v1/me")
    assert_error_body(response, 405, "method_not_allowed")


def _explode(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("secret internals that must not leak")


urlpatterns = [
    path("api/v1/explode", _explode),
    path("explode", _explode),
    path("", include("config.urls")),
]


@pytest.mark.urls("tests.test_errors")
def test_unhandled_api_error_is_a_500_body_with_request_id_and_no_trace(caplog):
    client = Client(raise_request_exception=False)
    response = client.get("/api/v1/explode", HTTP_X_REQUEST_ID="req-123")
    body = assert_error_body(response, 500, "internal_error")
    assert body["error"]["details"] == {"request_id": "req-123"}
    assert b"secret internals" not in response.content
    # The trace goes to the log, tagged with the request id.
    logged = [r for r in caplog.records if r.name == "config.request"]
    assert logged and logged[0].exc_info is not None and logged[0].request_id == "req-123"


@pytest.mark.urls("tests.test_errors")
def test_unhandled_page_error_is_a_plain_500_page():
    response = Client(raise_request_exception=False).get("/explode")
    assert response.status_code == 500
    assert b"Something went wrong" in response.content
    assert b"secret internals" not in response.content
