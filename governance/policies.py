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
from django.contrib.auth.models import User
from django.db import connection
from sqlglot import exp
from sqlglot.errors import ParseError

from datasources.connectors import CONNECTORS
from datasources.models import CatalogColumn, CatalogTable, DataSource
from governance.firewall import MaskStrategy as FirewallMask
from governance.firewall import VisibleTable
from governance.models import ColumnMaskPolicy, MaskStrategy, RowFilterPolicy, TableVisibilityPolicy
from workspaces.models import Membership

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


def _applies(
    *, roles: list[str], exempt_roles: list[str], user_ids: list[int], group_ids: list[int],
    membership: Membership, member_groups: set[int],
) -> bool:  # fmt: skip
    """Whether a row filter with this audience applies to the member (no audience: everyone)."""
    if membership.role in exempt_roles:
        return False
    if not (roles or user_ids or group_ids):
        return True
    return membership.role in roles or membership.user_id in user_ids or bool(set(group_ids) & member_groups)


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
    names = sorted({n.lower() for n in only}) if only is not None else None
    with connection.cursor() as cursor:
        cursor.execute(_POLICY_INPUTS_SQL, {"ds": datasource.pk, "names": names, "user": membership.user_id})
        table_data, hidden_data, mask_data, filter_data, member_groups = cursor.fetchone()
    if not table_data:
        return ()
    table_rows = [(table_id, schema, name) for table_id, schema, name, _ in table_data]
    columns: dict[int, list[str]] = {table_id: list(names_) for table_id, _, _, names_ in table_data}

    role = membership.role
    hidden = {TableKey(schema, table) for schema, table, roles in hidden_data if role in roles}
    masks: dict[TableKey, dict[str, tuple[str, str]]] = defaultdict(dict)
    for schema, table, column, strategy, name, exempt in mask_data:
        if role not in exempt:
            masks[TableKey(schema, table)][column] = (strategy, name)
    groups = set(member_groups or [])
    filters: dict[TableKey, list[tuple[str, exp.Expression]]] = defaultdict(list)
    for schema, table, name, predicate, roles, exempt, user_ids, group_ids in filter_data:
        if _applies(roles=roles, exempt_roles=exempt, user_ids=user_ids, group_ids=group_ids,
                    membership=membership, member_groups=groups):  # fmt: skip
            filters[TableKey(schema, table)].append((name, render_predicate(predicate, membership.attributes, dialect)))

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


# Everything visible_tables needs, in one round trip (it runs for every statement the gateway
# checks, and the ORM spent several times the database's own time building the six queries this
# replaces): the present tables (only those named, when given) with their present columns in
# order, the enabled visibility, mask and row filter policies of the source, and the user's groups.
_T, _C = CatalogTable._meta.db_table, CatalogColumn._meta.db_table
_V, _M, _R = TableVisibilityPolicy._meta.db_table, ColumnMaskPolicy._meta.db_table, RowFilterPolicy._meta.db_table
_POLICY_INPUTS_SQL = f"""
    SELECT
      (SELECT coalesce(json_agg(json_build_array(t.id, t.schema_name, t.name,
              (SELECT coalesce(json_agg(c.name ORDER BY c.ordinal, c.id), '[]'::json)
                 FROM {_C} c WHERE c.table_id = t.id AND c.is_present)) ORDER BY t.schema_name, t.name), '[]'::json)
         FROM {_T} t
        WHERE t.datasource_id = %(ds)s AND t.is_present
          AND (%(names)s::text[] IS NULL OR lower(t.name) = ANY(%(names)s::text[]))),
      (SELECT coalesce(json_agg(json_build_array(p.schema_name, p.table_name, p.hidden_for_roles) ORDER BY p.id),
              '[]'::json)
         FROM {_V} p WHERE p.datasource_id = %(ds)s AND p.enabled),
      (SELECT coalesce(json_agg(json_build_array(p.schema_name, p.table_name, p.column_name, p.strategy, p.name,
              p.exempt_roles) ORDER BY p.id), '[]'::json)
         FROM {_M} p WHERE p.datasource_id = %(ds)s AND p.enabled),
      (SELECT coalesce(json_agg(json_build_array(p.schema_name, p.table_name, p.name, p.predicate, p.roles,
              p.exempt_roles,
              ARRAY(SELECT u.user_id FROM {RowFilterPolicy.users.through._meta.db_table} u
                     WHERE u.rowfilterpolicy_id = p.id),
              ARRAY(SELECT g.group_id FROM {RowFilterPolicy.groups.through._meta.db_table} g
                     WHERE g.rowfilterpolicy_id = p.id)) ORDER BY p.id), '[]'::json)
         FROM {_R} p WHERE p.datasource_id = %(ds)s AND p.enabled),
      ARRAY(SELECT ug.group_id FROM {User.groups.through._meta.db_table} ug WHERE ug.user_id = %(user)s)
"""  # noqa: S608  table names from the models, values as parameters


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
