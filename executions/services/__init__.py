"""Executions: create one, run its turns, pause for people and resume, cancel, sweep."""

from __future__ import annotations

from executions.services.create import ExecuteRequest, execution_create
from executions.services.lifecycle import ExecutionError, worker_id
from executions.services.people import (
    execution_cancel,
    execution_verify,
    interaction_answer,
    interaction_decide,
    may_approve,
    sweep,
)
from executions.services.turns import TurnOutcome, backoff_delay, enrichment_context, turn_run

__all__ = [
    "ExecuteRequest",
    "ExecutionError",
    "TurnOutcome",
    "backoff_delay",
    "enrichment_context",
    "execution_cancel",
    "execution_create",
    "execution_verify",
    "interaction_answer",
    "interaction_decide",
    "may_approve",
    "sweep",
    "turn_run",
    "worker_id",
]
