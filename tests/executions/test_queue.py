"""The queue in front of the workers: queued executions say where they stand, admission control
refuses what could not start in time (503 overloaded, Retry-After), and the work clock counts the
agent's own time, never the time a turn waits in the queue.

No worker here: the database tests do not commit, so the turns these executions enqueue on commit
are never sent, and the tests run turns themselves (with the built-in model) where they need to."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from executions import services
from executions.models import ExecutionStatus, PromptExecution, Turn
from executions.services.queue import admission_check, queue_position

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate() -> None:
    cache.delete("queue:start-rate")


def create(tenancy: Any, text: str = "How many customers do we have?") -> PromptExecution:
    request = services.ExecuteRequest(prompt_text=text, workspace_id=tenancy.acme.pk, ai_model="offline")
    return services.execution_create(user=tenancy.ana, request=request)


def test_a_queued_execution_says_where_it_stands_and_when_it_should_start(tenancy, client_for, settings):
    settings.QUEUE_START_RATE_FLOOR = 2.0
    first, second, third = (create(tenancy) for _ in range(3))
    client = client_for(tenancy.ana)

    positions = [client.get(f"/api/v1/executions/{e.pk}").json()["queue"] for e in (first, second, third)]
    assert positions == [
        {"position": 1, "expected_start_seconds": 1},
        {"position": 2, "expected_start_seconds": 1},
        {"position": 3, "expected_start_seconds": 2},
    ]
    assert client.get(f"/api/v1/executions/{third.pk}").json()["status"] == "pending"

    PromptExecution.objects.filter(pk=first.pk).update(status=ExecutionStatus.RUNNING, started_at=timezone.now())
    assert client.get(f"/api/v1/executions/{first.pk}").json()["queue"] is None
    assert client.get(f"/api/v1/executions/{third.pk}").json()["queue"]["position"] == 2


def test_the_execution_page_shows_the_queue(tenancy, client, settings):
    settings.QUEUE_START_RATE_FLOOR = 1.0
    create(tenancy)
    second = create(tenancy)
    client.force_login(tenancy.ana)
    page = client.get(f"/executions/{second.pk}/").content.decode()
    assert "Number 2 in the queue; it should start in about 2 s." in page
    assert "Queued" in page


def test_the_start_rate_is_measured_from_recent_starts(tenancy, settings):
    settings.QUEUE_START_RATE_FLOOR = 0.1
    settings.QUEUE_RATE_WINDOW_SECONDS = 10
    started = [create(tenancy) for _ in range(20)]
    PromptExecution.objects.filter(pk__in=[e.pk for e in started]).update(
        status=ExecutionStatus.RUNNING, started_at=timezone.now() - timedelta(seconds=5)
    )
    waiting = create(tenancy)
    assert queue_position(waiting) == {"position": 1, "expected_start_seconds": 1}  # 20 starts in 10 s: 2 a second


def test_execute_refuses_work_that_could_not_start_in_time_and_keeps_what_it_accepted(tenancy, client_for, settings):
    settings.QUEUE_MAX_WAIT_SECONDS = 2
    settings.QUEUE_START_RATE_FLOOR = 1.0
    client = client_for(tenancy.ana)
    body = {"prompt_text": "How many customers do we have?", "workspace_id": str(tenancy.acme.pk)}

    accepted = [client.post("/api/v1/prompts/execute", body, format="json") for _ in range(2)]
    assert [r.status_code for r in accepted] == [202, 202]
    refused = client.post("/api/v1/prompts/execute", body, format="json")

    assert refused.status_code == 503
    error = refused.json()["error"]
    assert error["code"] == "overloaded"
    assert "2 executions are waiting" in error["message"]
    assert int(refused["Retry-After"]) == error["details"]["retry_after_seconds"] == 1
    # Nothing started for the refused request; what was accepted is still queued.
    assert PromptExecution.objects.filter(workspace=tenancy.acme).count() == 2
    assert set(PromptExecution.objects.values_list("status", flat=True)) == {ExecutionStatus.PENDING}


def test_admission_control_can_be_turned_off(tenancy, settings):
    settings.QUEUE_MAX_WAIT_SECONDS = 0
    settings.QUEUE_START_RATE_FLOOR = 0.001
    for _ in range(3):
        create(tenancy)
    admission_check()  # never raises


def run_turns(execution: PromptExecution, *, before_each: Any = None) -> PromptExecution:
    """Runs the execution's turns in this process, in order, as the worker would."""
    for index in range(20):
        execution.refresh_from_db()
        if execution.is_terminal:
            return execution
        if before_each is not None:
            before_each(execution)
        outcome = services.turn_run(execution_id=execution.pk, index=index, worker="test-worker")
        assert outcome.ran, outcome
    raise AssertionError("the execution did not end within 20 turns")


