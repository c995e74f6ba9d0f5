"""Executions: create one, run its turns, pause for people and resume, cancel, sweep.

The turn pipeline (see ARCHITECTURE.md, "The turn pipeline"): each turn is a row unique per
(execution, index), claimed with a lease under ``select_for_update`` by the Celery task that runs it.
Turn 0 is enrichment; every later turn asks the model once (the reply is stored before any tool
runs, so a redelivered turn never asks again) and runs the reply's tool calls through the gateway,
storing each observation as it comes. A turn that is done is never run again; the next turn is
created and enqueued in the transaction that finishes this one (on commit).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from agent import classification_cache, llm
from agent.context import datasource_to_context, table_to_context
from agent.dispatch import call_tool
from agent.prompting import build_messages
from agent.tools import inventory, openai_schema
from agent.types import CLASSIFICATION, GENERATION, PLANNING, ModelError, Reply, ToolCall, ToolContext, ToolResult
from datasources.models import CatalogTable
from datasources.selectors import datasources_for_user
from executions import events
from executions.models import (
    TERMINAL_STATUSES,
    ExecutionStatus,
    Interaction,
    Phase,
    PromptExecution,
    Turn,
    TurnStatus,
)
from executions.redaction import redacted
from executions.services.lifecycle import (
    clock_stop,
    enqueue_turn_on_commit,
    finish,
    progress,
    trace,
    worker_id,
    working_ms,
)
from governance.catalog import visible_catalog_search
from governance.gateway import Actor, actor_for
from semantic.selectors import glossary_for_prompt, verified_examples
from workspaces.models import Membership

logger = logging.getLogger(__name__)
# Tools whose calls change nothing and may run side by side within one turn.
_PARALLEL_SAFE = frozenset(
    {"search_catalog", "describe_table", "run_query", "classify_intent", "scan_sensitive_data", "propose_policy"}
)
# Tables the context holds when the prompt names none: the sources' largest.
_FALLBACK_TABLES = 5


# --- the turn -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnOutcome:
    """What the task does next: nothing, or retry turn ``index`` after ``retry_in`` seconds.
    ``following`` is the next turn when this one handed it over claimed (see ``turn_run``)."""

    ran: bool
    retry_in: float | None = None
    reason: str = ""
    index: int | None = None
    following: Turn | None = None


def turn_run(*, execution_id: Any, index: int, worker: str = "", carry_on: bool = False) -> TurnOutcome:
    """Runs turn ``index``. With ``carry_on`` the turns after it run here too: the transaction that
    finishes a turn creates the next one already claimed by this worker (the claim's checks and
    its events in that same transaction), so a turn costs no broker hop and no second claim. The
    outcome is the last turn's: a retry names the turn it is for."""
    worker = worker or worker_id()
    turn = _claim(execution_id, index, worker)
    if turn is None:
        return TurnOutcome(ran=False, reason="not claimable")
    # The turns before ``turn``: read once, then extended with each turn done here (the objects
    # hold what was saved).
    previous: list[Turn] | None = None if index else []
    while True:
        _leases.hold(turn.pk, worker)
        try:
            if turn.index == 0:
                outcome = _enrich(turn, carry_on)
            else:
                if previous is None:
                    previous = list(Turn.objects.filter(execution_id=execution_id, index__lt=index).order_by("index"))
                outcome = _reason(turn, previous, worker, carry_on)
        finally:
            _leases.release(turn.pk)
        if outcome.following is None:
            return outcome
        previous = [*(previous or []), turn]
        turn = outcome.following


def _lock(execution_id: Any, index: int) -> Turn | None:
    """The turn with its execution, both locked, in one query; the execution carries its user (not
    locked)."""
    return (
        Turn.objects.select_for_update(of=("self", "execution"))
        .select_related("execution", "execution__user")
        .filter(execution_id=execution_id, index=index)
        .first()
    )


