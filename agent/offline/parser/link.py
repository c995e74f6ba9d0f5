"""Stage 2: words of the question linked to tables, columns and values of the context, with scores.

A name is read as words whatever its spelling: ``order_items``, ``order-items`` and ``OrderItems``
(lower-cased by the catalog to ``orderitems``) all match "order items", because two neighbouring
words of the question are also tried glued together. Near spellings score by ``rapidfuzz``; the
synonym groups of ``datasources.vocabulary`` and the words of column comments score lower than the
name itself. Values come only from what the context shows (sample values of described columns) or
from literals the question quotes; identifiers only from the catalog.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rapidfuzz import fuzz

from agent.offline.knowledge import Column, Knowledge, Table
from agent.offline.parser.normalise import Token, singular
from datasources.vocabulary import STOPWORDS, SYNONYM_GROUPS, name_tokens

# Words that say what to compute or how, never what to compute it on.
FUNCTION_WORDS = (
    frozenset(
        """how many much number count counts total totals sum sums average averages avg mean median top bottom show
    list give do does did we us our you have has had there what which who whose is are was were be been biggest
    largest highest lowest smallest maximum minimum max min overall all value values data please tell rows row
    records record entries best worst most least can could would should get find see display breakdown
    distribution compare grouped group split across over among currently current ever so far broken down up
    distinct different unique per each every than more fewer less greater above below under between not no
    without never any some only also just one ones percentage percent share proportion fraction ratio rate
    latest earliest newest oldest recent first last cheapest expensive ascending descending ordered sorted
    ranked rank along together name names named called their his her its them they it add added adding
    exist exists equal equals least within like containing contain contains include includes including
    how_many day days week weeks month months year years quarter quarters daily weekly monthly yearly quarterly
    annual annually since before after until during today yesterday ago""".split()
    )
    | STOPWORDS
)

_SYNONYMS: dict[str, frozenset[str]] = {}
for _group in SYNONYM_GROUPS:
    for _word in _group:
        _SYNONYMS[_word] = _SYNONYMS.get(_word, frozenset()) | frozenset(singular(w) for w in _group)

# Scores. A table's own noun beats another word of its name, which beats a synonym or a comment.
GLUED, NOUN, NAME_WORD, FUZZY, SCHEMA, SYNONYM_NOUN, COMMENT, SYNONYM_WORD = 3.5, 3.0, 2.0, 1.8, 1.2, 1.0, 0.8, 0.5
COLUMN_EXACT, COLUMN_WORD, COLUMN_FUZZY, COLUMN_SYNONYM, COLUMN_COMMENT = 1.5, 1.0, 0.8, 0.6, 0.35
# What a camelCase name lower-cased by the catalog ends with after its noun: ``customerid``.
_NAME_SUFFIXES = ("id", "name", "date", "time", "at", "code", "type", "no", "number", "count", "amount")
CLOSE = 0.05  # two candidates closer than this are a real ambiguity


def synonyms(word: str) -> frozenset[str]:
    """Other (singular) words schema names use for ``word``."""
    base = singular(word)
    return (_SYNONYMS.get(base, frozenset()) | _SYNONYMS.get(word, frozenset())) - {base}


@lru_cache(maxsize=8192)
def name_words(name: str) -> tuple[str, ...]:
    """``order-items`` / ``order_items`` / ``OrderItems`` -> ("order", "item")."""
    return tuple(singular(t) for t in name_tokens(name))


@lru_cache(maxsize=8192)
def glued(name: str) -> str:
    """A name without separators, singular: ``order_items`` and ``orderitems`` -> "orderitem"."""
    return singular(re.sub(r"[^a-z0-9]", "", name.lower()))


def _comment_words(text: str) -> frozenset[str]:
    return frozenset(singular(w) for w in re.findall(r"[a-z]+", text.lower()) if w not in FUNCTION_WORDS)


def content(tokens: Iterable[Token]) -> list[Token]:
    """Tokens that may name data: no function words, digits or single letters."""
    return [t for t in tokens if t.text not in FUNCTION_WORDS and not t.text.isdigit() and len(t.text) > 1]


def _fuzzy(word: str, target: str) -> float:
    """How alike two spellings are, 0..1; only for words long enough that a typo is not a new word."""
    if len(word) < 5 or len(target) < 5:
        return 0.0
    ratio = fuzz.ratio(word, target) / 100
    return ratio if ratio >= 0.88 else 0.0


@dataclass(frozen=True)
class TableLink:
    table: Table
    score: float
    tokens: tuple[int, ...]  # indexes (``Token.start``) of the words that named it


@dataclass(frozen=True)
class ColumnLink:
    table: Table
    column: Column
    score: float
    tokens: tuple[int, ...]

    @property
    def key(self) -> str:
        return f"{self.table.qualified_name}.{self.column.name}"


@dataclass(frozen=True)
class ValueLink:
    table: Table
    column: Column
    value: Any
    tokens: tuple[int, ...]


def table_word_score(token: Token, table: Table) -> float:
    words = name_words(table.name)
    if not words:
        return 0.0
    if words[-1] == token.lemma or glued(table.name) == token.lemma:
        return NOUN
    if token.lemma in words:
        return NAME_WORD
    fuzzy = max((_fuzzy(token.lemma, w) for w in (*words, glued(table.name))), default=0.0)
    if fuzzy:
        return FUZZY * fuzzy
    others = synonyms(token.text)
    if words[-1] in others:
        return SYNONYM_NOUN
    if table.schema and token.lemma == singular(table.schema.lower()):
        return SCHEMA  # "web orders": the orders of the web schema
    if token.lemma in _comment_words(table.comment):
        return COMMENT
    if others.intersection(words):
        return SYNONYM_WORD
    return 0.0


def column_word_score(token: Token, column: Column) -> float:
    words = name_words(column.name)
    whole = glued(column.name)
    if whole == token.lemma or column.name.lower() == token.text:
        return COLUMN_EXACT
    if token.lemma in words or any(whole == token.lemma + suffix for suffix in _NAME_SUFFIXES):
        return COLUMN_WORD
    if len(token.lemma) >= 4 and len(whole) - len(token.lemma) >= 2 and whole.endswith(token.lemma):
        return COLUMN_WORD * 0.9  # ``unitprice``: a camelCase name whose last word is the word
    fuzzy = max((_fuzzy(token.lemma, w) for w in (*words, glued(column.name))), default=0.0)
    if fuzzy:
        return COLUMN_FUZZY * fuzzy
    related = synonyms(token.text).intersection(words)
    if related:
        # "revenue" names ``total_amount`` twice over.
        return COLUMN_SYNONYM + 0.1 * (len(related) - 1)
    if token.lemma in _comment_words(column.comment):
        return COLUMN_COMMENT
    return 0.0


def word_token(word: str) -> Token:
    """One word as a token, for callers that match single words (table descriptions, writes)."""
    return Token(word.lower(), singular(word.lower()), 0)


def table_score(word: str, table: Table) -> float:
    return table_word_score(word_token(word), table)


def column_score(word: str, column: Column) -> float:
    return column_word_score(word_token(word), column)


class Linker:
    """Links for one data source's tables; ``tokens`` are the question's (outside the period)."""

    def __init__(self, knowledge: Knowledge, datasource_id: str, tokens: Sequence[Token]) -> None:
        self.knowledge = knowledge
        self.datasource_id = datasource_id
        self.tokens = list(tokens)
        self.tables = knowledge.of(datasource_id)

    def _pairs(self, tokens: Sequence[Token]) -> list[tuple[Token, ...]]:
        """Single words and neighbouring pairs (for names written as one word or two)."""
        found: list[tuple[Token, ...]] = [(t,) for t in tokens]
        found += [(a, b) for a, b in itertools.pairwise(tokens) if b.start - a.start - len(a.text) <= 1]
        return found

    def table_links(self, tokens: Sequence[Token]) -> list[TableLink]:
        """Tables the words name, best first (ties keep the context's order)."""
        words = content(tokens)
        links = []
        for table in self.tables:
            best: dict[int, float] = {}
            for group in self._pairs(words):
                if len(group) == 2:
                    lemma = glued(group[0].text + group[1].text)
                    score = GLUED if lemma == glued(table.name) else 0.0
                else:
                    score = table_word_score(group[0], table)
                if score:
                    for token in group:
                        best[token.start] = max(
                            best.get(token.start, 0.0), score / len(group) * (2 if len(group) == 2 else 1)
                        )
            if best:
                # The best word counts fully, the others a little: "order items" beats "orders".
                ranked = sorted(best.values(), reverse=True)
                links.append(TableLink(table, ranked[0] + 0.1 * sum(ranked[1:]), tuple(sorted(best))))
        return sorted(links, key=lambda link: -link.score)

    def column_links(self, tokens: Sequence[Token], tables: Iterable[Table] | None = None) -> list[ColumnLink]:
        """Columns the words name in ``tables`` (default: all of the source), best first. A function
        word names a column only by being its whole name (a column called ``total``)."""
        words = [t for t in tokens if not t.text.isdigit() and len(t.text) > 1]
        links = []
        for table in tables if tables is not None else self.tables:
            for column in table.columns:
                best: dict[int, float] = {}
                for group in self._pairs(words):
                    if len(group) == 2:
                        joined = glued(group[0].text + group[1].text)
                        score = COLUMN_EXACT + 0.5 if joined == glued(column.name) else 0.0
                    elif group[0].text in FUNCTION_WORDS:
                        score = COLUMN_EXACT if glued(column.name) == group[0].lemma else 0.0
                    else:
                        score = column_word_score(group[0], column)
                    if score:
                        for token in group:
                            best[token.start] = max(best.get(token.start, 0.0), score)
                if best:
                    ranked = sorted(best.values(), reverse=True)
                    links.append(ColumnLink(table, column, ranked[0] + 0.2 * sum(ranked[1:]), tuple(sorted(best))))
        return sorted(links, key=lambda link: -link.score)

    def value_links(self, tokens: Sequence[Token], tables: Iterable[Table]) -> list[ValueLink]:
        """Sample values (of unmasked columns) the question names, as one to three words."""
        words = [t for t in tokens if t.text not in STOPWORDS]
        phrases: dict[str, tuple[int, ...]] = {}
        for size in (3, 2, 1):
            for index in range(len(words) - size + 1):
                group = words[index : index + size]
                key = " ".join(t.text for t in group)
                phrases.setdefault(key, tuple(t.start for t in group))
                phrases.setdefault(" ".join(t.lemma for t in group), tuple(t.start for t in group))
        found = []
        for table in tables:
            for column in table.columns:
                if column.masked or not column.samples:
                    continue
                exact: set[tuple[int, ...]] = set()
                partial: list[ValueLink] = []
                for value in column.samples:
                    if not isinstance(value, str):
                        continue
                    normal = " ".join(re.findall(r"[a-z0-9]+", value.lower()))
                    spans = phrases.get(normal) or phrases.get(singular(normal))
                    if normal and spans:
                        found.append(ValueLink(table, column, value, spans))
                        exact.add(spans)
                    elif " " in normal:
                        # A word of a value of several ("won" of 'closed_won', "closed" of 'closed_won'
                        # and 'closed_lost'): each value it is a word of.
                        partial.extend(ValueLink(table, column, value, (t.start,)) for t in words
                                       if t.text not in FUNCTION_WORDS and len(t.text) > 2
                                       and t.text in normal.split())  # fmt: skip
                found.extend(link for link in partial if link.tokens not in exact)
        return found


def close(scores: Sequence[float]) -> bool:
    """The two best scores are too close to pick one without asking."""
    return len(scores) > 1 and scores[0] - scores[1] < CLOSE - 1e-9
