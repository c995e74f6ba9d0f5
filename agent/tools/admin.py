"""The administration tools: data sources (create, refresh), the compliance scan, and governance
policies (propose, apply).

What each may do is decided by the gateway (``governance.gateway``); these functions run after an
allowed decision, reach data sources through ``access_datasource`` (so another workspace's source
does not exist for them) and change things only through the apps' services.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from sqlglot import exp

from agent.tools.base import Tool, register
from agent.tools.errors import error_observation, error_result
from agent.tools.write import datasource_of
from agent.types import ToolContext, ToolResult
from datasources.connectors import CONNECTORS
from datasources.connectors.base import ConnectorError
from datasources.models import DataSource, DataSourceKind
from datasources.selectors import catalog_tables
from datasources.services import (
    RefreshInProgress,
    datasource_create,
    datasource_refresh_start,
    datasource_test,
    guard_policy,
)
from governance.compliance import propose_mask_policies, scan_datasource
from governance.gateway import GatewayDecision
from governance.models import ColumnMaskPolicy, RowFilterPolicy
from governance.policies import PolicyError, catalog_view, dialect_of, parse_predicate, render_predicate
from governance.services import DEFAULT_POLICY_ROLES, column_mask_policy_create, row_filter_policy_create
from workspaces.models import Role

POLICY_KINDS = ("mask", "row_filter")
MASK_STRATEGIES = ("redact", "hash", "partial", "null")
_STRATEGY_WORDS = {
    "redact": "***",
    "hash": "a hash of the value",
    "partial": "part of the value (j***@example.com)",
    "null": "NULL",
}


def _failed_with(code: str, message: str, **observation: Any) -> ToolResult:
    """An error the model sees next to what it needs to go on (the id of a source saved anyway...)."""
    return ToolResult(observation={**error_observation(code, message), **observation}, status="error", error_code=code)


def _denied(decision: GatewayDecision) -> ToolResult | None:
    return None if decision.allowed else error_result(decision.code, decision.reason, status="denied")


def _invalid(exc: ValidationError, **observation: Any) -> ToolResult:
    """A service's ValidationError, with its messages by field (as the API reports them)."""
    details = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    message = " ".join(exc.messages) or "The arguments are not valid."
    return _failed_with("validation_error", message, details=details, **observation)


# --- create_datasource -------------------------------------------------------------------------


def create_datasource_run(ctx: ToolContext, arguments: dict[str, Any], decision: GatewayDecision) -> ToolResult:
    """Registers a source in the actor's workspace through ``datasource_create`` (which validates the
    settings and refuses forbidden hosts and paths), tests the connection and starts reading the
    schema. Secrets go to the encrypted field and are never echoed back."""
    denied = _denied(decision)
    if denied:
        return denied
    name, kind = arguments.get("name"), arguments.get("kind")
    settings, secrets = arguments.get("settings"), arguments.get("secrets") or {}
    not_created: dict[str, Any] = {"datasource_id": None, "status": "error"}
    if not isinstance(name, str) or not name.strip() or not isinstance(kind, str):
        return _failed_with("invalid_arguments", "name and kind are required strings.", **not_created)
    if not isinstance(settings, dict) or not isinstance(secrets, dict):
        return _failed_with("invalid_arguments", "settings and secrets are objects.", **not_created)
    try:
        datasource = datasource_create(
            workspace=ctx.actor.workspace,
            name=name.strip(),
            kind=kind,
            settings=settings,
            secrets=secrets,
            created_by=ctx.actor.user,
        )
    except ValidationError as exc:
        return _invalid(exc, **not_created)
    except ConnectorError as exc:  # invalid settings, a forbidden host or path
        return _failed_with(exc.code, exc.message, **not_created)
    try:
        datasource_test(datasource=datasource)
    except ConnectorError as exc:
        # Saved but unreachable with these settings: kept (status error) to be corrected, not re-created.
        message = f"The data source was saved, but the connection test failed: {exc.message}"
        return _failed_with(exc.code, message, datasource_id=str(datasource.pk), status="error")
    started = datasource_refresh_start(datasource=datasource)
    return ToolResult(observation={"datasource_id": str(started.pk), "status": started.status})