def _claim(execution_id: Any, index: int, worker: str) -> Turn | None:
    now = timezone.now()
    with transaction.atomic(), events.batched():
        turn = _lock(execution_id, index)
        if turn is None:
            return None
        execution = turn.execution
        if execution.status in TERMINAL_STATUSES:
            return None
        if turn.status in (TurnStatus.DONE, TurnStatus.FAILED, TurnStatus.WAITING):
            return None
        if (
            turn.status == TurnStatus.RUNNING
            and turn.lease_owner != worker
            and turn.lease_expires_at
            and turn.lease_expires_at > now
        ):
            return None  # another worker holds a live lease (a duplicate delivery): fenced off
        if turn.deliveries >= settings.TURN_MAX_DELIVERIES:
            finish(
                execution,
                ExecutionStatus.FAILED,
                "poison_turn",
                f"Turn {index} was started {turn.deliveries} times without finishing; giving up.",
                turn=turn,
            )
            return None
        stop = _stop(execution, index, now)
        if stop is not None:
            finish(execution, *stop, turn=turn)
            return None
        fields = ["status", "updated_at"]
        if execution.status == ExecutionStatus.PENDING:
            execution.status = ExecutionStatus.RUNNING
            execution.started_at = now
            execution.working_since = now
            execution.ai_processing_status = "processing"
            fields += ["started_at", "working_since", "ai_processing_status"]
            events.event_append(execution, events.EXECUTION_STARTED, {"started_at": now.isoformat()})
        elif execution.status == ExecutionStatus.RUNNING and execution.working_since is None:
            execution.working_since = now
            fields.append("working_since")
        execution.status = ExecutionStatus.RUNNING
        first_delivery = turn.deliveries == 0
        if first_delivery:
            events.event_append(execution, events.TURN_STARTED, {"turn": index})
            fields += progress(execution, index, save=False)
        execution.save(update_fields=fields)
        turn.status = TurnStatus.RUNNING
        turn.lease_owner = worker
        turn.lease_expires_at = now + timedelta(seconds=settings.TURN_LEASE_SECONDS)
        turn.deliveries += 1
        turn.started_at = turn.started_at or now
        turn.save(update_fields=["status", "lease_owner", "lease_expires_at", "deliveries", "started_at"])
    return turn


def _stop(execution: PromptExecution, index: int, now: Any) -> tuple[str, str, str] | None:
    """Why turn ``index`` may not start (the execution's end: status, code, message), or None."""
    if execution.cancel_requested:
        return ExecutionStatus.CANCELLED, "cancelled", "Cancelled."
    if index > settings.MAX_LOOP_COUNT:
        return ExecutionStatus.FAILED, "max_turns", f"The agent did not finish within {settings.MAX_LOOP_COUNT} turns."
    if working_ms(execution, now) > settings.PSA_TIMEOUT_SECONDS * 1000:
        return (
            ExecutionStatus.FAILED,
            "deadline",
            f"The agent did not finish within {settings.PSA_TIMEOUT_SECONDS} seconds of work.",
        )
    return None


class _Leases:
    """Renews the leases of the turns this process is running, every third of a lease, from one
    thread for the whole process (long queries included); a turn is added when it starts and
    removed when it ends."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.held: dict[int, str] = {}  # turn id -> worker
        self.thread: threading.Thread | None = None
        self.pid = 0

    def hold(self, turn_id: int, worker: str) -> None:
        with self.lock:
            self.held[turn_id] = worker
            if self.thread is None or self.pid != os.getpid() or not self.thread.is_alive():
                self.pid = os.getpid()
                self.thread = threading.Thread(target=self.run, name="turn-leases", daemon=True)
                self.thread.start()

    def release(self, turn_id: int) -> None:
        with self.lock:
            self.held.pop(turn_id, None)

    def run(self) -> None:
        while True:
            time.sleep(max(settings.TURN_LEASE_SECONDS / 3, 0.2))
            with self.lock:
                held = dict(self.held)
            if not held:
                continue
            try:
                for turn_id, worker in held.items():
                    expires = timezone.now() + timedelta(seconds=settings.TURN_LEASE_SECONDS)
                    Turn.objects.filter(pk=turn_id, lease_owner=worker, status=TurnStatus.RUNNING).update(
                        lease_expires_at=expires
                    )
            except Exception:
                logger.warning("renewing turn leases failed", exc_info=True)
            finally:
                connection.close()  # held only while renewing: seconds apart, and never left open


_leases = _Leases()


_LOCK_SQL = f"""
    SELECT t.status, t.lease_owner, e.status, e.cancel_requested
      FROM {Turn._meta.db_table} t JOIN {PromptExecution._meta.db_table} e ON e.id = t.execution_id
     WHERE t.id = %s
       FOR UPDATE
