"""Pages of the semantic layer: the glossary and verified queries of a workspace (everyone reads,
owners and admins change), and the curation form of the data source page."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from config.pages import workspace_page
from datasources.selectors import access_datasource, datasource_ids_with_perm, datasources_for_user
from governance.catalog_views import back_to_datasource_page
from semantic import selectors, services
from semantic.models import GlossaryKind, VerifiedQueryStatus
from workspaces.models import Membership


def _synonyms(raw: str) -> list[str]:
    return [part for part in (piece.strip() for piece in raw.split(",")) if part]


@require_GET
@workspace_page
def semantic_page(request: HttpRequest, membership: Membership) -> HttpResponse:
    user = cast(User, request.user)
    sources = list(datasources_for_user(user=user, workspace_id=membership.workspace_id))
    verifiable = datasource_ids_with_perm(user=user, datasources=sources, perm="administer_datasource")
    verified = list(
        selectors.verified_queries_for(user=user, workspace_id=membership.workspace_id).order_by("-created_at")[:200]
    )
    context = {
        "workspace": membership.workspace,
        "terms": selectors.glossary_terms_for(user=user, workspace_id=membership.workspace_id).order_by("term"),
        "verified": [(v, v.datasource_id in verifiable) for v in verified],
        "can_define": services.may_define(user=user, workspace=membership.workspace, datasource=None)
        or bool(verifiable),
        "sources": [ds for ds in sources if ds.pk in verifiable],
        "kinds": GlossaryKind.choices,
        "proposed": VerifiedQueryStatus.PROPOSED,
    }
    return render(request, "semantic/semantic.html", context)


@require_POST
@workspace_page
def glossary_change(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Adds or deletes a glossary term (the same services, and checks, as the API)."""
    user = cast(User, request.user)
    try:
        if request.POST.get("action") == "delete":
            term = selectors.access_glossary_term(user=user, term_id=request.POST.get("term_id"))
            services.glossary_term_delete(user=user, term=term)
            messages.success(request, f"Deleted the term {term.term!r}.")
        else:
            datasource_id = request.POST.get("datasource_id") or None
            values = services.GlossaryValues(
                term=request.POST.get("term", ""),
                kind=request.POST.get("kind", ""),
                sql=request.POST.get("sql", ""),
                synonyms=_synonyms(request.POST.get("synonyms", "")),
                datasource=access_datasource(user=user, datasource_id=datasource_id) if datasource_id else None,
                table_name=request.POST.get("table_name", ""),
                description=request.POST.get("description", ""),
            )
            term = services.glossary_term_create(user=user, workspace=membership.workspace, values=values)
            messages.success(request, f"Defined {term.term!r}.")
    except services.SemanticError as exc:
        messages.error(request, f"Not saved: {exc.message}")
    return redirect(f"{reverse('semantic-page')}#glossary-title")


@require_POST
@workspace_page
def verified_query_change(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Verifies or deletes a verified (or proposed) query."""
    user = cast(User, request.user)
    verified = selectors.access_verified_query(user=user, verified_query_id=request.POST.get("verified_query_id"))
    try:
        if request.POST.get("action") == "delete":
            services.verified_query_delete(user=user, verified_query=verified)
            messages.success(request, "Deleted the verified query.")
        else:
            services.verified_query_verify(user=user, verified_query=verified)
            messages.success(request, "Verified: models answer questions like this one with it.")
    except services.SemanticError as exc:
        messages.error(request, f"Not saved: {exc.message}")
    return redirect(f"{reverse('semantic-page')}#verified-title")


@require_POST
@workspace_page
def catalog_curation(request: HttpRequest, membership: Membership, datasource_id: Any) -> HttpResponse:
    """The data source page's form: the curated description and synonyms of a table or a column."""
    user = cast(User, request.user)
    datasource = access_datasource(user=user, datasource_id=datasource_id)
    table, column = selectors.catalog_object(
        user=user, datasource=datasource, table_id=request.POST.get("table"), column=request.POST.get("column") or None
    )
    try:
        services.catalog_description_set(
            user=user,
            table=table,
            column=column,
            description=request.POST.get("description", ""),
            synonyms=_synonyms(request.POST.get("synonyms", "")),
        )
        messages.success(request, f"Saved the description of {column.name if column else table}.")
    except services.SemanticError as exc:
        messages.error(request, f"Not saved: {exc.message}")
    return back_to_datasource_page(request, datasource, f"table-{table.pk}")
