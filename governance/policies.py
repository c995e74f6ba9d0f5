"""Policies in force for one actor: rendered row filters, masks, hidden tables and columns.

Two kinds of policy meet here. Table policies name one table of one data source (the exceptions).
Tag policies name a classification tag and act wherever it is, on every source of the workspace:
"mask every column tagged ``pii.email``", "only rows whose column tagged ``region`` equals the
member's ``region``". What a column gets, for one member:

1. a table policy's mask on that column, when one applies to the member;
2. else the strictest mask of the tag policies that apply to the member, for the column's tags
   (detected or confirmed; a rejected tag applies to nothing);
3. else, safe by default: a column with a personal tag nobody has reviewed yet is redacted for
   analysts and viewers (the workspace's ``mask_unreviewed_personal_data`` turns this off).

Rows: every table row filter that applies, AND every tag row filter that applies, rendered once per
tagged column of the table (all must hold).

A row filter template such as ``region = {{ user.region }}`` is parsed by sqlglot with a placeholder
column, and the placeholder is replaced by a literal node built from the member's attribute, so an
attribute value can never become SQL. A missing attribute renders as NULL: the filter then matches
no row (deny by default), and the decision carries a notice that says so.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
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
from governance.models import (
    ColumnMaskPolicy,
    ColumnTag,
    MaskStrategy,
    RowFilterPolicy,
    TableVisibilityPolicy,
    Tag,
    TagMaskPolicy,
    TagRowFilterPolicy,
    TagState,
)
from governance.tags import PERSONAL_TAGS, any_tag_matches
from workspaces.models import Membership, Role

_PLACEHOLDER = re.compile(r"\{\{\s*user\.([a-z][a-z0-9_]*)\s*\}\}")
_COLUMN_PLACEHOLDER = re.compile(r"\{\{\s*column\s*\}\}")
_SLOT = "__psa_attribute_{}__"
_COLUMN_SLOT = "__psa_column__"
# Roles below admin: the safe default masks unreviewed personal data for them.
SAFE_DEFAULT_ROLES = frozenset({Role.ANALYST.value, Role.VIEWER.value})
# Stricter first: when several tag policies mask a column, the strictest wins.
_STRICTNESS = {MaskStrategy.HIDE: 5, MaskStrategy.NULL: 4, MaskStrategy.REDACT: 3, MaskStrategy.HASH: 2,
               MaskStrategy.PARTIAL: 1}  # fmt: skip


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


@functools.lru_cache(maxsize=1024)
def _parsed(text: str, dialect: str) -> exp.Expression:
    try:
        statements = sqlglot.parse(text, read=dialect or None)
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
    return cast(exp.Expression, tree)


def parse_predicate(template: str, dialect: str) -> tuple[exp.Expression, list[str]]:
    """Parses a template (cached); returns a copy of the tree with placeholder slots and the
    attribute names. ``dialect`` "" parses the dialect-neutral SQL of tag policies."""
    names: list[str] = []

    def slot(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return _SLOT.format(len(names) - 1)

    text = _PLACEHOLDER.sub(slot, template)
    text = _COLUMN_PLACEHOLDER.sub(_COLUMN_SLOT, text)
    if "{{" in text or "}}" in text:
        raise PolicyError("Only {{ user.<attribute> }} (and, in a tag policy, {{ column }}) placeholders are allowed.")
    return _parsed(text, dialect).copy(), names


def predicate_columns(tree: exp.Expression) -> set[str]:
    """The plain columns a parsed predicate names (placeholders left out)."""
    return {c.name for c in tree.find_all(exp.Column) if not c.name.startswith("__psa_")}


def parse_tag_predicate(template: str) -> tuple[exp.Expression, list[str]]:
    """A tag row filter: a condition on ``{{ column }}`` (the tagged column) and the member's
    attributes only, since the tables it lands on have nothing else in common."""
    tree, names = parse_predicate(template, "")
    if not any(c.name == _COLUMN_SLOT for c in tree.find_all(exp.Column)):
        raise PolicyError("A tag row filter is a condition on the tagged column: {{ column }} = {{ user.region }}.")
    others = sorted(predicate_columns(tree))
    if others:
        raise PolicyError(
            f"A tag row filter may only name the tagged column ({{{{ column }}}}), not {', '.join(others)}."
        )
    return tree, names


def render_predicate(
    template: str, attributes: Mapping[str, Any], dialect: str, *, column: str | None = None
) -> exp.Expression:
    """The condition with the member's attributes as literals (and, for a tag policy, ``column``
    in place of ``{{ column }}``)."""
    tree, names = parse_predicate(template, dialect if column is None else "")

    def substitute(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name.startswith("__psa_"):
            if node.name == _COLUMN_SLOT:
                return exp.column(column or "", quoted=True)
            value = attributes.get(names[int(node.name.split("_")[-3])])
            if isinstance(value, list):
                return exp.Tuple(expressions=[_literal(v) for v in value]) if value else exp.Null()
            return _literal(value)
        return node

    rendered = tree.transform(substitute, copy=False)

    # ``region = {{ user.region }}`` with a list attribute means membership: col IN (...).
    def list_equality(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.EQ) and isinstance(node.expression, exp.Tuple):
            return exp.In(this=node.this, expressions=node.expression.expressions)
        return node

    return rendered.transform(list_equality, copy=False)


def _applies(
    *, roles: Sequence[str], exempt_roles: Sequence[str], user_ids: Sequence[int] = (),
    group_ids: Sequence[int] = (), membership: Membership, member_groups: AbstractSet[int] = frozenset(),
) -> bool:  # fmt: skip
    """Whether a policy with this audience applies to the member (no audience: everyone)."""
    if membership.role in exempt_roles:
        return False
    if not (roles or user_ids or group_ids):
        return True
    return membership.role in roles or membership.user_id in user_ids or bool(set(group_ids) & member_groups)


@dataclass(frozen=True)
class TableKey:
    schema: str
    name: str


def tag_policy_label(name: str, tag: str) -> str:
    """How a tag policy is named where it acted (audit rows, decisions, pages)."""
    return f"{name} (tag {tag})"


def safe_default_label(tag: str) -> str:
    return f"Unreviewed personal data (tag {tag})"


@dataclass(frozen=True)
class ColumnRule:
    """What one column is for one member: a mask strategy ("hide" removes it) and who set it."""

    strategy: str
    policy: str  # as the audit log names it
    reason: str  # plain words for a person


@dataclass(frozen=True)
class FilterRule:
    policy: str
    condition: exp.Expression


@dataclass(frozen=True)
class TableRules:
    """Everything in force on one table for one member."""

    key: TableKey
    columns: tuple[str, ...]  # every present column, in order
    tags: Mapping[str, tuple[tuple[str, str], ...]]  # column -> its (tag, state) pairs in force
    column_rules: Mapping[str, ColumnRule]  # only the masked or hidden columns
    filters: tuple[FilterRule, ...] = ()
    notices: tuple[str, ...] = ()

    @property
    def shown_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if self.rule(c).strategy != MaskStrategy.HIDE)

    def rule(self, column: str) -> ColumnRule:
        return self.column_rules.get(column, _SHOWN)

    @property
    def policies(self) -> tuple[str, ...]:
        names = {f.policy for f in self.filters} | {r.policy for r in self.column_rules.values()}
        return tuple(sorted(names))

    def row_filter(self) -> exp.Expr | None:
        condition: exp.Expr | None = None
        for rule in self.filters:
            condition = rule.condition.copy() if condition is None else exp.and_(condition, rule.condition.copy())
        return condition


_SHOWN = ColumnRule("", "", "")


@dataclass(frozen=True)
class _Inputs:
    """What the policies of a workspace say, read once per call, before any table is resolved."""

    membership: Membership
    dialect: str
    groups: set[int]
    hidden: dict[TableKey, str]  # hidden table -> the policy that hides it
    masks: dict[TableKey, dict[str, tuple[str, str]]]  # table -> column -> (strategy, policy)
    filters: dict[TableKey, list[tuple[str, str, list[str], list[str], list[int], list[int]]]]
    # tag -> its mask policies: (name, tag, strategy, roles, exempt roles, table tags)
    tag_masks: dict[str, list[tuple[str, str, str, list[str], list[str], list[str]]]]
    tag_filters: list[tuple[str, str, str, list[str], list[str], list[str]]]  # name, tag, predicate, ...
    personal: frozenset[str] = field(default=PERSONAL_TAGS)
    safe_default: bool = True


def _resolve(inputs: _Inputs, key: TableKey, columns: list[tuple[str, list[list[str]]]]) -> TableRules:
    membership = inputs.membership
    tags = {name: tuple((tag, state) for tag, state in pairs) for name, pairs in columns if pairs}
    table_tags = {tag for pairs in tags.values() for tag, _ in pairs}
    notices: list[str] = []
    shown = f"{key.schema}.{key.name}" if key.schema else key.name

    rules: dict[str, ColumnRule] = {}
    table_masks = inputs.masks.get(key, {})
    for name, _ in columns:
        if name in table_masks:
            strategy, policy = table_masks[name]
            rules[name] = ColumnRule(strategy, policy, f"masked by the policy {policy!r} on this table")
            continue
        best: tuple[str, str, str] | None = None
        for policy, tag, strategy, roles, exempt, scope in (
            mask for own, _ in tags.get(name, ()) for mask in inputs.tag_masks.get(own, ())
        ):
            if scope and not any_tag_matches(scope, table_tags):
                continue
            if not _applies(roles=roles, exempt_roles=exempt, membership=membership):
                continue
            if best is None or _STRICTNESS[MaskStrategy(strategy)] > _STRICTNESS[MaskStrategy(best[0])]:
                best = (strategy, policy, tag)
        if best is not None:
            label = tag_policy_label(best[1], best[2])
            rules[name] = ColumnRule(best[0], label, f"tagged {best[2]}: masked by the tag policy {best[1]!r}")
            continue
        if inputs.safe_default and membership.role in SAFE_DEFAULT_ROLES:
            unreviewed = [tag for tag, state in tags.get(name, ()) if state == TagState.DETECTED
                          and tag in inputs.personal]  # fmt: skip
            if unreviewed:
                rules[name] = ColumnRule(
                    MaskStrategy.REDACT,
                    safe_default_label(unreviewed[0]),
                    f"detected as {unreviewed[0]} and not yet reviewed: personal data stays masked until an "
                    "owner or admin confirms or rejects the tag",
                )

    filters: list[FilterRule] = []
    attributes = membership.attributes or {}
    for policy, predicate, roles, exempt, user_ids, group_ids in inputs.filters.get(key, []):
        if _applies(roles=roles, exempt_roles=exempt, user_ids=user_ids, group_ids=group_ids,
                    membership=membership, member_groups=inputs.groups):  # fmt: skip
            filters.append(FilterRule(policy, render_predicate(predicate, attributes, inputs.dialect)))
            notices += _missing(predicate, attributes, policy, shown)
    tagged_columns: dict[str, list[str]] = defaultdict(list)
    for name, pairs in tags.items():
        for tag, _ in pairs:
            tagged_columns[tag].append(name)
    for policy, tag, predicate, roles, exempt, scope in inputs.tag_filters:
        tagged = tagged_columns.get(tag)
        if not tagged or (scope and not any_tag_matches(scope, table_tags)):
            continue
        if not _applies(roles=roles, exempt_roles=exempt, membership=membership):
            continue
        label = tag_policy_label(policy, tag)
        for column in tagged:
            filters.append(FilterRule(label, render_predicate(predicate, attributes, inputs.dialect, column=column)))
        notices += _missing(predicate, attributes, label, shown)
    return TableRules(
        key=key,
        columns=tuple(name for name, _ in columns),
        tags=tags,
        column_rules=rules,
        filters=tuple(filters),
        notices=tuple(dict.fromkeys(notices)),
    )


def _missing(predicate: str, attributes: Mapping[str, Any], policy: str, table: str) -> list[str]:
    absent = [name for name in _PLACEHOLDER.findall(predicate) if attributes.get(name) in (None, [], "")]
    return [
        f"Your membership has no {name!r} attribute, which the policy {policy!r} needs: no rows of {table} are "
        "shown to you. An owner or admin can set it on your membership."
        for name in dict.fromkeys(absent)
    ]


def _inputs(cursor_row: tuple[Any, ...], membership: Membership, dialect: str) -> _Inputs:
    _tables, hidden_data, mask_data, filter_data, tag_masks, tag_filters, personal, groups = cursor_row
    role = membership.role
    hidden: dict[TableKey, str] = {}
    for schema, table, roles, name in hidden_data:
        if role in roles:
            hidden.setdefault(TableKey(schema, table), name)
    masks: dict[TableKey, dict[str, tuple[str, str]]] = defaultdict(dict)
    for schema, table, column, strategy, name, exempt in mask_data:
        if role not in exempt:
            masks[TableKey(schema, table)][column] = (strategy, name)
    filters: dict[TableKey, list[Any]] = defaultdict(list)
    for schema, table, name, predicate, roles, exempt, user_ids, group_ids in filter_data:
        filters[TableKey(schema, table)].append((name, predicate, roles, exempt, user_ids, group_ids))
    masks_by_tag: dict[str, list[Any]] = defaultdict(list)
    for row in tag_masks:
        masks_by_tag[row[1]].append(tuple(row))
    workspace = membership.workspace
    return _Inputs(
        membership=membership,
        dialect=dialect,
        groups=set(groups or []),
        hidden=hidden,
        masks=dict(masks),
        filters=dict(filters),
        tag_masks=masks_by_tag,
        tag_filters=[tuple(row) for row in tag_filters],
        personal=PERSONAL_TAGS | frozenset(personal or ()),
        safe_default=bool(getattr(workspace, "mask_unreviewed_personal_data", True)),
    )


def member_rules(
    *, membership: Membership, datasource: DataSource, only: Iterable[str] | None = None
) -> tuple[dict[TableKey, TableRules], dict[TableKey, str]]:
    """The rules in force for the member on the tables of ``datasource`` (only those named, by
    lower-case name, when ``only`` is given), and the tables hidden from them (with the policy).
    One round trip; hidden tables are listed whatever ``only`` says, and get no rules."""
    names = sorted({n.lower() for n in only}) if only is not None else None
    with connection.cursor() as cursor:
        cursor.execute(
            _POLICY_INPUTS_SQL,
            {"ds": datasource.pk, "ws": datasource.workspace_id, "names": names, "user": membership.user_id},
        )
        row = cursor.fetchone()
    inputs = _inputs(row, membership, dialect_of(datasource))
    rules = {}
    for schema, name, columns in row[0]:
        key = TableKey(schema, name)
        if key not in inputs.hidden:
            rules[key] = _resolve(inputs, key, columns)
    return rules, inputs.hidden


def visible_table(table: TableRules) -> VisibleTable:
    """What the firewall is given for one table: the shown columns, masks and the row filter."""
    shown = table.shown_columns
    return VisibleTable(
        schema=table.key.schema,
        name=table.key.name,
        columns=shown,
        row_filter=table.row_filter(),
        masks={
            column: FirewallMask(rule.strategy)
            for column, rule in table.column_rules.items()
            if rule.strategy != MaskStrategy.HIDE and column in shown
        },
        policies=table.policies,
    )


# Everything member_rules needs, in one round trip (it runs for every statement the gateway
# checks, and the ORM spent several times the database's own time building the queries this
# replaces): the present tables (only those named, when given) with their present columns in
# order and each column's tags in force, the enabled visibility, mask and row filter policies of
# the source, the enabled tag policies and personal tags of the workspace, and the user's groups.
_T, _C, _CT = CatalogTable._meta.db_table, CatalogColumn._meta.db_table, ColumnTag._meta.db_table
_V, _M, _R = TableVisibilityPolicy._meta.db_table, ColumnMaskPolicy._meta.db_table, RowFilterPolicy._meta.db_table
_TM, _TR, _TAG = TagMaskPolicy._meta.db_table, TagRowFilterPolicy._meta.db_table, Tag._meta.db_table
_POLICY_INPUTS_SQL = f"""
    SELECT
      (SELECT coalesce(json_agg(json_build_array(t.schema_name, t.name,
              (SELECT coalesce(json_agg(json_build_array(c.name,
                      (SELECT coalesce(json_agg(json_build_array(ct.tag, ct.state) ORDER BY ct.tag), '[]'::json)
                         FROM {_CT} ct WHERE ct.column_id = c.id AND ct.state <> '{TagState.REJECTED.value}'))
                      ORDER BY c.ordinal, c.id), '[]'::json)
                 FROM {_C} c WHERE c.table_id = t.id AND c.is_present)) ORDER BY t.schema_name, t.name), '[]'::json)
         FROM {_T} t
        WHERE t.datasource_id = %(ds)s AND t.is_present
          AND (%(names)s::text[] IS NULL OR lower(t.name) = ANY(%(names)s::text[]))),
      (SELECT coalesce(json_agg(json_build_array(p.schema_name, p.table_name, p.hidden_for_roles, p.name)
              ORDER BY p.id), '[]'::json)
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
      (SELECT coalesce(json_agg(json_build_array(p.name, p.tag, p.strategy, p.roles, p.exempt_roles, p.table_tags)
              ORDER BY p.id), '[]'::json)
         FROM {_TM} p WHERE p.workspace_id = %(ws)s AND p.enabled),
      (SELECT coalesce(json_agg(json_build_array(p.name, p.tag, p.predicate, p.roles, p.exempt_roles, p.table_tags)
              ORDER BY p.id), '[]'::json)
         FROM {_TR} p WHERE p.workspace_id = %(ws)s AND p.enabled),
      ARRAY(SELECT g.name FROM {_TAG} g WHERE g.workspace_id = %(ws)s AND g.personal),
      ARRAY(SELECT ug.group_id FROM {User.groups.through._meta.db_table} ug WHERE ug.user_id = %(user)s)
"""  # noqa: S608  table names from the models, values as parameters


@dataclass(frozen=True)
class CatalogView:
    """What one member may see of a data source's catalog: the hidden tables, and for the tables it
    was read for, every column's rule (hidden, masked and by which policy, or shown) and tags."""

    hidden_tables: Mapping[TableKey, str]
    tables: Mapping[TableKey, TableRules]

    def table_hidden(self, schema: str, name: str) -> bool:
        return TableKey(schema, name) in self.hidden_tables

    def table(self, schema: str, name: str) -> TableRules | None:
        return self.tables.get(TableKey(schema, name))

    def column_rule(self, schema: str, table: str, column: str) -> ColumnRule | None:
        """None when the column is hidden from the member (or its table is), else its rule."""
        rules = self.tables.get(TableKey(schema, table))
        if rules is None:
            return None
        rule = rules.rule(column)
        return None if rule.strategy == MaskStrategy.HIDE else rule

    def column_state(self, schema: str, table: str, column: str) -> str | None:
        """None when hidden, "" when shown as is, else the mask strategy."""
        rule = self.column_rule(schema, table, column)
        return None if rule is None else rule.strategy


def catalog_view(*, membership: Membership, datasource: DataSource, only: Iterable[str] | None = None) -> CatalogView:
    """The catalog view for the tables named in ``only`` (lower-case names), or the whole source."""
    rules, hidden = member_rules(membership=membership, datasource=datasource, only=only)
    return CatalogView(hidden_tables=hidden, tables=rules)
