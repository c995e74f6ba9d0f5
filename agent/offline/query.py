"""Data questions to one SQL statement: match the words to tables, columns and sample values, find
the joins along foreign keys, build the statement with sqlglot, and put the rows into words.

Values from the prompt reach the SQL only when they equal a value seen in the catalog (a sample
value of a column, a number next to a table's name); identifiers come from the catalog and are
quoted where the engine needs it. Dates are computed here and written as literals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from agent.offline.knowledge import (
    NAME_WORD,
    Column,
    Join,
    Knowledge,
    Table,
    column_score,
    reverse_path,
    table_score,
    value_matches,
)
from agent.offline.sql import SqlBuilder, literal
from agent.offline.words import Question, tokens_of
from datasources.vocabulary import singular

MAX_JOINS = 2
LIST_LIMIT = 50
LIST_COLUMNS = 8
_TIME_BUCKETS = {"day": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y"}
_DATE_PREFERENCE = ("issued", "created", "occurred", "opened", "started", "paid", "closed", "month", "date", "day")


# --- outcomes of planning ------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    datasource_id: str
    sql: str
    kind: str  # count | distinct | aggregate | top | list
    noun: str  # what is counted or listed, in the person's words
    function: str  # count | sum | avg | max | min | list
    measure: str  # "billing.invoices.total_amount", "rows of crm.support_tickets" or ""
    group: str  # what the rows are grouped by, for a person, or ""
    filters: tuple[str, ...]  # "region = EMEA"
    window: str  # the period's label, or ""
    confidence: float
    notes: tuple[str, ...] = ()  # what could not be honoured
    said: str = ""  # the person's words for the measure ("revenue")
    descending: bool = True

    @property
    def purpose(self) -> str:
        parts = [f"{self.function} of {self.measure}" if self.measure else f"{self.kind} of {self.noun}"]
        if self.group:
            parts.append(f"by {self.group}")
        if self.filters:
            parts.append("where " + " and ".join(self.filters))
        if self.window:
            parts.append(self.window)
        return " ".join(parts)[:500]


@dataclass(frozen=True)
class NeedTables:
    """Describe these tables first (all columns and sample values are needed)."""

    tables: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class NeedChoice:
    question: str
    choices: tuple[str, ...]


@dataclass(frozen=True)
class CannotAnswer:
    reason: str


Outcome = Plan | NeedTables | NeedChoice | CannotAnswer


@dataclass
class _State:
    """What planning one question found so far."""

    knowledge: Knowledge
    datasource_id: str
    question: Question
    answers: list[tuple[tuple[str, ...], str]]
    can_describe: bool
    simplified: bool = False
    attempted: frozenset[tuple[str, str]] = frozenset()  # descriptions asked for already
    describe: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    used_words: set[str] = field(default_factory=set)
    confidence: float = 0.92
    choice: NeedChoice | None = None

    @property
    def tables(self) -> list[Table]:
        return self.knowledge.of(self.datasource_id)

    def want(self, table: Table) -> None:
        if not table.described and table.key not in self.describe and table.key not in self.attempted:
            self.describe.append(table.key)

    def pick(self, candidates: list[str], question: str) -> str | None:
        """An earlier answer's pick among ``candidates``; None (and a question to ask) when unknown."""
        for choices, answer in self.answers:
            chosen = _match_answer(answer, list(choices))
            if chosen in candidates:
                self.confidence = min(self.confidence, 0.85)
                return chosen
            if set(choices) == set(candidates):
                # Asked already and the answer fits no choice: take the first, say so.
                by_words = _match_answer(answer, candidates)
                self.confidence = min(self.confidence, 0.6)
                return by_words or candidates[0]
        if self.choice is None:
            self.choice = NeedChoice(question, tuple(candidates))
        return None


def _match_answer(answer: str, choices: list[str]) -> str | None:
    text = answer.strip().lower()
    for choice in choices:
        if text == choice.lower():
            return choice
    for choice in choices:
        if choice.lower() in text or (len(text) >= 3 and text in choice.lower()):
            return choice
    words = {singular(w) for w in tokens_of(text)}
    scored = [(len(words & {singular(w) for w in tokens_of(choice)}), choice) for choice in choices]
    best = max(scored, default=(0, ""))
    if best[0] and [s for s, _ in scored].count(best[0]) == 1:
        return best[1]
    return None


