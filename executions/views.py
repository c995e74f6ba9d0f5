"""Server-rendered pages of executions: the studio, and one execution in it.

The studio is one page: the editor (prompt, data sources, schemas, model, tags) above the run it
started. Running posts the editor here and lands on the execution page, which is the studio
showing one execution: its summary and result are rendered here, its timeline is replayed and
followed over the WebSocket by ``static/js/studio.js`` (never read here, so a long run costs the
page nothing). Who may cancel, answer and approve is decided here and enforced again by the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from agent.selectors import models_for_workspace
from config.api import ApiError
from config.pages import SESSION_WORKSPACE_KEY, memberships, workspace_page
from datasources.selectors import catalog_schema_names, datasource_with_perms, datasources_for_user
from executions import services
from executions.apis import start_execution
from executions.models import ExecutionStatus, Phase, PromptExecution
from executions.selectors import execution_with_perms, final_query_of, recent_executions_of
from executions.services.queue import queue_position
from prompts.selectors import PromptNotFound, access_prompt
from prompts.services import MAX_TAG_CHARS, MAX_TAGS
from semantic.models import VerifiedQuery, VerifiedQueryStatus
from semantic.selectors import verified_from_execution
from semantic.services import SemanticError, may_verify
from workspaces.models import Membership

STATUS_LABELS: dict[str, str] = {
    ExecutionStatus.PENDING: "Queued",
    ExecutionStatus.RUNNING: "Running",
    ExecutionStatus.WAITING_FOR_USER: "Waiting for a person",
    ExecutionStatus.COMPLETED: "Completed",
    ExecutionStatus.FAILED: "Failed",
    ExecutionStatus.CANCELLED: "Cancelled",
}
PHASE_LABELS: dict[str, str] = {
    Phase.QUEUED: "Waiting for a worker",
    Phase.ENRICHMENT: "Finding the tables the question is about",
    Phase.CLASSIFICATION: "Understanding the request",
    Phase.REASONING: "Working on it",
    Phase.DELIVERY: "Preparing the answer",
    Phase.DONE: "Done",
}
EXAMPLE_PROMPTS = (
    "How many customers do we have?",
    "Top 10 customers by revenue",
    "Revenue by region last quarter",
    "List billing tables",
)


@dataclass(frozen=True)
class EditorValues:
    """What the editor shows: empty, a saved prompt, an execution's request, or a refused post."""

    prompt_text: str = ""
    datasource_ids: frozenset[str] = field(default_factory=frozenset)
    schema_names: frozenset[str] = field(default_factory=frozenset)
    ai_model: str = ""
    tags: str = ""
    save_prompt: bool = False


