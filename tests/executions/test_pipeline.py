"""Whole executions, turn by turn, through the real worker and the real `openai` client.

Alice owns Acme's workspace, Adam administers it, Ana is an EMEA analyst; Bob owns Globex's.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied

from executions import services
from executions.models import ExecutionStatus, Interaction, PromptExecution, Turn
from governance.models import RowFilterPolicy
from tests.conftest import wait_for
from tests.executions.conftest import assert_timeline_intact, event_types, run, wait_status
from tests.fakes.openai_server import error, reply, tool_call
from workspaces.models import SafetyLevel

pytestmark = pytest.mark.django_db(transaction=True)


def classify(intent: str = "DATA_QUERY") -> Any:
    return reply(tool_calls=[tool_call("classify_intent", {"intent": intent, "confidence": 0.9, "reason": "test"})])


def finish(answer: str = "Done.") -> Any:
    return reply(tool_calls=[tool_call("finish", {"answer": answer, "confidence": 0.8})])


def query(datasource: Any, sql: str) -> Any:
    return reply(tool_calls=[tool_call("run_query", {"datasource_id": str(datasource.pk), "sql": sql})])


def test_a_data_question_is_answered_in_several_turns(
    tenancy, sqlite_source, scripted_model, celery_worker, marker
) -> None:
    RowFilterPolicy.objects.create(
        workspace=tenancy.acme, datasource=sqlite_source, name="Own region only", schema_name="main",
        table_name="billing_customers", predicate="region = {{ user.region }}", roles=["analyst"],
    )  # fmt: skip
    scripted_model.script(marker, [
        classify(),
        reply(tool_calls=[tool_call("search_catalog", {"query": "customers"})]),
        query(sqlite_source, "SELECT region, count(*) AS n FROM billing_customers GROUP BY region ORDER BY region"),
        finish("Customers per region."),
    ])  # fmt: skip
    execution = run(tenancy.ana, tenancy.acme, f"How many customers per region? {marker}",
                    selected_data_source_ids=[sqlite_source.pk])  # fmt: skip

    execution = wait_status(execution)

    assert execution.status == ExecutionStatus.COMPLETED, (execution.error_code, execution.error_message)
    assert execution.intent_type == "DATA_QUERY"
    assert execution.rows_returned == 1  # Ana's row filter: EMEA only
    assert execution.result_preview is not None and [row["region"] for row in execution.result_preview] == ["EMEA"]
    assert "EMEA" in execution.generated_query_text  # the firewall's rewrite is what ran
    assert (execution.final_data or {})["answer"] == "Customers per region."
    assert execution.progress_percentage == 100 and execution.total_duration_ms is not None
    assert execution.ai_metadata["provider"] == "openai" and len(execution.ai_metadata["turns"]) == 4
    assert list(Turn.objects.filter(execution=execution).values_list("index", flat=True)) == [0, 1, 2, 3, 4]
    # One worker thread carried the execution from turn to turn, claiming each turn once.
    assert len(set(Turn.objects.filter(execution=execution).values_list("lease_owner", "deliveries"))) == 1
    types = event_types(execution)
    assert types[0] == "execution.created" and types[-1] == "execution_complete"
    assert types.count("tool.completed") == 4 and "progress" in types
    assert_timeline_intact(execution)
    # The model saw the classification tool alone first, then the intent's inventory.
    sent = scripted_model.requests(marker)
    assert [t["function"]["name"] for t in sent[0]["tools"]] == ["classify_intent"]
    assert "run_query" in [t["function"]["name"] for t in sent[1]["tools"]]
    assert "billing_customers" in sent[0]["messages"][0]["content"]  # the enrichment context


def test_a_denied_call_is_an_observation_the_model_recovers_from(
    tenancy, sqlite_source, scripted_model, celery_worker, marker
) -> None:
    scripted_model.script(marker, [
        classify(),
        query(sqlite_source, "SELECT pg_sleep(10)"),
        query(sqlite_source, "SELECT count(*) AS n FROM billing_invoices"),
        finish("Counted."),
    ])  # fmt: skip
    execution = wait_status(run(tenancy.ana, tenancy.acme, f"Count invoices {marker}"))

    assert execution.status == ExecutionStatus.COMPLETED
    assert "tool.denied" in event_types(execution)
    denials = [e.payload for e in execution.events.filter(type="tool.denied").order_by("seq")]
    assert len(denials) == 1, denials
    denied = denials[0]
    assert denied["code"] == "sql_forbidden_function" and denied["tool"] == "run_query"
    third_request = scripted_model.requests(marker)[2]["messages"]
    assert "sql_forbidden_function" in third_request[-1]["content"]  # the model was told why
    assert execution.rows_returned == 1


def test_ask_user_pauses_and_the_answer_resumes_exactly_once(
    tenancy, sqlite_source, scripted_model, celery_worker, marker
) -> None:
    scripted_model.script(marker, [
        classify(),
        reply(tool_calls=[tool_call("ask_user", {"question": "Which table?", "choices": ["a", "b"]})]),
        finish("Thanks."),
    ])  # fmt: skip
    execution = wait_status(run(tenancy.ana, tenancy.acme, f"How many accounts {marker}"),
                            ExecutionStatus.WAITING_FOR_USER)  # fmt: skip
    interaction = Interaction.objects.get(execution=execution)
    assert (interaction.question, interaction.choices) == ("Which table?", ["a", "b"])
    assert "user_interaction_required" in event_types(execution)

    with pytest.raises(PermissionDenied):
        services.interaction_answer(user=tenancy.vic, execution=execution, interaction_id=interaction.pk, text="a")
    services.interaction_answer(user=tenancy.ana, execution=execution, interaction_id=interaction.pk, text="b")
    with pytest.raises(services.ExecutionError) as again:
        services.interaction_answer(user=tenancy.ana, execution=execution, interaction_id=interaction.pk, text="a")
    assert again.value.code == "already_answered"

    execution = wait_status(execution)
    assert execution.status == ExecutionStatus.COMPLETED
    observation = scripted_model.requests(marker)[2]["messages"][-1]
    assert observation["role"] == "tool" and '"answer": "b"' in observation["content"]
    with pytest.raises(services.ExecutionError) as late:
        services.interaction_answer(user=tenancy.ana, execution=execution, interaction_id=interaction.pk, text="a")
    assert late.value.code == "execution_finished"
    assert_timeline_intact(execution)


def _count(path: str, sql: str) -> Any:
    with sqlite3.connect(path) as connection:
        return connection.execute(sql).fetchone()[0]


@pytest.mark.parametrize("approve", [True, False])
def test_a_write_waits_for_approval_and_runs_only_when_approved(
    tenancy, scratch_sqlite, scripted_model, celery_worker, marker, approve
) -> None:
    tenancy.acme.safety_level = SafetyLevel.STANDARD
    tenancy.acme.save(update_fields=["safety_level"])
    source = scratch_sqlite()
    path = source.settings["path"]
    before = _count(path, "SELECT count(*) FROM billing_invoices WHERE status = 'void'")
    sql = "UPDATE billing_invoices SET status = 'void' WHERE id = 1"
    scripted_model.script(marker, [
        classify("DATA_WRITE"),
        reply(tool_calls=[tool_call("execute_write", {"datasource_id": str(source.pk), "sql": sql})]),
        finish("Written." if approve else "Not written."),
    ])  # fmt: skip
    execution = wait_status(run(tenancy.adam, tenancy.acme, f"Void invoice 1 {marker}"),
                            ExecutionStatus.WAITING_FOR_USER)  # fmt: skip
    interaction = Interaction.objects.get(execution=execution)
    assert interaction.kind == Interaction.Kind.APPROVAL and "approval_required" in event_types(execution)
    assert interaction.details["preview"]["rows_affected"] == 1
    assert _count(path, "SELECT count(*) FROM billing_invoices WHERE status = 'void'") == before  # dry run only

    with pytest.raises(PermissionDenied):  # four eyes: Adam asked, Adam does not approve
        services.interaction_decide(user=tenancy.adam, execution=execution, interaction_id=interaction.pk, approve=True)
    services.interaction_decide(user=tenancy.alice, execution=execution, interaction_id=interaction.pk,
                                approve=approve, comment="ok" if approve else "no")  # fmt: skip

    execution = wait_status(execution)
    assert execution.status == ExecutionStatus.COMPLETED
    after = _count(path, "SELECT count(*) FROM billing_invoices WHERE status = 'void'")
    assert after == (before + 1 if approve else before)
    last = scripted_model.requests(marker)[2]["messages"][-1]["content"]
    assert ('"rows_affected": 1' in last) if approve else ('"approved": false' in last)


def test_a_rate_limited_model_is_retried_with_backoff(
    tenancy, sqlite_source, scripted_model, celery_worker, marker
) -> None:
    scripted_model.script(marker, [error(429, retry_after=0.3), error(503), classify("GENERAL"), finish("Hi.")])
    execution = wait_status(run(tenancy.ana, tenancy.acme, f"Hello {marker}"))

    assert execution.status == ExecutionStatus.COMPLETED
    retries = list(execution.events.filter(type="model.retrying").order_by("seq").values_list("payload", flat=True))
    assert [r["code"] for r in retries] == ["model_rate_limited", "model_unavailable"]
    assert retries[0]["delay_seconds"] >= 0.3  # Retry-After honoured
    assert retries[1]["delay_seconds"] >= 2.0  # PSA_BACKOFF_COEFF ** 1
    assert Turn.objects.get(execution=execution, index=1).attempts == 2


def test_a_model_that_keeps_failing_fails_the_execution_clearly(
    tenancy, sqlite_source, scripted_model, celery_worker, marker
) -> None:
    scripted_model.script(marker, [error(500)] * 4)
    execution = wait_status(run(tenancy.ana, tenancy.acme, f"Hello {marker}"), timeout=90)

    assert execution.status == ExecutionStatus.FAILED
    assert execution.error_code == "model_unavailable"
    assert "after 4 attempts" in execution.error_message
    assert event_types(execution)[-1] == "execution_failed"
    assert_timeline_intact(execution)


def test_a_permanent_model_error_fails_at_once(tenancy, sqlite_source, scripted_model, celery_worker, marker) -> None:
    scripted_model.script(marker, [error(401)])
    execution = wait_status(run(tenancy.ana, tenancy.acme, f"Hello {marker}"))
    assert (execution.status, execution.error_code) == (ExecutionStatus.FAILED, "model_auth_failed")
    assert not execution.events.filter(type="model.retrying").exists()


def test_the_loop_stops_after_max_turns(tenancy, sqlite_source, scripted_model, celery_worker, marker) -> None:
    from django.conf import settings

    search = reply(tool_calls=[tool_call("search_catalog", {"query": "customers"})])
    scripted_model.script(marker, [classify(), *[search] * 20])
    execution = wait_status(run(tenancy.ana, tenancy.acme, f"Loop forever {marker}"), timeout=90)

    assert (execution.status, execution.error_code) == (ExecutionStatus.FAILED, "max_turns")
    assert len(scripted_model.requests(marker)) == settings.MAX_LOOP_COUNT
    assert event_types(execution)[-1] == "execution_failed"


def test_the_deadline_counts_working_time_only(tenancy, sqlite_source, scripted_model, celery_worker, marker) -> None:
    from django.conf import settings

    scripted_model.script(marker, [classify("GENERAL"), reply(tool_calls=[tool_call("ask_user", {"question": "?"})])])
    execution = wait_status(run(tenancy.ana, tenancy.acme, f"Deadline {marker}"), ExecutionStatus.WAITING_FOR_USER)
    assert execution.working_since is None and execution.working_ms < settings.PSA_TIMEOUT_SECONDS * 1000
    # The clock is outside: the work so far is recorded as having taken the whole allowance.
    PromptExecution.objects.filter(pk=execution.pk).update(working_ms=settings.PSA_TIMEOUT_SECONDS * 1000)
    interaction = Interaction.objects.get(execution=execution)
    services.interaction_answer(user=tenancy.ana, execution=execution, interaction_id=interaction.pk, text="x")

    execution = wait_status(execution)
    assert (execution.status, execution.error_code) == (ExecutionStatus.FAILED, "deadline")


def test_cancel_stops_a_long_query(tenancy, postgres_demo_source, scripted_model, celery_worker, marker) -> None:
    slow = ("SELECT count(*) FROM crm.contacts a CROSS JOIN crm.contacts b CROSS JOIN crm.contacts c "
            "WHERE a.first_name || b.first_name || c.first_name = 'x'")  # fmt: skip
    scripted_model.script(marker, [classify(), query(postgres_demo_source, slow), finish("never")])
    execution = run(tenancy.alice, tenancy.acme, f"Slow {marker}")
    wait_for(lambda: execution.events.filter(type="tool.requested").exists(), timeout=30, what="the query started")

    services.execution_cancel(user=tenancy.alice, execution=execution)

    execution = wait_status(execution, timeout=20)
    assert execution.status == ExecutionStatus.CANCELLED
    assert event_types(execution)[-1] == "execution_cancelled"
    with pytest.raises(services.ExecutionError):
        services.execution_cancel(user=tenancy.alice, execution=execution)


def test_a_question_asked_again_is_classified_from_the_cache(
    tenancy, sqlite_source, scripted_model, celery_worker, marker
) -> None:
    sql = "SELECT count(*) AS n FROM billing_customers"
    # The second run asks the model nothing to classify: its first request is for the query.
    scripted_model.script(marker, [classify(), query(sqlite_source, sql), finish("First."),
                                   query(sqlite_source, sql), finish("Second.")])  # fmt: skip
    prompt = f"How many customers? {marker}"
    first = wait_status(run(tenancy.ana, tenancy.acme, prompt, selected_data_source_ids=[sqlite_source.pk]))
    # Case and spacing do not make another question.
    again = f"  how MANY customers?   {marker}"
    second = wait_status(run(tenancy.ana, tenancy.acme, again, selected_data_source_ids=[sqlite_source.pk]))

    assert (first.status, second.status) == (ExecutionStatus.COMPLETED, ExecutionStatus.COMPLETED)
    assert (second.final_data or {})["answer"] == "Second."
    assert second.intent_type == "DATA_QUERY" and len(scripted_model.requests(marker)) == 5
    classified = Turn.objects.get(execution=second, index=1)
    assert classified.reply is not None and classified.reply["provider"] == "cache"
    assert classified.reply["tool_calls"][0]["name"] == "classify_intent"
    assert "tool.completed" in event_types(second)
    assert_timeline_intact(second)
