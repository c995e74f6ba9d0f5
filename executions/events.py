"""The execution timeline: events appended in the transaction of the state they report, then
published to the execution's channel-layer group once that transaction has committed.

The database is the record (gap-free ``seq`` per execution); the channel layer is only a fast path:
a client that misses a published event sees a gap in ``seq`` and backfills from the database.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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


def event_append(execution: PromptExecution, type_: str, payload: dict[str, Any] | None = None) -> None:
    """Appends the next event of ``execution``, which the caller has locked (select_for_update) in
    the open transaction: the lock is what keeps ``seq`` gap-free and strictly increasing. Inside
    ``batched()`` the event is written when the batch closes, with the others, in one statement."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("events are written in the transaction of the state they report")
    batch: list[tuple[PromptExecution, str, dict[str, Any]]] | None = getattr(connection, "_psa_event_batch", None)
    if batch is not None:
        batch.append((execution, type_, payload or {}))
        return
    _write(connection, execution, [(type_, payload or {})])


@contextmanager
def batched() -> Iterator[None]:
    """Collects the events appended in the block and writes them when it ends, one statement per
    execution, in the order they were appended. Use it inside the transaction: ``with
    transaction.atomic(), events.batched():``. A block that raises writes nothing."""
    connection = transaction.get_connection()
    if getattr(connection, "_psa_event_batch", None) is not None:  # nested: the outer batch writes
        yield
        return
    batch: list[tuple[PromptExecution, str, dict[str, Any]]] = []
    connection._psa_event_batch = batch
    try:
        yield
    finally:
        connection._psa_event_batch = None
    by_execution: dict[Any, tuple[PromptExecution, list[tuple[str, dict[str, Any]]]]] = {}
    for execution, type_, payload in batch:
        by_execution.setdefault(execution.pk, (execution, []))[1].append((type_, payload))
    for execution, items in by_execution.values():
        _write(connection, execution, items)


def _write(connection: Any, execution: PromptExecution, items: list[tuple[str, dict[str, Any]]]) -> None:
    # One round trip: the counter moves by len(items) and the events get the numbers it passed.
    types = [type_ for type_, _ in items]
    payloads = [json.dumps(payload, cls=DjangoJSONEncoder) for _, payload in items]
    with connection.cursor() as cursor:
        cursor.execute(_APPEND_SQL, [len(items), execution.pk, len(items), types, payloads])
        written = sorted(cursor.fetchall(), key=lambda row: row[1])
    for (event_id, seq, created_at), (type_, payload) in zip(written, items, strict=True):
        execution.last_event_seq = seq
        _publish_on_commit(ExecutionEvent(id=event_id, execution=execution, seq=seq, type=type_, payload=payload,
                                          created_at=created_at))  # fmt: skip


_EVENT_TABLE = ExecutionEvent._meta.db_table
_EXECUTION_TABLE = PromptExecution._meta.db_table
_APPEND_SQL = f"""
    WITH counter AS (
        UPDATE {_EXECUTION_TABLE} SET last_event_seq = last_event_seq + %s WHERE id = %s RETURNING id, last_event_seq
    )
    INSERT INTO {_EVENT_TABLE} (execution_id, seq, type, payload, created_at)
    SELECT counter.id, counter.last_event_seq - %s + item.ordinal, item.type, item.payload::jsonb, clock_timestamp()
    FROM counter, unnest(%s::text[], %s::text[]) WITH ORDINALITY AS item(type, payload, ordinal)
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
    """One event loop per process, on a daemon thread, that the channel layer lives on, with one
    sender draining a queue: publishing from synchronous code is a hand-over (the committing thread
    does not wait for Redis), and batches leave in the order they were committed. channels_redis
    keeps its connections, which belong to one loop."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.queue: asyncio.Queue[list[tuple[str, dict[str, Any]]]] | None = None
        self.pid = 0
        self.sender: asyncio.Task[None] | None = None
        self.pending = 0  # batches handed over and not yet sent
        self.idle = threading.Condition(self.lock)

    def _start(self) -> None:
        self.pending = 0  # a forked child starts with nothing of its parent's in flight
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            self.queue = asyncio.Queue()
            self.sender = loop.create_task(self._sender(self.queue))
            loop.call_soon(ready.set)
            loop.run_forever()

        threading.Thread(target=run, name="event-publisher", daemon=True).start()
        ready.wait()
        if self.loop is None:
            atexit.register(self.drain, 2.0)  # a process that ends lets what it committed leave first
        self.loop, self.pid = loop, os.getpid()

    def submit(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        with self.lock:
            if self.loop is None or self.pid != os.getpid():  # a forked child gets its own loop
                self._start()
            self.pending += 1
            assert self.loop is not None and self.queue is not None
            self.loop.call_soon_threadsafe(self.queue.put_nowait, messages)

    async def _sender(self, queue: asyncio.Queue[list[tuple[str, dict[str, Any]]]]) -> None:
        while True:
            messages = await queue.get()
            try:
                layer = get_channel_layer()
                if layer is not None:
                    for group, message in messages:
                        await asyncio.wait_for(layer.group_send(group, message), PUBLISH_TIMEOUT_SECONDS)
            except Exception:
                # The events are committed; clients backfill what they miss.
                logger.warning("publishing %d execution events failed", len(messages), exc_info=True)
            finally:
                with self.lock:
                    self.pending -= 1
                    if self.pending == 0:
                        self.idle.notify_all()

    def drain(self, timeout: float = PUBLISH_TIMEOUT_SECONDS) -> bool:
        """Waits until everything handed over was sent (or failed); False on timeout."""
        with self.lock:
            return self.idle.wait_for(lambda: self.pending == 0, timeout)


_publisher = _Publisher()


def broadcast(events: list[ExecutionEvent]) -> None:
    """Hands events to the publisher, which sends them to their executions' groups in order; a
    channel-layer failure is logged, never raised (the events are committed, and clients backfill
    what they miss)."""
    if not events:
        return
    _publisher.submit([(group_name(event.execution_id), {"type": "execution.event", "event": event.as_json()})
                       for event in events])  # fmt: skip


def drain(timeout: float = PUBLISH_TIMEOUT_SECONDS) -> bool:
    """Waits until this process's published events have left (a worker shutting down, a test)."""
    return _publisher.drain(timeout)
