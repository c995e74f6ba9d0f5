"""Finding personal data in a data source, by column names and by sampled values, and proposing
mask policies for what is found (used by the ``scan_sensitive_data`` tool)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from datasources.connectors import CONNECTORS
from datasources.connectors.base import ConnectorError
from datasources.models import CatalogColumn, DataSource
from datasources.queries import query_read
from governance.models import ColumnMaskPolicy, MaskStrategy

_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{6,18}[0-9]$")
_SSN = re.compile(r"^(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}$")
_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
_SSN_SHAPE = re.compile(r"^\d{3}-\d{2}-\d{4}$")
_CARD = re.compile(r"^[0-9][0-9 -]{11,21}[0-9]$")

# Column-name hints: kind -> words that, as a token of the column name, suggest it.
NAME_HINTS: dict[str, tuple[str, ...]] = {
    "email": ("email", "mail"),
    "phone": ("phone", "mobile", "tel", "telephone", "fax"),
    "person_name": ("first_name", "last_name", "full_name", "surname", "firstname", "lastname"),
    "date_of_birth": ("birth", "dob", "birthday"),
    "card_number": ("card", "pan", "cc"),
    "national_id": ("ssn", "national_id", "social_security", "passport", "tax_id"),
    "iban": ("iban",),
    "address": ("address", "street", "postcode", "zip"),
}
PROPOSED_STRATEGY = {
    "email": MaskStrategy.PARTIAL,
    "phone": MaskStrategy.REDACT,
    "person_name": MaskStrategy.REDACT,
    "date_of_birth": MaskStrategy.NULL,
    "card_number": MaskStrategy.PARTIAL,
    "national_id": MaskStrategy.REDACT,
    "iban": MaskStrategy.PARTIAL,
    "address": MaskStrategy.REDACT,
}
VALUE_SHARE = 0.6  # share of sampled non-empty values that must look personal


def luhn_valid(number: str) -> bool:
    digits = [int(d) for d in number if d.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def iban_valid(value: str) -> bool:
    compact = value.replace(" ", "").upper()
    if not _IBAN.match(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def value_kind(value: Any) -> str | None:
    """The kind of personal data a single value looks like, if any."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _EMAIL.match(text):
        return "email"
    if iban_valid(text):
        return "iban"
    if _SSN.match(text):
        return "national_id"
    if _CARD.match(text) and luhn_valid(text):
        return "card_number"
    # E.164 numbers have at most 15 digits; an SSN-shaped value that failed its check is not a phone.
    if _PHONE.match(text) and 7 <= sum(ch.isdigit() for ch in text) <= 15 and not _SSN_SHAPE.match(text):
        return "phone"
    return None


def name_kind(column: str) -> str | None:
    lowered = column.lower()
    tokens = set(re.split(r"[^a-z0-9]+", lowered))
    for kind, hints in NAME_HINTS.items():
        if any(hint in tokens or (("_" in hint) and hint in lowered) for hint in hints):
            return kind
    return None


@dataclass(frozen=True)
class SensitiveColumn:
    schema: str
    table: str
    column: str
    kind: str
    evidence: str  # "name", "values" or "name and values"
    share: float  # share of sampled values that looked like ``kind`` (0 when not sampled)
    proposed_strategy: str
    matches: int = 0  # how many sampled values looked like ``kind`` (never the values themselves)


def _sample_sql(schema: str, table: str, columns: Sequence[str], dialect: str, rows: int) -> str:
    schema_part = exp.to_identifier(schema, quoted=True) if schema and dialect != "sqlite" else None
    target = exp.Table(this=exp.to_identifier(table, quoted=True), db=schema_part)
    select = exp.select(*[exp.column(c, quoted=True) for c in columns]).from_(target).limit(rows)
    return select.sql(dialect=dialect)


def scan_datasource(
    *, datasource: DataSource, sample_rows: int = 200, tables: Iterable[str] | None = None
) -> list[SensitiveColumn]:
    """Scans the present catalog of a source; samples text columns on the read-only path."""
    dialect = CONNECTORS[datasource.kind].dialect
    by_table: dict[tuple[str, str], list[tuple[str, str]]] = {}
    query = CatalogColumn.objects.filter(table__datasource=datasource, table__is_present=True, is_present=True)
    if tables is not None:
        query = query.filter(table__name__in=list(tables))
    for schema, table, column, data_type in query.order_by("table_id", "ordinal").values_list(
        "table__schema_name", "table__name", "name", "data_type"
    ):
        by_table.setdefault((schema, table), []).append((column, data_type.lower()))

    findings = []
    for (schema, table), columns in by_table.items():
        textual = [c for c, t in columns if any(w in t for w in ("char", "text", "string", "varchar", "json"))
                   or t in ("", "blob")]  # fmt: skip
        samples: dict[str, list[Any]] = {}
        if textual:
            sql = _sample_sql(schema, table, textual, dialect, sample_rows)
            try:
                result = query_read(datasource=datasource, sql=sql, max_rows=sample_rows, preview_rows=sample_rows)
                for index, column in enumerate(result.columns):
                    samples[column] = [row[index] for row in result.rows]
            except ConnectorError:
                samples = {}
        for column, _ in columns:
            by_name = name_kind(column)
            values = [v for v in samples.get(column, []) if v not in (None, "")]
            kinds = [value_kind(v) for v in values]
            by_value, share = None, 0.0
            if values:
                best = max(set(kinds) - {None}, key=kinds.count, default=None)
                if best is not None:
                    share = kinds.count(best) / len(values)
                    by_value = best if share >= VALUE_SHARE else None
            kind = by_value or by_name
            if kind is None:
                continue
            evidence = "name and values" if by_name and by_value else "values" if by_value else "name"
            findings.append(SensitiveColumn(schema, table, column, kind, evidence, round(share, 3),
                                            PROPOSED_STRATEGY[kind], kinds.count(kind)))  # fmt: skip
    return findings


def propose_mask_policies(*, datasource: DataSource, findings: Iterable[SensitiveColumn]) -> list[ColumnMaskPolicy]:
    """Unsaved policies for the findings; applying them is ``apply_policy``'s job (with approval)."""
    return [
        ColumnMaskPolicy(
            workspace_id=datasource.workspace_id,
            datasource=datasource,
            name=f"Mask {f.kind.replace('_', ' ')} in {f.table}.{f.column}",
            schema_name=f.schema,
            table_name=f.table,
            column_name=f.column,
            strategy=f.proposed_strategy,
            exempt_roles=["owner", "admin"],
        )
        for f in findings
    ]
