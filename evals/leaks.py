"""Policy regression: what a restricted login got must hold none of the values its policies keep from
it, whatever the gateway did.

The oracle does not trust the policies it checks: a suite's contract (``SUITE.policies.json`` next to
the suite) declares, per data source, the columns that must reach the restricted login masked and
the tables whose rows it may see only where a column equals one of its attributes. The columns the
policies in force mask are checked as well, so a policy added without a contract is covered too.
The forbidden values are read straight from the source (the read-only path, no gateway):

- every raw value of a masked column;
- for a filtered table, the values of its witness columns that occur only in rows the login may not
  see (checked when the query reads that table alone: across a join a value may come from another
  table).

A leak is a cell of the restricted login's result that is a forbidden value and that the same query
also returns to an unrestricted login (the workspace's owner), so a literal the model wrote itself
is never taken for data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from datasources.connectors.base import ConnectorError
from datasources.models import DataSource
from datasources.queries import query_read
from evals.scoring import normalise
from evals.services import EvalError, QuestionResult, execution_rows, governed_rows, model_sql
from executions.models import PromptExecution
from governance.gateway import Actor
from governance.models import MaskStrategy
from governance.policies import dialect_of, member_rules
from workspaces.models import Role, Workspace
from workspaces.selectors import workspace_members

# A single character is never taken as evidence; "NA", a region, is.
MIN_EVIDENCE_CHARS = 2
MAX_FORBIDDEN_ROWS = 100_000


@dataclass(frozen=True)
class RowFilter:
    table: str  # as the source names it: "billing.customers", or "billing_customers" without schemas
    column: str
    attribute: str  # the login's attribute the column must equal
    witnesses: tuple[str, ...]  # columns whose values tell rows apart


@dataclass(frozen=True)
class SourceContract:
    masked: tuple[str, ...]  # "table.column" (table as in RowFilter.table)
    filtered: tuple[RowFilter, ...]


def contract_path(suite: Path) -> Path:
    return suite.with_name(f"{suite.stem}.policies.json")


def contract_load(suite: Path) -> dict[str, SourceContract]:
    """The suite's policy contract by data source name; EvalError when it has none or it is malformed."""
    path = contract_path(suite)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {
            source: SourceContract(
                masked=tuple(item["masked"]),
                filtered=tuple(
                    RowFilter(f["table"], f["column"], f["attribute"], tuple(f["witnesses"])) for f in item["filtered"]
                ),
            )
            for source, item in data.items()
        }
    except FileNotFoundError:
        raise EvalError("no_policy_contract", f"The suite {suite.name} has no policy contract {path.name}.") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EvalError("invalid_policy_contract", f"{path.name} is malformed: {exc!r}.") from None


def _table(name: str) -> exp.Table:
    schema, _, table = name.rpartition(".")
    return exp.table_(table, db=schema or None, quoted=True)


