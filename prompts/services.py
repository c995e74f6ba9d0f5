"""Writes for saved prompts: creation with its object permissions (django-guardian).

Who may do what to a prompt: its author and the workspace's owners and admins view and change it;
once saved to the library, analysts and viewers of the workspace view it too. Grants to a user or
a group per prompt come on top (``assign_perm``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from guardian.shortcuts import assign_perm

from governance.models import Role, Workspace
from governance.roles import grant_to_roles
from prompts.models import Prompt

_MANAGERS = (Role.OWNER, Role.ADMIN)
_LIBRARY_READERS = (Role.ANALYST, Role.VIEWER)


def _grant(prompt: Prompt) -> None:
    if prompt.created_by is not None:
        for perm in ("view_prompt", "change_prompt"):
            assign_perm(f"prompts.{perm}", prompt.created_by, prompt)
    perms_by_role: dict[str, tuple[str, ...]] = dict.fromkeys(
        _MANAGERS, ("prompts.view_prompt", "prompts.change_prompt")
    )
    if prompt.status == Prompt.Status.SAVED:
        perms_by_role.update(dict.fromkeys(_LIBRARY_READERS, ("prompts.view_prompt",)))
    grant_to_roles(obj=prompt, workspace_id=prompt.workspace_id, perms_by_role=perms_by_role)


@transaction.atomic
def prompt_create(
    *,
    workspace: Workspace,
    created_by: User | None,
    prompt_text: str,
    saved: bool = False,
    title: str = "",
    ai_model_used: str = "",
    tags: Sequence[str] = (),
    selected_data_source_ids: Sequence[Any] = (),
    selected_schema_names: Sequence[str] = (),
) -> Prompt:
    prompt = Prompt.objects.create(
        organization_id=workspace.organization_id,
        workspace=workspace,
        created_by=created_by,
        title=title,
        prompt_text=prompt_text,
        ai_model_used=ai_model_used,
        status=Prompt.Status.SAVED if saved else Prompt.Status.DRAFT,
        tags=list(tags),
        selected_data_source_ids=list(selected_data_source_ids),
        selected_schema_names=list(selected_schema_names),
    )
    _grant(prompt)
    return prompt
