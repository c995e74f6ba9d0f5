"""Workspace analytics: figures computed from real execution and audit rows.

Alice (owner) reads Acme's figures; Ana (analyst) and Vic (viewer) may not; Bob's Globex rows
never count in Acme's figures, and Acme's workspace is a 404 for him.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from executions.models import PromptExecution
from governance.audit import audit_append
from prompts.services import prompt_create

pytestmark = pytest.mark.django_db


def turn(model: str, prompt_tokens: int, completion_tokens: int, cost: float) -> dict[str, Any]:
    return {"turn": 1, "model": model, "provider": "openai", "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens, "cost_usd": cost, "latency_ms": 10.0,
            "fallback_from": []}  # fmt: skip


def execution(workspace: Any, user: Any, prompt: Any = None, **fields: Any) -> PromptExecution:
    return PromptExecution.objects.create(workspace=workspace, user=user, prompt=prompt, prompt_text="q", **fields)


def deny(workspace: Any, user: Any, code: str, policies: list[str], decision: str = "denied") -> None:
    audit_append(workspace=workspace, actor=user, actor_username=user.username, tool="run_query",
                 arguments_hash="0" * 64, decision=decision, code=code, policies_applied=policies)  # fmt: skip


@pytest.fixture
def figures(tenancy: Any) -> dict[str, Any]:
    acme, ana = tenancy.acme, tenancy.ana
    top = prompt_create(workspace=acme, created_by=ana, prompt_text="Top customers by revenue", saved=True,
                        title="Top customers")  # fmt: skip
    other = prompt_create(workspace=acme, created_by=ana, prompt_text="How many orders were placed in May?")
    execution(acme, ana, top, status="completed", intent_type="DATA_QUERY", total_duration_ms=100, rows_returned=10,
              ai_metadata={"turns": [turn("gpt-4o", 100, 10, 0.01), turn("gpt-4o-mini", 50, 5, 0.001)]})  # fmt: skip
    execution(acme, ana, top, status="completed", intent_type="DATA_QUERY", total_duration_ms=200, rows_returned=20,
              ai_metadata={"turns": [turn("gpt-4o", 200, 20, 0.02)]})  # fmt: skip
    execution(acme, tenancy.alice, top, status="failed", intent_type="SCHEMA_EXPLORATION", total_duration_ms=300)
    execution(acme, ana, other, status="completed", intent_type="DATA_QUERY", total_duration_ms=400,
              rows_returned=30, ai_metadata={"turns": "garbage"})  # fmt: skip
    execution(acme, ana, None, status="running")
    old = execution(acme, ana, top, status="completed", intent_type="DATA_QUERY", total_duration_ms=9000,
                    rows_returned=1000)  # fmt: skip
    PromptExecution.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    execution(tenancy.globex, tenancy.bob, None, status="completed", total_duration_ms=5, rows_returned=7,
              ai_metadata={"turns": [turn("gpt-4o", 999, 999, 9.0)]})  # fmt: skip
    deny(acme, ana, "permission_denied", ["EMEA only"])
    deny(acme, ana, "permission_denied", ["EMEA only", "mask email"])
    deny(acme, ana, "sql_function_forbidden", [])
    deny(acme, ana, "ok", ["EMEA only"], decision="allowed")
    deny(tenancy.globex, tenancy.bob, "permission_denied", ["Globex policy"])
    return {"top": top, "other": other}


def test_alice_reads_the_figures_of_the_last_30_days(tenancy, client_for, figures) -> None:
    response = client_for(tenancy.alice).get("/api/v1/analytics/", {"workspace_id": str(tenancy.acme.pk)})
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["executions_total"] == 5
    assert data["by_status"] == {"completed": 3, "failed": 1, "running": 1}
    assert data["by_intent"] == {"DATA_QUERY": 3, "SCHEMA_EXPLORATION": 1, "unclassified": 1}
    # percentile_cont over 100, 200, 300, 400: p50 interpolates to 250, p95 to 300 + 0.85 * 100.
    assert data["duration_ms"] == {"p50": 250.0, "p95": 385.0, "avg": 250.0}
    assert data["rows_returned"] == {"sum": 60, "avg": 20.0}
    assert data["tokens"] == {
        "prompt": 350,
        "completion": 35,
        "cost_usd": 0.031,
        "by_model": [
            {"model": "gpt-4o", "turns": 2, "executions": 2, "prompt_tokens": 300, "completion_tokens": 30,
             "cost_usd": 0.03},
            {"model": "gpt-4o-mini", "turns": 1, "executions": 1, "prompt_tokens": 50, "completion_tokens": 5,
             "cost_usd": 0.001},
        ],
    }  # fmt: skip
    assert data["denials"] == {
        "total": 3,
        "by_code": {"permission_denied": 2, "sql_function_forbidden": 1},
        "by_policy": {"EMEA only": 2, "mask email": 1},
    }
    assert data["top_prompts"] == [
        {"prompt_id": str(figures["top"].pk), "title": "Top customers", "status": "saved", "executions": 3},
        {"prompt_id": str(figures["other"].pk), "title": "How many orders were placed in May?", "status": "draft",
         "executions": 1},
    ]  # fmt: skip


def test_a_longer_period_takes_older_executions_in(tenancy, client_for, figures) -> None:
    data = client_for(tenancy.adam).get("/api/v1/analytics/", {"workspace_id": str(tenancy.acme.pk),
                                                               "period": "90d"}).json()  # fmt: skip
    assert data["executions_total"] == 6
    assert data["rows_returned"] == {"sum": 1060, "avg": 265.0}
    assert data["top_prompts"][0]["executions"] == 4


def test_an_explicit_window(tenancy, client_for, figures) -> None:
    now = timezone.now()
    params = {"workspace_id": str(tenancy.acme.pk), "since": (now - timedelta(days=41)).isoformat(),
              "until": (now - timedelta(days=39)).isoformat()}  # fmt: skip
    data = client_for(tenancy.alice).get("/api/v1/analytics/", params).json()
    assert data["executions_total"] == 1
    assert data["duration_ms"] == {"p50": 9000.0, "p95": 9000.0, "avg": 9000.0}
    assert data["denials"]["total"] == 0
    assert data["tokens"] == {"prompt": 0, "completion": 0, "cost_usd": 0.0, "by_model": []}


def test_an_empty_workspace_has_zero_figures(tenancy, client_for) -> None:
    data = client_for(tenancy.alice).get("/api/v1/analytics/", {"workspace_id": str(tenancy.acme.pk)}).json()
    assert data["executions_total"] == 0
    assert data["duration_ms"] == {"p50": None, "p95": None, "avg": None}
    assert data["rows_returned"] == {"sum": 0, "avg": None}
    assert data["top_prompts"] == []


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({}, 400, "validation_error"),
        ({"workspace_id": "garbage"}, 400, "validation_error"),
        ({"period": "1y"}, 400, "validation_error"),
        ({"since": "not a date"}, 400, "validation_error"),
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, 400, "invalid_range"),
        ({"since": "2020-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, 400, "range_too_long"),
        ({"workspace_id": "00000000-0000-0000-0000-000000000000"}, 404, "not_found"),
    ],
)
def test_bad_parameters_are_refused(tenancy, client_for, params, status, code) -> None:
    if params or status != 400:
        params = {"workspace_id": str(tenancy.acme.pk), **params}
    response = client_for(tenancy.alice).get("/api/v1/analytics/", params)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


@pytest.mark.parametrize(("who", "status"), [("bob", 404), ("vic", 403), ("ana", 403), ("adam", 200),
                                             ("alice", 200)])  # fmt: skip
def test_only_owners_and_admins_read_analytics(tenancy, client_for, who, status) -> None:
    response = client_for(getattr(tenancy, who)).get("/api/v1/analytics/", {"workspace_id": str(tenancy.acme.pk)})
    assert response.status_code == status


def test_anonymous_is_401(api, tenancy) -> None:
    assert api.get("/api/v1/analytics/", {"workspace_id": str(tenancy.acme.pk)}).status_code == 401