def create_datasource_preview(ctx: ToolContext, arguments: dict[str, Any], decision: GatewayDecision) -> dict[str, Any]:
    """What an approver sees: the settings as they would be saved (checked, hosts and paths
    included) and which secrets come with them, never their values."""
    kind, settings, secrets = arguments.get("kind"), arguments.get("settings"), arguments.get("secrets") or {}
    preview: dict[str, Any] = {
        "name": arguments.get("name"),
        "kind": kind,
        "secrets": sorted(secrets) if isinstance(secrets, dict) else [],
    }
    connector = CONNECTORS.get(kind) if isinstance(kind, str) else None
    if connector is None or not isinstance(settings, dict):
        return {
            **preview,
            **error_observation("invalid_arguments", "Unknown kind, or settings that are not an object."),
        }
    try:
        return {**preview, "settings": connector.validate_settings(dict(settings), guard_policy())}
    except ConnectorError as exc:
        return {**preview, **error_observation(exc.code, exc.message)}


# --- refresh_datasource ------------------------------------------------------------------------


def refresh_datasource_run(ctx: ToolContext, arguments: dict[str, Any], decision: GatewayDecision) -> ToolResult:
    denied = _denied(decision)
    if denied:
        return denied
    datasource = datasource_of(ctx, decision.datasource_id, "administer_datasource")
    if isinstance(datasource, ToolResult):
        return datasource
    try:
        started = datasource_refresh_start(datasource=datasource)
    except RefreshInProgress as exc:
        return ToolResult(
            observation={"datasource_id": str(datasource.pk), "status": datasource.status, "note": str(exc)}
        )
    return ToolResult(observation={"datasource_id": str(started.pk), "status": started.status})


# --- scan_sensitive_data -----------------------------------------------------------------------


def _qualified(schema: str, table: str) -> str:
    return f"{schema}.{table}" if schema else table


def _proposal(policy: ColumnMaskPolicy) -> dict[str, Any]:
    """A proposed mask in apply_policy's arguments, so it can be passed on as it is."""
    return {
        "datasource_id": str(policy.datasource_id),
        "kind": "mask",
        "table": _qualified(policy.schema_name, policy.table_name),
        "column": policy.column_name,
        "strategy": policy.strategy,
        "roles": [r for r in Role.values if r not in policy.exempt_roles],
    }


def scan_sensitive_data_run(ctx: ToolContext, arguments: dict[str, Any], decision: GatewayDecision) -> ToolResult:
    """Where personal data seems to be, and why; the values found never leave the scan (only how
    many sampled values matched). Tables and columns hidden from the actor are left out."""
    denied = _denied(decision)
    if denied:
        return denied
    datasource = datasource_of(ctx, decision.datasource_id, "administer_datasource")
    if isinstance(datasource, ToolResult):
        return datasource
    wanted = arguments.get("tables")
    if wanted is not None and (not isinstance(wanted, list) or not all(isinstance(t, str) for t in wanted)):
        return error_result("invalid_arguments", "tables must be a list of table names (schema.name or name).")
    view = catalog_view(membership=ctx.actor.membership, datasource=datasource)
    names = {table.rsplit(".", 1)[-1] for table in wanted} if wanted else None
    findings = [
        finding
        for finding in scan_datasource(datasource=datasource, tables=names)
        if not view.table_hidden(finding.schema, finding.table)
        and view.column_state(finding.schema, finding.table, finding.column) is not None
        and (not wanted or {finding.table, _qualified(finding.schema, finding.table)} & set(wanted))
    ]
    observation = {
        "findings": [
            {
                "table": _qualified(f.schema, f.table),
                "column": f.column,
                "kind": f.kind,
                "evidence": "values" if "values" in f.evidence else "name",
                "sample_matches": f.matches,
            }
            for f in findings
        ],
        "proposals": [_proposal(p) for p in propose_mask_policies(datasource=datasource, findings=findings)],
    }
    return ToolResult(observation=observation)


# --- propose_policy / apply_policy -------------------------------------------------------------


