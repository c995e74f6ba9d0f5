"""Stage 3: a normalised question and its links to a typed ``Query`` (or a choice to ask, tables to
describe first, or why the sources cannot answer).

The question is read as phrases around a few markers: the aggregate ("how many", "average",
"total"), the rank ("top 5", "which product has the highest ..."), the group ("by region",
"per month"), conditions ("over 1000", "between 10 and 20", "not paid", "with no orders", "with
more than 5 orders") and the period (already found by ``normalise``). Each phrase is linked to the
catalog with scores; when two readings score alike the parser asks, otherwise it picks the best
and records what it assumed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from agent.offline.knowledge import Column, Join, Knowledge, Table
from agent.offline.parser.ir import (
    Choice,
    Describe,
    Dimension,
    Filter,
    Having,
    Measure,
    Order,
    Parsed,
    Period,
    Query,
    Ref,
    Unanswerable,
)
from agent.offline.parser.link import (
    COLUMN_EXACT,
    COLUMN_SYNONYM,
    COLUMN_WORD,
    COMMENT,
    FUNCTION_WORDS,
    GLUED,
    NAME_WORD,
    NOUN,
    SCHEMA,
    ColumnLink,
    Linker,
    TableLink,
    ValueLink,
    close,
    content,
    glued,
    name_words,
    table_word_score,
    verb_forms,
)
from agent.offline.parser.normalise import Normalised, Token, singular
from datasources.vocabulary import name_tokens

MAX_JOINS = 3
BUCKETS = {"day": "day", "daily": "day", "week": "week", "weekly": "week", "month": "month", "monthly": "month",
           "quarter": "quarter", "quarterly": "quarter", "year": "year", "yearly": "year", "annual": "year",
           "annually": "year"}  # fmt: skip
_DATE_PREFERENCE = ("order", "issued", "created", "occurred", "opened", "started", "paid", "closed", "date", "time")
_COUNT = re.compile(r"\b(how many|number of|count of|count the|count|# of|how often)\b")
_DISTINCT = re.compile(r"\b(distinct|different|unique)\b")
_AVERAGE = re.compile(r"\b(on average|average|avg|mean)\b")
_PER = re.compile(r"\baverage (?:number|count) of .+? (?:per|for each|for every|by each|in each|each) ")
_FUNCTIONS = (
    ("avg", re.compile(r"\b(average|avg|mean)\b")),
    ("sum", re.compile(r"\b(sum of|sum|total|totals|add up|added up|in total|combined|how much)\b")),
    ("max", re.compile(r"\b(maximum|max|highest|largest|biggest|greatest)\b")),
    ("min", re.compile(r"(?<!\bat )\b(minimum|min|lowest|smallest|least)\b")),
)
# Superlatives said by an adjective: "the 3 most expensive", "the longest", "heaviest".
_ADJECTIVE_FORMS = (
    r"most expensive|least expensive|most recent|cheapest|priciest|costliest|longest|shortest|heaviest|lightest|"
    r"tallest|fastest|slowest|youngest"
)
_TOP = re.compile(
    r"\b(top|bottom|first|last)\s+(\d{1,4})\b|\b(\d{1,4})\s+(?:\w+\s+)?(" + _ADJECTIVE_FORMS + r"|largest|biggest|"
    r"highest|lowest|smallest|best|worst|most|least|fewest|top|latest|newest|oldest|earliest)\b|\b(top|bottom)\b"
)
_SUPERLATIVES = (
    _ADJECTIVE_FORMS + r"|highest|lowest|largest|biggest|smallest|most|least|fewest|latest|newest|earliest|oldest|"
    r"best|worst|greatest|maximum|minimum|max|min"
)
_SUPERLATIVE = re.compile(r"(?<!\bat )\b(" + _SUPERLATIVES + r")\b")  # not the "least" of "at least 70"
# An order for all the rows, not a pick: "from best to worst", "highest to lowest", "newest first".
_RANGE = re.compile(r"\b(" + _SUPERLATIVES + r")\s+(to|first|on top)\b")
_ALPHABETICAL = re.compile(r"\b(?:reverse\s+|in\s+)?(alphabetical(?:ly)?|alphabetic|a to z|(z to a))(?:\s+order)?\b")
_WHICH_N = re.compile(
    r"\b(which|what|the|list|show|name|find|give me)\s+(\d{1,4})\s+(?!(days?|weeks?|months?|years?)\b)"
)
_ASCENDING = frozenset({"bottom", "lowest", "smallest", "least", "fewest", "earliest", "oldest", "cheapest",
                        "worst", "minimum", "min", "least expensive", "first"})  # fmt: skip
_BY_DATE = frozenset({"most recent", "latest", "newest", "earliest", "oldest", "first", "last"})
_BY_PRICE = frozenset({"most expensive", "least expensive", "cheapest"})
# "which countries ...", "list the distinct stages", "top 3 referrers": where a group word may follow.
_LEAD = re.compile(
    r"^\s*(?:which|what|who are|list|show|name|give me|find|get)?\s*(?:me\s+)?(?:all\s+)?(?:the\s+|our\s+)?"
    r"(?:(?:top|bottom)\s+)?(?:\d{1,4}\s+)?(?:distinct|different|unique)?\s*"
)
_ASKS = re.compile(r"^\s*(which|what|who are|list|show|name|give me|find|get)\b")
_MOST = frozenset({"most", "least", "fewest"})
_GROUP = re.compile(r"\b(grouped by|broken down by|split by|for each|for every|in each|by|per|each)\b")
_GROUP_STOP = frozenset(
    "in for with where from during since and that which who whose when on at between sorted ordered ranked arranged "
    "descending ascending excluding except but or than over above below under more less top".split()
)
_SORT = re.compile(r"\b(?:sorted|ordered|order|sort|ranked|arranged)\s+(?:them\s+|the\s+results?\s+)?(?:by|of)\s+")
_RATIO = re.compile(r"\bratio (?:of|between) (.+?) (?:to|and|versus|vs) (.+?)(?=\?|$| in | for | by | per )")
_PERCENT = re.compile(r"\b(percentage|percent|share|proportion|fraction)\b|%|\b(?<!exchange )(?<!interest )rate\b")
# The rows a share is of, when not all of them: "among closed deals", "as a percentage of closed deals".
_SCOPE = re.compile(
    r"\b(?:among|out of|of all|as an? (?:percentage|percent|share|fraction|proportion) of)\s+"
    r"(.+?)(?=[?,;:]|$| by | per )"
)
_COMPARE = re.compile(
    r"\b(more than|greater than|larger than|higher than|bigger than|over|above|exceeding|at least|no less than|"
    r"less than|fewer than|lower than|smaller than|below|under|at most|no more than|exactly|equal to|equals?|"
    r"more expensive than|less expensive than|cheaper than|pricier than|costlier than|longer than|shorter than|"
    r"heavier than|lighter than|taller than|faster than|slower than|older than|younger than)\s+"
    r"\$?(-?\d+(?:\.\d+)?)\b|(>=|<=|>|<|=)\s*\$?(-?\d+(?:\.\d+)?)"
)
_OPS = {"more than": ">", "greater than": ">", "larger than": ">", "higher than": ">", "bigger than": ">", "over": ">",
        "above": ">", "exceeding": ">", "at least": ">=", "no less than": ">=", "less than": "<", "fewer than": "<",
        "lower than": "<", "smaller than": "<", "below": "<", "under": "<", "at most": "<=", "no more than": "<=",
        "exactly": "=", "equal to": "=", "equal": "=", "equals": "=", ">=": ">=", "<=": "<=", ">": ">", "<": "<",
        "=": "="}  # fmt: skip
_OPS.update({f"{word} than": ">" for word in "pricier costlier longer heavier taller faster older".split()})
_OPS.update({f"{word} than": "<" for word in "cheaper shorter lighter slower younger".split()})
_OPS.update({"more expensive than": ">", "less expensive than": "<"})
_BETWEEN = re.compile(r"\bbetween\s+\$?(-?\d+(?:\.\d+)?)\s+and\s+\$?(-?\d+(?:\.\d+)?)\b")
_NONE = re.compile(
    r"\b(with no|without any|without|with zero|that have no|who have no|which have no|that has no|who has no|having no|"
    r"that never|who never|never|have not|has not|haven't|hasn't|did not|didn't|do not have|does not have|no)\s+"
)
_SOME = re.compile(r"\b(have|has|had|placed|made|bought|ordered|with)\s+(?:any\s+|an?\s+|at least 1\s+|some\s+)?")
_NEGATION = re.compile(r"\b(not|excluding|except|other than|apart from|isn't|aren't|non)\s+")
_NULL = re.compile(r"\b(is|are)\s+(missing|empty|null|unknown|not set|blank)\b|\b(missing|no|without an?|without)\s+$")
_QUOTED = re.compile(r"'([^']{1,80})'|\"([^\"]{1,80})\"")
_NAMED = re.compile(r"\b(named|called|titled|containing|contains|like|matching|starting with)\s+$")
# What a comparison or a superlative is about, said by money words or by an adjective.
_MONEY_SAID = re.compile(
    r"\$|\b(dollars?|euros?|pounds?|yen|usd|eur|gbp|jpy|bucks|worth|costs?|costing|priced?|spent|spend|spending|"
    r"paid|pays?|earned|earns?|earning|valued?|revenue|money)\b"
)
_ADJECTIVES = {  # base of "-er"/"-est" and "more/most ...": (kind, whether the most is the largest)
    "expensive": ("money", True), "pric": ("money", True), "costl": ("money", True), "cheap": ("money", False),
    "larg": ("size", True), "big": ("size", True), "small": ("size", False),
    "long": ("length", True), "short": ("length", False), "heav": ("weight", True), "light": ("weight", False),
    "tall": ("height", True), "fast": ("speed", True), "slow": ("speed", False), "old": ("age", True),
    "young": ("age", False),
}  # fmt: skip
_KIND_WORDS = {
    "money": frozenset("amount price cost total revenue value mrr arr spend fee salary income budget balance "
                       "eur usd gbp".split()),
    "size": frozenset("size quantity qty capacity count employee headcount seat area volume population".split()),
    "length": frozenset("length duration distance km mile kilometre kilometer meter metre minute hour second "
                        "day runtime".split()),
    "weight": frozenset("weight kg kilogram lb pound ton tonne gram mass".split()),
    "height": frozenset("height tall cm".split()),
    "speed": frozenset("speed kmh mph velocity".split()),
    "age": frozenset("age".split()),
}  # fmt: skip
_KIND_ORDER = {"money": ("money",), "size": ("size", "money"), "length": ("length",), "weight": ("weight",),
               "height": ("height",), "speed": ("speed",), "age": ("age",)}  # fmt: skip


@dataclass
class _State:
    norm: Normalised
    knowledge: Knowledge
    link: Linker
    answers: list[tuple[tuple[str, ...], str]]
    can_describe: bool
    attempted: frozenset[tuple[str, str]]
    metrics: dict[str, str]
    simplified: bool
    used: set[int] = field(default_factory=set)  # token starts that are explained
    assumptions: list[str] = field(default_factory=list)
    describe: list[tuple[str, str]] = field(default_factory=list)
    choice: Choice | None = None
    dated: bool = False  # a word of the question named the date column ("deals closed last month")

    def want(self, table: Table) -> None:
        if not table.described and table.key not in self.describe and table.key not in self.attempted:
            self.describe.append(table.key)

    def pick(self, names: list[str], question: str) -> str | None:
        """An earlier answer's pick among ``names``; None (and a question to ask) when unknown."""
        for choices, answer in self.answers:
            chosen = match_answer(answer, list(choices))
            if chosen in names:
                return chosen
            if set(choices) == set(names):
                return match_answer(answer, names) or names[0]
        if self.choice is None:
            self.choice = Choice(question, tuple(names))
        return None


