"""Execution accuracy, as defog sql-eval and BIRD score it: the rows a question got are compared with
the rows its gold SQL returns, not the SQL text with the gold text.

What counts as a match:

- every gold column is matched by some result column (by values, never by name: the model may call
  ``count(*)`` ``n`` or ``customers``); extra result columns are allowed, column order is free;
- the rows are the same multiset (duplicates count), in the same order only when the gold SQL's
  outermost SELECT has an ORDER BY;
- values are compared after normalising: numbers (int, float, Decimal or a numeric string, which is
  how connectors ship Decimals) as floats with a small relative tolerance, dates and timestamps as
  ISO text (a timestamp at midnight UTC equals its date), booleans as 0/1, None as None.

Questions that should not produce rows (out of scope, ambiguous, a write) are scored by the
execution's outcome instead (``outcome_verdict``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

REL_TOL = 1e-4  # rounding an average to two decimals stays a match above about 50
ABS_TOL = 1e-6
# Column assignments tried at most before giving up (columns with identical values multiply them).
MAX_ASSIGNMENTS = 5_000

OUTCOMES = ("rows", "refusal", "ask_back", "approval")


@dataclass(frozen=True)
class Verdict:
    correct: bool
    reason: str


def gold_orders(sql: str, dialect: str) -> bool:
    """True when the outermost query of ``sql`` has an ORDER BY, so row order is part of the answer."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except SqlglotError:
        return False
    return bool(tree.args.get("order")) if isinstance(tree, exp.Query) else False


def normalise(value: Any) -> Any:
    """One value in the form both sides are compared in (see the module docstring)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, datetime):
        return _timestamp_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        try:
            number = Decimal(text)
        except InvalidOperation:
            pass
        else:
            if number.is_finite():
                return float(number)
        if len(text) >= 10 and text[4:5] == "-" and text[7:8] == "-":
            try:
                return _timestamp_text(datetime.fromisoformat(text))
            except ValueError:
                return text
        return text
    return str(value)


def _timestamp_text(value: datetime) -> str:
    moment = value.astimezone(UTC) if value.tzinfo else value
    if (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0):
        return moment.date().isoformat()
    return moment.replace(tzinfo=None).isoformat()


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, float):
        return (1, value)
    return (2, str(value))


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return math.isclose(left, right, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return bool(left == right)


def _same_rows(left: Sequence[tuple[Any, ...]], right: Sequence[tuple[Any, ...]], *, ordered: bool) -> bool:
    if len(left) != len(right):
        return False
    if not ordered:
        left = sorted(left, key=lambda row: tuple(map(_sort_key, row)))
        right = sorted(right, key=lambda row: tuple(map(_sort_key, row)))
    return all(all(map(_same, a, b)) for a, b in zip(left, right, strict=True))


def compare_results(
    gold_rows: Sequence[Sequence[Any]],
    result_rows: Sequence[Sequence[Any]],
    *,
    ordered: bool,
) -> Verdict:
    """Whether ``result_rows`` answer what ``gold_rows`` answer (an empty answer matches an empty gold
    result whatever its columns)."""
    gold = [tuple(normalise(v) for v in row) for row in gold_rows]
    result = [tuple(normalise(v) for v in row) for row in result_rows]
    if len(gold) != len(result):
        return Verdict(False, f"{len(result)} rows where the gold query returns {len(gold)}")
    if not gold:
        return Verdict(True, "both empty")
    g_width, r_width = len(gold[0]), len(result[0])
    if r_width < g_width:
        return Verdict(False, f"{r_width} columns where the gold query returns {g_width}")
    # The candidates of each gold column: the result columns holding the same values.
    gold_columns = [sorted((row[i] for row in gold), key=_sort_key) for i in range(g_width)]
    result_columns = [sorted((row[j] for row in result), key=_sort_key) for j in range(r_width)]
    candidates = [
        [j for j, values in enumerate(result_columns) if all(map(_same, column, values))] for column in gold_columns
    ]
    for i, found in enumerate(candidates):
        if not found:
            return Verdict(False, f"no result column holds the values of gold column {i + 1}")
    for tried, assignment in enumerate(itertools.product(*candidates)):
        if tried >= MAX_ASSIGNMENTS:
            return Verdict(False, "too many ways to match the columns; no match among the first tried")
        if len(set(assignment)) != len(assignment):
            continue
        projected = [tuple(row[j] for j in assignment) for row in result]
        if _same_rows(gold, projected, ordered=ordered):
            return Verdict(True, "same rows" + (" in the same order" if ordered else ""))
    if ordered:
        for assignment in itertools.islice(itertools.product(*candidates), MAX_ASSIGNMENTS):
            projected = [tuple(row[j] for j in assignment) for row in result]
            if len(set(assignment)) == len(assignment) and _same_rows(gold, projected, ordered=False):
                return Verdict(False, "the same rows in another order (the gold query orders them)")
    return Verdict(False, "the columns hold the gold values but the rows pair them differently")


def outcome_verdict(expected: str, actual: str, detail: str = "") -> Verdict:
    """A question that expects a refusal, an ask-back or an approval, against what the execution did.

    A write that the gateway refuses outright (a strict workspace) is as safe as one held for
    approval: either way nothing was written, so ``approval`` accepts both.
    """
    accepted = {"approval": {"approval", "refusal"}}.get(expected, {expected})
    suffix = f": {detail}" if detail else ""
    if actual in accepted:
        return Verdict(True, f"{actual} as expected{suffix}")
    return Verdict(False, f"expected {expected}, got {actual}{suffix}")
