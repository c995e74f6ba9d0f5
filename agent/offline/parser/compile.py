"""Stage 4: a ``Query`` to one SELECT with sqlglot, in the data source's dialect (postgres, mysql,
sqlite, duckdb). Tables are joined along the context's column ``references`` (declared foreign keys
and inferred ones alike), by the shortest path; a condition on rows of another table that point at
the base ("customers with no invoices", "with more than 5 orders") is an IN subquery, so the base
rows are never multiplied. Dates are literals computed by ``normalise``; epoch columns are compared
to epoch numbers and converted before they are bucketed. Listings have no LIMIT: the gateway's row
cap applies.
"""

from __future__ import annotations

import calendar
from datetime import date

import sqlglot
from sqlglot import exp

from agent.offline.knowledge import Join, Knowledge, Table
from agent.offline.parser.ir import Dimension, Filter, Having, Measure, Query, Ref
from agent.offline.sql import SqlBuilder, literal

MAX_JOINS = 3
_FORMATS = {"day": "%Y-%m-%d", "year": "%Y"}
_COMPARE: dict[str, type[exp.Binary]] = {"=": exp.EQ, "<>": exp.NEQ, ">": exp.GT, ">=": exp.GTE, "<": exp.LT,
                                         "<=": exp.LTE}  # fmt: skip


class CompileError(Exception):
    """The query needs a join the catalog does not give."""


def compile_query(query: Query, knowledge: Knowledge) -> str:
    return _Compiler(query, knowledge).select().sql(dialect=knowledge.dialect(query.base.datasource_id))


