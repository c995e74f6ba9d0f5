"""The execution timeline: events appended in the transaction of the state they report, then
published to the execution's channel-layer group once that transaction has committed.

The database is the record (gap-free ``seq`` per execution); the channel layer is only a fast path:
a client that misses a published event sees a gap in ``seq`` and backfills from the database.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import threading
from collections.abc import Coroutine
from typing import Any

from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from executions.models import ExecutionEvent, PromptExecution

logger = logging.getLogger(__name__)
PUBLISH_TIMEOUT_SECONDS = 5.0

# Event types (the vocabulary clients rely on).
EXECUTION_CREATED = "execution.created"
EXECUTION_STARTED = "execution.started"
PROGRESS = "progress"
TURN_STARTED = "turn.started"
MODEL_RESPONDED = "model.responded"
MODEL_RETRYING = "model.retrying"
TOOL_REQUESTED = "tool.requested"
TOOL_DENIED = "tool.denied"
TOOL_COMPLETED = "tool.completed"
TOOL_FAILED = "tool.failed"
USER_INTERACTION_REQUIRED = "user_interaction_required"
APPROVAL_REQUIRED = "approval_required"
USER_RESPONDED = "user.responded"
EXECUTION_COMPLETE = "execution_complete"
EXECUTION_FAILED = "execution_failed"
EXECUTION_CANCELLED = "execution_cancelled"
TERMINAL_EVENTS = frozenset({EXECUTION_COMPLETE, EXECUTION_FAILED, EXECUTION_CANCELLED})


def group_name(execution_id: Any) -> str:
    return f"execution.{execution_id}"


def event_append(execution: PromptExecution, type_: str, payload: dict[str, Any] | None = None) -> ExecutionEvent:
    """Appends the next event of ``execution``, which the caller has locked (select_for_update) in
    the open transaction: the lock is what keeps ``seq`` gap-free and strictly increasing."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("events are written in the transaction of the state they report")
    payload = payload or {}
    # One round trip: the counter moves and the event is written with the number it got.
    with connection.cursor() as cursor:
        cursor.execute(_APPEND_SQL, [execution.pk, type_, json.dumps(payload, cls=DjangoJSONEncoder)])
        event_id, seq, created_at = cursor.fetchone()
    execution.last_event_seq = seq
    event = ExecutionEvent(id=event_id, execution=execution, seq=seq, type=type_, payload=payload,
                           created_at=created_at)  # fmt: skip
    _publish_on_commit(event)
    return event


_EVENT_TABLE = ExecutionEvent._meta.db_table
_EXECUTION_TABLE = PromptExecution._meta.db_table
_APPEND_SQL = f"""
    WITH counter AS (
        UPDATE {_EXECUTION_TABLE} SET last_event_seq = last_event_seq + 1 WHERE id = %s RETURNING id, last_event_seq
    )
    INSERT INTO {_EVENT_TABLE} (execution_id, seq, type, payload, created_at)
    SELECT id, last_event_seq, %s, %s::jsonb, clock_timestamp() FROM counter
    RETURNING id, seq, created_at
"""  # noqa: S608  table names from the models, values as parameters


def _publish_on_commit(event: ExecutionEvent) -> None:
    # One publish per committed transaction, carrying its events in order, rather than one each.
    connection = transaction.get_connection()
    state: tuple[list[ExecutionEvent], Any] | None = getattr(connection, "_psa_pending_events", None)
    # A rolled-back transaction drops its on_commit callbacks: a list whose flush is no longer
    # registered belongs to it and is discarded with it.
    if state is None or not any(entry[1] is state[1] for entry in connection.run_on_commit):
        pending: list[ExecutionEvent] = []

        def flush() -> None:
            connection._psa_pending_events = None
            broadcast(pending)

        state = (pending, flush)
        connection._psa_pending_events = state
        transaction.on_commit(flush)
    state[0].append(event)


class _Publisher:
    """One event loop per process, on a daemon thread, that the channel layer lives on: publishing
    from synchronous code then costs a hand-over instead of ``async_to_sync``'s new loop and thread
    per call (and channels_redis keeps its connections, which belong to one loop)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.pid = 0

    def submit(self, coroutine: Coroutine[Any, Any, None]) -> concurrent.futures.Future[None]:
        with self.lock:
            if self.loop is None or self.pid != os.getpid():  # a forked child gets its own loop
                self.loop = asyncio.new_event_loop()
                self.pid = os.getpid()
                threading.Thread(target=self.loop.run_forever, name="event-publisher", daemon=True).start()
            return asyncio.run_coroutine_threadsafe(coroutine, self.loop)


_publisher = _Publisher()


def broadcast(events: list[ExecutionEvent]) -> None:
    """Sends events to their executions' groups; a channel-layer failure is logged, never raised
    (the events are committed, and clients backfill what they miss)."""
    if not events:
        return
    layer = get_channel_layer()
    if layer is None:
        return
    messages = [(group_name(event.execution_id), {"type": "execution.event", "event": event.as_json()})
                for event in events]  # fmt: skip

    async def send() -> None:
        for group, message in messages:
            await layer.group_send(group, message)

    try:
        # Waited for, so that events leave in commit order and a failure is seen here.
        _publisher.submit(send()).result(timeout=PUBLISH_TIMEOUT_SECONDS)
    except Exception:
        logger.warning("publishing %d execution events failed", len(events), exc_info=True)
