"""The semantic parser of the offline model: a data question to one checked SQL statement.

Stages, each a module that can be tested alone:

- ``normalise``: tokens and their singulars, numbers in digits, the period as dates.
- ``link``: words to tables, columns and values of the context, with scores.
- ``ir``: the typed description of a question (measures, dimensions, filters, order, period).
- ``parse``: the question to that description, a choice to ask, tables to describe, or a refusal.
- ``check``: sanity rules before running (currencies) and whether the rows fit the question.
- ``compile``: the description to SQL with sqlglot, in the source's dialect, joins included.
- ``explain``: what was computed and assumed, in words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from agent.offline.knowledge import Knowledge
from agent.offline.parser.check import sane
from agent.offline.parser.compile import CompileError, compile_query
from agent.offline.parser.explain import purpose
from agent.offline.parser.ir import Choice, Describe, Query, Unanswerable
from agent.offline.parser.normalise import normalise
from agent.offline.parser.parse import match_answer, parse, unsaid_reference


@dataclass(frozen=True)
class Statement:
    """A question compiled: the query it was read as and its SQL."""

    datasource_id: str
    query: Query
    sql: str

    @property
    def purpose(self) -> str:
        return purpose(self.query)

    @property
    def confidence(self) -> float:
        return round(max(0.3, 0.92 - 0.1 * len(self.query.assumptions)), 2)


Outcome = Statement | Choice | Describe | Unanswerable


def plan(
    question: str,
    knowledge: Knowledge,
    today: date,
    *,
    answers: Sequence[tuple[tuple[str, ...], str]] = (),
    can_describe: bool = True,
    attempted: frozenset[tuple[str, str]] = frozenset(),
    metrics: dict[str, str] | None = None,
    simplified: bool = False,
) -> Outcome:
    """The whole pipeline for one question. ``metrics``: glossary terms -> SQL expressions."""
    norm = normalise(question, today)
    referred = unsaid_reference(norm, knowledge)
    if referred is not None:
        picked = next((match_answer(said, list(choices)) for choices, said in answers
                       if set(choices) == set(referred.choices)), None)  # fmt: skip
        if picked is None:
            return referred
        # The answer says what the question left out: read them together (the table's own name: a
        # schema's name is no part of what was asked, "sales" would read as a measure).
        norm = normalise(f"{question} ({picked.rsplit('.', 1)[-1]})", today)
    parsed = parse(norm, knowledge, answers=answers, can_describe=can_describe, attempted=attempted,
                   metrics=metrics, simplified=simplified)  # fmt: skip
    if not isinstance(parsed, Query):
        return parsed
    query = sane(parsed, norm.original)
    try:
        sql = compile_query(query, knowledge)
    except CompileError as error:
        return Unanswerable(str(error))
    return Statement(query.base.datasource_id, query, sql)


__all__ = ["Choice", "Describe", "Outcome", "Statement", "Unanswerable", "plan"]
