"""Faults: a worker killed with SIGKILL mid-turn and right after a write acted, duplicate deliveries,
poison turns. After each, the run completes, every turn exists once, the write happened once, and
the event timeline has no gap and no duplicate."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from agent.models import ToolLedger
from executions import services
from executions.models import ExecutionStatus, Turn, TurnStatus
from executions.tasks import run_turn
from tests.conftest import wait_for
from tests.executions.conftest import assert_timeline_intact, event_types, run, wait_status
from tests.fakes.openai_server import delay, reply, tool_call
from workspaces.models import SafetyLevel

pytestmark = pytest.mark.django_db(transaction=True)


def classify(intent: str = "GENERAL") -> Any:
    return reply(tool_calls=[tool_call("classify_intent", {"intent": intent, "confidence": 0.9, "reason": "test"})])


def finish(answer: str) -> Any:
    return reply(tool_calls=[tool_call("finish", {"answer": answer})])


def swept_until_done(execution: Any, timeout: float = 60) -> Any:
    """Runs the sweeper (as celery beat would) until the execution ends."""

    def done() -> bool:
        services.sweep()
        execution.refresh_from_db()
        return execution.is_terminal

    wait_for(done, timeout=timeout, what="the sweeper resuming the execution", interval=0.5)
    return execution


def test_a_worker_killed_mid_turn_is_replaced_and_the_run_completes(
    tenancy, sqlite_source, scripted_model, worker, celery_worker, marker
) -> None:
    scripted_model.script(marker, [classify(), delay(30, finish("too late")), finish("after the crash")])
    execution = run(tenancy.ana, tenancy.acme, f"Crash me {marker}")
    wait_for(lambda: len(scripted_model.requests(marker)) == 2, timeout=30, what="turn 2 waiting for the model")

    worker.kill()
    worker.start()
    execution = swept_until_done(execution)

    assert execution.status == ExecutionStatus.COMPLETED
    assert execution.final_data["answer"] == "after the crash"
    turns = list(Turn.objects.filter(execution=execution).order_by("index").values_list("index", "deliveries"))
    assert turns == [(0, 1), (1, 1), (2, 2)]
    assert event_types(execution).count("turn.started") == 3
    assert_timeline_intact(execution)


def test_a_worker_killed_right_after_a_write_acted_does_not_write_twice(
    tenancy, scratch_sqlite, postgres_demo_source, scripted_model, worker, celery_worker, marker
) -> None:
    tenancy.acme.safety_level = SafetyLevel.PERMISSIVE  # writes without approval
    tenancy.acme.query_timeout_seconds = 2  # the slow query stops itself; downtime counts as working time
    tenancy.acme.save(update_fields=["safety_level", "query_timeout_seconds"])
    source = scratch_sqlite()
    path = source.settings["path"]

    def amount() -> Any:
        with sqlite3.connect(path) as connection:
            return connection.execute("SELECT total_amount FROM billing_invoices WHERE id = 1").fetchone()[0]

    before = amount()
    increment = "UPDATE billing_invoices SET total_amount = total_amount + 1 WHERE id = 1"
    write = tool_call("execute_write", {"datasource_id": str(source.pk), "sql": increment})
    slow_sql = ("SELECT count(*) FROM crm.contacts a CROSS JOIN crm.contacts b CROSS JOIN crm.contacts c "
                "WHERE a.first_name || b.first_name || c.first_name = 'x'")  # fmt: skip
    slow = tool_call("run_query", {"datasource_id": str(postgres_demo_source.pk), "sql": slow_sql})
    scripted_model.script(marker, [classify("DATA_WRITE"), reply(tool_calls=[write, slow]), finish("written once")])
    execution = run(tenancy.alice, tenancy.acme, f"Add one {marker}")
    wait_for(lambda: ToolLedger.objects.filter(execution_id=execution.pk, status="done").exists(), timeout=30,
             what="the write acting")  # fmt: skip

    worker.kill()
    assert amount() == before + 1
    worker.start()
    execution = swept_until_done(execution)

    assert execution.status == ExecutionStatus.COMPLETED, (execution.error_code, execution.error_message)
    assert amount() == before + 1  # once, not twice
    assert ToolLedger.objects.filter(execution_id=execution.pk).count() == 1
    assert Turn.objects.get(execution=execution, index=2).deliveries == 2
    assert_timeline_intact(execution)


def test_the_same_turn_delivered_twice_at_once_runs_once(
    tenancy, sqlite_source, scripted_model, celery_worker, marker
) -> None:
    scripted_model.script(marker, [delay(3, classify()), finish("once")])
    execution = run(tenancy.ana, tenancy.acme, f"Twice {marker}")
    wait_for(lambda: Turn.objects.filter(execution=execution, index=1, status=TurnStatus.RUNNING).exists(),
             timeout=30, what="turn 1 claimed by the worker")  # fmt: skip

    # A second delivery of the same task, while the first holds the lease: fenced off.
    outcome = services.turn_run(execution_id=execution.pk, index=1, worker="duplicate-delivery")
    run_turn.delay(str(execution.pk), 1)

    assert outcome.ran is False
    execution = wait_status(execution)
    assert execution.status == ExecutionStatus.COMPLETED
    assert len(scripted_model.requests(marker)) == 2  # one model call per turn
    assert Turn.objects.get(execution=execution, index=1).deliveries == 1
    assert_timeline_intact(execution)


def test_a_poison_turn_fails_the_execution_after_bounded_deliveries(
    tenancy, sqlite_source, scripted_model, celery_worker, marker, settings
) -> None:
    scripted_model.script(marker, [classify(), reply(tool_calls=[tool_call("ask_user", {"question": "?"})])])
    execution = wait_status(run(tenancy.ana, tenancy.acme, f"Poison {marker}"), ExecutionStatus.WAITING_FOR_USER)
    # As if the turn had crashed its worker every time it started.
    Turn.objects.filter(execution=execution, index=2).update(status=TurnStatus.PENDING,
                                                              deliveries=settings.TURN_MAX_DELIVERIES)  # fmt: skip
    run_turn.delay(str(execution.pk), 2)

    execution = wait_status(execution)
    assert (execution.status, execution.error_code) == (ExecutionStatus.FAILED, "poison_turn")
    assert event_types(execution)[-1] == "execution_failed"
