"""Saved prompts API: the library (list, create, read, change, soft delete, restore), running a
saved prompt, and its execution history.

Who may do what: any member of a workspace creates prompts in it; a saved prompt is seen by every
member, a draft only by its author and the workspace's owners and admins; the author, owners and
admins change, delete and restore it (``change_prompt``); whoever sees a prompt may run it.
Another workspace's prompt, or a garbage id, is a 404; a prompt seen but not changeable, a 403.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ERROR_RESPONSES, ApiError, error_response, paginated
from datasources.selectors import DataSourceNotFound
from executions.apis import start_execution
from executions.models import ExecutionStatus, PromptExecution
from executions.selectors import executions_for_user
from executions.services import ExecuteRequest
from prompts import selectors, services
from prompts.models import Prompt
from workspaces.selectors import access_workspace

TAGS = ["prompts"]
_EXAMPLE_ID = "0b7d3f64-5c2a-4f1e-9d8b-3a6e2c1f0a99"
_EXAMPLE_WORKSPACE = "8d3c1a52-7f4e-4c1e-9a59-2c7d0d3c9e11"


RATE_LIMITED = error_response(
    "Over a rate limit, with Retry-After: every API call counts against RATE_LIMIT_API_PER_USER; a run also "
    "against RATE_LIMIT_EXECUTE_PER_USER and RATE_LIMIT_EXECUTE_PER_WORKSPACE, like POST /prompts/execute.",
    ("rate_limited", "Too many executions started by you: at most 30 per 60 s. Try again in 42 s."),
)
API_ERRORS = {**ERROR_RESPONSES, 429: RATE_LIMITED}
_API_ERRORS_BUT_400 = {k: v for k, v in API_ERRORS.items() if k != 400}

PROMPT_400 = error_response(
    "Malformed JSON, invalid fields (`validation_error`, field errors in `details`), or a prompt that "
    "breaks a limit: `prompt_empty`, `prompt_too_long` (over MAX_PROMPT_CHARS), `title_too_long`, "
    "`too_many_tags` (over 20), `tag_too_long` (over 64 characters), `too_many_schemas`, "
    "`unknown_datasource` (not in this workspace, or not visible to you), `unknown_model`.",
    ("validation_error", "The request is not valid."),
    ("prompt_too_long", "The prompt is longer than 8000 characters."),
    ("unknown_datasource", "No such data source: 5f0c....."),
    ("tag_too_long", "A tag is at most 64 characters."),
)


def _prompt_invalid(exc: services.PromptInvalid) -> ApiError:
    return ApiError(400, exc.code, exc.message, _details(exc.code, exc.field, exc.message))


def _details(code: str, field: str, message: str) -> dict[str, Any]:
    """The field's error, and for a too-long prompt the limit (as POST /prompts/execute gives it)."""
    details: dict[str, Any] = {field: [message]}
    if code == "prompt_too_long":
        details["max_chars"] = settings.MAX_PROMPT_CHARS
    return details


class PromptOutput(serializers.Serializer):
    id = serializers.UUIDField()
    workspace_id = serializers.UUIDField()
    title = serializers.CharField()
    prompt_text = serializers.CharField()
    status = serializers.ChoiceField(choices=Prompt.Status.choices)
    tags = serializers.ListField(child=serializers.CharField())
    selected_data_source_ids = serializers.ListField(child=serializers.UUIDField())
    selected_schema_names = serializers.ListField(child=serializers.CharField())
    ai_model_used = serializers.CharField(help_text="The model to run it with; empty lets routing decide.")
    created_by = serializers.CharField(source="created_by.username", allow_null=True, help_text="The author.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    deleted_at = serializers.DateTimeField(allow_null=True, help_text="Set when soft-deleted.")


PromptPage = paginated(PromptOutput, "PromptPage")


_PROMPT_EXAMPLE = {
    "id": _EXAMPLE_ID,
    "workspace_id": _EXAMPLE_WORKSPACE,
    "title": "Top customers",
    "prompt_text": "Top 10 customers by revenue last quarter",
    "status": "saved",
    "tags": ["sales", "weekly"],
    "selected_data_source_ids": ["5f0c2b1e-2d4a-4b7e-8f1a-9c3d2e1f0a11"],
    "selected_schema_names": ["public"],
    "ai_model_used": "",
    "created_by": "ana",
    "created_at": "2026-12-01T09:00:00Z",
    "updated_at": "2026-12-01T09:00:00Z",
    "deleted_at": None,
}

_FIELD_HELP = {
    "prompt_text": "At most MAX_PROMPT_CHARS (8000) characters, not blank.",
    "tags": "At most 20 tags of at most 64 characters; blanks and duplicates are dropped.",
    "selected_data_source_ids": "Data sources of the prompt's workspace that you can see.",
    "ai_model_used": "A model of the workspace (see the studio's model list), or empty.",
}


class PromptFilterInput(serializers.Serializer):
    workspace_id = serializers.UUIDField(required=False, help_text="Only this workspace (you must be a member).")
    q = serializers.CharField(required=False, max_length=200, help_text="Words in the title or the text.")
    tag = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, help_text="Repeat for several: all must match."
    )
    status = serializers.ChoiceField(choices=Prompt.Status.choices, required=False)
    author = serializers.CharField(required=False, max_length=150, help_text="Username of the author.")
    created_after = serializers.DateTimeField(required=False, help_text="Created at or after (ISO 8601).")
    created_before = serializers.DateTimeField(required=False, help_text="Created before (ISO 8601).")
    deleted = serializers.BooleanField(
        required=False, default=False, help_text="List soft-deleted prompts instead: those you may restore."
    )


