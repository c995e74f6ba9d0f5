"""Server-rendered pages of data sources: the workspace's list, adding one (its connection is
tested before anything is saved) and refreshing a catalog with the refresh task's real progress.
The catalog browser, which shows what the governance gateway lets the current member see, lives in
``governance.catalog_views``.

Every source is reached through ``access_datasource``; a source of another workspace than the
current one is a 404, like one of another organisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince
from django.views.decorators.http import require_GET, require_POST

from config.pages import is_fragment_request, redirect_next, workspace_page
from datasources import selectors, services
from datasources.connectors.base import ConnectorError
from datasources.forms import FORMS, DataSourceForm
from datasources.models import DataSource, DataSourceKind, DataSourceStatus, InferredKeyState
from workspaces.models import Membership
from workspaces.selectors import access_workspace

SLOW_REFRESH = timedelta(minutes=2)
ADMINISTER = "administer_datasource"  # the permission a refresh needs

# What each connector error means for the person who typed the settings, in plain words; the
# connector's own message (never a password) follows as the detail.
PLAIN_ERRORS = {
    "datasource_unreachable": "Prompt Studio could not reach the data source. Check the host and port (or the "
    "address), and that the server is running and accepts connections from here.",
    "datasource_auth_failed": "The data source refused the user name or password.",
    "datasource_not_found": "There is no such database, file or folder.",
    "datasource_forbidden_host": "This installation does not allow data sources at that address.",
    "datasource_path_forbidden": "That path is outside the folders this installation allows.",
    "datasource_invalid_settings": "Some settings are missing or not valid.",
    "introspection_failed": "Reading the schema failed unexpectedly. Try again; if it fails again, tell your "
    "administrator (the worker's log has the details).",
}


@dataclass(frozen=True)
class Outcome:
    """The result of a connection test, said plainly."""

    ok: bool
    headline: str
    detail: str = ""
    warning: bool = False  # it connects, but there is nothing to read


def plain_error(code: str, message: str = "") -> Outcome:
    return Outcome(False, PLAIN_ERRORS.get(code, "The data source reported an error."), message)


def datasource_in_workspace(
    request: HttpRequest, membership: Membership, datasource_id: Any, perm: str | None = None
) -> tuple[DataSource, set[str]]:
    """The source, if it is one of the current workspace's and the member may see it (else 404),
    with the codenames of their permissions on it; a 403 when they may see it but not ``perm`` it."""
    datasource, perms = selectors.datasource_with_perms(user=request.user, datasource_id=datasource_id)
    if datasource.workspace_id != membership.workspace_id:
        raise Http404("No such data source in this workspace.")
    if perm is not None and perm not in perms:
        raise PermissionDenied("Your role does not allow this on this data source.")
    return datasource, perms


def _may_add(request: HttpRequest, membership: Membership) -> bool:
    try:
        access_workspace(user=request.user, workspace_id=membership.workspace_id, perm="manage_datasources")
    except PermissionDenied:
        return False
    return True


def _ago(when: datetime | None) -> str:
    if when is None:
        return ""
    if timezone.now() - when < timedelta(minutes=1):
        return "just now"
    return f"{timesince(when, depth=1)} ago"


def status_context(datasource: DataSource, *, can_refresh: bool) -> dict[str, Any]:
    error = None
    if datasource.status == DataSourceStatus.ERROR:
        error = plain_error(datasource.error_code, datasource.status_message)
    reading = datasource.status == DataSourceStatus.INTROSPECTING
    return {
        "ds": datasource,
        "can_refresh": can_refresh,
        "error": error,
        "reading": reading,
        "read_ago": _ago(datasource.last_introspected_at),
        # The refresh started (updated_at) a while ago and is still running: say so, never pretend.
        "slow": reading and timezone.now() - datasource.updated_at > SLOW_REFRESH,
    }


# --- the list ----------------------------------------------------------------------------------


@workspace_page
@require_GET
def datasource_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    datasources = list(selectors.datasources_for_user(user=request.user, workspace_id=membership.workspace_id))
    administrable = selectors.datasource_ids_with_perm(user=request.user, datasources=datasources, perm=ADMINISTER)
    rows = [status_context(ds, can_refresh=ds.pk in administrable) for ds in datasources]
    return render(
        request,
        "datasources/list.html",
        {"rows": rows, "can_add": _may_add(request, membership), "kinds": DataSourceKind.choices},
    )


# --- adding one --------------------------------------------------------------------------------


def _kind(request: HttpRequest) -> str:
    kind = request.POST.get("kind") or request.GET.get("kind") or DataSourceKind.POSTGRESQL
    return kind if kind in FORMS else DataSourceKind.POSTGRESQL


def _test(form: DataSourceForm) -> Outcome:
    """Tests the form's connection without saving anything."""
    errors = form.connection_errors()
    if errors:
        return Outcome(False, "Fill in the connection settings marked below first.", _errors_text(form, errors))
    settings, secrets = form.connection()
    try:
        info = services.datasource_test_settings(kind=form.kind, settings=settings, secrets=secrets)
    except ConnectorError as exc:
        return plain_error(exc.code, exc.message)
    except ValidationError as exc:
        return Outcome(False, "Some settings are not valid.", " ".join(exc.messages))
    if info.visibility is not None and info.visibility.code:
        return Outcome(
            True,
            "Prompt Studio can connect, but this login sees no table to read.",
            f"{info.visibility.message} ({info.server_version}, answered in {info.latency_ms:.0f} ms.)",
            warning=True,
        )
    return Outcome(
        True,
        "Prompt Studio can read this data source.",
        f"{info.server_version}, answered in {info.latency_ms:.0f} ms.",
    )


