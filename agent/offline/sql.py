"""Building statements with sqlglot: identifiers from the catalog (quoted where an engine needs it),
literals from values, and the FROM clause with its foreign-key joins."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from sqlglot import exp

from agent.offline.knowledge import Join, Knowledge, Table

_SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
# Quoted whatever the engine: reserved somewhere, or a function name that reads differently bare.
_RESERVED = frozenset(
    """all analyse analyze and any array as asc asymmetric between both case cast check collate column constraint
    create cross current_catalog current_date current_role current_time current_timestamp current_user default
    deferrable desc distinct do else end except false fetch for foreign from full grant group having ilike in
    initially inner intersect interval into is join key lateral leading left like limit localtime localtimestamp
    natural not null offset on only or order outer over placing primary range references returning right row rows
    select session_user some symmetric table then to trailing true union unique user using values variadic when
    where window with index level""".split()
)


def quoted(name: str) -> bool:
    return not _SAFE_NAME.match(name) or name in _RESERVED


def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=quoted(name))


def table_ref(table: Table, dialect: str) -> exp.Table:
    """The table as a statement names it; SQLite and DuckDB files have one implicit schema."""
    implicit = dialect in ("sqlite", "duckdb") and table.schema in ("", "main")
    return exp.Table(this=ident(table.name), db=None if implicit or not table.schema else ident(table.schema))


class SqlBuilder:
    """The FROM clause under construction: the base table and the tables joined to it. Every join
    is added before the first column is written, so columns are qualified exactly when needed."""

    def __init__(self, knowledge: Knowledge, base: Table) -> None:
        self.knowledge = knowledge
        self.dialect = knowledge.dialect(base.datasource_id)
        self.base = base
        self.joined: dict[tuple[str, str], Table] = {base.key: base}
        self.joins: list[tuple[Table, Join]] = []
        self.aliases: dict[tuple[str, str], str] = {}
        self._alias(base)

    def _alias(self, table: Table) -> None:
        alias, number = table.name, 2
        while alias in self.aliases.values():
            alias, number = f"{table.name}_{number}", number + 1
        self.aliases[table.key] = alias

    def join(self, path: list[Join]) -> None:
        for step in path:
            if step.right not in self.joined and step.left in self.joined:
                table = self.knowledge.tables[step.right]
                self.joined[step.right] = table
                self._alias(table)
                self.joins.append((table, step))

    def col(self, table: Table, name: str) -> exp.Column:
        if not self.joins:
            return exp.Column(this=ident(name))
        return exp.Column(this=ident(name), table=ident(self.aliases[table.key]))

    def _table(self, table: Table) -> exp.Table:
        node = table_ref(table, self.dialect)
        alias = self.aliases[table.key]
        if alias != table.name or (self.joins and node.args.get("db") is not None):
            node.set("alias", exp.TableAlias(this=ident(alias)))
        return node

    def select(self, *projections: exp.Expr) -> exp.Select:
        select = exp.select(*projections).from_(self._table(self.base))
        for table, step in self.joins:
            left = self.knowledge.tables[step.left]
            condition = exp.EQ(
                this=exp.Column(this=ident(step.right_column), table=ident(self.aliases[table.key])),
                expression=exp.Column(this=ident(step.left_column), table=ident(self.aliases[left.key])),
            )
            select = select.join(self._table(table), on=condition, join_type="inner")
        return select


def literal(value: Any) -> exp.Expression:
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if value is None:
        return exp.Null()
    if isinstance(value, int | float | Decimal):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))
