"""Answering a question with a verified query: paraphrase detection with slots, and glossary matching.

Pure functions (no database, no settings), so the offline model and the parser can call them on
the context they are given. A verified query is a question a person checked with the SQL that
answers it. Another question is a paraphrase of it when, once the *slots* of both (numbers, dates,
periods, quoted strings, and words that appear as literals in the SQL) are set aside, their words
are nearly the same (rapidfuzz); the verified SQL is then rewritten with the new question's slot
values, by replacing sqlglot literal nodes, never by splicing strings.
"""

from __future__ import annotations

import calendar
import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import dateparser
import sqlglot
from rapidfuzz import fuzz
from sqlglot import exp
from sqlglot.errors import SqlglotError

from datasources.vocabulary import singular

# Words that change how a question is put, not what it asks.
_FILLER = frozenset(
    """a an the is are was were what whats which who how me my our us we i you please show give tell list find
    get display return can could would will do does did of for in on at by per to from with during within over
    and there their its it be been being all""".split()
)
# Similarity (rapidfuzz, 0-100) of the two questions' slot-free words above which they are paraphrases.
PARAPHRASE_THRESHOLD = 90.0

_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name} | {
    name.lower(): number for number, name in enumerate(calendar.month_abbr) if name
}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_UNIT = r"(day|week|month|quarter|year)s?"

# Slot patterns in the order they are looked for: an earlier kind wins over a later one.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("quoted", re.compile(r"\"([^\"]{1,200})\"|'([^']{1,200})'|“([^”]{1,200})”")),
    (
        "date",
        re.compile(
            rf"\b(\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}/\d{{1,2}}/\d{{4}}|\d{{1,2}}(?:st|nd|rd|th)? (?:{_MONTH})\.? \d{{4}}"
            rf"|(?:{_MONTH})\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}})\b",
            re.IGNORECASE,
        ),
    ),
    (
        "period",
        re.compile(
            rf"\b(q[1-4] \d{{4}}|\d{{4}} q[1-4]|(?:{_MONTH})\.? \d{{4}}|(?:last|previous|past|this|current) {_UNIT}"
            rf"|(?:last|past|previous) \d{{1,4}} {_UNIT}|today|yesterday|(?:19|20)\d{{2}})\b",
            re.IGNORECASE,
        ),
    ),
    ("number", re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w.])")),
)


@dataclass(frozen=True)
class Period:
    """A span of days: ``start`` included, ``end`` excluded."""

    start: date
    end: date

    @property
    def year(self) -> int | None:
        """The calendar year when the period is exactly one."""
        whole = self.start == date(self.start.year, 1, 1) and self.end == date(self.start.year + 1, 1, 1)
        return self.start.year if whole else None


@dataclass(frozen=True)
class Slot:
    kind: str  # quoted | date | period | number | value
    text: str  # as written in the question
    value: Any  # str for quoted/value, date for date, Period for period, float for number


@dataclass(frozen=True)
class _Parsed:
    tokens: tuple[str, ...]  # normalised words, each slot as one marker token ("§number")
    originals: tuple[str, ...]  # the same tokens as written (for a slot: its text)
    slots: tuple[Slot, ...] = field(default=())


@dataclass(frozen=True)
class Adaptation:
    """A verified query that answers the question: its SQL with the question's slot values."""

    sql: str
    score: float
    verified: dict[str, Any]


# --- periods and dates -------------------------------------------------------------------------


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def period_of(text: str, today: date) -> Period | None:
    """The days a period phrase ("Q1 2024", "march 2024", "last quarter", "2023") covers, seen from ``today``."""
    words = text.lower().replace(".", "").split()
    if len(words) == 1 and words[0].isdigit():
        year = int(words[0])
        return Period(date(year, 1, 1), date(year + 1, 1, 1))
    if words == ["today"]:
        return Period(today, today + timedelta(days=1))
    if words == ["yesterday"]:
        return Period(today - timedelta(days=1), today)
    if len(words) == 2 and {words[0][:1], words[1][:1]} & {"q"} and any(w.isdigit() for w in words):
        quarter = int(next(w for w in words if w.startswith("q"))[1])
        year = int(next(w for w in words if w.isdigit()))
        start = date(year, 3 * (quarter - 1) + 1, 1)
        return Period(start, _add_months(start, 3))
    if len(words) == 2 and words[0] in _MONTHS and words[1].isdigit():
        start = date(int(words[1]), _MONTHS[words[0]], 1)
        return Period(start, _add_months(start, 1))
    if len(words) == 3 and words[1].isdigit():  # last 30 days: a rolling window ending today
        count, unit = int(words[1]), words[2].rstrip("s")
        days = {"day": 1, "week": 7}.get(unit)
        if days is not None:
            return Period(today - timedelta(days=count * days - 1), today + timedelta(days=1))
        months = {"month": 1, "quarter": 3, "year": 12}[unit]
        return Period(_add_months(date(today.year, today.month, 1), -months * count), today + timedelta(days=1))
    if len(words) == 2:
        unit, current = words[1].rstrip("s"), words[0] in ("this", "current")
        if unit == "day":
            return period_of("today" if current else "yesterday", today)
        if unit == "week":
            start = today - timedelta(days=today.weekday()) - (timedelta() if current else timedelta(days=7))
            return Period(start, start + timedelta(days=7))
        months = {"month": 1, "quarter": 3, "year": 12}[unit]
        first = {1: date(today.year, today.month, 1), 3: _quarter_start(today), 12: date(today.year, 1, 1)}[months]
        start = first if current else _add_months(first, -months)
        return Period(start, _add_months(start, months))
    return None


