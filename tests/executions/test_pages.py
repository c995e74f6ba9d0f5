"""The studio and execution pages, through Django's test client (the browser tests drive them live).

Alice owns Acme's workspace, Adam administers it, Ana is an EMEA analyst and Vic a viewer there.
Bob owns Globex's workspace and should have no access to any of Acme's executions.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client
from guardian.shortcuts import assign_perm

from datasources.models import DataSource
from executions.models import ExecutionStatus, Interaction, PromptExecution, Turn, TurnStatus
from prompts.models import Prompt
from prompts.services import prompt_create
from tests.executions.conftest import run
from tests.factories import make_workspace
from workspaces import services as workspace_services
from workspaces.models import Role

pytestmark = pytest.mark.django_db


def signed_in(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def waiting_for_approval(execution: PromptExecution) -> Interaction:
    """The state a write waiting for its approval leaves (statement and dry-run preview)."""
    turn = Turn.objects.create(execution=execution, index=2, status=TurnStatus.WAITING)
    PromptExecution.objects.filter(pk=execution.pk).update(status=ExecutionStatus.WAITING_FOR_USER)
    return Interaction.objects.create(
        execution=execution,
        turn=turn,
        tool_call_id=f"call_{uuid.uuid4().hex[:8]}",
        tool="execute_write",
        kind=Interaction.Kind.APPROVAL,
        question="Approve this data change (execute_write)?",
        details={"preview": {"statement": "UPDATE invoices SET status = 'void' WHERE id = 1", "rows_affected": 1}},
    )


# --- who may see the pages ------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["studio", "execution"])
def test_anonymous_is_sent_to_sign_in(tenancy: Any, client: Client, page: str) -> None:
    execution = run(tenancy.ana, tenancy.acme, "How many customers?")
    url = "/" if page == "studio" else f"/executions/{execution.pk}/"

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(("persona", "status"), [("bob", 404), ("vic", 404), ("ana", 200), ("adam", 200)])
def test_an_execution_page_is_seen_by_whoever_may_view_the_execution(
    tenancy: Any, client: Client, persona: str, status: int
) -> None:
    execution = run(tenancy.ana, tenancy.acme, "How many customers?")

    response = signed_in(client, getattr(tenancy, persona)).get(f"/executions/{execution.pk}/")

    assert response.status_code == status
    if status == 404:
        assert "How many customers?" not in response.content.decode()


def test_an_unknown_execution_is_a_404(tenancy: Any, client: Client) -> None:
    assert signed_in(client, tenancy.alice).get(f"/executions/{uuid.uuid4()}/").status_code == 404


# --- approve buttons: decided by the server -------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "sees_buttons"),
    [
        ("alice", True),  # owner
        ("adam", False),  # admin, but he asked: four eyes
        ("vic", False),  # viewer, shown the execution
    ],
)
def test_only_an_approver_gets_the_approve_buttons(
    tenancy: Any, client: Client, persona: str, sees_buttons: bool
) -> None:
    execution = run(tenancy.adam, tenancy.acme, "Void invoice 1")
    waiting_for_approval(execution)
    assign_perm("executions.view_promptexecution", tenancy.vic, execution)

    html = signed_in(client, getattr(tenancy, persona)).get(f"/executions/{execution.pk}/").content.decode()

    assert ('id="approval-actions"' in html) is sees_buttons
    assert ('data-decision="approve"' in html) is sees_buttons
    assert f'data-can-approve="{str(sees_buttons).lower()}"' in html


def test_the_execution_page_carries_what_its_script_starts_from(tenancy: Any, client: Client) -> None:
    execution = run(tenancy.ana, tenancy.acme, "How many customers per region?", tags=["sales"])
    PromptExecution.objects.filter(pk=execution.pk).update(
        status=ExecutionStatus.COMPLETED,
        progress_percentage=100,
        phase="done",
        generated_query_text="SELECT region, count(*) AS n FROM customers GROUP BY region",
        result_columns=["region", "n"],
        result_preview=[{"region": "EMEA", "n": 3}, {"region": "NA", "n": 5}],
        rows_returned=2,
        final_data={"answer": "Two regions."},
    )

    response = signed_in(client, tenancy.ana).get(f"/executions/{execution.pk}/")

    html = response.content.decode()
    start = html.index('<script id="execution-state" type="application/json">') + len(
        '<script id="execution-state" type="application/json">'
    )
    state = json.loads(html[start : html.index("</script>", start)])
    assert state["status"] == "completed" and state["answer"] == "Two regions."
    assert state["columns"] == ["region", "n"] and state["rows"] == [["EMEA", 3], ["NA", 5]]
    assert f'data-websocket-path="/ws/executions/{execution.pk}/"' in html
    assert 'value="sales"' in html  # the editor holds the request, ready to run again
    assert "Completed" in html


def test_an_execution_of_another_of_my_workspaces_switches_to_it(tenancy: Any, client: Client) -> None:
    marketing = make_workspace(organization=tenancy.acme.organization, name="Marketing")
    workspace_services.membership_set(workspace=marketing, user=tenancy.ana, role=Role.ANALYST, attributes={})
    execution = run(tenancy.ana, marketing, "Campaigns last month")

    response = signed_in(client, tenancy.ana).get(f"/executions/{execution.pk}/")

    assert response.status_code == 200
    assert response.context["current"].workspace_id == marketing.pk


# --- the studio -----------------------------------------------------------------------------------


def test_the_studio_offers_sources_schemas_models_and_recent_prompts(
    tenancy: Any, client: Client, sqlite_source: DataSource, django_assert_max_num_queries: Any
) -> None:
    run(tenancy.ana, tenancy.acme, "How many invoices?")
    signed_in(client, tenancy.ana)

    with django_assert_max_num_queries(20):
        response = client.get("/")

    html = response.content.decode()
    assert response.status_code == 200
    assert f'value="{sqlite_source.pk}"' in html and "Acme SQLite" in html
    assert 'name="schema" value="main"' in html
    assert '<option value="offline"' in html
    assert "How many invoices?" in html  # a recent prompt
    assert 'id="execution"' not in html


@pytest.mark.parametrize(("persona", "advice"), [("alice", "Connect a database"), ("vic", "Ask an owner")])
def test_a_first_time_user_is_told_what_to_do(tenancy: Any, client: Client, persona: str, advice: str) -> None:
    html = signed_in(client, getattr(tenancy, persona)).get("/").content.decode()

    assert "No data sources yet." in html and advice in html
    assert 'href="/datasources/"' in html
    assert "Ask your first question" in html


def test_running_from_the_studio_starts_an_execution_and_shows_it(
    tenancy: Any, client: Client, sqlite_source: DataSource
) -> None:
    response = signed_in(client, tenancy.ana).post(
        "/",
        {
            "prompt_text": "Top 10 customers by revenue",
            "datasource": [str(sqlite_source.pk)],
            "schema": ["main"],
            "ai_model": "offline",
            "tags": "sales, top, sales",
            "save_prompt": "on",
        },
    )

    execution = PromptExecution.objects.get(prompt_text="Top 10 customers by revenue")
    assert response.status_code == 302 and response["Location"] == f"/executions/{execution.pk}/"
    assert execution.user == tenancy.ana and execution.ai_model == "offline"
    assert execution.selected_data_source_ids == [sqlite_source.pk]
    assert execution.selected_schema_names == ["main"] and execution.tags == ["sales", "top"]
    prompt = execution.prompt
    assert prompt is not None and prompt.status == Prompt.Status.SAVED and prompt.tags == ["sales", "top"]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"prompt_text": "   "}, "Write a question or an instruction."),
        ({"prompt_text": "Hi", "ai_model": "gpt-nonexistent"}, "No model named"),
        ({"prompt_text": "Hi", "datasource": [str(uuid.uuid4())]}, "no longer exists"),
        ({"prompt_text": "Hi", "tags": ",".join(f"t{n}" for n in range(21))}, "at most 20 tags"),
    ],
)
def test_a_refused_run_says_why_and_keeps_the_editor(
    tenancy: Any, client: Client, form: dict[str, Any], message: str
) -> None:
    response = signed_in(client, tenancy.ana).post("/", form)

    html = response.content.decode()
    assert response.status_code == 400
    assert message in html and 'role="alert"' in html
    assert not PromptExecution.objects.exists()


def test_bob_cannot_run_on_acmes_source_from_his_studio(
    tenancy: Any, client: Client, sqlite_source: DataSource
) -> None:
    response = signed_in(client, tenancy.bob).post("/", {"prompt_text": "Hi", "datasource": [str(sqlite_source.pk)]})

    assert response.status_code == 400 and "no longer exists" in response.content.decode()
    assert not PromptExecution.objects.exists()


def test_a_saved_prompt_opens_in_the_editor(tenancy: Any, client: Client, sqlite_source: DataSource) -> None:
    prompt = prompt_create(
        workspace=tenancy.acme,
        created_by=tenancy.alice,
        prompt_text="Revenue by region last quarter",
        saved=True,
        tags=["finance"],
        selected_data_source_ids=[sqlite_source.pk],
    )

    html = signed_in(client, tenancy.ana).get(f"/?prompt={prompt.pk}").content.decode()

    assert "Revenue by region last quarter</textarea>" in html
    assert f'value="{sqlite_source.pk}" checked' in html and 'value="finance"' in html
    bobs = signed_in(client, tenancy.bob).get(f"/?prompt={prompt.pk}").content.decode()
    assert "does not exist, or it is not shared with you" in bobs and "quarter</textarea>" not in bobs
