"""Executions API: execute a prompt, list and read executions, answer and decide their questions,
cancel and re-run them, and download their result as CSV or Parquet.

Every view reaches an execution through ``access_execution`` (another workspace's or a garbage id
is a 404), and every change goes through one service of ``executions.services``; the views parse,
call, and shape the answer. Errors of the services carry stable codes, answered as they are.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ERROR_RESPONSES, ApiError, error_example, file_response, paginated, represent
from datasources.apis import CONTENT_TYPES, SOURCE_ERRORS, FileDownloadView, connector_error
from datasources.connectors.base import ConnectorError
from datasources.queries import query_export
from executions import ratelimits, services
from executions.models import ExecutionStatus, Interaction, PromptExecution
from executions.selectors import access_execution, executions_search, final_query_of
from executions.services.queue import Overloaded, admission_check, queue_position
from governance.gateway import actor_for, audit_outcome, authorize
from prompts.selectors import prompts_for_user
from prompts.services import MAX_TAG_CHARS, MAX_TAGS
from semantic.apis import SEMANTIC_ERRORS, semantic_error
from semantic.serializers import VerifiedQueryOutput
from semantic.services import SemanticError
from workspaces.selectors import access_workspace, membership_in

# --- documentation helpers ----------------------------------------------------------------------


RATE_LIMITED = error_example(
    "Over a rate limit (Retry-After says when to try again); or the workspace's monthly model tokens are spent "
    "(model_budget_exceeded)",
    "rate_limited",
    "Too many executions started by you: at most 30 per 60 s. Try again in 42 s.",
)
EXECUTE_ERRORS = {
    **ERROR_RESPONSES,
    400: error_example(
        "Invalid fields, or a prompt the service refuses: prompt_empty, prompt_too_long (over MAX_PROMPT_CHARS), "
        "unknown_model",
        "prompt_too_long",
        "The prompt is longer than 8000 characters.",
    ),
    404: error_example("A workspace, data source or saved prompt you cannot see", "not_found", "No such data source."),
    429: RATE_LIMITED,
    503: error_example(
        "More work is waiting than could start within QUEUE_MAX_WAIT_SECONDS (Retry-After says when to try "
        "again); nothing was started",
        "overloaded",
        "Prompt Studio is busy: 412 executions are waiting and a new one would not start within 60 s (about 82 s). "
        "Nothing was started; try again in 22 s.",
    ),
}
API_ERRORS = {**ERROR_RESPONSES, 429: RATE_LIMITED}
ACTION_ERRORS = {
    **API_ERRORS,
    404: error_example("Unknown execution or question, or one of another workspace", "not_found", "No such execution."),
    409: error_example(
        "The execution is finished (execution_finished) or the request was already answered (already_answered)",
        "already_answered",
        "This request was already answered.",
    ),
}
RESULT_ERRORS = {
    **API_ERRORS,
    403: error_example(
        "You may view the execution but not query its data source, or your policies deny the query",
        "permission_denied",
        "Your role does not allow this on this data source.",
    ),
    409: error_example(
        "The execution has no query result to download", "no_result", "This execution has no query result."
    ),
    **SOURCE_ERRORS,
}

EXAMPLE_ID = "3f0c6d0e-8a5e-4b7f-9d3c-2b1f4e6a7c90"
EXAMPLE_WORKSPACE = "8d3c1a52-7f4e-4c1e-9a59-2c7d0d3c9e11"


# --- output -------------------------------------------------------------------------------------


class InteractionOutput(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField(help_text="question: respond; approval: approve or reject.")
    tool = serializers.CharField(help_text="ask_user, request_approval, or the tool waiting for approval")
    question = serializers.CharField()
    choices = serializers.ListField(child=serializers.CharField(), help_text="Suggested answers; may be empty.")
    details = serializers.DictField(help_text='Approval: {"sql", "preview", "datasource_id", ...}, secrets redacted.')
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


class ExecutionOutput(serializers.Serializer):
    """The seed's PromptExecutionResponse, same field names, plus links to the live progress."""

    id = serializers.UUIDField()
    execution_id = serializers.UUIDField(source="id", help_text="The same as id (the seed's name).")
    status = serializers.ChoiceField(choices=ExecutionStatus.choices)
    workspace_id = serializers.UUIDField()
    prompt_id = serializers.UUIDField(allow_null=True)
    prompt_text = serializers.CharField()
    selected_data_source_ids = serializers.ListField(child=serializers.UUIDField())
    selected_schema_names = serializers.ListField(child=serializers.CharField())
    ai_model = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    options = serializers.DictField()
    intent_type = serializers.CharField()
    confidence = serializers.FloatField(allow_null=True)
    progress_percentage = serializers.IntegerField()
    phase = serializers.CharField()
    ai_processing_status = serializers.CharField()
    query_execution_status = serializers.CharField()
    generated_query_text = serializers.CharField(help_text="The SQL that ran: the governance gateway's rewrite.")
    rows_returned = serializers.IntegerField(
        allow_null=True, help_text="Rows of the query's result: all of them, up to the row cap (QUERY_MAX_ROWS)."
    )
    result_truncated = serializers.BooleanField(
        help_text="The query had more rows than the row cap: the result and its downloads stop at rows_returned."
    )
    result_columns = serializers.ListField(child=serializers.CharField(), allow_null=True)
    result_preview = serializers.ListField(
        child=serializers.DictField(), allow_null=True, help_text="The first QUERY_PREVIEW_ROWS rows, {column: value}."
    )
    final_data = serializers.DictField(allow_null=True, help_text='{"answer", "columns", "rows", "sql", ...}')
    ai_metadata = serializers.DictField(help_text="Model, tokens, cost and latency, per turn and in total.")
    error_code = serializers.CharField()
    error_message = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    total_duration_ms = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    events_url = serializers.SerializerMethodField(help_text="The event feed (JSON, or SSE), ?after_seq=N.")
    websocket_url = serializers.SerializerMethodField(help_text="The live progress WebSocket (path).")
    result_csv_url = serializers.SerializerMethodField()
    result_parquet_url = serializers.SerializerMethodField()

    def get_events_url(self, obj: PromptExecution) -> str:
        return f"/api/v1/executions/{obj.pk}/events"

    def get_websocket_url(self, obj: PromptExecution) -> str:
        return f"/ws/executions/{obj.pk}/"

    def get_result_csv_url(self, obj: PromptExecution) -> str:
        return f"/api/v1/executions/{obj.pk}/result.csv"

    def get_result_parquet_url(self, obj: PromptExecution) -> str:
        return f"/api/v1/executions/{obj.pk}/result.parquet"


