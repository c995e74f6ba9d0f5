"""Stage 1: the question as tokens with their singular, numbers written as digits, and its period.

Nothing here knows the catalog. Words are lower-cased and reduced to a singular with ``inflect``
(``singular("courses")`` is "course", not "cours"); numbers in words become digits ("top five" ->
"top 5"); the period the question names ("last 3 months", "this year", "in 2024", "since March",
"between 2024-01-01 and 2024-06-30", "the first half of 2026", "Q3") becomes a half-open date window,
computed from ``today``.
``dateparser`` reads only the date phrases the rules find after "since", "before", "after",
"from", "until", "on" and "between" (calling it on every word would cost a second a question).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

import dateparser
import inflect

from datasources.vocabulary import singular

MAX_CHARS = 2_000  # a 5,000-character prompt is read up to here: no question needs more
_INFLECT = inflect.engine()
_WORD = re.compile(r"[a-z0-9]+(?:[_'][a-z0-9]+)*")
_NUMBER_WORDS = {
    word: number
    for number, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
_NUMBER_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "hundred": 100, "dozen": 12})
# "one" is a number only where a count is expected ("top one", "last one month" is rare): elsewhere
# it is a pronoun ("which one", "the one with").
_ONE_CONTEXT = re.compile(r"\b(top|last|past|next|than|least|most|first|bottom)\s+one\b")


@lru_cache(maxsize=4096)
def plural(word: str) -> str:
    return str(_INFLECT.plural_noun(word))


@dataclass(frozen=True)
class Token:
    text: str  # lower case as written: "courses", "order_date", "2024"
    lemma: str  # singular: "course"
    start: int  # offset in ``Normalised.text``

    @property
    def number(self) -> float | None:
        try:
            return float(self.text)
        except ValueError:
            return None


@dataclass(frozen=True)
class Window:
    start: date
    end: date  # exclusive
    label: str  # what the person said, with the dates: "last quarter (2026-07-01 to 2026-09-30)"
    span: tuple[int, int]  # where in ``Normalised.text``


@dataclass(frozen=True)
class Normalised:
    original: str  # the question as typed (cut at MAX_CHARS), case kept: values are matched on it
    text: str  # lower case, spaces collapsed, numbers in digits
    tokens: tuple[Token, ...]
    window: Window | None

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(t.text for t in self.tokens)

    def outside_window(self) -> tuple[Token, ...]:
        """The tokens that are not part of the period phrase."""
        if self.window is None:
            return self.tokens
        low, high = self.window.span
        return tuple(t for t in self.tokens if not low <= t.start < high)


def normalise(question: str, today: date) -> Normalised:
    original = " ".join(question.split())[:MAX_CHARS]
    text = original.lower().replace("\u2019", "'")  # a typographic apostrophe
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 10,000 -> 10000
    text = _digits(text)
    text = _SCALED.sub(_scaled, text)  # 2.5k, 5 million, 1.2m -> 2500, 5000000, 1200000
    tokens = tuple(Token(m.group(0), singular(m.group(0)), m.start()) for m in _WORD.finditer(text))
    return Normalised(original, text, tokens, find_window(text, today))


_SCALES = {
    "k": 1_000,
    "thousand": 1_000,
    "m": 1_000_000,
    "mn": 1_000_000,
    "million": 1_000_000,
    "b": 1_000_000_000,
    "bn": 1_000_000_000,
    "billion": 1_000_000_000,
}
# A letter scale only glued to its number ("2.5k", not "5 m" of metres); a word one either way.
_SCALED = re.compile(r"\b(\d+(?:\.\d+)?)(?:(k|m|mn|b|bn)|\s*(thousand|million|billion))\b")


def _scaled(match: re.Match[str]) -> str:
    value = Decimal(match.group(1)) * _SCALES[match.group(2) or match.group(3)]
    return str(value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize())


def _digits(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        word = match.group(0)
        if word == "one" and not _ONE_CONTEXT.search(text[max(0, match.start() - 8) : match.end()]):
            return word
        return str(_NUMBER_WORDS[word])

    return re.sub(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", replace, text)


# --- periods -------------------------------------------------------------------------------------

_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): number for number, name in enumerate(calendar.month_abbr) if name})
_MONTH = r"(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"((?:19|20)\d\d)"
_DATE_PHRASE = (
    r"(\d{4}-\d\d-\d\d|\d{1,2}(?:st|nd|rd|th)? "
    + _MONTH
    + r",? "
    + _YEAR
    + r"|"
    + _MONTH
    + r" \d{1,2}(?:st|nd|rd|th)?,? "
    + _YEAR
    + r")"
)


def _month_start(day: date, back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def _quarter_start(day: date, back: int = 0) -> date:
    start = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return _month_start(start, 3 * back)


def _last_n(today: date, count: int, unit: str) -> tuple[date, date]:
    tomorrow = today + timedelta(days=1)
    if unit == "day":
        return today - timedelta(days=count - 1), tomorrow
    if unit == "week":
        return today - timedelta(days=7 * count - 1), tomorrow
    if unit == "month":
        back = _month_start(today, count)
        return back.replace(day=min(today.day, calendar.monthrange(back.year, back.month)[1])), tomorrow
    return date(today.year - count, today.month, min(today.day, 28 if today.month == 2 else today.day)), tomorrow


@lru_cache(maxsize=256)
def _parse_date(phrase: str) -> date | None:
    """One date phrase ("2025-03-04", "3 march 2025") read by dateparser."""
    found: datetime | None = dateparser.parse(phrase, languages=["en"], settings={"PREFER_DAY_OF_MONTH": "first"})
    return found.date() if found is not None else None


def _month_of(today: date, month: int, year: str | None) -> date:
    """A named month: of the year said, else its latest occurrence up to today."""
    if year:
        return date(int(year), month, 1)
    return date(today.year if month <= today.month else today.year - 1, month, 1)


_ORDINAL = r"(first|1st|second|2nd|third|3rd|fourth|4th|last)"
_NTH = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4}


def _nth(word: str) -> int:
    """ "third" or "3" as 3; "last" as 0, the last part of the year."""
    return int(word) if word.isdigit() else _NTH.get(word, 0)


def _part(today: date, months: int, index: int, year: str | None) -> tuple[date, date] | None:
    """The ``index``-th part of ``months`` months of a year ("Q3 2025", "the first half of 2026"): of
    the year said, else the latest that has begun by ``today``."""
    count = 12 // months
    index = index or count
    if index > count:
        return None
    start_month = months * (index - 1) + 1
    if year:
        start = date(int(year), start_month, 1)
    else:
        start = date(today.year if start_month <= today.month else today.year - 1, start_month, 1)
    return start, _month_start(start, -months)


def _month_range(match: re.Match[str]) -> tuple[date, date] | None:
    """ "from December 2025 to February 2026": the first month's start to the end of the last one."""
    first, year, last, last_year = match.group(1), match.group(2), match.group(3), match.group(4)
    end = date(int(last_year), _MONTHS[last], 1)
    start = date(int(year) if year else end.year, _MONTHS[first], 1)
    if start > end:
        if year:
            return None
        start = start.replace(year=start.year - 1)  # "from November to February 2026"
    return start, _month_start(end, -1)


