"""The catalog as an actor may see it: what catalog search and table descriptions give the model.

Names of hidden tables and columns never leave this module; masked columns are marked, so the
model knows it will see masked values there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from datasources.catalog import TableMatch, catalog_search
from datasources.models import CatalogTable, DataSource
from datasources.selectors import datasources_for_user, inferred_references
from governance import selectors as gov_selectors
from governance.models import MaskStrategy, TagState
from governance.policies import CatalogView, catalog_view, dialect_of
from workspaces.models import Membership


class _Named(Protocol):
    @property
    def name(self) -> str: ...


C = TypeVar("C", bound=_Named)


def catalog_views(
    *, membership: Membership, datasources: Sequence[DataSource], only: dict[Any, set[str]] | None = None
) -> dict[Any, CatalogView]:
    """One view per source; ``only``: per source id, the lower-case names of the tables to read rules
    for (the hidden tables are always known)."""
    return {
        ds.pk: catalog_view(membership=membership, datasource=ds, only=None if only is None else only.get(ds.pk, set()))
        for ds in datasources
    }


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


def visible_reference(view: CatalogView, reference: str) -> str:
    """A key's ``schema.table.column`` as the view shows it: "" when the table it points at is hidden
    (the name of a hidden table never leaves this module, through a key either)."""
    parts = reference.split(".")
    if len(parts) < 2:
        return reference
    return "" if view.table_hidden(".".join(parts[:-2]), parts[-2]) else reference


def apply_view(match: TableMatch, view: CatalogView) -> TableMatch:
    shown = []
    for column, state in visible_columns(view, match.schema, match.name, match.columns):
        references = visible_reference(view, column.references)
        inferred = column.inferred and bool(references)
        shown.append(dataclasses.replace(column, masked=state, references=references, inferred=inferred))
    return dataclasses.replace(match, columns=tuple(shown))


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
    hidden = catalog_views(membership=membership, datasources=sources, only={})
    matches = catalog_search(
        workspace_id=membership.workspace_id,
        prompt=prompt,
        datasource_ids=[ds.pk for ds in sources],
        schema_names=schema_names,
        limit=limit,
        exclude_table_ids=hidden_table_ids(hidden),
    )
    names: dict[Any, set[str]] = {}
    for match in matches:
        names.setdefault(match.datasource_id, set()).add(match.name.lower())
    matched = [ds for ds in sources if ds.pk in names]
    views = catalog_views(membership=membership, datasources=matched, only=names)
    return [apply_view(match, views[match.datasource_id]) for match in matches]


# --- a page of the catalog, for the data sources page and the tables API -------------------------


@dataclass(frozen=True)
class TagChip:
    """One tag on a column, as the page shows it (and reviewers act on it)."""

    id: int
    tag: str
    state: str
    source: str
    confidence: float | None
    evidence: str
    reviewed_by: str

    @property
    def state_label(self) -> str:
        return str(TagState(self.state).label)


@dataclass(frozen=True)
class ColumnRow:
    id: int
    name: str
    ordinal: int
    data_type: str
    nullable: bool
    is_primary_key: bool
    references: str  # declared, or else the inferred key's (see ``inferred``)
    comment: str
    masked: str  # the mask strategy in force for this member, "" when shown as is
    mask_policy: str = ""  # the policy that masks it, as the audit log names it
    mask_reason: str = ""
    tags: tuple[TagChip, ...] = ()
    inferred: bool = False  # ``references`` is an inferred key (detected or confirmed), not a declared one
    description: str = ""  # curated by the workspace's owners, beside the source's comment
    synonyms: tuple[str, ...] = ()

    @property
    def mask_label(self) -> str:
        return MaskStrategy(self.masked).label if self.masked in MaskStrategy.values else self.masked


@dataclass(frozen=True)
class TableRow:
    table: CatalogTable
    columns: tuple[ColumnRow, ...]
    filters: tuple[tuple[str, str], ...] = ()  # (policy, condition as SQL) in force for this member
    notices: tuple[str, ...] = ()

    @property
    def masked_count(self) -> int:
        return sum(1 for column in self.columns if column.masked)


def _chips(tags: Any, *, reviewer: bool) -> dict[int, list[TagChip]]:
    chips: dict[int, list[TagChip]] = {}
    for tag in tags:
        if tag.state == TagState.REJECTED and not reviewer:
            continue
        chips.setdefault(tag.column_id, []).append(
            TagChip(
                tag.pk,
                tag.tag,
                tag.state,
                tag.source,
                tag.confidence,
                tag.evidence,
                tag.reviewed_by.username if tag.reviewed_by else "",
            )
        )
    return chips


def catalog_rows(*, membership: Membership, datasource: DataSource, tables: Any, reviewer: bool) -> list[TableRow]:
    """The rows of a page of catalog tables as the member sees them: columns with their tags and the
    rule in force (mask, which policy, why), and the table's row filters for them."""
    tables = list(tables)
    view = catalog_view(membership=membership, datasource=datasource, only={t.name.lower() for t in tables})
    chips = _chips(gov_selectors.tags_of_tables(table_ids=[t.pk for t in tables]), reviewer=reviewer)
    inferred = inferred_references(column_ids=[c.pk for t in tables for c in t.present_columns if not c.references])
    dialect = dialect_of(datasource)
    rows = []
    for table in tables:
        rules = view.table(table.schema_name, table.name)
        columns = []
        for column, state in visible_columns(view, table.schema_name, table.name, table.present_columns):
            rule = view.column_rule(table.schema_name, table.name, column.name)
            references = visible_reference(view, column.references or inferred.get(column.pk, ""))
            columns.append(
                ColumnRow(
                    id=column.pk,
                    name=column.name,
                    ordinal=column.ordinal,
                    data_type=column.data_type,
                    nullable=column.nullable,
                    is_primary_key=column.is_primary_key,
                    references=references,
                    comment=column.comment,
                    masked=state,
                    mask_policy=rule.policy if rule else "",
                    mask_reason=rule.reason if rule else "",
                    tags=tuple(chips.get(column.pk, ())),
                    inferred=bool(references) and not column.references,
                    description=column.description,
                    synonyms=tuple(column.synonyms),
                )
            )
        filters = tuple((f.policy, f.condition.sql(dialect=dialect)) for f in rules.filters) if rules else ()
        rows.append(TableRow(table, tuple(columns), filters, rules.notices if rules else ()))
    return rows


def all_hidden(datasource: DataSource, hidden_ids: list[int], view: CatalogView) -> str:
    """When every table of a source is hidden from the member by policy, the sentence that says so
    (naming the policies); "" otherwise."""
    if not hidden_ids or len(hidden_ids) < datasource.catalog_table_count:
        return ""
    names = sorted(set(view.hidden_tables.values()))
    count = len(hidden_ids)
    return (
        f"All {count} table{'s' if count != 1 else ''} of {datasource.name} are hidden from you by policy "
        f"({', '.join(names)}). An owner or admin can change the table visibility policies."
    )
