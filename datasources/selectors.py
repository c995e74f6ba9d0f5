"""Reads for data sources, and the chokepoint every caller uses to reach one."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch, QuerySet
from django.http import Http404

from datasources.models import (
    CatalogColumn,
    CatalogTable,
    DataSource,
    InferredKey,
    InferredKeyState,
    QueryExport,
    fk_reference,
)
from workspaces.permissions import objects_with_perm, visible_object
from workspaces.selectors import workspaces_for_user


class DataSourceNotFound(Http404):
    pass


def datasources_for_user(*, user: User | AnonymousUser, workspace_id: Any = None) -> QuerySet[DataSource]:
    """Data sources of the user's workspaces that they may at least view."""
    if not user.is_authenticated:
        return DataSource.objects.none()
    # Role defaults and per-object grants alike live in guardian.
    query = objects_with_perm(user, "datasources.view_datasource", DataSource)
    query = query.filter(workspace__in=workspaces_for_user(user=user)).select_related("workspace")
    if workspace_id is not None:
        query = query.filter(workspace_id=workspace_id)
    return query


def access_datasource(*, user: User | AnonymousUser, datasource_id: Any, perm: str | None = None) -> DataSource:
    """The one way to reach a data source for a user: another workspace's source is a 404,
    a source of my workspace without ``perm`` (query/write/administer/view_datasource) a 403."""
    datasource, perms = datasource_with_perms(user=user, datasource_id=datasource_id)
    if perm is not None and perm not in perms:
        raise PermissionDenied("Your role does not allow this on this data source.")
    return datasource


def datasource_with_perms(*, user: User | AnonymousUser, datasource_id: Any) -> tuple[DataSource, set[str]]:
    """``access_datasource`` without a required permission: the source (404 as there) and the
    codenames of the user's permissions on it, for a page that shows what they may do."""
    return visible_object(
        DataSource,
        datasource_id,
        user,
        view_perm="view_datasource",
        not_found=DataSourceNotFound("No such data source."),
    )


def datasource_ids_with_perm(*, user: User | AnonymousUser, datasources: Iterable[DataSource], perm: str) -> set[Any]:
    """Which of ``datasources`` the user holds ``perm`` (query/write/administer_datasource) on, in one query."""
    ids = [datasource.pk for datasource in datasources]
    if not ids or not user.is_authenticated:
        return set()
    allowed = objects_with_perm(user, f"datasources.{perm}", DataSource).filter(pk__in=ids)
    return set(allowed.values_list("pk", flat=True))


def catalog_tables(*, datasource: DataSource, schema_name: str | None = None) -> QuerySet[CatalogTable]:
    query = CatalogTable.objects.filter(datasource=datasource, is_present=True).order_by("schema_name", "name")
    if schema_name:
        query = query.filter(schema_name=schema_name)
    return query


def catalog_browse(
    *, datasource: DataSource, schema_name: str = "", name_contains: str = "", exclude_ids: Iterable[int] = ()
) -> QuerySet[CatalogTable]:
    """Present tables for the catalog browser, each with its present columns in order
    (``present_columns``, prefetched in one query per page of tables)."""
    query = catalog_tables(datasource=datasource, schema_name=schema_name or None).exclude(pk__in=list(exclude_ids))
    if name_contains:
        query = query.filter(name__icontains=name_contains)
    return query.prefetch_related(
        Prefetch(
            "columns",
            queryset=CatalogColumn.objects.filter(is_present=True).order_by("ordinal"),
            to_attr="present_columns",
        )
    )


def catalog_schema_counts(*, datasource: DataSource, exclude_ids: Iterable[int] = ()) -> list[tuple[str, int]]:
    """Each schema of the catalog with its number of present tables, ordered by name."""
    rows = (
        CatalogTable.objects.filter(datasource=datasource, is_present=True)
        .exclude(pk__in=list(exclude_ids))
        .values_list("schema_name")
        .annotate(tables=Count("id"))
        .order_by("schema_name")
    )
    return [(schema, tables) for schema, tables in rows]