"""  # noqa: S608  table names from the models, the id as a parameter


def _locked(turn: Turn, worker: str) -> tuple[PromptExecution, Turn] | None:
    """The turn and its execution locked, if this worker still holds the turn (else another took
    over). The objects in hand stay the ones used: while the lease is held only this worker writes
    the fields it saves, so only what others may change (the status, a cancel request, the lease)
    is read under the lock, a narrow row rather than both rows again."""
    execution = turn.execution
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_SQL, [turn.pk])
        row = cursor.fetchone()
    assert row is not None, "turns are never deleted while their execution runs"
    turn.status, turn.lease_owner, execution.status, execution.cancel_requested = row
    if turn.lease_owner != worker or turn.status != TurnStatus.RUNNING or execution.is_terminal:
        return None
    return execution, turn


def _complete_turn(execution: PromptExecution, turn: Turn, fields: list[str], carry_on: bool) -> Turn | None:
    """Marks the turn done, saves the execution's changed ``fields`` and creates the next turn, in
    the caller's transaction: claimed by this worker and returned when ``carry_on`` and nothing
    stops it (``turn_run`` runs it at once, the work clock going on), else pending and enqueued."""
    now = timezone.now()
    turn.status = TurnStatus.DONE
    turn.completed_at = now
    turn.lease_expires_at = None
    content = "context" if turn.index == 0 else "observations"  # the reply was saved when it came
    turn.save(update_fields=["status", "completed_at", "lease_expires_at", content])
    execution.turn_count = index = turn.index + 1
    following = None
    if carry_on and _stop(execution, index, now) is None:
        # No successor exists yet: one is created only with its predecessor done, and this turn
        # was running on this worker's lease when the caller locked it.
        following = Turn.objects.create(
            execution=execution,
            index=index,
            status=TurnStatus.RUNNING,
            lease_owner=turn.lease_owner,
            lease_expires_at=now + timedelta(seconds=settings.TURN_LEASE_SECONDS),
            deliveries=1,
            started_at=now,
        )
        events.event_append(execution, events.TURN_STARTED, {"turn": index})
        fields = [*fields, *progress(execution, index, save=False)]
    else:
        fields = [*fields, *clock_stop(execution, now)]
        # A redelivered turn that finished in between finds the next one there: nothing to create.
        Turn.objects.bulk_create([Turn(execution=execution, index=index)], ignore_conflicts=True)
        enqueue_turn_on_commit(execution.pk, index)
    execution.save(update_fields=list(dict.fromkeys([*fields, "turn_count"])))
    return following


# --- turn 0: enrichment --------------------------------------------------------------------------


def _enrich(turn: Turn, carry_on: bool) -> TurnOutcome:
    execution = turn.execution  # as the claim locked it, with its user
    membership = Membership.objects.select_related("user", "workspace").get(
        user_id=execution.user_id or 0, workspace_id=execution.workspace_id
    )
    context = enrichment_context(execution=execution, membership=membership)
    with transaction.atomic(), events.batched():
        locked = _locked(turn, turn.lease_owner)
        if locked is None:
            return TurnOutcome(ran=False, reason="lease lost")
        execution, turn = locked
        turn.context = context
        fields = progress(execution, 0, Phase.ENRICHMENT, save=False)
        fields += trace(execution, {"turn": 0, "step": "enrichment", "tables": len(context["tables"])}, save=False)
        return TurnOutcome(ran=True, following=_complete_turn(execution, turn, fields, carry_on))


def enrichment_context(*, execution: PromptExecution, membership: Membership) -> dict[str, Any]:
    """The catalog (as this member sees it) matched to the prompt, the sources, and the policies
    in force for them: what the model is told before the first turn."""
    sources = list(datasources_for_user(user=membership.user, workspace_id=execution.workspace_id))
    if execution.selected_data_source_ids:
        wanted = {str(pk) for pk in execution.selected_data_source_ids}
        sources = [ds for ds in sources if str(ds.pk) in wanted]
    matches = visible_catalog_search(
        membership=membership,
        prompt=execution.prompt_text,
        visible_sources=sources,
        datasource_ids=[ds.pk for ds in sources],
        schema_names=execution.selected_schema_names or None,
        limit=settings.TLO_MAX_MATCHED_TABLES,
    )
    if not matches and sources:
        # Nothing in the prompt names a table ("how many are there?"): the sources' largest tables,
        # so that the model can say what they hold or ask which one is meant.
        largest = CatalogTable.objects.filter(datasource__in=sources).order_by(F("row_estimate").desc(nulls_last=True))
        matches = visible_catalog_search(
            membership=membership,
            prompt=" ".join(largest.values_list("name", flat=True)[:_FALLBACK_TABLES]),
            visible_sources=sources,
            datasource_ids=[ds.pk for ds in sources],
            limit=_FALLBACK_TABLES,
        )
    tables = [table_to_context(match) for match in matches]
    masked = sorted(
        {f"{t['qualified_name']}.{c['name']} ({c['masked']})" for t in tables for c in t["columns"] if c.get("masked")}
    )
    policies = [f"Masked for you: {', '.join(masked)}"] if masked else []
    source_ids = [ds.pk for ds in sources]
    return {
        "prompt": execution.prompt_text,
        "intent": None,
        "datasources": [datasource_to_context(ds) for ds in sources],
        "tables": tables,
        "policies": policies,
        "verified_queries": verified_examples(
            membership=membership, prompt=execution.prompt_text, datasource_ids=source_ids
        ),
        "glossary": glossary_for_prompt(membership=membership, prompt=execution.prompt_text, datasource_ids=source_ids),
    }


# --- turns 1..n: reason, act, observe ----------------------------------------------------------


def _reason(turn: Turn, previous: list[Turn], worker: str, carry_on: bool) -> TurnOutcome:
    execution = turn.execution  # as the claim locked it, with its user
    context = dict(previous[0].context or {}) if previous else {}
    context["intent"] = execution.intent_type or None
    if turn.reply is None:
        outcome = _ask_model(execution, turn, previous, context, worker)
        if outcome is not None:
            return outcome
    reply = Reply.from_json(turn.reply or {})
    actor = actor_for(user=execution.user, workspace_id=execution.workspace_id)
    if not reply.tool_calls:
        # A model that answers in text without calling finish: its text is the answer.
        result = ToolResult(
            observation={"answer": reply.content}, status="finish", final={"answer": reply.content, "confidence": None}
        )
        _deliver(turn, worker, result)
        return TurnOutcome(ran=True)
    return _act(execution, turn, reply, actor, worker, carry_on)


def _category(execution: PromptExecution, turn_index: int) -> str:
    if not execution.intent_type:
        return CLASSIFICATION
    return GENERATION if execution.intent_type in ("DATA_QUERY", "DATA_WRITE", "SCHEMA_CHANGE") else PLANNING


def _ask_model(
    execution: PromptExecution, turn: Turn, previous: list[Turn], context: dict[str, Any], worker: str
) -> TurnOutcome | None:
    """Asks the model and stores its reply on the turn; an outcome when the turn stops here."""
    history = [
        (Reply.from_json(t.reply), {k: ToolResult.from_json(v) for k, v in (t.observations or {}).items()})
        for t in previous
        if t.reply
    ]
    messages = build_messages(context=context, prompt_text=execution.prompt_text, turns=history)
    category = _category(execution, turn.index)
    tools = [openai_schema(tool) for tool in inventory(execution.intent_type or None)]
    reply = (
        classification_cache.cached_reply(
            workspace_id=execution.workspace_id,
            prompt_text=execution.prompt_text,
            datasource_ids=execution.selected_data_source_ids,
        )
        if category == CLASSIFICATION and turn.index == 1
        else None
    )
    try:
        reply = reply or llm.complete(
            messages=messages,
            tools=tools,
            category=category,
            workspace_id=execution.workspace_id,
            model=execution.ai_model,
            temperature=execution.options.get("temperature"),
        )
    except ModelError as error:
        return _model_failed(turn, worker, error)
    with transaction.atomic(), events.batched():
        locked = _locked(turn, worker)
        if locked is None:
            return TurnOutcome(ran=False, reason="lease lost")
        execution, current = locked
        current.reply = turn.reply = reply.as_json()
        current.category = turn.category = category
        current.save(update_fields=["reply", "category"])
        _record_usage(execution, current.index, reply)
        events.event_append(
            execution,
            events.MODEL_RESPONDED,
            {
                "turn": current.index,
                "model": reply.model,
                "provider": reply.provider,
                "content": reply.content,
                "tool_calls": [{"id": c.id, "name": c.name} for c in reply.tool_calls],
                "latency_ms": round(reply.latency_ms, 1),
            },
        )
        for call in reply.tool_calls:  # announced once, with the reply they belong to
            events.event_append(execution, events.TOOL_REQUESTED, {
                "turn": current.index, "tool_call_id": call.id, "tool": call.name,
                "arguments": redacted(call.arguments)})  # fmt: skip
    return None


def _model_failed(turn: Turn, worker: str, error: ModelError) -> TurnOutcome:
    with transaction.atomic():
        locked = _locked(turn, worker)
        if locked is None:
            return TurnOutcome(ran=False, reason="lease lost")
        execution, current = locked
        current.attempts += 1
        if error.transient and current.attempts <= settings.PSA_RETRY_COUNT:
            delay = backoff_delay(current.attempts, error.retry_after)
            # The task retries; the turn is free again at once, so the retry (or the sweeper) claims it.
            current.status = TurnStatus.PENDING
            current.lease_owner = ""
            current.lease_expires_at = None
            current.save(update_fields=["attempts", "status", "lease_owner", "lease_expires_at"])
            execution.save(update_fields=[*clock_stop(execution, timezone.now()), "updated_at"])
            events.event_append(
                execution,
                events.MODEL_RETRYING,
                {
                    "turn": current.index,
                    "attempt": current.attempts,
                    "code": error.code,
                    "delay_seconds": round(delay, 2),
                },
            )
            return TurnOutcome(ran=True, retry_in=delay, reason=error.code, index=current.index)
        current.save(update_fields=["attempts"])
        message = f"The model could not answer: {error.message}"
        if error.transient:
            message = f"The model kept failing ({error.code}) after {current.attempts} attempts: {error.message}"
        finish(execution, ExecutionStatus.FAILED, error.code, message, turn=current)
    return TurnOutcome(ran=True, reason=error.code)


def backoff_delay(attempt: int, retry_after: float | None = None) -> float:
    """PSA_BACKOFF_COEFF ** attempt seconds, with up to 25% jitter, at least the server's Retry-After,
    at most PSA_RETRY_MAX_DELAY."""
    base = settings.PSA_BACKOFF_COEFF ** max(attempt - 1, 0)
    delay = base * (1 + random.random() * 0.25)
    if retry_after:
        delay = max(delay, retry_after)
    return float(min(delay, settings.PSA_RETRY_MAX_DELAY))


def _record_usage(execution: PromptExecution, index: int, reply: Reply) -> None:
    metadata = dict(execution.ai_metadata or {})
    turns = list(metadata.get("turns", []))
    turns.append(
        {
            "turn": index,
            "model": reply.model,
            "provider": reply.provider,
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "cost_usd": reply.cost_usd,
            "latency_ms": round(reply.latency_ms, 1),
            "fallback_from": list(reply.fallback_from),
        }
    )
    metadata.update(
        model=reply.model,
        provider=reply.provider,
        turns=turns,
        prompt_tokens=sum(t["prompt_tokens"] for t in turns),
        completion_tokens=sum(t["completion_tokens"] for t in turns),
        cost_usd=round(sum(t["cost_usd"] for t in turns), 6),
        latency_ms=round(sum(t["latency_ms"] for t in turns), 1),
    )
    execution.ai_metadata = metadata
    PromptExecution.objects.filter(pk=execution.pk).update(ai_metadata=metadata)


def _act(
    execution: PromptExecution, turn: Turn, reply: Reply, actor: Actor, worker: str, carry_on: bool
) -> TurnOutcome:
    observations = dict(turn.observations or {})
    pending = [call for call in reply.tool_calls if call.id not in observations]
    # Interactions are opened when a delivery ends, so a turn on its first delivery has none.
    interactions = (
        {
            i.tool_call_id: i
            for i in Interaction.objects.filter(execution=execution, turn=turn).select_related("decided_by")
        }
        if turn.deliveries > 1
        else {}
    )
    context: dict[str, Any] = {
        "prompt_text": execution.prompt_text,
        "datasource_ids": tuple(execution.selected_data_source_ids),
        "schema_names": tuple(execution.selected_schema_names),
        "query_id": str(execution.pk),
    }
    # Calls answered or decided by a person are settled first; the rest run (side by side when
    # they only read).
    to_run: list[tuple[ToolCall, str]] = []
    results: list[tuple[ToolCall, ToolResult]] = []
    for call in pending:
        interaction = interactions.get(call.id)
        if interaction is None:
            to_run.append((call, ""))
        elif interaction.status == Interaction.Status.ANSWERED:
            results.append((call, ToolResult(observation={"answer": interaction.answer})))
        elif interaction.status == Interaction.Status.REJECTED:
            by = interaction.decided_by.get_username() if interaction.decided_by else ""
            rejected = ToolResult(observation={"approved": False, "rejected_by": by, "comment": interaction.answer},
                                  status="error", error_code="rejected")  # fmt: skip
            results.append((call, rejected))
        elif interaction.status == Interaction.Status.APPROVED:
            to_run.append((call, interaction.decided_by.get_username() if interaction.decided_by else "approver"))
        # OPEN interactions keep the turn waiting (below).

    def run(item: tuple[ToolCall, str]) -> tuple[ToolCall, ToolResult]:
        call, approved_by = item
        ctx = ToolContext(
            actor=actor, execution_id=execution.pk, tool_call_id=call.id, approved_by=approved_by, **context
        )
        if approved_by and call.name == "request_approval":
            return call, ToolResult(observation={"approved": True, "by": approved_by})
        try:
            return call, call_tool(ctx, call)
        finally:
            if threading.current_thread() is not threading.main_thread():
                connection.close()  # each pool thread has its own connection

    # In the model's order; consecutive calls that only read run side by side.
    batch: list[tuple[ToolCall, str]] = []

    def flush() -> None:
        if len(batch) > 1:
            with ThreadPoolExecutor(max_workers=min(4, len(batch))) as pool:
                results.extend(pool.map(run, batch))
        else:
            results.extend(run(item) for item in batch)
        batch.clear()

    for item in to_run:
        if item[0].name in _PARALLEL_SAFE and not item[1]:
            batch.append(item)
            continue
        flush()
        results.append(run(item))
        if _cancel_requested(execution.pk):
            break
    else:
        flush()
    # Every result of the turn is recorded in one transaction with what follows from it (a call that
    # acted and was lost before this point is not repeated: the ledger has its result).
    finished: ToolResult | None = None
    with transaction.atomic(), events.batched():
        locked = _locked(turn, worker)
        if locked is None:
            return TurnOutcome(ran=False, reason="lease lost")
        execution, current = locked
        observations = dict(current.observations or {})
        fields: list[str] = []
        for call, result in results:
            if result.pauses:
                fields += _open_interaction(execution, current, call, result)
                continue
            observations[call.id] = result.as_json()
            fields += _apply_result(execution, current, call, result)
            if result.status == "finish":
                finished = result
        current.observations = observations
        ends = (
            execution.cancel_requested
            or bool(_missing(reply, current))
            or any(v.get("status") == "finish" for v in observations.values())  # this delivery's or an earlier one's
        )
        if not ends:
            # The common case, in three statements: the execution's changes, the turn, the next turn.
            fields += progress(execution, current.index, save=False)
            return TurnOutcome(ran=True, following=_complete_turn(execution, current, fields, carry_on))
        if fields:
            execution.save(update_fields=list(dict.fromkeys([*fields, "updated_at"])))
        current.save(update_fields=["observations"])
        if execution.cancel_requested:
            finish(execution, ExecutionStatus.CANCELLED, "cancelled", "Cancelled.", turn=current)
            return TurnOutcome(ran=True)
        if _missing(reply, current):
            if Interaction.objects.filter(execution=execution, turn=current, status=Interaction.Status.OPEN).exists():
                _wait(execution, current)
                return TurnOutcome(ran=True)
            # A call whose result could not be recorded (cancelled mid-way): the turn runs again.
            return TurnOutcome(ran=True, retry_in=0.5, reason="calls left", index=current.index)
        final = finished or next(ToolResult.from_json(v) for v in observations.values() if v.get("status") == "finish")
        _complete(execution, current, final)
    return TurnOutcome(ran=True)


def _missing(reply: Reply, turn: Turn) -> list[ToolCall]:
    """The reply's calls with no recorded observation yet."""
    return [call for call in reply.tool_calls if call.id not in (turn.observations or {})]