def test_time_in_the_queue_does_not_count_against_the_work_ceiling(tenancy, sqlite_source, settings):
    settings.PSA_TIMEOUT_SECONDS = 30
    execution = create(tenancy)

    def waited_in_the_queue(current: PromptExecution) -> None:
        # Ten minutes pass between each turn's enqueue and its claim, far more than the 30 s ceiling:
        # every time the execution holds moves ten minutes back.
        ago = timedelta(minutes=10)
        PromptExecution.objects.filter(pk=current.pk).update(
            created_at=F("created_at") - ago, started_at=F("started_at") - ago, working_since=F("working_since") - ago
        )
        Turn.objects.filter(execution=current).update(created_at=F("created_at") - ago)

    execution = run_turns(execution, before_each=waited_in_the_queue)
    assert execution.status == ExecutionStatus.COMPLETED, (execution.error_code, execution.error_message)
    assert execution.working_ms < settings.PSA_TIMEOUT_SECONDS * 1000


def test_work_beyond_the_ceiling_still_ends_the_execution(tenancy, sqlite_source, settings):
    settings.PSA_TIMEOUT_SECONDS = 30
    execution = create(tenancy)
    services.turn_run(execution_id=execution.pk, index=0, worker="test-worker")
    PromptExecution.objects.filter(pk=execution.pk).update(working_ms=31_000)

    services.turn_run(execution_id=execution.pk, index=1, worker="test-worker")

    execution.refresh_from_db()
    assert (execution.status, execution.error_code) == (ExecutionStatus.FAILED, "deadline")
    assert "30 seconds of work" in execution.error_message


def test_a_worker_carries_on_with_the_next_turn_itself_and_its_clock_runs_on(tenancy, sqlite_source):
    execution = create(tenancy)

    outcome = services.turn_run(execution_id=execution.pk, index=0, worker="test-worker", carry_on=True)

    execution.refresh_from_db()
    assert outcome.ran and execution.status == ExecutionStatus.COMPLETED, (execution.error_code, outcome)
    turns = Turn.objects.filter(execution=execution)
    assert turns.count() > 2
    # Each turn was created claimed by this worker in the transaction that finished the one before:
    # one delivery each, and never pending (the clock never stopped between them).
    assert set(turns.values_list("deliveries", "lease_owner")) == {(1, "test-worker")}
    assert execution.events.filter(type="turn.started").count() == turns.count()
    assert execution.working_since is None and execution.working_ms > 0


def test_carrying_on_stops_where_a_claim_would(tenancy, sqlite_source, settings):
    settings.MAX_LOOP_COUNT = 2
    execution = create(tenancy, "Show the customers of each region and their invoices")

    services.turn_run(execution_id=execution.pk, index=0, worker="test-worker", carry_on=True)

    # Turn 3 is past the loop's bound: not claimed here but left pending, and its own claim ends it.
    third = Turn.objects.get(execution=execution, index=3)
    assert third.status == "pending" and third.deliveries == 0
    services.turn_run(execution_id=execution.pk, index=3, worker="test-worker", carry_on=True)
    execution.refresh_from_db()
    assert (execution.status, execution.error_code) == (ExecutionStatus.FAILED, "max_turns")
