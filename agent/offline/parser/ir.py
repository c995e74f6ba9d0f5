"""The typed description of a question, between parsing and compiling: what to compute, over which
rows, grouped and ordered how. Every name in it comes from the catalog, every value from the
catalog's samples or a literal the question says; ``compile`` turns it into SQL for one dialect,
``explain`` into words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from agent.offline.knowledge import Column, Table


@dataclass(frozen=True)
class Ref:
    """A column of a table of the context."""

    table: Table
    column: Column

    @property
    def label(self) -> str:
        return self.column.name


@dataclass(frozen=True)
class Measure:
    """One computed value.

    ``function``: count | count_distinct | sum | avg | min | max | ratio | per | expression.
    ``ref`` is None for COUNT(*) of ``Query.base``. ``ratio`` is the share of the rows that pass
    ``condition`` (a percentage); ``per`` is rows of the base per row of ``over`` (the average
    number of X per Y), else per distinct ``ref``; ``expression`` is a glossary metric (SQL over the base table)."""

    function: str
    ref: Ref | None = None
    condition: Filter | None = None
    denominator: Filter | None = None  # "ratio of A to B": rows with A over rows with B, not a percentage
    expression: str = ""
    said: str = ""  # the person's words for it: "revenue", "number of orders"
    over: Table | None = None  # "per": the table of the things, all of which the rows are shared among

    @property
    def alias(self) -> str:
        if self.function == "expression":
            return "_".join(self.said.split()) or "value"
        if self.function == "ratio":
            return "ratio" if self.denominator is not None else "percentage"
        if self.function == "per":
            return "average_per_" + (self.ref.label if self.ref else "group")
        if self.ref is None:
            return "count"
        return f"{self.function}_{self.ref.label}"


@dataclass(frozen=True)
class Dimension:
    """A group: a column, a time bucket (day, week, month, quarter, year) of one, or a table's rows
    (``ref`` is its key; ``label`` its naming column) for "by customer"."""

    ref: Ref
    bucket: str = ""
    label: Ref | None = None

    @property
    def alias(self) -> str:
        if self.bucket:
            return self.bucket
        return (self.label or self.ref).label


@dataclass(frozen=True)
class Filter:
    """``ref op value``. op: = | <> | > | >= | < | <= | in | between | null | like | exists.

    ``value`` is a tuple for ``in``/``between``; for ``exists`` it is the path's far table, and the
    condition holds when some row of it belongs to the row (``negated``: none does); ``within`` are
    conditions on those rows ("customers with an open ticket": tickets whose status is open)."""

    ref: Ref
    op: str
    value: Any = None
    negated: bool = False
    said: str = ""
    within: tuple[Filter, ...] = ()


@dataclass(frozen=True)
class Having:
    """The group's count of ``table`` rows compared to a number ("with more than 5 orders"), or its
    ``measure`` ("owners with more than 5 million dollars of deals": the sum of their amounts)."""

    table: Table
    op: str
    value: int | float
    measure: Measure | None = None


@dataclass(frozen=True)
class Period:
    ref: Ref  # the date (or epoch) column the window applies to
    start: date
    end: date  # exclusive
    label: str


@dataclass(frozen=True)
class Order:
    key: str  # a measure alias, or the column name of ``ref``
    descending: bool = True
    ref: Ref | None = None


@dataclass(frozen=True)
class Query:
    base: Table
    measures: tuple[Measure, ...] = ()  # none: a listing of the base's rows
    dimensions: tuple[Dimension, ...] = ()
    filters: tuple[Filter, ...] = ()
    having: Having | None = None
    period: Period | None = None
    order: Order | None = None
    limit: int | None = None
    columns: tuple[Column, ...] = ()  # the base's columns a listing shows
    noun: str = ""  # the person's word for the base rows: "customers"
    assumptions: tuple[str, ...] = field(default=())  # said in the answer: "'clients' means billing.accounts"

    @property
    def is_listing(self) -> bool:
        return not self.measures


@dataclass(frozen=True)
class Choice:
    """Two or more readings score alike: ask, offering these."""

    question: str
    choices: tuple[str, ...]


@dataclass(frozen=True)
class Describe:
    """Read these tables' columns and sample values first (a word may be a value of one)."""

    tables: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Unanswerable:
    """The sources do not hold what is asked; ``reason`` says why, in words."""

    reason: str


Parsed = Query | Choice | Describe | Unanswerable