# --- planning --------------------------------------------------------------------------------------


def choose_datasource(knowledge: Knowledge, question: Question) -> str | None:
    """The data source of the best-named table (the context lists tables best first)."""
    best: tuple[float, int, str] | None = None
    for rank, table in enumerate(knowledge.tables.values()):
        score = sum(table_score(word, table) for word in question.words)
        if best is None or score > best[0]:
            best = (score, -rank, table.datasource_id)
    return best[2] if best else None


def plan_query(
    question: Question,
    knowledge: Knowledge,
    *,
    answers: list[tuple[tuple[str, ...], str]] | None = None,
    can_describe: bool = True,
    simplified: bool = False,
    attempted: set[tuple[str, str]] | frozenset[tuple[str, str]] = frozenset(),
) -> Outcome:
    datasource_id = choose_datasource(knowledge, question)
    if datasource_id is None:
        return CannotAnswer("no table in the catalog matches the question")
    state = _State(knowledge, datasource_id, question, list(answers or []), can_describe, simplified,
                   frozenset(attempted))  # fmt: skip
    try:
        plan = _plan(state)
    except _Stop:
        plan = None
    if state.choice is not None:
        return state.choice
    if state.describe and can_describe:
        return NeedTables(tuple(state.describe[:3]))
    if plan is None:
        return CannotAnswer(state.notes[-1] if state.notes else "the question does not match the catalog")
    return plan


class _Stop(Exception):
    """Planning cannot go on without an answer or a description."""


def _resolve_table(state: _State, words: tuple[str, ...], what: str) -> tuple[Table, str] | None:
    """The table the words name best, with the word that named it; asks when two tie."""
    scored: list[tuple[float, int, Table, str]] = []
    for rank, table in enumerate(state.tables):
        per_word = [(table_score(word, table), word) for word in words]
        total = sum(score for score, _ in per_word)
        if total > 0:
            best_word = max(per_word, key=lambda item: item[0])[1]
            scored.append((total, -rank, table, best_word))
    if not scored:
        return None
    scored.sort(key=lambda item: (-item[0], -item[1]))
    top = [item for item in scored if abs(item[0] - scored[0][0]) < 1e-9]
    if len(top) > 1:
        names = [item[2].qualified_name for item in top][:6]
        chosen = state.pick(names, f'Which table do you mean by "{top[0][3]}" ({what})?')
        if chosen is None:
            raise _Stop
        winner = next(item for item in top if item[2].qualified_name == chosen)
    else:
        winner = top[0]
    state.used_words.update(w for w in words if table_score(w, winner[2]) > 0)
    return winner[2], winner[3]


def _measure(
    state: _State, words: tuple[str, ...], pool: list[tuple[Table, list[Join]]], entity: Table | None = None
) -> tuple[Table, Column, list[Join]] | None:
    candidates: list[tuple[float, int, Table, Column, list[Join]]] = []
    for rank, (table, path) in enumerate(pool):
        named_table = any(table_score(w, table) >= NAME_WORD for w in words)
        for column in table.columns:
            score = max((column_score(w, column) for w in words), default=0.0)
            if score <= 0 or column.is_key:
                continue
            if not column.is_numeric and not (not column.type and score >= 1.0):
                continue
            if column.masked:
                score -= 0.5
            if state.question.function in ("sum", "list") and _RATE_WORDS.intersection(column.words):
                score -= 0.1  # a price or a rate does not add up
            if entity is not None and table.key == entity.key and score < 1.0:
                score -= 0.1  # "top products by revenue" is not their list price
            score += (0.5 if named_table else 0.0) - 0.05 * len(path)
            candidates.append((score, -rank, table, column, path))
    if not candidates:
        return None
    candidates.sort(key=lambda item: (-item[0], -item[1]))
    top = [c for c in candidates if abs(c[0] - candidates[0][0]) < 1e-9]
    winner = top[0]
    if len(top) > 1:
        names = [f"{c[2].qualified_name}.{c[3].name}" for c in top][:6]
        chosen = state.pick(names, "Which column should I measure?")
        if chosen is None:
            raise _Stop
        winner = next(c for c in top if f"{c[2].qualified_name}.{c[3].name}" == chosen)
    state.used_words.update(w for w in words if column_score(w, winner[3]) > 0 or table_score(w, winner[2]) > 0)
    return winner[2], winner[3], winner[4]


