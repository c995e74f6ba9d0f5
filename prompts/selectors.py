"""Reads for saved prompts, and the chokepoint every view and task uses to reach one."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from guardian.shortcuts import get_objects_for_user

from governance.selectors import workspaces_for_user
from prompts.models import Prompt


class PromptNotFound(Http404):
    pass


def prompts_for_user(
    *, user: User | AnonymousUser, workspace_id: Any = None, include_deleted: bool = False
) -> QuerySet[Prompt]:
    """Prompts of the user's workspaces that they may view (soft-deleted ones only when asked)."""
    if not user.is_authenticated:
        return Prompt.objects.none()
    query = Prompt.objects.filter(workspace__in=workspaces_for_user(user=user))
    if workspace_id is not None:
        query = query.filter(workspace_id=workspace_id)
    if not include_deleted:
        query = query.filter(deleted_at=None)
    return get_objects_for_user(user, "prompts.view_prompt", klass=query, accept_global_perms=False)


def access_prompt(
    *, user: User | AnonymousUser, prompt_id: Any, perm: str | None = None, include_deleted: bool = False
) -> Prompt:
    """A prompt the user may not view (another workspace's, a colleague's draft) is a 404; one
    they may view but lack ``perm`` on (change_prompt) is a 403."""
    try:
        pk = uuid.UUID(str(prompt_id))
    except ValueError:
        raise PromptNotFound("No such prompt.") from None
    prompt = prompts_for_user(user=user, include_deleted=include_deleted).filter(pk=pk).first()
    if prompt is None:
        raise PromptNotFound("No such prompt.")
    if perm is not None and not user.has_perm(f"prompts.{perm}", prompt):
        raise PermissionDenied("You may not do this to this prompt.")
    return prompt
