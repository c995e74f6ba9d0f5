"""What every server-rendered page shares: the signed-in person's current workspace.

The workspace a person works in is kept in their session (the switcher in the top bar sets it);
a page reads it through ``current_membership``, which falls back to their first workspace and
never trusts a stale id: a workspace they have left simply stops being current.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from workspaces import selectors
from workspaces.models import Membership
from workspaces.roles import WORKSPACE_PERMISSIONS

SESSION_WORKSPACE_KEY = "psa_workspace_id"
_CACHE_ATTR = "_psa_memberships"

# Roles that may see the governance overview and the audit log (its ``manage_policies``).
GOVERNANCE_ROLES = frozenset(role for role, perms in WORKSPACE_PERMISSIONS.items() if "manage_policies" in perms)


def memberships(request: HttpRequest) -> list[Membership]:
    """The person's memberships, ordered for the switcher, read once per request."""
    cached: list[Membership] | None = getattr(request, _CACHE_ATTR, None)
    if cached is None:
        ordered = selectors.memberships_for_user(user=request.user).order_by(
            "workspace__organization__name", "workspace__name"
        )
        cached = list(ordered)
        setattr(request, _CACHE_ATTR, cached)
    return cached


def current_membership(request: HttpRequest) -> Membership | None:
    """The membership of the workspace chosen in the session, else the first one, else None."""
    chosen = request.session.get(SESSION_WORKSPACE_KEY)
    all_memberships = memberships(request)
    first = all_memberships[0] if all_memberships else None
    return next((m for m in all_memberships if str(m.workspace_id) == chosen), first)


def workspace_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page that needs a signed-in member of a workspace: ``view(request, membership, ...)``.

    Someone signed in without any workspace gets the page that tells them what to do next.
    """

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        membership = current_membership(request)
        if membership is None:
            return render(request, "no_workspace.html", status=200)
        return view(request, membership, *args, **kwargs)

    return wrapper


def workspace_context(request: HttpRequest) -> dict[str, Any]:
    """Template context for the top bar: the switcher and the navigation."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    current = current_membership(request)
    return {
        "memberships": memberships(request),
        "current": current,
        "can_govern": bool(current and (current.role in GOVERNANCE_ROLES or request.user.is_superuser)),
    }


@login_required
@require_POST
def workspace_switch(request: HttpRequest) -> HttpResponse:
    """Make another of the person's workspaces current, and stay on the page they were on."""
    workspace = selectors.access_workspace(user=request.user, workspace_id=request.POST.get("workspace_id"))
    request.session[SESSION_WORKSPACE_KEY] = str(workspace.pk)
    return redirect_next(request, reverse("studio"))


def redirect_next(request: HttpRequest, default: str, *, within: str = "") -> HttpResponse:
    """To the form's ``next`` (the page the person came from) when it is a URL of this site that
    starts with ``within``; to ``default`` otherwise, so a crafted link never leads elsewhere."""
    target = request.POST.get("next") or ""
    host = request.get_host()
    safe = url_has_allowed_host_and_scheme(target, allowed_hosts={host}, require_https=request.is_secure())
    return redirect(target if safe and target.startswith(within) else default)


def is_fragment_request(request: HttpRequest) -> bool:
    """An htmx request for part of a page (not a boost, not htmx restoring a page from history)."""
    headers = request.headers
    whole_page = headers.get("HX-History-Restore-Request") or headers.get("HX-Boosted")
    return headers.get("HX-Request") == "true" and not whole_page


def query_without_page(request: HttpRequest) -> str:
    """The page's filters as a query string, without its page number (for the page links)."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def day_bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """A range of days as instants: the start of ``start``, and the start of the day after ``end``
    (exclusive, so ``end`` is included whole); None where a day is not given."""
    return (
        _day_start(start) if start else None,
        _day_start(end + timedelta(days=1)) if end else None,
    )


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))
