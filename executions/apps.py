from __future__ import annotations

from django.apps import AppConfig


class ExecutionsConfig(AppConfig):
    """Executions, turns, the event timeline, the WebSocket consumer and the studio pages."""

    name = "executions"