class _Stop(Exception):
    """Parsing waits for an answer or a description."""


def match_answer(answer: str, choices: list[str]) -> str | None:
    text = answer.strip().lower()
    for choice in choices:
        if text == choice.lower():
            return choice
    for choice in choices:
        if choice.lower() in text or (len(text) >= 3 and text in choice.lower()):
            return choice
    words = {singular(w) for w in re.findall(r"[a-z0-9_]+", text)}
    scored = [(len(words & {singular(w) for w in re.findall(r"[a-z0-9_]+", c.lower())}), c) for c in choices]
    best = max(scored, default=(0, ""))
    return best[1] if best[0] and [s for s, _ in scored].count(best[0]) == 1 else None


# --- the entry point ---------------------------------------------------------------------------------


def choose_datasource(knowledge: Knowledge, norm: Normalised) -> str | None:
    """The data source whose tables the words name best (the context lists tables best first)."""
    best: tuple[float, str] | None = None
    for datasource_id in dict.fromkeys(t.datasource_id for t in knowledge.tables.values()):
        links = Linker(knowledge, datasource_id, norm.outside_window()).table_links(norm.outside_window())
        score = links[0].score if links else 0.0
        if best is None or score > best[0]:
            best = (score, datasource_id)
    return best[1] if best else None


# Words that point at something the question does not say: a pronoun with nothing before it, "the
# total", a comparison with no subject, "last time".
_REFERENCE = re.compile(
    r"\b(them|they|it|those|these|ones|that one|this one|the same|last time|as before|again|the previous"
    r"|the total|the numbers|the figures|the results|the ones|bigger|larger|smaller|better|worse"
    r"|are there|is there|what about|how about|everything|anything|something|the rest|the others)\b"
)
# Words such a question may hold besides: they name no data either.
_FILLER = frozenset(
    "me what's that's it's thing things stuff show compare sort order rank break split again growing grow trend "
    "going change changed numbers figures results".split()
)


def unsaid_reference(norm: Normalised, knowledge: Knowledge) -> Choice | None:
    """A question about something it does not name ("how many are there?", "compare them by region",
    "which is bigger?"), or that names nothing at all ("what do we have?"): a choice of the tables
    it may mean, or None. Only when no word names a
    table and every word names a column, a value or nothing at all: a word no source knows
    ("Tokyo", "competitor") makes it out of scope instead, which is said, not asked."""
    if not any(t.text.isalpha() for t in norm.tokens):
        return None  # no words at all ("", "???"): nothing to ask back about
    spans = [match.span() for match in _REFERENCE.finditer(norm.text)]
    said = [t for t in content(norm.tokens) if not any(low <= t.start < high for low, high in spans)]
    words = [t for t in said if t.text not in _FILLER]
    if not spans and words:
        return None  # no reference to something unsaid, and words to read: the parser's to read
    datasource_id = choose_datasource(knowledge, norm)
    if datasource_id is None:
        return None
    link = Linker(knowledge, datasource_id, norm.tokens)
    if any(table.score >= 1.0 for table in link.table_links(said)):
        return None  # a filler word may name a table ("order" in "sum of order total")
    columns = [c for c in link.column_links(words) if c.score >= COLUMN_WORD] if words else []
    values = link.value_links(words, link.tables) if words else []
    found: list[ColumnLink | ValueLink] = [*columns, *values]
    named = {start for link_ in found for start in link_.tokens}
    if any(t.start not in named for t in words):
        return None
    # The tables with the columns or values it names ("by region"), else the sources' main tables.
    tables = list(dict.fromkeys(link_.table.qualified_name for link_ in found))
    if len(tables) < 2:
        tables = list(dict.fromkeys([*tables, *(t.qualified_name for t in link.tables)]))
    if len(tables) < 2:
        return None
    return Choice("Which data do you mean?", tuple(tables[:6]))


def parse(
    norm: Normalised,
    knowledge: Knowledge,
    *,
    answers: Sequence[tuple[tuple[str, ...], str]] = (),
    can_describe: bool = True,
    attempted: frozenset[tuple[str, str]] = frozenset(),
    metrics: dict[str, str] | None = None,
    simplified: bool = False,
) -> Parsed:
    """``metrics``: glossary terms and the SQL expression each stands for, offered as measures."""
    if not content(norm.tokens):
        return Unanswerable("the question names nothing to look up")
    datasource_id = choose_datasource(knowledge, norm)
    if datasource_id is None:
        return Unanswerable("no table is known for the selected sources")
    link = Linker(knowledge, datasource_id, norm.outside_window())
    state = _State(norm, knowledge, link, list(answers), can_describe, attempted,
                   {k.lower(): v for k, v in (metrics or {}).items()}, simplified)  # fmt: skip
    try:
        query = _query(state)
    except _Stop:
        query = None
    if state.choice is not None:
        return state.choice
    if state.describe and can_describe:
        return Describe(tuple(state.describe[:3]))
    if isinstance(query, Unanswerable):
        return query
    if query is None:
        return Unanswerable("the question does not match the tables I can see")
    return replace(query, assumptions=tuple(dict.fromkeys(state.assumptions)))


# --- reading the question ------------------------------------------------------------------------------


def _body(state: _State) -> str:
    """The lower-cased question with the period phrase blanked (offsets kept)."""
    text = state.norm.text
    if state.norm.window is None:
        return text
    low, high = state.norm.window.span
    return text[:low] + " " * (high - low) + text[high:]


def _tokens(state: _State, low: int = 0, high: int | None = None) -> list[Token]:
    end = len(state.norm.text) if high is None else high
    return [t for t in state.norm.outside_window() if low <= t.start < end]


def _query(state: _State) -> Query | Unanswerable | None:
    body = _body(state)
    counting = _COUNT.search(body)
    per = _PER.search(body)
    group_match = None if per else _first_group(state, body)
    head_end = group_match.start() if group_match else len(body)
    head = _tokens(state, 0, head_end)
    tail = _tokens(state, group_match.end()) if group_match else []
    top = _TOP.search(body)
    superlative = _SUPERLATIVE.search(body)
    percent = _PERCENT.search(body)
    if (
        percent is not None
        and percent.group(0) == "rate"
        and any(
            link.score >= COLUMN_WORD
            for link in state.link.column_links(_tokens(state, percent.start(), percent.end()))
        )
    ):
        percent = None  # a column called rate: "average rate"
    function = "count" if counting else None
    if function is None:
        for name, pattern in _FUNCTIONS:
            hit = pattern.search(body[:head_end] if name in ("max", "min") else body)
            if hit and _names_column(state, body, hit):
                continue  # "orders with a total over 100": the column called total
            if hit and name == "sum" and any(m.end() <= hit.start() <= m.end() + 25 or 0 <= m.start() - hit.end() <= 1
                                             for m in _COMPARE.finditer(body)):  # fmt: skip
                continue  # "more than 400 dollars in total", "total more than 400": the total compared
            if hit and not (name in ("max", "min") and (top or _rows_wanted(state, body, hit))):
                function = name
                # The aggregate's own word names no column ("total amount" is the amount).
                head = [t for t in head if not hit.start() <= t.start < hit.end()]
                break
    # What the rows are: the table the words name best.
    metric = _metric(state)
    base_link = None if metric is not None else _base_table(state, head or _tokens(state), counting)
    if base_link is None and metric is None and (top is not None or percent) and group_match is not None:
        base_link = _base_table(state, _tokens(state), counting)  # "top 3 countries by number of customers"
    if base_link is not None:
        base_link = _counted_rows(state, body, base_link)
    elif metric is None:
        base_link = _valued_rows(state)
    if metric is None and function is None and (_ASKS.match(body) or _DISTINCT.search(body)):
        valued = _column_base(state, body, base_link.table if base_link is not None else None)
        if valued is not None:
            base_link = TableLink(valued, NAME_WORD, ())  # "who are the account managers": customers'
    if base_link is None and metric is None:
        measured = _measure_column(state, head, None, function or "sum")
        if measured is None:
            return _out_of_scope(state)
        base, noun = measured.table, measured.column.name.replace("_", " ")
    else:
        base = base_link.table if base_link is not None else _metric_table(state, metric)
        noun = _noun_of(state, base_link) if base_link is not None else base.noun

    measures: list[Measure] = []
    dimensions: list[Dimension] = []
    order: Order | None = None
    limit: int | None = None
    filters: list[Filter] = []
    having: Having | None = None

    if per:
        measure = _per_measure(state, base, body, per)
        if measure is None:
            return None
        measures.append(measure)
        if measure.function == "avg":  # "average number of seats per subscription by product category"
            group_match = _GROUP.search(body, per.end())
            tail = _tokens(state, group_match.end()) if group_match else []
    elif counting and _AVERAGE.search(body) and (amount := _counted_amount(state, base, counting)) is not None:
        # "on average how many employees do companies have in each industry": the column averaged.
        measures.append(Measure("avg", amount, said=f"average {amount.column.name.replace('_', ' ')}"))
    elif metric is not None:
        measures.append(Measure("expression", expression=metric[1], said=metric[0]))
    elif ratio := _RATIO.search(body):
        measure = _ratio_measure(state, base, ratio)
        if measure is None:
            return None
        measures.append(measure)
    elif percent and not counting:
        condition = _percent_condition(state, base, body)
        if condition is None:
            return None
        measures.append(Measure("ratio", condition=condition, said="percentage of " + noun))

    ranked = top is not None or (superlative is not None and _rows_wanted(state, body, superlative))
    grouped = (
        None
        if measures or per or function not in (None, "count")
        else _by_column(state, base, body, top, superlative, counting)
    )
    if grouped is not None:
        measures, dimensions, order, limit = grouped
        ranked, group_match = True, None  # read here: no rank, no other group
    elif ranked and not measures:
        found = _rank(state, base, noun, body, top, superlative, group_match, tail)
        if found is None:
            return None
        base, measures_found, dimensions, order, limit = found
        measures.extend(measures_found)
    elif not measures:
        distinct = _DISTINCT.search(body)
        if function == "count" and distinct:
            owners = _distinct_owners(state, base, distinct)
            column = owners or _measure_column(
                state, _tokens(state, distinct.end(), head_end), base, "count", any_type=True
            )
            if column is not None:
                base = column.table
                measures.append(Measure("count_distinct", Ref(column.table, column.column),
                                        said=f"distinct {column.column.name.replace('_', ' ')}"))  # fmt: skip
        if not measures and function not in (None, "count"):
            column = _measure_column(state, head, base, function) or _child_measure(state, head, base, function)
            if column is None:
                return Unanswerable(f"no numeric column of {base.qualified_name} matches the question")
            base = column.table
            measures.append(Measure(function, Ref(column.table, column.column), said=_said(state, head, column)))
        elif not measures and function == "count":
            measures.append(Measure("count", said=f"number of {noun}"))
        elif not measures and (group_match is not None and tail):
            # "revenue by region": a named amount, summed; else the rows counted.
            column = _measure_column(state, head, base, "sum", strict=True)
            if column is not None:
                base = column.table
                measures.append(Measure("sum", Ref(column.table, column.column), said=_said(state, head, column)))
            else:
                measures.append(Measure("count", said=f"number of {noun}"))
        elif not measures and (column := _money_asked(state, body, head, base)) is not None:
            # "revenue from trips in March", "maintenance cost last year": an amount, said alone, summed.
            base = column.table
            measures.append(Measure("sum", Ref(column.table, column.column), said=_said(state, head, column)))
    if group_match is not None and not dimensions and not ranked:
        dimension = _dimension(state, base, tail)
        if dimension is None:
            return None
        dimensions.append(dimension)
    elif not dimensions:
        bucket = next((BUCKETS[t.text] for t in head if t.text in BUCKETS and t.text.endswith("ly")), None)
        if bucket and measures:
            dated = _date_column(state, base)
            if dated is not None:
                dimensions.append(Dimension(dated, bucket=bucket))

    if order is None:
        order = _sorting(state, base, body, measures)
    grouped_count = _grouped_having(state, base, body) if grouped is not None and dimensions else None
    conditions = _conditions(state, base, body, measures, compared=grouped_count is None)
    if isinstance(conditions, Unanswerable):
        return conditions
    filters, having = conditions
    if grouped_count is not None:
        having = grouped_count
    elif having is not None and not measures and not dimensions and not any(f.op == "exists" for f in filters):
        # "customers with more than 5 tickets": each customer with its number of tickets, named by
        # its best naming column (described first: the context may show only a code, ``sku``).
        dimensions = [_rows_dimension(state, base)]
        measures = [having.measure or Measure("count", said=f"number of {having.table.noun}")]
        base, noun = having.table, having.table.noun
    period = _period(state, base)
    if (
        period is not None
        and (state.dated or _happened(state, noun))
        and not measures
        and not dimensions
        and order is None
        and limit is None
        and not _ASKS.search(body)
    ):
        # "deals won last quarter", "new deals created in the last 12 months": how many, not which.
        measures = [Measure("count", said=f"number of {noun}")]
    filters.extend(_unexplained(state, base, [f.ref.table for f in filters]))
    for measure in measures:
        if measure.ref is not None and measure.function in ("sum", "avg", "min", "max"):
            state.want(measure.ref.table)  # a currency column next to the amount may not be shown yet
    if not measures:
        state.want(base)  # a listing shows the rows' columns: all of them, not those the search matched
    columns = () if measures or dimensions else _listing_columns(state, base)
    return Query(base=base, measures=tuple(measures), dimensions=tuple(dimensions), filters=tuple(filters),
                 having=having, period=period, order=order, limit=limit, columns=columns,
                 noun=noun)  # fmt: skip


