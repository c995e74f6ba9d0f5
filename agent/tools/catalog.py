"""Finding and describing tables: ``search_catalog`` and ``describe_table``.

Both show the catalog as the actor sees it (``governance.catalog``): hidden tables and columns never
appear, masked columns are marked. Sample values of ``describe_table`` are read through the gateway
like any query, so row filters hold for them too, and masked columns get none.
"""

from __future__ import annotations

import re
from typing import Any

from sqlglot import exp
from sqlglot.errors import SqlglotError

from agent.context import table_to_context
from agent.tools.base import Tool, register
from agent.tools.errors import error_result
from agent.tools.query import decided_datasource, governed_read
from agent.types import ToolContext, ToolResult
from datasources.catalog import ColumnMatch, TableMatch
from datasources.models import CatalogTable, DataSource
from datasources.selectors import catalog_tables, inferred_references
from governance.catalog import apply_view, visible_catalog_search
from governance.gateway import GatewayDecision
from governance.policies import CatalogView, catalog_view, default_schema, dialect_of

SEARCH_LIMIT_MAX = 50
SAMPLE_COLUMNS_MAX = 8  # sample queries per description
SAMPLE_VALUES_MAX = 20  # more distinct values than this: not a low-cardinality column, no samples
SAMPLE_VALUE_CHARS = 100

_TEXT_TYPE = re.compile(r"char|text|string|enum|clob", re.IGNORECASE)
# Names that usually hold a few categories, tried first; and names that usually hold one value per
# row, never tried (a query that finds 21 distinct values is wasted).
_CATEGORY_NAME = re.compile(
    r"status|state|type|kind|categor|region|segment|currency|method|country|stage|priority|department|"
    r"industry|channel|plan|tier|level|source|role|language|mode|group|device|platform|browser|reason|gender|"
    r"brand|grade|class|outcome|result|unit|flag",
    re.IGNORECASE,
)
_UNIQUE_NAME = re.compile(
    r"(^|_)(id|uuid|key|name|email|mail|phone|mobile|number|sku|url|website|address|street|description|"
    r"comment|notes?|title|token|hash|password|iban|card)($|_)",
    re.IGNORECASE,
)


def search_catalog(ctx: ToolContext, arguments: dict[str, Any], decision: GatewayDecision) -> ToolResult:
    matches = visible_catalog_search(
        membership=ctx.actor.membership,
        prompt=arguments["query"],
        datasource_ids=list(ctx.datasource_ids) or None,
        schema_names=list(ctx.schema_names) or None,
        limit=arguments.get("limit"),
    )
    return ToolResult(observation={"tables": [table_to_context(match) for match in matches]})


# --- describe_table ----------------------------------------------------------------------------


def _unknown_table(text: str) -> ToolResult:
    # The same words for a table that does not exist and one hidden from the actor.
    return error_result(
        "unknown_table",
        f"There is no table {text!r} in this data source. Use search_catalog to find the right name.",
    )


def _split_name(text: str, dialect: str) -> tuple[str, str] | None:
    """(schema or "", name) of "schema.name" or "name", quoted or not; None when it is no table name."""
    try:
        table = exp.to_table(text.strip(), dialect=dialect)
    except (SqlglotError, ValueError):
        return None
    if not table.name:
        return None
    return table.db, table.name


def _find_table(datasource: DataSource, view: CatalogView, text: str) -> CatalogTable | list[str] | None:
    """The visible catalog table ``text`` names; the visible candidates when it is ambiguous; None."""
    parts = _split_name(text, dialect_of(datasource))
    if parts is None:
        return None
    schema, name = parts
    query = catalog_tables(datasource=datasource).filter(name__iexact=name)
    if schema:
        query = query.filter(schema_name__iexact=schema)
    candidates = [t for t in query if not view.table_hidden(t.schema_name, t.name)]
    exact = [t for t in candidates if t.name == name and (not schema or t.schema_name == schema)]
    candidates = exact or candidates
    if len(candidates) > 1:
        # "customers" means the default schema's table when there is one there.
        candidates = [t for t in candidates if t.schema_name == default_schema(datasource)] or candidates
    if len(candidates) > 1:
        return sorted(f"{t.schema_name}.{t.name}" if t.schema_name else t.name for t in candidates)
    return candidates[0] if candidates else None


def _table_match(datasource: DataSource, table: CatalogTable) -> TableMatch:
    present = list(table.columns.filter(is_present=True).order_by("ordinal"))
    inferred = inferred_references(column_ids=[column.pk for column in present if not column.references])
    columns = tuple(
        ColumnMatch(
            name=column.name,
            data_type=column.data_type,
            nullable=column.nullable,
            is_primary_key=column.is_primary_key,
            references=column.references or inferred.get(column.pk, ""),
            comment=column.comment,
            matched=False,
            inferred=not column.references and column.pk in inferred,
            description=column.description,
            synonyms=tuple(column.synonyms),
        )
        for column in present
    )
    return TableMatch(
        table_id=table.pk,
        datasource_id=datasource.pk,
        datasource_name=datasource.name,
        schema=table.schema_name,
        name=table.name,
        kind=table.kind,
        comment=table.comment,
        row_estimate=table.row_estimate,
        score=1.0,
        reasons=("described",),
        columns=columns,
        description=table.description,
        synonyms=tuple(table.synonyms),
    )


