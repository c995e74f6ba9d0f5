"""People in the loop: answers, approval decisions, cancel; and the sweeper that resumes turns
whose worker is gone."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from datasources.queries import query_cancel
from datasources.selectors import access_datasource
from executions import events
from executions.models import (
    TERMINAL_STATUSES,
    ExecutionStatus,
    Interaction,
    PromptExecution,
    Turn,
    TurnStatus,
)
from executions.selectors import final_query_of
from executions.services.lifecycle import (
    ExecutionError,
    enqueue_turn_on_commit,
    finish,
)
from governance.models import ApprovalRule
from semantic.models import VerifiedQuery, VerifiedQueryOrigin
from semantic.services import verified_query_create
from workspaces.models import Membership, Role

logger = logging.getLogger(__name__)
DEFAULT_APPROVERS = (Role.OWNER, Role.ADMIN)


# --- people: answers, decisions, cancel ---------------------------------------------------------


def _locked_interaction(execution_id: Any, interaction_id: Any) -> tuple[PromptExecution, Interaction]:
    try:
        pk = uuid.UUID(str(interaction_id))
    except ValueError:
        raise ExecutionError("not_found", "No such question or approval request.", status=404) from None
    execution = PromptExecution.objects.select_for_update().get(pk=execution_id)
    interaction = Interaction.objects.select_for_update().filter(pk=pk, execution=execution).first()
    if interaction is None:
        raise ExecutionError("not_found", "No such question or approval request.", status=404)
    if execution.is_terminal:
        raise ExecutionError("execution_finished", f"This execution is {execution.status}; it takes no more answers.")
    if interaction.status != Interaction.Status.OPEN:
        raise ExecutionError("already_answered", f"This request was already {interaction.status}.")
    return execution, interaction


def _resume(execution: PromptExecution, interaction: Interaction, user: User, payload: dict[str, Any]) -> None:
    """After an answer or a decision: the turn runs again (it settles the call and goes on)."""
    events.event_append(
        execution, events.USER_RESPONDED, {"interaction_id": str(interaction.pk), "by": user.get_username(), **payload}
    )
    if Interaction.objects.filter(
        execution=execution, turn_id=interaction.turn_id, status=Interaction.Status.OPEN
    ).exists():
        return  # another question of the same turn is still open
    Turn.objects.filter(pk=interaction.turn_id, status=TurnStatus.WAITING).update(status=TurnStatus.PENDING)
    execution.status = ExecutionStatus.RUNNING
    execution.working_since = None  # the turn's claim starts the work clock again, not its time in the queue
    execution.save(update_fields=["status", "working_since", "updated_at"])
    enqueue_turn_on_commit(execution.pk, interaction.turn.index)


def interaction_answer(*, user: User, execution: PromptExecution, interaction_id: Any, text: str) -> Interaction:
    text = (text or "").strip()
    if not text:
        raise ExecutionError("answer_empty", "Write an answer.", status=400)
    with transaction.atomic():
        execution, interaction = _locked_interaction(execution.pk, interaction_id)
        if interaction.kind != Interaction.Kind.QUESTION:
            raise ExecutionError("not_a_question", "This is an approval request: approve or reject it.", status=400)
        if execution.user_id != user.pk and not user.has_perm("executions.change_promptexecution", execution):
            raise PermissionDenied("You may not answer for this execution.")
        interaction.status = Interaction.Status.ANSWERED
        interaction.answer = text[:4000]
        interaction.decided_by, interaction.decided_at = user, timezone.now()
        interaction.save(update_fields=["status", "answer", "decided_by", "decided_at"])
        _resume(execution, interaction, user, {"answer": interaction.answer})
    return interaction


def may_approve(*, user: User, execution: PromptExecution, interaction: Interaction | None = None) -> bool:
    """Whether ``user`` decides the approval requests of ``execution`` (the pages ask it before
    any request exists, to show or hide the buttons; the rule does not depend on the request)."""
    membership = Membership.objects.filter(user=user, workspace_id=execution.workspace_id).first()
    if membership is None:
        return False
    rules = ApprovalRule.objects.filter(workspace_id=execution.workspace_id, enabled=True)
    roles = {role for rule in rules for role in rule.approver_roles} or set(DEFAULT_APPROVERS)
    if membership.role not in roles:
        return False
    # Four eyes: the person who asked does not approve their own request, unless they own the workspace.
    return execution.user_id != user.pk or membership.role == Role.OWNER


def interaction_decide(
    *, user: User, execution: PromptExecution, interaction_id: Any, approve: bool, comment: str = ""
) -> Interaction:
    with transaction.atomic():
        execution, interaction = _locked_interaction(execution.pk, interaction_id)
        if interaction.kind != Interaction.Kind.APPROVAL:
            raise ExecutionError("not_an_approval", "This is a question: answer it.", status=400)
        if not may_approve(user=user, execution=execution, interaction=interaction):
            raise PermissionDenied("Your role does not allow you to decide this request.")
        interaction.status = Interaction.Status.APPROVED if approve else Interaction.Status.REJECTED
        interaction.answer = (comment or "")[:4000]
        interaction.decided_by, interaction.decided_at = user, timezone.now()
        interaction.save(update_fields=["status", "answer", "decided_by", "decided_at"])
        _resume(execution, interaction, user, {"decision": interaction.status, "comment": interaction.answer})
    return interaction


def execution_cancel(*, user: User, execution: PromptExecution) -> PromptExecution:
    """Cancels at the next safe point; a running query is stopped now. Waiting or queued
    executions are cancelled at once."""
    with transaction.atomic():
        execution = PromptExecution.objects.select_for_update().get(pk=execution.pk)
        if execution.is_terminal:
            raise ExecutionError("execution_finished", f"This execution is already {execution.status}.")
        execution.cancel_requested = True
        execution.save(update_fields=["cancel_requested", "updated_at"])
        running = Turn.objects.filter(execution=execution, status=TurnStatus.RUNNING).exists()
        if not running:
            finish(execution, ExecutionStatus.CANCELLED, "cancelled", f"Cancelled by {user.get_username()}.", turn=None)
    if running:
        query_cancel(query_id=str(execution.pk))
    execution.refresh_from_db()
    return execution


# --- the sweeper --------------------------------------------------------------------------------


def sweep(*, now: Any = None) -> dict[str, int]:
    """Resumes turns whose lease expired (their worker is gone) and turns left pending (their task
    was lost); the claim's delivery count fails poison turns."""
    now = now or timezone.now()
    resumed = 0
    expired = Turn.objects.filter(status=TurnStatus.RUNNING, lease_expires_at__lt=now).exclude(
        execution__status__in=TERMINAL_STATUSES
    )
    stale = now - timedelta(seconds=max(settings.TURN_LEASE_SECONDS, settings.SWEEP_INTERVAL_SECONDS) * 2)
    lost = Turn.objects.filter(status=TurnStatus.PENDING, created_at__lt=stale, attempts=0).exclude(
        execution__status__in=TERMINAL_STATUSES
    )
    for turn in [*expired, *lost]:
        with transaction.atomic():
            current = Turn.objects.select_for_update(skip_locked=True).filter(pk=turn.pk).first()
            if current is None or current.status not in (TurnStatus.RUNNING, TurnStatus.PENDING):
                continue
            if current.status == TurnStatus.RUNNING:
                if current.lease_expires_at is None or current.lease_expires_at >= now:
                    continue
                current.status, current.lease_owner = TurnStatus.PENDING, ""
                current.save(update_fields=["status", "lease_owner"])
            enqueue_turn_on_commit(current.execution_id, current.index)
            resumed += 1
    return {"resumed": resumed}


def execution_verify(*, user: User, execution: PromptExecution) -> VerifiedQuery:
    """A thumbs-up: the execution's question and final SQL (as the model wrote it, not the rewrite made
    for its author) become a verified query, or a proposed one when ``user`` may only query the
    source (see ``semantic.services``). Only a completed execution with a query result qualifies."""
    if execution.status != ExecutionStatus.COMPLETED:
        raise ExecutionError("execution_not_completed", "Only a completed execution can be verified.")
    final = final_query_of(execution=execution)
    if final is None:
        raise ExecutionError("no_result", "This execution ran no query to verify.")
    try:
        datasource = access_datasource(user=user, datasource_id=final.datasource_id)
    except Http404:
        raise ExecutionError("no_result", "The data source of this result no longer exists.") from None
    return verified_query_create(
        user=user,
        datasource=datasource,
        question=execution.prompt_text,
        sql=final.sql,
        origin=VerifiedQueryOrigin.THUMBS_UP,
        schema_names=execution.selected_schema_names or (),
        source_execution_id=execution.pk,
    )
