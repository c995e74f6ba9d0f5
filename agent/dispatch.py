"""The tool dispatcher: the only way a tool runs.

``call_tool`` passes every call through the governance gateway (which audits the decision), checks
the arguments against the tool's JSON schema, pauses calls that need a person's approval, runs
side-effecting tools at most once per tool-call id (the ledger), turns a tool's crash into a plain
error, and audits the outcome of every allowed call. Whatever happens, the model gets an
observation it can act on, never a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

import jsonschema
from django.db import IntegrityError, transaction
from django.utils import timezone
from jsonschema.exceptions import best_match

from agent.models import ToolLedger
from agent.tools import TOOLS, Tool
from agent.tools.errors import error_observation, error_result
from agent.types import ToolCall, ToolContext, ToolResult
from governance import gateway
from governance.gateway import GatewayDecision, audit_outcome, authorize

logger = logging.getLogger(__name__)

_MESSAGE_MAX = 500
# How an approval question names what is to be approved, by the tool's effect in the gateway.
_EFFECT_WORDS = {
    gateway.WRITE: "this data change",
    gateway.DDL: "this schema change",
    gateway.GOVERNANCE: "this policy change",
    gateway.ADMIN: "this data source change",
}


def call_tool(ctx: ToolContext, call: ToolCall) -> ToolResult:
    """Runs one tool call for ``ctx.actor``; see the module docstring for what happens on the way.

    Order: the gateway first, the schema second, so that every call the model makes (malformed ones
    and unknown tools included) leaves an audit row; the gateway reads arguments defensively. When
    the arguments do not match the schema, that is what the model is told, even if the gateway also
    said no: a malformed call often reads as a denial ("no such data source" for a missing id), and
    the schema error is the one the model can fix. It learns nothing it could not read in the schema.

    A side-effecting tool must not be called inside an open transaction: its ledger row has to be
    committed before it acts, or a crash would roll the row back and a redelivery would act again.
    A call the ledger already knows (a redelivered turn) is answered from the ledger before the
    gateway is asked again: it acted, or may have, under the decision audited then, and a fresh
    decision (say, a denial after a policy change) would misreport what happened.
    """
    tool = TOOLS.get(call.name)
    arguments = call.arguments if isinstance(call.arguments, dict) else {}

    if tool is not None and tool.side_effect:
        if transaction.get_connection().in_atomic_block:
            raise RuntimeError(f"{call.name} has side effects and must not be called inside a transaction")
        replayed = _ledger_replay(ctx, call.id, call.name)
        if replayed is not None:
            return replayed

    decision = authorize(ctx.actor, call.name, arguments, execution_id=ctx.execution_id)

    if tool is None:
        if decision.allowed:  # the gateway knows the tool, but nothing implements it (yet)
            audit_outcome(decision, ctx.actor, error_code="unknown_tool", execution_id=ctx.execution_id)
        return error_result("unknown_tool", f"There is no tool named {call.name!r}.", status="denied")

    problem = _schema_problem(tool, call.arguments)
    if problem is not None:
        if decision.allowed:
            audit_outcome(decision, ctx.actor, error_code="invalid_arguments", execution_id=ctx.execution_id)
        return error_result("invalid_arguments", problem)

    if not decision.allowed:
        return error_result(decision.code, decision.reason, status="denied")

    if decision.needs_approval and not ctx.approved_by:
        return _approval_pause(ctx, tool, arguments, decision)

    if tool.side_effect:
        result = _run_once(ctx, call.id, tool, arguments, decision)
    else:
        result = _run(ctx, tool, arguments, decision)
    audit_outcome(
        decision,
        ctx.actor,
        rows_returned=result.rows_returned,
        error_code=result.error_code,
        execution_id=ctx.execution_id,
    )
    return result


# --- arguments ---------------------------------------------------------------------------------


# Validators by tool name, with the schema they were built from (a tool registered again gets a new one).
_VALIDATORS: dict[str, tuple[dict[str, Any], Any]] = {}


def _validator(tool: Tool) -> Any:
    cached = _VALIDATORS.get(tool.name)
    if cached is not None and cached[0] is tool.parameters:
        return cached[1]
    validator_class = jsonschema.validators.validator_for(tool.parameters)
    validator_class.check_schema(tool.parameters)
    validator = validator_class(tool.parameters)
    _VALIDATORS[tool.name] = (tool.parameters, validator)
    return validator


def _schema_problem(tool: Tool, arguments: Any) -> str | None:
    """A message the model can act on when ``arguments`` do not fit the tool's schema, else None."""
    error = best_match(_validator(tool).iter_errors(arguments))
    if error is None:
        return None
    where = ".".join(str(part) for part in error.absolute_path)
    detail = f"{where}: {error.message}" if where else error.message
    if len(detail) > _MESSAGE_MAX:
        detail = detail[:_MESSAGE_MAX] + "..."
    return f"The arguments of {tool.name} do not fit its schema ({detail}). Call it again with corrected arguments."