def _cancel_requested(execution_id: Any) -> bool:
    return PromptExecution.objects.filter(pk=execution_id, cancel_requested=True).exists()


def _apply_result(execution: PromptExecution, turn: Turn, call: ToolCall, result: ToolResult) -> list[str]:
    """Applies a result to the execution (the fields it changed, for the caller to save) and
    appends its event."""
    fields: list[str] = []
    if result.intent:
        execution.intent_type, execution.confidence = result.intent, result.confidence
        fields += ["intent_type", "confidence"]
        if call.name == "classify_intent" and (turn.reply or {}).get("provider") != classification_cache.PROVIDER:
            remember = partial(classification_cache.remember, workspace_id=execution.workspace_id,
                               prompt_text=execution.prompt_text, datasource_ids=execution.selected_data_source_ids,
                               arguments=call.arguments)  # fmt: skip
            transaction.on_commit(remember)
    if call.name == "run_query" or (result.data and "rows" in result.data):
        if result.status == "ok" and result.data is not None:
            columns = list(result.data.get("columns", []))
            rows = result.data.get("rows", [])[: settings.QUERY_PREVIEW_ROWS]
            execution.generated_query_text = result.sql or ""
            execution.rows_returned = result.rows_returned
            execution.result_truncated = bool(result.data.get("truncated"))
            execution.result_columns = columns
            execution.result_preview = [dict(zip(columns, row, strict=False)) for row in rows]
            execution.query_execution_status = "completed"
            fields += [
                "generated_query_text",
                "rows_returned",
                "result_truncated",
                "result_columns",
                "result_preview",
                "query_execution_status",
            ]
        elif result.status != "ok":
            execution.query_execution_status = "denied" if result.status == "denied" else "failed"
            fields.append("query_execution_status")
    elif result.sql and result.status == "ok":
        execution.generated_query_text = result.sql
        fields.append("generated_query_text")
    type_ = {"ok": events.TOOL_COMPLETED, "finish": events.TOOL_COMPLETED, "denied": events.TOOL_DENIED}.get(
        result.status, events.TOOL_FAILED
    )
    payload: dict[str, Any] = {"turn": turn.index, "tool_call_id": call.id, "tool": call.name, "status": result.status}
    if result.error_code:
        payload["code"] = result.error_code
        payload["message"] = (
            (result.observation.get("error") or {}).get("message", "")
            if isinstance(result.observation.get("error"), dict)
            else ""
        )
    if result.sql:
        payload["sql"] = result.sql
    if result.rows_returned is not None:
        payload["rows_returned"] = result.rows_returned
    if result.intent:
        payload["intent"] = result.intent
    for key in ("masked", "notices"):  # what governance did to the rows, for the page to say
        if result.data and result.data.get(key):
            payload[key] = result.data[key]
    events.event_append(execution, type_, payload)
    step = {"turn": turn.index, "tool": call.name, "status": result.status}
    return fields + trace(execution, {**step, **({"code": result.error_code} if result.error_code else {})}, save=False)