def _sample_candidates(match: TableMatch) -> list[ColumnMatch]:
    """Shown, unmasked text columns that may hold few values, likeliest first, at most a few."""
    usable = [
        c
        for c in match.columns
        if _TEXT_TYPE.search(c.data_type) and not c.masked and not c.is_primary_key and not c.references
    ]
    hinted = [c for c in usable if _CATEGORY_NAME.search(c.name) or "one of" in c.comment.lower()]
    others = [c for c in usable if c not in hinted and not _UNIQUE_NAME.search(c.name)]
    return (hinted + others)[:SAMPLE_COLUMNS_MAX]


def _sample_sql(match: TableMatch, column: str, dialect: str) -> str:
    target = exp.column(column, quoted=True)
    query = (
        exp.select(target)
        .distinct()
        .from_(exp.table_(match.name, db=match.schema or None, quoted=True))
        .where(exp.not_(exp.Is(this=target.copy(), expression=exp.Null())))
        .limit(SAMPLE_VALUES_MAX + 1)
    )
    return query.sql(dialect=dialect)


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > SAMPLE_VALUE_CHARS:
        return value[:SAMPLE_VALUE_CHARS] + "..."
    return value


def _sample_values(
    ctx: ToolContext, datasource: DataSource, match: TableMatch
) -> tuple[dict[str, list[Any]], dict[str, str] | None]:
    """Distinct values of low-cardinality text columns, read through the gateway as the actor.

    Returns the samples and, when sampling stopped early, why ({"code", "message"}).
    """
    samples: dict[str, list[Any]] = {}
    dialect = dialect_of(datasource)
    for column in _sample_candidates(match):
        read = governed_read(
            ctx,
            datasource=datasource,
            sql=_sample_sql(match, column.name, dialect),
            purpose=f"describe_table sample values of {column.name}",
            max_rows=SAMPLE_VALUES_MAX + 1,
        )
        if read.result is None:
            if read.error is not None:
                return samples, {"code": read.error.code, "message": read.error.message}
            # Denied: the actor may see the table but not read its rows (a viewer), or a policy is
            # broken. Either way the rest would be denied too.
            return samples, {"code": read.decision.code, "message": read.decision.reason}
        if read.result.rows_returned <= SAMPLE_VALUES_MAX:
            values = [row[0] for row in read.result.rows]
            samples[column.name] = [_short(v) for v in sorted(values, key=lambda v: (str(type(v)), str(v)))]
    return samples, None


def describe_table(ctx: ToolContext, arguments: dict[str, Any], decision: GatewayDecision) -> ToolResult:
    datasource = decided_datasource(ctx, decision)
    parts = _split_name(arguments["table"], dialect_of(datasource))
    only = {parts[1].lower()} if parts else set()
    view = catalog_view(membership=ctx.actor.membership, datasource=datasource, only=only)
    found = _find_table(datasource, view, arguments["table"])
    if found is None:
        return _unknown_table(arguments["table"])
    if isinstance(found, list):
        return error_result(
            "ambiguous_table",
            f"Several tables are named {arguments['table']!r}: {', '.join(found)}. Name one with its schema.",
        )
    match = apply_view(_table_match(datasource, found), view)
    samples, problem = _sample_values(ctx, datasource, match)
    if problem is not None and problem["code"] == "query_cancelled":
        return error_result(problem["code"], problem["message"])
    observation: dict[str, Any] = {**table_to_context(match), "kind": match.kind, "sample_values": samples}
    if problem is not None:
        observation["sample_values_unavailable"] = problem
    return ToolResult(observation=observation)


register(
    Tool(
        name="search_catalog",
        description=(
            "Search the data catalog for the tables a question is about, by words (table and column names, "
            "their comments, synonyms). Returns the best-matching tables with their relevant columns, "
            "types, keys and foreign keys; masked columns are marked. Use it when the tables you need are "
            "not in the context, or to explore what data exists."
        ),
        parameters={
            "type": "object",
            "properties": {
                "query": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 2000,
                    "description": "Words describing the data, e.g. 'invoices by customer region'.",
                },
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": SEARCH_LIMIT_MAX,
                    "description": "How many tables at most (the catalog caps it too).",
                },
            },
            "required": ["query"],
            "additionalProperties": False,
        },
        run=search_catalog,
    )
)

register(
    Tool(
        name="describe_table",
        description=(
            "Describe one table: all its columns you may see (type, primary key, foreign keys, comments, "
            "masked columns marked) and up to 20 sample values of its low-cardinality text columns (statuses, "
            "regions, categories...), so you can write exact filters such as status = 'overdue'. Use it "
            "before writing SQL on a table you have not seen in full."
        ),
        parameters={
            "type": "object",
            "properties": {
                "datasource_id": {"type": "string", "description": "The id of the data source (from the context)."},
                "table": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 500,
                    "description": "The table as schema.name, or just name.",
                },
            },
            "required": ["datasource_id", "table"],
            "additionalProperties": False,
        },
        run=describe_table,
    )
)