_MONEY = re.compile(r"revenue|amount|cost|spend|spent|sales|turnover|income|earning|fee|charge|paid|payment|value")
_WHAT_IS = re.compile(r"^\s*(?:what|how much)(?: is| was| were| are|'s)?(?: the| our| my)?\b")


def _money_asked(state: _State, body: str, head: list[Token], base: Table) -> ColumnLink | None:
    """A money column the question names as what it asks ("trip revenue this year", "what was the
    maintenance cost in 2025"), where it lists nothing and compares nothing: summed."""
    if (_ASKS.match(body) and not _WHAT_IS.match(body)) or _COMPARE.search(body) or _BETWEEN.search(body):
        return None
    column = _measure_column(state, head, base, "sum", strict=True)
    if column is None or not _MONEY.search(column.column.name.lower()):
        return None
    return column


def _happened(state: _State, noun: str) -> bool:
    """The rows are named as events of the period: "new deals", "refunds issued", "orders placed"."""
    words = list(state.norm.outside_window())
    for index, token in enumerate(words):
        if token.text != noun:
            continue
        before = words[index - 1].text if index else ""
        after = words[index + 1].text if index + 1 < len(words) else ""
        if before == "new" or (after.endswith("ed") and len(after) > 4) or after in _IRREGULAR:
            return True
    return False


def _names_column(state: _State, body: str, hit: re.Match[str]) -> bool:
    """An aggregate word that is, after an article, the whole name of a column or its first word."""
    if not re.search(r"\b(a|an|the|with|its|their|whose|by)\s+$", body[: hit.start()]):
        return False
    word = singular(hit.group(0))
    following = re.match(r"\s+(\w+)", body[hit.end() :])
    if following and re.search(r"\b(a|an|with|whose|its|their)\s+$", body[: hit.start()]):
        names = {word, glued(word + following.group(1))}  # "with a total amount over 100", not "the total amount"
    else:
        names = {word}
    return any(glued(c.name) in names for t in state.link.tables for c in t.columns)


def _first_group(state: _State, body: str) -> re.Match[str] | None:
    """The "by" of "revenue by region"; not the "by" of "sorted by price", nor of "made by card"
    (a value, not a column)."""
    for match in _GROUP.finditer(body):
        after = body[match.end() :].split()
        if after and not _SORT.search(body[: match.end() + 1]) and not _names_value(state, match.end()):
            return match
    return None


def _names_value(state: _State, at: int) -> bool:
    """The word at ``at`` is a stored value and the whole name of no column ("by card", not "by method")."""
    words = _tokens(state, at)[:3]
    if not words or words[0].text in FUNCTION_WORDS:
        return False
    if any(link.score >= COLUMN_EXACT for link in state.link.column_links(words[:2])):
        return False
    return any(link.tokens[0] == words[0].start for link in state.link.value_links(words, state.link.tables))


def _sorting(state: _State, base: Table, body: str, measures: list[Measure]) -> Order | None:
    """ "sorted by price", "ordered by date descending", "in descending order of rating"."""
    match = _SORT.search(body)
    alphabetical = _ALPHABETICAL.search(body)
    if match is None and alphabetical is not None and base.label is not None:
        # "ordered alphabetically", "from z to a": by the column that names the rows.
        reverse = bool(alphabetical.group(2)) or "reverse" in alphabetical.group(0)
        state.used.update(t.start for t in _tokens(state, alphabetical.start(), alphabetical.end()))
        return Order(base.label.name, reverse, Ref(base, base.label))
    if match is None:
        return None
    tokens = _tokens(state, match.end())[:3]
    descending = bool(re.search(r"\b(desc|descending|highest first|largest first|newest first|reverse)\b", body))
    for measure in measures:
        # "total sales by region, sorted by sales": the measure itself.
        named = state.link.column_links(tokens, [measure.ref.table]) if measure.ref is not None else []
        if measure.ref is not None and any(link.column == measure.ref.column for link in named):
            return Order(measure.alias, descending)
    links = [link for link in state.link.column_links(tokens, [base]) if link.score >= COLUMN_WORD * 0.85]
    if not links:
        return None
    state.used.update(links[0].tokens)
    return Order(links[0].column.name, descending, Ref(base, links[0].column))


def _rows_wanted(state: _State, body: str, superlative: re.Match[str]) -> bool:
    """A superlative that returns rows ("which product has the highest price", "the most recent
    order") rather than a value ("what is the highest price")."""
    before = body[: superlative.start()]
    after = [t for t in content(_tokens(state, superlative.end())) if t.text not in BUCKETS]
    if re.search(r"\b(which|who|whose|list|show|name|find|give me|get)\b", before):
        return True
    if re.search(r"^\s*(the\s+)?\d{1,4}\s+\w+\s+that\b", before):
        return True  # "the 5 trips that earned the most"
    if superlative.group(0) in _BY_DATE | _BY_PRICE:
        return True
    named = [t for t in after if state.link.table_links([t]) or state.link.column_links([t])]
    if re.search(r"(^\s*|\bthe\s+|\bour\s+)$", before) and named:
        # "the largest invoice", "biggest single invoice": a table noun first, no amount named with it.
        first, rest = named[0], named[1:2]
        tables = [link.table for link in state.link.table_links([first]) if link.score >= NAME_WORD]
        return bool(tables) and not any(
            link.score >= COLUMN_WORD and link.column.is_numeric
            for link in state.link.column_links([first, *rest], tables[:1])
        )
    return bool(re.search(r"\b(with|having|has|have)\s+(the\s+)?$", before))


def _base_table(state: _State, tokens: list[Token], counting: re.Match[str] | None) -> TableLink | None:
    """The table of the rows the question is about: the first word that names a table well ("how
    many customers ...", "customers with no orders"); asks when that word fits two tables alike."""
    if counting is not None:
        after = [t for t in tokens if t.start >= counting.end()]
        # The first word that is not a yes/no of a table ("how many inactive drivers").
        flags = [c for table in state.link.tables for c in table.columns if c.is_boolean]
        counted = [t for t in content(after) if all(_flag_said(t, c) is None for c in flags)][:1]
        if counted and not _names_anything(state, counted):
            # "how many unicorns do our customers own": what is counted is in no table, nor a value
            # of the table the rest names (once that table's values are known).
            fallback = state.link.table_links(tokens)
            if not fallback or fallback[0].table.described:
                return None
        tokens = after[:3] if state.link.table_links(after[:3]) else tokens
    words = content(tokens)
    candidates: list[TableLink] = []
    for index, token in enumerate(words):
        # The word alone, or with the next one when together they spell a name ("order items").
        glued_names = [link for link in state.link.table_links(words[index : index + 2]) if link.score >= GLUED]
        candidates = glued_names or [link for link in state.link.table_links([token]) if link.score >= NAME_WORD]
        if candidates and not glued_names and _value_of_next(state, token, words[index + 1 : index + 2]):
            continue  # "Support products": a value of the products, not the support tickets
        if candidates:
            break
    if not candidates:
        # Weaker names (a synonym, a comment); a schema's name alone names none of its tables.
        candidates = [link for link in state.link.table_links(tokens) if link.score >= 0.8 and link.score != SCHEMA]
    if not candidates:
        return None
    # Among the tables that word names, the other words of the question decide ("web orders").
    whole = {link.table.key: link for link in state.link.table_links(tokens)}
    naming = {link.table.key: link.tokens for link in candidates}
    candidates = [whole.get(link.table.key, link) for link in candidates]
    candidates.sort(key=lambda link: -link.score)
    alike = [link for link in candidates if link is candidates[0] or close([candidates[0].score, link.score])]
    winner = candidates[0]
    if len(alike) > 1:
        word = next((t.text for t in tokens if t.start in winner.tokens), "that")
        names = [link.table.qualified_name for link in alike][:6]
        chosen = state.pick(names, f'Which table do you mean by "{word}"?')
        if chosen is None:
            raise _Stop
        winner = next(link for link in alike if link.table.qualified_name == chosen)
    elif winner.score < NAME_WORD:
        word = " ".join(t.text for t in tokens if t.start in winner.tokens)
        state.assumptions.append(f"assumed {word!r} means {winner.table.qualified_name}")
    # A word that only appears in the table's comment is still the question's to read ("cancelled"
    # in "end_epoch is NULL for cancelled trips" is a status asked about).
    state.used.update(t.start for t in words if t.start in winner.tokens
                      and table_word_score(t, winner.table) > COMMENT)  # fmt: skip
    state.used.update(naming.get(winner.table.key, ()))
    return winner


