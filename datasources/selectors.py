"""Reads for data sources, and the chokepoint every caller uses to reach one."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from guardian.shortcuts import get_objects_for_user

from datasources.models import CatalogTable, DataSource, QueryExport
from governance.permissions import object_with_perms
from governance.selectors import workspaces_for_user


class DataSourceNotFound(Http404):
    pass


def datasources_for_user(*, user: User | AnonymousUser, workspace_id: Any = None) -> QuerySet[DataSource]:
    """Data sources of the user's workspaces that they may at least view."""
    if not user.is_authenticated:
        return DataSource.objects.none()
    query = DataSource.objects.filter(workspace__in=workspaces_for_user(user=user)).select_related("workspace")
    if workspace_id is not None:
        query = query.filter(workspace_id=workspace_id)
    # Role defaults and per-object grants alike live in guardian.
    return get_objects_for_user(user, "datasources.view_datasource", klass=query, accept_global_perms=False)


def access_datasource(*, user: User | AnonymousUser, datasource_id: Any, perm: str | None = None) -> DataSource:
    """The one way to reach a data source for a user: another workspace's source is a 404,
    a source of my workspace without ``perm`` (query/write/administer/view_datasource) a 403."""
    try:
        pk = uuid.UUID(str(datasource_id))
    except ValueError:
        raise DataSourceNotFound("No such data source.") from None
    if not user.is_authenticated:
        raise DataSourceNotFound("No such data source.")
    datasource, perms = object_with_perms(DataSource, pk, user)
    if datasource is None or "view_datasource" not in perms:
        raise DataSourceNotFound("No such data source.")
    if perm is not None and perm not in perms:
        raise PermissionDenied("Your role does not allow this on this data source.")
    return datasource


def catalog_tables(*, datasource: DataSource, schema_name: str | None = None) -> QuerySet[CatalogTable]:
    query = (
        CatalogTable.objects.filter(datasource=datasource, is_present=True)
        .annotate(column_count=Count("columns", filter=Q(columns__is_present=True)))
        .order_by("schema_name", "name")
    )
    if schema_name:
        query = query.filter(schema_name=schema_name)
    return query


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
