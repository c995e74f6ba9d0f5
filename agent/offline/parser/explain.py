"""Stage 6: what was computed and assumed, in words: the purpose sent with ``run_query`` and the
answer built from its rows ("There are 2,000 customers with region = EMEA.", "Top 5 products by
revenue (sum of billing.invoice_lines.amount): ...", with the period's column and every assumption).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from agent.offline.parser.ir import Measure, Query

SHOWN_ROWS = 5
SHOWN_GROUPS = 10
_WORDS = {"sum": "total", "avg": "average", "max": "highest", "min": "lowest"}


def number_text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "none" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float | Decimal):
        return f"{value:,.2f}"
    if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value.strip()):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return value
        return f"{number:,.2f}" if "." in value else f"{int(number):,}"
    return str(value)


def _measure_text(measure: Measure) -> str:
    if measure.function in ("sum", "avg", "max", "min") and measure.ref is not None:
        return f"{measure.function} of {measure.ref.table.qualified_name}.{measure.ref.column.name}"
    if measure.function == "count_distinct" and measure.ref is not None:
        return f"distinct {measure.ref.table.qualified_name}.{measure.ref.column.name}"
    if measure.function == "per" and measure.ref is not None:
        if measure.over is not None:
            return f"rows over all the rows of {measure.over.qualified_name}"
        return f"rows over distinct {measure.ref.column.name}"
    if measure.function == "ratio" and measure.condition is not None:
        return f"share of rows with {measure.condition.said}"
    if measure.function == "expression":
        return measure.expression
    return "count of rows"


def _qualifiers(query: Query) -> str:
    parts = []
    filters = [f.said for f in query.filters if f.said]
    if query.having is not None:
        said = query.having.measure.said if query.having.measure else f"number of {query.having.table.noun}"
        filters.append(f"{said} {query.having.op} {query.having.value}")
    if query.period is not None:
        filters.append(f"{query.period.ref.column.name} in {query.period.label}")
    if filters:
        parts.append("with " + " and ".join(filters))
    return (" " + ", ".join(parts)) if parts else ""


def purpose(query: Query) -> str:
    """One line on what the statement computes, for the trace and the person approving it."""
    parts = [", ".join(_measure_text(m) for m in query.measures) or f"list of {query.base.qualified_name}"]
    if query.dimensions:
        parts.append("by " + ", ".join(d.alias for d in query.dimensions))
    text = " ".join(parts) + _qualifiers(query)
    if query.limit is not None:
        text += f", first {query.limit}"
    return text[:500]


def _assumed(query: Query, extra: list[str]) -> str:
    notes = [*query.assumptions, *extra]
    return f" Assumed: {'; '.join(notes)}." if notes else ""


def answer(query: Query, observation: dict[str, Any], problems: list[str]) -> str:
    """A short answer in words from a ``run_query`` observation."""
    rows = [list(row) for row in observation.get("rows") or [] if isinstance(row, list | tuple)]
    columns = [str(c) for c in observation.get("columns") or []]
    row_count = int(observation.get("row_count") or len(rows))
    notes = _assumed(query, problems)
    how = ", ".join(_measure_text(m) for m in query.measures if m.function != "count" or m.ref is not None)
    how = f" ({how})" if how else ""
    noun = query.noun or query.base.noun
    if not rows:
        return f"No {noun} matched{_qualifiers(query)}.{notes}"
    if query.is_listing:
        shown = "; ".join(", ".join(f"{c}: {v}" for c, v in list(zip(columns, row, strict=False))[:4])
                          for row in rows[:SHOWN_ROWS])  # fmt: skip
        more = f" (showing {SHOWN_ROWS} of {number_text(row_count)})" if row_count > SHOWN_ROWS else ""
        order = ""
        if query.order is not None and query.limit is not None:
            order = f", by {query.order.key} {'descending' if query.order.descending else 'ascending'}"
        return f"Found {number_text(row_count)} {noun}{_qualifiers(query)}{order}{more}: {shown}.{notes}"
    measure = query.measures[0]
    if not query.dimensions:
        value = number_text(rows[0][-1])
        if measure.function == "count":
            return f"There are {value} {noun}{_qualifiers(query)}.{notes}"
        if measure.function == "count_distinct":
            return f"There are {value} {measure.said}{_qualifiers(query)}.{notes}"
        if measure.function == "ratio":
            having = measure.condition.said if measure.condition else ""
            return f"{value}% of {noun} have {having}{_qualifiers(query)}.{notes}"
        word = _WORDS.get(measure.function, "")
        title = f"The {word} {measure.said}".replace("  ", " ") if word else f"The {measure.said or 'value'}"
        return f"{title} is {value}{how}{_qualifiers(query)}.{notes}"
    width = len(columns) - len(query.measures)
    pairs = [f"{', '.join(str(v) for v in row[:width])} ({number_text(row[-1])})" for row in rows[:SHOWN_GROUPS]]
    more = f", and {number_text(row_count - SHOWN_GROUPS)} more" if row_count > SHOWN_GROUPS else ""
    groups = ", ".join(d.alias.replace("_", " ") for d in query.dimensions)
    if query.limit is not None and query.order is not None:
        order = "Top" if query.order.descending else "Bottom"
        said = measure.said or "number of rows"
        return f"{order} {len(rows)} {noun} by {said}{how}{_qualifiers(query)}: {', '.join(pairs)}.{notes}"
    title = measure.said or _WORDS.get(measure.function, measure.function)
    return f"{title[0].upper()}{title[1:]} by {groups}{how}{_qualifiers(query)}: {', '.join(pairs)}{more}.{notes}"
