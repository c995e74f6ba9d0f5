"""Rows to words: the short answer the person reads, from a plan and its ``run_query`` observation."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from agent.offline.query import LIST_LIMIT, Plan


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


def _qualifiers(plan: Plan) -> str:
    parts = []
    if plan.filters:
        parts.append("with " + " and ".join(plan.filters))
    if plan.window:
        parts.append(f"in {plan.window}")
    return (" " + ", ".join(parts)) if parts else ""


def answer_from_rows(plan: Plan, observation: dict[str, Any]) -> str:
    """A short answer in words from a ``run_query`` observation."""
    rows = [list(row) for row in observation.get("rows") or [] if isinstance(row, list | tuple)]
    columns = [str(c) for c in observation.get("columns") or []]
    row_count = int(observation.get("row_count") or len(rows))
    notes = "".join(f" Note: {note}." for note in plan.notes)
    how = f" ({plan.function} of {plan.measure})" if plan.measure else ""
    if not rows:
        return f"No {plan.noun} matched{_qualifiers(plan)}.{notes}"
    if plan.kind in ("count", "distinct") and not plan.group:
        return f"There are {number_text(rows[0][0])} {plan.noun}{_qualifiers(plan)}.{notes}"
    if plan.kind == "aggregate" and not plan.group:
        word = {"sum": "total", "avg": "average", "max": "highest", "min": "lowest"}.get(plan.function, plan.function)
        return f"The {word} {plan.said or 'value'} is {number_text(rows[0][0])}{how}{_qualifiers(plan)}.{notes}"
    if plan.kind == "list":
        shown = "; ".join(
            ", ".join(f"{c}: {v}" for c, v in list(zip(columns, row, strict=False))[:4]) for row in rows[:5]
        )
        more = f" (showing 5 of {number_text(row_count)})" if row_count > 5 else ""
        found = f"the first {number_text(row_count)}" if row_count >= LIST_LIMIT else number_text(row_count)
        return f"Found {found} {plan.noun}{_qualifiers(plan)}{more}: {shown}.{notes}"
    pairs = [f"{row[0]} ({number_text(row[-1])})" for row in rows[:10]]
    more = f", and {number_text(row_count - 10)} more" if row_count > 10 else ""
    if plan.kind == "top":
        order = "Top" if plan.descending else "Bottom"
        by = plan.said or ("number of " + plan.measure.removeprefix("rows of ") if plan.measure else "count")
        return f"{order} {len(rows)} {plan.noun} by {by}{how}{_qualifiers(plan)}: {', '.join(pairs)}.{notes}"
    title = plan.said or (f"number of {plan.noun}" if plan.function == "count" else plan.function)
    return f"{title[0].upper()}{title[1:]} by {plan.group}{how}{_qualifiers(plan)}: {', '.join(pairs)}{more}.{notes}"
