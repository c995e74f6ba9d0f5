"""Workspace analytics API (routed from prompts/api_urls.py, beside the prompt library).

Owners and admins only: the figures cover every member's executions and the gateway's denials
under the workspace's policies, which analysts and viewers cannot otherwise see (they see their own
executions only). An analyst or viewer gets 403, a non-member 404.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ERROR_RESPONSES, ApiError
from executions.analytics import workspace_analytics
from prompts.apis import RATE_LIMITED
from workspaces.selectors import access_workspace

PERIODS = {"7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90)}
MAX_WINDOW = timedelta(days=366)


class AnalyticsInput(serializers.Serializer):
    workspace_id = serializers.UUIDField()
    period = serializers.ChoiceField(choices=list(PERIODS), default="30d",
                                     help_text="The window ending now (or at `until`).")  # fmt: skip
    since = serializers.DateTimeField(required=False, help_text="Start (inclusive, ISO 8601); overrides `period`.")
    until = serializers.DateTimeField(required=False, help_text="End (exclusive, ISO 8601); default now.")


class ModelUsageOutput(serializers.Serializer):
    model = serializers.CharField()
    turns = serializers.IntegerField(help_text="Model replies.")
    executions = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    cost_usd = serializers.FloatField()


class TopPromptOutput(serializers.Serializer):
    prompt_id = serializers.UUIDField()
    title = serializers.CharField(help_text="The title, or the start of the text when untitled.")
    status = serializers.CharField()
    executions = serializers.IntegerField()


class DurationOutput(serializers.Serializer):
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)
    avg = serializers.FloatField(allow_null=True)


class RowsOutput(serializers.Serializer):
    sum = serializers.IntegerField()
    avg = serializers.FloatField(allow_null=True)


class TokensOutput(serializers.Serializer):
    prompt = serializers.IntegerField()
    completion = serializers.IntegerField()
    cost_usd = serializers.FloatField()
    by_model = ModelUsageOutput(many=True)


class DenialsOutput(serializers.Serializer):
    total = serializers.IntegerField()
    by_code = serializers.DictField(child=serializers.IntegerField(), help_text="Gateway code -> denials.")
    by_policy = serializers.DictField(child=serializers.IntegerField(), help_text="Policy name -> denials naming it.")


class AnalyticsOutput(serializers.Serializer):
    workspace_id = serializers.UUIDField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    executions_total = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())
    by_intent = serializers.DictField(child=serializers.IntegerField(), help_text="`unclassified` when none yet.")
    duration_ms = DurationOutput(help_text="Of executions with a total duration (percentile_cont).")
    rows_returned = RowsOutput()
    tokens = TokensOutput(help_text="Summed over every model reply (ai_metadata turns).")
    denials = DenialsOutput(help_text="Gateway decisions `denied` in the window (the audit log).")
    top_prompts = TopPromptOutput(many=True, help_text="The 10 prompts run most often in the window.")


_EXAMPLE = {
    "workspace_id": "8d3c1a52-7f4e-4c1e-9a59-2c7d0d3c9e11",
    "since": "2026-11-01T12:00:00Z",
    "until": "2026-12-01T12:00:00Z",
    "executions_total": 42,
    "by_status": {"completed": 38, "failed": 3, "cancelled": 1},
    "by_intent": {"DATA_QUERY": 30, "SCHEMA_EXPLORATION": 10, "unclassified": 2},
    "duration_ms": {"p50": 1840.0, "p95": 6120.5, "avg": 2310.2},
    "rows_returned": {"sum": 1234, "avg": 32.5},
    "tokens": {
        "prompt": 120000,
        "completion": 18000,
        "cost_usd": 0.4825,
        "by_model": [
            {
                "model": "gpt-4o",
                "turns": 80,
                "executions": 38,
                "prompt_tokens": 120000,
                "completion_tokens": 18000,
                "cost_usd": 0.4825,
            }
        ],
    },
    "denials": {
        "total": 4,
        "by_code": {"permission_denied": 3, "sql_function_forbidden": 1},
        "by_policy": {"EMEA rows only": 2},
    },
    "top_prompts": [
        {
            "prompt_id": "0b7d3f64-5c2a-4f1e-9d8b-3a6e2c1f0a99",
            "title": "Top customers",
            "status": "saved",
            "executions": 12,
        }
    ],
}


class AnalyticsApi(APIView):
    @extend_schema(
        operation_id="analytics_retrieve",
        description="Executions by status and intent, p50/p95 duration, rows returned, tokens and cost by "
        "model, gateway denials by code and policy, and the most run prompts, for executions created in "
        "the window. Owners and admins of the workspace only. 400 codes: `validation_error` (bad "
        "parameters), `invalid_range` (since not before until), `range_too_long` (over 366 days).",
        parameters=[AnalyticsInput],
        responses={200: AnalyticsOutput, **ERROR_RESPONSES, 429: RATE_LIMITED},
        tags=["analytics"],
        examples=[OpenApiExample("Last 30 days", response_only=True, value=_EXAMPLE)],
    )
    def get(self, request: Request) -> Response:
        params = AnalyticsInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        values = params.validated_data
        workspace = access_workspace(user=request.user, workspace_id=values["workspace_id"], perm="change_workspace")
        until = values.get("until") or timezone.now()
        since = values.get("since") or until - PERIODS[values["period"]]
        if since >= until:
            raise ApiError(400, "invalid_range", "`since` must be before `until`.")
        if until - since > MAX_WINDOW:
            raise ApiError(400, "range_too_long", "The window is at most 366 days.")
        figures = workspace_analytics(workspace=workspace, since=since, until=until)
        return Response(AnalyticsOutput(asdict(figures)).data)