def _value_of_next(state: _State, token: Token, following: list[Token]) -> bool:
    """``token`` names a table only by a word of its name, and is a value of the table the next word
    names by its noun (asked to be described when its values are not known yet)."""
    if not following or any(link.score >= NOUN for link in state.link.table_links([token])):
        return False
    nouns = [link.table for link in state.link.table_links(following) if link.score >= NOUN]
    if not nouns:
        return False
    for table in nouns:
        state.want(table)
    return bool(state.link.value_links([token], nouns))


def _counted_rows(state: _State, body: str, base: TableLink) -> TableLink:
    """ "which account managers manage over 200 customers", "which account manager looks after the
    most customers": the rows counted (customers) are the base, grouped by the column of theirs the
    question opens with, although a word of that column names another table (accounts)."""
    lead = _LEAD.match(body)
    words = content(_tokens(state, lead.end() if lead else 0))[:2]
    for match in [*_COMPARE.finditer(body), *re.finditer(r"\b(most|fewest|least)\s+", body)]:
        after = _tokens(state, match.end())[:2]
        counted = [link for link in state.link.table_links(after) if link.score >= NAME_WORD]
        if not counted or counted[0].table.key == base.table.key:
            continue
        table = counted[0].table
        if any(link.score >= COLUMN_EXACT and link.column.is_text and not link.column.is_key
               for link in state.link.column_links(words, [table])):  # fmt: skip
            state.used.difference_update(base.tokens)
            state.used.update(counted[0].tokens)
            return counted[0]
    return base


def _valued_rows(state: _State) -> TableLink | None:
    """ "top 5 pages by page views": no word names a table, but one is a value of a table ("page
    view" of web events' type) another word names a column of (``page``): the rows are that table's."""
    tokens = _tokens(state)
    for value in state.link.value_links(tokens, state.link.tables):
        others = [t for t in content(tokens) if t.start not in value.tokens]
        if any(link.score >= COLUMN_WORD and link.column != value.column and not link.column.is_key
               for link in state.link.column_links(others, [value.table])):  # fmt: skip
            return TableLink(value.table, COMMENT, ())
    # Not described yet: the tables with a column the words name may hold such a value.
    for link in state.link.column_links(content(tokens)):
        if link.score >= COLUMN_WORD and not link.column.is_key and link.column.is_text:
            state.want(link.table)
    return None


def _names_anything(state: _State, tokens: list[Token]) -> bool:
    return bool(
        state.link.table_links(tokens)
        or state.link.column_links(tokens)
        or state.link.value_links(tokens, state.link.tables)
    )


def _noun_of(state: _State, link: TableLink) -> str:
    """The person's word for the rows ("clients"), else the table's noun."""
    words = [t.text for t in state.norm.tokens if t.start in link.tokens]
    return words[-1] if words else link.table.noun


def _metric(state: _State) -> tuple[str, str] | None:
    """A glossary metric the question names (the longest term found)."""
    text = _body(state)
    found = [(term, sql) for term, sql in state.metrics.items() if re.search(rf"\b{re.escape(term)}\b", text)]
    return max(found, key=lambda item: len(item[0])) if found else None


def _metric_table(state: _State, metric: tuple[str, str] | None) -> Table:
    """The table whose columns a metric's expression names most."""
    expression = (metric[1] if metric else "").lower()
    tables = state.link.tables
    return max(
        tables, key=lambda t: sum(1 for c in t.columns if re.search(rf"\b{re.escape(c.name.lower())}\b", expression))
    )


def _out_of_scope(state: _State) -> Unanswerable:
    words = [t.text for t in content(state.norm.outside_window())]
    about = " ".join(words[:6]) or "that"
    return Unanswerable(f"nothing in the tables I can see is about {about!r}")


# --- measures ------------------------------------------------------------------------------------------


def _reachable(state: _State, table: Table, *, to_parents: bool = True) -> list[tuple[Table, list[Join]]]:
    return [(t, p) for t, p in state.knowledge.reachable(table, MAX_JOINS, to_parents=to_parents)]


def _measure_column(
    state: _State,
    tokens: Sequence[Token],
    base: Table | None,
    function: str,
    *,
    any_type: bool = False,
    strict: bool = False,
    pool: list[tuple[Table, list[Join]]] | None = None,
) -> ColumnLink | None:
    """The column to aggregate: named by the words, numeric unless counted, in the base table or one
    it reaches; ties within ``CLOSE`` are asked about. With nothing named, the base's one amount."""
    tables = (
        pool
        if pool is not None
        else (_reachable(state, base) if base is not None else [(t, []) for t in state.link.tables])
    )
    distance = {t.key: len(p) for t, p in tables}
    named = {link.table.key for link in state.link.table_links(tokens) if link.score >= NAME_WORD}
    said = {t.text for t in tokens}
    scored: list[tuple[float, ColumnLink]] = []
    for link in state.link.column_links(tokens, [t for t, _ in tables]):
        column = link.column
        if not any_type and not (column.is_numeric or (not column.type and link.score >= COLUMN_WORD)):
            continue
        score = link.score + (0.5 if link.table.key in named else 0.0) - 0.05 * distance[link.table.key]
        if column.masked:
            score -= 0.5
        if function in ("sum", "avg") and {"price", "rate", "ratio", "percent", "discount"} & set(
            name_words(column.name)
        ):
            score -= 0.1
        if "units" in said and "unit" in name_words(column.name)[:-1]:
            score -= 0.5  # "units sold" are a quantity; ``unit_price`` is the price of one
        scored.append((score, link))
    scored.sort(key=lambda item: -item[0])
    if strict:
        scored = [item for item in scored if item[1].score >= COLUMN_WORD or item[0] >= 0.55]
    if not scored:
        if base is None or strict:
            return None
        amounts = [c for c in base.columns if c.is_numeric and not c.masked]
        if len(amounts) == 1:
            state.assumptions.append(f"measured {base.qualified_name}.{amounts[0].name}, its only amount")
            return ColumnLink(base, amounts[0], 0.5, ())
        state.want(base)
        return None
    best = [
        item for item in scored[1:] if close([scored[0][0], item[0]]) and item[1].table.key != scored[0][1].table.key
    ]
    if best and scored[0][1].score < 1.2:
        names = [scored[0][1].key, *[item[1].key for item in best]][:6]
        chosen = state.pick(names, "Which column should I measure?")
        if chosen is None:
            raise _Stop
        winner = next(item[1] for item in scored if item[1].key == chosen)
    else:
        winner = scored[0][1]
    state.used.update(winner.tokens)
    state.used.update(t.start for t in tokens if t.start in named and state.link.table_links([t]))
    return winner


def _child_measure(state: _State, head: Sequence[Token], base: Table, function: str) -> ColumnLink | None:
    """An amount of rows that point at the base, named where the base has none ("total kilometres
    driven by electric vehicles": the trips' ``distance_km``); the rows are then those rows, and the
    base's words their condition."""
    children = {t.key for t in _children(state, base)}
    pool = [(t, p) for t, p in _reachable(state, base, to_parents=False) if t.key in children]
    return _measure_column(state, head, base, function, strict=True, pool=pool) if pool else None


def _said(state: _State, tokens: Sequence[Token], link: ColumnLink) -> str:
    words = [t.text for t in tokens if t.start in link.tokens]
    return " ".join(words) or link.column.name.replace("_", " ")


def _counted_amount(state: _State, base: Table, counting: re.Match[str]) -> Ref | None:
    """The numeric column of ``base`` that "how many" is about ("how many employees do companies
    have"), when the word names that column and no table."""
    counted = content(_tokens(state, counting.end()))[:1]
    if not counted or any(link.score >= NAME_WORD for link in state.link.table_links(counted)):
        return None
    links = [link for link in state.link.column_links(counted, [base]) if link.column.is_numeric
             and link.score >= COLUMN_WORD]  # fmt: skip
    if not links:
        return None
    state.used.update(links[0].tokens)
    return Ref(base, links[0].column)


def _per_measure(state: _State, base: Table, body: str, per: re.Match[str]) -> Measure | None:
    """ "average number of orders per customer": the base's rows over all customers; "average number
    of seats per subscription": the base's column averaged, when the rows are the base's own."""
    after = _tokens(state, per.end())
    counted = content(_tokens(state, per.start(), per.end()))
    own = [link.score >= NAME_WORD for link in state.link.table_links(content(after)[:1]) if link.table.key == base.key]
    amounts = [link for link in state.link.column_links(counted, [base]) if link.column.is_numeric
               and link.score >= COLUMN_WORD]  # fmt: skip
    if any(own) and amounts:
        state.used.update(amounts[0].tokens)
        state.used.update(t.start for t in content(after)[:1])
        return Measure("avg", Ref(base, amounts[0].column), said=_said(state, counted, amounts[0]))
    named = [link.table for link in state.link.table_links(content(after)[:2])
             if link.score >= NAME_WORD and link.table.key != base.key]  # fmt: skip
    ref = _group_column(state, base, after)
    if ref is None:
        return None
    target = ref.column.target
    over = state.knowledge.get(base.datasource_id, target[0]) if target is not None else None
    said = f"average number of {base.noun} per {' '.join(t.text for t in content(after)[:2])}"
    return Measure("per", ref, over=over or (named[0] if named else None), said=said)