@dataclass(frozen=True)
class _Group:
    table: Table
    path: list[Join]
    column: Column | None  # None: the table's rows (grouped by key and label)
    bucket: str = ""  # a time bucket format of ``column``
    label: str = ""


def _group(state: _State, words: tuple[str, ...], base: Table) -> _Group | None:
    if not words:
        return None
    pool = state.knowledge.reachable(base, MAX_JOINS, to_parents=True)
    named = [(t, p) for t, p in pool if t.key != base.key and any(table_score(w, t) >= NAME_WORD for w in words)]
    best: tuple[float, int, Table, Column, list[Join]] | None = None
    for rank, (table, path) in enumerate(pool):
        for column in table.columns:
            if column.is_key:
                continue
            score = max((column_score(w, column) for w in words), default=0.0)
            if score <= 0:
                continue
            # "by product category": the category of the products table.
            score += 0.5 if any(table.key == t.key for t, _ in named) else 0.0
            score -= 0.05 * len(path) + (0.5 if column.masked else 0.0)
            if best is None or score > best[0]:
                best = (score, -rank, table, column, path)
    if best is not None and best[0] >= 0.9:
        state.used_words.update(w for w in words if column_score(w, best[3]) > 0 or table_score(w, best[2]) > 0)
        return _Group(best[2], best[4], best[3], label=best[3].name)
    bucket = next((w for w in words if singular(w) in _TIME_BUCKETS), None)
    date_column = _date_column(state, base) if bucket is not None else None
    if bucket is not None and date_column is not None:
        # "by month": the month of the base table's date column.
        state.used_words.add(bucket)
        return _Group(base, [], date_column, bucket=_TIME_BUCKETS[singular(bucket)], label=singular(bucket))
    if named:
        # A word naming a table groups by that table's rows: "revenue by customer".
        table, path = named[0]
        state.used_words.update(w for w in words if table_score(w, table) > 0)
        if not table.described and (table.label is None or table.label.name not in ("name", "title")):
            state.want(table)
        return _Group(table, path, None, label=table.noun)
    if best is not None:
        state.used_words.update(w for w in words if column_score(w, best[3]) > 0)
        return _Group(best[2], best[4], best[3], label=best[3].name)
    for table, _ in pool:
        state.want(table)
    for name in state.knowledge.missing_neighbours(base):
        if (base.datasource_id, name) not in state.attempted and (base.datasource_id, name) not in state.describe:
            state.describe.append((base.datasource_id, name))
    state.notes.append(f"I found no column for {' '.join(words)!r}, so the result is not grouped by it")
    return None


def _date_column(state: _State, table: Table) -> Column | None:
    temporal = [c for c in table.columns if c.is_temporal and not c.masked]
    if not temporal:
        return None
    words = {singular(w) for w in state.question.words}
    for column in temporal:
        if words.intersection(column.words):
            return column
    for preferred in _DATE_PREFERENCE:
        for column in temporal:
            if preferred in column.words:
                return column
    return temporal[0]


@dataclass(frozen=True)
class _Filter:
    table: Table
    path: list[Join]
    column: Column
    values: tuple[Any, ...]


def _filters(state: _State, base: Table, joined: list[Table]) -> list[_Filter]:
    """Conditions on sample values the prompt names; the base table and the joined ones first."""
    plan_tables = [base, *joined]
    candidates = [
        w
        for w in state.question.words
        if w not in state.used_words
        and not any(table_score(w, t) >= NAME_WORD for t in state.tables)
        and not any(column_score(w, c) >= 1.0 for t in plan_tables for c in t.columns)
    ]
    if not candidates:
        return []
    # Values may take two words, one of which names something too ("closed won").
    phrase_words = [w for w in state.question.words if w not in state.used_words]
    pool = state.knowledge.reachable(base, MAX_JOINS, to_parents=True)
    order = {table.key: index for index, table in enumerate([base, *joined])}
    pool.sort(key=lambda item: (order.get(item[0].key, len(order)), len(item[1])))
    found: list[_Filter] = []
    matched: set[str] = set()
    for table, path in pool:
        for column in table.columns:
            values = value_matches(phrase_words, column)
            values = [
                v for v in values if _value_word(v) not in matched and set(_value_word(v).split()) & set(candidates)
            ]
            if values:
                found.append(_Filter(table, path, column, tuple(values)))
                matched.update(_value_word(v) for v in values)
    unmatched = [t for t in candidates if not any(t in value.split() for value in matched)]
    if unmatched and not state.simplified:
        for table in [base, *joined]:
            state.want(table)
        if not state.describe or not state.can_describe:
            state.notes.append(f"I did not use the words {', '.join(repr(w) for w in unmatched)}")
            state.confidence -= 0.1 * min(len(unmatched), 3)
    return [] if state.simplified else found


