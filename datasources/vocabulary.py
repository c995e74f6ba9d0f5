"""Words of schema names and of prompts, so that "customer" finds ``cust_accounts``.

Names are split into tokens (snake_case, camelCase, digits) and reduced to singulars. A prompt word
expands to itself, its singular, its known abbreviations and synonyms, and its prefixes (so the
abbreviation ``cust`` of "customer" matches although nobody listed it).
"""

from __future__ import annotations

import re
from functools import lru_cache

import inflect

_SPLIT = re.compile(r"[^A-Za-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"[a-z0-9]+")
_INFLECT = inflect.engine()

STOPWORDS = frozenset(
    """a an and are as at be by for from give has have how i in into is it its list me my of on or our per
    please show that the their them these this those to was we what when where which who with by all any
    each every get find tell many much top most least by vs versus than""".split()
)

# Groups of words that mean the same in schema names; every member expands to every other.
SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("customer", "client", "cust", "buyer", "account", "acct"),
    ("revenue", "amount", "sales", "income", "total", "mrr", "arr", "price"),
    ("invoice", "bill", "billing", "inv"),
    ("payment", "paid", "pay", "charge", "transaction", "txn"),
    ("product", "item", "sku", "prod", "article"),
    ("order", "purchase", "ord"),
    ("employee", "staff", "emp", "worker", "owner", "manager"),
    ("company", "organisation", "organization", "org", "firm", "business"),
    ("contact", "person", "people", "lead"),
    ("deal", "opportunity", "opp", "pipeline"),
    ("ticket", "case", "issue", "support", "incident"),
    ("event", "click", "visit", "pageview", "session", "traffic"),
    ("subscription", "sub", "plan", "contract", "seat"),
    ("quantity", "qty", "count", "number", "num", "unit"),
    ("date", "time", "day", "month", "year", "created", "timestamp", "at"),
    ("region", "area", "territory", "geo", "country"),
    ("department", "dept", "team", "division"),
    ("email", "mail", "e-mail"),
    ("phone", "tel", "telephone", "mobile"),
    ("address", "addr", "street", "city"),
    ("description", "desc", "details", "note"),
    ("category", "cat", "type", "kind", "segment"),
    ("user", "usr", "member"),
)

_SYNONYMS: dict[str, frozenset[str]] = {}
for _group in SYNONYM_GROUPS:
    for _word in _group:
        _SYNONYMS[_word] = _SYNONYMS.get(_word, frozenset()) | frozenset(_group)


# Words inflect would cut ("status" -> "statu") or that are no plural of anything in a schema or a
# question: "data" and "media" are not Latin plurals to undo, "news" and "series" are their own.
_KEEP = frozenset("status bus campus axis basis census series species news data media yes does goes whereas".split())


@lru_cache(maxsize=8192)
def singular(word: str) -> str:
    """The singular of a plural noun of a schema name or a prompt ("courses" -> "course", "categories"
    -> "category", "people" -> "person"), else the word itself. The catalog's tokens and the parser's
    words go through this one function, so a table named "people" and a question about "persons"
    meet.

    inflect knows the English rules and their exceptions; it assumes its input is a plural, so words
    that only look like one ("status", "address", "analysis", "bus") are kept as they are.
    """
    if len(word) <= 3 or word in _KEEP or word.endswith(("ss", "us", "is", "data")) or not word.isalpha():
        return word
    found = _INFLECT.singular_noun(word)
    return found if isinstance(found, str) and found else word


def name_tokens(name: str) -> list[str]:
    """``custAccounts_2024`` -> ["cust", "accounts", "2024"] (lower case, in order)."""
    words: list[str] = []
    for part in _SPLIT.split(name):
        words.extend(piece.lower() for piece in _CAMEL.split(part) if piece)
    return words


def index_tokens(name: str) -> list[str]:
    """Tokens stored for exact matching: each token and its singular, deduplicated, at most 64 chars."""
    tokens: list[str] = []
    for token in name_tokens(name):
        for form in (token, singular(token)):
            form = form[:64]
            if form and form not in tokens:
                tokens.append(form)
    return tokens


@lru_cache(maxsize=4096)
def expand_word(word: str) -> frozenset[str]:
    """Forms of one prompt word that a schema name might use."""
    base = singular(word)
    forms = {word, base}
    for form in (word, base):
        forms |= _SYNONYMS.get(form, frozenset())
    # Prefixes of 3+ letters catch abbreviations nobody listed ("quant" for "quantity").
    if base.isalpha() and len(base) >= 5:
        forms |= {base[:n] for n in range(3, len(base))}
    return frozenset(form for form in forms if form)


def prompt_words(prompt: str) -> list[str]:
    """The content words of a prompt, in order, without duplicates or stop words."""
    words: list[str] = []
    for word in _WORD.findall(prompt.lower()):
        if word in STOPWORDS or len(word) < 2 or word.isdigit():
            continue
        if word not in words:
            words.append(word)
    return words[:24]