def _ratio_measure(state: _State, base: Table, ratio: re.Match[str]) -> Measure | None:
    """ "ratio of italian to chinese restaurants": rows with one value over rows with the other."""
    sides = []
    for group in (1, 2):
        tokens = _tokens(state, ratio.start(group), ratio.end(group))
        values = state.link.value_links(tokens, [base])
        if not values:
            state.want(base)
            return None
        state.used.update(values[0].tokens)
        ref = Ref(values[0].table, values[0].column)
        sides.append(Filter(ref, "=", values[0].value, said=f"{ref.label} = {values[0].value}"))
    said = f"ratio of {sides[0].said} to {sides[1].said}"
    return Measure("ratio", condition=sides[0], denominator=sides[1], said=said)


def _percent_condition(state: _State, base: Table, body: str) -> Filter | None:
    """The condition of "percentage of invoices that are paid": values of one column of the base
    ("resolved or closed": either; "win rate": 'won', by the stem), or a column left empty ("no
    signed-in customer"). The rows of a scope ("among closed deals", "won deals as a percentage of
    closed deals") are not the condition: they are filtered, with the question's other conditions.
    Else a yes/no column ("inactive")."""
    scope = _SCOPE.search(body)
    tokens = [t for t in _tokens(state) if scope is None or not scope.start(1) <= t.start < scope.end(1)]
    for match in _NONE.finditer(body):
        if scope is not None and scope.start(1) <= match.start() < scope.end(1):
            continue
        after = content(_tokens(state, match.end()))[:3]
        columns = [link for link in state.link.column_links(after, [base]) if link.score >= COLUMN_WORD]
        if columns:
            state.used.update(t.start for t in after)
            column = columns[0].column
            return Filter(Ref(base, column), "null", said=f"no {column.name}")
    values = [
        v for v in state.link.value_links(tokens, [base]) if not (len(v.tokens) == 1 and _event_word(state, v))
    ]  # not a verb of making: "placed"
    if not values:
        stems = {_stem(t.text): t.start for t in content(tokens) if t.start not in state.used}
        values = [ValueLink(base, column, value, (stems[_stem(word)],)) for column in base.columns
                  if not column.masked for value in column.samples if isinstance(value, str)
                  for word in re.findall(r"[a-z]+", value.lower()) if _stem(word) in stems]  # fmt: skip
    if not values:
        flags = _flag_filters(state, base)
        if flags:
            return flags[0]
        state.want(base)
        return None
    first = values[0]
    chosen = list(dict.fromkeys(v.value for v in values if v.column == first.column))
    state.used.update(t for v in values if v.column == first.column for t in v.tokens)
    ref = Ref(first.table, first.column)
    if len(chosen) > 1:
        return Filter(ref, "in", tuple(chosen), said=f"{ref.label} in {', '.join(map(str, chosen))}")
    return Filter(ref, "=", chosen[0], said=f"{ref.label} = {chosen[0]}")


_NOT_PREFIX = re.compile(r"^(non-?|un|in)(?=[a-z]{4})")


def _flag_said(token: Token, column: Column) -> bool | None:
    """Whether the word says yes (``active``, ``refunded`` of ``is_refund``) or no (``inactive``,
    ``non-active``) of a yes/no column; None when it says nothing of it."""
    if not column.is_boolean or not column.words:
        return None
    word = column.words[-1]
    if token.text == word or token.lemma == word or verb_forms(token.text)[:1] == verb_forms(word)[:1] != ():
        return True
    stem = _NOT_PREFIX.sub("", token.text)
    return False if stem != token.text and stem == word else None


def _flag_filters(state: _State, base: Table) -> list[Filter]:
    """Yes/no columns the words name as a state: "active drivers" (``active``), "discontinued
    products" (``is_discontinued``); "inactive", "non-active" or "not active" for false."""
    flags = [c for c in base.columns if c.is_boolean and not c.masked]
    filters = []
    for token in content(_tokens(state)):
        if token.start in state.used:
            continue
        for column in flags:
            said = _flag_said(token, column)
            if said is None:
                continue
            before = state.norm.text[max(0, token.start - 14) : token.start]
            negated = not said or bool(_NEGATION.search(before) or before.endswith("non-"))
            state.used.add(token.start)
            ref = Ref(base, column)
            filters.append(Filter(ref, "=", not negated, said=f"{ref.label} is {'false' if negated else 'true'}"))
            break
    return filters


# --- ranks ---------------------------------------------------------------------------------------------


def _rank(
    state: _State,
    base: Table,
    noun: str,
    body: str,
    top: re.Match[str] | None,
    superlative: re.Match[str] | None,
    group_match: re.Match[str] | None,
    tail: list[Token],
) -> tuple[Table, list[Measure], list[Dimension], Order, int | None] | None:
    """Top-N and superlatives: the rows of ``base`` ordered by a column of theirs, or ``base``'s rows
    grouped and ordered by an aggregate of a table that points at them."""
    word = ""
    limit: int | None = 10
    if top is not None:
        word = top.group(1) or top.group(4) or top.group(5) or ""
        number = top.group(2) or top.group(3)
        limit = int(number) if number else 10
    if superlative is not None and (top is None or not word or word in ("top", "bottom")):
        word = superlative.group(0) if not word or word in ("top",) else word
        if top is None:
            which_n = _WHICH_N.search(body)  # "which 3 products have the highest price"
            limit = int(which_n.group(2)) if which_n else None if _RANGE.search(body) else 1
    descending = word not in _ASCENDING
    adjective = _adjective(word)
    if adjective is not None:
        descending = adjective[1]
    after = superlative.end() if superlative is not None else (top.end() if top is not None else 0)
    words = tail if group_match is not None and tail else _tokens(state, after)
    words = [t for t in words if t.start not in state.used]
    aged = _column_of_kind(base, "age") if adjective is not None and adjective[0] == "age" else None
    if aged is not None:
        return base, [], [], Order(aged.name, descending, Ref(base, aged)), limit
    if word in _BY_DATE or word == "youngest":
        descending = word not in ("oldest", "earliest", "first")  # the oldest of rows with no age: the earliest
        dated = _date_column(state, base)
        if dated is None:
            return None
        return base, [], [], Order(dated.column.name, descending, dated), limit
    if word in _BY_PRICE:
        words = [Token("price", "price", -1), Token("cost", "cost", -2), *words]
    # Rows ordered by one of their own columns: "the 5 most expensive products", "largest invoice".
    own = _measure_column(state, words, base, "max", strict=True, pool=[(base, [])]) if words else None
    children = [(t, p) for t, p in _reachable(state, base, to_parents=False) if not any(j.to_parent for j in p)]
    counted = [
        (t, p) for t, p in children[1:]
        if any(link.score >= NAME_WORD for link in state.link.table_links(words) if link.table.key == t.key)
    ]  # fmt: skip
    # A numeric column the words name in those tables is summed ("by order total"), else their rows counted.
    named = _measure_column(state, words, base, "sum", strict=True, pool=children[1:]) if counted else None
    if counted and (own is None or own.score < COLUMN_WORD * 0.85) and (named is None or named.score < COLUMN_WORD):
        # "customers with the most invoices": count the invoices of each customer.
        table = counted[0][0]
        state.used.update(t.start for t in words if state.link.table_links([t]))
        dimension = _rows_dimension(state, base, learn=False)
        measure = Measure("count", Ref(table, table.primary_key or table.columns[0]), said=f"number of {table.noun}")
        return table, [measure], [dimension], Order(measure.alias, descending), limit
    if own is not None and own.score >= COLUMN_WORD * 0.85:
        return base, [], [], Order(own.column.name, descending, Ref(base, own.column)), limit
    said = body[max(0, superlative.start() - 30) : superlative.end() + 15] if superlative is not None else ""
    if adjective is None and _MONEY_SAID.search(said):
        adjective = ("money", descending)  # "the 5 trips that earned the most"
    kind = _column_of_kind(base, adjective[0]) if adjective is not None else None
    if adjective is not None and kind is None:
        state.want(base)  # its column of that kind may not be shown yet
    if kind is not None:
        # "which 10 deals are the largest", "the heaviest vehicles": the base's column of that kind.
        state.assumptions.append(f"ranked by {base.qualified_name}.{kind.name}")
        return base, [], [], Order(kind.name, descending, Ref(base, kind)), limit
    if not words:
        state.assumptions.append("ranked by the number of rows")
        return None
    measured = _measure_column(state, words, base, "sum", pool=children[1:])
    if measured is None:
        for missing in state.knowledge.missing_neighbours(base):
            key = (base.datasource_id, missing)
            if key not in state.attempted:
                state.describe.append(key)
        for child, _ in children:
            state.want(child)
        return None
    if measured.table.key == base.key:
        return base, [], [], Order(measured.column.name, descending, Ref(base, measured.column)), limit
    dimension = _rows_dimension(state, base, learn=False)
    measure = Measure("sum", Ref(measured.table, measured.column), said=_said(state, words, measured))
    return measured.table, [measure], [dimension], Order(measure.alias, descending), limit


def _adjective(word: str) -> tuple[str, bool] | None:
    """The kind of column a superlative adjective ranks by, and whether its most is the largest:
    "heaviest" (weight, yes), "least expensive" (money, no)."""
    stem = word.split()[-1]
    for base, (kind, largest) in _ADJECTIVES.items():
        if stem.startswith(base):
            return kind, largest != word.startswith("least ")
    return None


def _distinct_owners(state: _State, base: Table, distinct: re.Match[str]) -> ColumnLink | None:
    """ "how many different customers have opened a ticket": the distinct customers the tickets
    point at, when the word after "different" names the base and a later word a table of its rows."""
    after = content(_tokens(state, distinct.end()))
    if not after or not any(link.table.key == base.key for link in state.link.table_links(after[:1])):
        return None
    child = _related(state, base, after[1:])
    path = (state.knowledge.path(base, child, MAX_JOINS) if child is not None else None) or []
    if child is None or len(path) != 1 or path[0].to_parent:
        return None
    column = next((c for c in child.columns if c.name == path[0].right_column), None)
    return ColumnLink(child, column, 1.0, ()) if column is not None else None


def _rows_dimension(state: _State, table: Table, *, learn: bool = True) -> Dimension:
    """Group by a table's rows: its key, shown by its naming column (``learn``: describe the table
    first when the context may not show its best one)."""
    key = table.primary_key or table.columns[0]
    label = table.label
    if not table.described and (label is None or (learn and label.name.lower() not in ("name", "title"))):
        state.want(table)
    return Dimension(Ref(table, key), label=Ref(table, label) if label is not None else None)


