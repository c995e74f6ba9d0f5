"""Reads for executions, and the chokepoint every view, consumer and task uses to reach one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from executions.models import ExecutionEvent, PromptExecution, Turn
from workspaces.permissions import objects_with_perm, visible_object
from workspaces.selectors import workspaces_for_user


class ExecutionNotFound(Http404):
    pass


def executions_for_user(*, user: User | AnonymousUser, workspace_id: Any = None) -> QuerySet[PromptExecution]:
    """Executions the user may view: their own, and those granted to them or their role's group
    (owners and admins of the workspace get every execution when it is created)."""
    if not user.is_authenticated:
        return PromptExecution.objects.none()
    viewable = objects_with_perm(user, "executions.view_promptexecution", PromptExecution)
    query = viewable.filter(workspace__in=workspaces_for_user(user=user))
    if workspace_id is not None:
        query = query.filter(workspace_id=workspace_id)
    return query


def executions_search(
    *,
    user: User | AnonymousUser,
    workspace_id: Any = None,
    status: str | None = None,
    intent: str | None = None,
    datasource_id: Any = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    q: str = "",
) -> QuerySet[PromptExecution]:
    """The executions a user may see, filtered, newest first: the API's list and the history page.
    ``created_after`` is inclusive, ``created_before`` exclusive; ``q`` is words in the prompt."""
    query = executions_for_user(user=user, workspace_id=workspace_id)
    if status:
        query = query.filter(status=status)
    if intent:
        query = query.filter(intent_type=intent.upper())
    if datasource_id is not None:
        query = query.filter(selected_data_source_ids__contains=[datasource_id])
    if created_after is not None:
        query = query.filter(created_at__gte=created_after)
    if created_before is not None:
        query = query.filter(created_at__lt=created_before)
    if q:
        query = query.filter(prompt_text__icontains=q)
    return query.order_by("-created_at", "-pk")


def access_execution(*, user: User | AnonymousUser, execution_id: Any, perm: str | None = None) -> PromptExecution:
    """An execution the user may not view (another workspace's included) is a 404; one they may
    view but lack ``perm`` on (change_promptexecution) is a 403."""
    execution, perms = execution_with_perms(user=user, execution_id=execution_id)
    if perm is not None and perm not in perms:
        raise PermissionDenied("You may not do this on this execution.")
    return execution


def execution_with_perms(*, user: User | AnonymousUser, execution_id: Any) -> tuple[PromptExecution, set[str]]:
    """``access_execution`` without a required permission: the execution (404 as there) and the
    codenames of the user's permissions on it, for a page that shows what they may do."""
    return visible_object(
        PromptExecution,
        execution_id,
        user,
        view_perm="view_promptexecution",
        not_found=ExecutionNotFound("No such execution."),
    )


def events_after(*, execution: PromptExecution, after_seq: int = 0, limit: int = 500) -> list[ExecutionEvent]:
    return list(execution.events.filter(seq__gt=after_seq).order_by("seq")[:limit])


def recent_executions_of(*, user: User, workspace_id: Any, limit: int = 8) -> list[PromptExecution]:
    """The user's own latest executions in a workspace, one per distinct prompt text (the newest),
    for the studio's "recent prompts"; only the fields the list shows are read."""
    latest = (
        PromptExecution.objects.filter(user=user, workspace_id=workspace_id)
        .order_by("-created_at")
        .only("id", "prompt_text", "status", "created_at")[: limit * 4]
    )
    seen: set[str] = set()
    recent: list[PromptExecution] = []
    for execution in latest:
        if execution.prompt_text not in seen:
            seen.add(execution.prompt_text)
            recent.append(execution)
        if len(recent) == limit:
            break
    return recent


@dataclass(frozen=True)
class FinalQuery:
    datasource_id: str
    sql: str  # as the model wrote it: generated_query_text is the gateway's rewrite for its author


def final_query_of(*, execution: PromptExecution) -> FinalQuery | None:
    """The call that produced the execution's result: the one whose rewrite is ``generated_query_text``
    (the latest such turn first), with its data source and its SQL before the rewrite."""
    sql = execution.generated_query_text
    if not sql:
        return None
    for reply, observations in (
        Turn.objects.filter(execution=execution).order_by("-index").values_list("reply", "observations")
    ):
        written = {str(c.get("id")): c.get("arguments") or {} for c in (reply or {}).get("tool_calls") or []}
        for call_id, result in (observations or {}).items():
            data = result.get("data") if isinstance(result, dict) else None
            if isinstance(data, dict) and data.get("datasource_id") and result.get("sql") == sql:
                return FinalQuery(str(data["datasource_id"]), str(written.get(call_id, {}).get("sql") or sql))
    return None
