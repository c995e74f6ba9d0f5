"""The event feed (JSON pages or SSE) and WebSocket tickets, under /api/v1/."""

from __future__ import annotations

from typing import Any

from django.urls import path

from executions import feeds

urlpatterns: list[Any] = [
    path("executions/<str:execution_id>/events", feeds.EventFeedApi.as_view(), name="execution-events"),
    path("executions/<str:execution_id>/ws-ticket", feeds.WebSocketTicketApi.as_view(), name="execution-ws-ticket"),
]