def _open_interaction(execution: PromptExecution, turn: Turn, call: ToolCall, result: ToolResult) -> list[str]:
    """Opens the interaction a pausing call asks for (once per tool call), in the caller's
    transaction; the execution's fields it changed, for the caller to save."""
    interaction_data = result.interaction or {}
    kind = Interaction.Kind.QUESTION if result.status == "ask_user" else Interaction.Kind.APPROVAL
    interaction, created = Interaction.objects.get_or_create(
        execution=execution,
        tool_call_id=call.id,
        defaults={
            "turn": turn,
            "tool": call.name,
            "arguments": call.arguments,
            "kind": kind,
            "question": str(interaction_data.get("question") or f"Approve {call.name}?")[:4000],
            "choices": list(interaction_data.get("choices") or []),
            "details": redacted({k: v for k, v in interaction_data.items() if k not in ("question", "choices")}),
        },
    )
    if not created:
        return []
    type_ = events.USER_INTERACTION_REQUIRED if kind == Interaction.Kind.QUESTION else events.APPROVAL_REQUIRED
    events.event_append(execution, type_, {
        "turn": turn.index, "interaction_id": str(interaction.pk), "tool_call_id": call.id, "tool": call.name,
        "question": interaction.question, "choices": interaction.choices, "details": interaction.details})  # fmt: skip
    return trace(execution, {"turn": turn.index, "tool": call.name, "status": result.status}, save=False)


