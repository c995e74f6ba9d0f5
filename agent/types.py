"""Values that cross the agent's boundaries: what a model answers, what a tool gets and returns.

Frozen dataclasses, JSON-friendly fields only, so that they can be stored on a turn and replayed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

# Turn categories the router picks a model for.
CLASSIFICATION, PLANNING, GENERATION = "classification", "planning", "generation"
CATEGORIES = (CLASSIFICATION, PLANNING, GENERATION)

# The nine intents; each picks the tool inventory offered to the model (agent.tools.INVENTORY).
INTENTS = (
    "DATA_QUERY",
    "SCHEMA_EXPLORATION",
    "DATA_SOURCE_ADMIN",
    "SCHEMA_CHANGE",
    "DATA_WRITE",
    "GOVERNANCE_POLICY",
    "COMPLIANCE_SCAN",
    "ACTION_EXECUTION",
    "GENERAL",
)


@dataclass(frozen=True)
class ToolCall:
    id: str  # the model's tool-call id: the key of the side-effect ledger and of interactions
    name: str
    arguments: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass(frozen=True)
class Reply:
    """One model answer: text and/or tool calls, with what it cost."""

    content: str
    tool_calls: tuple[ToolCall, ...]
    model: str
    provider: str  # "openai" (any OpenAI-compatible server) | "offline"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    fallback_from: tuple[str, ...] = ()  # models tried before this one answered

    def as_json(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "tool_calls": [call.as_json() for call in self.tool_calls],
            "model": self.model,
            "provider": self.provider,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd,
            "latency_ms": self.latency_ms,
            "fallback_from": list(self.fallback_from),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        calls = tuple(ToolCall(c["id"], c["name"], c.get("arguments") or {}) for c in data.get("tool_calls", []))
        return cls(
            content=data.get("content", ""),
            tool_calls=calls,
            model=data.get("model", ""),
            provider=data.get("provider", ""),
            prompt_tokens=data.get("prompt_tokens", 0),
            completion_tokens=data.get("completion_tokens", 0),
            cost_usd=data.get("cost_usd", 0.0),
            latency_ms=data.get("latency_ms", 0.0),
            fallback_from=tuple(data.get("fallback_from", ())),
        )


class ModelError(Exception):
    """A model call that did not produce a reply. ``transient`` errors (429, 5xx, timeouts, dropped
    connections) are retried by the turn with backoff; the others fail the execution at once."""

    def __init__(self, code: str, message: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code  # model_rate_limited | model_unavailable | model_timeout | model_budget_exceeded | ...
        self.message = message
        self.transient = transient
        self.retry_after = retry_after


@dataclass(frozen=True)
class ToolResult:
    """What a tool call came to. ``observation`` is what the model sees next (JSON); the rest is for
    the execution record, the events and the pause/finish logic."""

    observation: dict[str, Any]
    status: str = "ok"  # ok | error | denied | ask_user | approval | finish
    error_code: str = ""
    rows_returned: int | None = None
    sql: str | None = None  # the SQL that ran (after the firewall's rewrite)
    data: dict[str, Any] | None = None  # {"columns": [...], "rows": [[...]], "datasource_id": ...} of a query
    interaction: dict[str, Any] | None = None  # ask_user / approval: {"question", "choices", "sql", "preview"}
    final: dict[str, Any] | None = None  # finish: {"answer", "confidence"}
    intent: str | None = None  # classify_intent: the intent chosen
    confidence: float | None = None

    @property
    def pauses(self) -> bool:
        return self.status in ("ask_user", "approval")

    def as_json(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ToolResult:
        return cls(**data)


@dataclass(frozen=True)
class ToolContext:
    """Who calls a tool, for which execution, with what selection. Built by the turn for each call."""

    actor: Any  # governance.gateway.Actor
    execution_id: uuid.UUID
    tool_call_id: str
    prompt_text: str = ""
    datasource_ids: tuple[uuid.UUID, ...] = ()  # the execution's selection; empty: every queryable source
    schema_names: tuple[str, ...] = ()
    approved_by: str = ""  # set when an approved call is resumed: the approver's username
    query_id: str | None = None  # lets a cancel stop a running query (datasources.queries.query_cancel)
    extra: dict[str, Any] = field(default_factory=dict)