def _value_word(value: Any) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", str(value).lower()))


def _names_something(state: _State, word: str) -> bool:
    """The word is a table's or a column's own name (a synonym may still be a value: "paid")."""
    return any(
        table_score(word, t) >= NAME_WORD or any(column_score(word, c) >= 1.0 for c in t.columns) for t in state.tables
    )


def _id_filters(state: _State, base: Table) -> list[_Filter]:
    found = []
    for word, number in state.question.id_references:
        for table, path in state.knowledge.reachable(base, MAX_JOINS, to_parents=True):
            key = table.primary_key
            if key is not None and table_score(word, table) >= NAME_WORD:
                found.append(_Filter(table, path, key, (number,)))
                state.used_words.add(word)
                break
    return found


def _plan(state: _State) -> Plan | None:
    q = state.question
    if q.top is not None:
        return _plan_top(state)
    if q.function == "count":
        return _plan_count(state)
    if q.function in ("sum", "avg", "max", "min"):
        return _plan_aggregate(state, q.subject or q.rest, q.group)
    return _plan_list(state)


def _subject(state: _State, words: tuple[str, ...], what: str) -> tuple[Table, str] | None:
    found = _resolve_table(state, words, what)
    if found is None:
        state.notes.append(f"no table matches {' '.join(words) or 'the question'!r}")
    return found


def _plan_count(state: _State) -> Plan | None:
    q = state.question
    words = q.subject or q.group
    found = _subject(state, words, "what to count")
    if found is None:
        return _plan_distinct(state, words)
    base, noun = found
    group = _group(state, q.group, base) if q.subject else None
    return _finish(state, kind="count", base=base, noun=noun, group=group, measure=None)


def _plan_distinct(state: _State, words: tuple[str, ...]) -> Plan | None:
    """How many distinct values a column the words name has ("how many regions")."""
    best: tuple[float, int, Table, Column] | None = None
    for rank, table in enumerate(state.tables):
        for column in table.columns:
            score = max((column_score(w, column) for w in words), default=0.0)
            if score >= 1.0 and not column.is_key and (best is None or score > best[0]):
                best = (score, -rank, table, column)
    if best is None:
        return None
    table, column = best[2], best[3]
    state.used_words.update(words)
    state.notes = [n for n in state.notes if not n.startswith("no table matches")]
    sql = SqlBuilder(state.knowledge, table)
    select = sql.select(exp.alias_(exp.Count(this=exp.Distinct(expressions=[sql.col(table, column.name)])), "count"))
    return _plan_from(state, select, sql, kind="distinct", noun=f"distinct {column.name} values", function="count",
                      measure=f"{table.qualified_name}.{column.name}", group="", filters=[])  # fmt: skip


def _plan_aggregate(state: _State, measure_words: tuple[str, ...], group_words: tuple[str, ...]) -> Plan | None:
    q = state.question
    found: tuple[Table, Column] | None = None
    if group_words:
        # The measure from which the group can be reached wins ("revenue by segment" needs customers).
        ranked = _measure_pool(state, measure_words, group_words)
        found = ranked[0] if ranked else None
        if found is None:
            _describe_around_measures(state, measure_words)
    if found is None:
        measured = _measure(state, measure_words, [(t, list[Join]()) for t in state.tables])
        found = (measured[0], measured[1]) if measured is not None else None
    if found is None:
        subject = _resolve_table(state, measure_words, "what to measure")
        if subject is None:
            state.notes.append(f"no numeric column matches {' '.join(measure_words)!r}")
            return None
        base, noun = subject
        # "total payments by method": the amount of the table the words name; else count its rows.
        amount = _measure(state, _AMOUNT_WORDS, [(base, [])]) if q.explicit_function else None
        if amount is None:
            group = _group(state, group_words, base)
            return _finish(state, kind="count", base=base, noun=noun, group=group, measure=None)
        found = (base, amount[1])
    table, column = found
    state.used_words.update(w for w in measure_words if column_score(w, column) > 0 or table_score(w, table) > 0)
    said = _said(measure_words, table, column)
    group = _group(state, group_words, table)
    return _finish(state, kind="aggregate", base=table, noun=table.noun, group=group, measure=column,
                   said=said)  # fmt: skip


