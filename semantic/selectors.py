"""Reads of the semantic layer, and the chokepoints every view uses to reach one of its objects.

A verified query is seen by whoever may query its data source (a proposal too, so a verifier can
find it); a glossary term by every member of its workspace who may view its data source, if it
has one. Anything else (another workspace's, a garbage id) is a 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlglot
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q, QuerySet
from django.http import Http404
from rapidfuzz import fuzz, process, utils
from sqlglot import exp
from sqlglot.errors import SqlglotError

from datasources.models import CatalogColumn, CatalogTable, DataSource
from datasources.selectors import datasources_for_user
from governance.catalog import catalog_views
from governance.policies import CatalogView, catalog_view, default_schema, dialect_of
from semantic.adapt import glossary_matches
from semantic.models import GlossaryTerm, VerifiedQuery, VerifiedQueryStatus
from workspaces.models import Membership
from workspaces.permissions import objects_with_perm
from workspaces.selectors import membership_in

# How many verified queries a model is shown, and how alike (rapidfuzz 0-100) one must be to count.
MAX_EXAMPLES = 3
MIN_EXAMPLE_SCORE = 60.0
# Verified queries compared with a prompt: the newest of a workspace, when it has more.
_EXAMPLE_POOL = 1000


class VerifiedQueryNotFound(Http404):
    pass


class GlossaryTermNotFound(Http404):
    pass


class CatalogObjectNotFound(Http404):
    pass


def _row_id(value: Any, not_found: Http404) -> int:
    """A bigint primary key from a URL or form, else ``not_found`` (never a database error)."""
    try:
        pk = int(str(value))
    except ValueError:
        raise not_found from None
    if not 0 < pk < 2**63:
        raise not_found
    return pk


def _queryable(user: User | AnonymousUser, workspace_id: Any = None) -> QuerySet[DataSource]:
    sources = datasources_for_user(user=user, workspace_id=workspace_id)
    return sources.filter(pk__in=objects_with_perm(user, "datasources.query_datasource", DataSource).values("pk"))


def verified_queries_for(
    *,
    user: User | AnonymousUser,
    workspace_id: Any = None,
    status: str | None = None,
    datasource_ids: Sequence[Any] | None = None,
) -> QuerySet[VerifiedQuery]:
    if not user.is_authenticated:
        return VerifiedQuery.objects.none()
    query = VerifiedQuery.objects.filter(datasource__in=_queryable(user, workspace_id)).select_related(
        "datasource", "created_by", "verified_by"
    )
    if status:
        query = query.filter(status=status)
    if datasource_ids is not None:
        query = query.filter(datasource_id__in=list(datasource_ids))
    return query


def access_verified_query(*, user: User | AnonymousUser, verified_query_id: Any) -> VerifiedQuery:
    try:
        pk = uuid.UUID(str(verified_query_id))
    except ValueError:
        raise VerifiedQueryNotFound("No such verified query.") from None
    found = verified_queries_for(user=user).filter(pk=pk).first()
    if found is None:
        raise VerifiedQueryNotFound("No such verified query.")
    return found


def verified_from_execution(*, user: User | AnonymousUser, execution_id: Any) -> VerifiedQuery | None:
    """The verified (or proposed) query a thumbs-up on this execution made, if the user may see it."""
    return verified_queries_for(user=user).filter(source_execution_id=execution_id).order_by("-created_at").first()


def glossary_terms_for(*, user: User | AnonymousUser, workspace_id: Any = None) -> QuerySet[GlossaryTerm]:
    if not user.is_authenticated:
        return GlossaryTerm.objects.none()
    visible = datasources_for_user(user=user, workspace_id=workspace_id)
    query = GlossaryTerm.objects.filter(workspace__memberships__user=user).filter(
        Q(datasource__isnull=True) | Q(datasource__in=visible)
    )
    if workspace_id is not None:
        query = query.filter(workspace_id=workspace_id)
    return query.select_related("datasource", "workspace")


def access_glossary_term(*, user: User | AnonymousUser, term_id: Any) -> GlossaryTerm:
    pk = _row_id(term_id, GlossaryTermNotFound("No such glossary term."))
    found = glossary_terms_for(user=user).filter(pk=pk).first()
    if found is None:
        raise GlossaryTermNotFound("No such glossary term.")
    return found


def catalog_object(
    *, user: User | AnonymousUser, datasource: DataSource, table_id: Any, column: str | None = None
) -> tuple[CatalogTable, CatalogColumn | None]:
    """A present table of ``datasource`` (already reached through its chokepoint) and, when named, one
    of its present columns; one hidden from the member, like anything else, is a 404."""
    pk = _row_id(table_id, CatalogObjectNotFound("No such table."))
    table = CatalogTable.objects.filter(datasource=datasource, pk=pk, is_present=True).first()
    if table is None:
        raise CatalogObjectNotFound("No such table.")
    table.datasource = datasource
    view = catalog_view(
        membership=membership_in(user=user, workspace_id=datasource.workspace_id),
        datasource=datasource,
        only={table.name.lower()},
    )
    if view.table_hidden(table.schema_name, table.name):
        raise CatalogObjectNotFound("No such table.")
    if column is None:
        return table, None
    found = CatalogColumn.objects.filter(table=table, name=column, is_present=True).first()
    if found is None or view.column_state(table.schema_name, table.name, column) is None:
        raise CatalogObjectNotFound("No such column.")
    return table, found


# --- what a model is given ---------------------------------------------------------------------


def verified_query_to_context(verified_query: VerifiedQuery, score: float) -> dict[str, Any]:
    """A verified query as a model sees it (the shape ``semantic.adapt`` reads)."""
    when = verified_query.verified_at or verified_query.created_at
    return {
        "question": verified_query.question,
        "sql": verified_query.sql,
        "datasource_id": str(verified_query.datasource_id),
        "schema_names": list(verified_query.schema_names),
        "verified_on": when.date().isoformat(),
        "score": round(score, 1),
    }


def glossary_term_to_context(term: GlossaryTerm) -> dict[str, Any]:
    return {
        "term": term.term,
        "synonyms": list(term.synonyms),
        "kind": term.kind,
        "sql": term.sql,
        "datasource_id": str(term.datasource_id) if term.datasource_id else None,
        "table": term.table_name,
        "description": term.description,
    }


def _names_hidden_table(verified_query: VerifiedQuery, view: CatalogView) -> bool:
    """The query reads a table hidden from the member (or cannot be read): its text must not reach them."""
    if not view.hidden_tables:
        return False
    try:
        tree = sqlglot.parse_one(verified_query.sql, read=dialect_of(verified_query.datasource))
    except SqlglotError:
        return True
    default = default_schema(verified_query.datasource)
    return any(view.table_hidden(table.db or default, table.name) for table in tree.find_all(exp.Table))


def verified_examples(
    *, membership: Membership, prompt: str, datasource_ids: Sequence[Any], limit: int = MAX_EXAMPLES
) -> list[dict[str, Any]]:
    """The verified queries most like ``prompt`` (rapidfuzz on normalised words) among those of
    ``datasource_ids`` that the member may query and whose tables they may see, best first, in the
    context's shape."""
    # Most prompts meet no verified query: a one-table look first spares the permission checks.
    if not VerifiedQuery.objects.filter(
        status=VerifiedQueryStatus.VERIFIED, datasource_id__in=list(datasource_ids)
    ).exists():
        return []
    pool = list(
        verified_queries_for(
            user=membership.user,
            workspace_id=membership.workspace_id,
            status=VerifiedQueryStatus.VERIFIED,
            datasource_ids=datasource_ids,
        ).order_by("-created_at")[:_EXAMPLE_POOL]
    )
    if not pool:
        return []
    found = process.extract(
        prompt,
        [verified.question for verified in pool],
        scorer=fuzz.token_set_ratio,
        processor=utils.default_process,
        limit=None,
        score_cutoff=MIN_EXAMPLE_SCORE,
    )
    sources = {verified.datasource_id: verified.datasource for verified in pool}
    views = catalog_views(membership=membership, datasources=list(sources.values()), only={})
    shown = [(pool[index], score) for _, score, index in found]
    shown = [
        (verified, score)
        for verified, score in shown
        if not _names_hidden_table(verified, views[verified.datasource_id])
    ]
    return [verified_query_to_context(verified, score) for verified, score in shown[:limit]]


def glossary_for_prompt(*, membership: Membership, prompt: str, datasource_ids: Sequence[Any]) -> list[dict[str, Any]]:
    """The glossary terms ``prompt`` names, of the workspace or of the given sources, in the context's shape."""
    if not GlossaryTerm.objects.filter(workspace_id=membership.workspace_id).exists():
        return []  # no glossary: spare the visibility checks
    terms = glossary_terms_for(user=membership.user, workspace_id=membership.workspace_id).filter(
        Q(datasource__isnull=True) | Q(datasource_id__in=list(datasource_ids))
    )
    return glossary_matches(prompt, [glossary_term_to_context(term) for term in terms])
