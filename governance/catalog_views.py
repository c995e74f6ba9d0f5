"""The catalog browser page of a data source, as the governance gateway lets the current member see
it: tables and columns hidden from them are left out, masked columns are marked.

Mounted under ``/datasources/`` beside the data source pages (``catalog_page_urls``); the source is
reached through the data source pages' own chokepoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from config.pages import workspace_page
from datasources import selectors
from datasources.models import CatalogTable, DataSource
from datasources.views import ADMINISTER, datasource_in_workspace, status_context
from governance.catalog import hidden_table_ids, visible_columns
from governance.models import MaskStrategy
from governance.policies import catalog_view
from workspaces.models import Membership

TABLES_PER_PAGE = 20


@dataclass(frozen=True)
class ColumnRow:
    name: str
    data_type: str
    nullable: bool
    is_primary_key: bool
    references: str
    comment: str
    masked: str  # the mask strategy in force for this member, "" when shown as is

    @property
    def mask_label(self) -> str:
        return MaskStrategy(self.masked).label if self.masked in MaskStrategy.values else self.masked


@dataclass(frozen=True)
class TableRow:
    table: CatalogTable
    columns: tuple[ColumnRow, ...]

    @property
    def masked_count(self) -> int:
        return sum(1 for column in self.columns if column.masked)


@workspace_page
@require_GET
def datasource_detail(request: HttpRequest, membership: Membership, datasource_id: Any) -> HttpResponse:
    """The catalog as the current member sees it: tables and columns hidden from them by policy are
    left out, and columns the gateway masks for them are marked (the gateway's own decision)."""
    datasource, perms = datasource_in_workspace(request, membership, datasource_id)
    view = catalog_view(membership=membership, datasource=datasource)
    hidden = hidden_table_ids({datasource.pk: view})
    schema = request.GET.get("schema", "")[:255]
    search = request.GET.get("q", "").strip()[:100]
    schemas = selectors.catalog_schema_counts(datasource=datasource, exclude_ids=hidden)
    tables = selectors.catalog_browse(
        datasource=datasource, schema_name=schema, name_contains=search, exclude_ids=hidden
    )
    page = Paginator(tables, TABLES_PER_PAGE).get_page(request.GET.get("page"))
    rows = []
    for table in page.object_list:
        present = table.present_columns  # type: ignore[attr-defined]
        columns = tuple(
            ColumnRow(
                name=column.name,
                data_type=column.data_type,
                nullable=column.nullable,
                is_primary_key=column.is_primary_key,
                references=column.references,
                comment=column.comment,
                masked=state,
            )
            for column, state in visible_columns(view, table.schema_name, table.name, present)
        )
        rows.append(TableRow(table, columns))
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
        }
    )
    return render(request, "datasources/detail.html", context)


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
