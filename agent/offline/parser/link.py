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

import pycountry
from lemminflect import getAllLemmas
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
# A unit said in full names the column its abbreviation ends ("kilometres": ``distance_km``).
_UNITS = {"kilometre": "km", "kilometer": "km", "kilogram": "kg", "kilo": "kg", "euro": "eur", "dollar": "usd",
          "mile": "mi", "metre": "m", "meter": "m", "centimetre": "cm", "centimeter": "cm", "minute": "min",
          "hour": "hr", "second": "sec", "pound": "gbp", "litre": "l", "liter": "l"}  # fmt: skip
_UNIT_WORDS = ("usd", "eur", "gbp", "jpy", "km", "kg", "cm", "mi", "min", "sec", "pct")


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
    if (
        token.lemma in words
        or _UNITS.get(token.lemma) in words
        or any(whole == token.lemma + suffix for suffix in _NAME_SUFFIXES)
    ):
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
                        whole = glued(column.name)
                        # "list price" is ``listPriceUsd``: the whole name but its unit.
                        score = COLUMN_EXACT + 0.5 if whole in (joined, *(joined + u for u in _UNIT_WORDS)) else 0.0
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
        """Sample values (of unmasked columns) the question names, as one to three words: as written,
        singular or as a verb ("did we win": ``won``), a country or currency by name when the column
        holds its code ("in Germany": ``DE``), else one word naming the end of a short value ("we won":
        ``closed_won``) when no value is named whole by it."""
        words = [t for t in tokens if t.text not in STOPWORDS]
        phrases: dict[str, tuple[int, ...]] = {}
        for size in (3, 2, 1):
            for index in range(len(words) - size + 1):
                group = words[index : index + size]
                spans = tuple(t.start for t in group)
                phrases.setdefault(" ".join(t.text for t in group), spans)
                phrases.setdefault(" ".join(t.lemma for t in group), spans)
                if size == 1:
                    for form in word_forms(group[0].text):
                        phrases.setdefault(form, spans)
        found = []
        ends: list[ValueLink] = []
        for table in tables:
            for column in table.columns:
                if column.masked or not column.samples:
                    continue
                values = [value for value in column.samples if isinstance(value, str)]
                for value in values:
                    at = _said(phrases, value_forms(value))
                    if at:
                        found.append(ValueLink(table, column, value, at))
                for name, value in named_codes(tuple(values)).items():
                    if name in phrases:
                        found.append(ValueLink(table, column, value, phrases[name]))
                starts = [value_start(value) for value in values]
                for value, start in zip(values, starts, strict=True):
                    end = value_end(value)
                    # Or a family of codes said by their first word ("closed deals": both ``closed_*``).
                    said = [end] if end else []
                    said += [start] if start and starts.count(start) > 1 else []
                    for word in said:
                        at = _said(phrases, word_forms(word))
                        if at:
                            ends.append(ValueLink(table, column, value, at))
        whole = {start for link in found for start in link.tokens}
        return found + [link for link in ends if not whole.intersection(link.tokens)]


def _said(phrases: dict[str, tuple[int, ...]], forms: Iterable[str]) -> tuple[int, ...] | None:
    """Where the question says one of ``forms``."""
    return next((phrases[form] for form in forms if form in phrases), None)


@lru_cache(maxsize=8192)
def verb_forms(word: str) -> tuple[str, ...]:
    """The verbs a word inflects ("won" -> "win", "cancelled" -> "cancel"), by ``lemminflect``."""
    lower = word.lower()
    return tuple(getAllLemmas(lower, upos="VERB").get("VERB", ())) if lower.isalpha() else ()


@lru_cache(maxsize=8192)
def word_forms(word: str) -> frozenset[str]:
    """A word as written, singular and as the verb it inflects, so that a question's verb meets a
    stored participle ("did we win": ``won``)."""
    lower = word.lower()
    return frozenset({lower, singular(lower), *verb_forms(lower)})