@dataclass(frozen=True)
class PolicyDraft:
    """A policy as apply_policy would create it, checked against the catalog as the actor sees it."""

    datasource: DataSource
    kind: str  # mask | row_filter
    schema_name: str
    table_name: str
    roles: tuple[str, ...]  # whom it applies to; the other roles are exempt
    column: str = ""  # mask
    strategy: str = ""  # mask
    predicate: str = ""  # row_filter

    @property
    def table(self) -> str:
        return _qualified(self.schema_name, self.table_name)

    @property
    def exempt_roles(self) -> list[str]:
        return [role for role in Role.values if role not in self.roles]

    @property
    def name(self) -> str:
        if self.kind == "mask":
            return f"Mask {self.column} in {self.table} ({self.strategy})"[:120]
        return f"Row filter on {self.table}: {self.predicate}"[:120]

    def as_json(self) -> dict[str, Any]:
        policy: dict[str, Any] = {
            "datasource_id": str(self.datasource.pk),
            "kind": self.kind,
            "name": self.name,
            "table": self.table,
            "roles": list(self.roles),
        }
        if self.kind == "mask":
            policy.update(column=self.column, strategy=self.strategy)
        else:
            policy["predicate"] = self.predicate
        return policy


def _catalog_table(ctx: ToolContext, datasource: DataSource, table: Any) -> tuple[str, str, list[str]] | ToolResult:
    """(schema, name, visible columns) of ``schema.name`` (or a name unique in the source), as the
    actor sees the catalog: a hidden table is as unknown as a missing one."""
    if not isinstance(table, str) or not table.strip():
        return error_result("invalid_arguments", "table must name a table, as schema.name.")
    view = catalog_view(
        membership=ctx.actor.membership, datasource=datasource, only={table.lower(), table.split(".", 1)[-1].lower()}
    )
    tables = catalog_tables(datasource=datasource)
    candidates = []
    if "." in table:
        schema, name = table.split(".", 1)
        candidates = list(tables.filter(schema_name=schema, name=name))
    if not candidates:
        candidates = list(tables.filter(name=table))
    candidates = [t for t in candidates if not view.table_hidden(t.schema_name, t.name)]
    if len(candidates) != 1:
        problem = "is ambiguous: name its schema too" if candidates else "is not in the catalog"
        return error_result("invalid_arguments", f"The table {table} {problem}.")
    found = candidates[0]
    columns = [
        column
        for column in found.columns.filter(is_present=True).order_by("ordinal").values_list("name", flat=True)
        if view.column_state(found.schema_name, found.name, column) is not None
    ]
    return found.schema_name, found.name, columns


def _draft(ctx: ToolContext, arguments: dict[str, Any]) -> PolicyDraft | ToolResult:
    datasource = datasource_of(ctx, arguments.get("datasource_id"), "view_datasource")
    if isinstance(datasource, ToolResult):
        return datasource
    kind = arguments.get("kind")
    if kind not in POLICY_KINDS:
        return error_result("invalid_arguments", 'kind must be "mask" or "row_filter".')
    roles = arguments.get("roles", list(DEFAULT_POLICY_ROLES))
    if not isinstance(roles, list) or not roles or any(role not in Role.values for role in roles):
        return error_result("invalid_arguments", f"roles must be a non-empty list of {', '.join(Role.values)}.")
    audience = tuple(role for role in Role.values if role in roles)
    located = _catalog_table(ctx, datasource, arguments.get("table"))
    if isinstance(located, ToolResult):
        return located
    schema, table, columns = located
    if kind == "mask":
        column = arguments.get("column")
        real = {name.lower(): name for name in columns}.get(column.lower()) if isinstance(column, str) else None
        if real is None:
            return error_result("invalid_arguments", f"{_qualified(schema, table)} has no column {column!r}.")
        strategy = arguments.get("strategy", "redact")
        if strategy not in MASK_STRATEGIES:
            return error_result("invalid_arguments", f"strategy must be one of {', '.join(MASK_STRATEGIES)}.")
        return PolicyDraft(datasource, kind, schema, table, audience, column=real, strategy=strategy)
    predicate = arguments.get("predicate")
    if not isinstance(predicate, str) or not predicate.strip():
        return error_result("invalid_arguments", "A row filter needs a predicate, such as region = {{ user.region }}.")
    try:
        tree, _attributes = parse_predicate(predicate.strip(), dialect_of(datasource))
    except PolicyError as exc:
        return error_result("invalid_predicate", str(exc))
    known = {name.lower() for name in columns}
    named = {c.name for c in tree.find_all(exp.Column) if not c.name.startswith("__psa_attribute_")}
    missing = sorted(name for name in named if name.lower() not in known)
    if missing:
        return error_result("invalid_predicate", f"{_qualified(schema, table)} has no column {', '.join(missing)}.")
    return PolicyDraft(datasource, kind, schema, table, audience, predicate=predicate.strip())