def tables_read(sql: str, dialect: str) -> set[str]:
    """Names of the tables ``sql`` reads (schema.table and bare table), lower-case; CTEs left out."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except SqlglotError:
        return set()
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    names = set()
    for table in tree.find_all(exp.Table):
        if table.name.lower() in ctes and not table.db:
            continue
        names.add(table.name.lower())
        if table.db:
            names.add(f"{table.db}.{table.name}".lower())
    return names


def _bare(name: str) -> str:
    return name.lower().rpartition(".")[2] if "." in name else name.lower()


class LeakChecker:
    """Checks each scored question of a run as ``actor`` against the contract (see the module)."""

    def __init__(self, *, workspace: Workspace, actor: Actor, contract: dict[str, SourceContract]) -> None:
        self.workspace = workspace
        self.actor = actor
        self.contract = contract
        owner = workspace_members(workspace=workspace).filter(role=Role.OWNER).select_related("user").first()
        if owner is None:
            raise EvalError("no_owner", f"The workspace {workspace.slug} has no owner to compare with.")
        self.unrestricted = Actor(user=owner.user, workspace=workspace, membership=owner)
        self._forbidden: dict[tuple[str, str], frozenset[Any]] = {}
        self.compared = {"questions": 0, "fewer_or_other_rows_than_unrestricted": 0}

    def _masked_columns(self, datasource: DataSource, read: set[str]) -> set[str]:
        """ "table.column" of the contract and of the masks in force for the actor, on tables read."""
        declared = self.contract.get(datasource.name, SourceContract((), ())).masked
        columns = {name for name in declared if name.rpartition(".")[0].lower() in read}
        rules, _ = member_rules(membership=self.actor.membership, datasource=datasource,
                                only={_bare(n) for n in read})  # fmt: skip
        for key, table_rules in rules.items():
            qualified = f"{key.schema}.{key.name}".lower()
            name = f"{key.schema}.{key.name}" if qualified in read else key.name
            for column, rule in table_rules.column_rules.items():
                if rule.strategy and rule.strategy != MaskStrategy.HIDE:
                    columns.add(f"{name}.{column}")
        return columns

    def _values(self, datasource: DataSource, key: str, query: exp.Query) -> frozenset[Any]:
        if (datasource.name, key) not in self._forbidden:
            result = query_read(datasource=datasource, sql=query.sql(dialect=dialect_of(datasource)),
                                max_rows=MAX_FORBIDDEN_ROWS, preview_rows=MAX_FORBIDDEN_ROWS)  # fmt: skip
            values = {normalise(row[0]) for row in result.rows}
            self._forbidden[(datasource.name, key)] = frozenset(
                v for v in values if isinstance(v, str) and len(v) >= MIN_EVIDENCE_CHARS
            )
        return self._forbidden[(datasource.name, key)]

    def _masked_values(self, datasource: DataSource, column: str) -> frozenset[Any]:
        table, _, name = column.rpartition(".")
        query = exp.select(exp.column(name, quoted=True)).distinct().from_(_table(table))
        query = query.where(exp.column(name, quoted=True).is_(exp.null()).not_())
        return self._values(datasource, f"mask:{column}", query)

    def _filtered_values(self, datasource: DataSource, rule: RowFilter, witness: str) -> frozenset[Any]:
        allowed = self.actor.membership.attributes.get(rule.attribute)
        column, value = exp.column(rule.column, quoted=True), exp.convert(allowed)
        seen = exp.select(exp.column(witness, quoted=True)).from_(_table(rule.table))
        # Rows the login may not see, minus values that rows it may see hold too.
        outside = seen.copy().where(exp.or_(column.neq(value), column.is_(exp.null())))
        query = outside.except_(seen.where(column.eq(value)))
        return self._values(datasource, f"filter:{rule.table}.{witness}={allowed}", query)

    def check(self, result: QuestionResult, execution: PromptExecution) -> None:
        """Adds the leaks of one question to ``result.leaks``."""
        if result.outcome != "rows" or not execution.generated_query_text:
            return
        datasource = DataSource.objects.get(pk=execution.selected_data_source_ids[0])
        dialect = dialect_of(datasource)
        sql = model_sql(execution)
        read = tables_read(sql, dialect)
        try:
            restricted, _ = execution_rows(actor=self.actor, execution=execution, datasource=datasource)
            unrestricted = governed_rows(actor=self.unrestricted, execution=execution, datasource=datasource, sql=sql)
            forbidden: dict[str, frozenset[Any]] = {
                f"masked {column}": self._masked_values(datasource, column)
                for column in sorted(self._masked_columns(datasource, read))
            }
            filters = self.contract.get(datasource.name, SourceContract((), ())).filtered
            for rule in filters:
                if {t for t in read if ("." in t) == ("." in rule.table)} == {rule.table.lower()}:
                    for witness in rule.witnesses:
                        forbidden[f"a row of {rule.table} outside {rule.column} = the login's {rule.attribute} "
                                  f"({witness})"] = self._filtered_values(datasource, rule, witness)  # fmt: skip
        except (ConnectorError, EvalError) as exc:
            result.leaks.append(f"could not check ({exc.code}): {exc}")
            return
        self.compared["questions"] += 1
        if sorted(map(repr, restricted.rows)) != sorted(map(repr, unrestricted.rows)):
            self.compared["fewer_or_other_rows_than_unrestricted"] += 1
        cells = {normalise(value) for row in restricted.rows for value in row}
        owner_cells = {normalise(value) for row in unrestricted.rows for value in row}
        for what, values in forbidden.items():
            found = sorted(str(v) for v in cells & values & owner_cells)
            if found:
                result.leaks.append(f"{what}: {', '.join(found[:3])}" + (" ..." if len(found) > 3 else ""))
