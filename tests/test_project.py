"""Project-level guarantees: migrations in step with models, the demo, the real ASGI server."""

from __future__ import annotations

import httpx
import pytest
from django.core.management import call_command

from workspaces.demo import DEMO_USERS
from workspaces.models import Membership, Workspace


@pytest.mark.django_db
def test_migrations_are_in_step_with_the_models():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_prints_how_to_sign_in(capsys):
    call_command("seed_demo", "--banner")
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert Workspace.objects.filter(slug="analytics").count() == 1
    roles = dict(Membership.objects.values_list("user__username", "role"))
    assert roles == {user.username: user.role for user in DEMO_USERS}
    for word in ("/api/docs/", "/admin/", "Flower", "admin", "analyst", "viewer"):
        assert word in out


def test_the_asgi_server_serves_pages_api_docs_admin_and_health(live_server_url):
    with httpx.Client(base_url=live_server_url, timeout=10) as http:
        health = http.get("/health")
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok"
        assert http.get("/api/docs/").status_code == 200
        assert http.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js").status_code == 200
        assert http.get("/admin/login/").status_code == 200
        assert http.get("/static/admin/css/base.css").status_code == 200
        studio = http.get("/", follow_redirects=False)
        assert studio.status_code == 302
        assert http.get("/api/v1/me").json()["error"]["code"] == "not_authenticated"


def test_the_asgi_server_refuses_an_oversize_chunked_body_while_it_arrives(live_server_url):
    from django.conf import settings

    def chunks():
        piece = b"x" * 65536
        for _ in range(settings.MAX_REQUEST_BODY_BYTES // len(piece) + 2):
            yield piece

    with httpx.Client(base_url=live_server_url, timeout=10) as http:
        response = http.post("/api/v1/auth/token/", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_the_asgi_server_passes_a_normal_chunked_body_through(live_server_url):
    def chunks():
        yield b'{"username": "nobody",'
        yield b' "password": "wrong-password"}'

    with httpx.Client(base_url=live_server_url, timeout=10) as http:
        response = http.post("/api/v1/auth/token/", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "no_active_account"
