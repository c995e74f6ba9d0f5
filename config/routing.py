"""WebSocket routes. Each app that has consumers contributes its patterns here."""

from __future__ import annotations

from typing import Any

from django.urls import path

from executions.consumers import ExecutionConsumer

websocket_urlpatterns: list[Any] = [
    path("ws/executions/<uuid:execution_id>/", ExecutionConsumer.as_asgi()),
]
