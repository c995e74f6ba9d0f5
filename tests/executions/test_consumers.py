"""The execution WebSocket through the real ASGI server (uvicorn + Channels), real Redis and
PostgreSQL, with the `websockets` client.

Alice owns Acme's workspace and her executions; Ana (analyst) runs one that asks her a question;
Vic (viewer) and Bob (Globex) should never see a byte of Alice's timeline.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import transaction
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from executions import events
from executions.consumers import (
    CLOSE_NOT_FOUND,
    CLOSE_ORIGIN,
    CLOSE_PING_TIMEOUT,
    CLOSE_TOO_MANY,
    CLOSE_UNAUTHENTICATED,
)
from executions.models import ExecutionEvent, ExecutionStatus, Interaction, PromptExecution
from tests.conftest import asgi_server, wait_for
from tests.executions.conftest import assert_timeline_intact, run, wait_status
from tests.executions.test_feed import append, make_execution, session_cookie
from tests.fakes.openai_server import reply, tool_call

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 10


def ws_url(http_url: str, execution: Any, query: str = "") -> str:
    return f"{http_url.replace('http://', 'ws://')}/ws/executions/{execution.pk}/{query}"


@contextmanager
def socket(url: str, *, cookie: str | None = None, origin: str | None = None) -> Iterator[ClientConnection]:
    headers = {"Cookie": cookie} if cookie else {}
    with connect(url, additional_headers=headers, origin=origin, open_timeout=TIMEOUT) as ws:  # type: ignore[arg-type]
        yield ws


def receive(ws: ClientConnection) -> dict[str, Any]:
    while True:
        message = json.loads(ws.recv(timeout=TIMEOUT))
        if message["type"] != "ping":
            return dict(message)


def receive_events(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    while len(received) < count:
        message = receive(ws)
        assert message["type"] == "event", message
        received.append(message["event"])
    return received


def assert_nothing_else_queued(ws: ClientConnection) -> None:
    """A ping answered by the very next message: nothing (a duplicate) was sent before it."""
    ws.send(json.dumps({"type": "ping"}))
    assert receive(ws) == {"type": "pong"}


def close_code(ws: ClientConnection) -> tuple[int, dict[str, Any] | None]:
    """The close code of a refused socket, and the error message sent before it."""
    error = None
    try:
        while True:
            message = json.loads(ws.recv(timeout=TIMEOUT))
            if message["type"] == "error":
                error = message
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "the server closed without a close frame"
        return closed.rcvd.code, error


def refused(url: str, **kwargs: Any) -> tuple[int, dict[str, Any] | None]:
    with socket(url, **kwargs) as ws:
        return close_code(ws)


def seqs(received: list[dict[str, Any]]) -> list[int]:
    return [event["seq"] for event in received]


def ticket_for(client_for: Any, user: Any, execution: Any) -> str:
    response = client_for(user).post(f"/api/v1/executions/{execution.pk}/ws-ticket")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["expires_in"] > 0 and body["websocket_url"].endswith(f"?ticket={body['ticket']}")
    return str(body["ticket"])


def test_backlog_then_live_events_and_a_replay_after_a_disconnect_without_gap_or_duplicate(
    tenancy, live_server_url
) -> None:
    execution = make_execution(tenancy)
    append(execution, events.EXECUTION_CREATED, events.PROGRESS, events.PROGRESS)
    cookie = session_cookie(tenancy.alice)

    with socket(ws_url(live_server_url, execution, "?after_seq=0"), cookie=cookie) as ws:
        assert seqs(receive_events(ws, 3)) == [1, 2, 3]  # the stored backlog
        append(execution, events.TOOL_COMPLETED)
        append(execution, events.PROGRESS, events.PROGRESS)  # live, while connected
        live = receive_events(ws, 3)
        assert seqs(live) == [4, 5, 6]
        assert live[0]["type"] == "tool.completed" and live[0]["execution_id"] == str(execution.pk)
        assert_nothing_else_queued(ws)

    append(execution, events.PROGRESS, events.TOOL_COMPLETED)  # missed while disconnected

    with socket(ws_url(live_server_url, execution, "?after_seq=6"), cookie=cookie) as ws:
        assert seqs(receive_events(ws, 2)) == [7, 8]
        append(execution, events.EXECUTION_COMPLETE, status=ExecutionStatus.COMPLETED)
        assert [(e["seq"], e["type"]) for e in receive_events(ws, 1)] == [(9, "execution_complete")]
        assert_nothing_else_queued(ws)


def test_a_live_event_after_a_gap_brings_the_missed_ones_from_the_database(tenancy, live_server_url) -> None:
    execution = make_execution(tenancy)
    append(execution, events.PROGRESS)
    with socket(ws_url(live_server_url, execution), cookie=session_cookie(tenancy.alice)) as ws:
        assert seqs(receive_events(ws, 1)) == [1]
        # Event 2 is committed but its publish is lost (the channel layer is at-most-once).
        with transaction.atomic():
            locked = PromptExecution.objects.select_for_update().get(pk=execution.pk)
            ExecutionEvent.objects.create(execution=locked, seq=2, type=events.PROGRESS, payload={"lost": True})
            PromptExecution.objects.filter(pk=execution.pk).update(last_event_seq=2)
        append(execution, events.PROGRESS)  # 3 arrives live: the socket sees the gap
        received = receive_events(ws, 2)
        assert seqs(received) == [2, 3] and received[0]["payload"] == {"lost": True}
        assert_nothing_else_queued(ws)


def test_ask_user_answered_over_the_socket_resumes_the_execution(
    tenancy, sqlite_source, scripted_model, celery_worker, live_server_url, client_for, marker
) -> None:
    scripted_model.script(marker, [
        reply(tool_calls=[tool_call("classify_intent", {"intent": "DATA_QUERY", "confidence": 0.9, "reason": "t"})]),
        reply(tool_calls=[tool_call("ask_user", {"question": "Which region?", "choices": ["EMEA", "NA"]})]),
        reply(tool_calls=[tool_call("finish", {"answer": "Thanks.", "confidence": 0.8})]),
    ])  # fmt: skip
    execution = wait_status(run(tenancy.ana, tenancy.acme, f"Customers {marker}"), ExecutionStatus.WAITING_FOR_USER)
    interaction = Interaction.objects.get(execution=execution)
    url = ws_url(live_server_url, execution, f"?ticket={ticket_for(client_for, tenancy.ana, execution)}")

    with socket(url) as ws:
        backlog = receive_events(ws, execution.last_event_seq)
        asked = [e for e in backlog if e["type"] == "user_interaction_required"]
        assert asked and asked[0]["payload"]["interaction_id"] == str(interaction.pk)

        ws.send(json.dumps({"type": "user_response", "interaction_id": str(interaction.pk), "text": ""}))
        assert receive(ws)["code"] == "answer_empty"
        ws.send(json.dumps({"type": "approve", "interaction_id": str(interaction.pk), "comment": ""}))
        assert receive(ws)["code"] == "not_an_approval"
        ws.send(json.dumps({"type": "user_response", "interaction_id": str(interaction.pk), "text": "EMEA"}))
        ack = receive(ws)
        assert ack == {"type": "ack", "action": "user_response", "interaction_id": str(interaction.pk)}
        ws.send(json.dumps({"type": "user_response", "interaction_id": str(interaction.pk), "text": "NA"}))

        live: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        while not live or live[-1]["type"] not in events.TERMINAL_EVENTS:
            message = receive(ws)
            (live if message["type"] == "event" else errors).append(message.get("event", message))
    assert [e["code"] for e in errors] == ["already_answered"]  # answered exactly once
    assert live[0]["type"] == "user.responded" and live[0]["payload"]["answer"] == "EMEA"
    assert live[-1]["type"] == "execution_complete"
    assert seqs(backlog + live) == list(range(1, len(backlog) + len(live) + 1))
    assert wait_status(execution).status == ExecutionStatus.COMPLETED
    assert_timeline_intact(execution)


def test_cancel_over_the_socket_and_bad_messages_get_coded_errors(tenancy, live_server_url) -> None:
    execution = make_execution(tenancy)
    append(execution, events.EXECUTION_CREATED)
    with socket(ws_url(live_server_url, execution, "?after_seq=1"), cookie=session_cookie(tenancy.alice)) as ws:
        for message, code in [
            ("not json", "bad_message"),
            (json.dumps([1]), "bad_message"),
            (json.dumps({"type": "dance"}), "unknown_type"),
            (json.dumps({"type": "approve"}), "validation_error"),
            (json.dumps({"type": "reject", "interaction_id": "nope", "comment": ""}), "not_found"),
        ]:
            ws.send(message)
            assert receive(ws)["code"] == code, message
        ws.send(json.dumps({"type": "cancel"}))
        assert receive(ws) == {"type": "ack", "action": "cancel"}
        assert [e["type"] for e in receive_events(ws, 1)] == ["execution_cancelled"]
        ws.send(json.dumps({"type": "cancel"}))
        assert receive(ws)["code"] == "execution_finished"


def test_a_viewer_granted_the_execution_may_watch_but_not_cancel(tenancy, live_server_url) -> None:
    from guardian.shortcuts import assign_perm

    execution = make_execution(tenancy)
    assign_perm("executions.view_promptexecution", tenancy.vic, execution)
    with socket(ws_url(live_server_url, execution), cookie=session_cookie(tenancy.vic)) as ws:
        ws.send(json.dumps({"type": "cancel"}))
        assert receive(ws)["code"] == "permission_denied"
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.PENDING


def test_the_sixth_socket_on_one_execution_is_refused_and_a_freed_slot_is_reused(tenancy, live_server_url) -> None:
    execution = make_execution(tenancy)
    append(execution, events.EXECUTION_CREATED)
    url, cookie = ws_url(live_server_url, execution), session_cookie(tenancy.alice)
    with socket(url, cookie=cookie) as first:
        receive_events(first, 1)
        with socket(url, cookie=cookie) as a, socket(url, cookie=cookie) as b, socket(url, cookie=cookie) as c:
            with socket(url, cookie=cookie) as d:
                for ws in (a, b, c, d):
                    receive_events(ws, 1)
                code, error = refused(url, cookie=cookie)
                assert code == CLOSE_TOO_MANY
                assert error is not None and error["code"] == "too_many_connections"
        # Four closed: their slots are free again (released as the server handles each close).

        def reconnected() -> bool:
            with socket(url, cookie=cookie) as again:
                return seqs(receive_events(again, 1)) == [1]

        wait_for(reconnected, timeout=TIMEOUT, what="a freed slot taken again")


@pytest.mark.parametrize("who", ["bob", "vic"])
def test_someone_who_may_not_view_the_execution_is_refused_without_data(tenancy, live_server_url, who) -> None:
    execution = make_execution(tenancy)
    append(execution, events.EXECUTION_CREATED)
    code, error = refused(ws_url(live_server_url, execution), cookie=session_cookie(getattr(tenancy, who)))
    assert code == CLOSE_NOT_FOUND and error is not None and error["code"] == "not_found"


def test_no_session_and_bad_or_used_tickets_are_refused(tenancy, live_server_url, client_for) -> None:
    execution = make_execution(tenancy)
    other = make_execution(tenancy)
    append(execution, events.EXECUTION_CREATED)
    assert refused(ws_url(live_server_url, execution))[0] == CLOSE_UNAUTHENTICATED
    assert refused(ws_url(live_server_url, execution, "?ticket=made-up"))[0] == CLOSE_UNAUTHENTICATED

    ticket = ticket_for(client_for, tenancy.alice, execution)
    with socket(ws_url(live_server_url, execution, f"?ticket={ticket}")) as ws:
        assert seqs(receive_events(ws, 1)) == [1]
    code, error = refused(ws_url(live_server_url, execution, f"?ticket={ticket}"))  # used
    assert code == CLOSE_UNAUTHENTICATED and error is not None and error["code"] == "ticket_invalid"

    for_other = ticket_for(client_for, tenancy.alice, other)
    assert refused(ws_url(live_server_url, execution, f"?ticket={for_other}"))[0] == CLOSE_UNAUTHENTICATED
    # A bad after_seq is a bad request.
    assert refused(ws_url(live_server_url, execution, "?after_seq=-1"), cookie=session_cookie(tenancy.alice))[0] == 4400


def test_a_foreign_origin_is_refused_and_our_own_is_let_through(tenancy, live_server_url) -> None:
    execution = make_execution(tenancy)
    append(execution, events.EXECUTION_CREATED)
    url, cookie = ws_url(live_server_url, execution), session_cookie(tenancy.alice)
    code, error = refused(url, cookie=cookie, origin="http://evil.example")
    assert code == CLOSE_ORIGIN and error is None  # not a byte of data
    with socket(url, cookie=cookie, origin=live_server_url) as ws:
        assert seqs(receive_events(ws, 1)) == [1]


@pytest.fixture(scope="module")
def quick_ping_server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second ASGI server whose sockets are pinged every second."""
    with asgi_server(tmp_path_factory.mktemp("asgi-ping"), WS_PING_INTERVAL="1") as url:
        yield url


