"""The saved prompts API, through HTTP.

Ana (analyst) keeps prompts in Acme's library. Alice (owner) and Adam (admin) change anyone's;
Vic (viewer) reads and runs saved ones but changes none; Bob (Globex) should have no access to
any of Acme's stuff: every id of Acme's is a 404 for him, never a 403.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from datasources import services as datasource_services
from executions.models import PromptExecution
from prompts.models import Prompt
from prompts.services import prompt_create

pytestmark = pytest.mark.django_db

NOBODY = "00000000-0000-0000-0000-000000000000"


def save(tenancy: Any, author: Any = None, text: str = "Top 10 customers by revenue", **kwargs: Any) -> Prompt:
    return prompt_create(workspace=tenancy.acme, created_by=author or tenancy.ana, prompt_text=text,
                         saved=kwargs.pop("saved", True), **kwargs)  # fmt: skip


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


# --- create ------------------------------------------------------------------------------------


def test_ana_saves_a_prompt_to_the_library(tenancy, client_for, sqlite_source) -> None:
    body = {
        "workspace_id": str(tenancy.acme.pk),
        "title": " Top customers ",
        "prompt_text": "Top 10 customers by revenue",
        "tags": ["sales", "sales", " ", "weekly"],
        "selected_data_source_ids": [str(sqlite_source.pk)],
        "selected_schema_names": ["main"],
        "ai_model_used": "offline",
    }
    response = client_for(tenancy.ana).post("/api/v1/prompts/", body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["title"] == "Top customers"
    assert data["tags"] == ["sales", "weekly"]
    assert data["status"] == "saved"
    assert data["created_by"] == "ana"
    assert data["selected_data_source_ids"] == [str(sqlite_source.pk)]
    prompt = Prompt.objects.get(pk=data["id"])
    assert (prompt.workspace_id, prompt.created_by, prompt.ai_model_used) == (tenancy.acme.pk, tenancy.ana, "offline")


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"prompt_text": "x" * 101}, 400, "prompt_too_long"),
        ({"prompt_text": "   "}, 400, "validation_error"),
        ({"prompt_text": None}, 400, "validation_error"),
        ({"tags": [f"t{i}" for i in range(21)]}, 400, "too_many_tags"),
        ({"tags": ["x" * 65]}, 400, "tag_too_long"),
        ({"title": "x" * 201}, 400, "validation_error"),
        ({"selected_data_source_ids": [NOBODY]}, 400, "unknown_datasource"),
        ({"selected_data_source_ids": ["not-a-uuid"]}, 400, "validation_error"),
        ({"ai_model_used": "gpt-unknown"}, 400, "unknown_model"),
        ({"status": "archived"}, 400, "validation_error"),
        ({"workspace_id": NOBODY}, 404, "not_found"),
        ({"workspace_id": "garbage"}, 400, "validation_error"),
    ],
)
def test_bad_prompts_are_refused_with_a_stable_code(tenancy, client_for, settings, change, status, code) -> None:
    settings.MAX_PROMPT_CHARS = 100
    body = {"workspace_id": str(tenancy.acme.pk), "prompt_text": "How many customers?", **change}
    response = client_for(tenancy.ana).post("/api/v1/prompts/", body, format="json")
    assert (response.status_code, error_code(response)) == (status, code), response.json()
    assert not Prompt.objects.exists()


def test_another_workspaces_data_source_is_unknown(tenancy, client_for, demo_files) -> None:
    theirs = datasource_services.datasource_create(
        workspace=tenancy.globex, name="Globex SQLite", kind="sqlite", settings=demo_files["sqlite"].settings
    )
    body = {"workspace_id": str(tenancy.acme.pk), "prompt_text": "x", "selected_data_source_ids": [str(theirs.pk)]}
    response = client_for(tenancy.alice).post("/api/v1/prompts/", body, format="json")
    assert (response.status_code, error_code(response)) == (400, "unknown_datasource")
    assert response.json()["error"]["details"] == {"selected_data_source_ids": [f"No such data source: {theirs.pk}."]}


def test_bob_cannot_create_in_acme(tenancy, client_for) -> None:
    body = {"workspace_id": str(tenancy.acme.pk), "prompt_text": "x"}
    response = client_for(tenancy.bob).post("/api/v1/prompts/", body, format="json")
    assert (response.status_code, error_code(response)) == (404, "not_found")


def test_malformed_json_is_a_parse_error(tenancy, client_for) -> None:
    prompt = save(tenancy)
    client = client_for(tenancy.ana)
    for method, url in (("post", "/api/v1/prompts/"), ("patch", f"/api/v1/prompts/{prompt.pk}")):
        response = getattr(client, method)(url, data="{not json", content_type="application/json")
        assert (response.status_code, error_code(response)) == (400, "parse_error")


# --- list --------------------------------------------------------------------------------------


def test_the_library_filters_and_pages(tenancy, client_for) -> None:
    old = save(tenancy, title="Churn", text="Churn by month", tags=["retention"])
    Prompt.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    sales = save(tenancy, author=tenancy.alice, title="Revenue", text="Revenue by region", tags=["sales", "weekly"])
    draft = save(tenancy, text="A draft about revenue", saved=False, tags=["sales"])
    client = client_for(tenancy.alice)

    def ids(**params: Any) -> list[str]:
        response = client.get("/api/v1/prompts/", {"workspace_id": str(tenancy.acme.pk), **params})
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [str(draft.pk), str(sales.pk), str(old.pk)]
    assert ids(q="REVENUE") == [str(draft.pk), str(sales.pk)]
    assert ids(tag=["sales", "weekly"]) == [str(sales.pk)]
    assert ids(status="draft") == [str(draft.pk)]
    assert ids(author="ana") == [str(draft.pk), str(old.pk)]
    assert ids(created_before=(timezone.now() - timedelta(days=1)).isoformat()) == [str(old.pk)]
    assert ids(created_after=(timezone.now() - timedelta(days=1)).isoformat()) == [str(draft.pk), str(sales.pk)]
    page = client.get("/api/v1/prompts/", {"limit": 2, "offset": 1}).json()
    assert page["count"] == 3
    assert [row["id"] for row in page["results"]] == [str(sales.pk), str(old.pk)]
    # Vic sees the library, not Ana's draft; Bob sees none of it.
    assert len(client_for(tenancy.vic).get("/api/v1/prompts/").json()["results"]) == 2
    assert client_for(tenancy.bob).get("/api/v1/prompts/").json()["count"] == 0


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"status": "archived"}, "validation_error"),
        ({"created_after": "yesterday"}, "validation_error"),
        ({"workspace_id": "garbage"}, "validation_error"),
    ],
)
def test_bad_filters_are_400(tenancy, client_for, params, code) -> None:
    response = client_for(tenancy.alice).get("/api/v1/prompts/", params)
    assert (response.status_code, error_code(response)) == (400, code)


def test_another_workspace_in_the_filter_is_404(tenancy, client_for) -> None:
    response = client_for(tenancy.bob).get("/api/v1/prompts/", {"workspace_id": str(tenancy.acme.pk)})
    assert (response.status_code, error_code(response)) == (404, "not_found")


# --- read, change, soft delete, restore --------------------------------------------------------


def test_soft_delete_hides_and_restore_brings_back(tenancy, client_for) -> None:
    prompt = save(tenancy)
    ana = client_for(tenancy.ana)
    assert ana.delete(f"/api/v1/prompts/{prompt.pk}").status_code == 204
    prompt.refresh_from_db()
    assert prompt.deleted_at is not None
    assert ana.get(f"/api/v1/prompts/{prompt.pk}").status_code == 404
    assert ana.get("/api/v1/prompts/").json()["count"] == 0
    assert ana.post(f"/api/v1/prompts/{prompt.pk}/run").status_code == 404
    deleted = ana.get("/api/v1/prompts/", {"deleted": "true"}).json()["results"]
    assert [row["id"] for row in deleted] == [str(prompt.pk)]
    assert deleted[0]["deleted_at"] is not None
    # Vic may not restore, so the deleted list is empty for him.
    assert client_for(tenancy.vic).get("/api/v1/prompts/", {"deleted": "true"}).json()["count"] == 0

    response = client_for(tenancy.ana).post(f"/api/v1/prompts/{prompt.pk}/restore")
    assert response.status_code == 200
    assert response.json()["deleted_at"] is None
    assert ana.get("/api/v1/prompts/").json()["count"] == 1


def test_ana_edits_her_prompt(tenancy, client_for) -> None:
    prompt = save(tenancy, title="Old")
    response = client_for(tenancy.ana).patch(
        f"/api/v1/prompts/{prompt.pk}", {"title": "New", "tags": ["a", "b"]}, format="json"
    )
    assert response.status_code == 200
    prompt.refresh_from_db()
    assert (prompt.title, prompt.tags, prompt.prompt_text) == ("New", ["a", "b"], "Top 10 customers by revenue")


def test_a_prompt_taken_back_to_draft_leaves_the_library(tenancy, client_for) -> None:
    prompt = save(tenancy)
    assert client_for(tenancy.vic).get(f"/api/v1/prompts/{prompt.pk}").status_code == 200
    response = client_for(tenancy.ana).patch(f"/api/v1/prompts/{prompt.pk}", {"status": "draft"}, format="json")
    assert response.json()["status"] == "draft"
    assert client_for(tenancy.vic).get(f"/api/v1/prompts/{prompt.pk}").status_code == 404
    client_for(tenancy.ana).patch(f"/api/v1/prompts/{prompt.pk}", {"status": "saved"}, format="json")
    assert client_for(tenancy.vic).get(f"/api/v1/prompts/{prompt.pk}").status_code == 200


def test_an_edit_is_checked_like_a_new_prompt(tenancy, client_for, settings) -> None:
    settings.MAX_PROMPT_CHARS = 10
    prompt = save(tenancy, text="short")
    response = client_for(tenancy.ana).patch(f"/api/v1/prompts/{prompt.pk}", {"prompt_text": "x" * 11},
                                             format="json")  # fmt: skip
    assert (response.status_code, error_code(response)) == (400, "prompt_too_long")
    assert response.json()["error"]["details"] == {
        "prompt_text": ["The prompt is longer than 10 characters."],
        "max_chars": 10,
    }
    prompt.refresh_from_db()
    assert prompt.prompt_text == "short"


@pytest.mark.parametrize("prompt_id", ["garbage", NOBODY, "1"])
def test_unknown_ids_are_404(tenancy, client_for, prompt_id) -> None:
    client = client_for(tenancy.alice)
    for method, suffix in (("get", ""), ("patch", ""), ("delete", ""), ("post", "/restore"), ("post", "/run"),
                           ("get", "/executions")):  # fmt: skip
        response = getattr(client, method)(f"/api/v1/prompts/{prompt_id}{suffix}", {}, format="json")
        assert (response.status_code, error_code(response)) == (404, "not_found"), (method, suffix)


# --- run and history ---------------------------------------------------------------------------


def test_running_a_saved_prompt_creates_a_linked_execution(tenancy, client_for, sqlite_source) -> None:
    prompt = save(tenancy, tags=["sales"], selected_data_source_ids=[sqlite_source.pk],
                  selected_schema_names=["main"], ai_model_used="offline")  # fmt: skip
    response = client_for(tenancy.vic).post(f"/api/v1/prompts/{prompt.pk}/run")
    assert response.status_code == 202, response.json()
    body = response.json()
    execution = PromptExecution.objects.get(pk=body["id"])
    assert body == {
        "id": str(execution.pk),
        "status": "pending",
        "workspace_id": str(tenancy.acme.pk),
        "prompt_id": str(prompt.pk),
        "created_at": body["created_at"],
        "links": {"execution": f"/api/v1/executions/{execution.pk}"},
    }
    assert execution.prompt_id == prompt.pk
    assert execution.user == tenancy.vic
    assert execution.prompt_text == prompt.prompt_text
    assert execution.selected_data_source_ids == [sqlite_source.pk]
    assert (execution.selected_schema_names, execution.ai_model, execution.tags) == (["main"], "offline", ["sales"])
    assert Prompt.objects.count() == 1  # no new prompt: the run is the saved one's


def test_a_prompt_whose_model_is_gone_does_not_run(tenancy, client_for) -> None:
    prompt = save(tenancy)
    Prompt.objects.filter(pk=prompt.pk).update(ai_model_used="retired-model")
    response = client_for(tenancy.ana).post(f"/api/v1/prompts/{prompt.pk}/run")
    assert (response.status_code, error_code(response)) == (400, "unknown_model")
    assert not PromptExecution.objects.exists()


def test_a_prompt_whose_source_is_gone_does_not_run(tenancy, client_for) -> None:
    prompt = save(tenancy, selected_data_source_ids=[uuid.uuid4()])
    response = client_for(tenancy.ana).post(f"/api/v1/prompts/{prompt.pk}/run")
    assert (response.status_code, error_code(response)) == (400, "unknown_datasource")


def test_runs_spend_the_execute_rate_limit(tenancy, client_for, settings) -> None:
    settings.RATE_LIMIT_EXECUTE_PER_USER = 1
    prompt = save(tenancy)
    client = client_for(tenancy.ana)
    first = client.post(f"/api/v1/prompts/{prompt.pk}/run")
    assert first.status_code == 202, (first.content, tenancy.ana.pk)
    response = client.post(f"/api/v1/prompts/{prompt.pk}/run")
    assert (response.status_code, error_code(response)) == (429, "rate_limited")
    assert int(response["Retry-After"]) > 0
    assert PromptExecution.objects.count() == 1


def test_history_shows_the_runs_each_person_may_see(tenancy, client_for) -> None:
    prompt = save(tenancy)
    ana_run = client_for(tenancy.ana).post(f"/api/v1/prompts/{prompt.pk}/run").json()["id"]
    vic_run = client_for(tenancy.vic).post(f"/api/v1/prompts/{prompt.pk}/run").json()["id"]
    PromptExecution.objects.filter(pk=ana_run).update(status="completed", intent_type="DATA_QUERY", rows_returned=10,
                                                      total_duration_ms=1500)  # fmt: skip

    def history(user: Any) -> list[dict[str, Any]]:
        response = client_for(user).get(f"/api/v1/prompts/{prompt.pk}/executions")
        assert response.status_code == 200
        return list(response.json()["results"])

    rows = history(tenancy.alice)
    assert [row["id"] for row in rows] == [vic_run, ana_run]
    assert {k: v for k, v in rows[1].items() if k != "created_at"} == {
        "id": ana_run,
        "status": "completed",
        "intent_type": "DATA_QUERY",
        "rows_returned": 10,
        "total_duration_ms": 1500,
        "user": "ana",
    }
    assert [row["id"] for row in history(tenancy.ana)] == [ana_run]
    assert [row["id"] for row in history(tenancy.vic)] == [vic_run]


# --- who may call what -------------------------------------------------------------------------

ENDPOINTS = ["list", "create", "retrieve", "update", "delete", "restore", "run", "executions", "analytics"]
EXPECTED = {
    #          list create retrieve update delete restore run  executions analytics
    None: [401, 401, 401, 401, 401, 401, 401, 401, 401],
    "bob": [404, 404, 404, 404, 404, 404, 404, 404, 404],
    "vic": [200, 201, 200, 403, 403, 403, 202, 200, 403],
    "ana": [200, 201, 200, 200, 204, 200, 202, 200, 403],
    "adam": [200, 201, 200, 200, 204, 200, 202, 200, 200],
    "alice": [200, 201, 200, 200, 204, 200, 202, 200, 200],
}


def call(client: Any, endpoint: str, tenancy: Any, prompt: Prompt) -> Any:
    workspace = str(tenancy.acme.pk)
    url = f"/api/v1/prompts/{prompt.pk}"
    if endpoint == "restore":
        Prompt.objects.filter(pk=prompt.pk).update(deleted_at=timezone.now())
    return {
        "list": lambda: client.get("/api/v1/prompts/", {"workspace_id": workspace}),
        "create": lambda: client.post(
            "/api/v1/prompts/", {"workspace_id": workspace, "prompt_text": "x"}, format="json"
        ),
        "retrieve": lambda: client.get(url),
        "update": lambda: client.patch(url, {"title": "Renamed"}, format="json"),
        "delete": lambda: client.delete(url),
        "restore": lambda: client.post(f"{url}/restore"),
        "run": lambda: client.post(f"{url}/run"),
        "executions": lambda: client.get(f"{url}/executions"),
        "analytics": lambda: client.get("/api/v1/analytics/", {"workspace_id": workspace}),
    }[endpoint]()


@pytest.mark.parametrize("who", list(EXPECTED))
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_permission_matrix(tenancy, client_for, who, endpoint) -> None:
    prompt = save(tenancy)  # Ana's, saved to the library
    client = client_for(getattr(tenancy, who) if who else None)
    response = call(client, endpoint, tenancy, prompt)
    expected = EXPECTED[who][ENDPOINTS.index(endpoint)]
    assert response.status_code == expected, (who, endpoint, response.content[:300])
    if expected >= 400:
        assert set(response.json()["error"]) == {"code", "message", "details"}


def test_a_run_is_refused_up_front_when_the_model_budget_is_spent(tenancy, client_for, settings) -> None:
    from django.core.cache import cache

    from agent.llm import _budget_key

    settings.MODEL_TOKEN_BUDGET, settings.OPENAI_API_KEY = 1000, "test-key"
    cache.set(_budget_key(tenancy.acme.pk), 1000)
    prompt = save(tenancy)
    Prompt.objects.filter(pk=prompt.pk).update(ai_model_used="")  # the deployment's model, not "offline"
    response = client_for(tenancy.ana).post(f"/api/v1/prompts/{prompt.pk}/run")
    assert (response.status_code, error_code(response)) == (429, "model_budget_exceeded")
    assert not PromptExecution.objects.exists()
    cache.delete(_budget_key(tenancy.acme.pk))