@lru_cache(maxsize=8192)
def value_forms(value: str) -> frozenset[str]:
    """What a stored value may be called: its words, singular, and as a verb when it is one word."""
    normal = " ".join(re.findall(r"[a-z0-9]+", value.lower()))
    if not normal:
        return frozenset()
    return word_forms(normal) if " " not in normal else frozenset({normal, singular(normal)})


def value_end(value: str) -> str:
    """The word a code of two or three words ends with (``closed_won`` -> "won"), when it may be said
    alone: not a function word. Never of a value written with spaces, which may be free text."""
    parts = re.findall(r"[a-z0-9]+", value.lower())
    end = parts[-1] if " " not in value and 1 < len(parts) <= 3 else ""
    return end if len(end) >= 3 and end.isalpha() and end not in FUNCTION_WORDS else ""


def value_start(value: str) -> str:
    """The first word of a code of two or three words (``closed_won`` -> "closed"), as ``value_end``."""
    parts = re.findall(r"[a-z0-9]+", value.lower())
    start = parts[0] if "_" in value and " " not in value and 1 < len(parts) <= 3 else ""
    return start if len(start) >= 3 and start.isalpha() and start not in FUNCTION_WORDS else ""


_CODE_SHARE = 0.8  # of a column's samples that must be codes (or names) for it to hold codes


@lru_cache(maxsize=1024)
def named_codes(values: tuple[str, ...]) -> dict[str, str]:
    """Names a column's country or currency codes are said by ("germany" -> "DE", "yen" -> "JPY"),
    or codes its country names are said by ("usa" -> "United States"); {} for other columns."""
    if not values:
        return {}
    countries = {v: _country(v) for v in values}
    known = {v: c for v, c in countries.items() if c is not None}
    if len(known) < _CODE_SHARE * len(values):
        return _currency_names(values)
    names: dict[str, str] = {}
    for value, country in known.items():
        if value.isupper() and len(value) in (2, 3):
            said = {
                country.name,
                getattr(country, "common_name", ""),
                getattr(country, "official_name", ""),
                country.alpha_3 if len(value) == 2 else "",
            }
            for name in said - {""}:
                names.setdefault(" ".join(re.findall(r"[a-z0-9]+", name.lower())), value)
        elif len(value) > 3:
            names.setdefault(country.alpha_3.lower(), value)
    return {name: value for name, value in names.items() if name not in FUNCTION_WORDS}


def _country(value: str) -> Any:
    """The country a code or name is (pycountry), None when it is none."""
    try:
        if value.isupper() and len(value) == 2:
            return pycountry.countries.get(alpha_2=value)
        if value.isupper() and len(value) == 3:
            return pycountry.countries.get(alpha_3=value)
        return pycountry.countries.lookup(value) if len(value) > 3 else None
    except LookupError:
        return None


def _currency_names(values: tuple[str, ...]) -> dict[str, str]:
    """The words of currency names that tell one of a column's ISO codes ("yen", "euro", "pound"),
    when most of its values are such codes."""
    currencies = {v: pycountry.currencies.get(alpha_3=v) for v in values if v.isupper() and len(v) == 3}
    known = {v: c for v, c in currencies.items() if c is not None}
    if len(known) < _CODE_SHARE * len(values):
        return {}
    words: dict[str, set[str]] = {}
    for value, currency in known.items():
        for word in re.findall(r"[a-z]+", currency.name.lower()):
            words.setdefault(singular(word), set()).add(value)
    return {
        word: next(iter(codes))
        for word, codes in words.items()
        if len(codes) == 1 and len(word) >= 3 and word not in FUNCTION_WORDS
    }


def close(scores: Sequence[float]) -> bool:
    """The two best scores are too close to pick one without asking."""
    return len(scores) > 1 and scores[0] - scores[1] < CLOSE - 1e-9