class QueueOutput(serializers.Serializer):
    position = serializers.IntegerField(help_text="1: the next execution to start.")
    expected_start_seconds = serializers.IntegerField(help_text="From the start rate measured in the last minute.")


class ExecutionDetailOutput(ExecutionOutput):
    queue = serializers.SerializerMethodField(
        help_text="While the execution is queued (status pending): where it stands and when it should start; "
        "null once it started. Its time in the queue does not count against PSA_TIMEOUT_SECONDS."
    )
    open_interactions = serializers.SerializerMethodField(
        help_text="Questions and approval requests waiting for a person (answer with respond, approve or reject)."
    )

    @extend_schema_field(QueueOutput(allow_null=True))
    def get_queue(self, obj: PromptExecution) -> dict[str, Any] | None:
        return queue_position(obj)

    @extend_schema_field(InteractionOutput(many=True))
    def get_open_interactions(self, obj: PromptExecution) -> list[dict[str, Any]]:
        if obj.status != ExecutionStatus.WAITING_FOR_USER:
            return []  # a request is open only while the execution waits for it: no query
        interactions = obj.interactions.filter(status=Interaction.Status.OPEN).order_by("created_at")
        return list(InteractionOutput(interactions, many=True).data)


EXECUTION_EXAMPLE = {
    "id": EXAMPLE_ID,
    "execution_id": EXAMPLE_ID,
    "status": "pending",
    "workspace_id": EXAMPLE_WORKSPACE,
    "prompt_id": "0b6a4b1e-3c1d-4f8a-8f0e-5a2d9c7b1e44",
    "prompt_text": "How many customers per region?",
    "selected_data_source_ids": ["5e2f8c1a-9b7d-4e3f-a1c2-7d6e5f4a3b21"],
    "selected_schema_names": [],
    "ai_model": "",
    "tags": ["sales"],
    "options": {"temperature": 0.2},
    "intent_type": "",
    "confidence": None,
    "progress_percentage": 0,
    "phase": "queued",
    "queue": {"position": 3, "expected_start_seconds": 1},
    "ai_processing_status": "",
    "query_execution_status": "",
    "generated_query_text": "",
    "rows_returned": None,
    "result_truncated": False,
    "result_columns": None,
    "result_preview": None,
    "final_data": None,
    "ai_metadata": {},
    "error_code": "",
    "error_message": "",
    "started_at": None,
    "completed_at": None,
    "total_duration_ms": None,
    "created_at": "2026-12-01T12:00:00Z",
    "events_url": f"/api/v1/executions/{EXAMPLE_ID}/events",
    "websocket_url": f"/ws/executions/{EXAMPLE_ID}/",
    "result_csv_url": f"/api/v1/executions/{EXAMPLE_ID}/result.csv",
    "result_parquet_url": f"/api/v1/executions/{EXAMPLE_ID}/result.parquet",
}


