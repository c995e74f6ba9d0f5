"""The event feed: JSON pages and the SSE stream (through the real ASGI server), and who may read it.

Alice owns Acme's workspace and her execution; Bob owns Globex's and should get a 404 for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.db import transaction
from django.test import Client

from executions import events
from executions.models import ExecutionStatus, PromptExecution
from executions.services.create import execution_grant

pytestmark = pytest.mark.django_db(transaction=True)


def make_execution(tenancy: Any) -> PromptExecution:
    """An execution of Alice's that no worker runs: the test writes its timeline itself."""
    execution = PromptExecution.objects.create(workspace=tenancy.acme, user=tenancy.alice, prompt_text="x")
    execution_grant(execution, tenancy.alice)  # what execution_create grants
    return execution


def append(execution: PromptExecution, *types: str, status: str | None = None) -> None:
    """Commits events as the worker does (in a transaction, with the execution locked)."""
    with transaction.atomic():
        locked = PromptExecution.objects.select_for_update().get(pk=execution.pk)
        for type_ in types:
            events.event_append(locked, type_, {"note": type_})
        if status is not None:
            locked.status = status
            locked.save(update_fields=["status"])


def session_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def test_json_pages_follow_after_seq_without_gaps(tenancy, client_for) -> None:
    execution = make_execution(tenancy)
    append(execution, *[events.PROGRESS] * 7)
    api = client_for(tenancy.alice)
    url = f"/api/v1/executions/{execution.pk}/events"

    seen: list[int] = []
    after, has_more = 0, True
    while has_more:
        body = api.get(url, {"after_seq": after, "limit": 3}).json()
        seen += [event["seq"] for event in body["events"]]
        after, has_more = body["next_after_seq"], body["has_more"]
    assert seen == [1, 2, 3, 4, 5, 6, 7]
    assert after == 7

    first = api.get(url, {"after_seq": 5}).json()
    assert [e["seq"] for e in first["events"]] == [6, 7] and first["has_more"] is False
    assert set(first["events"][0]) == {"execution_id", "seq", "type", "payload", "created_at"}
    assert api.get(url, {"after_seq": 7}).json() == {"events": [], "next_after_seq": 7, "has_more": False}


@pytest.mark.parametrize("query", [{"after_seq": "x"}, {"after_seq": -1}, {"limit": 0}, {"limit": 501}])
def test_bad_paging_parameters_are_a_validation_error(tenancy, client_for, query) -> None:
    execution = make_execution(tenancy)
    response = client_for(tenancy.alice).get(f"/api/v1/executions/{execution.pk}/events", query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize("who", ["bob", "vic"])
def test_someone_who_may_not_view_the_execution_gets_404(tenancy, client_for, who) -> None:
    execution = make_execution(tenancy)
    append(execution, events.PROGRESS)
    api = client_for(getattr(tenancy, who))
    for accept in ("application/json", "text/event-stream"):
        response = api.get(f"/api/v1/executions/{execution.pk}/events", HTTP_ACCEPT=accept)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == "not_found"
    assert api.post(f"/api/v1/executions/{execution.pk}/ws-ticket").status_code == 404
    assert client_for(tenancy.alice).get("/api/v1/executions/not-a-uuid/events").status_code == 404


def test_anonymous_is_401(tenancy, api) -> None:
    execution = make_execution(tenancy)
    for response in (
        api.get(f"/api/v1/executions/{execution.pk}/events"),
        api.get(f"/api/v1/executions/{execution.pk}/events", HTTP_ACCEPT="text/event-stream"),
        api.post(f"/api/v1/executions/{execution.pk}/ws-ticket"),
    ):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"


def _read_sse(lines: Iterator[str]) -> list[tuple[int, dict[str, Any]]]:
    """The (id, data) of each event until the server ends the stream."""
    received: list[tuple[int, dict[str, Any]]] = []
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "id" in fields:
                received.append((int(fields["id"]), json.loads(fields["data"])))
            fields = {}
        elif not line.startswith(":") and ":" in line:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return received


def test_sse_resumes_after_last_event_id_follows_new_events_and_ends_after_the_terminal_one(
    tenancy, live_server_url
) -> None:
    execution = make_execution(tenancy)
    append(execution, events.EXECUTION_CREATED, events.PROGRESS, events.PROGRESS)
    headers = {"Accept": "text/event-stream", "Last-Event-ID": "1", "Cookie": session_cookie(tenancy.alice)}
    url = f"{live_server_url}/api/v1/executions/{execution.pk}/events?after_seq=0"

    with httpx.stream("GET", url, headers=headers, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines) == "retry: 2000"
        assert next(lines) == ""
        first = []
        for line in lines:  # the stored events after Last-Event-ID
            if line.startswith("id: "):
                first.append(int(line[4:]))
            if first == [2, 3]:
                break
        # New events, committed while the stream is open, and then the terminal one.
        append(execution, events.TOOL_COMPLETED)
        append(execution, events.EXECUTION_COMPLETE, status=ExecutionStatus.COMPLETED)
        rest = _read_sse(lines)  # returns when the server ends the stream

    assert first + [seq for seq, _ in rest] == [2, 3, 4, 5]
    assert [data["type"] for _, data in rest] == ["tool.completed", "execution_complete"]
    assert all(data["seq"] == seq and data["execution_id"] == str(execution.pk) for seq, data in rest)

    # Resuming after the terminal event: nothing more, and the stream ends at once.
    headers["Last-Event-ID"] = "5"
    with httpx.stream("GET", url, headers=headers, timeout=30) as response:
        assert _read_sse(response.iter_lines()) == []
    with httpx.stream("GET", url, headers={**headers, "Last-Event-ID": "zz"}, timeout=30) as response:
        assert response.status_code == 400
        response.read()
        assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    ("persona", "events_status", "ticket_status"),
    [
        ("anonymous", 401, 401),
        ("bob", 404, 404),  # another organisation
        ("vic", 404, 404),  # a viewer of the workspace: Alice's execution is not shared with viewers
        ("ana", 404, 404),  # an analyst: neither with analysts
        ("adam", 200, 201),  # an admin sees every execution of the workspace
        ("alice", 200, 201),  # its author
    ],
)
def test_permission_matrix_of_the_feed_and_the_ticket(
    tenancy, api, client_for, persona, events_status, ticket_status
) -> None:
    execution = make_execution(tenancy)
    client = api if persona == "anonymous" else client_for(getattr(tenancy, persona))
    assert client.get(f"/api/v1/executions/{execution.pk}/events").status_code == events_status
    assert client.post(f"/api/v1/executions/{execution.pk}/ws-ticket").status_code == ticket_status