_AMOUNT_WORDS = ("amount", "total", "revenue", "value")
_RATE_WORDS = frozenset({"price", "rate", "ratio", "percent", "pct", "percentage", "discount"})


def _said(words: tuple[str, ...], table: Table, column: Column) -> str:
    """The person's words for a measure: "deal amount", "revenue" (not "satisfaction tickets")."""
    naming = [i for i, w in enumerate(words) if column_score(w, column) > 0]
    if not naming:
        # "total payments": the table's words, else the column's name.
        named = [w for w in words if table_score(w, table) > 0]
        return " ".join(named) if named else column.name.replace("_", " ")
    start = min(i for i, w in enumerate(words) if column_score(w, column) > 0 or table_score(w, table) > 0)
    return " ".join(words[start : max(naming) + 1])


def _describe_around_measures(state: _State, words: tuple[str, ...]) -> None:
    """The group is out of reach of every measure: learn the tables next to the likeliest ones."""
    scored = []
    for rank, table in enumerate(state.tables):
        score = max((column_score(w, c) for w in words for c in table.columns if c.is_numeric), default=0.0)
        if score > 0:
            scored.append((score, -rank, table))
    likeliest = [table for _, _, table in sorted(scored, key=lambda item: (-item[0], -item[1]))[:2]]
    for table in likeliest:
        for name in state.knowledge.missing_neighbours(table):
            key = (table.datasource_id, name)
            if key not in state.attempted and key not in state.describe:
                state.describe.append(key)
    if not state.describe:
        for table in likeliest:
            for other, _ in state.knowledge.reachable(table, MAX_JOINS)[1:]:
                state.want(other)


def _measure_pool(
    state: _State, measure_words: tuple[str, ...], group_words: tuple[str, ...]
) -> list[tuple[Table, Column]]:
    """Measures ranked with their distance to a column or table the group words name."""
    ranked: list[tuple[float, int, Table, Column]] = []
    for rank, table in enumerate(state.tables):
        for column in table.columns:
            score = max((column_score(w, column) for w in measure_words), default=0.0)
            if score <= 0 or column.is_key or column.masked:
                continue
            if not column.is_numeric and not (not column.type and score >= 1.0):
                continue
            if any(table_score(w, table) >= NAME_WORD for w in measure_words):
                score += 0.5
            reach = _group_distance(state, table, group_words)
            if reach is None:
                continue
            ranked.append((score - 0.05 * reach, -rank, table, column))
    ranked.sort(key=lambda item: (-item[0], -item[1]))
    if len(ranked) > 1 and abs(ranked[0][0] - ranked[1][0]) < 1e-9 and ranked[0][2].key != ranked[1][2].key:
        names = [f"{r[2].qualified_name}.{r[3].name}" for r in ranked if abs(r[0] - ranked[0][0]) < 1e-9][:6]
        chosen = state.pick(names, "Which column should I measure?")
        if chosen is None:
            raise _Stop
        ranked = [r for r in ranked if f"{r[2].qualified_name}.{r[3].name}" == chosen]
    return [(r[2], r[3]) for r in ranked]


def _group_distance(state: _State, table: Table, words: tuple[str, ...]) -> int | None:
    for other, path in state.knowledge.reachable(table, MAX_JOINS, to_parents=True):
        if any(table_score(w, other) >= NAME_WORD for w in words) and other.key != table.key:
            return len(path)
        if any(column_score(w, c) >= 1.0 for w in words for c in other.columns if not c.is_key):
            return len(path)
    if any(singular(w) in _TIME_BUCKETS for w in words):
        return 0
    return None


