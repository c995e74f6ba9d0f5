"""Server-rendered Prompt Studio pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from governance import selectors

SESSION_WORKSPACE_KEY = "psa_workspace_id"


@login_required
def studio(request: HttpRequest) -> HttpResponse:
    memberships = list(selectors.memberships_for_user(user=request.user).order_by("workspace__name"))
    current = next(
        (m for m in memberships if str(m.workspace_id) == request.session.get(SESSION_WORKSPACE_KEY)),
        memberships[0] if memberships else None,
    )
    return render(request, "studio/index.html", {"memberships": memberships, "current": current})


@login_required
@require_POST
def workspace_switch(request: HttpRequest) -> HttpResponse:
    workspace = selectors.access_workspace(user=request.user, workspace_id=request.POST.get("workspace_id"))
    request.session[SESSION_WORKSPACE_KEY] = str(workspace.pk)
    return redirect("studio")
