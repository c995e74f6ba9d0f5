"""Tools that steer the conversation rather than touch data: classify, ask, request approval, finish.

``ask_user`` and ``request_approval`` pause the execution (status ``ask_user`` / ``approval``); the
pipeline records the person's reply and resumes. ``finish`` ends it.
"""

from __future__ import annotations

from typing import Any

from agent.tools.base import Tool, inventory, register
from agent.types import INTENTS, ToolContext, ToolResult

QUESTION_MAX = 2000
CHOICES_MAX = 10


def classify_intent(ctx: ToolContext, arguments: dict[str, Any], decision: Any) -> ToolResult:
    intent = arguments["intent"]
    confidence = float(arguments["confidence"])
    tools = [tool.name for tool in inventory(intent)]
    return ToolResult(
        observation={"intent": intent, "tools": tools},
        intent=intent,
        confidence=confidence,
    )


def ask_user(ctx: ToolContext, arguments: dict[str, Any], decision: Any) -> ToolResult:
    question = arguments["question"]
    choices = list(arguments.get("choices") or [])
    return ToolResult(
        observation={"status": "waiting_for_user", "question": question},
        status="ask_user",
        interaction={"question": question, "choices": choices},
    )


def request_approval(ctx: ToolContext, arguments: dict[str, Any], decision: Any) -> ToolResult:
    if ctx.approved_by:
        # Resumed after a person approved; the pipeline has recorded who and when.
        return ToolResult(observation={"approved": True, "by": ctx.approved_by})
    action = arguments["action"]
    details = arguments.get("details", "")
    return ToolResult(
        observation={"status": "waiting_for_approval", "action": action},
        status="approval",
        interaction={
            "question": f"Approve: {action}?",
            "details": details,
            "tool": "request_approval",
            "arguments": arguments,
        },
    )


def finish(ctx: ToolContext, arguments: dict[str, Any], decision: Any) -> ToolResult:
    confidence = arguments.get("confidence")
    final = {"answer": arguments["answer"], "confidence": None if confidence is None else float(confidence)}
    return ToolResult(observation={"finished": True}, status="finish", final=final)


register(
    Tool(
        name="classify_intent",
        description=(
            "Classify the person's request before doing anything else; this is always the first call. "
            "The intent decides which tools you get next: DATA_QUERY (answer a question from the data), "
            "SCHEMA_EXPLORATION (which tables/columns exist and what they mean), DATA_SOURCE_ADMIN (add or "
            "refresh a data source), SCHEMA_CHANGE (create/alter tables), DATA_WRITE (insert/update/delete "
            "rows), GOVERNANCE_POLICY (row filters, masks, access rules), COMPLIANCE_SCAN (find personal or "
            "sensitive data), ACTION_EXECUTION (a multi-step workflow mixing the above), GENERAL (anything "
            "else). The result lists the tools now on offer."
        ),
        parameters={
            "type": "object",
            "properties": {
                "intent": {"type": "string", "enum": list(INTENTS), "description": "The one intent that fits best."},
                "confidence": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1,
                    "description": "How sure you are, from 0 to 1.",
                },
                "reason": {"type": "string", "maxLength": 1000, "description": "One sentence: why this intent."},
            },
            "required": ["intent", "confidence", "reason"],
            "additionalProperties": False,
        },
        run=classify_intent,
    )
)

register(
    Tool(
        name="ask_user",
        description=(
            "Ask the person a question and wait for the answer. Use it when the request is ambiguous "
            "(which table, which period, which measure) or when you need a decision only they can make, "
            "instead of guessing. Offer up to 10 short choices when the possible answers are known."
        ),
        parameters={
            "type": "object",
            "properties": {
                "question": {"type": "string", "minLength": 1, "maxLength": QUESTION_MAX},
                "choices": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1, "maxLength": 200},
                    "maxItems": CHOICES_MAX,
                    "description": "Optional answers the person can pick from.",
                },
            },
            "required": ["question"],
            "additionalProperties": False,
        },
        run=ask_user,
    )
)

register(
    Tool(
        name="request_approval",
        description=(
            "Ask a person with the right role to approve an action before you take it, and wait for the "
            "decision. Use it before a step of a workflow that the person should sign off on. Data changes, "
            "schema changes and policy changes that need approval are paused by the gateway on their own; "
            "you do not need to call this for them."
        ),
        parameters={
            "type": "object",
            "properties": {
                "action": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 500,
                    "description": "What is to be approved, in a few words.",
                },
                "details": {"type": "string", "maxLength": 4000, "description": "Anything the approver should know."},
            },
            "required": ["action"],
            "additionalProperties": False,
        },
        run=request_approval,
    )
)

register(
    Tool(
        name="finish",
        description=(
            "End the work with the answer for the person: a short, plain-language summary of what you found "
            "or did (the rows of the last query are shown with it). Call it once, as the last call. If you "
            "could not do what was asked (for example the gateway denied it), say so and why."
        ),
        parameters={
            "type": "object",
            "properties": {
                "answer": {"type": "string", "maxLength": 20000},
                "confidence": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1,
                    "description": "How sure you are that the answer is right, from 0 to 1.",
                },
            },
            "required": ["answer"],
            "additionalProperties": False,
        },
        run=finish,
    )
)
