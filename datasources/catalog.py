"""The catalog: storing what introspection learnt, and finding the tables a prompt is about."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from datasources.connectors.base import Introspection
from datasources.models import CatalogColumn, CatalogTable, DataSource, DataSourceStatus
from datasources.vocabulary import expand_word, index_tokens, name_tokens, prompt_words, singular

# --- storing an introspection ------------------------------------------------------------------

_TABLE_FIELDS = ["kind", "row_estimate", "comment", "name_words", "tokens", "is_present", "introspected_at"]
_COLUMN_FIELDS = [
    "ordinal", "data_type", "nullable", "is_primary_key", "comment", "fk_schema", "fk_table_name", "fk_column",
    "name_words", "tokens", "is_present",
]  # fmt: skip


@transaction.atomic
def catalog_apply(*, datasource: DataSource, introspection: Introspection) -> dict[str, int]:
    """Brings the catalog of a data source in line with an introspection, in one transaction.

    Rows are upserted on their natural keys, so ids stay stable across refreshes; tables and
    columns that disappeared are kept but marked absent (and come back with the same id).
    """
    now = timezone.now()
    CatalogTable.objects.filter(datasource=datasource).update(is_present=False)
    CatalogColumn.objects.filter(table__datasource=datasource).update(is_present=False)

    tables = [
        CatalogTable(
            datasource=datasource,
            schema_name=t.schema,
            name=t.name,
            kind=t.kind,
            row_estimate=t.row_estimate,
            comment=t.comment or "",
            name_words=" ".join(name_tokens(t.name)),
            tokens=index_tokens(t.name),
            is_present=True,
            introspected_at=now,
        )
        for t in introspection.tables
    ]
    CatalogTable.objects.bulk_create(
        tables,
        update_conflicts=True,
        unique_fields=["datasource", "schema_name", "name"],
        update_fields=_TABLE_FIELDS,
        batch_size=2000,
    )
    ids = {(t.schema_name, t.name): t.pk for t in tables}
    columns = [
        CatalogColumn(
            table_id=ids[(t.schema, t.name)],
            name=c.name,
            ordinal=c.ordinal,
            data_type=c.data_type[:255],
            nullable=c.nullable,
            is_primary_key=c.is_primary_key,
            comment=c.comment or "",
            fk_schema=c.fk_schema,
            fk_table_name=c.fk_table,
            fk_column=c.fk_column,
            name_words=" ".join(name_tokens(c.name)),
            tokens=index_tokens(c.name),
            is_present=True,
        )
        for t in introspection.tables
        for c in t.columns
    ]
    CatalogColumn.objects.bulk_create(
        columns,
        update_conflicts=True,
        unique_fields=["table", "name"],
        update_fields=_COLUMN_FIELDS,
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        # Foreign keys point at present catalog rows of the same data source, or nowhere.
        cursor.execute(
            """
            UPDATE datasources_catalogcolumn c
               SET fk_table_id = (
                     SELECT target.id FROM datasources_catalogtable target
                      WHERE target.datasource_id = %(ds)s AND target.is_present
                        AND target.name = c.fk_table_name AND target.schema_name = c.fk_schema)
              FROM datasources_catalogtable owner
             WHERE c.table_id = owner.id AND owner.datasource_id = %(ds)s
               AND (c.fk_table_name <> '' OR c.fk_table_id IS NOT NULL)
            """,
            {"ds": datasource.pk},
        )
        # Weights: table name and schema (A), table comment (B), column names (C), column comments (D).
        cursor.execute(
            """
            UPDATE datasources_catalogtable t
               SET search_vector =
                     setweight(to_tsvector('english', t.name_words || ' ' || t.schema_name), 'A')
                  || setweight(to_tsvector('english', t.comment), 'B')
                  || setweight(to_tsvector('english', coalesce(c.words, '')), 'C')
                  || setweight(to_tsvector('english', coalesce(c.comments, '')), 'D')
              FROM datasources_catalogtable t2
              LEFT JOIN (
                    SELECT table_id, string_agg(name_words, ' ') AS words, string_agg(comment, ' ') AS comments
                      FROM datasources_catalogcolumn
                     WHERE is_present
                     GROUP BY table_id
              ) c ON c.table_id = t2.id
             WHERE t.id = t2.id AND t.datasource_id = %(ds)s AND t.is_present
            """,
            {"ds": datasource.pk},
        )
    DataSource.objects.filter(pk=datasource.pk).update(
        catalog_version=F("catalog_version") + 1,
        server_version=introspection.server_version[:200],
        last_introspected_at=now,
        status=DataSourceStatus.READY,
        error_code="",
        status_message="",
        introspection_progress=100,
    )
    return {"tables": len(tables), "columns": len(columns)}


# --- search ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnMatch:
    name: str
    data_type: str
    nullable: bool
    is_primary_key: bool
    references: str  # "schema.table.column" for a foreign key, else ""
    comment: str
    matched: bool  # a word of the prompt names it


@dataclass(frozen=True)
class TableMatch:
    table_id: int
    datasource_id: uuid.UUID
    datasource_name: str
    schema: str
    name: str
    kind: str
    comment: str
    row_estimate: int | None
    score: float
    reasons: tuple[str, ...]
    columns: tuple[ColumnMatch, ...]

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


_SAFE = re.compile(r"^[a-z0-9]+$")
FUZZY_THRESHOLD = 0.4
_MAX_COLUMNS = 20


@dataclass(frozen=True)
class _Terms:
    words: list[str]  # content words of the prompt
    direct: list[str]  # the words and their singulars
    expanded: list[str]  # plus abbreviations, synonyms and prefixes
    tsquery: str


def _terms(prompt: str) -> _Terms | None:
    words = [w for w in prompt_words(prompt) if _SAFE.match(w)]
    if not words:
        return None
    direct = sorted({form for w in words for form in (w, singular(w))})
    expanded = sorted({form for w in words for form in expand_word(w) if _SAFE.match(form)})
    fts_words = sorted({form for w in words for form in expand_word(w) if _SAFE.match(form) and len(form) > 2})
    # Prefixes are already in ``expanded``; in the tsquery the synonyms are enough.
    tsquery = " | ".join(f"{w}:*" for w in fts_words if not any(w != o and o.startswith(w) for o in words))
    return _Terms(words=words, direct=direct, expanded=expanded, tsquery=tsquery or " | ".join(words))


_CANDIDATES_SQL = """
WITH q AS (SELECT to_tsquery('english', %(tsq)s) AS query)
SELECT t.id, t.datasource_id, d.name, t.schema_name, t.name, t.kind, t.comment, t.row_estimate,
       (SELECT count(*) FROM unnest(t.tokens) tok WHERE tok = ANY(%(direct)s)) AS direct_hits,
       (SELECT count(*) FROM unnest(t.tokens) tok WHERE tok = ANY(%(expanded)s)) AS expanded_hits,
       ts_rank_cd(t.search_vector, q.query, 1) AS fts,
       (SELECT max(word_similarity(w, t.name_words) + 0.5 * similarity(w, t.name_words))
          FROM unnest(%(words)s::text[]) w) AS fuzzy
  FROM datasources_catalogtable t
  JOIN datasources_datasource d ON d.id = t.datasource_id
 CROSS JOIN q
 WHERE d.workspace_id = %(workspace)s AND t.is_present {filters}
   AND (t.tokens && %(expanded)s::varchar[] OR t.search_vector @@ q.query {fuzzy_clause})
