from __future__ import annotations

from django.apps import AppConfig


class PromptsConfig(AppConfig):
    """Saved prompts, tags, soft delete and re-run (issue: prompts and executions API)."""

    name = "prompts"