def _column_base(state: _State, body: str, base: Table | None) -> Table | None:
    """The table whose column the question opens with, when the table the words name has none:
    "who are the account managers" (``customers.account_manager``, not the accounts), "what
    industries are represented" (``companies.industry``). Several tables with such a column: the
    one the other words name (a verb too: "what currencies do we invoice in"), else one related to
    ``base``, else none."""
    lead = _LEAD.match(body)
    words = content(_tokens(state, lead.end() if lead else 0))[:2]
    for size in (2, 1):
        group = words[:size]
        if len(group) < size or (size == 2 and group[1].start - group[0].start - len(group[0].text) > 1):
            continue
        if size == 1 and any(link.score >= NAME_WORD for link in state.link.table_links(group)):
            return None  # "which customers ...": the word names rows, not a column
        starts = {t.start for t in group}
        holders = list(dict.fromkeys(
            link.table for link in state.link.column_links(group)
            if starts <= set(link.tokens) and link.score >= COLUMN_WORD and link.column.is_text
            and name_words(link.column.name)[-1:] != ["id"] and not link.column.masked
            and (size == 2 or link.score >= COLUMN_EXACT or glued(link.column.name).startswith(group[0].lemma))
        ))  # fmt: skip
        if not holders or (base is not None and base in holders):
            continue
        rest = [t for t in _tokens(state) if t.start not in starts]
        named = [link.table for link in state.link.table_links([*rest, *_verb_bases(rest)]) if link.score >= NAME_WORD]
        distance = {t.key: len(p) for t, p in _reachable(state, base, to_parents=False)} if base is not None else {}
        related = sorted((t for t in holders if t.key in distance), key=lambda t: distance[t.key])
        chosen = (next((t for t in named if t in holders), None) or (related[0] if related else None)
                  or (holders[0] if len(holders) == 1 else None))  # fmt: skip
        if chosen is not None:
            return chosen
    return None


def _group_word(state: _State, base: Table, body: str) -> ColumnLink | None:
    """The column of ``base`` a question opens with ("which countries", "list the distinct deal
    stages", "top 3 referrers"): a word naming a text column, not a table."""
    lead = _LEAD.match(body)
    words = content(_tokens(state, lead.end() if lead else 0))
    if len(words) > 1 and words[0].start in state.used and words[1].start - words[0].start - len(words[0].text) <= 1:
        words = words[1:]  # "the deal stages": the base's own word first
    words = words[:2]
    if not words or words[0].start in state.used:
        return None
    for size in (2, 1):
        group = words[:size]
        if size == 2 and (len(words) < 2 or words[1].start in state.used):
            continue
        links = [link for link in state.link.column_links(group, [base]) if link.score >= COLUMN_WORD
                 and {t.start for t in group} <= set(link.tokens) and not link.column.masked
                 and not (link.column.is_key and not link.column.is_text)
                 and not link.column.is_numeric and not link.column.is_temporal]  # fmt: skip
        # "which countries": a column; "which products": a table, even with a column ``product``. Two
        # words that spell a column name it, whatever their first names ("account managers").
        names_table = not (size == 2 and links and links[0].score >= COLUMN_EXACT) and any(
            link.score >= NAME_WORD and link.table.key != base.key for link in state.link.table_links(group[:1])
        )
        if links and not names_table:
            return links[0]
    return None


def _by_column(
    state: _State,
    base: Table,
    body: str,
    top: re.Match[str] | None,
    superlative: re.Match[str] | None,
    counting: re.Match[str] | None,
) -> tuple[list[Measure], list[Dimension], Order | None, int | None] | None:
    """Questions about the values of a column of ``base`` rather than its rows: "which countries do
    customers come from" (its distinct values), "which 3 countries have the most customers" (ranked
    by their number of rows), "which countries have more than 100 customers" (with a count
    condition, set by ``grouped_having``)."""
    if counting is not None and top is None and superlative is None:
        return None
    found = _group_word(state, base, body)
    if found is None:
        return None
    ref = Ref(base, found.column)
    rest = [t for t in content(_tokens(state, max(found.tokens) + 1)) if t.start not in state.used]
    # A numeric column named after the group word ("top 3 categories by unit price") is another kind.
    if any(link.column.is_numeric and link.score >= COLUMN_WORD for link in state.link.column_links(rest, [base])):
        return None
    count = Measure("count", said=f"number of {base.noun}")
    word = superlative.group(0) if superlative is not None else ""
    if top is not None or word in _MOST:
        number = (top.group(2) or top.group(3)) if top is not None else None
        which_n = _WHICH_N.search(body)
        limit = int(number) if number else int(which_n.group(2)) if which_n else 1 if top is None else 10
        descending = word not in _ASCENDING and not (top is not None and top.group(1) == "bottom")
        state.used.update(found.tokens)
        return [count], [Dimension(ref)], Order(count.alias, descending), limit
    if superlative is not None or _SORT.search(body):
        return None
    having = _grouped_having(state, base, body)
    if having is not None:
        state.used.update(found.tokens)
        return [having.measure or count], [Dimension(ref)], None, None
    if _COMPARE.search(body) or _BETWEEN.search(body) or not (_ASKS.search(body) or _DISTINCT.search(body)):
        return None
    said = [t for t in _tokens(state) if t.start in found.tokens]
    if not _DISTINCT.search(body) and not any(t.text != t.lemma for t in said):
        return None  # "what is the status of order 3" asks for one row's value, "which statuses" for the values
    state.used.update(found.tokens)
    return [], [Dimension(ref)], None, None


def _grouped_having(state: _State, base: Table, body: str) -> Having | None:
    """ "more than 100 customers" where the customers are the rows grouped: a count condition."""
    for match in _COMPARE.finditer(body):
        after = _tokens(state, match.end())[:2]
        # The rows by their table's name, by a value of theirs ("more than 5000 page views" of events),
        # or as times.
        if (
            any(link.table.key == base.key and link.score >= NAME_WORD for link in state.link.table_links(after))
            or (len(after) == 2 and any(len(v.tokens) == 2 for v in state.link.value_links(after, [base])))
            or (after and after[0].lemma == "time")  # "reasons used more than 40 times"
        ):
            op = _OPS[match.group(1) or match.group(3)]
            state.used.update(t.start for t in after if state.link.table_links([t]))
            return Having(base, op, _number(float(match.group(2) or match.group(4))))
    for match in _COMPARE.finditer(body):
        # "owners with more than 5 million dollars in won deals": the group's amount, summed.
        near = body[max(0, match.start() - 30) : match.end() + 25]
        if not (_MONEY_SAID.search(near) or re.search(r"\b(in total|total|combined|altogether)\b", near)):
            continue
        ref = _compared_column(state, base, [base], body, match.span(), [])
        if ref is not None:
            measure = Measure("sum", ref, said=f"total {ref.label}")
            op, value = _OPS[match.group(1) or match.group(3)], _number(float(match.group(2) or match.group(4)))
            return Having(base, op, value, measure)
    return None


# --- dimensions ----------------------------------------------------------------------------------------


def _dimension(state: _State, base: Table, tail: list[Token]) -> Dimension | None:
    words: list[Token] = []
    for token in tail:
        if token.text in _GROUP_STOP and words:
            break
        words.append(token)
        if len(content(words)) >= 3:
            break
    bucket = next((BUCKETS[t.text] for t in words if t.text in BUCKETS), None)
    if bucket is not None:
        state.used.update(t.start for t in words if t.text in BUCKETS)
        dated = _date_column(state, base, [t for t in words if t.text not in BUCKETS])
        if dated is None:
            return None
        return Dimension(dated, bucket=bucket)
    pool = _reachable(state, base)
    distance = {t.key: len(p) for t, p in pool}
    tables = [link for link in state.link.table_links(words) if link.table.key in distance and link.score >= NAME_WORD]
    naming = {start for link in tables for start in link.tokens}
    # A key named only by the word that names its table is that table's rows ("per customer"), and
    # the column another word names beside it is the group ("per customer country").
    columns = [link for link in state.link.column_links(words, [t for t, _ in pool])
               if not link.column.masked and not (link.column.is_key and set(link.tokens) <= naming
                                                  and any(set(c.tokens) - naming for c in
                                                          state.link.column_links(words, [link.table])))]  # fmt: skip
    ranked = sorted(columns, key=lambda link: -(link.score - 0.05 * distance[link.table.key]
                    + (0.5 if any(t.table.key == link.table.key for t in tables) else 0.0)))  # fmt: skip
    best = ranked[0] if ranked else None
    if best is not None and best.column.is_key and tables and best.score < COLUMN_EXACT:
        best = None  # "by customer" is by the customers' rows; "by customer id" by the column
    if tables and (best is None or best.score < COLUMN_WORD or (best.column.is_key and best.score < 1.5)):
        table = tables[0].table
        if table.key != base.key:
            state.used.update(tables[0].tokens)
            return _rows_dimension(state, table)
    if best is not None and best.score >= COLUMN_WORD * 0.8:
        state.used.update(best.tokens)
        return Dimension(Ref(best.table, best.column))
    ref = _group_column(state, base, words)
    return Dimension(ref) if ref is not None else None


def _group_column(state: _State, base: Table, words: Sequence[Token]) -> Ref | None:
    """The column of ``base`` that says which Y a row belongs to ("per customer"): the foreign key to
    the table Y names, else a column named after Y (``customer_id`` with no declared key)."""
    links = state.link.table_links(words)
    for link in links:
        for column in base.columns:
            target = column.target
            if target is not None and target[0] == link.table.qualified_name:
                state.used.update(link.tokens)
                return Ref(base, column)
    columns = [c for c in state.link.column_links(words, [base]) if not c.column.masked]
    if columns:
        state.used.update(columns[0].tokens)
        return Ref(base, columns[0].column)
    for table, _ in _reachable(state, base):
        state.want(table)
    for name in state.knowledge.missing_neighbours(base):
        if (base.datasource_id, name) not in state.attempted:
            state.describe.append((base.datasource_id, name))
    return None


# --- conditions ----------------------------------------------------------------------------------------


