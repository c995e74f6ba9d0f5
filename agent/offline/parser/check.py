"""Stage 5: sanity rules a query must pass before it runs, and whether a result fits the question.

Before: an amount with a currency column next to it is summed per currency (or for the currency
the question names), never across currencies; integer columns named like times (``*_time``,
``*_at``) hold epoch seconds and are converted, not compared to date strings. After: the rows of
``run_query`` have the shape the question asked for (a top 5 has at most 5 rows, a per-group
answer has its group column); a misfit is said in the answer rather than hidden.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from agent.offline.knowledge import Column, Table
from agent.offline.parser.ir import Dimension, Filter, Query, Ref

_CURRENCY_NAME = re.compile(r"^(currency|currency_code|curr|ccy|.*_currency)$")
_ISO_CODE = re.compile(r"\b([A-Z]{3})\b")


def currency_of(table: Table) -> Column | None:
    return next((c for c in table.columns if _CURRENCY_NAME.match(c.name.lower()) and not c.masked), None)


def sane(query: Query, question: str) -> Query:
    """``query`` with amounts kept apart by currency; ``question`` as typed (currency codes)."""
    for measure in query.measures:
        if measure.function not in ("sum", "avg", "min", "max") or measure.ref is None:
            continue
        currency = currency_of(measure.ref.table)
        if currency is None:
            continue
        ref = Ref(measure.ref.table, currency)
        if any(f.ref == ref for f in query.filters) or any(d.ref == ref for d in query.dimensions):
            continue
        samples = {str(v).upper() for v in currency.samples}
        named = [code for code in _ISO_CODE.findall(question) if not samples or code in samples]
        if named:
            condition = Filter(ref, "=", named[0], said=f"{currency.name} = {named[0]}")
            return replace(query, filters=(*query.filters, condition))
        said = f"summed per {currency.name}: {measure.ref.column.name} is in several currencies"
        return replace(query, dimensions=(*query.dimensions, Dimension(ref)),
                       assumptions=(*query.assumptions, said))  # fmt: skip
    return query


def misfits(query: Query, observation: dict[str, Any]) -> list[str]:
    """What in the rows does not fit the question (empty when all is well)."""
    problems = []
    rows = observation.get("rows") or []
    columns = [str(c) for c in observation.get("columns") or []]
    if query.limit is not None and len(rows) > query.limit:
        problems.append(f"the query returned {len(rows)} rows where {query.limit} were asked for")
    for dimension in query.dimensions:
        if columns and dimension.alias not in columns:
            problems.append(f"the result has no {dimension.alias} column to group by")
    if not query.dimensions and query.measures and len(rows) > 1:
        problems.append("one value was asked for but several rows came back")
    return problems
