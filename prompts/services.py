"""Writes for saved prompts: creation with its object permissions (django-guardian).

Who may do what to a prompt: its author and the workspace's owners and admins view and change it;
once saved to the library, analysts and viewers of the workspace view it too. Grants to a user or
a group per prompt come on top (``assign_perm``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from datasources.selectors import access_datasource
from prompts.models import Prompt
from workspaces.models import Role, Workspace
from workspaces.roles import grant, role_group_name

_MANAGERS = (Role.OWNER, Role.ADMIN)
_LIBRARY_READERS = (Role.ANALYST, Role.VIEWER)


def _grant(prompt: Prompt) -> None:
    author = {prompt.created_by: ("prompts.view_prompt", "prompts.change_prompt")} if prompt.created_by else {}
    perms_by_role: dict[str, tuple[str, ...]] = dict.fromkeys(
        _MANAGERS, ("prompts.view_prompt", "prompts.change_prompt")
    )
    if prompt.status == Prompt.Status.SAVED:
        perms_by_role.update(dict.fromkeys(_LIBRARY_READERS, ("prompts.view_prompt",)))
    grant(obj=prompt, users=author, workspace_id=prompt.workspace_id, perms_by_role=perms_by_role)


@transaction.atomic(savepoint=False)  # inside an execution's transaction, no savepoint round trips
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


# --- the library: checked input, change, soft delete, restore ----------------------------------

MAX_TAGS = 20
MAX_TAG_CHARS = 64  # the column's length
MAX_TITLE_CHARS = 200
MAX_SCHEMA_NAMES = 50


class PromptInvalid(Exception):
    """Input a person can fix; ``code`` is stable (prompt_too_long, unknown_datasource, ...)."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PromptFields:
    """Cleaned values of a saved prompt; ``None`` means "not given" (a PATCH leaves it as is)."""

    title: str | None = None
    prompt_text: str | None = None
    tags: list[str] | None = None
    selected_data_source_ids: list[uuid.UUID] | None = None
    selected_schema_names: list[str] | None = None
    ai_model_used: str | None = None
    status: str | None = None


def prompt_fields_clean(*, user: User, workspace: Workspace, values: dict[str, Any]) -> PromptFields:
    """Checks what a person sends for a saved prompt, with the same limits an execution has
    (MAX_PROMPT_CHARS, sources of this workspace the user can see, the workspace's models), so a
    prompt that is saved can also be run."""
    text = values.get("prompt_text")
    if text is not None:
        text = text.strip()
        if not text:
            raise PromptInvalid("prompt_text", "prompt_empty", "Write a question or an instruction.")
        if len(text) > settings.MAX_PROMPT_CHARS:
            raise PromptInvalid("prompt_text", "prompt_too_long",
                                f"The prompt is longer than {settings.MAX_PROMPT_CHARS} characters.")  # fmt: skip
    title = values.get("title")
    if title is not None:
        title = title.strip()
        if len(title) > MAX_TITLE_CHARS:
            raise PromptInvalid("title", "title_too_long", f"The title is longer than {MAX_TITLE_CHARS} characters.")
    tags = values.get("tags")
    if tags is not None:
        tags = _tags_clean(tags)
    datasource_ids = values.get("selected_data_source_ids")
    if datasource_ids is not None:
        datasource_ids = _datasources_clean(user, workspace, datasource_ids)
    schema_names = values.get("selected_schema_names")
    if schema_names is not None:
        schema_names = list(dict.fromkeys(name.strip() for name in schema_names if name.strip()))
        if len(schema_names) > MAX_SCHEMA_NAMES:
            raise PromptInvalid("selected_schema_names", "too_many_schemas", f"At most {MAX_SCHEMA_NAMES} schemas.")
    model = values.get("ai_model_used")
    if model:
        from agent.selectors import models_for_workspace  # agent is above prompts; imported where used

        if model not in {name for name, _ in models_for_workspace(workspace.pk)}:
            raise PromptInvalid("ai_model_used", "unknown_model", f"No model named {model!r} in this workspace.")
    return PromptFields(
        title=title,
        prompt_text=text,
        tags=tags,
        selected_data_source_ids=datasource_ids,
        selected_schema_names=schema_names,
        ai_model_used=model,
        status=values.get("status"),
    )


def _tags_clean(tags: Sequence[str]) -> list[str]:
    cleaned = list(dict.fromkeys(tag.strip() for tag in tags if tag.strip()))
    if len(cleaned) > MAX_TAGS:
        raise PromptInvalid("tags", "too_many_tags", f"At most {MAX_TAGS} tags.")
    for tag in cleaned:
        if len(tag) > MAX_TAG_CHARS:
            raise PromptInvalid("tags", "tag_too_long", f"A tag is at most {MAX_TAG_CHARS} characters.")
    return cleaned


def _datasources_clean(user: User, workspace: Workspace, ids: Sequence[Any]) -> list[uuid.UUID]:
    """Unknown sources, other workspaces' and ones the user cannot see all answer the same way."""
    cleaned: list[uuid.UUID] = []
    for datasource_id in dict.fromkeys(str(i) for i in ids):
        try:
            datasource = access_datasource(user=user, datasource_id=datasource_id)
        except Http404:
            datasource = None
        if datasource is None or datasource.workspace_id != workspace.pk:
            raise PromptInvalid(
                "selected_data_source_ids", "unknown_datasource", f"No such data source: {datasource_id}."
            )
        cleaned.append(datasource.pk)
    return cleaned


@transaction.atomic
def prompt_update(*, prompt: Prompt, fields: PromptFields) -> Prompt:
    changed = [name for name, value in vars(fields).items() if value is not None and getattr(prompt, name) != value]
    if not changed:
        return prompt
    for name in changed:
        setattr(prompt, name, getattr(fields, name))
    prompt.save(update_fields=[*changed, "updated_at"])
    if "status" in changed:
        _library_grants(prompt)
    return prompt


def _library_grants(prompt: Prompt) -> None:
    """A prompt saved to the library is visible to the workspace's analysts and viewers; taken back
    to a draft, it is not (grants to single users stay)."""
    names = [role_group_name(prompt.workspace_id, role) for role in _LIBRARY_READERS]
    for group in Group.objects.filter(name__in=names):
        if prompt.status == Prompt.Status.SAVED:
            assign_perm("prompts.view_prompt", group, prompt)
        else:
            remove_perm("prompts.view_prompt", group, prompt)


def prompt_delete(*, prompt: Prompt) -> Prompt:
    """Soft delete: the row, its grants and its executions stay; lists and runs no longer see it."""
    if prompt.deleted_at is None:
        prompt.deleted_at = timezone.now()
        prompt.save(update_fields=["deleted_at", "updated_at"])
    return prompt


def prompt_restore(*, prompt: Prompt) -> Prompt:
    if prompt.deleted_at is not None:
        prompt.deleted_at = None
        prompt.save(update_fields=["deleted_at", "updated_at"])
    return prompt
