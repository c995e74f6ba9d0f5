"""The agent's records: the side-effect ledger (and the model configurations, with encrypted keys)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models

from agent.types import CATEGORIES
from config.crypto import EncryptedJSONField


class ToolLedger(models.Model):
    """One row per side-effecting tool call, written (and committed) before the tool acts.

    A redelivered turn finds the row: done, it reuses the stored result; started but not done, the
    earlier attempt may have acted, so it is not repeated and the model is told the outcome is
    unknown. Keyed by the execution and the model's tool-call id. ``execution_id`` is not a foreign
    key: executions depend on the agent, not the other way round.
    """

    class Status(models.TextChoices):
        STARTED = "started"
        DONE = "done"

    execution_id = models.UUIDField()
    tool_call_id = models.CharField(max_length=128)
    tool = models.CharField(max_length=64)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.STARTED)
    result = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["execution_id", "tool_call_id"], name="tool_ledger_call_unique")]

    def __str__(self) -> str:
        return f"{self.tool} {self.tool_call_id} ({self.status})"


def validate_base_url(value: str) -> None:
    # Not URLValidator: it refuses hosts without a dot, and "http://ollama:11434/v1" is a common endpoint.
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("Enter an http:// or https:// URL, e.g. https://api.openai.com/v1.")


class ModelConfig(models.Model):
    """A named model users can pick: a provider model behind an OpenAI-compatible endpoint, with
    its own key. ``workspace`` null makes it available to every workspace.

    The key is encrypted at rest (FIELD_ENCRYPTION_KEYS) and never shown back, not even in the admin.
    ``categories`` empty serves every turn category; ``is_default`` makes it the model routed to for
    the categories it serves, before the MODEL_<CATEGORY> settings.
    """

    workspace = models.ForeignKey(
        "workspaces.Workspace", null=True, blank=True, on_delete=models.CASCADE, related_name="model_configs"
    )
    name = models.CharField(max_length=120, help_text='What users pick, e.g. "gpt-4o (Acme key)".')
    model = models.CharField(max_length=200, help_text="The provider's model name, e.g. gpt-4o.")
    base_url = models.CharField(
        max_length=500,
        blank=True,
        validators=[validate_base_url],
        help_text="An OpenAI-compatible endpoint, e.g. http://ollama:11434/v1; blank: OPENAI_BASE_URL or OpenAI.",
    )
    # A JSON string (or null); never serialised in dumps (EncryptedJSONField.value_to_string).
    api_key = EncryptedJSONField(null=True, blank=True, default=None)
    categories = ArrayField(
        models.CharField(max_length=16, choices=[(c, c) for c in CATEGORIES]),
        default=list,
        blank=True,
        help_text="Turn categories it serves; empty: all.",
    )
    enabled = models.BooleanField(default=True)
    is_default = models.BooleanField(default=False)
    monthly_token_budget = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Tokens per month for the workspace; empty: MODEL_TOKEN_BUDGET; 0: unlimited."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="model_config_name_unique_in_workspace"),
            # NULLs are distinct in a unique index: shared configurations need their own constraint.
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(workspace__isnull=True), name="model_config_name_unique_shared"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def api_key_text(self) -> str:
        return self.api_key if isinstance(self.api_key, str) else ""

    def serves(self, category: str) -> bool:
        return not self.categories or category in self.categories

    def endpoint(self) -> tuple[str, str] | None:
        """(base_url, api_key) to call this configuration with; None when it has no usable key.

        The deployment's OPENAI_API_KEY is only ever sent to the deployment's endpoint: a
        configuration with its own base_url and no key of its own is a keyless local server
        (Ollama, llama.cpp), called with a placeholder key the server ignores.
        """
        if self.base_url:
            return self.base_url, self.api_key_text or "no-key"
        key = self.api_key_text or str(settings.OPENAI_API_KEY)
        return (str(settings.OPENAI_BASE_URL), key) if key else None