# --- approval ----------------------------------------------------------------------------------


def _approval_pause(ctx: ToolContext, tool: Tool, arguments: dict[str, Any], decision: GatewayDecision) -> ToolResult:
    spec = gateway.registered_tools().get(tool.name)
    what = _EFFECT_WORDS.get(spec.effect if spec else "", f"the call to {tool.name}")
    preview: dict[str, Any] | None = None
    if tool.preview is not None:
        try:
            preview = tool.preview(ctx, arguments, decision)
        except Exception:
            logger.exception("preview of %s (call %s) failed", tool.name, ctx.tool_call_id)
            preview = error_observation("preview_failed", "The preview of this change could not be made.")
    interaction = {
        "question": f"Approve {what} ({tool.name})?",
        "sql": decision.sql_after,
        "datasource_id": str(decision.datasource_id) if decision.datasource_id else None,
        "preview": preview,
        "tool": tool.name,
        "arguments": arguments,
    }
    return ToolResult(
        observation={"status": "waiting_for_approval", "reason": decision.reason},
        status="approval",
        interaction=interaction,
    )


# --- running -----------------------------------------------------------------------------------


def _run(ctx: ToolContext, tool: Tool, arguments: dict[str, Any], decision: GatewayDecision) -> ToolResult:
    try:
        return tool.run(ctx, arguments, decision)
    except Exception:
        # The traceback goes to the log, never to the model or the person.
        logger.exception("tool %s failed (execution %s, call %s)", tool.name, ctx.execution_id, ctx.tool_call_id)
        return error_result("tool_failed", f"The tool {tool.name} failed unexpectedly. The error was logged.")


def _outcome_unknown(tool: str) -> ToolResult:
    return error_result(
        "outcome_unknown",
        f"This {tool} call was started by an earlier attempt that did not finish; it is not repeated, "
        "because it may already have taken effect. Check the current state before trying again.",
    )


def _ledger_replay(ctx: ToolContext, call_id: str, tool: str) -> ToolResult | None:
    """The recorded outcome of a call an earlier attempt already started, or None for a new call."""
    entry = ToolLedger.objects.filter(execution_id=ctx.execution_id, tool_call_id=call_id).first()
    if entry is None:
        return None
    if entry.status == ToolLedger.Status.DONE and entry.result is not None:
        return ToolResult.from_json(entry.result)
    return _outcome_unknown(tool)


def _run_once(
    ctx: ToolContext, call_id: str, tool: Tool, arguments: dict[str, Any], decision: GatewayDecision
) -> ToolResult:
    """Runs a side-effecting tool at most once per (execution, tool-call id).

    The ledger row is committed before the tool acts (we are in autocommit here), so an attempt that
    dies mid-way leaves a ``started`` row and a redelivery does not act a second time.
    """
    try:
        with transaction.atomic():
            entry = ToolLedger.objects.create(execution_id=ctx.execution_id, tool_call_id=call_id, tool=tool.name)
    except IntegrityError:
        # Another delivery of the same turn got there between our look-up and our insert.
        return _ledger_replay(ctx, call_id, tool.name) or _outcome_unknown(tool.name)
    result = _run(ctx, tool, arguments, decision)
    ToolLedger.objects.filter(pk=entry.pk).update(
        status=ToolLedger.Status.DONE, result=result.as_json(), finished_at=timezone.now()
    )
    return result