def _effect(ctx: ToolContext, draft: PolicyDraft) -> str:
    who = ", ".join(draft.roles)
    others = ", ".join(draft.exempt_roles) or "nobody"
    if draft.kind == "mask":
        return (
            f"Members with the role {who} will see {draft.column} of {draft.table} as "
            f"{_STRATEGY_WORDS[draft.strategy]}; {others} keep seeing the real values."
        )
    effect = (
        f"Members with the role {who} will only see (and change) the rows of {draft.table} where "
        f"{draft.predicate}, filled in with each member's attributes (a member without the attribute sees "
        f"no rows); {others} keep seeing every row."
    )
    if ctx.actor.role in draft.roles:
        dialect = dialect_of(draft.datasource)
        mine = render_predicate(draft.predicate, ctx.actor.membership.attributes, dialect).sql(dialect=dialect)
        effect += f" For you it reads: {mine}."
    return effect


def propose_policy_run(ctx: ToolContext, arguments: dict[str, Any], decision: GatewayDecision) -> ToolResult:
    """Checks a policy and says what it would do; changes nothing."""
    denied = _denied(decision)
    if denied:
        return denied
    draft = _draft(ctx, arguments)
    if isinstance(draft, ToolResult):
        return draft
    return ToolResult(
        observation={
            "policy": draft.as_json(),
            "effect": _effect(ctx, draft),
            "note": "Nothing was changed: apply_policy with the same arguments creates it (it may need approval).",
        }
    )


def apply_policy_preview(ctx: ToolContext, arguments: dict[str, Any], decision: GatewayDecision) -> dict[str, Any]:
    """The policy as it would be created and what it would change (what propose_policy says)."""
    draft = _draft(ctx, arguments)
    if isinstance(draft, ToolResult):
        return draft.observation
    return {"policy": draft.as_json(), "effect": _effect(ctx, draft)}


def apply_policy_run(ctx: ToolContext, arguments: dict[str, Any], decision: GatewayDecision) -> ToolResult:
    denied = _denied(decision)
    if denied:
        return denied
    draft = _draft(ctx, arguments)
    if isinstance(draft, ToolResult):
        return draft
    policy: RowFilterPolicy | ColumnMaskPolicy
    try:
        if draft.kind == "mask":
            policy = column_mask_policy_create(
                workspace=ctx.actor.workspace,
                datasource=draft.datasource,
                schema_name=draft.schema_name,
                table_name=draft.table_name,
                column_name=draft.column,
                strategy=draft.strategy,
                exempt_roles=draft.exempt_roles,
                name=draft.name,
            )
        else:
            policy = row_filter_policy_create(
                workspace=ctx.actor.workspace,
                datasource=draft.datasource,
                schema_name=draft.schema_name,
                table_name=draft.table_name,
                predicate=draft.predicate,
                roles=list(draft.roles),
                name=draft.name,
            )
    except ValidationError as exc:
        return _invalid(exc)
    return ToolResult(observation={"policy_id": policy.pk, "kind": draft.kind, "name": policy.name})


# --- registration ------------------------------------------------------------------------------

