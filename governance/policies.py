"""Policies in force for one actor: rendered row filters, masks, hidden tables and columns.

A row filter template such as ``region = {{ user.region }}`` is parsed by sqlglot with a placeholder
column, and the placeholder is replaced by a literal node built from the member's attribute, so an
attribute value can never become SQL. A missing attribute renders as NULL: the filter then matches
no row (deny by default).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from datasources.connectors import CONNECTORS
from datasources.models import CatalogColumn, CatalogTable, DataSource
from governance.firewall import MaskStrategy as FirewallMask
from governance.firewall import VisibleTable
from governance.models import (
    ColumnMaskPolicy,
    MaskStrategy,
    Membership,
    RowFilterPolicy,
    TableVisibilityPolicy,
)

_PLACEHOLDER = re.compile(r"\{\{\s*user\.([a-z][a-z0-9_]*)\s*\}\}")
_SLOT = "__psa_attribute_{}__"


class PolicyError(ValueError):
    """A policy that cannot be rendered (bad template); the message says why in plain words."""


def dialect_of(datasource: DataSource) -> str:
    return CONNECTORS[datasource.kind].dialect


def default_schema(datasource: DataSource) -> str:
    if datasource.kind == "postgresql":
        return "public"
    if datasource.kind == "mysql":
        return str(datasource.settings.get("database", ""))
    return "main"


def _literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def parse_predicate(template: str, dialect: str) -> tuple[exp.Expression, list[str]]:
    """Parses a template once; returns the tree with placeholder slots and the attribute names."""
    names: list[str] = []

    def slot(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return _SLOT.format(len(names) - 1)

    text = _PLACEHOLDER.sub(slot, template)
    if "{{" in text or "}}" in text:
        raise PolicyError("Only {{ user.<attribute> }} placeholders are allowed in a row filter.")
    try:
        statements = sqlglot.parse(text, read=dialect)
    except ParseError as exc:
        detail = exc.errors[0]["description"] if exc.errors else str(exc)
        raise PolicyError(f"The row filter is not valid SQL: {detail}") from None
    if len(statements) != 1 or statements[0] is None:
        raise PolicyError("A row filter is one condition.")
    tree = statements[0]
    if not isinstance(tree, exp.Condition) or isinstance(tree, exp.Query):
        raise PolicyError("A row filter is a condition, such as region = {{ user.region }}.")
    if tree.find(exp.Query, exp.Subquery):
        raise PolicyError("A row filter may not contain subqueries.")
    return cast(exp.Expression, tree), names


def render_predicate(template: str, attributes: Mapping[str, Any], dialect: str) -> exp.Expression:
    tree, names = parse_predicate(template, dialect)

    def substitute(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name.startswith("__psa_attribute_"):
            value = attributes.get(names[int(node.name.split("_")[-3])])
            if isinstance(value, list):
                return exp.Tuple(expressions=[_literal(v) for v in value]) if value else exp.Null()
            return _literal(value)
        return node

    rendered = tree.transform(substitute)

    # ``region = {{ user.region }}`` with a list attribute means membership: col IN (...).
    def list_equality(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.EQ) and isinstance(node.expression, exp.Tuple):
            return exp.In(this=node.this, expressions=node.expression.expressions)
        return node

    return rendered.transform(list_equality)


def _applies(policy: RowFilterPolicy, membership: Membership, group_ids: set[int]) -> bool:
    if membership.role in policy.exempt_roles:
        return False
    audience_users = {u.pk for u in policy.users.all()}
    audience_groups = {g.pk for g in policy.groups.all()}
    if not (policy.roles or audience_users or audience_groups):
        return True
    return membership.role in policy.roles or membership.user_id in audience_users or bool(audience_groups & group_ids)


@dataclass(frozen=True)
class TableKey:
    schema: str
    name: str


def visible_tables(
    *, membership: Membership, datasource: DataSource, only: Iterable[str] | None = None
) -> tuple[VisibleTable, ...]:
    """The catalog of ``datasource`` as this member sees it, with their filters and masks.

    ``only`` (lower-case table names) restricts the work to the tables a statement names, so a
    catalog of 10,000 tables is not materialised for every query.
    """
    dialect = dialect_of(datasource)
    tables = CatalogTable.objects.filter(datasource=datasource, is_present=True)
    if only is not None:
        tables = tables.filter(name__iregex=r"^(" + "|".join(re.escape(n) for n in sorted(set(only))) + r")$")
    table_rows = list(tables.values_list("id", "schema_name", "name"))
    if not table_rows:
        return ()
    columns: dict[int, list[str]] = defaultdict(list)
    for table_id, column in (
        CatalogColumn.objects.filter(table_id__in=[t[0] for t in table_rows], is_present=True)
        .order_by("table_id", "ordinal")
        .values_list("table_id", "name")
    ):
        columns[table_id].append(column)

    role = membership.role
    hidden = {
        TableKey(p.schema_name, p.table_name)
        for p in TableVisibilityPolicy.objects.filter(datasource=datasource, enabled=True)
        if role in p.hidden_for_roles
    }
    masks: dict[TableKey, dict[str, tuple[str, str]]] = defaultdict(dict)
    for mask in ColumnMaskPolicy.objects.filter(datasource=datasource, enabled=True):
        if role not in mask.exempt_roles:
            masks[TableKey(mask.schema_name, mask.table_name)][mask.column_name] = (mask.strategy, mask.name)
    group_ids = set(membership.user.groups.values_list("id", flat=True))
    filters: dict[TableKey, list[tuple[str, exp.Expression]]] = defaultdict(list)
    for policy in RowFilterPolicy.objects.filter(datasource=datasource, enabled=True).prefetch_related(
        "users", "groups"
    ):
        if _applies(policy, membership, group_ids):
            rendered = render_predicate(policy.predicate, membership.attributes, dialect)
            filters[TableKey(policy.schema_name, policy.table_name)].append((policy.name, rendered))

    visible = []
    for table_id, schema, name in table_rows:
        key = TableKey(schema, name)
        if key in hidden:
            continue
        table_masks = masks.get(key, {})
        shown = [c for c in columns[table_id] if table_masks.get(c, ("", ""))[0] != MaskStrategy.HIDE]
        applied = [policy for policy, _ in filters.get(key, [])]
        applied += [policy for column, (_, policy) in table_masks.items()]
        row_filter = None
        for _, predicate in filters.get(key, []):
            row_filter = (
                predicate.copy() if row_filter is None else cast(exp.Expression, exp.and_(row_filter, predicate.copy()))
            )
        visible.append(
            VisibleTable(
                schema=schema,
                name=name,
                columns=tuple(shown),
                row_filter=row_filter,
                masks={
                    column: FirewallMask(strategy)
                    for column, (strategy, _) in table_masks.items()
                    if strategy != MaskStrategy.HIDE and column in shown
                },
                policies=tuple(sorted(set(applied))),
            )
        )
    return tuple(visible)


@dataclass(frozen=True)
class CatalogView:
    """What one member may see of a data source's catalog: hidden tables, hidden and masked columns."""

    hidden_tables: frozenset[TableKey]
    hidden_columns: Mapping[TableKey, frozenset[str]]
    masked_columns: Mapping[TableKey, Mapping[str, str]]

    def table_hidden(self, schema: str, name: str) -> bool:
        return TableKey(schema, name) in self.hidden_tables

    def column_state(self, schema: str, table: str, column: str) -> str | None:
        """None when hidden, "" when shown as is, else the mask strategy."""
        key = TableKey(schema, table)
        if column in self.hidden_columns.get(key, ()):
            return None
        return self.masked_columns.get(key, {}).get(column, "")


def catalog_view(*, membership: Membership, datasource: DataSource) -> CatalogView:
    role = membership.role
    hidden = frozenset(
        TableKey(p.schema_name, p.table_name)
        for p in TableVisibilityPolicy.objects.filter(datasource=datasource, enabled=True)
        if role in p.hidden_for_roles
    )
    hidden_columns: dict[TableKey, set[str]] = defaultdict(set)
    masked: dict[TableKey, dict[str, str]] = defaultdict(dict)
    for mask in ColumnMaskPolicy.objects.filter(datasource=datasource, enabled=True):
        if role in mask.exempt_roles:
            continue
        key = TableKey(mask.schema_name, mask.table_name)
        if mask.strategy == MaskStrategy.HIDE:
            hidden_columns[key].add(mask.column_name)
        else:
            masked[key][mask.column_name] = mask.strategy
    return CatalogView(
        hidden_tables=hidden,
        hidden_columns={k: frozenset(v) for k, v in hidden_columns.items()},
        masked_columns=dict(masked),
    )
