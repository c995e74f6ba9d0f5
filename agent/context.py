"""The enrichment context's JSON shapes: what the model is told about data sources and tables.

One conversion per shape, shared by the executions pipeline (which builds the context), the catalog
tools (whose observations use the same table shape) and the tests of the offline model.
"""

from __future__ import annotations

from typing import Any

from datasources.catalog import ColumnMatch, TableMatch
from datasources.models import DataSource
from governance.policies import dialect_of


def column_to_context(column: ColumnMatch) -> dict[str, Any]:
    """A column as the model sees it. ``references`` is the key it joins along, declared or inferred
    alike (``inferred`` says which), so that every model joins along both the same way."""
    return {
        "name": column.name,
        "type": column.data_type,
        "pk": column.is_primary_key,
        "references": column.references,
        "inferred": column.inferred,
        "masked": column.masked,
        "comment": column.comment,
        "description": column.description,
        "synonyms": list(column.synonyms),
    }


def table_to_context(match: TableMatch) -> dict[str, Any]:
    """A catalog search match (already seen through the actor's catalog view) as the model sees it."""
    return {
        "datasource_id": str(match.datasource_id),
        "datasource": match.datasource_name,
        "schema": match.schema,
        "name": match.name,
        "qualified_name": match.qualified_name,
        "comment": match.comment,
        "description": match.description,
        "synonyms": list(match.synonyms),
        "row_estimate": match.row_estimate,
        "score": match.score,
        "columns": [column_to_context(column) for column in match.columns],
    }


def datasource_to_context(datasource: DataSource) -> dict[str, Any]:
    """A data source as the model sees it: which SQL dialect to write for it."""
    return {
        "id": str(datasource.pk),
        "name": datasource.name,
        "kind": datasource.kind,
        "dialect": dialect_of(datasource),
    }
