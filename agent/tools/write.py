"""The tools that change data: ``execute_write`` (INSERT, UPDATE, DELETE) and ``apply_schema_change`` (DDL).

Both run what the gateway let through, ``decision.sql_after`` (the firewall's rewrite, with the row
filter AND-ed into UPDATE and DELETE), never the model's own text. Both act on the world: the
dispatcher records a ledger row before they run and pauses for approval when the decision asks
for it. Their previews (what an approver is shown) are dry runs, rolled back.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404

from agent.tools.base import Tool, register
from agent.tools.errors import error_observation, error_result
from agent.tools.query import governed_read
from agent.types import ToolContext, ToolResult
from datasources.connectors.base import ConnectorError
from datasources.models import DataSource
from datasources.queries import ddl_dry_runnable, query_write, write_plan, writes_supported
from datasources.selectors import access_datasource
from datasources.services import datasource_introspect
from governance.gateway import GatewayDecision
from governance.policies import dialect_of

logger = logging.getLogger(__name__)

# Rows of an approval preview: enough to judge a write, few enough to read.
PREVIEW_ROWS = 20


def datasource_of(ctx: ToolContext, datasource_id: Any, perm: str) -> DataSource | ToolResult:
    """The data source a call names, reached through the one chokepoint (another workspace's source
    does not exist); a ToolResult saying why not otherwise."""
    try:
        datasource = access_datasource(user=ctx.actor.user, datasource_id=datasource_id, perm=perm)
    except Http404:
        return error_result("not_found", "No such data source.", status="denied")
    except PermissionDenied:
        return error_result("permission_denied", "Your role does not allow this on this data source.", status="denied")
    if datasource.workspace_id != ctx.actor.workspace.pk:
        return error_result("not_found", "No such data source.", status="denied")
    return datasource


def _checked(ctx: ToolContext, decision: GatewayDecision, perm: str) -> tuple[DataSource, str] | ToolResult:
    """The data source and the SQL to run of an allowed SQL tool call."""
    if not decision.allowed:
        return error_result(decision.code, decision.reason, status="denied")
    if not decision.sql_after or decision.datasource_id is None:
        return error_result("invalid_arguments", "The gateway decision carries no SQL to run.")
    datasource = datasource_of(ctx, decision.datasource_id, perm)
    if isinstance(datasource, ToolResult):
        return datasource
    if not writes_supported(datasource):
        kind = datasource.get_kind_display()
        return error_result("writes_not_supported", f"{datasource.name} is a {kind} source, which is read-only.")
    return datasource, decision.sql_after


# --- execute_write ---------------------------------------------------------------------------


def execute_write_run(ctx: ToolContext, arguments: dict[str, Any], decision: GatewayDecision) -> ToolResult:
    checked = _checked(ctx, decision, "write_datasource")
    if isinstance(checked, ToolResult):
        return checked
    datasource, sql = checked
    try:
        result = query_write(datasource=datasource, sql=sql, dry_run=False, query_id=ctx.query_id)
    except ConnectorError as exc:
        return error_result(exc.code, exc.message, sql=sql)
    observation: dict[str, Any] = {"rows_affected": result.rows_affected}
    if result.preview is not None:  # ... RETURNING <visible, unmasked columns>
        observation["returning"] = {
            "columns": list(result.preview.columns),
            "rows": [list(row) for row in result.preview.rows],
        }
    # rows_returned is what the audit outcome records: for a write, the rows it changed.
    return ToolResult(observation=observation, rows_returned=result.rows_affected, sql=sql)


def execute_write_preview(ctx: ToolContext, arguments: dict[str, Any], decision: GatewayDecision) -> dict[str, Any]:
    """The dry run an approver sees: the exact count (the write, rolled back) and the rows it
    touches, read through the firewall as the actor, so masks and row filters hold there too."""
    checked = _checked(ctx, decision, "write_datasource")
    if isinstance(checked, ToolResult):
        return checked.observation
    datasource, sql = checked
    plan = write_plan(sql, dialect=dialect_of(datasource), limit=PREVIEW_ROWS)
    preview: dict[str, Any] = {
        "statement": sql,
        "kind": plan.kind,
        "table": plan.table,
        "policies_applied": list(decision.policies_applied),
    }
    try:
        dry = query_write(datasource=datasource, sql=sql, dry_run=True, query_id=ctx.query_id)
    except ConnectorError as exc:
        return {
            **preview,
            "rows_affected": None,
            "columns": [],
            "rows": [],
            **error_observation(exc.code, exc.message),
            "note": "The dry run failed, so the write would fail the same way.",
        }
    count = dry.rows_affected
    preview["rows_affected"] = count
    shown = f"the first {PREVIEW_ROWS}" if count > PREVIEW_ROWS else "all of them"
    verb = {"update": "Changes", "delete": "Deletes", "insert": "Adds"}.get(plan.kind, "Changes")
    rolled_back = "the dry run was rolled back."
    if dry.sequences_consumed:
        rolled_back += (
            f" It used up values of {', '.join(dry.sequences_consumed)}, which the engine does not give back: "
            "the ids the write generates will skip them."
        )
    if plan.kind == "insert" and plan.affected_select is None:
        note = f"Adds {count} row(s) to {plan.table}; {rolled_back} The rows to add ({shown}):"
        return {
            **preview,
            "columns": list(plan.insert_columns),
            "rows": [list(row) for row in plan.insert_rows],
            "note": note,
        }
    if plan.affected_select is None:
        return {**preview, "columns": [], "rows": [], "note": f"{verb} {count} row(s); {rolled_back}"}
    read = _read_as_actor(ctx, datasource, plan.affected_select)
    if isinstance(read, str):
        note = f"{verb} {count} row(s); {rolled_back} The rows cannot be shown: {read}"
        return {**preview, "columns": [], "rows": [], "note": note}
    columns, rows = read
    where = "as they are now" if plan.kind != "insert" else "to add"
    note = (
        f"{verb} {count} row(s) of {plan.table}; {rolled_back} The rows {where} ({shown}), "
        "as you see them (masked columns stay masked):"
    )
    return {**preview, "columns": columns, "rows": rows, "note": note}


def _read_as_actor(ctx: ToolContext, datasource: DataSource, sql: str) -> tuple[list[str], list[list[Any]]] | str:
    """Runs a preview SELECT as a ``run_query`` of the actor would run: authorized and audited,
    rewritten so that their masks and row filters hold, on the read-only path. A reason when it cannot."""
    read = governed_read(ctx, datasource=datasource, sql=sql, purpose="approval preview", max_rows=PREVIEW_ROWS)
    if read.error is not None:
        return read.error.message
    if read.result is None:
        return read.decision.reason or "the read was not allowed"
    return list(read.result.columns), [list(row) for row in read.result.rows]


# --- apply_schema_change ----------------------------------------------------------------------


def apply_schema_change_run(ctx: ToolContext, arguments: dict[str, Any], decision: GatewayDecision) -> ToolResult:
    checked = _checked(ctx, decision, "administer_datasource")
    if isinstance(checked, ToolResult):
        return checked
    datasource, sql = checked
    try:
        query_write(datasource=datasource, sql=sql, dry_run=False, query_id=ctx.query_id)
    except ConnectorError as exc:
        return error_result(exc.code, exc.message, sql=sql)
    return ToolResult(observation={"applied": True, "catalog_refreshed": _refresh_catalog(datasource)}, sql=sql)


def _refresh_catalog(datasource: DataSource) -> bool:
    """Reads the schema again now, so the next turn's catalog (and firewall) knows the change."""
    try:
        return datasource_introspect(datasource_id=datasource.pk) is not None
    except Exception:
        # The change is committed whatever happens here: report it, and leave the trace in the log
        # (the source is marked as failed to introspect, and a refresh can be asked for).
        logger.exception("reading the schema of %s after a schema change failed", datasource.pk)
        return False