def _date_of(text: str) -> date | None:
    parsed = dateparser.parse(text, languages=["en"], settings={"DATE_ORDER": "DMY", "STRICT_PARSING": True})
    return parsed.date() if parsed is not None else None


def _slot(kind: str, text: str, today: date) -> Slot | None:
    if kind == "quoted":
        return Slot(kind, text, text.strip("\"'“”"))
    if kind == "date":
        day = _date_of(text)
        return Slot(kind, text, day) if day is not None else None
    if kind == "period":
        period = period_of(text, today)
        return Slot(kind, text, period) if period is not None else None
    return Slot(kind, text, float(text))


# --- questions as words and slots --------------------------------------------------------------


def _words(text: str) -> list[tuple[str, str]]:
    """(normalised, as written) for each content word of a slot-free piece of text."""
    found = []
    for word in re.findall(r"[^\W_]+(?:['\u2019][^\W_]+)?", text):
        lower = word.lower()
        if lower not in _FILLER:
            found.append((singular(lower), word))
    return found


def parse_question(question: str, today: date, values: Iterable[str] = ()) -> _Parsed:
    """The question as normalised words with its slots marked. ``values``: the string literals of a
    query's SQL; where one is written in the question (as a whole word), it is a slot too."""
    spans: list[tuple[int, int, Slot]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e, _ in spans)

    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(question):
            slot = _slot(kind, match.group(0), today)
            if slot is not None and free(match.start(), match.end()):
                spans.append((match.start(), match.end(), slot))
    for value in sorted({v for v in values if v.strip()}, key=len, reverse=True):
        for match in re.finditer(rf"(?<!\w){re.escape(value)}(?!\w)", question, re.IGNORECASE):
            if free(match.start(), match.end()):
                spans.append((match.start(), match.end(), Slot("value", match.group(0), match.group(0))))
    tokens: list[str] = []
    originals: list[str] = []
    position = 0
    slots: list[Slot] = []
    for start, end, slot in sorted(spans, key=lambda s: s[0]):
        for normal, original in _words(question[position:start]):
            tokens.append(normal)
            originals.append(original)
        tokens.append(f"§{slot.kind}")
        originals.append(slot.text)
        slots.append(slot)
        position = end
    for normal, original in _words(question[position:]):
        tokens.append(normal)
        originals.append(original)
    return _Parsed(tuple(tokens), tuple(originals), tuple(slots))


def _align_values(verified: _Parsed, asked: _Parsed) -> _Parsed:
    """The asked question with the words standing where the verified question has a value slot
    ("... in EMEA" / "... in APAC") turned into value slots of their own."""
    if "§value" not in verified.tokens:
        return asked
    tokens, originals = list(asked.tokens), list(asked.originals)
    replaced: dict[int, tuple[int, int]] = {}  # first asked index -> (end, verified value index)
    matcher = difflib.SequenceMatcher(a=verified.tokens, b=asked.tokens, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "replace" and a2 - a1 == 1 and verified.tokens[a1] == "§value" and 1 <= b2 - b1 <= 3:
            if not any(t.startswith("§") for t in asked.tokens[b1:b2]):
                replaced[b1] = (b2, a1)
    if not replaced:
        return asked
    new_tokens, new_originals, slots = [], [], []
    slot_iter = iter(asked.slots)
    index = 0
    while index < len(tokens):
        if index in replaced:
            end, _ = replaced[index]
            text = " ".join(originals[index:end])
            new_tokens.append("§value")
            new_originals.append(text)
            slots.append(Slot("value", text, text))
            index = end
            continue
        if tokens[index].startswith("§"):
            slots.append(next(slot_iter))
        new_tokens.append(tokens[index])
        new_originals.append(originals[index])
        index += 1
    return _Parsed(tuple(new_tokens), tuple(new_originals), tuple(slots))


def similarity(verified: _Parsed, asked: _Parsed) -> float:
    """How alike two questions are once their slots are set aside (0-100)."""
    left, right = " ".join(verified.tokens), " ".join(asked.tokens)
    return max(fuzz.ratio(left, right), fuzz.token_sort_ratio(left, right))


# --- the SQL side ------------------------------------------------------------------------------


def _iso_day(text: str) -> tuple[date, str] | None:
    """A literal that starts with an ISO date: the date and what follows it (a time, kept as is)."""
    match = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})(.*)", text.strip())
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3])), match[4]
    except ValueError:
        return None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _number_literal(value: float) -> exp.Expression:  # a Neg around the literal when negative
    return exp.Literal.number(int(value) if value == int(value) else value)


