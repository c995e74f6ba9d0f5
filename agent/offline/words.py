"""What the offline model reads in a prompt: the intent, time windows and the shape of a question.

Rules over words, no catalog: ``agent.offline.query`` matches the words to tables and columns.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from datasources.vocabulary import STOPWORDS, SYNONYM_GROUPS, singular

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
)
# Writes are imperatives: "update ...", "please set ... to ...", "can you delete ...".
_WRITE = re.compile(
    r"^(please\s+|can you\s+|could you\s+|would you\s+|i want to\s+|i need to\s+)?"
    r"(update|delete|insert|upsert|remove|set|change|modify|mark|add|correct|fix)\b"
    r"|\binsert into\b|\bdelete from\b|\bupdate \w+ set\b"
)
_STEPS = re.compile(r"\b(and then|then|after that|afterwards|workflow|every (day|week|month|morning)|schedule)\b")
_ACTION_VERB = re.compile(r"\b(update|delete|insert|refresh|create|send|export|run|archive|scan|mask|count)\b")
_SCHEMA_WORDS = re.compile(
    r"\b(describe|structure of|schema of|data model|what (columns|fields)|which (columns|fields)|"
    r"(columns|fields) (of|in|does|do)|what data)\b"
)
_TABLE_LISTING = re.compile(
    r"\b(list|show|what|which|available|are there|all|see|find)\b.*\b(tables|views|schemas|datasets)\b"
    r"|\b(tables|views|schemas|datasets)\b.*\b(are there|available|do we have|exist)\b"
)
_QUERY_STRONG = re.compile(
    r"\b(how many|how much|count|number of|top \d+|top|bottom|sum|total|average|avg|mean|median|maximum|minimum|"
    r"highest|lowest|largest|smallest|biggest|revenue|breakdown|distribution|trend)\b"
)
_QUERY_WEAK = re.compile(r"\b(by|per|list|show|find|which|who|what|give me|get|compare|in|from)\b")


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

_SYNONYMS: dict[str, frozenset[str]] = {}
for _group in SYNONYM_GROUPS:
    for _word in _group:
        _SYNONYMS[_word] = _SYNONYMS.get(_word, frozenset()) | frozenset(_group)

# Words that say what to compute, not what to compute it on.
QUESTION_WORDS = frozenset(
    """how many much number count counts total totals sum sums average averages avg mean median top bottom show
    list give do does did we us our you have has had there what which who whose is are was were be been biggest
    largest highest lowest smallest maximum minimum max min overall all value values data please tell rows row
    records record entries best worst most least can could would should get find see display breakdown
    distribution compare grouped group split across over among currently current ever so far broken down up""".split()
)


def synonyms(word: str) -> frozenset[str]:
    """Other words schema names use for ``word`` (singular forms), without the word itself."""
    base = singular(word)
    return frozenset(singular(w) for w in _SYNONYMS.get(base, frozenset()) | _SYNONYMS.get(word, frozenset())) - {base}


def content_words(tokens: list[str]) -> list[str]:
    """The words that name data: no stop words, question words or numbers; in order, once each."""
    words: list[str] = []
    for token in tokens:
        if token in STOPWORDS or token in QUESTION_WORDS or token.isdigit() or len(token) < 2:
            continue
        if token not in words:
            words.append(token)
    return words


def tokens_of(text: str) -> list[str]:
    return re.findall(r"[a-z0-9_]+", text.lower())


# --- time windows ------------------------------------------------------------------------------

_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): number for number, name in enumerate(calendar.month_abbr) if name})


@dataclass(frozen=True)
class TimeWindow:
    start: date
    end: date  # exclusive
    label: str  # what the person said, with the dates: "last quarter (2026-07-01 to 2026-09-30)"
    span: tuple[int, int]  # where in the lower-cased prompt


def _month_start(day: date, back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def _quarter_start(day: date, back: int = 0) -> date:
    start = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return _month_start(start, 3 * back)


def _window(text: str, today: date) -> tuple[date, date, re.Match[str]] | None:
    tomorrow = today + timedelta(days=1)
    patterns: list[tuple[str, object]] = [
        (r"\b(last|previous|past) quarter\b", lambda m: (_quarter_start(today, 1), _quarter_start(today))),
        (r"\b(this|current) quarter\b|\bquarter to date\b|\bqtd\b", lambda m: (_quarter_start(today), tomorrow)),
        (r"\b(last|previous|past) month\b", lambda m: (_month_start(today, 1), _month_start(today))),
        (r"\b(this|current) month\b|\bmonth to date\b|\bmtd\b", lambda m: (_month_start(today), tomorrow)),
        (r"\b(last|previous|past) year\b", lambda m: (date(today.year - 1, 1, 1), date(today.year, 1, 1))),
        (r"\b(this|current) year\b|\byear to date\b|\bytd\b", lambda m: (date(today.year, 1, 1), tomorrow)),
        (r"\b(last|previous|past) week\b",
         lambda m: (today - timedelta(days=today.weekday() + 7), today - timedelta(days=today.weekday()))),
        (r"\b(this|current) week\b", lambda m: (today - timedelta(days=today.weekday()), tomorrow)),
        (r"\b(last|past|previous) (\d{1,4}) (day|week|month|year)s?\b", lambda m: _last_n(today, m)),
        (r"\byesterday\b", lambda m: (today - timedelta(days=1), today)),
        (r"\btoday\b", lambda m: (today, tomorrow)),
        (r"\bq([1-4])\s*(?:of\s+)?((?:19|20)\d\d)\b",
         lambda m: (_quarter_start(date(int(m.group(2)), 3 * int(m.group(1)) - 2, 1)),
                    _quarter_start(date(int(m.group(2)), 3 * int(m.group(1)) - 2, 1), -1))),
        (r"\bsince ((?:19|20)\d\d)-(\d\d)-(\d\d)\b",
         lambda m: (date(int(m.group(1)), int(m.group(2)), int(m.group(3))), tomorrow)),
        (r"\bsince ((?:19|20)\d\d)\b", lambda m: (date(int(m.group(1)), 1, 1), tomorrow)),
        (r"\b(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?\s+((?:19|20)\d\d)\b",
         lambda m: (date(int(m.group(2)), _MONTHS[m.group(1)], 1),
                    _month_start(date(int(m.group(2)), _MONTHS[m.group(1)], 1), -1))),
        (r"\b(?:in|during|for|of)\s+((?:19|20)\d\d)\b|^((?:19|20)\d\d)\b|\b((?:19|20)\d\d)$",
         lambda m: (date(int(m.group(m.lastindex or 1)), 1, 1), date(int(m.group(m.lastindex or 1)) + 1, 1, 1))),
    ]  # fmt: skip
    for pattern, compute in patterns:
        match = re.search(pattern, text)
        if match:
            start, end = compute(match)  # type: ignore[operator]
            return start, end, match
    return None


def _last_n(today: date, match: re.Match[str]) -> tuple[date, date]:
    count, unit = int(match.group(2)), match.group(3)
    tomorrow = today + timedelta(days=1)
    if unit == "day":
        return today - timedelta(days=count - 1), tomorrow
    if unit == "week":
        return today - timedelta(days=7 * count - 1), tomorrow
    if unit == "month":
        back = _month_start(today, count)
        return back.replace(day=min(today.day, calendar.monthrange(back.year, back.month)[1])), tomorrow
    return date(today.year - count, today.month, min(today.day, 28 if today.month == 2 else today.day)), tomorrow


def find_window(text: str, today: date) -> TimeWindow | None:
    """The period a prompt names, relative to ``today``; the end is exclusive."""
    lowered = text.lower()
    found = _window(lowered, today)
    if found is None:
        return None
    start, end, match = found
    said = re.sub(r"^(in|during|for|of)\s+", "", match.group(0).strip())
    label = f"{said} ({start.isoformat()} to {(end - timedelta(days=1)).isoformat()})"
    return TimeWindow(start, end, label, match.span())


# --- the shape of a data question --------------------------------------------------------------

_TOP = re.compile(r"\b(top|bottom|best|worst)\s+(\d{1,4})\b|\b(\d{1,4})\s+(largest|biggest|highest|"
                  r"lowest|smallest|best|worst|top|most|least)\b|\b(top|bottom)\b")  # fmt: skip
_ASCENDING = {"bottom", "worst", "lowest", "smallest", "least"}
_GROUP_SPLIT = re.compile(r"\b(by|per|for each|for every|in each|each|grouped by|broken down by|split by)\b")
_GROUP_STOP = frozenset(
    "in for with where from during since and that which of on at over between who whose when last this past".split()
)
_COUNT = re.compile(r"\b(how many|number of|count|how often|# of)\b")
_FUNCTIONS = (
    ("avg", re.compile(r"\b(average|avg|mean)\b")),
    ("max", re.compile(r"\b(maximum|max|highest|largest|biggest)\b")),
    ("min", re.compile(r"\b(minimum|min|lowest|smallest)\b")),
    ("sum", re.compile(r"\b(sum|total|totals)\b")),
)
_LISTING = re.compile(r"^\s*(list|show|display|give me|get|find|which|what are)\b")
_ID_REFERENCE = re.compile(r"\b([a-z_]+)\s+(?:#|no\.?\s*|number\s+|id\s+)?(\d{1,12})\b")


@dataclass(frozen=True)
class Question:
    """The parts of a data question, as words; nothing here is trusted as SQL."""

    text: str  # lower-cased prompt
    function: str  # count | sum | avg | max | min | list
    subject: tuple[str, ...]  # words before "by" (what to count or measure)
    group: tuple[str, ...]  # words of the "by" phrase (what to group by, or the measure of a top-N)
    rest: tuple[str, ...]  # other content words (filters)
    top: int | None = None
    ascending: bool = False
    window: TimeWindow | None = None
    explicit_function: bool = False  # the prompt said count/sum/average... itself
    id_references: tuple[tuple[str, int], ...] = field(default=())  # ("invoice", 42)

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.subject + self.group + self.rest))


def parse_question(prompt: str, today: date) -> Question:
    text = " ".join(prompt.lower().split())
    window = find_window(text, today)
    body = text if window is None else text[: window.span[0]] + " " + text[window.span[1] :]
    top: int | None = None
    ascending = False
    match = _TOP.search(body)
    if match:
        word = match.group(1) or match.group(4) or match.group(5)
        number = match.group(2) or match.group(3)
        top = int(number) if number else 10
        ascending = word in _ASCENDING
        body = body[: match.start()] + " " + body[match.end() :]
    split = _GROUP_SPLIT.search(body)
    before, after = (body[: split.start()], body[split.end() :]) if split else (body, "")
    after_tokens = tokens_of(after)
    group: list[str] = []
    rest_tokens: list[str] = []
    for index, token in enumerate(after_tokens):
        if (token in _GROUP_STOP and group) or len(group) == 2:
            rest_tokens = after_tokens[index:]
            break
        if token not in STOPWORDS and token not in QUESTION_WORDS and not token.isdigit():
            group.append(token)
    function, explicit = "list", False
    if _COUNT.search(body):
        function, explicit = "count", True
    else:
        for name, pattern in _FUNCTIONS:
            if pattern.search(before if top is None else body) and not (top is not None and name in ("max", "min")):
                function, explicit = name, True
                break
    if function == "list" and (group or top is not None):
        function = "sum"  # "revenue by region", "top 10 customers by revenue"
    references = _ID_REFERENCE.findall(body)
    ids = tuple((singular(word), int(number)) for word, number in references if word not in QUESTION_WORDS)
    return Question(
        text=text,
        function=function,
        subject=tuple(content_words(tokens_of(before))),
        group=tuple(content_words(group)),
        rest=tuple(w for w in content_words(rest_tokens) if w not in group),
        top=top,
        ascending=ascending,
        window=window,
        explicit_function=explicit,
        id_references=ids,
    )


def is_listing(text: str) -> bool:
    return bool(_LISTING.search(text))
