"""Writes of the semantic layer: verified queries, glossary terms, curated catalog descriptions.

Who may do what (one rule for the API, the pages and the admin):

- **verify** a query (create it verified, change it, verify a proposal, delete it): whoever holds
  ``administer_datasource`` on its data source: the workspace's owners and admins by default, and
  anyone an owner grants it to on that source. Their thumbs-up makes a verified query.
- **propose** one: whoever may query the source (analysts by default). Their thumbs-up makes a
  *proposed* query, which no model sees until someone who may verify it does.
- glossary terms and catalog descriptions: ``administer_datasource`` on the term's (or table's)
  source; a term tied to no source needs the workspace's ``manage_datasources`` (owners, admins).

Every SQL text is checked on save: one statement, parsed by sqlglot in the source's dialect, and
allowed by the governance firewall as a read-only statement for the person saving it (the
``verify_query`` gateway tool, so the check is audited like every other decision).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlglot
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from sqlglot import exp
from sqlglot.errors import SqlglotError

from datasources.catalog import catalog_curate
from datasources.models import CatalogColumn, CatalogTable, DataSource
from governance.gateway import READ, ToolSpec, actor_for, authorize, register_tool
from governance.policies import dialect_of
from semantic.models import GlossaryKind, GlossaryTerm, VerifiedQuery, VerifiedQueryOrigin, VerifiedQueryStatus
from workspaces.models import Workspace

VERIFY_QUERY_TOOL = register_tool(
    ToolSpec("verify_query", READ, datasource_permission="query_datasource", sql_argument="sql")
)
MAX_QUESTION_CHARS = 2000
MAX_SQL_CHARS = 20_000
MAX_SYNONYMS = 20
MAX_DESCRIPTION_CHARS = 2000


@dataclass
class SemanticError(Exception):
    """A request the semantic layer refuses, with a stable code (400 unless ``status`` says otherwise)."""

    code: str
    message: str
    field: str = ""
    status: int = 400
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


def may_verify(*, user: User, datasource: DataSource) -> bool:
    return user.has_perm("datasources.administer_datasource", datasource)


def may_propose(*, user: User, datasource: DataSource) -> bool:
    return user.has_perm("datasources.query_datasource", datasource)


def may_define(*, user: User, workspace: Workspace, datasource: DataSource | None) -> bool:
    """Who may change glossary terms (of ``datasource``, or of the whole workspace)."""
    if datasource is not None:
        return may_verify(user=user, datasource=datasource)
    return user.has_perm("workspaces.manage_datasources", workspace)


def _refuse_unless(allowed: bool, message: str) -> None:
    if not allowed:
        raise SemanticError("permission_denied", message, status=403)


def _text(value: str, *, field: str, limit: int, required: bool = True) -> str:
    text = (value or "").strip()
    if required and not text:
        raise SemanticError(f"{field}_empty", f"The {field.replace('_', ' ')} is empty.", field)
    if len(text) > limit:
        raise SemanticError(f"{field}_too_long", f"The {field.replace('_', ' ')} is longer than {limit} characters.",
                            field)  # fmt: skip
    return text


def clean_synonyms(values: Sequence[Any], *, limit: int = 64) -> list[str]:
    """Stripped, deduplicated (case-insensitively) synonyms; too many or too long ones are refused."""
    cleaned: list[str] = []
    for value in values:
        text = " ".join(str(value).split())
        if not text or text.casefold() in {c.casefold() for c in cleaned}:
            continue
        if len(text) > limit:
            raise SemanticError("synonym_too_long", f"A synonym is at most {limit} characters.", "synonyms")
        cleaned.append(text)
    if len(cleaned) > MAX_SYNONYMS:
        raise SemanticError("too_many_synonyms", f"At most {MAX_SYNONYMS} synonyms.", "synonyms")
    return cleaned


def checked_sql(*, user: User, datasource: DataSource, sql: str) -> str:
    """``sql`` when it is one statement the firewall lets ``user`` run as a read on ``datasource``."""
    text = _text(sql, field="sql", limit=MAX_SQL_CHARS)
    try:
        statements = [s for s in sqlglot.parse(text, read=dialect_of(datasource)) if s is not None]
    except SqlglotError as exc:
        raise SemanticError("sql_invalid", f"The SQL does not parse: {str(exc).splitlines()[0]}", "sql") from exc
    if len(statements) != 1:
        raise SemanticError("sql_not_one_statement", "Give exactly one SQL statement.", "sql")
    decision = authorize(
        actor_for(user=user, workspace_id=datasource.workspace_id),
        VERIFY_QUERY_TOOL.name,
        {"datasource_id": str(datasource.pk), "sql": text},
    )
    if not decision.allowed:
        raise SemanticError("sql_rejected", f"The governance firewall refuses this SQL: {decision.reason}", "sql",
                            details={"firewall_code": decision.code})  # fmt: skip
    return text


# --- verified queries --------------------------------------------------------------------------


@transaction.atomic
def verified_query_create(
    *,
    user: User,
    datasource: DataSource,
    question: str,
    sql: str,
    origin: str,
    schema_names: Sequence[str] = (),
    source_execution_id: Any = None,
) -> VerifiedQuery:
    """A verified query when ``user`` may verify on ``datasource``, a proposed one when they may only
    query it; anyone else is refused."""
    verifies = may_verify(user=user, datasource=datasource)
    _refuse_unless(verifies or may_propose(user=user, datasource=datasource),
                   "Your role may not propose queries on this data source.")  # fmt: skip
    if origin not in VerifiedQueryOrigin.values:
        raise SemanticError("unknown_origin", f"No origin {origin!r}.", "origin")
    now = timezone.now()
    return VerifiedQuery.objects.create(
        workspace_id=datasource.workspace_id,
        datasource=datasource,
        question=_text(question, field="question", limit=MAX_QUESTION_CHARS),
        sql=checked_sql(user=user, datasource=datasource, sql=sql),
        schema_names=[s for s in (str(n).strip() for n in schema_names) if s],
        origin=origin,
        status=VerifiedQueryStatus.VERIFIED if verifies else VerifiedQueryStatus.PROPOSED,
        source_execution_id=source_execution_id,
        created_by=user,
        verified_by=user if verifies else None,
        verified_at=now if verifies else None,
    )


@transaction.atomic
def verified_query_update(
    *,
    user: User,
    verified_query: VerifiedQuery,
    question: str | None = None,
    sql: str | None = None,
    schema_names: Sequence[str] | None = None,
) -> VerifiedQuery:
    _refuse_unless(may_verify(user=user, datasource=verified_query.datasource),
                   "Only those who may verify queries on this data source change them.")  # fmt: skip
    fields = ["updated_at"]
    if question is not None:
        verified_query.question = _text(question, field="question", limit=MAX_QUESTION_CHARS)
        fields.append("question")
    if sql is not None:
        verified_query.sql = checked_sql(user=user, datasource=verified_query.datasource, sql=sql)
        fields.append("sql")
    if schema_names is not None:
        verified_query.schema_names = [s for s in (str(n).strip() for n in schema_names) if s]
        fields.append("schema_names")
    verified_query.save(update_fields=fields)
    return verified_query


@transaction.atomic
def verified_query_verify(*, user: User, verified_query: VerifiedQuery) -> VerifiedQuery:
    """Verifies a proposal (its SQL checked again, now as the verifier); verifying twice is a no-op."""
    _refuse_unless(may_verify(user=user, datasource=verified_query.datasource),
                   "Only owners and admins of this data source verify queries.")  # fmt: skip
    if verified_query.status == VerifiedQueryStatus.VERIFIED:
        return verified_query
    checked_sql(user=user, datasource=verified_query.datasource, sql=verified_query.sql)
    verified_query.status = VerifiedQueryStatus.VERIFIED
    verified_query.verified_by = user
    verified_query.verified_at = timezone.now()
    verified_query.save(update_fields=["status", "verified_by", "verified_at", "updated_at"])
    return verified_query


def verified_query_delete(*, user: User, verified_query: VerifiedQuery) -> None:
    _refuse_unless(may_verify(user=user, datasource=verified_query.datasource),
                   "Only those who may verify queries on this data source delete them.")  # fmt: skip
    verified_query.delete()


# --- glossary ----------------------------------------------------------------------------------


def _checked_expression(*, user: User, sql: str, kind: str, datasource: DataSource | None, table_name: str) -> str:
    """An SQL expression (not a statement), checked by the firewall over its table when it has one."""
    text = _text(sql, field="sql", limit=4000)
    dialect = dialect_of(datasource) if datasource is not None else None
    try:
        parsed = sqlglot.parse_one(text, read=dialect)
    except SqlglotError as exc:
        raise SemanticError("sql_invalid", f"The expression does not parse: {str(exc).splitlines()[0]}", "sql") from exc
    # A value, condition or aggregate over one row set; a subquery would read tables the term does not name.
    if not isinstance(parsed, exp.Condition | exp.Filter | exp.Window) or parsed.find(exp.Query) is not None:
        raise SemanticError("sql_not_expression", "Give an SQL expression (SUM(total), status = 'paid'), not a "
                            "statement or a subquery.", "sql")  # fmt: skip
    if datasource is not None and table_name:
        table = exp.to_table(table_name, dialect=dialect)
        probe = (
            exp.select("*").from_(table).where(parsed) if kind == "filter" else exp.select(parsed).from_(table)
        ).sql(dialect=dialect)
        checked_sql(user=user, datasource=datasource, sql=probe)
    return text


@dataclass(frozen=True)
class GlossaryValues:
    term: str
    kind: str
    sql: str
    synonyms: Sequence[str] = ()
    datasource: DataSource | None = None
    table_name: str = ""
    description: str = ""


def _glossary_fields(
    *, user: User, workspace: Workspace, values: GlossaryValues, exclude_pk: Any = None
) -> dict[str, Any]:
    if values.datasource is not None and values.datasource.workspace_id != workspace.pk:
        raise SemanticError("unknown_datasource", "No such data source in this workspace.", "datasource_id")
    _refuse_unless(may_define(user=user, workspace=workspace, datasource=values.datasource),
                   "Only owners and admins define glossary terms.")  # fmt: skip
    if values.kind not in GlossaryKind.values:
        raise SemanticError("unknown_kind", f"The kind is one of {', '.join(GlossaryKind.values)}.", "kind")
    term = " ".join(_text(values.term, field="term", limit=120).split())
    clash = GlossaryTerm.objects.filter(workspace=workspace, term__iexact=term).exclude(pk=exclude_pk)
    if clash.exists():
        raise SemanticError("term_exists", f"The glossary already defines {term!r}.", "term", status=409)
    table_name = (values.table_name or "").strip()
    if table_name and values.datasource is None:
        raise SemanticError("table_without_datasource", "A table needs its data source.", "table_name")
    return {
        "term": term,
        "kind": values.kind,
        "synonyms": clean_synonyms(values.synonyms, limit=120),
        "sql": _checked_expression(
            user=user, sql=values.sql, kind=values.kind, datasource=values.datasource, table_name=table_name
        ),
        "datasource": values.datasource,
        "table_name": table_name,
        "description": _text(values.description, field="description", limit=MAX_DESCRIPTION_CHARS, required=False),
    }


@transaction.atomic
def glossary_term_create(*, user: User, workspace: Workspace, values: GlossaryValues) -> GlossaryTerm:
    fields = _glossary_fields(user=user, workspace=workspace, values=values)
    return GlossaryTerm.objects.create(workspace=workspace, created_by=user, **fields)


@transaction.atomic
def glossary_term_update(*, user: User, term: GlossaryTerm, values: GlossaryValues) -> GlossaryTerm:
    """Replaces a term's definition (the API merges a PATCH into the current values first)."""
    _refuse_unless(may_define(user=user, workspace=term.workspace, datasource=term.datasource),
                   "Only owners and admins change glossary terms.")  # fmt: skip
    fields = _glossary_fields(user=user, workspace=term.workspace, values=values, exclude_pk=term.pk)
    for name, value in fields.items():
        setattr(term, name, value)
    term.save(update_fields=[*fields, "updated_at"])
    return term


def glossary_term_delete(*, user: User, term: GlossaryTerm) -> None:
    _refuse_unless(may_define(user=user, workspace=term.workspace, datasource=term.datasource),
                   "Only owners and admins delete glossary terms.")  # fmt: skip
    term.delete()


# --- curated catalog descriptions --------------------------------------------------------------


def catalog_description_set(
    *, user: User, table: CatalogTable, column: CatalogColumn | None, description: str, synonyms: Sequence[Any]
) -> CatalogTable | CatalogColumn:
    """Sets the curated description and synonyms of a table or column; kept across catalog refreshes,
    searched, and given to the model beside the source's own comment."""
    _refuse_unless(may_verify(user=user, datasource=table.datasource),
                   "Only owners and admins of this data source describe its tables.")  # fmt: skip
    return catalog_curate(
        table=table,
        column=column,
        description=_text(description, field="description", limit=MAX_DESCRIPTION_CHARS, required=False),
        synonyms=clean_synonyms(synonyms),
    )
