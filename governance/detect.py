"""Which catalog columns hold personal data (and a workspace's own kinds of data), from the column's
name and type and from sampled values. Pure: no ORM, no database, no clock; safe to call on every
column of every table at each catalog refresh.

What a detection rests on
-------------------------
- **The name.** The column name is normalised (``emailAddress`` -> ``email_address``), split into
  tokens, and a token that a catalog lower-cased from camelCase (``phonenumber``, ``dateofbirth``) is
  split into known words. A name counts when it *ends* with a known phrase, optionally followed by
  neutral words (``phone_2``, ``email_primary``, ``address_line1``): ``email_verified``,
  ``phone_type`` or ``address_city`` say something *about* the data, not that they hold it. Longer
  phrases win, so ``ip_address`` is an IP address, ``email_address`` an e-mail and ``mac_address``
  nothing. A leading ``is_``/``has_``/``num_`` word, and a type that cannot hold the value (a
  boolean ``email``, a timestamp ``phone``), cancel the name. A bare ``name`` is a person's name
  only in a table of people (``employees``, ``contacts``, ``users``), and then with low confidence.
  ``card_last4`` (the last digits of a card) is tagged ``pii.card_number`` with low confidence
  (0.5): partial card data is still personal payment data.
- **The type.** ``inet``/``cidr`` columns hold IP addresses; a ``date_of_birth`` of type date is
  surer than one of type text.
- **The values.** Each non-empty sampled value is validated by a maintained library, after a cheap
  check of its shape so that most values reach no validator at all:

  - e-mail: ``email-validator`` (syntax only: ``check_deliverability=False``, so never a DNS look-up;
    ``globally_deliverable=False``, so ``alice@corp.local`` counts). About 25 us a valid address
    and 5 us a rejected one: fast enough, and it knows the rules (quoted local parts, IDN domains,
    dot placement) that a simple pattern gets wrong. Only values with an ``@`` reach it.
  - phone: ``phonenumbers`` (libphonenumber's metadata), ``is_valid_number`` required. A value with
    its own ``+`` is parsed as it is. Without one it is tried in ``PHONE_REGIONS`` and must be written
    as that country writes its numbers (its digits those of the national or international format,
    trunk ``0`` included, and its separators on the library's group boundaries, except after a
    written trunk ``0``), so ``2026-019532``, ``123-45-6789`` or ``12.50.1999`` are not phones;
    unformatted digits (and integer columns) count only when the name says phone.
  - card numbers: ``stdnum.luhn`` on 13-19 digits with a known issuer prefix and length for it;
    random numeric ids are Luhn-valid one time in ten, so values alone need a share of 0.8.
  - IBAN: ``stdnum.iban`` (country format and check digits).
  - national identity numbers: ``python-stdnum`` modules. Alone, values count only for formats
    distinctive enough not to match ids by chance: letters or separators (es.dni, es.nie,
    it.codicefiscale, fi.hetu, us.ssn as ``123-45-6789``, se.personnummer and dk.cpr with their
    ``-``, br.cpf as ``123.456.789-09``), or long checksums (fr.nir, de.idnr, no.fodselsnummer,
    pl.pesel, br.cpf, ch.ssn). Formats that many random numbers pass (us.ssn and nl.bsn as 9 plain
    digits, in_.aadhaar, se/dk numbers without the separator) count only when the name says so.
    python-stdnum has no British National Insurance number, so ``nino`` columns go by name alone.
  - IP addresses: the standard library's ``ipaddress``.

  Person names, postal addresses and dates of birth have no validator: a list of first names or a
  date says little, so those go by name (and type) alone.

Thresholds and confidences
--------------------------
- Values alone: at least ``MIN_VALUE_MATCHES`` (3) matching values making ``VALUE_SHARE`` (0.6) of the
  non-empty samples (``CARD_VALUE_SHARE``, 0.8, for card numbers), or a share of
  ``SUPPORT_SHARE`` (0.3) in a column whose values are personal data of several kinds (e-mails and
  phones mixed) at 0.6 together. Confidence ``0.5 + 0.4 x share`` (0.74 at 0.6, 0.9 at 1.0), 0.1 less
  with fewer than 10 non-empty samples.
- Name alone: 0.4-0.85 by how specific the phrase is (``email_address`` 0.85, ``mobile`` 0.6,
  ``last4`` 0.4); a date type adds 0.15 to a date of birth.
- Name and values: values at ``SUPPORT_SHARE`` (0.3) or more confirm the name; confidence
  ``1 - (1 - name) x (1 - values)``, at least 0.95 when the share reaches 0.6, at most 0.99.
- Contradiction: when the name promises a value the library can check and at least 10 non-empty
  samples were read, of which under ``CONTRADICTION_SHARE`` (0.1) validate, the name's confidence is
  halved (the column is reported, low, with why).
- Workspace rules: a name pattern alone 0.8 (someone wrote it for this), values by the same
  thresholds as built-in tags.

Evidence is plain words about what was seen (the name, the type, how many sampled values matched)
and never quotes a sampled value: tags and evidence are shown to people who may not see the data.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from fnmatch import fnmatchcase
from functools import cached_property, lru_cache
from typing import Any
from uuid import UUID

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from stdnum import iban, luhn
from stdnum.br import cpf
from stdnum.ch import ssn as ch_ssn
from stdnum.de import idnr
from stdnum.dk import cpr
from stdnum.es import dni, nie
from stdnum.fi import hetu
from stdnum.fr import nir
from stdnum.in_ import aadhaar
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.no import fodselsnummer
from stdnum.pl import pesel
from stdnum.se import personnummer
from stdnum.us import ssn as us_ssn

from governance.tags import BUILTIN_TAGS

EMAIL = "pii.email"
PHONE = "pii.phone"
PERSON_NAME = "pii.person_name"
ADDRESS = "pii.address"
DATE_OF_BIRTH = "pii.date_of_birth"
NATIONAL_ID = "pii.national_id"
CARD_NUMBER = "pii.card_number"
IBAN = "pii.iban"
IP_ADDRESS = "pii.ip_address"


VALUE_SHARE = 0.6  # share of non-empty sampled values that must validate for values alone to count
CARD_VALUE_SHARE = 0.8  # card numbers: one random number in ten passes Luhn
SUPPORT_SHARE = 0.3  # enough to confirm a name, or one kind in a column of several kinds of personal data
CONTRADICTION_SHARE = 0.1  # under this, sampled values contradict a name that promised them
MIN_VALUE_MATCHES = 3  # values alone need at least this many matches
FEW_VALUES = 10  # under this many non-empty samples, values weigh less and never contradict a name
RULE_NAME_CONFIDENCE = 0.8
# Countries tried, in order, for a phone number written without its "+" and country code.
PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "IN", "AU", "BR")

# What the values of a tag are called in evidence: "12 of the 40 non-empty sampled values are ...".
_VALUE_NOUNS = {
    EMAIL: "e-mail addresses",
    PHONE: "valid phone numbers",
    CARD_NUMBER: "Luhn-valid card numbers",
    IBAN: "valid IBANs",
    NATIONAL_ID: "valid national identity numbers",
    IP_ADDRESS: "IP addresses",
}


@dataclass(frozen=True)
class TagRule:
    """A workspace's own tag: matched by fnmatch globs on the normalised column name and/or by exact,
    case-insensitive values (values alone need the same share as built-in tags)."""

    name: str  # "region", "finance.amount" (lower-case, dots allowed)
    name_patterns: tuple[str, ...] = ()  # "region", "*_region", "*amount*"
    values: tuple[str, ...] = ()  # ("EMEA", "NA", "APAC", "LATAM")
    personal: bool = False

    def __post_init__(self) -> None:
        if not _RULE_NAME.fullmatch(self.name):
            raise ValueError(f"a tag name is lower-case letters, digits and _, parts separated by dots: {self.name!r}")
        if self.name in BUILTIN_TAGS:
            raise ValueError(f"{self.name!r} is a built-in tag")
        if not self.name_patterns and not self.values:
            raise ValueError(f"the rule {self.name!r} needs name patterns or values")

    @cached_property
    def _patterns(self) -> tuple[str, ...]:
        return tuple(pattern.strip().lower() for pattern in self.name_patterns)

    @cached_property
    def _values(self) -> frozenset[str]:
        return frozenset(str(value).strip().casefold() for value in self.values)


@dataclass(frozen=True)
class Detection:
    tag: str
    confidence: float  # 0..1, rounded to 2 places
    evidence: str  # plain words, never a sampled value
    # What it rests on: "name" (the name or the type: catalog metadata only), "values" or "name and values".
    basis: str = "name"
    matches: int = 0  # sampled values that validated for the tag
    sampled: int = 0  # non-empty sampled values looked at


_RULE_NAME = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)*")

# --- names ------------------------------------------------------------------------------------------

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_ALPHA_DIGITS = re.compile(r"[a-z]+|[0-9]+")


def normalise_name(name: str) -> str:
    """``emailAddress`` -> ``email_address``, ``E-Mail`` -> ``e_mail``, ``EMAIL_ADDR`` -> ``email_addr``,
    ``IPAddress`` -> ``ip_address``: camelCase split, anything but letters and digits to ``_``."""
    return _NOT_WORD.sub("_", _CAMEL.sub("_", name.strip()).lower()).strip("_")


@dataclass(frozen=True)
class _Phrase:
    tag: str | None  # None: a phrase that is known not to be personal data ("mac_address")
    confidence: float
    checkable: bool  # do its values have a validator (so sampled values can contradict the name)?


def _phrases() -> dict[tuple[str, ...], _Phrase]:
    table: dict[tuple[str, ...], _Phrase] = {}

    def add(tag: str | None, confidence: float, *phrases: str, checkable: bool = True) -> None:
        for phrase in phrases:
            table[tuple(phrase.split())] = _Phrase(tag, confidence, checkable)

    add(EMAIL, 0.85, "email address", "e mail address", "email addr", "e mail addr")
    add(EMAIL, 0.8, "email", "e mail")
    add(EMAIL, 0.75, "emails")
    add(EMAIL, 0.65, "email id")  # often the address itself; an integer key is cancelled by its type
    add(EMAIL, 0.6, "mail address")
    add(EMAIL, 0.55, "mail")
    add(PHONE, 0.85, "phone number", "telephone number", "mobile number", "mobile phone", "mobile phone number")
    add(PHONE, 0.8, "phone", "phone no", "phone num", "phone nr", "telephone", "tel number", "cell phone",
        "cellphone", "cell number", "msisdn", "mobile no", "mobile phone no")  # fmt: skip
    add(PHONE, 0.75, "tel no", "tel nr", "fax number", "phones", "landline")
    add(PHONE, 0.7, "tel", "contact number", "fax no")
    add(PHONE, 0.6, "mobile", "fax")
    add(PERSON_NAME, 0.8, "first name", "last name", "full name", "surname", "given name", "family name",
        "maiden name", "forename", "forenames", "given names", "first names", "last names",
        checkable=False)  # fmt: skip
    add(PERSON_NAME, 0.75, "person name", "middle name", "patient name", "cardholder name", "card holder name",
        "middle names", checkable=False)  # fmt: skip
    add(PERSON_NAME, 0.7, "contact name", "employee name", "name first", "name last", "name full",
        "account holder name", checkable=False)  # fmt: skip
    add(PERSON_NAME, 0.65, "fname", "lname", "holder name", checkable=False)
    add(ADDRESS, 0.8, "street address", "address line", "addr line", "postal address", "mailing address",
        "residential address", checkable=False)  # fmt: skip
    add(ADDRESS, 0.7, "address", "street", "postcode", "post code", "postal code", "zip code", "zipcode",
        checkable=False)  # fmt: skip
    add(ADDRESS, 0.65, "addresses", "zip", "street name", "house number", checkable=False)
    add(ADDRESS, 0.55, "addr", "house no", checkable=False)
    add(DATE_OF_BIRTH, 0.75, "date of birth", "birth date", "birthdate", "dt of birth", checkable=False)
    add(DATE_OF_BIRTH, 0.7, "dob", "birthday", "date birth", "birth dt", checkable=False)
    add(DATE_OF_BIRTH, 0.6, "born on", "bday", checkable=False)
    add(DATE_OF_BIRTH, 0.5, "birth year", "year of birth", "yob", checkable=False)
    # Names of numbers a python-stdnum module checks: sampled values can contradict them.
    add(NATIONAL_ID, 0.85, "social security number", "social security no")
    add(NATIONAL_ID, 0.8, "ssn", "ssn number", "burgerservicenummer", "codice fiscale", "codicefiscale",
        "personnummer", "fodselsnummer", "henkilotunnus", "pesel", "aadhaar", "aadhaar number", "aadhar",
        "cpf number", "bsn number", "cpr number", "cpr nr", "steuer id", "steuerid")  # fmt: skip
    add(NATIONAL_ID, 0.75, "social security", "bsn", "hetu", "idnr", "dni number")
    add(NATIONAL_ID, 0.7, "cpf", "dni", "nir")
    add(NATIONAL_ID, 0.65, "cpr", "nie")
    # Identity numbers of kinds or countries no module checks: by name only.
    add(NATIONAL_ID, 0.8, "national id", "national id number", "national identity number",
        "national insurance number", "national insurance no", "social insurance number", "passport number",
        "passport no", "citizen id", checkable=False)  # fmt: skip
    add(NATIONAL_ID, 0.75, "nino", "nric", "id card number", "identity card number", checkable=False)
    add(NATIONAL_ID, 0.7, "ni number", "curp", "driver license number", "drivers license number",
        "driving licence number", "driving license number", "tax identification number", checkable=False)  # fmt: skip
    add(NATIONAL_ID, 0.65, "nin", "identity number", "personal id", "national number", checkable=False)
    add(NATIONAL_ID, 0.6, "passport", "driver license", "drivers license", "driving licence", "taxpayer id",
        checkable=False)  # fmt: skip
    add(NATIONAL_ID, 0.55, "tax id", checkable=False)
    add(NATIONAL_ID, 0.5, "ssn last4", checkable=False)
    add(CARD_NUMBER, 0.85, "credit card number", "debit card number", "payment card number", "credit card no")
    add(CARD_NUMBER, 0.8, "card number", "cardnumber", "cc number", "card pan", "primary account number")
    add(CARD_NUMBER, 0.75, "card no", "card num", "card nr", "cc num", "cc no", "credit card")
    add(CARD_NUMBER, 0.7, "debit card")
    add(CARD_NUMBER, 0.65, "ccn")
    add(CARD_NUMBER, 0.6, "pan", "masked pan", "masked card number", checkable=False)  # "pan" is India's tax id too
    add(CARD_NUMBER, 0.5, "card last4", "cc last4", "pan last4", "card last digits", checkable=False)
    add(CARD_NUMBER, 0.4, "last4", checkable=False)
    add(IBAN, 0.8, "iban", "iban number", "iban code", "iban no")
    add(IBAN, 0.55, "bank account number", "bank account no", "bank account", checkable=False)
    add(IP_ADDRESS, 0.85, "ip address", "ipv4 address", "ipv6 address")
    add(IP_ADDRESS, 0.8, "ip addr", "ipv4 addr", "ipv6 addr")
    add(IP_ADDRESS, 0.75, "ip", "ipv4", "ipv6", "remote addr")
    add(IP_ADDRESS, 0.7, "remote address", "x forwarded for", "forwarded for")
    add(IP_ADDRESS, 0.6, "client addr", "peer addr", "source addr", "src addr", "dst addr", "dest addr")
    # Addresses that are not postal, and names that look personal but are not.
    add(None, 1.0, "mac address", "mac addr", "web address", "url address", "wallet address", "contract address",
        "server address", "server addr", "host address", "host addr", "memory address", "mem addr",
        "hardware address", "hw addr", "bluetooth address", "node address", "bitcoin address", "btc address",
        "eth address", "crypto address", "token address", "pool address", "bind address", "listen address",
        "network address", "broadcast address", "base address", "start address", "email domain")  # fmt: skip
    return table


_PHRASES = _phrases()
_LONGEST_PHRASE = max(len(phrase) for phrase in _PHRASES)
# Words after the phrase that change nothing: phone_2, email_primary, address_line1, phone_e164.
_NEUTRAL_TAIL = frozenset(
    "primary secondary main alt alternate alternative other raw clean cleaned normalized normalised formatted "
    "e164 intl international value val text txt str string full".split()
)
# A first word that makes the column about the data, not the data: is_email, has_phone, num_addresses.
_LEADING_BLOCKERS = frozenset("is has can allow allows should enable enabled send show hide use uses no count num "
                              "n total max min avg".split())  # fmt: skip
# Words for splitting what a catalog lower-cased from camelCase ("emailaddress", "dateofbirth").
_VOCABULARY = frozenset(
    {word for phrase in _PHRASES for word in phrase}
    | _NEUTRAL_TAIL
    | set(
        "billing shipping ship delivery home work office personal business customer client contact user member "
        "employee patient owner holder account bank company org legal registered current previous new old sender "
        "recipient emergency guardian parent spouse login signup registration last first primary number name "
        "address code postal mailing residential line id card credit debit payment social security national "
        "insurance identity date birth year of mobile cell phone tele fax remote source local peer forwarded "
        "street house zip post email mail tax passport driver drivers driving license licence".split()
    )
)
_PEOPLE_TABLES = frozenset(
    "person persons people employee employees staff patient patients user users member members student students "
    "contact contacts candidate candidates applicant applicants passenger passengers guest guests".split()
)


def _split_compound(token: str) -> list[str]:
    """``phonenumber`` -> ``["phone", "number"]`` when the whole token is known words (of at least two
    letters), fewest words first; else the token as it is."""
    if token in _VOCABULARY or len(token) < 4 or not token.isalpha():
        return [token]
    best: list[list[str] | None] = [None] * (len(token) + 1)
    best[0] = []
    for end in range(2, len(token) + 1):
        for start in range(end - 2, -1, -1):
            head = best[start]
            if head is not None and token[start:end] in _VOCABULARY:
                candidate = [*head, token[start:end]]
                current = best[end]
                if current is None or len(candidate) < len(current):
                    best[end] = candidate
    found = best[len(token)]
    return found if found is not None and len(found) > 1 else [token]


@lru_cache(maxsize=65_536)
def _tokens(name: str) -> tuple[str, ...]:
    tokens: list[str] = []
    for part in normalise_name(name).split("_"):
        if not part:
            continue
        if part in _VOCABULARY:
            tokens.append(part)
            continue
        for piece in _ALPHA_DIGITS.findall(part):
            tokens.extend(_split_compound(piece))
    # "last4", "last_4", "last_four": one word.
    merged: list[str] = []
    for token in tokens:
        if merged and merged[-1] == "last" and token in ("4", "four"):
            merged[-1] = "last4"
        else:
            merged.append(token)
    return tuple(merged)


# --- types ------------------------------------------------------------------------------------------

_INTEGER_TYPE = re.compile(
    r"\b(?:u?(?:tiny|small|medium|big|huge)?int(?:eger|\d{0,3})?|long|(?:small|big)?serial\d?)\b"
    r"|\b(?:numeric|decimal|number)\s*\(\s*\d+\s*(?:,\s*0\s*)?\)"
)
_TEXT_TYPE = re.compile(r"char|text|string|clob|enum|\bset\s*\(")


@lru_cache(maxsize=4_096)
def _type_family(data_type: str) -> str:
    """``text``, ``integer``, ``date``, ``timestamp``, ``ip``, or ``other`` (booleans, decimals, uuids,
    binary, json, ...). An empty type (SQLite without a declared type) is ``text``."""
    kind = data_type.strip().lower()
    if not kind or kind == "unknown":
        return "text"
    if kind.startswith(("inet", "cidr")):
        return "ip"
    if kind.startswith(("json", "uuid", "uniqueidentifier", "bool", "bit", "xml", "tsvector")) or "[]" in kind:
        return "other"
    if _TEXT_TYPE.search(kind):
        return "text"
    if kind.startswith(("timestamp", "datetime", "time", "smalldatetime")):
        return "timestamp"
    if kind.startswith("date"):
        return "date"
    if _INTEGER_TYPE.search(kind):
        return "integer"
    return "other"


# Which types may hold each tag's values, for the name to count.
_TYPES_FOR = {
    EMAIL: {"text"},
    PHONE: {"text", "integer"},
    PERSON_NAME: {"text"},
    ADDRESS: {"text"},
    DATE_OF_BIRTH: {"date", "timestamp", "text", "integer"},
    NATIONAL_ID: {"text", "integer"},
    CARD_NUMBER: {"text", "integer"},
    IBAN: {"text"},
    IP_ADDRESS: {"text", "ip", "integer"},  # an IPv4 address is often kept as an integer
}
_NUMERIC_HINTS = frozenset({PHONE, CARD_NUMBER, NATIONAL_ID})


@dataclass(frozen=True)
class _NameHint:
    tag: str
    confidence: float
    checkable: bool
    evidence: str


@lru_cache(maxsize=65_536)
def _name_hint(column: str, family: str, table: str) -> _NameHint | None:
    tokens = list(_tokens(column))
    while tokens and (tokens[-1].isdigit() or tokens[-1] in _NEUTRAL_TAIL):
        tokens.pop()
    for length in range(min(_LONGEST_PHRASE, len(tokens)), 0, -1):
        phrase = _PHRASES.get(tuple(tokens[-length:]))
        if phrase is None:
            continue
        if phrase.tag is None or family not in _TYPES_FOR[phrase.tag]:
            return None
        if length < len(tokens) and tokens[0] in _LEADING_BLOCKERS:
            return None
        confidence, evidence = phrase.confidence, f"the name '{column}'"
        if phrase.tag == DATE_OF_BIRTH and family in ("date", "timestamp"):
            confidence, evidence = min(0.9, confidence + 0.15), f"the name '{column}' and a {family} type"
        return _NameHint(phrase.tag, confidence, phrase.checkable, evidence)
    if tokens == ["name"] and family == "text" and table:
        table_tokens = _tokens(table)
        if table_tokens and table_tokens[-1] in _PEOPLE_TABLES:
            return _NameHint(PERSON_NAME, 0.5, False, f"the name '{column}' in a table of people ('{table}')")
    return None


def sampled_types(data_type: str, *, column: str = "") -> bool:
    """Should values of a column of this type be sampled? Yes for text-like types (char, varchar,
    text, string, enum, an undeclared type) and ``inet``/``cidr``; for integer types only when the
    ``column`` name says phone, card or national identity number (they are often kept as numbers,
    and other integers, ids, amounts and counts, would only be mistaken for them); never for dates,
    timestamps, decimals, booleans, uuids, json or binary, whose values this module cannot read as
    personal data."""
    family = _type_family(data_type)
    if family in ("text", "ip"):
        return True
    if family == "integer" and column:
        hint = _name_hint(column, family, "")
        return hint is not None and hint.tag in _NUMERIC_HINTS
    return False


# --- values -----------------------------------------------------------------------------------------

_PHONE_SHAPE = re.compile(r"\+?[0-9][0-9 ().\-/]{5,22}[0-9]")
_PHONE_SEPARATORS = re.compile(r"[ ().\-/]+")
_DATE_SHAPE = re.compile(r"\d{4}([-./])\d{1,2}\1\d{1,2}|\d{1,2}([-./])\d{1,2}\2\d{2,4}")
_CARD_SHAPE = re.compile(r"[0-9][0-9 \-]{11,24}[0-9]")
_IBAN_SHAPE = re.compile(r"[A-Za-z]{2}[0-9]{2}[A-Za-z0-9 ]{11,38}")
_IPV4_SHAPE = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?:/[0-9]{1,2})?")
_IPV6_SHAPE = re.compile(r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:%\w+)?(?:/[0-9]{1,3})?")
_ID_SEPARATORS = re.compile(r"[ .\-/]")
_SSN_DASHED = re.compile(r"[0-9]{3}-[0-9]{2}-[0-9]{4}")
_NORDIC_DASHED = re.compile(r"(?:[0-9]{2})?[0-9]{6}[-+][0-9]{4}")  # se.personnummer, dk.cpr
_CPF_FORMATTED = re.compile(r"[0-9]{3}\.[0-9]{3}\.[0-9]{3}-[0-9]{2}")

# (first digits from, to, card lengths): Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro.
_CARD_ISSUERS = (
    (4, 4, (13, 16, 19)),
    (51, 55, (16,)),
    (2221, 2720, (16,)),
    (34, 34, (15,)),
    (37, 37, (15,)),
    (6011, 6011, (16, 17, 18, 19)),
    (644, 649, (16, 17, 18, 19)),
    (65, 65, (16, 17, 18, 19)),
    (3528, 3589, (16, 17, 18, 19)),
    (300, 305, (14, 15, 16, 17, 18, 19)),
    (36, 36, (14, 15, 16, 17, 18, 19)),
    (38, 39, (14, 15, 16, 17, 18, 19)),
    (62, 62, (16, 17, 18, 19)),
    (50, 50, (12, 13, 14, 15, 16, 17, 18, 19)),
    (56, 58, (12, 13, 14, 15, 16, 17, 18, 19)),
    (67, 67, (12, 13, 14, 15, 16, 17, 18, 19)),
)


def _known_issuer(digits: str) -> bool:
    for low, high, lengths in _CARD_ISSUERS:
        width = len(str(low))
        if len(digits) in lengths and low <= int(digits[:width]) <= high:
            return True
    return False


def _is_email(text: str) -> bool:
    if " " in text or len(text) > 254:
        return False
    try:
        validate_email(text, check_deliverability=False, globally_deliverable=False)
    except EmailNotValidError:
        return False
    return True


def _groups(text: str) -> tuple[str, tuple[int, ...]]:
    """The digits of a written number and where its groups end (counted in digits)."""
    parts = [p for p in _PHONE_SEPARATORS.split(text.lstrip("+")) if p]
    ends, total = [], 0
    for part in parts[:-1]:
        total += len(part)
        ends.append(total)
    return "".join(parts), tuple(ends)


def _written_as_phone(text: str, number: phonenumbers.PhoneNumber, *, grouping: bool) -> bool:
    """Is ``text`` the number as its country writes it, nationally (trunk prefix included) or
    internationally? With ``grouping``, its separators must also fall where the library puts them,
    except after a written trunk ``0`` (German, French or British groupings vary)."""
    digits, ends = _groups(text)
    for style in (phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.INTERNATIONAL):
        formatted_digits, formatted_ends = _groups(phonenumbers.format_number(number, style))
        if digits != formatted_digits:
            continue
        trunk = style == phonenumbers.PhoneNumberFormat.NATIONAL and digits.startswith("0")
        if not grouping or trunk or set(ends) <= set(formatted_ends):
            return True
    return False


def _is_phone(text: str, hinted: bool) -> bool:
    if text.startswith("+"):
        try:
            return phonenumbers.is_valid_number(phonenumbers.parse(text, None))
        except phonenumbers.NumberParseException:
            return False
    formatted = not text.isdigit()
    if not (formatted or hinted) or (formatted and _DATE_SHAPE.fullmatch(text)):
        return False
    for region in PHONE_REGIONS:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number) and _written_as_phone(text, number, grouping=not hinted):
            return True
    if hinted and text.isdigit() and len(text) >= 10:  # an international number kept without its "+"
        try:
            return phonenumbers.is_valid_number(phonenumbers.parse("+" + text, None))
        except phonenumbers.NumberParseException:
            return False
    return False


def _is_card(text: str, hinted: bool) -> bool:
    digits = text.replace(" ", "").replace("-", "")
    if not (13 <= len(digits) <= 19 and digits.isdigit()):
        return False
    return luhn.is_valid(digits) and (hinted or _known_issuer(digits))


# National identity numbers by the shape of their compact form: (module, distinctive as written?).
_NationalCheck = tuple[Any, Callable[[str], bool]]


def _shape(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda text: pattern.fullmatch(text) is not None


def _always(text: str) -> bool:
    return True


def _never(text: str) -> bool:
    return False


_SSN_WRITTEN, _NORDIC_WRITTEN = _shape(_SSN_DASHED), _shape(_NORDIC_DASHED)
_NATIONAL_BY_DIGITS: dict[int, tuple[_NationalCheck, ...]] = {
    8: ((bsn, _never),),
    9: ((us_ssn, _SSN_WRITTEN), (bsn, _never)),
    10: ((personnummer, _NORDIC_WRITTEN), (cpr, _NORDIC_WRITTEN)),
    11: ((idnr, _always), (fodselsnummer, _always), (pesel, _always), (cpf, _always)),
    12: ((personnummer, _NORDIC_WRITTEN), (aadhaar, _never)),
    13: ((ch_ssn, _always),),
    15: ((nir, _always),),
}
_NATIONAL_WITH_LETTERS: dict[int, tuple[_NationalCheck, ...]] = {
    9: ((dni, _always), (nie, _always)),
    10: ((hetu, _always),),  # 131052-308T: the "-" is the century sign
    11: ((hetu, _always),),  # 010100A123D
    15: ((nir, _always),),  # Corsica: 2A, 2B
    16: ((codicefiscale, _always),),
}


def _is_national_id(text: str, hinted: bool) -> bool:
    compact = _ID_SEPARATORS.sub("", text).upper()
    if compact.isdigit():
        checks = _NATIONAL_BY_DIGITS.get(len(compact), ())
        if len(compact) == 11 and "." in text and not _CPF_FORMATTED.fullmatch(text):
            checks = ()
    elif compact.isalnum() and any(ch.isdigit() for ch in compact):
        checks = _NATIONAL_WITH_LETTERS.get(len(compact), ())
    else:
        checks = ()
    for module, distinctive in checks:
        if (hinted or distinctive(text)) and module.is_valid(text):
            return True
    return False


def _is_ip(text: str) -> bool:
    if not (_IPV4_SHAPE.fullmatch(text) or (":" in text and _IPV6_SHAPE.fullmatch(text))):
        return False
    try:
        if "/" in text:
            ipaddress.ip_interface(text)
        else:
            ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


_IP_TYPES = (ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Interface, ipaddress.IPv6Interface)


def _value_text(value: Any) -> str | None:
    """A sampled value as text, or None when it is empty or of a kind that holds no detectable value
    (booleans, floats, dates, uuids, bytes)."""
    if value is None or isinstance(value, bool | float | date | datetime | time | UUID | bytes | bytearray):
        return None
    if isinstance(value, memoryview):
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, Decimal):
        return str(value) if value == value.to_integral_value() else None
    return str(value).strip() or None


def _value_tags(text: str, hints: frozenset[str]) -> tuple[str, ...]:
    """The built-in tags one non-empty value validates for (usually none, rarely two)."""
    if "@" in text:
        return (EMAIL,) if _is_email(text) else ()
    found = []
    if _IBAN_SHAPE.fullmatch(text) and iban.is_valid(text):
        return (IBAN,)
    if text[0].isdigit() or text[0] == "+":
        if _is_ip(text):
            return (IP_ADDRESS,)
        if _CARD_SHAPE.fullmatch(text) and _is_card(text, CARD_NUMBER in hints):
            found.append(CARD_NUMBER)
        if _PHONE_SHAPE.fullmatch(text) and _is_phone(text, PHONE in hints):
            found.append(PHONE)
    elif ":" in text and _is_ip(text):
        return (IP_ADDRESS,)
    if len(text) <= 24 and _is_national_id(text, NATIONAL_ID in hints):
        found.append(NATIONAL_ID)
    return tuple(found)


# --- putting it together ----------------------------------------------------------------------------


def _values_confidence(share: float, sampled: int) -> float:
    return 0.5 + 0.4 * share - (0.1 if sampled < FEW_VALUES else 0.0)


def _both_confidence(name: float, share: float, sampled: int) -> float:
    combined = 1 - (1 - name) * (1 - _values_confidence(share, sampled))
    if share >= VALUE_SHARE:
        combined = max(combined, 0.95)
    return min(combined, 0.99)


def _sampled_words(matches: int, sampled: int, noun: str) -> str:
    if matches == sampled:
        return f"all {sampled} non-empty sampled values are {noun}" if sampled > 1 else f"the sampled value is {noun}"
    return f"{matches} of the {sampled} non-empty sampled values are {noun}"


def _judge(
    *,
    tag: str,
    name: tuple[float, str, bool] | None,  # (confidence, evidence, checkable)
    matches: int,
    sampled: int,
    value_share: float,
    noun: str,
    mixed_share: float = 0.0,
) -> Detection | None:
    """One tag's detection from its name evidence and its value count, or None."""
    share = matches / sampled if sampled else 0.0
    if name is not None:
        confidence, evidence, checkable = name
        if matches and share >= SUPPORT_SHARE:
            words = f"{evidence}; {_sampled_words(matches, sampled, noun)}"
            return Detection(tag, round(_both_confidence(confidence, share, sampled), 2), words,
                             "name and values", matches, sampled)  # fmt: skip
        if checkable and sampled >= FEW_VALUES and share < CONTRADICTION_SHARE:
            shown = "none" if matches == 0 else f"only {matches}"
            words = f"{evidence}; but {shown} of the {sampled} non-empty sampled values are {noun}"
            return Detection(tag, round(confidence * 0.5, 2), words, "name", matches, sampled)
        return Detection(tag, round(confidence, 2), evidence, "name", matches, sampled)
    if matches < MIN_VALUE_MATCHES:
        return None
    if share >= value_share or (share >= SUPPORT_SHARE and mixed_share >= VALUE_SHARE):
        words = _sampled_words(matches, sampled, noun)
        return Detection(tag, round(_values_confidence(share, sampled), 2), words, "values", matches, sampled)
    return None


