"""Finding personal data in a data source, by column names and by sampled values, and proposing
mask policies for what is found (used by the ``scan_sensitive_data`` tool). What a column holds is
``governance.detect``'s judgement, the same one that tags columns on every catalog read."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from datasources.connectors import CONNECTORS
from datasources.connectors.base import ConnectorError
from datasources.models import CatalogColumn, DataSource
from datasources.queries import query_read
from governance import detect
from governance.classification import sample_sql
from governance.models import ColumnMaskPolicy, MaskStrategy
from governance.tags import PERSONAL_TAGS

PROPOSED_STRATEGY = {
    "email": MaskStrategy.PARTIAL,
    "phone": MaskStrategy.REDACT,
    "person_name": MaskStrategy.REDACT,
    "date_of_birth": MaskStrategy.NULL,
    "card_number": MaskStrategy.PARTIAL,
    "national_id": MaskStrategy.REDACT,
    "iban": MaskStrategy.PARTIAL,
    "address": MaskStrategy.REDACT,
    "ip_address": MaskStrategy.REDACT,
}


def name_kind(column: str, data_type: str = "text", table: str = "") -> str | None:
    """The kind of personal data (``email``, ``phone``...) a column's name and type alone suggest."""
    found = detect.detect_column(column=column, data_type=data_type, samples=(), table=table)
    return found[0].tag.removeprefix("pii.") if found else None


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
        wanted = [c for c, t in columns if detect.sampled_types(t, column=c)]
        samples: dict[str, list[Any]] = {}
        if wanted:
            sql = sample_sql(schema, table, wanted, dialect=dialect, rows=sample_rows)
            try:
                result = query_read(datasource=datasource, sql=sql, max_rows=sample_rows, preview_rows=sample_rows)
                for index, column in enumerate(result.columns):
                    samples[column] = [row[index] for row in result.rows]
            except ConnectorError:
                samples = {}
        for column, data_type in columns:
            found = detect.detect_column(column=column, data_type=data_type, samples=samples.get(column, ()),
                                         table=table)  # fmt: skip
            best = next((d for d in found if d.tag in PERSONAL_TAGS), None)
            if best is None:
                continue
            kind = best.tag.removeprefix("pii.")
            share = best.matches / best.sampled if best.sampled else 0.0
            findings.append(SensitiveColumn(schema, table, column, kind, best.basis, round(share, 3),
                                            PROPOSED_STRATEGY[kind], best.matches))  # fmt: skip
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