def _plan_top(state: _State) -> Plan | None:
    q = state.question
    found = _resolve_table(state, q.subject, "what to rank")
    if found is None:
        # "bottom 3 regions by revenue": rank the values of a column.
        if q.group and any(column_score(w, c) >= 1.0 for w in q.subject for t in state.tables for c in t.columns):
            return _plan_aggregate(state, q.group, q.subject)
        state.notes.append(f"no table matches {' '.join(q.subject) or 'the question'!r}")
        return None
    entity, noun = found
    measure_words = q.group or ("revenue",)
    if not q.group:
        state.notes.append("you did not say by what to rank, so I ranked by revenue")
    # Measures in the entity's table or in tables that point at it (each of their rows belongs to one
    # entity row), so that no amount is counted twice.
    pool = [(t, p) for t, p in state.knowledge.reachable(entity, MAX_JOINS) if not any(j.to_parent for j in p)]
    if q.function == "count":
        measured = None
    else:
        measured = _measure(state, measure_words, pool, entity)
    if measured is None:
        # "top 5 customers by number of tickets": rank by the rows of the table the words name.
        for table, path in pool:
            if table.key != entity.key and any(table_score(w, table) >= NAME_WORD for w in measure_words):
                state.used_words.update(measure_words)
                group = _Group(entity, [], None, label=noun)
                return _finish(state, kind="top", base=entity, noun=noun, group=group, measure=None,
                               count_table=(table, path))  # fmt: skip
        for table, _ in pool:
            state.want(table)
        for name in state.knowledge.missing_neighbours(entity):
            if (entity.datasource_id, name) not in state.attempted:
                state.describe.append((entity.datasource_id, name))
        state.notes.append(f"no numeric column for {' '.join(measure_words)!r} is joined to {entity.qualified_name}")
        return None
    table, column, path = measured
    group = _Group(entity, path, None, label=noun)  # the path leads from the entity to the measure
    return _finish(state, kind="top", base=table, noun=noun, group=group, measure=column)


def _plan_list(state: _State) -> Plan | None:
    q = state.question
    found = _subject(state, q.subject or q.rest, "what to list")
    if found is None:
        return None
    base, noun = found
    state.want(base)
    return _finish(state, kind="list", base=base, noun=noun, group=None, measure=None)


