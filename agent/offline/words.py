"""What the offline model reads in a prompt first: its intent, by rules over words.

Data questions are then read by ``agent.offline.parser``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from agent.offline.parser.link import FUNCTION_WORDS
from agent.offline.parser.normalise import find_window, singular

# --- intents -----------------------------------------------------------------------------------

_GREETING = re.compile(r"^\s*(hi|hello|hey|thanks|thank you|help|what can you do|who are you|how do i use)\b")
_COMPLIANCE = re.compile(
    r"\b(pii|personal (data|information|details)|personally identifiable|sensitive (data|columns?|fields?|"
    r"information|values)|gdpr|hipaa|ccpa|compliance|data protection)\b|\bscan\b"
)
_GOVERNANCE = re.compile(
    r"\b(mask(s|ed|ing)?|unmask|polic(y|ies)|row[- ]level|row filters?|restrict(ed|ing)? access|access rules?|"
    r"hide (the |a )?(column|table)s?|permissions?|visibility|who can (see|access|read))\b"
)
_ADMIN = re.compile(
    r"\b(add|connect|register|create|set up|setup|refresh|re-?introspect|resync|sync|reload|remove|delete|"
    r"disconnect|test)\b.{0,40}\b(data ?sources?|connections?|databases?|catalog|warehouse|lake)\b"
    r"|\b(new|another) (data ?source|database|connection)\b"
)
_SCHEMA_CHANGE = re.compile(
    r"\b(create|alter|drop|rename|truncate)\s+(a\s+|an\s+|the\s+|new\s+)*(table|column|index|view|schema)s?\b"
    r"|\badd\s+(a\s+|an\s+|new\s+)*(column|index)\b|\balter\s+table\b"
    # "drop the web events table", "truncate the support tickets", "please wipe the orders": an
    # imperative that empties or removes a whole table, whatever words name it.
    r"|^(please\s+|can you\s+|could you\s+|would you\s+|i want to\s+|i need to\s+)?(drop|truncate|wipe|purge)\b"
)
# Writes are imperatives: "update ...", "please set ... to ...", "can you delete ...".
_WRITE = re.compile(
    r"^(please\s+|can you\s+|could you\s+|would you\s+|i want to\s+|i need to\s+)?"
    r"(update|delete|insert|upsert|remove|set|change|modify|mark|add(?!\s+(up|together)\b)|correct|fix)\b"
    r"|\binsert into\b|\bdelete from\b|\bupdate \w+ set\b"
    # Other verbs of change, as imperatives on rows they point at ("raise all list prices by 10%",
    # "refund every returned order"); "increase of sales by month" is no imperative.
    r"|^(please\s+|can you\s+|could you\s+|would you\s+|i want to\s+|i need to\s+)?"
    r"(raise|increase|decrease|lower|reduce|refund|cancel|close|archive|assign|reassign|move|transfer|approve|"
    r"reject|deactivate|activate|disable|enable|reset|void|restore|edit|replace|adjust|rename|credit)\s+"
    r"(all|every|each|the|a|an|this|that|these|those|our|my|any)\b"
)
_STEPS = re.compile(r"\b(and then|then|after that|afterwards|workflow|every (day|week|month|morning)|schedule)\b")
_ACTION_VERB = re.compile(r"\b(update|delete|insert|refresh|create|send|export|run|archive|scan|mask|count)\b")
_SCHEMA_WORDS = re.compile(
    r"\b(describe|structure of|schema of|data model|what (columns|fields)|which (columns|fields)|"
    r"(columns|fields) (of|in|does|do)|what data)\b"
)
# "views" are database views only where nothing else reads them ("page views per day" are data).
_TABLE_LISTING = re.compile(
    r"\b(list|show|what|which|available|are there|all|see|find)\b.*\b(tables|schemas|datasets)\b"
    r"|\b(tables|schemas|datasets)\b.*\b(are there|available|do we have|exist)\b"
    r"|^(list|show|what|which)\s+(are\s+)?(the\s+|all\s+)?(database\s+|sql\s+|materiali[sz]ed\s+)?views\b\s*\??$"
)
_QUERY_STRONG = re.compile(
    r"\b(how many|how much|count|number of|top \d+|top|bottom|sum|total|average|avg|mean|median|maximum|minimum|"
    r"highest|lowest|largest|smallest|biggest|revenue|breakdown|distribution|trend|most expensive|cheapest|"
    r"most recent|newest|oldest|latest)\b|\b(?:more|fewer|less|greater|higher|lower) than \$?\d|"
    r"\b(?:over|under|above|below|at least|at most) \$?\d"
)
_QUERY_WEAK = re.compile(r"\b(by|per|list|show|find|which|who|what|give me|get|compare|in|from)\b")


# Asked for something that is no data: a joke, a poem, a story ("tell me a joke about truck drivers").
_NOT_DATA = re.compile(r"\b(jokes?|poems?|poetry|haikus?|limericks?|riddles?|song lyrics|bedtime stor(y|ies))\b")


@dataclass(frozen=True)
class Classification:
    intent: str
    confidence: float
    reason: str


def classify(prompt: str, *, known_words: frozenset[str] = frozenset()) -> Classification:
    """One of the nine intents by rules. ``known_words`` are table-name words of the catalog: a
    prompt that names a table and nothing else ("customers in EMEA") is a data question."""
    text = " ".join(prompt.lower().split())
    words = re.findall(r"[a-z0-9_]+", text)
    if _GREETING.search(text) and len(words) <= 6:
        return Classification("GENERAL", 0.9, "a greeting or a question about the assistant")
    if _NOT_DATA.search(text):
        return Classification("GENERAL", 0.85, "asks for something other than the data")
    if _COMPLIANCE.search(text):
        return Classification("COMPLIANCE_SCAN", 0.9, "asks about personal or sensitive data")
    if _GOVERNANCE.search(text):
        return Classification("GOVERNANCE_POLICY", 0.85, "asks about masks, row filters or access policies")
    if _STEPS.search(text) and len(set(_ACTION_VERB.findall(text))) >= 2:
        return Classification("ACTION_EXECUTION", 0.7, "asks for several steps in a row")
    if _ADMIN.search(text):
        return Classification("DATA_SOURCE_ADMIN", 0.85, "asks to add, connect or refresh a data source")
    if _SCHEMA_CHANGE.search(text):
        return Classification("SCHEMA_CHANGE", 0.85, "asks to create, alter or drop a table or column")
    if _WRITE.search(text):
        return Classification("DATA_WRITE", 0.85, "asks to change rows")
    strong = _QUERY_STRONG.search(text)
    if _SCHEMA_WORDS.search(text) and not strong:
        return Classification("SCHEMA_EXPLORATION", 0.9, "asks what tables or columns look like")
    if _TABLE_LISTING.search(text) and not strong:
        return Classification("SCHEMA_EXPLORATION", 0.85, "asks which tables exist")
    if strong:
        return Classification("DATA_QUERY", 0.9, f"a question about the data ({strong.group(0)!r})")
    if find_window(text, date(2000, 1, 1)) is not None:
        return Classification("DATA_QUERY", 0.75, "a question about a period")
    named = {singular(w) for w in words} & known_words
    if named:
        return Classification("DATA_QUERY", 0.7, f"names data in the catalog ({', '.join(sorted(named))})")
    if _QUERY_WEAK.search(text) and len(words) >= 3:
        return Classification("DATA_QUERY", 0.55, "looks like a question about the data")
    return Classification("GENERAL", 0.5, "no data or administration request recognised")


# --- words ---------------------------------------------------------------------------------------


def content_words(tokens: list[str]) -> list[str]:
    """The words that name data: no function words or numbers; in order, once each."""
    words: list[str] = []
    for token in tokens:
        if token in FUNCTION_WORDS or token.isdigit() or len(token) < 2:
            continue
        if token not in words:
            words.append(token)
    return words


def tokens_of(text: str) -> list[str]:
    return re.findall(r"[a-z0-9_]+", text.lower())