def _wait(execution: PromptExecution, turn: Turn) -> None:
    now = timezone.now()
    turn.status = TurnStatus.WAITING
    turn.lease_owner, turn.lease_expires_at = "", None
    turn.save(update_fields=["status", "lease_owner", "lease_expires_at"])
    fields = clock_stop(execution, now)
    execution.status = ExecutionStatus.WAITING_FOR_USER
    execution.save(update_fields=[*fields, "status", "updated_at"])


def _deliver(turn: Turn, worker: str, result: ToolResult) -> None:
    with transaction.atomic(), events.batched():
        locked = _locked(turn, worker)
        if locked is not None:
            _complete(locked[0], locked[1], result)


def _complete(execution: PromptExecution, turn: Turn, result: ToolResult) -> None:
    final = dict(result.final or {})
    if execution.result_columns is not None:
        final.setdefault("columns", execution.result_columns)
        final.setdefault("rows", execution.result_preview)
    if execution.generated_query_text:
        final.setdefault("sql", execution.generated_query_text)
    execution.final_data = final
    if final.get("confidence") is not None:
        execution.confidence = final["confidence"]
    progress(execution, turn.index, Phase.DELIVERY, save=False)  # its event; finish saves the fields
    turn.status = TurnStatus.DONE
    turn.completed_at = timezone.now()
    turn.save(update_fields=["status", "completed_at"])
    finish(execution, ExecutionStatus.COMPLETED, "", "", turn=None, extra=["final_data", "confidence"])
