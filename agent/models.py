"""The agent's records: the side-effect ledger (and the model configurations, with encrypted keys)."""

from __future__ import annotations

from django.db import models


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
