"""The catalog: storing what introspection learnt, and finding the tables a prompt is about."""

from __future__ import annotations

import hashlib
import json
import math
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
from datasources.models import CatalogColumn, CatalogTable, DataSource, DataSourceStatus, fk_reference
from datasources.selectors import inferred_key_edges, inferred_references
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
        _rebuild_index(cursor, datasource.pk)
    # A read that found no table says why (no table this login may read, an empty or missing schema).
    visibility = introspection.visibility
    empty = not tables
    DataSource.objects.filter(pk=datasource.pk).update(
        catalog_version=F("catalog_version") + 1,
        catalog_table_count=len(tables),
        server_version=introspection.server_version[:200],
        last_introspected_at=now,
        status=DataSourceStatus.EMPTY if empty else DataSourceStatus.READY,
        error_code=(visibility.code if visibility and visibility.code else "empty_schema") if empty else "",
        status_message=(visibility.message if visibility else "There are no tables or views to read.")[:2000]
        if empty
        else "",
        introspection_progress=100,
    )
    return {"tables": len(tables), "columns": len(columns)}


# Words of curated synonyms, as name and column tokens are: lower case, split on anything else.
_SYNONYM_WORDS = "unnest(regexp_split_to_array(lower(array_to_string({arr}, ' ')), '[^a-z0-9]+'))"
_INDEX_SQL = f"""
INSERT INTO datasources_catalogterm (datasource_id, table_id, schema_name, field, term)
SELECT DISTINCT %(ds)s::uuid, x.table_id, x.schema_name, x.field, left(x.term, 64)
  FROM (
    SELECT t.id AS table_id, t.schema_name, 'name' AS field, unnest(t.tokens) AS term
      FROM datasources_catalogtable t
     WHERE t.datasource_id = %(ds)s AND t.is_present
    UNION ALL
    SELECT t.id, t.schema_name, 'name', {_SYNONYM_WORDS.format(arr="t.synonyms")}
      FROM datasources_catalogtable t
     WHERE t.datasource_id = %(ds)s AND t.is_present AND cardinality(t.synonyms) > 0
    UNION ALL
    SELECT t.id, t.schema_name, 'text',
           (unnest(to_tsvector('english', t.comment || ' ' || t.description || ' '
                                          || array_to_string(t.synonyms, ' ')))).lexeme
      FROM datasources_catalogtable t
     WHERE t.datasource_id = %(ds)s AND t.is_present
       AND (t.comment <> '' OR t.description <> '' OR cardinality(t.synonyms) > 0)
    UNION ALL
    SELECT t.id, t.schema_name, 'column', unnest(c.tokens)
      FROM datasources_catalogcolumn c JOIN datasources_catalogtable t ON t.id = c.table_id
     WHERE t.datasource_id = %(ds)s AND t.is_present AND c.is_present
    UNION ALL
    SELECT t.id, t.schema_name, 'column', {_SYNONYM_WORDS.format(arr="c.synonyms")}
      FROM datasources_catalogcolumn c JOIN datasources_catalogtable t ON t.id = c.table_id
     WHERE t.datasource_id = %(ds)s AND t.is_present AND c.is_present AND cardinality(c.synonyms) > 0
    UNION ALL
    SELECT t.id, t.schema_name, 'column_text',
           (unnest(to_tsvector('english', c.comment || ' ' || c.description || ' '
                                          || array_to_string(c.synonyms, ' ')))).lexeme
      FROM datasources_catalogcolumn c JOIN datasources_catalogtable t ON t.id = c.table_id
     WHERE t.datasource_id = %(ds)s AND t.is_present AND c.is_present
       AND (c.comment <> '' OR c.description <> '' OR cardinality(c.synonyms) > 0)
  ) x
 WHERE x.term <> ''
"""  # noqa: S608  fixed fragments, values as parameters


