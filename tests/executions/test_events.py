"""Events reach the execution's channel-layer group after their transaction commits, in order,
and the events of a rolled-back transaction never do."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from executions import events
from executions.models import ExecutionEvent, PromptExecution

pytestmark = pytest.mark.django_db(transaction=True)


def _append(execution_id: Any, *numbers: int) -> None:
    with transaction.atomic():
        execution = PromptExecution.objects.select_for_update().get(pk=execution_id)
        for number in numbers:
            events.event_append(execution, events.PROGRESS, {"n": number})


def test_committed_events_are_published_in_commit_order_and_rolled_back_ones_never(tenancy) -> None:
    execution = PromptExecution.objects.create(workspace=tenancy.acme, user=tenancy.alice, prompt_text="x")
    layer = get_channel_layer()
    # A plain channel of this test's own (a process-specific one is tied to one event loop).
    channel = f"execution-test-{uuid.uuid4().hex}"
    async_to_sync(layer.group_add)(events.group_name(execution.pk), channel)

    _append(execution.pk, 1, 2)
    with pytest.raises(RuntimeError), transaction.atomic():
        locked = PromptExecution.objects.select_for_update().get(pk=execution.pk)
        events.event_append(locked, events.PROGRESS, {"n": 99})
        raise RuntimeError("rolled back")
    _append(execution.pk, 3)
    assert events.drain(10), "the publisher did not send what was committed"

    async def receive(count: int) -> list[dict]:  # one event loop for the channel's whole life
        return [(await layer.receive(channel))["event"] for _ in range(count)]

    received = async_to_sync(receive)(3)
    # In order, gap-free, and the rolled-back event (which would have come before 3) never left.
    assert [(e["execution_id"], e["seq"], e["payload"]["n"]) for e in received] == [
        (str(execution.pk), 1, 1), (str(execution.pk), 2, 2), (str(execution.pk), 3, 3)]  # fmt: skip
    stored = list(ExecutionEvent.objects.filter(execution=execution).order_by("seq").values_list("seq", flat=True))
    assert stored == [1, 2, 3]


def test_publishing_never_holds_up_the_committing_thread_when_the_layer_fails(tenancy, monkeypatch) -> None:
    execution = PromptExecution.objects.create(workspace=tenancy.acme, user=tenancy.alice, prompt_text="x")
    layer = get_channel_layer()

    async def broken(group: str, message: dict) -> None:
        raise ConnectionError("redis went away")

    monkeypatch.setattr(layer, "group_send", broken)
    _append(execution.pk, 1)  # commits; the failure is logged by the publisher, not raised here
    assert events.drain(10)
    assert ExecutionEvent.objects.filter(execution=execution).count() == 1