class _Compiler:
    def __init__(self, query: Query, knowledge: Knowledge) -> None:
        self.query = query
        self.knowledge = knowledge
        self.dialect = knowledge.dialect(query.base.datasource_id)
        self.sql = SqlBuilder(knowledge, query.base)
        for table in self._tables():
            self._join(table)

    def _tables(self) -> list[Table]:
        q = self.query
        refs: list[Ref] = [d.ref for d in q.dimensions] + [d.label for d in q.dimensions if d.label is not None]
        refs += [m.ref for m in q.measures if m.ref is not None and m.function != "per"]
        refs += [m.condition.ref for m in q.measures if m.condition is not None]
        refs += [m.denominator.ref for m in q.measures if m.denominator is not None]
        refs += [f.ref for f in q.filters]
        if q.period is not None:
            refs.append(q.period.ref)
        if q.order is not None and q.order.ref is not None:
            refs.append(q.order.ref)
        return list({r.table.key: r.table for r in refs}.values())

    def _join(self, table: Table) -> None:
        if table.key in self.sql.joined:
            return
        path = self.knowledge.path(self.sql.base, table, MAX_JOINS)
        if path is None:
            raise CompileError(f"no join from {self.sql.base.qualified_name} to {table.qualified_name}")
        self.sql.join(path)

    def col(self, ref: Ref) -> exp.Column:
        return self.sql.col(ref.table, ref.column.name)

    @property
    def fans_out(self) -> bool:
        """A join from the base to rows that point at it: base rows may repeat."""
        return any(not join.to_parent for _, join in self.sql.joins)

    # --- pieces --------------------------------------------------------------------------------

    def timestamp(self, ref: Ref) -> exp.Expr:
        column = self.col(ref)
        if not ref.column.is_epoch:
            return column
        if self.dialect == "sqlite":
            return exp.Anonymous(this="DATETIME", expressions=[column, exp.Literal.string("unixepoch")])
        return exp.UnixToTime(this=column)

    def bound(self, ref: Ref, day: date) -> exp.Expr:
        if ref.column.is_epoch:
            return exp.Literal.number(calendar.timegm(day.timetuple()))
        return exp.Literal.string(day.isoformat())

    def dimension(self, dimension: Dimension) -> tuple[exp.Expr, list[exp.Expr]]:
        """(projection, group keys)"""
        if dimension.bucket:
            bucket = self.bucket(dimension.ref, dimension.bucket)
            return exp.alias_(bucket, dimension.bucket), [bucket.copy()]
        if dimension.label is not None:
            keys: list[exp.Expr] = [self.col(dimension.ref), self.col(dimension.label)]
            return exp.alias_(self.col(dimension.label), dimension.label.label), keys
        column = self.col(dimension.ref)
        return column, [column.copy()]

    def bucket(self, ref: Ref, unit: str) -> exp.Expr:
        """The period a time falls in: "2026" for a year; a month, a week or a quarter by its first day
        (SQLite, which cannot truncate dates, by "2026-09-01", "2026-38" and "2026-Q3")."""
        moment = self.timestamp(ref)
        if unit in _FORMATS:
            return exp.TimeToStr(this=moment, format=exp.Literal.string(_FORMATS[unit]))
        if self.dialect != "sqlite":
            return exp.TimestampTrunc(this=moment, unit=exp.var(unit.upper()))
        if unit == "month":
            return exp.Anonymous(this="STRFTIME", expressions=[exp.Literal.string("%Y-%m-01"), moment])
        if unit == "week":
            return exp.Anonymous(this="STRFTIME", expressions=[exp.Literal.string("%Y-%W"), moment])
        month = exp.Cast(this=exp.Anonymous(this="STRFTIME", expressions=[exp.Literal.string("%m"), moment.copy()]),
                         to=exp.DataType.build("INTEGER"))  # fmt: skip
        third = exp.Div(this=exp.Add(this=month, expression=exp.Literal.number(2)), expression=exp.Literal.number(3))
        quarter = exp.Paren(this=exp.Cast(this=third, to=exp.DataType.build("INTEGER")))
        year = exp.Anonymous(this="STRFTIME", expressions=[exp.Literal.string("%Y"), moment.copy()])
        return exp.DPipe(this=exp.DPipe(this=year, expression=exp.Literal.string("-Q")), expression=quarter)

    def measure(self, measure: Measure) -> exp.Expr:
        base = self.query.base
        key = base.primary_key
        if measure.function == "count":
            if self.fans_out and key is not None:
                counted: exp.Expr = exp.Count(this=exp.Distinct(expressions=[self.sql.col(base, key.name)]))
            else:
                counted = exp.Count(this=exp.Star())
            return exp.alias_(counted, measure.alias)
        if measure.function == "count_distinct" and measure.ref is not None:
            return exp.alias_(exp.Count(this=exp.Distinct(expressions=[self.col(measure.ref)])), measure.alias)
        if measure.function == "per" and measure.ref is not None:
            rows = exp.Mul(this=exp.Count(this=exp.Star()), expression=exp.Literal.number("1.0"))
            owners: exp.Expr = exp.Count(this=exp.Distinct(expressions=[self.col(measure.ref)]))
            if measure.over is not None and not self.query.dimensions:
                # Over all of them, those with none too: the rows of the table the key points at.
                every = SqlBuilder(self.knowledge, measure.over).select(exp.Count(this=exp.Star()))
                owners = exp.Nullif(this=exp.Subquery(this=every), expression=exp.Literal.number(0))
            return exp.alias_(exp.Div(this=rows, expression=owners), measure.alias)
        if measure.function == "ratio" and measure.condition is not None and measure.denominator is not None:
            over = exp.Mul(this=self.hits(measure.condition), expression=exp.Literal.number("1.0"))
            under = exp.Nullif(this=self.hits(measure.denominator), expression=exp.Literal.number(0))
            return exp.alias_(exp.Div(this=over, expression=under), measure.alias)
        if measure.function == "ratio" and measure.condition is not None:
            hits = exp.Sum(this=exp.If(this=self.condition(measure.condition), true=exp.Literal.number(1),
                                       false=exp.Literal.number(0)))  # fmt: skip
            share = exp.Div(this=exp.Mul(this=exp.Literal.number("100.0"), expression=hits),
                            expression=exp.Count(this=exp.Star()))  # fmt: skip
            return exp.alias_(share, measure.alias)
        if measure.function == "expression":
            return exp.alias_(sqlglot.parse_one(measure.expression, read=self.dialect), measure.alias)
        aggregate = {"sum": exp.Sum, "avg": exp.Avg, "max": exp.Max, "min": exp.Min}[measure.function]
        assert measure.ref is not None
        return exp.alias_(aggregate(this=self.col(measure.ref)), measure.alias)

    def hits(self, condition: Filter) -> exp.Expr:
        """The number of rows that meet ``condition``."""
        one, zero = exp.Literal.number(1), exp.Literal.number(0)
        return exp.Sum(this=exp.If(this=self.condition(condition), true=one, false=zero))

    def condition(self, condition: Filter, sql: SqlBuilder | None = None) -> exp.Expr:
        """``condition`` on the statement's tables (``sql``: on a subquery's)."""
        column = (sql or self.sql).col(condition.ref.table, condition.ref.column.name)
        value = condition.value
        result: exp.Expr
        if condition.op == "exists":
            owners = self.owners(value, None, condition.within)
            result = exp.In(this=column, query=exp.Subquery(this=owners))
        elif condition.op == "in":
            result = exp.In(this=column, expressions=[literal(v) for v in value])
        elif condition.op == "between":
            result = exp.Between(this=column, low=literal(value[0]), high=literal(value[1]))
        elif condition.op == "null":
            result = exp.Is(this=column, expression=exp.Null())
        elif condition.op == "like":
            result = exp.ILike(this=column, expression=exp.Literal.string(f"%{value}%"))
        elif isinstance(value, bool):
            result = column if value else exp.Not(this=column)  # a yes/no column is its own condition
        else:
            result = _COMPARE[condition.op](this=column, expression=literal(value))
        return exp.Not(this=result) if condition.negated else result

    def owners(self, table: Table, having: Having | None, within: tuple[Filter, ...] = ()) -> exp.Select:
        """The keys of base rows that rows of ``table`` point at (with a count condition; only rows
        of ``table`` that meet ``within``)."""
        path = self.knowledge.path(self.query.base, table, MAX_JOINS)
        if not path or path[0].to_parent:
            raise CompileError(f"{table.qualified_name} does not point at {self.query.base.qualified_name}")
        first: Join = path[0]
        near = self.knowledge.tables[first.right]
        inner = SqlBuilder(self.knowledge, near)
        inner.join(path[1:])
        key = inner.col(near, first.right_column)
        select = inner.select(key).where(exp.Not(this=exp.Is(this=key.copy(), expression=exp.Null())))
        for condition in within:
            select = select.where(self.condition(condition, inner))
        if having is not None:
            count: exp.Expr = exp.Count(this=exp.Star())
            if having.measure is not None and having.measure.ref is not None:
                count = exp.Sum(this=inner.col(having.measure.ref.table, having.measure.ref.column.name))
            select = select.group_by(key.copy()).having(
                _COMPARE[having.op](this=count, expression=literal(having.value))
            )
        return select

    # --- the statement -------------------------------------------------------------------------

    def select(self) -> exp.Select:
        q = self.query
        projections: list[exp.Expr] = []
        group_by: list[exp.Expr] = []
        for dimension in q.dimensions:
            projection, keys = self.dimension(dimension)
            projections.append(projection)
            group_by.extend(keys)
        if q.is_listing:
            projections.extend(self.sql.col(q.base, c.name) for c in q.columns)
            if not q.columns and not q.dimensions:  # dimensions alone: their distinct values
                projections.append(exp.Star())
        projections.extend(self.measure(m) for m in q.measures)
        select = self.sql.select(*projections)
        if q.is_listing and self.fans_out:
            select = select.distinct()
        conditions = [self.condition(f) for f in q.filters]
        grouped_count = q.having is not None and q.having.table.key == q.base.key and bool(q.dimensions)
        if q.having is not None and not grouped_count:
            key = q.base.primary_key or q.base.columns[0]
            conditions.append(
                exp.In(
                    this=self.sql.col(q.base, key.name), query=exp.Subquery(this=self.owners(q.having.table, q.having))
                )
            )
        if q.order is not None and q.order.ref is not None and q.is_listing:
            # "the most recent order": rows without a date are not the most recent.
            conditions.append(exp.Not(this=exp.Is(this=self.col(q.order.ref), expression=exp.Null())))
        if q.period is not None:
            column = self.col(q.period.ref)
            conditions.append(exp.GTE(this=column, expression=self.bound(q.period.ref, q.period.start)))
            conditions.append(exp.LT(this=column.copy(), expression=self.bound(q.period.ref, q.period.end)))
        if conditions:
            select = select.where(exp.and_(*conditions))
        if group_by:
            select = select.group_by(*group_by)
        if grouped_count and q.having is not None:
            # "countries with more than 100 customers": the group's own rows counted.
            own_key = q.base.primary_key
            counted: exp.Expr = (
                exp.Count(this=exp.Distinct(expressions=[self.sql.col(q.base, own_key.name)]))
                if self.fans_out and own_key is not None
                else exp.Count(this=exp.Star())
            )
            if q.having.measure is not None and q.having.measure.ref is not None:
                counted = exp.Sum(this=self.col(q.having.measure.ref))
            select = select.having(_COMPARE[q.having.op](this=counted, expression=literal(q.having.value)))
        order = self.order_by()
        if order is not None:
            select = select.order_by(order)
        if q.limit is not None:
            select = select.limit(q.limit)
        return select

    def order_by(self) -> exp.Ordered | None:
        q = self.query
        if q.order is not None:
            if q.order.ref is not None and q.is_listing:
                return exp.Ordered(this=self.col(q.order.ref), desc=q.order.descending)
            return exp.Ordered(this=exp.column(q.order.key), desc=q.order.descending)
        if q.dimensions and q.measures:
            first = q.dimensions[0]
            if first.bucket:
                return exp.Ordered(this=exp.column(first.alias), desc=False)  # periods read in order
            return exp.Ordered(this=exp.column(q.measures[0].alias), desc=True)
        return None
