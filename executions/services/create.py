"""Creating an execution: validation, the prompt, the execution and its first turn, grants."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from agent.selectors import models_for_workspace
from datasources.selectors import DataSourceNotFound, access_datasource
from executions import events
from executions.models import (
    PromptExecution,
    Turn,
)
from executions.services.lifecycle import (
    enqueue_turn_on_commit,
)
from governance.gateway import Actor, actor_for
from prompts.models import Prompt
from prompts.selectors import access_prompt
from prompts.services import prompt_create
from workspaces.models import Membership, Role
from workspaces.roles import grant

logger = logging.getLogger(__name__)
EXECUTION_ROLES_WITH_ACCESS = (Role.OWNER, Role.ADMIN)  # see every execution of their workspace


# --- create -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExecuteRequest:
    prompt_text: str
    workspace_id: Any
    selected_data_source_ids: Sequence[Any] = ()
    selected_schema_names: Sequence[str] = ()
    save_prompt: bool = False
    ai_model: str = ""
    tags: Sequence[str] = ()
    temperature: float | None = None
    prompt_id: Any = None  # a saved prompt being run


def execution_create(*, user: User, request: ExecuteRequest, membership: Membership | None = None) -> PromptExecution:
    """Validates the request, writes the prompt and the execution with its first turn in one
    transaction, and enqueues that turn when it commits. ``membership``, the user's in the
    request's workspace, saves reading it again when the caller has just checked it."""
    if (
        membership is not None
        and membership.user_id == user.pk
        and str(membership.workspace_id) == str(request.workspace_id)
    ):
        actor = Actor(user=membership.user, workspace=membership.workspace, membership=membership)
    else:
        actor = actor_for(user=user, workspace_id=request.workspace_id)
    text = (request.prompt_text or "").strip()
    if not text:
        raise _invalid("prompt_text", "Write a question or an instruction.", "prompt_empty")
    if len(text) > settings.MAX_PROMPT_CHARS:
        raise _invalid("prompt_text", f"The prompt is longer than {settings.MAX_PROMPT_CHARS} characters.",
                       "prompt_too_long")  # fmt: skip
    if request.ai_model and request.ai_model not in {name for name, _ in models_for_workspace(actor.workspace.pk)}:
        raise _invalid("ai_model", f"No model named {request.ai_model!r} in this workspace.", "unknown_model")
    datasource_ids = []
    for datasource_id in request.selected_data_source_ids:
        # Every selected source must be in this workspace (404 otherwise) and visible to the user;
        # what they may do with it (query, write) the gateway decides per tool call.
        datasource = access_datasource(user=user, datasource_id=datasource_id, perm="view_datasource")
        if datasource.workspace_id != actor.workspace.pk:
            raise DataSourceNotFound("No such data source.")
        datasource_ids.append(datasource.pk)
    with transaction.atomic():
        prompt = _prompt_for(actor, request, text, datasource_ids)
        execution = PromptExecution.objects.create(
            workspace=actor.workspace,
            prompt=prompt,
            user=user,
            prompt_text=text,
            selected_data_source_ids=datasource_ids,
            selected_schema_names=[s for s in request.selected_schema_names if s],
            ai_model=request.ai_model or "",
            options={"temperature": request.temperature} if request.temperature is not None else {},
            tags=list(request.tags),
        )
        execution_grant(execution, user)
        Turn.objects.create(execution=execution, index=0, category="enrichment")
        # No lock to take: nobody else sees the execution before this transaction commits.
        events.event_append(execution, events.EXECUTION_CREATED, {"status": execution.status})
        enqueue_turn_on_commit(execution.pk, 0)
    return execution


def _invalid(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


def _prompt_for(actor: Actor, request: ExecuteRequest, text: str, datasource_ids: list[Any]) -> Prompt | None:
    if request.prompt_id:
        # A saved prompt being run: through its chokepoint (another workspace's is a 404).
        prompt = access_prompt(user=actor.user, prompt_id=request.prompt_id)
        if prompt.workspace_id != actor.workspace.pk:
            raise _invalid("prompt_id", "No such saved prompt.", "not_found")
        return prompt
    return prompt_create(
        workspace=actor.workspace,
        created_by=actor.user,
        prompt_text=text,
        saved=request.save_prompt,
        ai_model_used=request.ai_model or "",
        tags=request.tags,
        selected_data_source_ids=datasource_ids,
        selected_schema_names=request.selected_schema_names,
    )


def execution_grant(execution: PromptExecution, user: User) -> None:
    """Its author views and changes an execution; so do the owners and admins of its workspace."""
    perms = ("executions.view_promptexecution", "executions.change_promptexecution")
    grant(obj=execution, users={user: perms}, workspace_id=execution.workspace_id,
          perms_by_role=dict.fromkeys(EXECUTION_ROLES_WITH_ACCESS, perms))  # fmt: skip
