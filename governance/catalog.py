"""The catalog as an actor may see it: what catalog search and table descriptions give the model.

Names of hidden tables and columns never leave this module; masked columns are marked, so the
model knows it will see masked values there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TypeVar

from datasources.catalog import TableMatch, catalog_search
from datasources.models import CatalogTable, DataSource
from datasources.selectors import datasources_for_user
from governance.policies import CatalogView, catalog_view
from workspaces.models import Membership


class _Named(Protocol):
    @property
    def name(self) -> str: ...


C = TypeVar("C", bound=_Named)


def catalog_views(*, membership: Membership, datasources: Sequence[DataSource]) -> dict[Any, CatalogView]:
    return {ds.pk: catalog_view(membership=membership, datasource=ds) for ds in datasources}


def hidden_table_ids(views: dict[Any, CatalogView]) -> list[int]:
    """Catalog ids of the tables hidden by the views (only those are read, whatever the catalog size)."""
    ids: list[int] = []
    for datasource_id, view in views.items():
        if view.hidden_tables:
            candidates = CatalogTable.objects.filter(
                datasource_id=datasource_id, name__in={key.name for key in view.hidden_tables}
            ).values_list("id", "schema_name", "name")
            ids += [table_id for table_id, schema, name in candidates if view.table_hidden(schema, name)]
    return ids


def visible_columns(view: CatalogView, schema: str, table: str, columns: Iterable[C]) -> list[tuple[C, str]]:
    """The columns of a table (anything with a ``name``) that the view shows, each with its mask
    state ("" when shown as is); hidden columns are left out, names and all."""
    shown = []
    for column in columns:
        state = view.column_state(schema, table, column.name)
        if state is not None:
            shown.append((column, state))
    return shown


def apply_view(match: TableMatch, view: CatalogView) -> TableMatch:
    columns = visible_columns(view, match.schema, match.name, match.columns)
    return dataclasses.replace(match, columns=tuple(dataclasses.replace(c, masked=state) for c, state in columns))


def visible_catalog_search(
    *,
    membership: Membership,
    prompt: str,
    datasource_ids: Sequence[Any] | None = None,
    schema_names: Sequence[str] | None = None,
    limit: int | None = None,
    visible_sources: Sequence[DataSource] | None = None,
) -> list[TableMatch]:
    """Catalog search over the sources this member may see, without what is hidden from them.
    ``visible_sources``: the member's visible sources when the caller has them already."""
    sources = list(
        datasources_for_user(user=membership.user, workspace_id=membership.workspace_id)
        if visible_sources is None
        else visible_sources
    )
    if datasource_ids:
        wanted = {str(pk) for pk in datasource_ids}
        sources = [ds for ds in sources if str(ds.pk) in wanted]
    if not sources:
        return []
    views = catalog_views(membership=membership, datasources=sources)
    matches = catalog_search(
        workspace_id=membership.workspace_id,
        prompt=prompt,
        datasource_ids=[ds.pk for ds in sources],
        schema_names=schema_names,
        limit=limit,
        exclude_table_ids=hidden_table_ids(views),
    )
    return [apply_view(match, views[match.datasource_id]) for match in matches]
