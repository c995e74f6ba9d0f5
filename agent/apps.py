from __future__ import annotations

from django.apps import AppConfig


class AgentConfig(AppConfig):
    """The model layer, the offline model, and the tool registry."""

    name = "agent"
