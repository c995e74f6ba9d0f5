"""Executions, their turns, their interactions with people, and their event timeline.

The state of an execution lives in PostgreSQL: the broker delivers turn tasks at least once, the
channel layer events at most once; the unique turn rows, the lease, the ledger and the ordered
events are what make a run durable and replayable.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from config.crypto import EncryptedJSONField


class ExecutionStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    WAITING_FOR_USER = "waiting_for_user"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATUSES = frozenset({ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED})


class Phase(models.TextChoices):
    QUEUED = "queued"
    ENRICHMENT = "enrichment"
    CLASSIFICATION = "classification"
    REASONING = "reasoning"
    DELIVERY = "delivery"
    DONE = "done"


class PromptExecution(models.Model):
    """One run of a prompt (the seed's ``prompt_executions``, same fields plus ours)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="executions")
    prompt = models.ForeignKey(
        "prompts.Prompt", null=True, blank=True, on_delete=models.SET_NULL, related_name="executions"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    prompt_text = models.TextField()
    selected_data_source_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    selected_schema_names = ArrayField(models.CharField(max_length=255), default=list, blank=True)
    ai_model = models.CharField(max_length=255, blank=True)  # the model asked for ("" = routing decides)
    options = models.JSONField(default=dict, blank=True)  # {"temperature": ...}
    tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)

    status = models.CharField(max_length=20, choices=ExecutionStatus.choices, default=ExecutionStatus.PENDING)
    ai_processing_status = models.CharField(max_length=32, blank=True)
    query_execution_status = models.CharField(max_length=32, blank=True)
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.QUEUED)
    progress_percentage = models.PositiveSmallIntegerField(default=0)
    intent_type = models.CharField(max_length=32, blank=True)
    confidence = models.FloatField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    total_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # Working time so far, waiting for a person excluded (PSA_TIMEOUT_SECONDS applies to it), and
    # when the current working stretch began (null while waiting or finished).
    working_ms = models.PositiveIntegerField(default=0)
    working_since = models.DateTimeField(null=True, blank=True)

    generated_query_text = models.TextField(blank=True)
    rows_returned = models.PositiveIntegerField(null=True, blank=True)
    # The query had more rows than QUERY_MAX_ROWS: rows_returned (and every download) stops at the cap.
    result_truncated = models.BooleanField(default=False)
    result_preview = models.JSONField(null=True, blank=True)  # [{column: value}, ...]
    result_columns = models.JSONField(null=True, blank=True)
    ai_metadata = models.JSONField(default=dict, blank=True)
    final_data = models.JSONField(null=True, blank=True)
    trace_log = models.JSONField(default=list, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)

    turn_count = models.PositiveSmallIntegerField(default=0)  # turns created so far
    last_event_seq = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "prompt_executions"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="execution_workspace_recent"),
            models.Index(fields=["status", "updated_at"], name="execution_status_updated"),
            # The queue: pending executions by age (positions, the backlog), and the start rate.
            models.Index(fields=["created_at"], name="execution_queued", condition=models.Q(status="pending")),
            models.Index(fields=["started_at"], name="execution_started"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class TurnStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"  # a tool call of this turn waits for a person
    DONE = "done"
    FAILED = "failed"


class Turn(models.Model):
    """One step of the loop: turn 0 is enrichment; each later turn is one model reply and its tool
    calls. Unique per (execution, index); claimed with a lease before it runs."""

    execution = models.ForeignKey(PromptExecution, on_delete=models.CASCADE, related_name="turns")
    index = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=8, choices=TurnStatus.choices, default=TurnStatus.PENDING)
    category = models.CharField(max_length=16, blank=True)  # classification | planning | generation
    lease_owner = models.CharField(max_length=128, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    deliveries = models.PositiveSmallIntegerField(default=0)  # times a task started on it (poison guard)
    attempts = models.PositiveSmallIntegerField(default=0)  # model retries after transient errors
    # agent.types.Reply.as_json(), stored before tools run; encrypted at rest because the model's tool
    # arguments can carry credentials (create_datasource's secrets).
    reply = EncryptedJSONField(null=True, blank=True)
    observations = models.JSONField(default=dict, blank=True)  # tool_call_id -> ToolResult.as_json()
    context = models.JSONField(null=True, blank=True)  # turn 0: the enrichment (catalog, policies)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["execution", "index"]
        constraints = [models.UniqueConstraint(fields=["execution", "index"], name="turn_execution_index_unique")]
        indexes = [models.Index(fields=["status", "lease_expires_at"], name="turn_status_lease")]

    def __str__(self) -> str:
        return f"turn {self.index} of {self.execution_id} ({self.status})"


class Interaction(models.Model):
    """A question (ask_user) or an approval request (request_approval, or a tool call the gateway
    says needs approval), waiting for a person; answered or decided exactly once."""

    class Kind(models.TextChoices):
        QUESTION = "question"
        APPROVAL = "approval"

    class Status(models.TextChoices):
        OPEN = "open"
        ANSWERED = "answered"
        APPROVED = "approved"
        REJECTED = "rejected"
        CANCELLED = "cancelled"  # the execution ended before anyone answered

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    execution = models.ForeignKey(PromptExecution, on_delete=models.CASCADE, related_name="interactions")
    turn = models.ForeignKey(Turn, on_delete=models.CASCADE, related_name="interactions")
    tool_call_id = models.CharField(max_length=128)
    tool = models.CharField(max_length=64)  # ask_user, request_approval, or the tool waiting for approval
    # The call as it will run once approved; encrypted at rest (it can carry credentials). What an
    # approver is shown is ``details``, with secret values redacted.
    arguments = EncryptedJSONField(default=dict)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    question = models.TextField()
    choices = models.JSONField(default=list, blank=True)
    details = models.JSONField(default=dict, blank=True)  # approval: {"sql", "preview", "datasource_id", ...}
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.OPEN)
    answer = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["execution", "tool_call_id"], name="interaction_call_unique")]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.status})"


class ExecutionEvent(models.Model):
    """The timeline: append-only, ``seq`` strictly increasing per execution without gaps, written in
    the transaction of the state it reports and published to the channel layer after commit."""

    execution = models.ForeignKey(PromptExecution, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=48)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["execution", "seq"]
        constraints = [models.UniqueConstraint(fields=["execution", "seq"], name="event_execution_seq_unique")]

    def __str__(self) -> str:
        return f"{self.execution_id} #{self.seq} {self.type}"

    def as_json(self) -> dict[str, object]:
        return {
            "execution_id": str(self.execution_id),
            "seq": self.seq,
            "type": self.type,
            "payload": self.payload,
            "created_at": self.created_at.isoformat(),
        }