def _errors_text(form: DataSourceForm, errors: dict[str, list[str]]) -> str:
    parts = []
    for field, messages_ in errors.items():
        label = (form.fields[field].label or field.capitalize()) if field in form.fields else ""
        parts.append(f"{label}: {' '.join(messages_)}" if label else " ".join(messages_))
    return " ".join(parts)


def _add_page(request: HttpRequest, form: DataSourceForm, outcome: Outcome | None) -> HttpResponse:
    return render(
        request,
        "datasources/add.html",
        {"form": form, "kind": form.kind, "kinds": DataSourceKind.choices, "outcome": outcome},
    )


@workspace_page
def datasource_add(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The form for one kind of source. Saving tests the connection first: a source that cannot
    be reached is not saved. A saved source's schema is read at once (the refresh task)."""
    workspace = access_workspace(user=request.user, workspace_id=membership.workspace_id, perm="manage_datasources")
    form_class = FORMS[_kind(request)]
    if request.method != "POST":
        return _add_page(request, form_class(), None)
    form = form_class(request.POST)
    outcome = _test(form)
    if not outcome.ok or not form.is_valid():
        return _add_page(request, form, outcome)
    settings, secrets = form.connection()
    try:
        datasource = services.datasource_create(
            workspace=workspace,
            name=form.cleaned_data["name"],
            kind=form.kind,
            settings=settings,
            secrets=secrets,
            description=form.cleaned_data["description"],
            created_by=request.user,  # type: ignore[arg-type]
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return _add_page(request, form, None)
    except ConnectorError as exc:
        return _add_page(request, form, plain_error(exc.code, exc.message))
    services.datasource_refresh_start(datasource=datasource)
    messages.success(request, f"{datasource.name} is saved. Its schema is being read now.")
    return redirect("datasource-detail", datasource_id=datasource.pk)


@workspace_page
@require_POST
def datasource_add_test(request: HttpRequest, membership: Membership) -> HttpResponse:
    """ "Test connection": connects with the form's settings and says how it went; saves nothing."""
    access_workspace(user=request.user, workspace_id=membership.workspace_id, perm="manage_datasources")
    form = FORMS[_kind(request)](request.POST)
    outcome = _test(form)
    if is_fragment_request(request):
        return render(request, "datasources/_test_result.html", {"outcome": outcome})
    return _add_page(request, form, outcome)


# --- status and refresh ------------------------------------------------------------------------


def _status_fragment(request: HttpRequest, datasource: DataSource, view: str, perms: set[str]) -> HttpResponse:
    template = "datasources/_row.html" if view == "row" else "datasources/_panel.html"
    context = status_context(datasource, can_refresh=ADMINISTER in perms)
    return render(request, template, context)


@workspace_page
@require_GET
def datasource_status(request: HttpRequest, membership: Membership, datasource_id: Any) -> HttpResponse:
    """The status of a source (a list row or the catalog page's panel), polled every second while
    its schema is read. When a polled read ends, the catalog page reloads to show the new catalog."""
    datasource, perms = datasource_in_workspace(request, membership, datasource_id)
    view = "row" if request.GET.get("view") == "row" else "panel"
    response = _status_fragment(request, datasource, view, perms)
    finished = datasource.status != DataSourceStatus.INTROSPECTING
    if finished and view == "panel" and request.GET.get("polling") and is_fragment_request(request):
        response["HX-Refresh"] = "true"
    return response


@workspace_page
@require_POST
def datasource_refresh(request: HttpRequest, membership: Membership, datasource_id: Any) -> HttpResponse:
    """Starts reading the schema again (the refresh task); the page then follows its progress."""
    datasource, perms = datasource_in_workspace(request, membership, datasource_id, perm=ADMINISTER)
    view = "row" if request.POST.get("view") == "row" else "panel"
    try:
        datasource = services.datasource_refresh_start(datasource=datasource)
        notice = f"Reading the schema of {datasource.name}."
    except services.RefreshInProgress:
        datasource.refresh_from_db()
        notice = f"The schema of {datasource.name} is already being read."
    if is_fragment_request(request):
        return _status_fragment(request, datasource, view, perms)
    messages.info(request, f"{notice} Reload the page to follow its progress.")
    return redirect_next(request, reverse("datasource-detail", kwargs={"datasource_id": datasource.pk}))


# --- inferred join keys ------------------------------------------------------------------------


@workspace_page
@require_POST
def inferred_key_decide(request: HttpRequest, membership: Membership, datasource_id: Any) -> HttpResponse:
    """Owners and admins of the source confirm or reject an inferred key (or undo that) from the
    catalog page; the same service as the API."""
    datasource, _perms = datasource_in_workspace(request, membership, datasource_id, perm=ADMINISTER)
    key = selectors.access_inferred_key(datasource=datasource, key_id=request.POST.get("key", ""))
    try:
        user: Any = request.user  # workspace_page: signed in
        services.inferred_key_review(key=key, state=request.POST.get("state", ""), user=user)
    except ValidationError:
        messages.error(request, "Choose confirm or reject for the inferred key.")
    else:
        messages.success(request, f"{key.column} -> {key.target}: {InferredKeyState(key.state).label.lower()}.")
    return redirect(reverse("datasource-detail", kwargs={"datasource_id": datasource.pk}) + "#inferred-keys")