def _detail(execution: PromptExecution, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(represent(ExecutionDetailOutput, execution), status=status_code)


# --- execute and re-run -------------------------------------------------------------------------


def _budget_check(*, workspace_id: Any, ai_model: str) -> None:
    """Refuses up front when the workspace's monthly model tokens (MODEL_TOKEN_BUDGET) are spent,
    rather than accepting an execution whose first model call would fail. Only the deployment-wide
    budget is checked here; a model configuration with its own budget is checked per call."""
    from agent.llm import tokens_used
    from agent.selectors import OFFLINE, model_configs_for_workspace

    budget = int(settings.MODEL_TOKEN_BUDGET)
    if budget <= 0 or ai_model == OFFLINE or not settings.OPENAI_API_KEY:
        return
    if any(config.monthly_token_budget is not None for config in model_configs_for_workspace(workspace_id)):
        return
    used = tokens_used(workspace_id=workspace_id)
    if used >= budget:
        raise ApiError(
            429,
            "model_budget_exceeded",
            f"This workspace has used its {budget:,} model tokens for this month. An administrator can raise "
            'MODEL_TOKEN_BUDGET; ai_model "offline" still works.',
            {"tokens_used": used, "token_budget": budget},
        )


class OverloadedError(ApiError):
    """503 with ``Retry-After`` (DRF's exception handler sets the header from ``wait``)."""

    def __init__(self, message: str, wait: int) -> None:
        super().__init__(503, "overloaded", message)
        self.wait = wait


def start_execution(user: Any, execute: services.ExecuteRequest) -> PromptExecution:
    """How every API entry point starts an execution (execute, rerun, a saved prompt's run):
    membership first (so nobody spends another workspace's limits), the token budget, then the
    limits, then admission (a queue too long to start in time), then the service; its validation
    errors keep their own codes."""
    membership = membership_in(user=user, workspace_id=execute.workspace_id)
    _budget_check(workspace_id=execute.workspace_id, ai_model=execute.ai_model)
    ratelimits.rate_limit_check(ratelimits.execute_limits(user_id=user.pk, workspace_id=execute.workspace_id))
    try:
        admission_check()
    except Overloaded as exc:
        raise OverloadedError(str(exc), exc.wait) from exc
    try:
        return services.execution_create(user=user, request=execute, membership=membership)
    except DjangoValidationError as exc:
        errors = exc.error_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.error_list}
        field_errors = next(iter(errors.values()))
        first = field_errors[0]
        message = " ".join(first.messages)
        details: dict[str, Any] = {name: [" ".join(e.messages) for e in errs] for name, errs in errors.items()}
        if first.code == "prompt_too_long":
            details["max_chars"] = settings.MAX_PROMPT_CHARS
        raise ApiError(400, first.code or "validation_error", message, details) from exc


