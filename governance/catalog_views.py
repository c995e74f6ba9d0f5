"""The catalog browser page of a data source, as the governance gateway lets the current member see
it: tables and columns hidden from them are left out, masked columns are marked.

Mounted under ``/datasources/`` beside the data source pages (``catalog_page_urls``); the source is
reached through the data source pages' own chokepoint.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from config.pages import workspace_page
from datasources import selectors
from datasources.models import DataSource
from datasources.views import ADMINISTER, datasource_in_workspace, status_context
from governance import classification
from governance import selectors as gov_selectors
from governance.catalog import all_hidden, catalog_rows, hidden_table_ids
from governance.policies import catalog_view
from workspaces.models import Membership
from workspaces.selectors import access_workspace

TABLES_PER_PAGE = 20


@workspace_page
@require_GET
def datasource_detail(request: HttpRequest, membership: Membership, datasource_id: Any) -> HttpResponse:
    """The catalog as the current member sees it: tables and columns hidden from them by policy are
    left out; each column shows its tags and, when the gateway masks it for them, the policy that
    does and why; each table its row filters for them. Owners and admins review tags here, and those
    who administer the source its inferred join keys."""
    datasource, perms = datasource_in_workspace(request, membership, datasource_id)
    policies_view = catalog_view(membership=membership, datasource=datasource, only=())
    hidden = hidden_table_ids({datasource.pk: policies_view})
    schema = request.GET.get("schema", "")[:255]
    search = request.GET.get("q", "").strip()[:100]
    schemas = selectors.catalog_schema_counts(datasource=datasource, exclude_ids=hidden)
    tables = selectors.catalog_browse(
        datasource=datasource, schema_name=schema, name_contains=search, exclude_ids=hidden
    )
    page = Paginator(tables, TABLES_PER_PAGE).get_page(request.GET.get("page"))
    reviewer = request.user.has_perm("workspaces.manage_policies", membership.workspace)
    rows = catalog_rows(membership=membership, datasource=datasource, tables=page.object_list, reviewer=reviewer)
    context = status_context(datasource, can_refresh=ADMINISTER in perms)
    context.update(
        {
            "datasource": datasource,
            "settings_shown": _settings_shown(datasource),
            "has_secrets": bool(datasource.secrets),
            "schemas": schemas,
            "schema": schema,
            "search": search,
            "page": page,
            "tables": rows,
            "filtered": bool(schema or search),
            "reviewer": reviewer,
            # A source that shows this member nothing says why: every table is hidden by policy.
            "all_hidden": all_hidden(datasource, hidden, policies_view),
            "known_tags": gov_selectors.known_tag_names(workspace=membership.workspace) if reviewer else [],
            "safe_default": membership.workspace.mask_unreviewed_personal_data,
            # Owners and admins of the source review its inferred join keys here, rejected ones included.
            "inferred_keys": selectors.inferred_keys(datasource=datasource, exclude_table_ids=hidden)
            if ADMINISTER in perms
            else None,
            "can_curate": ADMINISTER in perms,
        }
    )
    return render(request, "datasources/detail.html", context)


def back_to_datasource_page(request: HttpRequest, datasource: DataSource, anchor: str) -> HttpResponse:
    """Back to the data source page a form was posted from (its ``next`` query kept), at ``anchor``."""
    target = request.POST.get("next", "")
    url = reverse("datasource-detail", args=[datasource.pk])
    if target.startswith("?") and "\n" not in target:
        url += target
    return redirect(f"{url}#{anchor}")


@workspace_page
@require_POST
def column_tag_decide(request: HttpRequest, membership: Membership, datasource_id: Any) -> HttpResponse:
    """Owners and admins confirm, reject, add or remove a column's tag from the catalog page; the
    same services (and audit rows) as the API and the admin."""
    datasource, _perms = datasource_in_workspace(request, membership, datasource_id)
    access_workspace(user=request.user, workspace_id=membership.workspace_id, perm="manage_policies")
    user: Any = request.user
    action = request.POST.get("action", "")
    try:
        if action == "add":
            column = gov_selectors.catalog_column_by_id(datasource=datasource, column_id=request.POST.get("column"))
            if column is None or not _column_visible(membership, datasource, column):
                raise Http404("No such column.")
            classification.column_tag_add(column=column, tag=request.POST.get("tag", ""), user=user)
            anchor = f"table-{column.table_id}"
        else:
            column_tag = gov_selectors.access_column_tag(user=user, column_tag_id=request.POST.get("column_tag"))
            if column_tag.datasource_id != datasource.pk:
                raise Http404("No such column tag.")
            anchor = f"table-{column_tag.column.table_id}"
            if action in ("confirmed", "rejected"):
                classification.column_tag_review(column_tag=column_tag, state=action, user=user)
            elif action == "remove":
                classification.column_tag_remove(column_tag=column_tag, user=user)
            else:
                raise ValidationError("Unknown action.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return back_to_datasource_page(request, datasource, "catalog-title")
    return back_to_datasource_page(request, datasource, anchor)


def _column_visible(membership: Membership, datasource: DataSource, column: Any) -> bool:
    table = column.table
    view = catalog_view(membership=membership, datasource=datasource, only={table.name.lower()})
    return view.column_rule(table.schema_name, table.name, column.name) is not None


def _settings_shown(datasource: DataSource) -> list[tuple[str, str]]:
    """The connection settings, which never hold a password (the services refuse one there)."""
    labels = {"host": "Host", "port": "Port", "database": "Database", "user": "User name", "sslmode": "TLS",
              "schemas": "Schemas", "path": "Path", "urls": "URLs", "format": "Format"}  # fmt: skip
    shown = []
    for key, label in labels.items():
        value = datasource.settings.get(key)
        if value not in (None, "", []):
            shown.append((label, ", ".join(map(str, value)) if isinstance(value, list) else str(value)))
    return shown
