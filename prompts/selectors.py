"""Reads for saved prompts, and the chokepoint every view and task uses to reach one."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import CharField, Count, F, Func, Q, QuerySet
from django.http import Http404

from prompts.models import Prompt
from workspaces.permissions import objects_with_perm
from workspaces.selectors import workspaces_for_user


class PromptNotFound(Http404):
    pass


def prompts_for_user(
    *, user: User | AnonymousUser, workspace_id: Any = None, include_deleted: bool = False
) -> QuerySet[Prompt]:
    """Prompts of the user's workspaces that they may view (soft-deleted ones only when asked)."""
    if not user.is_authenticated:
        return Prompt.objects.none()
    query = objects_with_perm(user, "prompts.view_prompt", Prompt).filter(workspace__in=workspaces_for_user(user=user))
    if workspace_id is not None:
        query = query.filter(workspace_id=workspace_id)
    if not include_deleted:
        query = query.filter(deleted_at=None)
    return query


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


def prompts_changeable(*, user: User | AnonymousUser, prompts: Sequence[Prompt]) -> set[uuid.UUID]:
    """Ids of ``prompts`` the user may change, delete and restore (``change_prompt``, the rule
    ``access_prompt`` applies), in one query: what a page shows its edit buttons for."""
    if not user.is_authenticated or not prompts:
        return set()
    allowed = objects_with_perm(user, "prompts.change_prompt", Prompt).filter(pk__in=[prompt.pk for prompt in prompts])
    return set(allowed.values_list("pk", flat=True))


def prompt_tags(*, user: User | AnonymousUser, workspace_id: Any, limit: int = 100) -> list[tuple[str, int]]:
    """The tags of a workspace's library (saved prompts, not deleted) as the user sees it, with how
    many prompts carry each, most used first: counted in PostgreSQL (unnest), one query."""
    rows = (
        prompts_for_user(user=user, workspace_id=workspace_id)
        .filter(status=Prompt.Status.SAVED)
        .annotate(tag=Func(F("tags"), function="unnest", output_field=CharField()))
        .values("tag")
        .annotate(prompts=Count("pk"))
        .order_by("-prompts", "tag")[:limit]
    )
    return [(row["tag"], row["prompts"]) for row in rows]


def prompts_search(
    *,
    user: User | AnonymousUser,
    workspace_id: Any = None,
    q: str = "",
    tags: Sequence[str] = (),
    status: str | None = None,
    author: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    deleted: bool = False,
) -> QuerySet[Prompt]:
    """The library as one person sees it. ``deleted=True`` lists soft-deleted prompts instead, and
    only those the person may restore (author, owners and admins: change_prompt)."""
    if deleted:
        query = prompts_for_user(user=user, workspace_id=workspace_id, include_deleted=True).exclude(deleted_at=None)
        query = query.filter(pk__in=objects_with_perm(user, "prompts.change_prompt", Prompt).values("pk"))
    else:
        query = prompts_for_user(user=user, workspace_id=workspace_id)
    if q:
        query = query.filter(Q(title__icontains=q) | Q(prompt_text__icontains=q))
    if tags:
        query = query.filter(tags__contains=list(tags))  # every tag given
    if status:
        query = query.filter(status=status)
    if author:
        query = query.filter(created_by__username=author)
    if created_after is not None:
        query = query.filter(created_at__gte=created_after)
    if created_before is not None:
        query = query.filter(created_at__lt=created_before)
    return query.select_related("created_by").order_by("-created_at", "-pk")
