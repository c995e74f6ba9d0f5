"""Reads for executions, and the chokepoint every view, consumer and task uses to reach one."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from guardian.shortcuts import get_objects_for_user

from executions.models import ExecutionEvent, PromptExecution
from governance.permissions import object_with_perms
from governance.selectors import workspaces_for_user


class ExecutionNotFound(Http404):
    pass


def executions_for_user(*, user: User | AnonymousUser, workspace_id: Any = None) -> QuerySet[PromptExecution]:
    """Executions the user may view: their own, and those granted to them or their role's group
    (owners and admins of the workspace get every execution when it is created)."""
    if not user.is_authenticated:
        return PromptExecution.objects.none()
    query = PromptExecution.objects.filter(workspace__in=workspaces_for_user(user=user))
    if workspace_id is not None:
        query = query.filter(workspace_id=workspace_id)
    return get_objects_for_user(user, "executions.view_promptexecution", klass=query, accept_global_perms=False)


def access_execution(*, user: User | AnonymousUser, execution_id: Any, perm: str | None = None) -> PromptExecution:
    """An execution the user may not view (another workspace's included) is a 404; one they may
    view but lack ``perm`` on (change_promptexecution) is a 403."""
    try:
        pk = uuid.UUID(str(execution_id))
    except ValueError:
        raise ExecutionNotFound("No such execution.") from None
    if isinstance(user, AnonymousUser) or not user.is_authenticated:
        raise ExecutionNotFound("No such execution.")
    execution, perms = object_with_perms(PromptExecution, pk, user)
    if execution is None or "view_promptexecution" not in perms:
        raise ExecutionNotFound("No such execution.")
    if perm is not None and perm not in perms:
        raise PermissionDenied("You may not do this on this execution.")
    return execution


def events_after(*, execution: PromptExecution, after_seq: int = 0, limit: int = 500) -> list[ExecutionEvent]:
    return list(execution.events.filter(seq__gt=after_seq).order_by("seq")[:limit])