def _replacements(literal: exp.Literal, old: Slot, new: Slot) -> exp.Expression | None:
    """The literal ``new`` puts where ``old`` stood, or None when this literal is not ``old``'s."""
    if old.kind in ("quoted", "value") and literal.is_string:
        text = literal.this
        core = text.strip("%")
        if core and core.casefold() == str(old.value).casefold():
            prefix, suffix = text[: len(text) - len(text.lstrip("%"))], text[len(text.rstrip("%")) :]
            return exp.Literal.string(f"{prefix}{new.value}{suffix}")
        return None
    if old.kind == "number" and not literal.is_string:
        return _number_literal(new.value) if _number(literal.this) == old.value else None
    if old.kind == "date" and literal.is_string:
        day = _iso_day(literal.this)
        return exp.Literal.string(new.value.isoformat() + day[1]) if day and day[0] == old.value else None
    if old.kind == "period":
        before, after = old.value, new.value
        if not literal.is_string:
            number = _number(literal.this)
            if before.year is not None and number == before.year and after.year is not None:
                return _number_literal(after.year)
            return None
        day = _iso_day(literal.this)
        if day is None:
            return None
        roles = {
            before.start: after.start,
            before.end: after.end,
            before.end - timedelta(days=1): after.end - timedelta(days=1),
        }
        return exp.Literal.string(roles[day[0]].isoformat() + day[1]) if day[0] in roles else None
    return None


def string_literals(sql: str, dialect: str) -> list[str]:
    """The string literals of a statement (what a question may name as a value); [] if unparsable."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except SqlglotError:
        return []
    return [node.this for node in tree.find_all(exp.Literal) if node.is_string]


def adapt(
    question: str, verified: dict[str, Any], *, dialect: str, today: date, verified_on: date | None = None
) -> Adaptation | None:
    """The verified query's SQL rewritten for ``question`` when the question is a paraphrase of the
    verified one, else None.

    ``verified`` carries ``question`` and ``sql``; ``verified_on`` is the day it was verified, from
    which its relative periods ("last quarter") were meant (``today`` when not given).
    """
    try:
        tree = sqlglot.parse_one(str(verified.get("sql") or ""), read=dialect)
    except SqlglotError:
        return None
    literals = [node for node in tree.find_all(exp.Literal)]
    values = [node.this for node in literals if node.is_string]
    old = parse_question(str(verified.get("question") or ""), verified_on or today, values)
    new = _align_values(old, parse_question(question, today))
    old_kinds = [s.kind for s in old.slots]
    if old_kinds != [s.kind for s in new.slots]:
        return None
    score = similarity(old, new)
    if score < PARAPHRASE_THRESHOLD:
        return None
    changes: dict[int, exp.Expression] = {}
    for before, after in zip(old.slots, new.slots, strict=True):
        found = False
        for literal in literals:
            replacement = _replacements(literal, before, after)
            if replacement is not None:
                found = True
                changes[id(literal)] = replacement
        if not found and before.value != after.value:
            return None  # the question names something the SQL does not take as a literal: not the same query
    for literal in literals:
        if id(literal) in changes:
            literal.replace(changes[id(literal)])
    return Adaptation(sql=tree.sql(dialect=dialect), score=score, verified=verified)


def best_adaptation(
    question: str, verified_queries: Sequence[dict[str, Any]], *, dialects: dict[str, str], today: date
) -> Adaptation | None:
    """The most similar verified query that adapts to ``question`` (each with ``datasource_id``, whose
    dialect ``dialects`` gives; one of an unknown source is skipped)."""
    best: Adaptation | None = None
    for verified in verified_queries:
        dialect = dialects.get(str(verified.get("datasource_id")))
        if dialect is None:
            continue
        verified_on = _iso_day(str(verified.get("verified_on") or ""))
        found = adapt(
            question, verified, dialect=dialect, today=today, verified_on=verified_on[0] if verified_on else None
        )
        if found is not None and (best is None or found.score > best.score):
            best = found
    return best


# --- the glossary ------------------------------------------------------------------------------


def _phrase(text: str) -> tuple[str, ...]:
    return tuple(normal for normal, _ in _words(text))


def glossary_matches(question: str, terms: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The glossary terms (each with ``term``, ``synonyms``, ``kind``, ``sql``...) a question names, by
    the term or one of its synonyms as whole words (plural or singular), longest phrases first, so
    "net revenue" wins over "revenue" where both are defined."""
    words = _phrase(question)
    taken: set[int] = set()
    found: list[dict[str, Any]] = []
    candidates = sorted(
        ((phrase, term) for term in terms for text in [term.get("term", ""), *(term.get("synonyms") or [])]
         if (phrase := _phrase(str(text)))),
        key=lambda item: -len(item[0]),
    )  # fmt: skip
    for phrase, term in candidates:
        size = len(phrase)
        for start in range(len(words) - size + 1):
            span = set(range(start, start + size))
            if words[start : start + size] == phrase and not span & taken:
                taken |= span
                if term not in found:
                    found.append(term)
                break
    return found