class EditorInvalid(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _tags(raw: str) -> list[str]:
    tags = list(dict.fromkeys(tag.strip() for tag in raw.split(",") if tag.strip()))
    if len(tags) > MAX_TAGS:
        raise EditorInvalid(f"Use at most {MAX_TAGS} tags.")
    if any(len(tag) > MAX_TAG_CHARS for tag in tags):
        raise EditorInvalid(f"A tag is at most {MAX_TAG_CHARS} characters long.")
    return tags


def _run(request: HttpRequest, membership: Membership, values: EditorValues) -> PromptExecution:
    """Starts an execution the way the API does (membership, token budget, rate limits, the
    service's validation); every refusal becomes an ``EditorInvalid`` in plain words."""
    execute = services.ExecuteRequest(
        prompt_text=values.prompt_text,
        workspace_id=membership.workspace_id,
        selected_data_source_ids=sorted(values.datasource_ids),
        selected_schema_names=sorted(values.schema_names),
        save_prompt=values.save_prompt,
        ai_model=values.ai_model,
        tags=_tags(values.tags),
    )
    try:
        return start_execution(request.user, execute)
    except ApiError as exc:  # the service's own sentence (rate limits and budgets say when to retry)
        raise EditorInvalid(str(exc.detail), exc.status_code) from exc
    except Http404:
        raise EditorInvalid(
            "One of the chosen data sources no longer exists or is no longer shared with you. "
            "Reload the page to see the current list."
        ) from None
    except PermissionDenied:
        raise EditorInvalid("Your role does not allow you to use one of the chosen data sources.") from None


def _editor_context(request: HttpRequest, membership: Membership, values: EditorValues) -> dict[str, Any]:
    workspace_id = membership.workspace_id
    sources = list(datasources_for_user(user=request.user, workspace_id=workspace_id).order_by("name"))
    schemas = catalog_schema_names(datasource_ids=[source.pk for source in sources])
    source_rows = [
        {
            "id": str(source.pk),
            "name": source.name,
            "kind": source.get_kind_display(),
            "status": source.status,
            "status_label": source.get_status_display(),
            "checked": str(source.pk) in values.datasource_ids,
            "schemas": [{"name": name, "checked": name in values.schema_names} for name in schemas.get(source.pk, [])],
        }
        for source in sources
    ]
    models = models_for_workspace(workspace_id)
    if values.ai_model and values.ai_model not in {name for name, _ in models}:
        models.append((values.ai_model, f"{values.ai_model} (no longer available)"))
    return {
        "values": values,
        "sources": source_rows,
        "has_schemas": any(row["schemas"] for row in source_rows),
        "source_names": [{"id": row["id"], "name": row["name"]} for row in source_rows],
        "models": models,
        "recent": [
            {
                "id": run.pk,
                "prompt_text": run.prompt_text,
                "status_label": STATUS_LABELS.get(run.status, run.status),
                "created_at": run.created_at,
            }
            for run in recent_executions_of(user=cast(User, request.user), workspace_id=workspace_id)
        ],
        "examples": EXAMPLE_PROMPTS,
        "max_prompt_chars": settings.MAX_PROMPT_CHARS,
    }


def _posted_values(request: HttpRequest) -> EditorValues:
    return EditorValues(
        prompt_text=request.POST.get("prompt_text", ""),
        datasource_ids=frozenset(request.POST.getlist("datasource")),
        schema_names=frozenset(request.POST.getlist("schema")),
        ai_model=request.POST.get("ai_model", ""),
        tags=request.POST.get("tags", ""),
        save_prompt=request.POST.get("save_prompt") == "on",
    )


def _saved_prompt_values(request: HttpRequest, prompt_id: str) -> EditorValues:
    prompt = access_prompt(user=request.user, prompt_id=prompt_id)
    return EditorValues(
        prompt_text=prompt.prompt_text,
        datasource_ids=frozenset(str(pk) for pk in prompt.selected_data_source_ids),
        schema_names=frozenset(prompt.selected_schema_names),
        ai_model=prompt.ai_model_used,
        tags=", ".join(prompt.tags),
    )


@workspace_page
def studio(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The editor. A post runs it: on success the execution page, else the editor again, as it
    was, with the reason in plain words. ``?prompt=<id>`` opens a saved prompt in the editor."""
    error = ""
    status = 200
    values = EditorValues()
    if request.method == "POST":
        values = _posted_values(request)
        try:
            execution = _run(request, membership, values)
        except EditorInvalid as exc:
            error, status = exc.message, exc.status
        else:
            return redirect("execution-page", execution_id=execution.pk)
    elif request.GET.get("prompt"):
        try:
            values = _saved_prompt_values(request, request.GET["prompt"])
        except PromptNotFound:
            error = "That saved prompt does not exist, or it is not shared with you."
    context = {**_editor_context(request, membership, values), "error": error}
    return render(request, "studio/studio.html", context, status=status)


def queue_text(queue: dict[str, Any] | None) -> str:
    """ "Number 3 in the queue; it should start in about 2 s." (the script writes the same words)."""
    if not queue:
        return ""
    position = queue["position"]
    where = "Next in the queue" if position == 1 else f"Number {position} in the queue"
    return f"{where}; it should start in about {queue['expected_start_seconds']} s."


def _result_state(execution: PromptExecution) -> dict[str, Any]:
    """What the page's script starts from: the execution's state and result, in the shape it
    also builds from the API's detail when a live run completes."""
    columns = list(execution.result_columns or [])
    rows = [[row.get(column) for column in columns] for row in (execution.result_preview or [])]
    final = execution.final_data or {}
    return {
        "id": str(execution.pk),
        "status": execution.status,
        "phase": execution.phase,
        "progress": execution.progress_percentage,
        "queue": queue_position(execution),
        "sql": execution.generated_query_text,
        "columns": columns,
        "rows": rows,
        "rows_returned": execution.rows_returned,
        "truncated": execution.result_truncated,
        "answer": final.get("answer", "") if isinstance(final, dict) else "",
        "error_code": execution.error_code,
        "error_message": execution.error_message,
    }


@dataclass(frozen=True)
class VerifyState:
    """The thumbs-up of a completed execution, as the page shows it to this person."""

    done: VerifiedQuery | None
    verifies: bool  # their thumbs-up verifies (else it proposes)


def _verify_state(user: User, execution: PromptExecution) -> VerifyState | None:
    if execution.status != ExecutionStatus.COMPLETED or not execution.generated_query_text:
        return None
    final = final_query_of(execution=execution)
    if final is None:
        return None
    try:
        datasource, perms = datasource_with_perms(user=user, datasource_id=final.datasource_id)
    except Http404:
        return None
    if "query_datasource" not in perms:
        return None
    done = verified_from_execution(user=user, execution_id=execution.pk)
    return VerifyState(done=done, verifies=may_verify(user=user, datasource=datasource))


@require_POST
@workspace_page
def execution_verify(request: HttpRequest, membership: Membership, execution_id: str) -> HttpResponse:
    """The thumbs-up form of the execution page (CSRF): verifies or proposes its query."""
    execution, _ = execution_with_perms(user=request.user, execution_id=execution_id)
    try:
        verified = services.execution_verify(user=cast(User, request.user), execution=execution)
    except (services.ExecutionError, SemanticError) as exc:
        messages.error(request, f"Not saved: {exc.message}")
    else:
        messages.success(
            request,
            "Saved as a verified query: models will answer questions like this one with it."
            if verified.status == VerifiedQueryStatus.VERIFIED
            else "Proposed as a verified query: an owner or admin of the data source can verify it.",
        )
    return redirect("execution-page", execution_id=execution.pk)


@workspace_page
def execution_page(request: HttpRequest, membership: Membership, execution_id: str) -> HttpResponse:
    """One execution in the studio, live or finished. Someone who may not view it (another
    workspace's included) gets a 404; opening one of another of their workspaces switches to it."""
    execution, perms = execution_with_perms(user=request.user, execution_id=execution_id)
    if execution.workspace_id != membership.workspace_id:
        other = next((m for m in memberships(request) if m.workspace_id == execution.workspace_id), None)
        if other is not None:
            request.session[SESSION_WORKSPACE_KEY] = str(other.workspace_id)
            membership = other
    values = EditorValues(
        prompt_text=execution.prompt_text,
        datasource_ids=frozenset(str(pk) for pk in execution.selected_data_source_ids),
        schema_names=frozenset(execution.selected_schema_names),
        ai_model=execution.ai_model,
        tags=", ".join(execution.tags),
    )
    state = _result_state(execution)
    context = {
        **_editor_context(request, membership, values),
        "execution": execution,
        "status_label": STATUS_LABELS.get(execution.status, execution.status),
        "phase_label": PHASE_LABELS.get(execution.phase, execution.phase),
        "took": f"{execution.total_duration_ms / 1000:.1f} s" if execution.total_duration_ms is not None else "",
        "state": state,
        "queue_text": queue_text(state["queue"]),
        "words": {"status": STATUS_LABELS, "phase": PHASE_LABELS},
        "can_change": "change_promptexecution" in perms,
        "can_approve": services.may_approve(user=cast(User, request.user), execution=execution),
        "is_author": execution.user_id == request.user.pk,
        "verify": _verify_state(cast(User, request.user), execution),
    }
    return render(request, "studio/studio.html", context)