"""


def _score(direct: int, expanded: int, fts: float, fuzzy: float) -> float:
    # A name that says the word beats a name that says a synonym, which beats a comment or column.
    # ``fuzzy`` is word similarity plus half the whole-name similarity, so "invocies" prefers
    # ``invoices`` to ``invoice_lines``.
    return (
        3.0 * direct + 1.5 * max(0, expanded - direct) + 6.0 * fts + (2.0 * fuzzy if fuzzy >= FUZZY_THRESHOLD else 0.0)
    )


def _versions(workspace_id: Any, datasource_ids: Sequence[Any] | None) -> list[tuple[str, int]]:
    query = DataSource.objects.filter(workspace_id=workspace_id)
    if datasource_ids:
        query = query.filter(pk__in=datasource_ids)
    return sorted((str(pk), version) for pk, version in query.values_list("pk", "catalog_version"))


def catalog_search(
    *,
    workspace_id: Any,
    prompt: str,
    datasource_ids: Sequence[Any] | None = None,
    schema_names: Sequence[str] | None = None,
    limit: int | None = None,
) -> list[TableMatch]:
    """The tables (with their relevant columns) a prompt is most likely about, best first.

    At most ``TLO_MAX_MATCHED_TABLES`` unless ``limit`` says fewer. Results are cached in Redis
    under a key that includes every data source's catalog version, so a refresh invalidates them.
    """
    limit = min(limit or settings.TLO_MAX_MATCHED_TABLES, settings.TLO_MAX_MATCHED_TABLES)
    terms = _terms(prompt)
    if terms is None:
        return []
    versions = _versions(workspace_id, datasource_ids)
    if not versions:
        return []
    key_material = json.dumps(
        [str(workspace_id), terms.words, versions, sorted(schema_names or []), limit], separators=(",", ":")
    )
    key = "catalog-search:" + hashlib.sha256(key_material.encode()).hexdigest()
    cached = cache.get(key)
    if cached is not None:
        return list(cached)
    matches = _search(workspace_id, terms, [v[0] for v in versions], schema_names, limit)
    cache.set(key, matches, timeout=3600)
    return matches


def _search(
    workspace_id: Any, terms: _Terms, datasource_ids: list[str], schema_names: Sequence[str] | None, limit: int
) -> list[TableMatch]:
    params: dict[str, Any] = {
        "tsq": terms.tsquery,
        "direct": terms.direct,
        "expanded": terms.expanded,
        "words": terms.words,
        "workspace": workspace_id,
        "datasources": datasource_ids,
    }
    filters = "AND t.datasource_id = ANY(%(datasources)s::uuid[])"
    if schema_names:
        filters += " AND t.schema_name = ANY(%(schemas)s)"
        params["schemas"] = list(schema_names)
    fuzzy_parts = []
    for index, word in enumerate(terms.words[:8]):
        if len(word) >= 5:
            params[f"w{index}"] = word
            fuzzy_parts.append(f"OR %(w{index})s <%% t.name_words")
    sql = _CANDIDATES_SQL.format(filters=filters, fuzzy_clause=" ".join(fuzzy_parts))
    with connection.cursor() as cursor:
        # Low enough for a swapped pair of letters ("invocies" ~ "invoices" is 0.44); only words of 5+ letters.
        cursor.execute("SET pg_trgm.word_similarity_threshold = %s", [FUZZY_THRESHOLD])
        cursor.execute(sql, params)
        rows = cursor.fetchall()

    scored: dict[int, dict[str, Any]] = {}
    for tid, ds_id, ds_name, schema, name, kind, comment, rows_est, direct, expanded, fts, fuzzy in rows:
        score = _score(direct, expanded, float(fts or 0), float(fuzzy or 0))
        reasons = []
        if direct:
            reasons.append("name")
        elif expanded:
            reasons.append("name (synonym or abbreviation)")
        if fts:
            reasons.append("columns or comments")
        if fuzzy and fuzzy >= FUZZY_THRESHOLD and not direct:
            reasons.append("similar name")
        scored[tid] = {
            "row": (tid, ds_id, ds_name, schema, name, kind, comment, rows_est),
            "score": score,
            "reasons": reasons,
        }
    if not scored:
        return []
    top = sorted(scored, key=lambda tid: -scored[tid]["score"])[: limit * 3]
    _boost_neighbours(scored, top, limit)
    ranked = sorted(scored, key=lambda tid: (-scored[tid]["score"], scored[tid]["row"][4]))[:limit]
    columns = _relevant_columns(ranked, set(terms.expanded))
    return [
        TableMatch(
            table_id=tid,
            datasource_id=scored[tid]["row"][1],
            datasource_name=scored[tid]["row"][2],
            schema=scored[tid]["row"][3],
            name=scored[tid]["row"][4],
            kind=scored[tid]["row"][5],
            comment=scored[tid]["row"][6],
            row_estimate=scored[tid]["row"][7],
            score=round(scored[tid]["score"], 4),
            reasons=tuple(scored[tid]["reasons"]),
            columns=tuple(columns.get(tid, ())),
        )
        for tid in ranked
    ]


def _boost_neighbours(scored: dict[int, dict[str, Any]], top: list[int], limit: int) -> None:
    """Tables joined by a foreign key to the best matches rank higher; a table that links two of
    them (``invoice_lines`` between ``invoices`` and ``products``) joins the results."""
    edges = CatalogColumn.objects.filter(is_present=True, fk_table__isnull=False).filter(
        table_id__in=top
    ) | CatalogColumn.objects.filter(is_present=True, fk_table_id__in=top)
    neighbours: dict[int, set[int]] = defaultdict(set)
    for source, target in edges.values_list("table_id", "fk_table_id"):
        if source != target:
            neighbours[source].add(target)
            neighbours[target].add(source)
    best = top[:limit]
    base = {tid: scored[tid]["score"] for tid in best}
    bridges: dict[int, list[int]] = defaultdict(list)
    for tid in best:
        for other in neighbours.get(tid, ()):
            bridges[other].append(tid)
    for other, linked in bridges.items():
        bonus = 0.2 * sum(base[tid] for tid in linked)
        if other in scored:
            scored[other]["score"] += bonus
            scored[other]["reasons"].append("joins " + ", ".join(scored[t]["row"][4] for t in linked[:3]))
        elif len(linked) >= 2:
            table = (
                CatalogTable.objects.filter(pk=other, is_present=True)
                .values_list(
                    "id", "datasource_id", "datasource__name", "schema_name", "name", "kind", "comment", "row_estimate"
                )
                .first()
            )
            if table is not None:
                scored[other] = {
                    "row": table,
                    "score": 0.5 * min(base[tid] for tid in linked),
                    "reasons": ["joins " + ", ".join(scored[t]["row"][4] for t in linked[:3])],
                }


def _relevant_columns(table_ids: Iterable[int], expanded: set[str]) -> dict[int, list[ColumnMatch]]:
    by_table: dict[int, list[ColumnMatch]] = defaultdict(list)
    rows = (
        CatalogColumn.objects.filter(table_id__in=list(table_ids), is_present=True)
        .order_by("table_id", "ordinal")
        .values_list(
            "table_id",
            "name",
            "data_type",
            "nullable",
            "is_primary_key",
            "comment",
            "tokens",
            "fk_schema",
            "fk_table_name",
            "fk_column",
        )
    )
    for tid, name, data_type, nullable, pk, comment, tokens, fk_schema, fk_table, fk_column in rows:
        references = ".".join(p for p in (fk_schema, fk_table, fk_column) if p) if fk_table else ""
        matched = bool(expanded.intersection(tokens))
        by_table[tid].append(ColumnMatch(name, data_type, nullable, pk, references, comment, matched))
    relevant: dict[int, list[ColumnMatch]] = {}
    for tid, columns in by_table.items():
        chosen = [c for c in columns if c.matched or c.is_primary_key or c.references]
        if not any(c.matched for c in chosen):
            chosen = columns[:10]
        relevant[tid] = chosen[:_MAX_COLUMNS]
    return relevant
