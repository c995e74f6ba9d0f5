"""Who sees and changes prompts and executions: parametrised over the personas.

Ana (analyst) writes a prompt and runs it. Alice (owner) and Adam (admin) see and change everything
of their workspace; Vic (viewer) sees Ana's prompt only once it is saved to the library, and never
her executions; Bob (another organisation) sees nothing of Acme's (404, never 403).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from guardian.shortcuts import assign_perm

from executions import services
from executions.selectors import access_execution
from prompts.selectors import access_prompt

pytestmark = pytest.mark.django_db


def execute(tenancy: Any, save: bool) -> Any:
    request = services.ExecuteRequest(prompt_text="How many customers?", workspace_id=tenancy.acme.pk,
                                      save_prompt=save)  # fmt: skip
    return services.execution_create(user=tenancy.ana, request=request)


def outcome(call: Any) -> str:
    try:
        call()
    except Http404:
        return "404"
    except PermissionDenied:
        return "403"
    return "ok"


@pytest.mark.parametrize(
    ("who", "saved", "view", "change"),
    [
        ("ana", False, "ok", "ok"),
        ("alice", False, "ok", "ok"),
        ("adam", False, "ok", "ok"),
        ("vic", False, "404", "404"),
        ("bob", False, "404", "404"),
        ("vic", True, "ok", "403"),
        ("bob", True, "404", "404"),
    ],
)
def test_prompt_permissions(tenancy, who, saved, view, change) -> None:
    prompt = execute(tenancy, saved).prompt
    user = getattr(tenancy, who)
    assert outcome(lambda: access_prompt(user=user, prompt_id=prompt.pk)) == view
    assert outcome(lambda: access_prompt(user=user, prompt_id=prompt.pk, perm="change_prompt")) == change


@pytest.mark.parametrize(
    ("who", "view", "change"),
    [("ana", "ok", "ok"), ("alice", "ok", "ok"), ("adam", "ok", "ok"), ("vic", "404", "404"), ("bob", "404", "404")],
)
def test_execution_permissions(tenancy, who, view, change) -> None:
    execution = execute(tenancy, False)
    user = getattr(tenancy, who)
    assert outcome(lambda: access_execution(user=user, execution_id=execution.pk)) == view
    assert (
        outcome(lambda: access_execution(user=user, execution_id=execution.pk, perm="change_promptexecution")) == change
    )


def test_a_grant_per_object_comes_on_top_of_the_role(tenancy) -> None:
    execution = execute(tenancy, False)
    assign_perm("executions.view_promptexecution", tenancy.vic, execution)
    assert outcome(lambda: access_execution(user=tenancy.vic, execution_id=execution.pk)) == "ok"
    assert outcome(lambda: access_execution(user=tenancy.vic, execution_id=execution.pk,
                                            perm="change_promptexecution")) == "403"  # fmt: skip


def test_garbage_and_unknown_ids_are_404(tenancy) -> None:
    assert outcome(lambda: access_prompt(user=tenancy.alice, prompt_id="not-a-uuid")) == "404"
    assert (
        outcome(lambda: access_execution(user=tenancy.alice, execution_id="00000000-0000-0000-0000-000000000000"))
        == "404"
    )


def test_running_another_workspaces_saved_prompt_is_not_found(tenancy) -> None:
    prompt = execute(tenancy, True).prompt
    request = services.ExecuteRequest(prompt_text="x", workspace_id=tenancy.globex.pk, prompt_id=prompt.pk)
    with pytest.raises(Http404):
        services.execution_create(user=tenancy.bob, request=request)
