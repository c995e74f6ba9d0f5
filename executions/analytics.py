"""Workspace analytics: what ran, how long it took, what it cost, what the gateway refused.

One selector, ``workspace_analytics``, computed in PostgreSQL (percentile_cont, jsonb_array_elements)
over one time window, so the figures stay cheap however many executions a workspace has: each
section is one aggregate query on the ``execution_workspace_recent`` / ``audit_by_workspace``
indexes, never a loop over rows in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Aggregate, Avg, Count, FloatField, Sum

from executions.models import PromptExecution
from governance.models import AuditEvent
from workspaces.models import Workspace

TOP_PROMPTS = 10


class PercentileCont(Aggregate):
    """PostgreSQL's continuous percentile (interpolated), e.g. the p95 of durations."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError("fraction is between 0 and 1")
        super().__init__(expression, fraction=float(fraction), **extra)


@dataclass(frozen=True)
class ModelUsage:
    model: str
    turns: int
    executions: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


@dataclass(frozen=True)
class TopPrompt:
    prompt_id: Any
    title: str
    status: str
    executions: int


@dataclass(frozen=True)
class WorkspaceAnalytics:
    workspace_id: Any
    since: datetime
    until: datetime
    executions_total: int
    by_status: dict[str, int]
    by_intent: dict[str, int]
    duration_ms: dict[str, float | None]  # p50, p95, avg (finished executions with a duration)
    rows_returned: dict[str, float | int | None]  # sum, avg (executions that returned rows)
    tokens: dict[str, Any]  # prompt, completion, cost_usd, by_model
    denials: dict[str, Any]  # total, by_code, by_policy
    top_prompts: list[TopPrompt] = field(default_factory=list)


def workspace_analytics(*, workspace: Workspace, since: datetime, until: datetime) -> WorkspaceAnalytics:
    """Figures of the executions created in ``[since, until)`` and the gateway denials of that window."""
    executions = PromptExecution.objects.filter(workspace=workspace, created_at__gte=since, created_at__lt=until)
    by_status = _counts(executions, "status")
    by_intent = {key or "unclassified": value for key, value in _counts(executions, "intent_type").items()}
    timed = executions.filter(total_duration_ms__isnull=False).aggregate(
        p50=PercentileCont("total_duration_ms", 0.5),
        p95=PercentileCont("total_duration_ms", 0.95),
        avg=Avg("total_duration_ms"),
    )
    rows = executions.aggregate(sum=Sum("rows_returned"), avg=Avg("rows_returned"))
    usage = _usage_by_model(workspace.pk, since, until)
    denied = AuditEvent.objects.filter(
        workspace=workspace, decision="denied", created_at__gte=since, created_at__lt=until
    )
    top = (
        executions.filter(prompt__isnull=False)
        .values("prompt_id", "prompt__title", "prompt__prompt_text", "prompt__status")
        .annotate(runs=Count("id"))
        .order_by("-runs", "prompt_id")[:TOP_PROMPTS]
    )
    return WorkspaceAnalytics(
        workspace_id=workspace.pk,
        since=since,
        until=until,
        executions_total=sum(by_status.values()),
        by_status=by_status,
        by_intent=by_intent,
        duration_ms={key: _round(value) for key, value in timed.items()},
        rows_returned={"sum": rows["sum"] or 0, "avg": _round(rows["avg"])},
        tokens={
            "prompt": sum(u.prompt_tokens for u in usage),
            "completion": sum(u.completion_tokens for u in usage),
            "cost_usd": round(sum(u.cost_usd for u in usage), 6),
            "by_model": usage,
        },
        denials={
            "total": denied.count(),
            "by_code": _counts(denied, "code"),
            "by_policy": _denials_by_policy(workspace.pk, since, until),
        },
        top_prompts=[
            TopPrompt(
                prompt_id=row["prompt_id"],
                title=row["prompt__title"] or row["prompt__prompt_text"][:60],
                status=row["prompt__status"],
                executions=row["runs"],
            )
            for row in top
        ],
    )


def _counts(query: Any, column: str) -> dict[str, int]:
    rows = query.order_by().values(column).annotate(n=Count("id")).order_by("-n", column)
    return {row[column]: row["n"] for row in rows}


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


# ai_metadata["turns"] holds one entry per model reply (executions.services.turns._record_usage);
# a fallback can make one execution use several models, so usage is summed per turn, not per run.
_USAGE_SQL = """
    SELECT turn->>'model' AS model,
           count(*) AS turns,
           count(DISTINCT e.id) AS executions,
           coalesce(sum(CASE WHEN jsonb_typeof(turn->'prompt_tokens') = 'number'
                             THEN (turn->>'prompt_tokens')::numeric END), 0) AS prompt_tokens,
           coalesce(sum(CASE WHEN jsonb_typeof(turn->'completion_tokens') = 'number'
                             THEN (turn->>'completion_tokens')::numeric END), 0) AS completion_tokens,
           coalesce(sum(CASE WHEN jsonb_typeof(turn->'cost_usd') = 'number'
                             THEN (turn->>'cost_usd')::numeric END), 0) AS cost_usd
    FROM prompt_executions e
    CROSS JOIN LATERAL jsonb_array_elements(
        CASE WHEN jsonb_typeof(e.ai_metadata->'turns') = 'array' THEN e.ai_metadata->'turns' ELSE '[]'::jsonb END
    ) AS turn
    WHERE e.workspace_id = %s AND e.created_at >= %s AND e.created_at < %s
    GROUP BY 1
    ORDER BY cost_usd DESC, turns DESC, model
"""


def _usage_by_model(workspace_id: Any, since: datetime, until: datetime) -> list[ModelUsage]:
    with connection.cursor() as cursor:
        cursor.execute(_USAGE_SQL, [workspace_id, since, until])
        return [
            ModelUsage(
                model=model or "",
                turns=turns,
                executions=runs,
                prompt_tokens=int(prompt),
                completion_tokens=int(completion),
                cost_usd=round(float(cost), 6),
            )
            for model, turns, runs, prompt, completion, cost in cursor.fetchall()
        ]


# policies_applied is a JSON list of policy names; a denial counts once for each policy it names.
_DENIALS_BY_POLICY_SQL = """
    SELECT policy #>> '{}' AS policy, count(*) AS n
    FROM governance_auditevent a
    CROSS JOIN LATERAL jsonb_array_elements(
        CASE WHEN jsonb_typeof(a.policies_applied) = 'array' THEN a.policies_applied ELSE '[]'::jsonb END
    ) AS policy
    WHERE a.workspace_id = %s AND a.decision = 'denied' AND a.created_at >= %s AND a.created_at < %s
    GROUP BY 1
    ORDER BY n DESC, policy
"""


def _denials_by_policy(workspace_id: Any, since: datetime, until: datetime) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(_DENIALS_BY_POLICY_SQL.replace("governance_auditevent", AuditEvent._meta.db_table),
                       [workspace_id, since, until])  # fmt: skip
        return {str(policy): n for policy, n in cursor.fetchall()}