def _rebuild_index(cursor: Any, datasource_id: Any) -> None:
    """The inverted index of a data source and its term statistics, rebuilt from the present rows:
    names and comments from the source, descriptions and synonyms curated here."""
    cursor.execute("DELETE FROM datasources_catalogterm WHERE datasource_id = %(ds)s", {"ds": datasource_id})
    cursor.execute(_INDEX_SQL, {"ds": datasource_id})
    cursor.execute("DELETE FROM datasources_catalogtermstat WHERE datasource_id = %(ds)s", {"ds": datasource_id})
    cursor.execute(
        """
        INSERT INTO datasources_catalogtermstat (datasource_id, field, term, tables)
        SELECT datasource_id, field, term, count(*) FROM datasources_catalogterm
         WHERE datasource_id = %(ds)s GROUP BY datasource_id, field, term
        """,
        {"ds": datasource_id},
    )
    # Fresh statistics, or the planner walks all postings of a freshly rebuilt index.
    cursor.execute("ANALYZE datasources_catalogterm, datasources_catalogtermstat")


@transaction.atomic
def catalog_curate(
    *, table: CatalogTable, column: CatalogColumn | None = None, description: str, synonyms: Sequence[str]
) -> CatalogTable | CatalogColumn:
    """Sets the curated description and synonyms of a catalog table (or of one of its columns) and
    re-indexes its data source; the new catalog version invalidates every cached search."""
    target: CatalogTable | CatalogColumn = column if column is not None else table
    target.description = description
    target.synonyms = list(synonyms)
    target.save(update_fields=["description", "synonyms"])
    with connection.cursor() as cursor:
        _rebuild_index(cursor, table.datasource_id)
    DataSource.objects.filter(pk=table.datasource_id).update(catalog_version=F("catalog_version") + 1)
    return target


# --- search ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnMatch:
    name: str
    data_type: str
    nullable: bool
    is_primary_key: bool
    references: str  # "schema.table.column" for a foreign key, declared or inferred, else ""
    comment: str
    matched: bool  # a word of the prompt names it
    masked: str = ""  # the mask strategy in force for the actor, "" when shown as is
    inferred: bool = False  # ``references`` is an inferred key (detected or confirmed), not a declared one
    description: str = ""  # curated by the workspace (the comment is the source's)
    synonyms: tuple[str, ...] = ()


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
    description: str = ""  # curated by the workspace (the comment is the source's)
    synonyms: tuple[str, ...] = ()

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


_SAFE = re.compile(r"^[a-z0-9]+$")
FUZZY_THRESHOLD = 0.4
_MAX_COLUMNS = 20


@dataclass(frozen=True)
class _Terms:
    words: list[str]  # content words of the prompt, in order
    # Forms matched against name and column tokens: (form, index of its prompt word, weight).
    token_terms: list[tuple[str, int, float]]
    # Words given to PostgreSQL's english parser for comment lexemes: (word, prompt word index, weight).
    text_terms: list[tuple[str, int, float]]
    expanded: set[str]


# How much a form of a prompt word counts: the word itself, a synonym or abbreviation, a prefix.
DIRECT, SYNONYM, PREFIX = 1.0, 0.6, 0.35


def _terms(prompt: str) -> _Terms | None:
    words = [w for w in prompt_words(prompt) if _SAFE.match(w)]
    if not words:
        return None
    token_terms: dict[tuple[str, int], float] = {}
    text_terms: dict[tuple[str, int], float] = {}
    for index, word in enumerate(words):
        direct = {word, singular(word)}
        prefixes = {word[:n] for n in range(3, len(word))} | {singular(word)[:n] for n in range(3, len(singular(word)))}
        for form in expand_word(word):
            if not _SAFE.match(form):
                continue
            weight = DIRECT if form in direct else PREFIX if form in prefixes else SYNONYM
            key = (form, index)
            token_terms[key] = max(token_terms.get(key, 0.0), weight)
            if weight != PREFIX and len(form) > 2:
                text_terms[key] = max(text_terms.get(key, 0.0), weight)
    return _Terms(
        words=words,
        token_terms=[(form, index, weight) for (form, index), weight in sorted(token_terms.items())],
        text_terms=[(form, index, weight) for (form, index), weight in sorted(text_terms.items())],
        expanded={form for form, _ in token_terms},
    )