def detect_column(
    *, column: str, data_type: str, samples: Sequence[Any], table: str = "", rules: Sequence[TagRule] = ()
) -> tuple[Detection, ...]:
    """The tags of one column, highest confidence first. ``samples`` are sampled values (None and
    empty strings are skipped); built-in tags look at them only when ``sampled_types`` says the type
    is worth sampling, workspace rules whatever they are."""
    family = _type_family(data_type)
    texts: Counter[str] = Counter()
    for value in samples:
        text = _value_text(value)
        if text is not None:
            texts[text] += 1
    sampled = sum(texts.values())
    hint = _name_hint(column, family, table)
    detections: list[Detection] = []

    counts: Counter[str] = Counter()
    any_personal = 0
    if not sampled_types(data_type, column=column):
        sampled_builtin = 0
    else:
        sampled_builtin = sampled
        hints = frozenset({hint.tag}) if hint is not None else frozenset()
        for text, count in texts.items():
            tags = _value_tags(text, hints)
            for tag in tags:
                counts[tag] += count
            if tags:
                any_personal += count
    mixed_share = any_personal / sampled_builtin if sampled_builtin else 0.0
    for tag in {*counts, *([hint.tag] if hint is not None else [])}:
        name = (hint.confidence, hint.evidence, hint.checkable) if hint is not None and hint.tag == tag else None
        value_share = CARD_VALUE_SHARE if tag == CARD_NUMBER else VALUE_SHARE
        mixed = 0.0 if tag == CARD_NUMBER else mixed_share
        noun = _VALUE_NOUNS.get(tag, "")
        found = _judge(tag=tag, name=name, matches=counts[tag], sampled=sampled_builtin if tag in _VALUE_NOUNS else 0,
                       value_share=value_share, noun=noun, mixed_share=mixed)  # fmt: skip
        if found is not None:
            detections.append(found)
    if family == "ip" and not any(d.tag == IP_ADDRESS for d in detections):
        detections.append(Detection(IP_ADDRESS, 0.75, f"the type '{data_type}' holds IP addresses", "name"))

    normalised = normalise_name(column) if rules else ""
    for rule in rules:
        detections.extend(_rule_detection(rule, column, normalised, texts, sampled))
    return tuple(sorted(detections, key=lambda d: (-d.confidence, d.tag)))


def _rule_detection(
    rule: TagRule, column: str, normalised: str, texts: Counter[str], sampled: int
) -> Iterable[Detection]:
    pattern = next((p for p in rule._patterns if fnmatchcase(normalised, p)), None)
    name = None
    if pattern is not None:
        evidence = f"the name '{column}' matches the rule's pattern '{pattern}'"
        name = (RULE_NAME_CONFIDENCE, evidence, bool(rule.values))
    matches = 0
    if rule.values and sampled:
        matches = sum(count for text, count in texts.items() if text.casefold() in rule._values)
    noun = f"among the {len(rule.values)} values of the rule" if len(rule.values) > 1 else "the value of the rule"
    found = _judge(tag=rule.name, name=name, matches=matches, sampled=sampled if rule.values else 0,
                   value_share=VALUE_SHARE, noun=noun)  # fmt: skip
    return () if found is None else (found,)
