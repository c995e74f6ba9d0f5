"""The event feed of an execution for integrators without WebSockets, and WebSocket tickets.

``GET /api/v1/executions/{id}/events?after_seq=N`` answers a JSON page of stored events, or, when
the Accept header asks for ``text/event-stream``, a Server-Sent Events stream: the stored events
after N (or after ``Last-Event-ID``, which a reconnecting EventSource sends), then new ones as they
are committed, each with ``id: <seq>``. The stream ends after the terminal event
(execution_complete, execution_failed, execution_cancelled), or after ``EVENT_STREAM_MAX_SECONDS``
(the client reconnects and resumes); it polls the database every ``EVENT_STREAM_POLL_SECONDS``,
which is the record, so it can neither skip nor repeat an event.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ERROR_RESPONSES
from executions.consumers import ticket_issue
from executions.events import TERMINAL_EVENTS
from executions.models import ExecutionEvent, PromptExecution
from executions.selectors import access_execution, events_after

SSE_BATCH = 200
MAX_SEQ = 2**31 - 1


class EventStreamRenderer(BaseRenderer):
    """Lets ``Accept: text/event-stream`` be negotiated; the stream itself is a StreamingHttpResponse
    and error bodies are rendered as JSON (``finalize_response``)."""

    media_type = "text/event-stream"
    format = "sse"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return json.dumps(data, cls=DjangoJSONEncoder).encode()


class EventOutput(serializers.Serializer):
    execution_id = serializers.UUIDField()
    seq = serializers.IntegerField(help_text="Strictly increasing per execution, without gaps, from 1.")
    type = serializers.CharField(help_text="progress, tool.completed, user_interaction_required, execution_complete...")
    payload = serializers.JSONField()
    created_at = serializers.DateTimeField()


class FeedPageOutput(serializers.Serializer):
    events = EventOutput(many=True)
    next_after_seq = serializers.IntegerField(help_text="Pass as after_seq for the next page.")
    has_more = serializers.BooleanField(help_text="More events are stored after this page.")


_EVENT_EXAMPLE = {
    "execution_id": "5b0f4c8e-1d2a-4f7e-9c1b-2a3d4e5f6a7b",
    "seq": 3,
    "type": "progress",
    "payload": {"phase": "classification", "percentage": 15, "turn": 1},
    "created_at": "2026-12-01T15:04:05.123456+00:00",
}
# Errors are JSON whatever was asked for; access_execution here never answers 403.
_JSON_ERRORS = {(code, "application/json"): reply for code, reply in ERROR_RESPONSES.items() if code not in (403, 413)}


def _seq(value: Any, name: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        number = -1
    if not 0 <= number <= MAX_SEQ:
        raise serializers.ValidationError({name: ["A non-negative integer."]})
    return number


class EventFeedApi(APIView):
    renderer_classes = [JSONRenderer, EventStreamRenderer]

    class FeedInput(serializers.Serializer):
        after_seq = serializers.IntegerField(required=False, default=0, min_value=0, max_value=MAX_SEQ)
        limit = serializers.IntegerField(required=False, default=100, min_value=1, max_value=500)

    @extend_schema(
        operation_id="executions_events",
        summary="The execution's events after a seq: a JSON page, or an SSE stream",
        description=(
            "With `Accept: text/event-stream`: Server-Sent Events, one per stored event after `after_seq` (or "
            "after the `Last-Event-ID` header, which wins), then new events as they are committed; each has "
            "`id: <seq>` and `data: <the event as JSON>`. The stream ends after the terminal event "
            "(`execution_complete`, `execution_failed`, `execution_cancelled`) or after "
            "`EVENT_STREAM_MAX_SECONDS`; reconnect with `Last-Event-ID` to resume without gaps or duplicates. "
            "Otherwise a JSON page of at most `limit` events."
        ),
        parameters=[
            OpenApiParameter("after_seq", int, description="Events with a greater seq (default 0: all)."),
            OpenApiParameter("limit", int, description="JSON pages only: events per page, 1 to 500 (default 100)."),
            OpenApiParameter(
                "Last-Event-ID",
                int,
                location=OpenApiParameter.HEADER,
                required=False,
                description="SSE only: the last seq received; takes precedence over after_seq.",
            ),
        ],
        responses={
            (200, "application/json"): OpenApiResponse(
                FeedPageOutput,
                description="A page of events",
                examples=[
                    OpenApiExample(
                        "A page",
                        value={"events": [_EVENT_EXAMPLE], "next_after_seq": 3, "has_more": False},
                    )
                ],
            ),
            (200, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR,
                description="Server-Sent Events until the terminal event",
                examples=[
                    OpenApiExample(
                        "Two events",
                        value=(
                            'id: 3\ndata: {"execution_id": "5b0f...", "seq": 3, "type": "progress", ...}\n\n'
                            'id: 4\ndata: {"execution_id": "5b0f...", "seq": 4, "type": "execution_complete", ...}\n\n'
                        ),
                    )
                ],
            ),
            **_JSON_ERRORS,
        },
        tags=["executions"],
    )
    def get(self, request: Request, execution_id: str) -> Any:
        execution = access_execution(user=request.user, execution_id=execution_id)
        data = self.FeedInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        after_seq = data.validated_data["after_seq"]
        if getattr(request.accepted_renderer, "format", "") == EventStreamRenderer.format:
            last_event_id = request.headers.get("Last-Event-ID")
            if last_event_id:
                after_seq = _seq(last_event_id, "Last-Event-ID")
            response = StreamingHttpResponse(event_stream(execution, after_seq), content_type="text/event-stream")
            response["Cache-Control"] = "no-store"
            response["X-Accel-Buffering"] = "no"  # a proxy must pass each event on as it comes
            return response
        limit = data.validated_data["limit"]
        batch = events_after(execution=execution, after_seq=after_seq, limit=limit + 1)
        page = batch[:limit]
        body = {
            "events": [event.as_json() for event in page],
            "next_after_seq": page[-1].seq if page else after_seq,
            "has_more": len(batch) > limit,
        }
        return Response(FeedPageOutput(body).data)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response) and response.status_code >= 400:
            # Errors are JSON bodies whatever was asked for (an EventSource reads the status only).
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = "application/json"
        return response


def _sse(event: ExecutionEvent) -> bytes:
    return f"id: {event.seq}\ndata: {json.dumps(event.as_json(), cls=DjangoJSONEncoder)}\n\n".encode()


def _poll(execution: PromptExecution, after_seq: int) -> tuple[list[ExecutionEvent], bool]:
    """The next events, and whether the execution had ended before they were read (its terminal
    event is then among them, or was sent before)."""
    execution.refresh_from_db(fields=["status"])
    ended = execution.is_terminal
    return events_after(execution=execution, after_seq=after_seq, limit=SSE_BATCH), ended


async def event_stream(execution: PromptExecution, after_seq: int) -> AsyncIterator[bytes]:
    """Stored events after ``after_seq``, then new ones, until the terminal event or the time limit."""
    started = last_sent = time.monotonic()
    yield b"retry: 2000\n\n"  # an EventSource reconnects after 2 s
    while True:
        batch, ended = await sync_to_async(_poll)(execution, after_seq)
        for event in batch:
            yield _sse(event)
            after_seq, last_sent = event.seq, time.monotonic()
            if event.type in TERMINAL_EVENTS:
                return
        if len(batch) == SSE_BATCH:
            continue
        if ended or time.monotonic() - started >= settings.EVENT_STREAM_MAX_SECONDS:
            return
        if time.monotonic() - last_sent >= settings.EVENT_STREAM_KEEPALIVE_SECONDS:
            yield b": keep-alive\n\n"
            last_sent = time.monotonic()
        await asyncio.sleep(settings.EVENT_STREAM_POLL_SECONDS)


class TicketOutput(serializers.Serializer):
    ticket = serializers.CharField(help_text="Connect once to ws/executions/{id}/?ticket=<ticket> within expires_in.")
    expires_in = serializers.IntegerField(help_text="Seconds the ticket stays valid (WS_TICKET_SECONDS).")
    websocket_url = serializers.CharField(help_text="The path to connect to, ticket included.")


class WebSocketTicketApi(APIView):
    @extend_schema(
        operation_id="executions_ws_ticket",
        summary="A single-use ticket for the execution's WebSocket",
        description=(
            "For clients that cannot send the session cookie with a WebSocket handshake (or authenticate "
            "with a Bearer token, which a browser cannot send there): the ticket opens one socket on this "
            "execution as you, within `expires_in` seconds, and is then used up. Never put a long-lived "
            "token in a URL; a ticket is fine because it is short-lived and single-use."
        ),
        request=None,
        responses={
            201: OpenApiResponse(
                TicketOutput,
                examples=[
                    OpenApiExample(
                        "A ticket",
                        value={
                            "ticket": "q3J8v0mZ5bYw2k9h1T3xG4nR6cE7sD8fA0uL2pV5iO4",
                            "expires_in": 30,
                            "websocket_url": "/ws/executions/5b0f4c8e-1d2a-4f7e-9c1b-2a3d4e5f6a7b/?ticket=q3J8v0...",
                        },
                    )
                ],
            ),
            **{code: response for code, response in ERROR_RESPONSES.items() if code != 403},
        },
        tags=["executions"],
    )
    def post(self, request: Request, execution_id: str) -> Response:
        execution = access_execution(user=request.user, execution_id=execution_id)
        ticket = ticket_issue(user=request.user, execution=execution)
        body = {
            "ticket": ticket.ticket,
            "expires_in": ticket.expires_in,
            "websocket_url": f"/ws/executions/{execution.pk}/?ticket={ticket.ticket}",
        }
        return Response(TicketOutput(body).data, status=status.HTTP_201_CREATED)