# The prompt's terms with their document frequency per field: token forms match name and column
# tokens; words go through PostgreSQL's english parser to match comment lexemes.
_STATS_SQL = """
WITH qterms AS (
    SELECT u.term, u.word, u.weight, false AS is_text
      FROM unnest(%(tok_terms)s::text[], %(tok_words)s::int[], %(tok_weights)s::float8[]) AS u(term, word, weight)
    UNION ALL
    SELECT lexeme, word, max(weight), true
      FROM unnest(%(txt_terms)s::text[], %(txt_words)s::int[], %(txt_weights)s::float8[]) AS u(w, word, weight)
     CROSS JOIN LATERAL unnest(to_tsvector('english', u.w)) AS v
     GROUP BY lexeme, word
)
SELECT s.field, q.term, q.word, q.weight, sum(s.tables)
  FROM qterms q
  JOIN datasources_catalogtermstat s
    ON s.term = q.term AND s.datasource_id = ANY(%(datasources)s::uuid[])
   AND (s.field IN ('text', 'column_text')) = q.is_text
 GROUP BY s.field, q.term, q.word, q.weight
"""

# Scores tables from postings of the given (field, term, word, contribution) pairs: each
# (table, field, prompt word) counts its best form; fields and words add up.
_SCORE_SQL = """
WITH pairs AS (
    SELECT * FROM unnest(%(p_fields)s::text[], %(p_terms)s::text[], %(p_words)s::int[], %(p_values)s::float8[])
        AS u(field, term, word, value)
),
per_word AS (
    SELECT p.table_id, p.field, pairs.word, max(pairs.value) AS c
      FROM pairs
      JOIN datasources_catalogterm p
        ON p.term = pairs.term AND p.field = pairs.field AND p.datasource_id = ANY(%(datasources)s::uuid[])
     WHERE {where}
     GROUP BY p.table_id, p.field, pairs.word
)
SELECT table_id, sum(c) AS score, array_agg(DISTINCT field) AS fields
  FROM per_word
 GROUP BY table_id
 ORDER BY score DESC, table_id
 LIMIT %(candidates)s
"""

FIELD_WEIGHTS = {"name": 3.0, "text": 1.5, "column": 1.0, "column_text": 0.5}
# A (field, term) pair finds candidates when it can add at least this share of the strongest
# pair's score, or when it is rare; the others only re-score those candidates (max-score pruning).
ESSENTIAL_SHARE = 0.25
RARE_TABLES = 200
CANDIDATE_POOL = 100

_DETAILS_SQL = """
SELECT t.id, t.datasource_id, d.name, t.schema_name, t.name, t.kind, t.comment, t.row_estimate, t.description,
       t.synonyms
  FROM datasources_catalogtable t JOIN datasources_datasource d ON d.id = t.datasource_id
 WHERE t.id = ANY(%(ids)s)
"""

# Only when the exact paths found too little: names that look like a misspelt word of the prompt.
_FUZZY_SQL = """
SELECT t.id, (SELECT max(word_similarity(w, t.name_words) + 0.5 * similarity(w, t.name_words))
                FROM unnest(%(words)s::text[]) w) AS fuzzy
  FROM datasources_catalogtable t
 WHERE t.datasource_id = ANY(%(datasources)s::uuid[]) AND t.is_present {filters} AND ({fuzzy_clause})
 ORDER BY fuzzy DESC
 LIMIT %(candidates)s
"""

_REASONS = {"name": "name", "text": "comment", "column": "columns", "column_text": "column comments"}


def _versions(workspace_id: Any, datasource_ids: Sequence[Any] | None) -> list[tuple[str, int, int]]:
    """(id, catalog version, table count) of each data source searched, in one query."""
    query = DataSource.objects.filter(workspace_id=workspace_id)
    if datasource_ids:
        query = query.filter(pk__in=datasource_ids)
    return sorted(
        (str(pk), version, count)
        for pk, version, count in query.values_list("pk", "catalog_version", "catalog_table_count")
    )


def catalog_search(
    *,
    workspace_id: Any,
    prompt: str,
    datasource_ids: Sequence[Any] | None = None,
    schema_names: Sequence[str] | None = None,
    limit: int | None = None,
    exclude_table_ids: Sequence[int] = (),
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
        [
            str(workspace_id),
            terms.words,
            [v[:2] for v in versions],
            sorted(schema_names or []),
            limit,
            sorted(exclude_table_ids),
        ],
        separators=(",", ":"),
    )
    key = "catalog-search:" + hashlib.sha256(key_material.encode()).hexdigest()
    cached = cache.get(key)
    if cached is not None:
        return list(cached)
    matches = _search(
        workspace_id,
        terms,
        [v[0] for v in versions],
        schema_names,
        limit,
        table_count=sum(v[2] for v in versions),
        exclude_table_ids=exclude_table_ids,
    )
    cache.set(key, matches, timeout=3600)
    return matches