_DATASOURCE_ID = {"type": "string", "description": "Id (UUID) of the data source, from the context or search_catalog."}
_POLICY_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "datasource_id": _DATASOURCE_ID,
        "kind": {
            "type": "string",
            "enum": list(POLICY_KINDS),
            "description": "mask: hide the values of one column; row_filter: limit the rows members see.",
        },
        "table": {"type": "string", "description": "The table, as schema.name (as in the catalog)."},
        "column": {"type": "string", "description": "mask only: the column to mask."},
        "strategy": {
            "type": "string",
            "enum": list(MASK_STRATEGIES),
            "description": "mask only: redact (***, the default), hash, partial (j***@example.com, ***1234) or null.",
        },
        "predicate": {
            "type": "string",
            "description": "row_filter only: the condition rows must meet, in the source's SQL; "
            "{{ user.<attribute> }} is the member's attribute, e.g. "
            "region = {{ user.region }}.",
        },
        "roles": {
            "type": "array",
            "items": {"type": "string", "enum": list(Role.values)},
            "description": "The roles the policy applies to (default: analyst and viewer; the others keep "
            "seeing everything).",
        },
    },
    "required": ["datasource_id", "kind", "table"],
    "additionalProperties": False,
}

create_datasource = register(
    Tool(
        name="create_datasource",
        description=(
            "Registers a new data source in this workspace, tests the connection and starts reading its schema. "
            "Settings by kind: postgresql and mysql: host, port, database, user, sslmode, schemas (list); "
            "sqlite: path; files: path (a folder or file) or urls (list). Passwords go in secrets "
            '({"password": ...}), never in settings. Hosts and paths this deployment refuses are refused. '
            'May need a person\'s approval. Returns {"datasource_id", "status"}.'
        ),
        parameters={
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "A name unique in the workspace."},
                "kind": {"type": "string", "enum": list(DataSourceKind.values)},
                "settings": {"type": "object", "description": "Connection settings (shown to people)."},
                "secrets": {"type": "object", "description": 'Credentials, e.g. {"password": "..."}.'},
            },
            "required": ["name", "kind", "settings"],
            "additionalProperties": False,
        },
        run=create_datasource_run,
        side_effect=True,
        preview=create_datasource_preview,
    )
)

refresh_datasource = register(
    Tool(
        name="refresh_datasource",
        description=(
            "Reads the schema of a data source again (tables, columns, keys, comments) so the catalog is up to "
            'date; runs in the background. May need a person\'s approval. Returns {"datasource_id", "status"}.'
        ),
        parameters={
            "type": "object",
            "properties": {"datasource_id": _DATASOURCE_ID},
            "required": ["datasource_id"],
            "additionalProperties": False,
        },
        run=refresh_datasource_run,
        side_effect=True,
    )
)

scan_sensitive_data = register(
    Tool(
        name="scan_sensitive_data",
        description=(
            "Scans a data source for personal data (e-mails, phones, names, dates of birth, card numbers, "
            "national ids, IBANs, addresses) by column names and sampled values; changes nothing. Returns "
            "findings (table, column, kind, evidence, sample_matches; never the values) and proposed masks in "
            "apply_policy's arguments."
        ),
        parameters={
            "type": "object",
            "properties": {
                "datasource_id": _DATASOURCE_ID,
                "tables": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Only these tables (schema.name); default: every table.",
                },
            },
            "required": ["datasource_id"],
            "additionalProperties": False,
        },
        run=scan_sensitive_data_run,
    )
)

propose_policy = register(
    Tool(
        name="propose_policy",
        description=(
            "Checks a governance policy without creating it: a column mask or a row filter on one table. Says "
            "what it would change and returns the policy as apply_policy would create it."
        ),
        parameters=_POLICY_PARAMETERS,
        run=propose_policy_run,
    )
)

apply_policy = register(
    Tool(
        name="apply_policy",
        description=(
            "Creates a governance policy: a column mask or a row filter on one table (same arguments as "
            "propose_policy). It holds from the next query on, for the roles it names. May need a person's "
            'approval. Returns {"policy_id", "kind", "name"}.'
        ),
        parameters=_POLICY_PARAMETERS,
        run=apply_policy_run,
        side_effect=True,
        preview=apply_policy_preview,
    )
)