def apply_schema_change_preview(
    ctx: ToolContext, arguments: dict[str, Any], decision: GatewayDecision
) -> dict[str, Any]:
    """What the change is and, where the engine has transactional DDL, whether it accepts it (a
    dry run, rolled back). MySQL and MariaDB commit DDL at once: that is said instead."""
    checked = _checked(ctx, decision, "administer_datasource")
    if isinstance(checked, ToolResult):
        return checked.observation
    datasource, sql = checked
    plan = write_plan(sql, dialect=dialect_of(datasource))
    preview: dict[str, Any] = {
        "statement": sql,
        "kind": plan.description or "DDL",
        "table": plan.table,
        "tables": list(decision.tables),
    }
    destructive = plan.description in ("DROP TABLE", "TRUNCATE TABLE")
    warning = f" It removes every row of {plan.table}." if destructive else ""
    if not ddl_dry_runnable(datasource):
        return {
            **preview,
            "validated": None,
            "note": f"{datasource.get_kind_display()} commits schema changes at once, so this change cannot be "
            f"tried out before it is applied; read the statement carefully.{warning}",
        }
    try:
        query_write(datasource=datasource, sql=sql, dry_run=True, query_id=ctx.query_id)
    except ConnectorError as exc:
        note = "The engine refused the change in a dry run, so applying it would fail the same way."
        return {**preview, "validated": False, **error_observation(exc.code, exc.message), "note": note}
    return {
        **preview,
        "validated": True,
        "note": f"Tried in a transaction and rolled back: the engine accepts the change.{warning}",
    }