def _search(
    workspace_id: Any,
    terms: _Terms,
    datasource_ids: list[str],
    schema_names: Sequence[str] | None,
    limit: int,
    table_count: int,
    exclude_table_ids: Sequence[int] = (),
) -> list[TableMatch]:
    base: dict[str, Any] = {"datasources": datasource_ids}
    schema_filter = ""
    if exclude_table_ids:
        # Tables hidden from the actor never become candidates (nor bridges between candidates).
        schema_filter += " AND NOT (p.table_id = ANY(%(excluded)s))"
        base["excluded"] = list(exclude_table_ids)
    if schema_names:
        schema_filter += " AND p.schema_name = ANY(%(schemas)s)"
        base["schemas"] = list(schema_names)
    total = float(max(table_count, 1))
    scored: dict[int, dict[str, Any]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            _STATS_SQL,
            {
                **base,
                "tok_terms": [t[0] for t in terms.token_terms],
                "tok_words": [t[1] for t in terms.token_terms],
                "tok_weights": [t[2] for t in terms.token_terms],
                "txt_terms": [t[0] for t in terms.text_terms],
                "txt_words": [t[1] for t in terms.text_terms],
                "txt_weights": [t[2] for t in terms.text_terms],
            },
        )
        # Contribution of a pair: form weight x field weight x IDF of the term in that field.
        pairs = [
            (field, term, word, weight * FIELD_WEIGHTS[field] * math.log(1.0 + total / df), df)
            for field, term, word, weight, df in cursor.fetchall()
        ]
        if pairs:
            strongest = max(p[3] for p in pairs)
            essential = [p for p in pairs if p[3] >= ESSENTIAL_SHARE * strongest or p[4] <= RARE_TABLES]
            candidates = _score(cursor, essential, base, f"true {schema_filter}", CANDIDATE_POOL)
            if len(candidates) < limit * 3 and len(essential) < len(pairs):
                candidates = _score(cursor, pairs, base, f"true {schema_filter}", CANDIDATE_POOL)
            if candidates:
                # Exact scores for the candidates over every pair, read by table.
                exact = _score(cursor, pairs, {**base, "ids": list(candidates)}, "p.table_id = ANY(%(ids)s)", limit * 3)
                for table_id, (score, fields) in exact.items():
                    reasons = [_REASONS[f] for f in ("name", "text", "column", "column_text") if f in fields]
                    scored[table_id] = {"score": score, "reasons": reasons}
        typo_words = [w for w in terms.words if len(w) >= 5]
        if len(scored) < limit and typo_words:
            params = {**base, "words": terms.words, "candidates": limit * 3}
            fuzzy_clause = " OR ".join(f"%(w{i})s <%% t.name_words" for i in range(len(typo_words)))
            params.update({f"w{i}": w for i, w in enumerate(typo_words)})
            # Low enough for a swapped pair of letters ("invocies" ~ "invoices" is 0.44).
            cursor.execute("SET pg_trgm.word_similarity_threshold = %s", [FUZZY_THRESHOLD])
            cursor.execute(
                _FUZZY_SQL.format(
                    filters=schema_filter.replace("p.table_id", "t.id").replace("p.", "t."), fuzzy_clause=fuzzy_clause
                ),
                params,
            )
            for table_id, fuzzy in cursor.fetchall():
                scored.setdefault(table_id, {"score": 2.0 * float(fuzzy), "reasons": ["similar name"]})
    if not scored:
        return []
    top = sorted(scored, key=lambda tid: -scored[tid]["score"])[: limit * 3]
    _boost_neighbours(scored, top, limit)
    for hidden in exclude_table_ids:
        scored.pop(hidden, None)
    ranked = sorted(scored, key=lambda tid: (-scored[tid]["score"], tid))[:limit]
    with connection.cursor() as cursor:
        cursor.execute(_DETAILS_SQL, {"ids": ranked})
        details = {row[0]: row for row in cursor.fetchall()}
    columns = _relevant_columns(ranked, terms.expanded)
    return [
        TableMatch(
            table_id=tid,
            datasource_id=details[tid][1],
            datasource_name=details[tid][2],
            schema=details[tid][3],
            name=details[tid][4],
            kind=details[tid][5],
            comment=details[tid][6],
            row_estimate=details[tid][7],
            score=round(scored[tid]["score"], 4),
            reasons=tuple(scored[tid]["reasons"]),
            columns=tuple(columns.get(tid, ())),
            description=details[tid][8],
            synonyms=tuple(details[tid][9]),
        )
        for tid in ranked
        if tid in details
    ]


