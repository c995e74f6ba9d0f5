"""Celery tasks of the turn pipeline: interfaces only (load by id, call a service)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from executions import services


@shared_task(
    bind=True,
    name="executions.run_turn",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,  # the database is the record; nobody waits on a turn's task result
    # Retries are for transient model errors, counted on the turn (PSA_RETRY_COUNT); this bound only
    # stops a task that would retry forever.
    max_retries=None,
)
def run_turn(self: Any, execution_id: str, index: int) -> str:
    worker = services.worker_id(getattr(self.request, "hostname", None) or "")
    outcome = services.turn_run(execution_id=execution_id, index=index, worker=worker, carry_on=settings.TURN_CARRY_ON)
    if outcome.retry_in is not None:  # for the turn it names: with carry_on, maybe a later one than ``index``
        raise self.retry(args=(execution_id, outcome.index), countdown=outcome.retry_in)
    return outcome.reason or ("ran" if outcome.ran else "skipped")


@shared_task(name="executions.sweep", acks_late=True, ignore_result=True)
def sweep() -> dict[str, int]:
    return services.sweep()