class OptionsInput(serializers.Serializer):
    temperature = serializers.FloatField(min_value=0.0, max_value=2.0, required=False, allow_null=True)


class ExecuteApi(APIView):
    class ExecuteInput(serializers.Serializer):
        """The seed's PromptExecuteRequest."""

        prompt_text = serializers.CharField(
            allow_blank=True, trim_whitespace=False, help_text="At most MAX_PROMPT_CHARS characters."
        )
        workspace_id = serializers.UUIDField()
        selected_data_source_ids = serializers.ListField(
            child=serializers.UUIDField(), required=False, default=list, max_length=100
        )
        selected_schema_names = serializers.ListField(
            child=serializers.CharField(max_length=255), required=False, default=list, max_length=100
        )
        save_prompt = serializers.BooleanField(required=False, default=False)
        ai_model = serializers.CharField(
            required=False,
            default="",
            allow_blank=True,
            max_length=255,
            help_text='A model of the workspace, "offline", or empty: routing decides.',
        )
        tags = serializers.ListField(
            child=serializers.CharField(max_length=MAX_TAG_CHARS), required=False, default=list, max_length=MAX_TAGS
        )
        options = OptionsInput(required=False)

    @extend_schema(
        operation_id="prompts_execute",
        request=ExecuteInput,
        responses={202: ExecutionDetailOutput, **EXECUTE_ERRORS},
        tags=["executions"],
        description=(
            "Starts an execution of a prompt and answers at once (202); follow it on the WebSocket or the event "
            "feed, or poll the execution. Limits: RATE_LIMIT_EXECUTE_PER_USER and RATE_LIMIT_EXECUTE_PER_WORKSPACE "
            "per window (429 rate_limited, Retry-After), the workspace's monthly model tokens "
            "(429 model_budget_exceeded), prompts of at most MAX_PROMPT_CHARS characters (400 prompt_too_long)."
        ),
        examples=[
            OpenApiExample(
                "A data question",
                request_only=True,
                value={
                    "prompt_text": "How many customers per region?",
                    "workspace_id": EXAMPLE_WORKSPACE,
                    "selected_data_source_ids": ["5e2f8c1a-9b7d-4e3f-a1c2-7d6e5f4a3b21"],
                    "selected_schema_names": [],
                    "save_prompt": True,
                    "ai_model": "",
                    "tags": ["sales"],
                    "options": {"temperature": 0.2},
                },
            ),
            OpenApiExample("Accepted", response_only=True, status_codes=["202"], value=EXECUTION_EXAMPLE),
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.ExecuteInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        execution = start_execution(
            request.user,
            services.ExecuteRequest(
                prompt_text=values["prompt_text"],
                workspace_id=values["workspace_id"],
                selected_data_source_ids=values["selected_data_source_ids"],
                selected_schema_names=values["selected_schema_names"],
                save_prompt=values["save_prompt"],
                ai_model=values["ai_model"],
                tags=values["tags"],
                temperature=(values.get("options") or {}).get("temperature"),
            ),
        )
        return _detail(execution, status.HTTP_202_ACCEPTED)


class ExecutionRerunApi(APIView):
    @extend_schema(
        operation_id="executions_rerun",
        request=None,
        responses={202: ExecutionDetailOutput, **{**EXECUTE_ERRORS, 404: ACTION_ERRORS[404]}},
        tags=["executions"],
        description="A new execution of the same request (prompt, sources, schemas, model, tags, temperature), "
        "run as you; the same limits as execute apply.",
    )
    def post(self, request: Request, execution_id: str) -> Response:
        execution = access_execution(user=request.user, execution_id=execution_id)
        # The same saved prompt when the caller may see it; otherwise the text alone.
        prompt_id = execution.prompt_id
        if prompt_id and not prompts_for_user(user=request.user).filter(pk=prompt_id).exists():
            prompt_id = None
        rerun = start_execution(
            request.user,
            services.ExecuteRequest(
                prompt_text=execution.prompt_text,
                workspace_id=execution.workspace_id,
                selected_data_source_ids=list(execution.selected_data_source_ids),
                selected_schema_names=list(execution.selected_schema_names),
                ai_model=execution.ai_model,
                tags=list(execution.tags),
                temperature=(execution.options or {}).get("temperature"),
                prompt_id=prompt_id,
            ),
        )
        return _detail(rerun, status.HTTP_202_ACCEPTED)


# --- list and read ------------------------------------------------------------------------------


class ExecutionListApi(APIView):
    class FilterInput(serializers.Serializer):
        workspace_id = serializers.UUIDField(required=False)
        status = serializers.ChoiceField(choices=ExecutionStatus.choices, required=False)
        intent = serializers.CharField(required=False, max_length=32, help_text="DATA_QUERY, SCHEMA_EXPLORATION...")
        datasource_id = serializers.UUIDField(required=False, help_text="Executions that selected this data source")
        created_after = serializers.DateTimeField(required=False)
        created_before = serializers.DateTimeField(required=False)

    @extend_schema(
        operation_id="executions_list",
        parameters=[
            OpenApiParameter("workspace_id", uuid.UUID, required=False),
            OpenApiParameter("status", str, required=False, enum=[value for value, _ in ExecutionStatus.choices]),
            OpenApiParameter("intent", str, required=False),
            OpenApiParameter("datasource_id", uuid.UUID, required=False),
            OpenApiParameter("created_after", str, required=False, description="ISO 8601 date-time, inclusive"),
            OpenApiParameter("created_before", str, required=False, description="ISO 8601 date-time, exclusive"),
            OpenApiParameter("limit", int, required=False),
            OpenApiParameter("offset", int, required=False),
        ],
        responses={200: paginated(ExecutionOutput, "PaginatedExecutionList"), **API_ERRORS},
        tags=["executions"],
        description="Executions you may see, newest first, paginated (limit/offset: count, next, previous, results).",
    )
    def get(self, request: Request) -> Response:
        data = self.FilterInput(data=request.query_params.dict())
        data.is_valid(raise_exception=True)
        filters = data.validated_data
        if "workspace_id" in filters:
            access_workspace(user=request.user, workspace_id=filters["workspace_id"])
        executions = executions_search(user=request.user, **filters)
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(executions, request, view=self) or []
        return paginator.get_paginated_response(ExecutionOutput(page, many=True).data)


class ExecutionDetailApi(APIView):
    @extend_schema(
        operation_id="executions_retrieve",
        responses={200: ExecutionDetailOutput, **{**API_ERRORS, 404: ACTION_ERRORS[404]}},
        tags=["executions"],
        examples=[
            OpenApiExample(
                "Running",
                response_only=True,
                value={
                    **EXECUTION_EXAMPLE,
                    "status": "running",
                    "phase": "reasoning",
                    "progress_percentage": 48,
                    "open_interactions": [],
                },
            )
        ],
    )
    def get(self, request: Request, execution_id: str) -> Response:
        return _detail(access_execution(user=request.user, execution_id=execution_id))


# --- people in the loop, cancel -----------------------------------------------------------------


def _service_call(fn: Any, **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except services.ExecutionError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from exc


class RespondInput(serializers.Serializer):
    interaction_id = serializers.UUIDField(help_text="The open question's id (open_interactions of the execution)")
    text = serializers.CharField(allow_blank=True, max_length=4000, trim_whitespace=False)


class DecideInput(serializers.Serializer):
    interaction_id = serializers.UUIDField(help_text="The open approval request's id")
    comment = serializers.CharField(required=False, default="", allow_blank=True, max_length=4000)


class ExecutionRespondApi(APIView):
    @extend_schema(
        operation_id="executions_respond",
        request=RespondInput,
        responses={200: ExecutionDetailOutput, **ACTION_ERRORS},
        tags=["executions"],
        description="Answers a question the execution asked (ask_user); the execution resumes. The person who "
        "started it, or whoever may change it, answers.",
        examples=[
            OpenApiExample(
                "An answer", request_only=True, value={"interaction_id": EXAMPLE_ID, "text": "Use billing_customers."}
            )
        ],
    )
    def post(self, request: Request, execution_id: str) -> Response:
        execution = access_execution(user=request.user, execution_id=execution_id)
        data = RespondInput(data=request.data)
        data.is_valid(raise_exception=True)
        _service_call(
            services.interaction_answer,
            user=request.user,
            execution=execution,
            interaction_id=data.validated_data["interaction_id"],
            text=data.validated_data["text"],
        )
        execution.refresh_from_db()
        return _detail(execution)


class _DecideApi(APIView):
    approve: bool

    def post(self, request: Request, execution_id: str) -> Response:
        execution = access_execution(user=request.user, execution_id=execution_id)
        data = DecideInput(data=request.data)
        data.is_valid(raise_exception=True)
        _service_call(
            services.interaction_decide,
            user=request.user,
            execution=execution,
            approve=self.approve,
            interaction_id=data.validated_data["interaction_id"],
            comment=data.validated_data["comment"],
        )
        execution.refresh_from_db()
        return _detail(execution)


def _decide_schema(operation_id: str) -> Any:
    return extend_schema_view(
        post=extend_schema(
            operation_id=operation_id,
            request=DecideInput,
            responses={200: ExecutionDetailOutput, **ACTION_ERRORS},
            tags=["executions"],
            description="Decides an approval request of the execution; it resumes (a rejected call is an "
            "observation the model sees). Approvers are the roles of the workspace's approval rules (owners and "
            "admins by default); who asked does not approve their own request unless they own the workspace (403).",
        )
    )


@_decide_schema("executions_approve")
class ExecutionApproveApi(_DecideApi):
    approve = True


@_decide_schema("executions_reject")
class ExecutionRejectApi(_DecideApi):
    approve = False


class ExecutionCancelApi(APIView):
    @extend_schema(
        operation_id="executions_cancel",
        request=None,
        responses={200: ExecutionDetailOutput, **ACTION_ERRORS},
        tags=["executions"],
        description="Cancels the execution: at once when it is queued or waiting for a person, at the next safe "
        "point when a turn is running (a running query is stopped now). 409 execution_finished when it has ended.",
    )
    def post(self, request: Request, execution_id: str) -> Response:
        execution = access_execution(user=request.user, execution_id=execution_id, perm="change_promptexecution")
        execution = _service_call(services.execution_cancel, user=request.user, execution=execution)
        return _detail(execution)


class ExecutionVerifyApi(APIView):
    @extend_schema(
        operation_id="executions_verify",
        request=None,
        responses={
            201: VerifiedQueryOutput,
            **SEMANTIC_ERRORS,
            404: ACTION_ERRORS[404],
            409: error_example(
                "The execution has not completed (execution_not_completed) or ran no query (no_result)",
                "execution_not_completed",
                "Only a completed execution can be verified.",
            ),
        },
        tags=["executions"],
        description="A thumbs-up: the execution's question and final SQL become a verified query when you may "
        "verify on its data source (owners, admins), a proposed one when you may only query it (analysts).",
    )
    def post(self, request: Request, execution_id: str) -> Response:
        execution = access_execution(user=request.user, execution_id=execution_id)
        try:
            verified = _service_call(services.execution_verify, user=request.user, execution=execution)
        except SemanticError as exc:
            raise semantic_error(exc) from exc
        return Response(VerifiedQueryOutput(verified).data, status=status.HTTP_201_CREATED)


# --- results ------------------------------------------------------------------------------------


_NO_RESULT = "This execution has no query result to download."


class ExecutionResultApi(FileDownloadView):
    """The full result of the execution's final query, re-run now as the caller through the governed
    read path: the gateway checks and rewrites it again for the caller (their permission on the
    source, their row filters and masks on top of the rewrite that ran), the audit log records it,
    and the export is written at constant memory and streamed. It holds every row of the query up to
    the row cap (QUERY_MAX_ROWS); the headers X-Result-Rows and X-Result-Truncated (true when the query
    had more rows than X-Result-Row-Cap) say how many it holds and whether it stopped at the cap."""

    fmt = "csv"

    def get(self, request: Request, execution_id: str) -> Any:
        execution = access_execution(user=request.user, execution_id=execution_id)
        final = final_query_of(execution=execution)
        datasource_id = final.datasource_id if final is not None else None
        if datasource_id is None:
            raise ApiError(409, "no_result", _NO_RESULT)
        actor = actor_for(user=request.user, workspace_id=execution.workspace_id)
        arguments = {
            "datasource_id": datasource_id,
            "sql": execution.generated_query_text,
            "purpose": f"download of the result of execution {execution.pk}",
        }
        decision = authorize(actor, "run_query", arguments, execution_id=execution.pk)
        if decision.code == "not_found":
            raise ApiError(409, "no_result", "The data source of this result no longer exists.")
        if not decision.allowed:
            raise ApiError(403, decision.code, decision.reason)
        if decision.needs_approval or not decision.sql_after or decision.datasource is None:
            raise ApiError(403, "approval_required", "This query needs an approval before it runs.")
        try:
            exported = query_export(
                datasource=decision.datasource, sql=decision.sql_after, fmt=self.fmt, max_rows=settings.QUERY_MAX_ROWS
            )
        except ConnectorError as exc:
            audit_outcome(decision, actor, error_code=exc.code, execution_id=execution.pk)
            raise connector_error(exc) from exc
        audit_outcome(decision, actor, rows_returned=exported.rows, execution_id=execution.pk)
        handle = open(exported.path, "rb")  # FileResponse closes it
        exported.path.unlink()  # the open handle keeps the data; nothing is left in the result store
        response = file_response(
            request, handle, filename=f"execution-{execution.pk}.{self.fmt}", content_type=CONTENT_TYPES[self.fmt]
        )
        response["X-Result-Rows"] = str(exported.rows)
        # The file holds every row of the query, up to the row cap; these say whether it stopped there.
        response["X-Result-Truncated"] = "true" if exported.truncated else "false"
        response["X-Result-Row-Cap"] = str(settings.QUERY_MAX_ROWS)
        return response


class ExecutionResultCsvApi(ExecutionResultApi):
    fmt = "csv"

    @extend_schema(
        operation_id="executions_result_csv",
        responses={(200, "text/csv"): bytes, **RESULT_ERRORS},
        tags=["executions"],
        description=ExecutionResultApi.__doc__,
    )
    def get(self, request: Request, execution_id: str) -> Any:
        return super().get(request, execution_id)


class ExecutionResultParquetApi(ExecutionResultApi):
    fmt = "parquet"

    @extend_schema(
        operation_id="executions_result_parquet",
        responses={(200, "application/vnd.apache.parquet"): bytes, **RESULT_ERRORS},
        tags=["executions"],
        description=ExecutionResultApi.__doc__,
    )
    def get(self, request: Request, execution_id: str) -> Any:
        return super().get(request, execution_id)
