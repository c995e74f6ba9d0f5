"""The tool registry: a tool is a name, a description and a JSON schema for the model, and a function.

The governance side of a tool (what it may touch, which permission, which SQL argument) is declared
in ``governance.gateway``; this module holds what the agent needs to offer and run it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.types import INTENTS, ToolContext, ToolResult

# run(context, arguments, decision) -> result; ``decision`` is the gateway's GatewayDecision (its
# ``sql_after`` is the SQL to run, never the model's own text).
ToolFunction = Callable[[ToolContext, dict[str, Any], Any], ToolResult]
PreviewFunction = Callable[[ToolContext, dict[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments (an object)
    run: ToolFunction
    # Acts on the world (write, DDL, policy or data source change): runs at most once per tool-call
    # id, through the ledger.
    side_effect: bool = False
    # What an approver is shown before deciding (execute_write: the affected rows, from a dry run).
    preview: PreviewFunction | None = None


TOOLS: dict[str, Tool] = {}


def register(tool: Tool) -> Tool:
    TOOLS[tool.name] = tool
    return tool


def openai_schema(tool: Tool) -> dict[str, Any]:
    return {"type": "function", "function": {"name": tool.name, "description": tool.description,
                                             "parameters": tool.parameters}}  # fmt: skip


_ALWAYS = ("ask_user", "finish")
_READ = ("search_catalog", "describe_table", "run_query")
# The tools offered to the model for each intent (classify_intent alone is offered before one is known).
INVENTORY: dict[str, tuple[str, ...]] = {
    "DATA_QUERY": (*_READ, *_ALWAYS),
    "SCHEMA_EXPLORATION": ("search_catalog", "describe_table", *_ALWAYS),
    "DATA_SOURCE_ADMIN": ("create_datasource", "refresh_datasource", "search_catalog", *_ALWAYS),
    "SCHEMA_CHANGE": ("search_catalog", "describe_table", "apply_schema_change", "request_approval", *_ALWAYS),
    "DATA_WRITE": (*_READ, "execute_write", "request_approval", *_ALWAYS),
    "GOVERNANCE_POLICY": (
        "search_catalog",
        "describe_table",
        "propose_policy",
        "apply_policy",
        "request_approval",
        *_ALWAYS,
    ),
    "COMPLIANCE_SCAN": ("search_catalog", "scan_sensitive_data", "propose_policy", *_ALWAYS),
    "ACTION_EXECUTION": (
        *_READ,
        "execute_write",
        "apply_schema_change",
        "refresh_datasource",
        "request_approval",
        *_ALWAYS,
    ),
    "GENERAL": ("search_catalog", *_ALWAYS),
}
assert set(INVENTORY) == set(INTENTS)


def inventory(intent: str | None) -> list[Tool]:
    """The tools to offer: ``classify_intent`` until the intent is known, then the intent's inventory."""
    names = INVENTORY.get(intent or "", ()) if intent else ("classify_intent",)
    return [TOOLS[name] for name in names if name in TOOLS]
