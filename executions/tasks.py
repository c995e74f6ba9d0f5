"""Celery tasks of the turn pipeline: interfaces only (load by id, call a service)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

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
    outcome = services.turn_run(execution_id=execution_id, index=index, worker=worker)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.reason or ("ran" if outcome.ran else "skipped")


@shared_task(name="executions.sweep", acks_late=True, ignore_result=True)
def sweep() -> dict[str, int]:
    return services.sweep()