class PromptListApi(APIView):
    class PromptCreateInput(serializers.Serializer):
        workspace_id = serializers.UUIDField()
        title = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)
        prompt_text = serializers.CharField(help_text=_FIELD_HELP["prompt_text"])
        tags = serializers.ListField(
            child=serializers.CharField(allow_blank=True), required=False, default=list, help_text=_FIELD_HELP["tags"]
        )
        selected_data_source_ids = serializers.ListField(
            child=serializers.UUIDField(),
            required=False,
            default=list,
            help_text=_FIELD_HELP["selected_data_source_ids"],
        )
        selected_schema_names = serializers.ListField(
            child=serializers.CharField(allow_blank=True, max_length=255), required=False, default=list
        )
        ai_model_used = serializers.CharField(
            required=False, default="", allow_blank=True, max_length=255, help_text=_FIELD_HELP["ai_model_used"]
        )
        status = serializers.ChoiceField(
            choices=Prompt.Status.choices,
            default=Prompt.Status.SAVED,
            help_text="saved: in the library, seen by every member; draft: seen by you, owners and admins.",
        )

    @extend_schema(
        operation_id="prompts_list",
        parameters=[
            PromptFilterInput,
            OpenApiParameter("limit", int, required=False, description="Page size (default 50)."),
            OpenApiParameter("offset", int, required=False),
        ],
        responses={200: PromptPage, **API_ERRORS},
        tags=TAGS,
        examples=[
            OpenApiExample(
                "A page",
                response_only=True,
                value={"count": 1, "next": None, "previous": None, "results": [_PROMPT_EXAMPLE]},
            )
        ],
    )
    def get(self, request: Request) -> Response:
        filters = PromptFilterInput(data=request.query_params)
        filters.is_valid(raise_exception=True)
        values = dict(filters.validated_data)
        if "workspace_id" in values:
            access_workspace(user=request.user, workspace_id=values["workspace_id"])
        prompts = selectors.prompts_search(user=request.user, tags=values.pop("tag", ()), **values)
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(prompts, request, view=self)
        return paginator.get_paginated_response(PromptOutput(page, many=True).data)

    @extend_schema(
        operation_id="prompts_create",
        request=PromptCreateInput,
        responses={201: PromptOutput, 400: PROMPT_400, **_API_ERRORS_BUT_400},
        tags=TAGS,
        examples=[
            OpenApiExample(
                "Save a prompt",
                request_only=True,
                value={
                    "workspace_id": _EXAMPLE_WORKSPACE,
                    "title": "Top customers",
                    "prompt_text": "Top 10 customers by revenue last quarter",
                    "tags": ["sales", "weekly"],
                    "selected_data_source_ids": ["5f0c2b1e-2d4a-4b7e-8f1a-9c3d2e1f0a11"],
                    "selected_schema_names": ["public"],
                },
            ),
            OpenApiExample("Saved", response_only=True, status_codes=["201"], value=_PROMPT_EXAMPLE),
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.PromptCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        workspace = access_workspace(user=request.user, workspace_id=values["workspace_id"])
        user: Any = request.user
        try:
            fields = services.prompt_fields_clean(user=user, workspace=workspace, values=values)
        except services.PromptInvalid as exc:
            raise _prompt_invalid(exc) from exc
        prompt = services.prompt_create(
            workspace=workspace,
            created_by=user,
            prompt_text=fields.prompt_text or "",
            saved=fields.status == Prompt.Status.SAVED,
            title=fields.title or "",
            ai_model_used=fields.ai_model_used or "",
            tags=fields.tags or (),
            selected_data_source_ids=fields.selected_data_source_ids or (),
            selected_schema_names=fields.selected_schema_names or (),
        )
        return Response(PromptOutput(prompt).data, status=status.HTTP_201_CREATED)


class PromptDetailApi(APIView):
    class PromptUpdateInput(serializers.Serializer):
        title = serializers.CharField(required=False, allow_blank=True, max_length=200)
        prompt_text = serializers.CharField(required=False, help_text=_FIELD_HELP["prompt_text"])
        tags = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False,
                                     help_text=_FIELD_HELP["tags"])  # fmt: skip
        selected_data_source_ids = serializers.ListField(
            child=serializers.UUIDField(), required=False, help_text=_FIELD_HELP["selected_data_source_ids"]
        )
        selected_schema_names = serializers.ListField(
            child=serializers.CharField(allow_blank=True, max_length=255), required=False
        )
        ai_model_used = serializers.CharField(required=False, allow_blank=True, max_length=255,
                                              help_text=_FIELD_HELP["ai_model_used"])  # fmt: skip
        status = serializers.ChoiceField(choices=Prompt.Status.choices, required=False,
                                         help_text="draft takes it out of the library again.")  # fmt: skip

    @extend_schema(operation_id="prompts_retrieve", responses={200: PromptOutput, **API_ERRORS}, tags=TAGS,
                   examples=[OpenApiExample("A prompt", response_only=True, value=_PROMPT_EXAMPLE)])  # fmt: skip
    def get(self, request: Request, prompt_id: str) -> Response:
        prompt = selectors.access_prompt(user=request.user, prompt_id=prompt_id)
        return Response(PromptOutput(prompt).data)

    @extend_schema(
        operation_id="prompts_update",
        request=PromptUpdateInput,
        responses={200: PromptOutput, 400: PROMPT_400, **_API_ERRORS_BUT_400},
        tags=TAGS,
        examples=[
            OpenApiExample("Retag", request_only=True, value={"tags": ["sales", "monthly"], "title": "Top customers"})
        ],
    )
    def patch(self, request: Request, prompt_id: str) -> Response:
        prompt = selectors.access_prompt(user=request.user, prompt_id=prompt_id, perm="change_prompt")
        data = self.PromptUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        user: Any = request.user
        try:
            fields = services.prompt_fields_clean(user=user, workspace=prompt.workspace, values=data.validated_data)
        except services.PromptInvalid as exc:
            raise _prompt_invalid(exc) from exc
        prompt = services.prompt_update(prompt=prompt, fields=fields)
        return Response(PromptOutput(prompt).data)

    @extend_schema(
        operation_id="prompts_delete",
        description="Soft delete: the prompt leaves the library and can no longer be run; its executions stay. "
        "`POST .../restore` brings it back.",
        responses={204: None, **API_ERRORS},
        tags=TAGS,
    )
    def delete(self, request: Request, prompt_id: str) -> Response:
        prompt = selectors.access_prompt(user=request.user, prompt_id=prompt_id, perm="change_prompt")
        services.prompt_delete(prompt=prompt)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PromptRestoreApi(APIView):
    @extend_schema(
        operation_id="prompts_restore",
        description="Brings a soft-deleted prompt back (a prompt that is not deleted is answered as is).",
        request=None,
        responses={200: PromptOutput, **API_ERRORS},
        tags=TAGS,
    )
    def post(self, request: Request, prompt_id: str) -> Response:
        prompt = selectors.access_prompt(
            user=request.user, prompt_id=prompt_id, perm="change_prompt", include_deleted=True
        )
        prompt = services.prompt_restore(prompt=prompt)
        return Response(PromptOutput(prompt).data)


def prompt_run(*, user: Any, prompt: Prompt) -> PromptExecution:
    """Runs a saved prompt as saved (text, sources, schemas, model) as a new execution linked to it,
    started like POST /prompts/execute: same limits, budget and errors (``ApiError`` with its code).
    The API and the library page both run prompts through here."""
    run = ExecuteRequest(
        prompt_text=prompt.prompt_text,
        workspace_id=prompt.workspace_id,
        selected_data_source_ids=prompt.selected_data_source_ids,
        selected_schema_names=prompt.selected_schema_names,
        ai_model=prompt.ai_model_used,
        tags=prompt.tags,
        prompt_id=prompt.pk,
    )
    try:
        return start_execution(user, run)
    except DataSourceNotFound as exc:
        raise ApiError(400, "unknown_datasource", "A data source of this prompt no longer exists.") from exc


class RunOutput(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=ExecutionStatus.choices)
    workspace_id = serializers.UUIDField()
    prompt_id = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()
    links = serializers.DictField(child=serializers.CharField(), help_text="execution: where to follow it.")


class PromptRunApi(APIView):
    @extend_schema(
        operation_id="prompts_run",
        description="Runs the saved prompt (its text, data sources, schemas and model) as a new execution "
        "linked to it, and answers at once; follow the execution at `links.execution`.",
        request=None,
        responses={
            202: RunOutput,
            400: error_response(
                "The prompt cannot run as saved: `unknown_model` (no longer in the workspace), "
                "`unknown_datasource` (a source was removed), `prompt_too_long`.",
                ("unknown_model", "No model named 'gpt-x' in this workspace."),
            ),
            **_API_ERRORS_BUT_400,
        },
        tags=TAGS,
        examples=[
            OpenApiExample(
                "Started",
                response_only=True,
                status_codes=["202"],
                value={
                    "id": "3c9d7e21-8a4b-4f0e-b1d2-6e5f4a3b2c10",
                    "status": "pending",
                    "workspace_id": _EXAMPLE_WORKSPACE,
                    "prompt_id": _EXAMPLE_ID,
                    "created_at": "2026-12-01T09:05:00Z",
                    "links": {"execution": "/api/v1/executions/3c9d7e21-8a4b-4f0e-b1d2-6e5f4a3b2c10"},
                },
            )
        ],
    )
    def post(self, request: Request, prompt_id: str) -> Response:
        prompt = selectors.access_prompt(user=request.user, prompt_id=prompt_id)
        execution = prompt_run(user=request.user, prompt=prompt)
        body = {
            "id": execution.pk,
            "status": execution.status,
            "workspace_id": execution.workspace_id,
            "prompt_id": execution.prompt_id,
            "created_at": execution.created_at,
            "links": {"execution": f"/api/v1/executions/{execution.pk}"},
        }
        return Response(RunOutput(body).data, status=status.HTTP_202_ACCEPTED)


class PromptExecutionOutput(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=ExecutionStatus.choices)
    intent_type = serializers.CharField(help_text="Empty until classified.")
    rows_returned = serializers.IntegerField(allow_null=True)
    total_duration_ms = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    user = serializers.CharField(source="user.username", allow_null=True, help_text="Who ran it.")


PromptExecutionPage = paginated(PromptExecutionOutput, "PromptExecutionPage")


class PromptExecutionsApi(APIView):
    @extend_schema(
        operation_id="prompts_executions",
        description="The runs of this prompt that you may see (yours; every run for owners and admins), newest first.",
        parameters=[OpenApiParameter("limit", int, required=False), OpenApiParameter("offset", int, required=False)],
        responses={200: PromptExecutionPage, **API_ERRORS},
        tags=TAGS,
        examples=[
            OpenApiExample(
                "History",
                response_only=True,
                value={
                    "count": 1,
                    "next": None,
                    "previous": None,
                    "results": [
                        {
                            "id": "3c9d7e21-8a4b-4f0e-b1d2-6e5f4a3b2c10",
                            "status": "completed",
                            "intent_type": "DATA_QUERY",
                            "rows_returned": 10,
                            "total_duration_ms": 2140,
                            "created_at": "2026-12-01T09:05:00Z",
                            "user": "ana",
                        }
                    ],
                },
            )
        ],
    )
    def get(self, request: Request, prompt_id: str) -> Response:
        prompt = selectors.access_prompt(user=request.user, prompt_id=prompt_id)
        executions = (
            executions_for_user(user=request.user, workspace_id=prompt.workspace_id)
            .filter(prompt=prompt)
            .select_related("user")
            .order_by("-created_at", "-pk")
        )
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(executions, request, view=self)
        return paginator.get_paginated_response(PromptExecutionOutput(page, many=True).data)