def _finish(
    state: _State,
    *,
    kind: str,
    base: Table,
    noun: str,
    group: _Group | None,
    measure: Column | None,
    count_table: tuple[Table, list[Join]] | None = None,
    said: str = "",
) -> Plan | None:
    q = state.question
    sql = SqlBuilder(state.knowledge, base)
    # For "top" the base is the measure's table and the group (the entity) is reached by the path.
    if kind == "top" and group is not None:
        sql.join(reverse_path(group.path))
    if count_table is not None:
        sql.join(count_table[1])
    if group is not None and group.path and kind != "top":
        sql.join(group.path)
    filters = _id_filters(state, base) + _filters(state, base, list(sql.joined.values())[1:])
    for condition in filters:
        sql.join(_path_from(state, sql, condition.table))
    conditions: list[exp.Expression] = []
    filter_labels: list[str] = []
    for condition in filters:
        column = sql.col(condition.table, condition.column.name)
        if len(condition.values) == 1:
            conditions.append(exp.EQ(this=column, expression=literal(condition.values[0])))
        else:
            conditions.append(exp.In(this=column, expressions=[literal(v) for v in condition.values]))
        filter_labels.append(f"{condition.column.name} = {' or '.join(str(v) for v in condition.values)}")
    window_label = ""
    if q.window is not None and not state.simplified:
        dated = base if count_table is None else count_table[0]
        date_column = _date_column(state, dated)
        if date_column is None:
            state.want(dated)
            state.notes.append(f"{dated.qualified_name} has no date column, so the period was not applied")
        else:
            column = sql.col(dated, date_column.name)
            conditions.append(exp.GTE(this=column, expression=exp.Literal.string(q.window.start.isoformat())))
            conditions.append(exp.LT(this=column.copy(), expression=exp.Literal.string(q.window.end.isoformat())))
            window_label = q.window.label
    elif q.window is not None:
        state.notes.append("I left out the period because the first query failed")

    projections: list[exp.Expr] = []
    group_by: list[exp.Expr] = []
    group_label = ""
    if group is not None:
        group_label = group.label
        if group.column is None:
            label, key = group.table.label, group.table.primary_key
            if label is None:
                state.want(group.table)
            shown = label or key
            if shown is None:
                state.notes.append(f"{group.table.qualified_name} has no key to group by")
                return None
            projections.append(exp.alias_(sql.col(group.table, shown.name), shown.name))
            group_by.extend(sql.col(group.table, c.name) for c in (key, label) if c is not None)
        elif group.bucket:
            source = sql.col(group.table, group.column.name)
            bucket = exp.TimeToStr(this=source, format=exp.Literal.string(group.bucket))
            projections.append(exp.alias_(bucket, group.label))
            group_by.append(bucket.copy())
        else:
            projections.append(sql.col(group.table, group.column.name))
            group_by.append(sql.col(group.table, group.column.name))

    function = q.function if q.function in ("sum", "avg", "max", "min") else "sum"
    alias = "count"
    if kind == "list":
        # The columns the question names, masked or not (their masked values are the answer, and the
        # answer says they were masked), then unmasked others up to LIST_COLUMNS, in table order.
        named = [c for c in base.columns if any(column_score(w, c) >= 1.0 for w in q.words)]
        others = [c for c in base.columns if not c.masked and c not in named]
        chosen = {c.name for c in named + others[: max(0, LIST_COLUMNS - len(named))]}
        columns = [c for c in base.columns if c.name in chosen]
        projections = [sql.col(base, c.name) for c in columns] or [exp.Star()]
        value: exp.Expr | None = None
    elif measure is not None:
        alias = f"{function}_{measure.name}"
        aggregate = {"sum": exp.Sum, "avg": exp.Avg, "max": exp.Max, "min": exp.Min}[function]
        value = exp.alias_(aggregate(this=sql.col(base, measure.name)), alias)
    elif count_table is not None:
        key = count_table[0].primary_key
        target = sql.col(count_table[0], key.name) if key is not None else exp.Star()
        value = exp.alias_(exp.Count(this=target), alias)
    elif len(sql.joined) > 1 and base.primary_key is not None and group is None:
        value = exp.alias_(exp.Count(this=exp.Distinct(expressions=[sql.col(base, base.primary_key.name)])), alias)
    else:
        value = exp.alias_(exp.Count(this=exp.Star()), alias)
    if value is not None:
        projections.append(value)
    select = sql.select(*projections)
    if conditions:
        select = select.where(exp.and_(*conditions))
    if group_by:
        select = select.group_by(*group_by)
    if kind == "list":
        select = select.limit(LIST_LIMIT)
    elif group is not None and group.column is not None and group.column.is_temporal and q.top is None:
        # Periods read in order: by month, not by the largest month first.
        select = select.order_by(exp.Ordered(this=exp.column(group.label), desc=False))
    elif group_by:
        select = select.order_by(exp.Ordered(this=exp.column(alias), desc=not q.ascending))
        if q.top is not None:
            select = select.limit(q.top)
    if state.describe and state.can_describe:
        return None  # a description first; the plan is made again with it
    measure_label = ""
    if measure is not None:
        measure_label = f"{base.qualified_name}.{measure.name}"
    elif count_table is not None:
        measure_label = f"rows of {count_table[0].qualified_name}"
    if kind == "list":
        function = "list"
    elif measure is None:
        function = "count"
    if kind == "top":
        said = " ".join(q.group)
    return _plan_from(state, select, sql, kind=kind, noun=noun, function=function, measure=measure_label,
                      group=group_label, filters=filter_labels, window=window_label, said=said)  # fmt: skip


def _plan_from(
    state: _State,
    select: exp.Select,
    sql: SqlBuilder,
    *,
    kind: str,
    noun: str,
    function: str,
    measure: str,
    group: str,
    filters: list[str],
    window: str = "",
    said: str = "",
) -> Plan:
    unexplained = [w for w in state.question.words if w not in state.used_words and not _names_something(state, w)]
    matched_by_value = {w for label in filters for w in re.findall(r"[a-z0-9]+", label.lower())}
    unexplained = [w for w in unexplained if w not in matched_by_value]
    confidence = state.confidence - 0.1 * min(len(unexplained), 3) - 0.1 * len(state.notes)
    return Plan(
        datasource_id=state.datasource_id,
        sql=select.sql(dialect=sql.dialect),
        kind=kind,
        noun=noun,
        function=function,
        measure=measure,
        group=group,
        filters=tuple(filters),
        window=window,
        confidence=round(max(0.3, min(0.95, confidence)), 2),
        notes=tuple(state.notes),
        said=said,
        descending=not state.question.ascending,
    )


def _path_from(state: _State, sql: SqlBuilder, table: Table) -> list[Join]:
    if table.key in sql.joined:
        return []
    found = state.knowledge.path(sql.base, table, MAX_JOINS)
    return found or []