def _score(
    cursor: Any, pairs: list[tuple[str, str, int, float, int]], base: dict[str, Any], where: str, limit: int
) -> dict[int, tuple[float, list[str]]]:
    cursor.execute(
        _SCORE_SQL.format(where=where),
        {
            **base,
            "p_fields": [p[0] for p in pairs],
            "p_terms": [p[1] for p in pairs],
            "p_words": [p[2] for p in pairs],
            "p_values": [p[3] for p in pairs],
            "candidates": limit,
        },
    )
    return {table_id: (float(score), fields) for table_id, score, fields in cursor.fetchall()}


def _boost_neighbours(scored: dict[int, dict[str, Any]], top: list[int], limit: int) -> None:
    """Tables joined by a foreign key to the best matches rank higher; a table that links two of
    them (``invoice_lines`` between ``invoices`` and ``products``) joins the results."""
    edges = list(
        CatalogColumn.objects.filter(is_present=True, fk_table__isnull=False, table_id__in=top)
        .values_list("table_id", "fk_table_id")
        .union(
            CatalogColumn.objects.filter(is_present=True, fk_table_id__in=top).values_list("table_id", "fk_table_id")
        )
    )
    # Inferred keys link tables as declared ones do (a schema without foreign keys has no other links).
    edges += inferred_key_edges(table_ids=top)
    neighbours: dict[int, set[int]] = defaultdict(set)
    for source, target in edges:
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
        if other in scored:
            # The strongest neighbour, not the sum: a hub table must not outrank the table named.
            scored[other]["score"] += 0.15 * max(base[tid] for tid in linked)
            scored[other]["reasons"].append("foreign key to a match")
        elif len(linked) >= 2:
            scored[other] = {
                "score": 0.5 * min(base[tid] for tid in linked),
                "reasons": ["joins two matches"],
            }


def _relevant_columns(table_ids: Iterable[int], expanded: set[str]) -> dict[int, list[ColumnMatch]]:
    by_table: dict[int, list[ColumnMatch]] = defaultdict(list)
    rows = list(
        CatalogColumn.objects.filter(table_id__in=list(table_ids), is_present=True)
        .order_by("table_id", "ordinal")
        .values_list(
            "id",
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
            "description",
            "synonyms",
        )
    )
    inferred = inferred_references(column_ids=[row[0] for row in rows if not row[9]])
    for (
        column_id,
        tid,
        name,
        data_type,
        nullable,
        pk,
        comment,
        tokens,
        fk_schema,
        fk_table,
        fk_column,
        described,
        synonyms,
    ) in rows:
        declared = fk_reference(fk_schema, fk_table, fk_column)
        references = declared or inferred.get(column_id, "")
        synonym_words = {word for synonym in synonyms for word in name_tokens(synonym)}
        matched = bool(expanded.intersection(tokens) or expanded.intersection(synonym_words))
        by_table[tid].append(
            ColumnMatch(
                name,
                data_type,
                nullable,
                pk,
                references,
                comment,
                matched,
                inferred=bool(references and not declared),
                description=described,
                synonyms=tuple(synonyms),
            )
        )
    relevant: dict[int, list[ColumnMatch]] = {}
    for tid, columns in by_table.items():
        chosen = [c for c in columns if c.matched or c.is_primary_key or c.references]
        if not any(c.matched for c in chosen):
            chosen = columns[:10]
        relevant[tid] = chosen[:_MAX_COLUMNS]
    return relevant
