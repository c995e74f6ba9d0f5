"""State changes every part of the pipeline shares: errors, enqueueing the next turn, progress,
the trace, and the terminal transition (with its terminal event)."""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from executions import events
from executions.models import (
    ExecutionStatus,
    Interaction,
    Phase,
    PromptExecution,
    Turn,
    TurnStatus,
)

logger = logging.getLogger(__name__)


_PROCESS = uuid.uuid4().hex[:8]


def worker_id(hostname: str = "") -> str:
    """Who holds a turn's lease: the worker's host name (Celery's ``--hostname``), this process
    and this thread, so that two threads of one worker never take the same turn for each other."""
    return f"{hostname or socket.gethostname()}:{_PROCESS}:{threading.get_native_id()}"


class ExecutionError(Exception):
    """A request about an execution that cannot be honoured; ``code`` is stable for clients."""

    def __init__(self, code: str, message: str, *, status: int = 409) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def enqueue_turn_on_commit(execution_id: Any, index: int) -> None:
    from executions.tasks import run_turn  # the task module imports this one

    transaction.on_commit(lambda: run_turn.delay(str(execution_id), index))


def working_ms(execution: PromptExecution, now: Any) -> int:
    extra = int((now - execution.working_since).total_seconds() * 1000) if execution.working_since else 0
    return execution.working_ms + extra


def clock_stop(execution: PromptExecution, now: Any) -> list[str]:
    """Stops the execution's work clock (the fields it changed, for the caller to save): while its
    next turn waits in the queue or for a retry, while a person is asked, and at the end.
    PSA_TIMEOUT_SECONDS counts the agent's own time; the next claim starts the clock again."""
    if execution.working_since is None:
        return []
    execution.working_ms = working_ms(execution, now)
    execution.working_since = None
    return ["working_ms", "working_since"]


PHASE_PROGRESS: dict[str, int] = {Phase.ENRICHMENT: 5, Phase.CLASSIFICATION: 15, Phase.DELIVERY: 95, Phase.DONE: 100}


def progress(execution: PromptExecution, index: int, phase: str | None = None, *, save: bool = True) -> list[str]:
    """Moves the execution's phase and percentage forward, with a progress event; the fields it
    changed (written here unless ``save=False``, when the caller's own save carries them)."""
    if phase is None:
        phase = (
            Phase.ENRICHMENT if index == 0 else Phase.CLASSIFICATION if not execution.intent_type else Phase.REASONING
        )
    if phase == Phase.REASONING:
        percentage = min(90, 20 + int(70 * index / max(settings.MAX_LOOP_COUNT, 1)))
    else:
        percentage = PHASE_PROGRESS[phase]
    percentage = max(percentage, execution.progress_percentage)
    if phase == execution.phase and percentage == execution.progress_percentage:
        return []
    execution.phase, execution.progress_percentage = phase, percentage
    if save:
        PromptExecution.objects.filter(pk=execution.pk).update(phase=phase, progress_percentage=percentage)
    events.event_append(execution, events.PROGRESS, {"phase": phase, "percentage": percentage, "turn": index})
    return ["phase", "progress_percentage"]


def trace(execution: PromptExecution, step: dict[str, Any], *, save: bool = True) -> list[str]:
    """Adds a step to the trace log; the field it changed (written here unless ``save=False``)."""
    execution.trace_log = [*(execution.trace_log or []), step]
    if save:
        PromptExecution.objects.filter(pk=execution.pk).update(trace_log=execution.trace_log)
    return ["trace_log"]


def finish(
    execution: PromptExecution,
    status: str,
    code: str,
    message: str,
    *,
    turn: Turn | None,
    extra: Sequence[str] = (),
) -> None:
    """Ends the execution with a terminal status and its terminal event (in the caller's transaction)."""
    now = timezone.now()
    clock_stop(execution, now)
    execution.status = status
    execution.completed_at = now
    if execution.started_at:
        execution.total_duration_ms = int((now - execution.started_at).total_seconds() * 1000)
    execution.error_code = code if status != ExecutionStatus.COMPLETED else ""
    execution.error_message = message if status != ExecutionStatus.COMPLETED else ""
    execution.ai_processing_status = {"completed": "completed", "failed": "failed"}.get(status, status)
    execution.phase = Phase.DONE
    if status == ExecutionStatus.COMPLETED:
        execution.progress_percentage = 100
    execution.save(
        update_fields=[
            "working_ms",
            "working_since",
            "status",
            "completed_at",
            "total_duration_ms",
            "error_code",
            "error_message",
            "ai_processing_status",
            "phase",
            "progress_percentage",
            "updated_at",
            *extra,
        ]
    )
    if turn is not None and turn.status not in (TurnStatus.DONE,):
        turn.status = TurnStatus.FAILED if status == ExecutionStatus.FAILED else TurnStatus.DONE
        turn.error_code, turn.error_message = code, message
        turn.lease_expires_at = None
        turn.save(update_fields=["status", "error_code", "error_message", "lease_expires_at"])
    Interaction.objects.filter(execution=execution, status=Interaction.Status.OPEN).update(
        status=Interaction.Status.CANCELLED, decided_at=now
    )
    if status == ExecutionStatus.COMPLETED:
        events.event_append(execution, events.PROGRESS, {"phase": Phase.DONE, "percentage": 100})
        events.event_append(
            execution,
            events.EXECUTION_COMPLETE,
            {
                "status": status,
                "answer": (execution.final_data or {}).get("answer", ""),
                "rows_returned": execution.rows_returned,
                "total_duration_ms": execution.total_duration_ms,
            },
        )
    elif status == ExecutionStatus.CANCELLED:
        events.event_append(execution, events.EXECUTION_CANCELLED, {"status": status})
    else:
        events.event_append(execution, events.EXECUTION_FAILED, {"status": status, "code": code, "message": message})