# --- registration ------------------------------------------------------------------------------

_DATASOURCE_ID = {"type": "string", "description": "Id (UUID) of the data source, from the context or search_catalog."}
_REASON = {"type": "string", "description": "Why, in one sentence, for the person who approves it."}

execute_write = register(
    Tool(
        name="execute_write",
        description=(
            "Changes rows of a data source with one INSERT, UPDATE or DELETE statement in the source's SQL "
            "dialect. Only rows you can see are changed (your row filters are added to the WHERE); masked "
            "columns cannot be written or used in the condition; an INSERT must name its columns. Depending on "
            "the workspace's safety level the write may first need a person's approval, who is shown a dry run "
            'with the exact number of rows and the rows themselves. Returns {"rows_affected": n}.'
        ),
        parameters={
            "type": "object",
            "properties": {
                "datasource_id": _DATASOURCE_ID,
                "sql": {"type": "string", "description": "Exactly one INSERT, UPDATE or DELETE statement."},
                "reason": _REASON,
            },
            "required": ["datasource_id", "sql"],
            "additionalProperties": False,
        },
        run=execute_write_run,
        side_effect=True,
        preview=execute_write_preview,
    )
)

apply_schema_change = register(
    Tool(
        name="apply_schema_change",
        description=(
            "Changes the schema of a data source with one DDL statement: CREATE TABLE/VIEW/INDEX, ALTER TABLE, "
            "DROP TABLE/VIEW (without CASCADE) or TRUNCATE, on tables you see in full. Always needs a person's "
            "approval first (they see the statement and, on PostgreSQL and SQLite, a dry run). The catalog is "
            'read again afterwards. Returns {"applied": true, "catalog_refreshed": bool}.'
        ),
        parameters={
            "type": "object",
            "properties": {
                "datasource_id": _DATASOURCE_ID,
                "sql": {"type": "string", "description": "Exactly one DDL statement in the source's dialect."},
                "reason": _REASON,
            },
            "required": ["datasource_id", "sql"],
            "additionalProperties": False,
        },
        run=apply_schema_change_run,
        side_effect=True,
        preview=apply_schema_change_preview,
    )
)