def _stem(word: str) -> str:
    """A verb's stem, enough to meet a date column's name: "cancelled", "canceled" and "cancel" ->
    "cancel"; "closed" and "closes" -> "clos"; "won" -> "win"."""
    word = _IRREGULAR.get(word, word)
    for suffix in ("ation", "ion", "ing", "ed", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiou" else word


# Verbs that name the same moment of a row's life, as date columns are named after one of them:
# a deal won or lost is closed (``closed_at``), a cancelled subscription has ended (``ended_at``).
_IRREGULAR = {"won": "win", "lost": "lose", "paid": "pay", "sent": "send", "began": "begin", "begun": "begin",
              "sold": "sell", "made": "make", "signups": "sign", "signup": "sign"}  # fmt: skip
_DATE_VERBS = tuple(
    frozenset(_stem(word) for word in group.split())
    for group in (
        "close win lose", "end cancel churn terminate stop finish expire complete", "resolve solve close fix",
        "create open start begin sign register join add place make new", "pay settle receive",
        "ship deliver dispatch send", "hire join employ", "issue bill invoice", "refund return", "sell order buy",
    )
)  # fmt: skip


def _verb_dated(state: _State, table: Table, temporal: list[Column], words: Sequence[Token]) -> Column | None:
    """The date column a verb of the question names through a verb of its own name ("deals won" are
    closed: ``closed_at``; "subscriptions cancelled" ended: ``ended_at``), else through its comment
    ("When the deal was won or lost")."""
    said = [t for t in content(words) if t.start not in state.used]
    for token in content(words):  # a value too: "deals won" are of stage 'won' and dated by closing
        stem = _stem(token.text)
        kin = set().union(*(group for group in _DATE_VERBS if stem in group)) or {stem}
        found = [c for c in temporal if kin & {_stem(w) for w in name_tokens(c.name)}]
        if len(found) == 1:
            if table.described:
                state.used.add(token.start)  # else it may be a value too, once the samples are read
            return found[0]
    for token in said:
        found = [c for c in temporal if token.text in re.findall(r"[a-z]+", c.comment.lower())]
        if len(found) == 1:
            state.used.add(token.start)
            return found[0]
    return None


def _date_column(state: _State, table: Table, words: Sequence[Token] = ()) -> Ref | None:
    """The date (or epoch time) column a period or a bucket applies to: one the words name ("deals
    closed"), or a verb of theirs ("deals won"), else the likeliest of the table, else of a table it
    points at ("invoice lines last month"). ``state.dated`` says whether the question named it."""
    for candidate, _ in _reachable(state, table):
        temporal = [c for c in candidate.columns if c.is_temporal and not c.masked and not c.is_key]
        if not temporal and candidate.key == table.key and not table.described:
            state.want(table)  # its types are not known yet: an epoch column is a time only by its type
        if not temporal:
            continue
        named = [link for link in state.link.column_links(words or _tokens(state), [candidate])
                 if link.column in temporal and link.score >= COLUMN_WORD]  # fmt: skip
        if named:
            state.dated = state.dated or not set(named[0].tokens) <= state.used
            state.used.update(named[0].tokens)
            return Ref(candidate, named[0].column)
        verb = _verb_dated(state, candidate, temporal, words or _tokens(state))
        if verb is not None:
            state.dated = True
            return Ref(candidate, verb)
        for preferred in _DATE_PREFERENCE:
            for column in temporal:
                if preferred in name_words(column.name):
                    return Ref(candidate, column)
        return Ref(candidate, temporal[0])
    return None


def _period(state: _State, base: Table) -> Period | None:
    window = state.norm.window
    if window is None or state.simplified:
        if window is not None:
            state.assumptions.append("left out the period because the first query failed")
        return None
    dated = _date_column(state, base)
    if dated is None:
        state.want(base)
        state.assumptions.append(f"{base.qualified_name} has no date column, so the period was not applied")
        return None
    return Period(dated, window.start, window.end, window.label)


def _conditions(
    state: _State, base: Table, body: str, measures: list[Measure], *, compared: bool = True
) -> tuple[list[Filter], Having | None] | Unanswerable:
    """``compared``: the comparisons are about rows (not a group's count or total, read as its condition)."""
    filters: list[Filter] = []
    having: Having | None = None
    pool = _reachable(state, base)
    tables = [t for t, _ in pool]
    filters.extend(_set_conditions(state, base, body))
    for match in _BETWEEN.finditer(body):
        ref = _compared_column(state, base, tables, body, match.span(), measures)
        if ref is not None:
            low, high = float(match.group(1)), float(match.group(2))
            filters.append(Filter(ref, "between", (_number(low), _number(high)),
                                  said=f"{ref.label} between {_number(low)} and {_number(high)}"))  # fmt: skip
    for match in _COMPARE.finditer(body) if compared else ():
        if _BETWEEN.search(body[max(0, match.start() - 40) : match.end()]):
            continue
        op = _OPS[match.group(1) or match.group(3)]
        value = _number(float(match.group(2) or match.group(4)))
        after = _tokens(state, match.end())[:2]
        related = _related(state, base, after)
        if related is not None and having is None:
            having = Having(related, op, value)
            continue
        totalled = _totalled(state, base, body, match.span()) if having is None else None
        if totalled is not None:
            having = Having(totalled.table, op, value, Measure("sum", totalled, said=f"total {totalled.label}"))
            continue
        if any(link.table.key == base.key and link.score >= NAME_WORD for link in state.link.table_links(after)):
            continue  # "more than 100 customers" of customers grouped: a count condition, not a column's
        ref = _compared_column(state, base, tables, body, match.span(), measures)
        if ref is not None:
            filters.append(Filter(ref, op, value, said=f"{ref.label} {op} {value}"))
    filters.extend(_value_filters(state, base, tables, body))
    filters.extend(_flag_filters(state, base))
    filters.extend(_text_filters(state, base, tables))
    return filters, having


# Where one condition on related rows ends and the next begins: "customers who returned an order
# but also had one delivered", "both an open ticket and an overdue invoice".
_CLAUSE = re.compile(r"\s*(?:[,;:?]|\b(?:but|and|or|while|whereas|who|that|which|whose)\b)\s*")
_RELATIVE = frozenset({"who", "that", "which", "whose"})
_SORTED = re.compile(r"\b(sorted|ordered|ranked|arranged)\s+(alphabetically|from|in|reverse|descending|ascending)\b")
_ANAPHOR = re.compile(r"\b(one|ones|them|it|those)\b")


def _clauses(body: str) -> list[tuple[int, int, str]]:
    """(start, end, the word that opened it) of each clause of the question."""
    found, start, opened = [], 0, ""
    for match in _CLAUSE.finditer(body):
        if match.start() > start:
            found.append((start, match.start(), opened))
        start, opened = match.end(), match.group().strip()
    if start < len(body):
        found.append((start, len(body), opened))
    return found


def _set_conditions(state: _State, base: Table, body: str) -> list[Filter]:
    """Conditions on rows of tables that point at the base, one per clause: "customers with no
    invoices", "accounts never invoiced" (the verb names the table), "vehicles that had engine work
    but no brake service" (a value names it), with the values the clause names on those rows
    ("customers without any active subscription"). A clause with no marker of its own ("and an
    overdue invoice") says the same as the one before; "one" is the table of the one before."""
    filters: list[Filter] = []
    key = Ref(base, base.primary_key or base.columns[0])
    children = _children(state, base)
    before: tuple[Table, bool] | None = None  # the last clause's table and whether it was negated
    for start, end, opened in _clauses(body):
        text = body[start:end]
        if _SORT.search(text) or _SORTED.search(text):
            continue  # "customers ordered by name", "ordered alphabetically": how to sort, no orders
        negated = _NONE.search(text + " ") is not None
        marked = negated or _SOME.search(text + " ") is not None or opened in _RELATIVE
        tokens = [t for t in _tokens(state, start, end) if t.start not in state.used]
        if not tokens or _COMPARE.search(text) or _BETWEEN.search(text):
            continue  # none, or a count of them compared ("with more than 5 orders"): not here
        if not marked and before is None:
            continue  # no "with", "who", "never": "customers ordered by name" is no condition on orders
        child = _related(state, base, [*tokens, *_verb_bases(tokens)])
        if child is None and negated:
            # "customers with no email": a column of the base that is empty.
            words = [t for t in tokens if not _NONE.match(t.text)]
            columns = [link for link in state.link.column_links(words[:2], [base]) if link.score >= COLUMN_WORD]
            if columns:
                state.used.update(columns[0].tokens)
                filters.append(Filter(Ref(base, columns[0].column), "null", said=f"no {columns[0].column.name}"))
                continue
        if child is None and before is not None and _ANAPHOR.search(text):
            child = before[0]
        if child is None and marked and not state.link.value_links(tokens, [base]):
            # (A value of the base's own is a condition on it: "invoices that are not paid".)
            child = _child_named(state, [*tokens, *_verb_bases(tokens)], children)
        if child is None:
            continue
        if not marked and before is not None:
            negated = before[1]
        # Not the verb of having ("placed an order" is any order, "returned an order" a returned one).
        having = [(start + m.start(), start + m.end()) for m in _SOME.finditer(text + " ")]
        words = [t for t in tokens if t.start not in state.used and not any(a <= t.start < b for a, b in having)]
        within = _value_filters_on(state, child, words)
        if content(t for t in tokens if t.start not in state.used):
            state.want(child)  # words left that may be its values ("an open ticket"): its samples
        before = (child, negated)
        condition = Filter(key, "exists", child, negated=negated, within=within,
                           said=f"{'no' if negated else 'some'} {child.noun}"
                           + "".join(f" with {f.said}" for f in within))  # fmt: skip
        if condition not in filters:
            filters.append(condition)
    return filters


def _verb_bases(tokens: Sequence[Token]) -> list[Token]:
    """Past forms as the noun a table is named by: "invoiced" -> invoice, "serviced" -> service,
    "ordered" -> order (lemminflect's verb lemmas)."""
    found = []
    for token in tokens:
        lemma = next(iter(verb_forms(token.text)), token.text)
        if lemma != token.text:
            found.append(Token(lemma, singular(lemma), token.start))
    return found


def _child_named(state: _State, tokens: Sequence[Token], children: list[Table]) -> Table | None:
    """The table of related rows a clause names by one of its columns ("never serviced": the
    ``service_date`` of maintenance) or by one of its values ("never driven to Berlin")."""
    for link in state.link.column_links(tokens, children):
        if link.score >= COLUMN_WORD and not link.column.is_key:
            state.used.update(link.tokens)
            return link.table
    values = state.link.value_links(tokens, children)
    return values[0].table if values else None


def _value_filters_on(state: _State, table: Table, tokens: Sequence[Token]) -> tuple[Filter, ...]:
    """The values ``tokens`` name on ``table``'s rows, as conditions (one per column)."""
    by_column: dict[str, list[ValueLink]] = {}
    for link in sorted(state.link.value_links(tokens, [table]), key=lambda v: -len(v.tokens)):
        if any(t in state.used for t in link.tokens):
            continue
        state.used.update(link.tokens)
        by_column.setdefault(link.column.name, []).append(link)
    return tuple(_values_filter(found) for found in by_column.values())


def _totalled(state: _State, base: Table, body: str, span: tuple[int, int]) -> Ref | None:
    """ "vehicles whose maintenance cost more than 15000 euros in total", "customers who spent more
    than 3000 dollars": the amount of the rows of a table that point at the base, summed for each
    base row; the table named before the comparison, else the one with money when the base has none."""
    near = body[max(0, span[0] - 40) : span[1] + 25]
    money = _MONEY_SAID.search(near)
    if not (money or re.search(r"\b(in total|total|combined|altogether)\b", near)):
        return None
    before = _tokens(state, max(0, span[0] - 40), span[0])[-4:]
    child = _related(state, base, before)
    if child is None and money and _column_of_kind(base, "money") is None:
        child = next((t for t in _children(state, base) if _column_of_kind(t, "money") is not None), None)
    if child is None:
        return None
    return _compared_column(state, child, [child], body, span, [])


def _number(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def _related(state: _State, base: Table, words: Sequence[Token]) -> Table | None:
    """A table the words name whose rows point at ``base``'s ("orders" of customers); a word that
    is the base's own noun names the base ("orders worth more than 60": no order items)."""
    words = [t for t in words if table_word_score(t, base) < NOUN]
    links = [link for link in state.link.table_links(words) if link.score >= NAME_WORD and link.table.key != base.key]
    children = {t.key for t in _children(state, base)}
    for link in links:
        if link.table.key in children:
            state.used.update(link.tokens)
            return link.table
    return None


def _children(state: _State, base: Table) -> list[Table]:
    """The tables whose rows point at ``base``'s, directly or through others."""
    return [t for t, path in _reachable(state, base, to_parents=False) if path and not any(j.to_parent for j in path)]


def _compared_column(
    state: _State, base: Table, tables: list[Table], body: str, span: tuple[int, int], measures: list[Measure]
) -> Ref | None:
    """The numeric column a comparison is about (a number compares with nothing else): the one its
    unit names ("1000 km", "15000 euros"), else one named in the four words before it, else the
    measure, else the base's column of the kind the words say (money for "worth", "dollars"),
    else its one amount."""
    at, end = span
    after = _tokens(state, end)[:1]
    before = _tokens(state, max(0, at - 40), at)[-4:]
    for words, least in ((after, COLUMN_WORD * 0.85), (before, COLUMN_SYNONYM)):
        # A synonym names a column of the base only ("owners" is no word for the companies' employees).
        links = [link for link in state.link.column_links(words, tables)
                 if link.column.is_numeric and not link.column.masked
                 and link.score >= (least if link.table.key == base.key else COLUMN_WORD)]  # fmt: skip
        if links:
            state.used.update(links[0].tokens)
            return Ref(links[0].table, links[0].column)
    for measure in measures:
        if measure.ref is not None and measure.function in ("sum", "avg", "max", "min"):
            return measure.ref
    near = body[max(0, at - 30) : end + 20]
    kind = (
        "money"
        if _MONEY_SAID.search(near)
        else next((kind for word, (kind, _) in _ADJECTIVES.items() if re.search(rf"\b{word}", near)), "")
    )
    chosen = _column_of_kind(base, kind)
    if chosen is not None:
        state.assumptions.append(f"compared {base.qualified_name}.{chosen.name}")
        return Ref(base, chosen)
    return None


def _column_of_kind(table: Table, kind: str) -> Column | None:
    """The numeric column of ``table`` of a kind ("money", "size", "length", "weight", "age"...),
    by its type and the words of its name and comment; with no kind, its first amount."""
    amounts = [c for c in table.columns if c.is_numeric and not c.masked]
    for wanted in _KIND_ORDER.get(kind, ("money",)):
        words = _KIND_WORDS[wanted]
        found = [c for c in amounts if set(name_words(c.name)) & words or (wanted == "money" and "money" in c.type)]
        if not found and wanted == "money":
            found = [c for c in amounts if _MONEY_SAID.search(c.comment.lower())]
        if found:
            return found[0]
    return amounts[0] if amounts and not kind else None


def _value_filters(state: _State, base: Table, tables: list[Table], body: str) -> list[Filter]:
    """Sample values the question names, on the base table first, then on tables it reaches."""
    links = state.link.value_links(_tokens(state), tables)
    order = {t.key: i for i, t in enumerate(tables)}
    by_column: dict[tuple[str, str], list[ValueLink]] = {}
    seen: dict[tuple[int, ...], tuple[str, str]] = {}  # words read as values, and the column of theirs
    for link in sorted(links, key=lambda v: (order[v.table.key], -len(v.tokens))):
        column = (link.table.qualified_name, link.column.name)
        if seen.get(link.tokens, column) != column or any(set(link.tokens) < set(s) for s in seen):
            continue
        # A word that names a table or column is a value only when it is no name here ("open" yes,
        # "customers" no), or when it is part of a longer value ("closed won").
        if len(link.tokens) == 1 and link.tokens[0] in state.used:
            continue
        if len(link.tokens) == 1 and _event_word(state, link):
            state.used.add(link.tokens[0])
            continue
        seen[link.tokens] = column
        by_column.setdefault((link.table.qualified_name, link.column.name), []).append(link)
    filters = []
    for found in by_column.values():
        state.used.update(t for v in found for t in v.tokens)
        negated = any(_NEGATION.search(body[max(0, v.tokens[0] - 14) : v.tokens[0]]) for v in found)
        filters.append(_values_filter(found, negated=negated))
    return filters


def _values_filter(found: Sequence[ValueLink], *, negated: bool = False) -> Filter:
    """One column's values the question names, as its condition: ``=`` one, ``in`` several."""
    values = tuple(dict.fromkeys(v.value for v in found))
    ref = Ref(found[0].table, found[0].column)
    said = f"{ref.label} {'<>' if negated else '='} {' or '.join(str(v) for v in values)}"
    if len(values) == 1:
        return Filter(ref, "<>" if negated else "=", values[0], said=said)
    return Filter(ref, "in", values, negated=negated, said=said)


# Verbs that say a row was made, not which rows: "orders placed in 2025", "did customers open".
_MAKING = frozenset({"place", "make", "create", "submit", "raise", "file", "log", "add", "buy", "order", "open"})
_STATE = re.compile(r"\b(is|are|be|still|currently|remain|remains|stay|stays|now)\s+$")


def _event_word(state: _State, link: ValueLink) -> bool:
    """A verb that tells how the rows came to be rather than a value they hold: a verb of making
    ("placed", "open") or one a date column of the table is named after ("opened" and ``opened_at``),
    unless it is said as a state ("tickets that are open") or before the rows' noun ("open tickets")."""
    token = next((t for t in _tokens(state) if t.start == link.tokens[0]), None)
    if token is None:
        return False
    verbs = set(verb_forms(token.text))
    dated = {verb for c in link.table.columns if c.is_temporal and c.words for verb in verb_forms(c.words[0])}
    if not verbs & (_MAKING | dated):
        return False
    if _STATE.search(state.norm.text[max(0, token.start - 12) : token.start]):
        return False
    following = content(_tokens(state, token.start + len(token.text)))[:1]
    return not any(table_word_score(t, link.table) >= NAME_WORD for t in following)


def _text_filters(state: _State, base: Table, tables: list[Table]) -> list[Filter]:
    """Quoted literals ("named 'Acme'") as a text match on the column named before them."""
    filters = []
    # Positions in the normalised text, the literal as typed (same quotes, in the same order).
    typed = [m.group(1) or m.group(2) for m in _QUOTED.finditer(state.norm.original)]
    for match, literal in zip(_QUOTED.finditer(state.norm.text), typed, strict=False):
        before = _tokens(state, max(0, match.start() - 40), match.start())[-4:]
        links = [link for link in state.link.column_links(before, tables)
                 if link.column.is_text and not link.column.masked and link.score >= COLUMN_WORD]  # fmt: skip
        named = _NAMED.search(state.norm.text[max(0, match.start() - 20) : match.start()])
        if links:
            ref = Ref(links[0].table, links[0].column)
        elif named and base.label is not None:
            ref = Ref(base, base.label)
        else:
            continue  # a quote about nothing named is no condition
        state.used.update(t.start for t in _tokens(state, match.start(), match.end()))
        if links:
            state.used.update(links[0].tokens)
        exact = bool(links) and not named
        filters.append(Filter(ref, "=" if exact else "like", literal,
                              said=f"{ref.label} {'=' if exact else 'contains'} {literal}"))  # fmt: skip
    return filters


def _unexplained(state: _State, base: Table, joined: list[Table]) -> list[Filter]:
    """Words that name nothing yet may be values of a table not described: describe it first.
    Once described, a place after "in", "at" or "from" is matched on a place column ("restaurants
    in San Francisco": a city too rare to be among the samples); other words are said unused."""
    names_something = {
        t.start for t in content(_tokens(state))
        if any(link.score >= NAME_WORD for link in state.link.table_links([t]))
        or any(link.score >= COLUMN_WORD for link in state.link.column_links([t]))
    }  # fmt: skip
    left = [t for t in content(_tokens(state)) if t.start not in state.used and t.start not in names_something]
    if not left:
        return []
    # The value may be of a table the question names or a column of which it names, joined ("tickets
    # of Enterprise customers", "companies in the Software industry"): its description shows its
    # values and its keys.
    named = [link.table for link in state.link.table_links(_tokens(state)) if link.score >= NAME_WORD]
    named += [link.table for link in state.link.column_links(content(_tokens(state))) if link.score >= COLUMN_WORD]
    for table in [base, *joined, *named]:
        state.want(table)
    if state.describe and state.can_describe:
        return []
    filters = []
    for run in _runs(left):
        place = _place_column(state, base, run)
        if place is None:
            continue
        state.want(place.table)  # its values, once known, may hold the place ("Germany" as 'DE')
        if state.describe and state.can_describe:
            return []
        phrase = " ".join(t.text for t in run)
        state.used.update(t.start for t in run)
        filters.append(Filter(place, "like", phrase, said=f"{place.label} like {phrase!r}"))
        state.assumptions.append(f"matched {phrase!r} on {place.table.qualified_name}.{place.column.name}")
    left = [t for t in left if t.start not in state.used]
    if left:
        state.assumptions.append("did not use the words " + ", ".join(repr(t.text) for t in left[:4]))
    return filters


_PLACE_WORDS = ("city", "town", "country", "state", "county", "region", "location", "address", "area")


def _runs(tokens: list[Token]) -> list[list[Token]]:
    """Neighbouring tokens as phrases: "san francisco"."""
    runs: list[list[Token]] = []
    for token in tokens:
        if runs and token.start - (runs[-1][-1].start + len(runs[-1][-1].text)) <= 1:
            runs[-1].append(token)
        else:
            runs.append([token])
    return runs


def _place_column(state: _State, base: Table, run: list[Token]) -> Ref | None:
    before = state.norm.text[max(0, run[0].start - 6) : run[0].start]
    if not re.search(r"\b(in|at|from|near)\s+$", before):
        return None
    for table, _ in _reachable(state, base):
        for wanted in _PLACE_WORDS:
            for column in table.columns:
                if (
                    column.is_text
                    and not column.masked
                    and not column.samples  # all its values are known, and the words are none of them
                    and (wanted in name_words(column.name) or glued(column.name).startswith(wanted))
                ):
                    return Ref(table, column)
    return None


def _listing_columns(state: _State, base: Table) -> tuple[Column, ...]:
    """A listing shows the columns the question names (masked or not: their masked values are the
    answer, which says so), then the other unmasked ones, in table order."""
    named = {link.column.name for link in state.link.column_links(_tokens(state), [base]) if link.score >= COLUMN_WORD}
    return tuple(c for c in base.columns if c.name in named or not c.masked)
