"""Reads for the agent: the model configurations a workspace can use."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import F, Q

from agent.models import ModelConfig

OFFLINE = "offline"
OFFLINE_LABEL = "Offline (built-in, no key needed)"


def model_configs_for_workspace(workspace_id: Any) -> list[ModelConfig]:
    """Enabled configurations of the workspace, then the shared ones (workspace null), each by name.

    The workspace's own come first so that they win over a shared one of the same name.
    """
    scope = Q(workspace__isnull=True)
    if workspace_id is not None:
        scope |= Q(workspace_id=workspace_id)
    return list(
        ModelConfig.objects.filter(scope, enabled=True).order_by(F("workspace_id").asc(nulls_last=True), "name")
    )


def models_for_workspace(workspace_id: Any) -> list[tuple[str, str]]:
    """(name, label) of every model a person can pick for an execution in this workspace: its
    usable configurations, the deployment's routed models when it has a key, and "offline"."""
    choices: dict[str, str] = {}
    for config in model_configs_for_workspace(workspace_id):
        if config.name in choices or config.endpoint() is None:
            continue
        choices[config.name] = config.name if config.name == config.model else f"{config.name} ({config.model})"
    if settings.OPENAI_API_KEY:
        for name in (settings.MODEL_CLASSIFICATION, settings.MODEL_PLANNING, settings.MODEL_GENERATION):
            if name and name != OFFLINE:
                choices.setdefault(name, name)
    choices[OFFLINE] = OFFLINE_LABEL
    return list(choices.items())
