"""What the firewall is given (the catalog as one actor sees it) and what it answers."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlglot import exp

# Refusal codes; the keys are stable, clients and tests rely on them.
CODES: Mapping[str, str] = {
    "ok": "the statement may run (as rewritten)",
    "sql_parse_error": "the statement is empty, too long, could not be parsed or cannot be written for the engine",
    "sql_multiple_statements": "more than one statement was sent",
    "sql_statement_not_allowed": "this kind of statement is not allowed here",
    "sql_forbidden_construct": "the statement uses a construct that is never allowed (COPY, SELECT INTO, SET, ...)",
    "sql_forbidden_function": "the statement calls a function that is not on the allow-list",
    "sql_unknown_table": "a table is not in the catalog visible to this user",
    "sql_unknown_column": "a column is not visible to this user",
    "sql_masked_column": "a write would change, or a write's condition would read, a masked column",
}
STATEMENT_KINDS = frozenset({"select", "insert", "update", "delete", "merge", "ddl"})


class MaskStrategy(str, enum.Enum):  # noqa: UP042  the public interface names (str, Enum)
    REDACT = "redact"
    HASH = "hash"
    PARTIAL = "partial"
    NULL = "null"


@dataclass(frozen=True)
class VisibleTable:
    schema: str  # as in the catalog ("" or "main" where the engine has no schemas)
    name: str
    columns: tuple[str, ...]  # every column the actor may see; the others do not exist for them
    # Boolean condition over the table's own unqualified columns, literals already in it. sqlglot
    # types conditions built with exp.and_() as Expr, the base of Expression, hence the wider type.
    row_filter: exp.Expr | None = None
    masks: Mapping[str, MaskStrategy] = field(default_factory=dict)  # column -> strategy
    policies: tuple[str, ...] = ()  # names of the policies in force on this table (reported back)


@dataclass(frozen=True)
class FirewallPolicy:
    dialect: str  # sqlglot dialect: "postgres" | "mysql" | "sqlite" | "duckdb"
    tables: tuple[VisibleTable, ...]  # the catalog as this actor sees it; anything else is unknown
    allowed_kinds: frozenset[str] = frozenset({"select"})  # a subset of STATEMENT_KINDS
    max_rows: int = 1000  # LIMIT added when missing; a larger LIMIT is lowered to this
    default_schema: str = ""  # schema of unqualified names ("public", the MySQL database, "" / "main")
    # Prepended to values before hashing (HASH masks), so that hashes cannot be matched against a
    # dictionary of likely values hashed elsewhere. Empty: plain md5.
    hash_salt: str = ""


@dataclass(frozen=True)
class FirewallDecision:
    allowed: bool
    code: str  # "ok" or a key of CODES
    reason: str  # plain words for a person (and for the model)
    statement_kind: str  # select | insert | update | delete | merge | ddl | other | "" when it did not parse
    sql_before: str
    sql_after: str | None  # the rewritten SQL to run, in the dialect, when allowed
    tables: tuple[str, ...]  # qualified catalog tables the statement reads or writes
    policies_applied: tuple[str, ...]