def access_export(*, user: User | AnonymousUser, export_id: Any) -> QueryExport:
    """An export is visible to its author and to those who administer its data source; to
    everyone else (another workspace included) it does not exist."""
    try:
        pk = uuid.UUID(str(export_id))
    except ValueError:
        raise Http404("No such export.") from None
    export = QueryExport.objects.filter(pk=pk).select_related("datasource").first()
    if export is None:
        raise Http404("No such export.")
    datasource = datasources_for_user(user=user).filter(pk=export.datasource_id).first()
    if datasource is None:
        raise Http404("No such export.")
    if export.created_by_id != user.pk and not user.has_perm("datasources.administer_datasource", datasource):
        raise Http404("No such export.")
    return export


def catalog_schema_names(*, datasource_ids: Iterable[Any]) -> dict[uuid.UUID, list[str]]:
    """The schemas of each data source's catalog (present tables only), sorted; the caller has
    reached the sources through their chokepoint. Sources without named schemas are left out."""
    rows = (
        CatalogTable.objects.filter(datasource_id__in=list(datasource_ids), is_present=True)
        .exclude(schema_name="")
        .order_by("datasource_id", "schema_name")
        .values_list("datasource_id", "schema_name")
        .distinct()
    )
    names: dict[uuid.UUID, list[str]] = {}
    for datasource_id, schema_name in rows:
        names.setdefault(datasource_id, []).append(schema_name)
    return names


# --- inferred join keys ------------------------------------------------------------------------

_STATE_ORDER: dict[str, int] = {InferredKeyState.CONFIRMED: 0, InferredKeyState.DETECTED: 1}


def inferred_references(*, column_ids: Iterable[int]) -> dict[int, str]:
    """For the given columns that declare no foreign key, the ``schema.table.column`` their inferred
    key references (confirmed before detected, then the best score; rejected ones never), in one
    query. Declared keys are the column's own ``references``: a caller takes this only without one."""
    rows = (
        InferredKey.objects.filter(
            column_id__in=list(column_ids),
            column__fk_table_name="",
            target__is_present=True,
            target__table__is_present=True,
        )
        .exclude(state=InferredKeyState.REJECTED)
        .values_list("column_id", "state", "score", "target__table__schema_name", "target__table__name", "target__name")
    )
    best: dict[int, tuple[tuple[int, float], str]] = {}
    for column_id, state, score, schema, table, column in rows:
        rank = (_STATE_ORDER[state], -score)
        if column_id not in best or rank < best[column_id][0]:
            best[column_id] = (rank, fk_reference(schema, table, column))
    return {column_id: reference for column_id, (_rank, reference) in best.items()}


def inferred_key_edges(*, table_ids: Iterable[int]) -> list[tuple[int, int]]:
    """(table, referenced table) of the inferred keys, not rejected, from or to the given tables."""
    ids = list(table_ids)
    keys = InferredKey.objects.exclude(state=InferredKeyState.REJECTED).filter(
        column__is_present=True, target__is_present=True, column__fk_table_name=""
    )
    return list(
        keys.filter(column__table_id__in=ids)
        .values_list("column__table_id", "target__table_id")
        .union(keys.filter(target__table_id__in=ids).values_list("column__table_id", "target__table_id"))
    )


def inferred_keys(
    *, datasource: DataSource, state: str | None = None, exclude_table_ids: Iterable[int] = ()
) -> QuerySet[InferredKey]:
    """The inferred keys of a source between present columns, by table and column; none from or to
    the tables of ``exclude_table_ids`` (those hidden from the member)."""
    query = InferredKey.objects.filter(
        datasource=datasource,
        column__is_present=True,
        column__table__is_present=True,
        target__is_present=True,
        target__table__is_present=True,
    )
    if state:
        query = query.filter(state=state)
    excluded = list(exclude_table_ids)
    if excluded:
        query = query.exclude(column__table_id__in=excluded).exclude(target__table_id__in=excluded)
    return query.select_related("column__table", "target__table", "reviewed_by").order_by(
        "column__table__schema_name", "column__table__name", "column__ordinal", "-score"
    )


def access_inferred_key(*, datasource: DataSource, key_id: Any) -> InferredKey:
    """An inferred key of this source (reached through its chokepoint); any other id is a 404."""
    try:
        pk = int(str(key_id))
    except ValueError:
        raise Http404("No such inferred key.") from None
    key = inferred_keys(datasource=datasource).filter(pk=pk).first()
    if key is None:
        raise Http404("No such inferred key.")
    return key