def _windows(today: date) -> list[tuple[str, object]]:
    tomorrow = today + timedelta(days=1)
    return [
        (r"\b(?:from|between) " + _MONTH + r"(?: " + _YEAR + r")? (?:to|and|through|until|till|-) " + _MONTH
         + r" " + _YEAR + r"\b", lambda m: _month_range(m)),
        (r"\b(?:from|between) " + _YEAR + r" (?:to|and|through|until|till|-) " + _YEAR + r"\b",
         lambda m: (date(int(m.group(1)), 1, 1), date(int(m.group(2)) + 1, 1, 1))),
        (r"\bbetween " + _DATE_PHRASE + r" and " + _DATE_PHRASE, lambda m: _between(m)),
        (r"\b(since|after|from|starting) " + _DATE_PHRASE, lambda m: _from(m, tomorrow)),
        (r"\b(before|until|till|up to|prior to) " + _DATE_PHRASE, lambda m: _until(m)),
        (r"\bon " + r"(\d{4}-\d\d-\d\d)\b", lambda m: _on(m)),
        (r"\b(last|previous|past) quarter\b(?! of (?:19|20)\d\d)",
         lambda m: (_quarter_start(today, 1), _quarter_start(today))),
        (r"\b(this|current) quarter\b|\bquarter to date\b|\bqtd\b", lambda m: (_quarter_start(today), tomorrow)),
        (r"\b(last|previous|past) month\b", lambda m: (_month_start(today, 1), _month_start(today))),
        (r"\b(this|current) month\b|\bmonth to date\b|\bmtd\b", lambda m: (_month_start(today), tomorrow)),
        (r"\b(last|previous|past) year\b", lambda m: (date(today.year - 1, 1, 1), date(today.year, 1, 1))),
        (r"\b(this|current) year\b|\byear to date\b|\bytd\b", lambda m: (date(today.year, 1, 1), tomorrow)),
        (r"\b(last|previous|past) week\b",
         lambda m: (today - timedelta(days=today.weekday() + 7), today - timedelta(days=today.weekday()))),
        (r"\b(this|current) week\b", lambda m: (today - timedelta(days=today.weekday()), tomorrow)),
        (r"\b(?:in |over |during |within )?(?:the )?(last|past|previous) (\d{1,4}) (day|week|month|year)s?\b",
         lambda m: _last_n(today, int(m.group(2)), m.group(3))),
        (r"\byesterday\b", lambda m: (today - timedelta(days=1), today)),
        (r"\btoday\b", lambda m: (today, tomorrow)),
        (r"\b" + _YEAR + r"[ -]?q([1-4])\b", lambda m: _part(today, 3, int(m.group(2)), m.group(1))),
        (r"\b(?:q([1-4])|(?:the )?" + _ORDINAL + r" quarter)(?:\s*(?:of |in )?(?:the year )?" + _YEAR + r")?\b",
         lambda m: _part(today, 3, _nth(m.group(1) or m.group(2)), m.group(3))),
        (r"\b(?:h([12])|(?:the )?" + _ORDINAL + r" half)(?:\s*(?:of |in )?(?:the year )?" + _YEAR + r")?\b",
         lambda m: _part(today, 6, _nth(m.group(1) or m.group(2)), m.group(3))),
        (r"\bsince " + _YEAR + r"\b", lambda m: (date(int(m.group(1)), 1, 1), tomorrow)),
        (r"\bafter " + _YEAR + r"\b",
         lambda m: (date(int(m.group(1)) + 1, 1, 1), max(tomorrow, date(int(m.group(1)) + 2, 1, 1)))),
        (r"\b(?:before|prior to) " + _YEAR + r"\b", lambda m: (date(1900, 1, 1), date(int(m.group(1)), 1, 1))),
        (r"\bsince " + _MONTH + r"(?: " + _YEAR + r")?\b",
         lambda m: (_month_of(today, _MONTHS[m.group(1)], m.group(2)), tomorrow)),
        (r"\b(?:in |during |for |of )?" + _MONTH + r" " + _YEAR + r"\b",
         lambda m: (date(int(m.group(2)), _MONTHS[m.group(1)], 1),
                    _month_start(date(int(m.group(2)), _MONTHS[m.group(1)], 1), -1))),
        (r"\b(?:in|during) " + _MONTH + r"(?! \d)\b",
         lambda m: (_month_of(today, _MONTHS[m.group(1)], None),
                    _month_start(_month_of(today, _MONTHS[m.group(1)], None), -1))),
        (r"\b(?:in|during|for|of|from) " + _YEAR + r"\b|^" + _YEAR + r"\b|\b" + _YEAR + r"$",
         lambda m: (date(int(m.group(m.lastindex or 1)), 1, 1), date(int(m.group(m.lastindex or 1)) + 1, 1, 1))),
    ]  # fmt: skip


