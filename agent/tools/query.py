"""Reading data: ``run_query``, and ``governed_read`` for tools that read data on their own account.

What runs is always the gateway's rewrite (``decision.sql_after``: row filters, masks and a LIMIT
applied), never the model's text, on the read-only, time-boxed, row-capped path of
``datasources.queries``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from agent.tools.base import Tool, register
from agent.tools.errors import error_result
from agent.types import ToolContext, ToolResult
from datasources.connectors.base import ConnectorError, QueryResult
from datasources.models import DataSource
from datasources.queries import query_read
from datasources.selectors import access_datasource
from governance.gateway import GatewayDecision, audit_outcome, authorize


def decided_datasource(ctx: ToolContext, decision: GatewayDecision) -> DataSource:
    """The data source the gateway let the call through for (loaded by its chokepoint, once)."""
    if decision.datasource is not None and decision.datasource.pk == decision.datasource_id:
        return decision.datasource
    return access_datasource(user=ctx.actor.user, datasource_id=decision.datasource_id)


def rows_as_lists(result: QueryResult) -> list[list[Any]]:
    return [list(row) for row in result.rows]  # values are JSON-friendly already (connectors convert)


def run_query(ctx: ToolContext, arguments: dict[str, Any], decision: GatewayDecision) -> ToolResult:
    assert decision.sql_after, "the gateway allows run_query only with a rewritten statement"
    datasource = decided_datasource(ctx, decision)
    try:
        result = query_read(datasource=datasource, sql=decision.sql_after, query_id=ctx.query_id)
    except ConnectorError as exc:
        return error_result(exc.code, exc.message, sql=decision.sql_after)
    columns, rows = list(result.columns), rows_as_lists(result)
    observation = {
        "columns": columns,
        "rows": rows,  # the first QUERY_PREVIEW_ROWS rows
        "row_count": result.rows_returned,
        "truncated": result.truncated,
        "sql": decision.sql_after,
    }
    data: dict[str, Any] = {
        "columns": columns,
        "rows": rows,
        "datasource_id": str(datasource.pk),
        "truncated": result.truncated,
    }
    if decision.notices:
        observation["notices"] = data["notices"] = list(decision.notices)
    if decision.masks:
        # Which values are masked, by which policy and why: the model can say so, and the page shows it.
        observation["masked"] = data["masked"] = [note.as_dict() for note in decision.masks]
    return ToolResult(observation=observation, rows_returned=result.rows_returned, sql=decision.sql_after, data=data)


@dataclass(frozen=True)
class GovernedRead:
    decision: GatewayDecision
    result: QueryResult | None = None  # None: denied (see decision) or failed (see error)
    error: ConnectorError | None = None


def governed_read(
    ctx: ToolContext, *, datasource: DataSource, sql: str, purpose: str, max_rows: int | None = None
) -> GovernedRead:
    """A read a tool makes on its own account (sample values, ...), governed exactly like a
    ``run_query`` of the model: authorized and audited as one, filtered and masked by the rewrite,
    with its outcome audited."""
    arguments = {"datasource_id": str(datasource.pk), "sql": sql, "purpose": purpose}
    decision = authorize(ctx.actor, "run_query", arguments, execution_id=ctx.execution_id)
    if not decision.allowed or decision.needs_approval or not decision.sql_after:
        return GovernedRead(decision)
    try:
        result = query_read(
            datasource=datasource,
            sql=decision.sql_after,
            max_rows=max_rows,
            preview_rows=max_rows,
            query_id=ctx.query_id,
        )
    except ConnectorError as exc:
        audit_outcome(decision, ctx.actor, error_code=exc.code, execution_id=ctx.execution_id)
        return GovernedRead(decision, error=exc)
    audit_outcome(decision, ctx.actor, rows_returned=result.rows_returned, execution_id=ctx.execution_id)
    return GovernedRead(decision, result=result)


_PREVIEW_NOTE = (
    f"At most the first {settings.QUERY_PREVIEW_ROWS} rows come back; `row_count` and `truncated` tell how many "
    "there were."
)

register(
    Tool(
        name="run_query",
        description=" ".join(
            (
                "Run one read-only SQL SELECT on a data source and get the rows back. Write it in the data "
                "source's SQL dialect, using only tables and columns from the context, search_catalog or "
                "describe_table. The governance gateway checks it and may rewrite it (row filters, masked "
                "columns, a LIMIT): the result shows the SQL that actually ran.",
                _PREVIEW_NOTE,
                "Aggregate in SQL (COUNT, SUM, GROUP BY, ORDER BY ... LIMIT) rather than reading many rows. "
                "Writes and schema changes are refused here.",
            )
        ),
        parameters={
            "type": "object",
            "properties": {
                "datasource_id": {"type": "string", "description": "The id of the data source (from the context)."},
                "sql": {"type": "string", "minLength": 1, "maxLength": 100_000, "description": "One SELECT statement."},
                "purpose": {
                    "type": "string",
                    "maxLength": 500,
                    "description": "Optional: what the query is for, in a few words.",
                },
            },
            "required": ["datasource_id", "sql"],
            "additionalProperties": False,
        },
        run=run_query,
    )
)
