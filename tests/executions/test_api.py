"""The executions API: execute, list, read, respond, approve, reject, cancel, rerun, results.

Alice owns Acme's workspace, Adam administers it, Ana is an EMEA analyst and Vic a viewer there.
Bob owns Globex's workspace and should have no access to any of Acme's executions.

Most tests build the state an execution reaches (a question waiting, a query result) in the
database and go through HTTP; the last ones drive whole executions through the real worker and the
scripted model.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import timedelta
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.utils import timezone

from executions.models import ExecutionStatus, Interaction, PromptExecution, Turn, TurnStatus
from governance.models import AuditEvent, RowFilterPolicy
from tests.executions.conftest import run, wait_status
from tests.fakes.openai_server import reply, tool_call
from workspaces.models import SafetyLevel

RESULT_SQL = "SELECT region, count(*) AS n FROM billing_customers GROUP BY region ORDER BY region"


def _user(tenancy: Any, persona: str) -> Any:
    return None if persona == "anonymous" else getattr(tenancy, persona)


def _execute(api: Any, body: dict[str, Any]) -> Any:
    return api.post("/api/v1/prompts/execute", body, format="json")


def with_result(execution: PromptExecution, datasource: Any, sql: str = RESULT_SQL) -> PromptExecution:
    """The state a completed data question leaves: the query that ran, recorded by its turn."""
    turn = Turn.objects.create(
        execution=execution,
        index=1,
        status=TurnStatus.DONE,
        observations={
            "call_1": {
                "status": "ok",
                "sql": sql,
                "rows_returned": 2,
                "data": {"columns": ["region", "n"], "rows": [], "datasource_id": str(datasource.pk)},
            },
        },
    )
    assert turn.pk
    PromptExecution.objects.filter(pk=execution.pk).update(
        status=ExecutionStatus.COMPLETED,
        generated_query_text=sql,
        query_execution_status="completed",
        rows_returned=2,
        result_columns=["region", "n"],
        completed_at=timezone.now(),
    )
    execution.refresh_from_db()
    return execution


def waiting(execution: PromptExecution, kind: str) -> Interaction:
    """The state ask_user / request_approval leaves: the execution waits for a person."""
    turn = Turn.objects.create(execution=execution, index=1, status=TurnStatus.WAITING)
    PromptExecution.objects.filter(pk=execution.pk).update(status=ExecutionStatus.WAITING_FOR_USER)
    question = kind == Interaction.Kind.QUESTION
    return Interaction.objects.create(
        execution=execution,
        turn=turn,
        tool_call_id=f"call_{uuid.uuid4().hex[:8]}",
        tool="ask_user" if question else "request_approval",
        kind=kind,
        question="Which table?" if question else "Approve: void invoice 1?",
        choices=["a", "b"] if question else [],
        details={} if question else {"action": "void invoice 1"},
    )


# --- the permission matrix ----------------------------------------------------------------------

PERSONAS = ["anonymous", "bob", "vic", "ana", "adam"]
MATRIX = {
    # anonymous, other organisation, viewer, analyst (who asked), admin
    "execute": [401, 404, 202, 202, 202],
    "list": [401, 200, 200, 200, 200],
    "retrieve": [401, 404, 404, 200, 200],
    "respond": [401, 404, 404, 200, 200],
    "approve": [401, 404, 404, 403, 200],  # four eyes: Ana asked, Ana does not approve
    "reject": [401, 404, 404, 403, 200],
    "cancel": [401, 404, 404, 200, 200],
    "rerun": [401, 404, 404, 202, 202],
    "result.csv": [401, 404, 404, 200, 200],
    "result.parquet": [401, 404, 404, 200, 200],
}


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", list(MATRIX))
@pytest.mark.parametrize("persona", PERSONAS)
def test_permission_matrix(tenancy, sqlite_source, client_for, api, endpoint, persona) -> None:
    execution = run(
        tenancy.ana, tenancy.acme, "How many customers per region?", selected_data_source_ids=[sqlite_source.pk]
    )
    base = f"/api/v1/executions/{execution.pk}"
    client = client_for(_user(tenancy, persona))
    if endpoint == "execute":
        response = _execute(
            client,
            {
                "prompt_text": "Count invoices",
                "workspace_id": str(tenancy.acme.pk),
                "selected_data_source_ids": [str(sqlite_source.pk)],
            },
        )
    elif endpoint == "list":
        response = client.get("/api/v1/executions/")
    elif endpoint == "retrieve":
        response = client.get(base)
    elif endpoint == "respond":
        interaction = waiting(execution, Interaction.Kind.QUESTION)
        response = client.post(f"{base}/respond", {"interaction_id": str(interaction.pk), "text": "a"}, format="json")
    elif endpoint in ("approve", "reject"):
        interaction = waiting(execution, Interaction.Kind.APPROVAL)
        response = client.post(f"{base}/{endpoint}", {"interaction_id": str(interaction.pk)}, format="json")
    elif endpoint in ("cancel", "rerun"):
        response = client.post(f"{base}/{endpoint}")
    else:
        with_result(execution, sqlite_source)
        response = client.get(f"{base}/{endpoint}")

    expected = MATRIX[endpoint][PERSONAS.index(persona)]
    assert response.status_code == expected, getattr(response, "content", b"")[:300]
    if expected >= 400:
        code = {401: "not_authenticated", 403: "permission_denied", 404: "not_found"}[expected]
        assert response.json()["error"]["code"] == code
    if endpoint == "list" and persona == "bob":
        assert response.json()["results"] == []  # Bob sees none of Acme's


# --- execute ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_execute_answers_202_with_the_execution_and_its_links(tenancy, sqlite_source, client_for) -> None:
    response = _execute(
        client_for(tenancy.ana),
        {
            "prompt_text": "How many customers per region?",
            "workspace_id": str(tenancy.acme.pk),
            "selected_data_source_ids": [str(sqlite_source.pk)],
            "selected_schema_names": ["main"],
            "save_prompt": True,
            "ai_model": "offline",
            "tags": ["sales"],
            "options": {"temperature": 0.2},
        },
    )

    assert response.status_code == 202, response.content
    body = response.json()
    execution = PromptExecution.objects.get(pk=body["id"])
    assert body["execution_id"] == body["id"] and body["status"] == "pending" and body["phase"] == "queued"
    assert body["workspace_id"] == str(tenancy.acme.pk) and body["prompt_id"] == str(execution.prompt_id)
    assert body["selected_data_source_ids"] == [str(sqlite_source.pk)] and body["tags"] == ["sales"]
    assert body["options"] == {"temperature": 0.2} and body["ai_model"] == "offline"
    assert body["events_url"] == f"/api/v1/executions/{execution.pk}/events"
    assert body["websocket_url"] == f"/ws/executions/{execution.pk}/"
    assert body["open_interactions"] == []
    for field in (
        "progress_percentage",
        "intent_type",
        "confidence",
        "ai_processing_status",
        "query_execution_status",
        "generated_query_text",
        "rows_returned",
        "result_columns",
        "result_preview",
        "final_data",
        "ai_metadata",
        "error_code",
        "error_message",
        "started_at",
        "completed_at",
        "total_duration_ms",
        "created_at",
    ):
        assert field in body
    assert execution.prompt is not None and execution.prompt.status == "saved" and execution.user == tenancy.ana


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"prompt_text": "   "}, 400, "prompt_empty"),
        ({"prompt_text": "x" * 50_000}, 400, "prompt_too_long"),
        ({"ai_model": "no-such-model"}, 400, "unknown_model"),
        ({"workspace_id": "not-a-uuid"}, 400, "validation_error"),
        ({"workspace_id": None}, 400, "validation_error"),
        ({"selected_data_source_ids": ["garbage"]}, 400, "validation_error"),
        ({"selected_data_source_ids": [str(uuid.uuid4())]}, 404, "not_found"),
        ({"options": {"temperature": 9}}, 400, "validation_error"),
        ({"options": "hot"}, 400, "validation_error"),
        ({"tags": "not-a-list"}, 400, "validation_error"),
        ({"workspace_id": str(uuid.uuid4())}, 404, "not_found"),
    ],
)
def test_execute_refuses_bad_requests_with_stable_codes(tenancy, client_for, body, status, code) -> None:
    request = {"prompt_text": "Count invoices", "workspace_id": str(tenancy.acme.pk), **body}
    response = _execute(client_for(tenancy.ana), request)

    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert not PromptExecution.objects.exists()


@pytest.mark.django_db
def test_an_oversize_prompt_says_the_limit(tenancy, client_for, settings) -> None:
    settings.MAX_PROMPT_CHARS = 100
    response = _execute(client_for(tenancy.ana), {"prompt_text": "x" * 101, "workspace_id": str(tenancy.acme.pk)})

    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (400, "prompt_too_long")
    assert "100 characters" in error["message"] and error["details"]["max_chars"] == 100
    assert "prompt_text" in error["details"]


@pytest.mark.django_db
def test_a_data_source_of_another_workspace_is_404(tenancy, client_for, demo_files) -> None:
    from datasources import services as datasource_services

    theirs = datasource_services.datasource_create(
        workspace=tenancy.globex, name="Globex", kind="sqlite", settings=demo_files["sqlite"].settings
    )
    response = _execute(
        client_for(tenancy.ana),
        {"prompt_text": "Count", "workspace_id": str(tenancy.acme.pk), "selected_data_source_ids": [str(theirs.pk)]},
    )
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


@pytest.mark.django_db
def test_malformed_json_is_a_400(tenancy, client_for) -> None:
    response = client_for(tenancy.ana).post(
        "/api/v1/prompts/execute", data='{"prompt_text": ', content_type="application/json"
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "parse_error")


@pytest.mark.django_db
def test_execute_refuses_up_front_when_the_model_budget_is_spent(tenancy, client_for, settings) -> None:
    from django.core.cache import cache

    from agent.llm import _budget_key

    settings.MODEL_TOKEN_BUDGET, settings.OPENAI_API_KEY = 1000, "test-key"
    cache.set(_budget_key(tenancy.acme.pk), 1000)
    body = {"prompt_text": "Count invoices", "workspace_id": str(tenancy.acme.pk)}

    response = _execute(client_for(tenancy.ana), body)

    assert (response.status_code, response.json()["error"]["code"]) == (429, "model_budget_exceeded")
    assert "1,000 model tokens" in response.json()["error"]["message"]
    assert _execute(client_for(tenancy.ana), {**body, "ai_model": "offline"}).status_code == 202


# --- list and read ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_list_filters_and_paginates(tenancy, sqlite_source, client_for) -> None:
    first = run(tenancy.ana, tenancy.acme, "First", selected_data_source_ids=[sqlite_source.pk])
    second = run(tenancy.ana, tenancy.acme, "Second")
    PromptExecution.objects.filter(pk=first.pk).update(
        status=ExecutionStatus.COMPLETED, intent_type="DATA_QUERY", created_at=timezone.now() - timedelta(days=2)
    )
    run(tenancy.bob, tenancy.globex, "Theirs")
    api = client_for(tenancy.ana)

    def ids(**params: Any) -> list[str]:
        response = api.get("/api/v1/executions/", params)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [str(second.pk), str(first.pk)]
    assert ids(status="completed") == ids(intent="data_query") == [str(first.pk)]
    assert ids(datasource_id=str(sqlite_source.pk)) == [str(first.pk)]
    assert ids(created_after=(timezone.now() - timedelta(days=1)).isoformat()) == [str(second.pk)]
    assert ids(created_before=(timezone.now() - timedelta(days=1)).isoformat()) == [str(first.pk)]
    assert ids(workspace_id=str(tenancy.acme.pk)) == [str(second.pk), str(first.pk)]
    page = api.get("/api/v1/executions/", {"limit": 1}).json()
    assert page["count"] == 2 and len(page["results"]) == 1 and page["next"]
    assert api.get("/api/v1/executions/", {"workspace_id": str(tenancy.globex.pk)}).status_code == 404
    for bad in ({"status": "sleeping"}, {"created_after": "yesterday"}, {"workspace_id": "x"}):
        response = api.get("/api/v1/executions/", bad)
        assert (response.status_code, response.json()["error"]["code"]) == (400, "validation_error")


@pytest.mark.django_db
@pytest.mark.parametrize("execution_id", ["not-a-uuid", str(uuid.uuid4()), "1"])
@pytest.mark.parametrize("suffix", ["", "/respond", "/approve", "/reject", "/cancel", "/rerun", "/result.csv"])
def test_unknown_ids_are_404(tenancy, client_for, execution_id, suffix) -> None:
    api = client_for(tenancy.adam)
    url = f"/api/v1/executions/{execution_id}{suffix}"
    body = {"interaction_id": str(uuid.uuid4()), "text": "a"}
    response = api.get(url) if suffix in ("", "/result.csv") else api.post(url, body, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


@pytest.mark.django_db
def test_the_detail_shows_open_interactions(tenancy, client_for) -> None:
    execution = run(tenancy.ana, tenancy.acme, "Which accounts?")
    interaction = waiting(execution, Interaction.Kind.QUESTION)

    body = client_for(tenancy.ana).get(f"/api/v1/executions/{execution.pk}").json()

    assert body["status"] == "waiting_for_user"
    assert body["open_interactions"] == [
        {
            "id": str(interaction.pk),
            "kind": "question",
            "tool": "ask_user",
            "question": "Which table?",
            "choices": ["a", "b"],
            "details": {},
            "status": "open",
            "created_at": body["open_interactions"][0]["created_at"],
        }
    ]


# --- people in the loop -------------------------------------------------------------------------


@pytest.mark.django_db
def test_respond_errors_have_stable_codes(tenancy, client_for) -> None:
    execution = run(tenancy.ana, tenancy.acme, "Which accounts?")
    question = waiting(execution, Interaction.Kind.QUESTION)
    approval = Interaction.objects.create(
        execution=execution,
        turn=question.turn,
        tool_call_id="call_x",
        tool="request_approval",
        kind="approval",
        question="Approve?",
    )
    api = client_for(tenancy.ana)
    url = f"/api/v1/executions/{execution.pk}"

    def post(path: str, body: dict[str, Any]) -> tuple[int, str]:
        response = api.post(f"{url}/{path}", body, format="json")
        return response.status_code, response.json().get("error", {}).get("code", "")

    assert post("respond", {"interaction_id": str(question.pk), "text": "  "}) == (400, "answer_empty")
    assert post("respond", {"interaction_id": "garbage", "text": "a"}) == (400, "validation_error")
    assert post("respond", {"text": "a"}) == (400, "validation_error")
    assert post("respond", {"interaction_id": str(uuid.uuid4()), "text": "a"}) == (404, "not_found")
    assert post("respond", {"interaction_id": str(approval.pk), "text": "a"}) == (400, "not_a_question")
    assert post("approve", {"interaction_id": str(question.pk)}) == (400, "not_an_approval")
    assert post("respond", {"interaction_id": str(question.pk), "text": "b"})[0] == 200
    assert post("respond", {"interaction_id": str(question.pk), "text": "a"}) == (409, "already_answered")
    question.refresh_from_db()
    assert (question.status, question.answer, question.decided_by) == ("answered", "b", tenancy.ana)


@pytest.mark.django_db
def test_an_approval_is_decided_once(tenancy, client_for) -> None:
    execution = run(tenancy.ana, tenancy.acme, "Void invoice 1")
    approval = waiting(execution, Interaction.Kind.APPROVAL)
    url = f"/api/v1/executions/{execution.pk}"
    body = {"interaction_id": str(approval.pk), "comment": "no"}

    rejected = client_for(tenancy.adam).post(f"{url}/reject", body, format="json")
    again = client_for(tenancy.alice).post(f"{url}/approve", body, format="json")

    assert rejected.status_code == 200 and rejected.json()["status"] == "running"
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_answered")
    approval.refresh_from_db()
    assert (approval.status, approval.answer, approval.decided_by) == ("rejected", "no", tenancy.adam)


@pytest.mark.django_db
def test_cancel_then_cancel_again_is_409(tenancy, client_for) -> None:
    execution = run(tenancy.ana, tenancy.acme, "Count invoices")
    api = client_for(tenancy.ana)

    first = api.post(f"/api/v1/executions/{execution.pk}/cancel")
    second = api.post(f"/api/v1/executions/{execution.pk}/cancel")

    assert first.status_code == 200 and first.json()["status"] == "cancelled"
    assert (second.status_code, second.json()["error"]["code"]) == (409, "execution_finished")
    waiting_one = run(tenancy.ana, tenancy.acme, "Count")
    question = waiting(waiting_one, Interaction.Kind.QUESTION)
    api.post(f"/api/v1/executions/{waiting_one.pk}/cancel")
    late = api.post(
        f"/api/v1/executions/{waiting_one.pk}/respond", {"interaction_id": str(question.pk), "text": "a"}, format="json"
    )
    assert (late.status_code, late.json()["error"]["code"]) == (409, "execution_finished")


@pytest.mark.django_db
def test_rerun_is_a_new_execution_of_the_same_request(tenancy, sqlite_source, client_for) -> None:
    original = run(
        tenancy.ana,
        tenancy.acme,
        "Customers per region",
        selected_data_source_ids=[sqlite_source.pk],
        selected_schema_names=["main"],
        tags=["sales"],
        ai_model="offline",
        temperature=0.3,
        save_prompt=True,
    )

    response = client_for(tenancy.ana).post(f"/api/v1/executions/{original.pk}/rerun")

    assert response.status_code == 202, response.content
    rerun = PromptExecution.objects.get(pk=response.json()["id"])
    assert rerun.pk != original.pk and rerun.status == ExecutionStatus.PENDING
    same = (
        "prompt_text",
        "prompt_id",
        "selected_data_source_ids",
        "selected_schema_names",
        "tags",
        "ai_model",
        "options",
        "workspace_id",
    )
    assert {f: getattr(rerun, f) for f in same} == {f: getattr(original, f) for f in same}


# --- results ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_result_downloads_as_csv_and_parquet(tenancy, sqlite_source, client_for, settings) -> None:
    execution = with_result(run(tenancy.ana, tenancy.acme, "Customers per region"), sqlite_source)
    api = client_for(tenancy.ana)

    response = api.get(f"/api/v1/executions/{execution.pk}/result.csv", HTTP_ACCEPT="text/csv")
    parquet = api.get(f"/api/v1/executions/{execution.pk}/result.parquet")

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="execution-{execution.pk}.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["region", "n"] and len(rows) > 2
    assert parquet.status_code == 200 and parquet["Content-Type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(b"".join(parquet.streaming_content)))
    assert table.column_names == ["region", "n"] and table.num_rows == len(rows) - 1
    # Audited as Ana's own governed read; nothing left in the result store.
    audited = AuditEvent.objects.filter(execution_id=execution.pk, tool="run_query", actor=tenancy.ana)
    assert audited.count() == 2
    from pathlib import Path

    assert not list((Path(settings.RESULT_STORE_DIR) / str(tenancy.acme.pk)).glob("*"))


@pytest.mark.django_db
def test_the_result_is_filtered_for_whoever_downloads_it(tenancy, sqlite_source, client_for) -> None:
    """Adam's execution read every region; Ana downloading it (she may view it once granted) gets
    her row filter applied on top."""
    from guardian.shortcuts import assign_perm

    RowFilterPolicy.objects.create(
        workspace=tenancy.acme,
        datasource=sqlite_source,
        name="Own region",
        schema_name="main",
        table_name="billing_customers",
        predicate="region = {{ user.region }}",
        roles=["analyst"],
    )
    execution = with_result(run(tenancy.adam, tenancy.acme, "Customers per region"), sqlite_source)
    assign_perm("executions.view_promptexecution", tenancy.ana, execution)

    adams = client_for(tenancy.adam).get(f"/api/v1/executions/{execution.pk}/result.csv")
    anas = client_for(tenancy.ana).get(f"/api/v1/executions/{execution.pk}/result.csv")

    adam_rows = list(csv.reader(io.StringIO(b"".join(adams.streaming_content).decode())))[1:]
    ana_rows = list(csv.reader(io.StringIO(b"".join(anas.streaming_content).decode())))[1:]
    assert len(adam_rows) > 1 and [row[0] for row in ana_rows] == ["EMEA"]


@pytest.mark.django_db
def test_a_viewer_who_may_not_query_the_source_gets_403(tenancy, sqlite_source, client_for) -> None:
    execution = with_result(run(tenancy.vic, tenancy.acme, "Customers per region"), sqlite_source)
    api = client_for(tenancy.vic)

    assert api.get(f"/api/v1/executions/{execution.pk}").status_code == 200
    response = api.get(f"/api/v1/executions/{execution.pk}/result.csv")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "permission_denied")


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_execution_without_a_query_result_is_409_no_result(tenancy, client_for, fmt) -> None:
    execution = run(tenancy.ana, tenancy.acme, "Hello")
    api = client_for(tenancy.ana)
    response = api.get(f"/api/v1/executions/{execution.pk}/result.{fmt}")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "no_result")
    # Asking for the file's own type still gets the error as JSON.
    as_file = api.get(f"/api/v1/executions/{execution.pk}/result.{fmt}", HTTP_ACCEPT="text/csv")
    assert as_file.status_code == 409 and json.loads(as_file.content)["error"]["code"] == "no_result"


# --- whole executions through the worker --------------------------------------------------------


def classify(intent: str = "DATA_QUERY") -> Any:
    return reply(tool_calls=[tool_call("classify_intent", {"intent": intent, "confidence": 0.9, "reason": "test"})])


def finish(answer: str = "Done.") -> Any:
    return reply(tool_calls=[tool_call("finish", {"answer": answer, "confidence": 0.8})])


@pytest.mark.django_db(transaction=True)
def test_a_question_is_answered_through_the_api_and_the_result_downloaded(
    tenancy, sqlite_source, scripted_model, celery_worker, marker, client_for
) -> None:
    scripted_model.script(
        marker,
        [
            classify(),
            reply(tool_calls=[tool_call("ask_user", {"question": "Per region?", "choices": ["yes", "no"]})]),
            reply(tool_calls=[tool_call("run_query", {"datasource_id": str(sqlite_source.pk), "sql": RESULT_SQL})]),
            finish("Customers per region."),
        ],
    )
    api = client_for(tenancy.ana)
    created = _execute(
        api,
        {
            "prompt_text": f"How many customers? {marker}",
            "workspace_id": str(tenancy.acme.pk),
            "selected_data_source_ids": [str(sqlite_source.pk)],
        },
    )
    assert created.status_code == 202
    execution = wait_status(PromptExecution.objects.get(pk=created.json()["id"]), ExecutionStatus.WAITING_FOR_USER)
    url = f"/api/v1/executions/{execution.pk}"
    [question] = api.get(url).json()["open_interactions"]
    assert (question["question"], question["choices"]) == ("Per region?", ["yes", "no"])

    answered = api.post(f"{url}/respond", {"interaction_id": question["id"], "text": "yes"}, format="json")

    assert answered.status_code == 200 and answered.json()["open_interactions"] == []
    execution = wait_status(execution)
    body = api.get(url).json()
    assert body["status"] == "completed" and body["final_data"]["answer"] == "Customers per region."
    download = api.get(f"{url}/result.csv")
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert rows[0] == body["result_columns"] and len(rows) - 1 == body["rows_returned"]
    assert api.post(f"{url}/cancel").json()["error"]["code"] == "execution_finished"


@pytest.mark.django_db(transaction=True)
def test_an_approval_is_granted_through_the_api_by_an_admin_only(
    tenancy, scripted_model, celery_worker, marker, client_for
) -> None:
    tenancy.acme.safety_level = SafetyLevel.STANDARD
    tenancy.acme.save(update_fields=["safety_level"])
    scripted_model.script(
        marker,
        [
            classify("DATA_WRITE"),
            reply(tool_calls=[tool_call("request_approval", {"action": "void invoice 1"})]),
            finish("Approved and done."),
        ],
    )
    created = _execute(
        client_for(tenancy.ana), {"prompt_text": f"Void invoice 1 {marker}", "workspace_id": str(tenancy.acme.pk)}
    )
    execution = wait_status(PromptExecution.objects.get(pk=created.json()["id"]), ExecutionStatus.WAITING_FOR_USER)
    url = f"/api/v1/executions/{execution.pk}"
    [approval] = client_for(tenancy.ana).get(url).json()["open_interactions"]
    assert approval["kind"] == "approval"

    own = client_for(tenancy.ana).post(f"{url}/approve", {"interaction_id": approval["id"]}, format="json")
    granted = client_for(tenancy.adam).post(
        f"{url}/approve", {"interaction_id": approval["id"], "comment": "ok"}, format="json"
    )

    assert (own.status_code, own.json()["error"]["code"]) == (403, "permission_denied")
    assert granted.status_code == 200
    execution = wait_status(execution)
    assert execution.status == ExecutionStatus.COMPLETED
    assert '"approved": true' in scripted_model.requests(marker)[2]["messages"][-1]["content"]