def _phrase_dates(match: re.Match[str]) -> list[date]:
    """The dates of the ``_DATE_PHRASE`` groups of a match, in order."""
    found = []
    for group in match.groups():
        if group and (re.fullmatch(r"\d{4}-\d\d-\d\d", group) or re.search(r"\d \w+,? \d{4}|\w+ \d{1,2}", group)):
            parsed = _parse_date(group)
            if parsed is not None:
                found.append(parsed)
    return found


def _between(match: re.Match[str]) -> tuple[date, date] | None:
    dates = _phrase_dates(match)
    return (dates[0], dates[1] + timedelta(days=1)) if len(dates) == 2 else None


def _from(match: re.Match[str], tomorrow: date) -> tuple[date, date] | None:
    dates = _phrase_dates(match)
    if not dates:
        return None
    start = dates[0] + timedelta(days=1) if match.group(1) == "after" else dates[0]
    return start, max(tomorrow, start + timedelta(days=1))


def _until(match: re.Match[str]) -> tuple[date, date] | None:
    dates = _phrase_dates(match)
    if not dates:
        return None
    end = dates[0] if match.group(1) in ("before", "prior to") else dates[0] + timedelta(days=1)
    return date(1900, 1, 1), end


def _on(match: re.Match[str]) -> tuple[date, date] | None:
    dates = _phrase_dates(match)
    return (dates[0], dates[0] + timedelta(days=1)) if dates else None


def find_window(text: str, today: date) -> Window | None:
    """The period a (lower-cased) question names, relative to ``today``; the end is exclusive."""
    for pattern, compute in _windows(today):
        match = re.search(pattern, text)
        if not match:
            continue
        found = compute(match)  # type: ignore[operator]
        if found is None:
            continue
        start, end = found
        said = re.sub(r"^(in|during|for|of|over|within|from|the)\s+", "", match.group(0).strip())
        said = re.sub(r"^the\s+", "", said)
        if start == date(1900, 1, 1):
            label = f"{said} (before {end.isoformat()})"
        else:
            label = f"{said} ({start.isoformat()} to {(end - timedelta(days=1)).isoformat()})"
        return Window(start, end, label, match.span())
    return None