def test_a_socket_that_does_not_answer_pings_is_dropped_and_one_that_does_stays(tenancy, quick_ping_server) -> None:
    execution = make_execution(tenancy)
    url, cookie = ws_url(quick_ping_server, execution), session_cookie(tenancy.alice)
    with socket(url, cookie=cookie) as silent, socket(url, cookie=cookie) as lively:
        pings = 0
        while pings < 3:  # the lively one answers three pings
            message = json.loads(lively.recv(timeout=TIMEOUT))
            if message["type"] == "ping":
                pings += 1
                lively.send(json.dumps({"type": "pong"}))
        code, _ = close_code(silent)  # its first ping went unanswered
        assert code == CLOSE_PING_TIMEOUT
        assert_nothing_else_queued(lively)


def test_a_burst_of_group_joins_waits_for_the_bounded_pool_instead_of_failing(settings) -> None:
    """Two connections for 200 concurrent joins: each waits its turn (redis-py's plain asyncio pool
    would raise "Too many connections"), and a blocking read outlasts channels_redis's BZPOPMIN."""
    from asgiref.sync import async_to_sync

    from config.channel_layer import BoundedRedisChannelLayer

    config = dict(settings.CHANNEL_LAYERS["default"]["CONFIG"])
    address = config["hosts"][0]["address"]
    layer = BoundedRedisChannelLayer(**{**config, "hosts": [{"address": address, "max_connections": 2, "timeout": 20}]})
    group = f"burst.{uuid.uuid4().hex}"

    async def burst() -> int:
        channels = [f"burst-{i}-{uuid.uuid4().hex}" for i in range(200)]
        await asyncio.gather(*(layer.group_add(group, channel) for channel in channels))
        connection = layer.connection(0)
        members = await connection.zcard(layer._group_key(group))
        pool = connection.connection_pool
        assert pool.max_connections == 2
        assert pool.connection_kwargs["socket_timeout"] > layer.brpop_timeout
        await connection.delete(layer._group_key(group))
        await layer.close_pools()
        return int(members)

    assert async_to_sync(burst)() == 200
