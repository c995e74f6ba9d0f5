"""The governance gateway: every tool call of the agent passes ``authorize`` before it runs.

A tool plugs in with ``register_tool(ToolSpec(...))``, saying what it does (read, write, ddl, ...)
and which permission it needs on which argument. ``authorize`` checks the actor's permissions,
runs SQL through the firewall (rewriting it so row filters and masks hold), applies the
workspace's safety level and approval rules, and writes one audit row for every decision.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404
from sqlglot import exp
from sqlglot.errors import SqlglotError

from datasources.models import DataSource
from datasources.selectors import access_datasource
from governance.audit import arguments_hash, audit_append
from governance.firewall import FirewallPolicy, check_sql
from governance.models import ApprovalAction, ApprovalRule
from governance.policies import (
    PolicyError,
    TableKey,
    TableRules,
    default_schema,
    dialect_of,
    member_rules,
    visible_table,
)
from workspaces.models import Membership, SafetyLevel, Workspace
from workspaces.selectors import membership_in

logger = logging.getLogger(__name__)

# What a tool does; it decides which SQL statement kinds it may carry and what approval it needs.
READ, WRITE, DDL, ADMIN, GOVERNANCE, INTERACTION = "read", "write", "ddl", "admin", "governance", "interaction"
_KINDS = {READ: frozenset({"select"}), WRITE: frozenset({"insert", "update", "delete", "merge"}),
          DDL: frozenset({"ddl"})}  # fmt: skip
_APPROVAL_ACTION = {WRITE: ApprovalAction.WRITE, DDL: ApprovalAction.DDL, GOVERNANCE: ApprovalAction.POLICY,
                    ADMIN: ApprovalAction.DATASOURCE}  # fmt: skip


@dataclass(frozen=True)
class ToolSpec:
    name: str
    effect: str  # read | write | ddl | admin | governance | interaction
    # Guardian permission the actor needs on the data source named by ``arguments["datasource_id"]``.
    datasource_permission: str | None = None
    # Workspace permission the actor needs (manage_policies, manage_datasources...).
    workspace_permission: str | None = None
    # Name of the argument holding SQL, which the firewall checks and rewrites.
    sql_argument: str | None = None


_REGISTRY: dict[str, ToolSpec] = {}


def register_tool(spec: ToolSpec) -> ToolSpec:
    if spec.effect not in {READ, WRITE, DDL, ADMIN, GOVERNANCE, INTERACTION}:
        raise ValueError(f"unknown effect {spec.effect!r} of tool {spec.name}")
    _REGISTRY[spec.name] = spec
    return spec


def registered_tools() -> dict[str, ToolSpec]:
    return dict(_REGISTRY)


@dataclass(frozen=True)
class Actor:
    """Who acts, in which workspace, with which role and attributes (loaded once per turn)."""

    user: User
    workspace: Workspace
    membership: Membership

    @property
    def role(self) -> str:
        return self.membership.role


def actor_for(*, user: Any, workspace_id: Any) -> Actor:
    """The actor for ``user`` in a workspace they are a member of (else WorkspaceNotFound, a 404)."""
    membership = membership_in(user=user, workspace_id=workspace_id)
    return Actor(user=membership.user, workspace=membership.workspace, membership=membership)


@dataclass(frozen=True)
class MaskNote:
    table: str  # qualified as the firewall names it
    column: str
    strategy: str
    policy: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"table": self.table, "column": self.column, "strategy": self.strategy, "policy": self.policy,
                "reason": self.reason}  # fmt: skip


@dataclass(frozen=True)
class GatewayDecision:
    allowed: bool
    needs_approval: bool
    code: str  # "ok", or why not: not_found, permission_denied, unknown_tool, safety_level, sql_* ...
    reason: str
    tool: str
    datasource_id: uuid.UUID | None = None
    sql_before: str | None = None
    sql_after: str | None = None  # what to run: the firewall's rewrite
    statement_kind: str = ""
    tables: tuple[str, ...] = ()
    policies_applied: tuple[str, ...] = ()
    # What the member should know about the rows they get: a filter that needs an attribute they lack.
    notices: tuple[str, ...] = ()
    # The masked columns of the tables the statement reads, each with the policy that masks it and why.
    masks: tuple[MaskNote, ...] = ()
    audit_id: int | None = None
    # The data source the permission check loaded, so the tool need not load and check it again.
    datasource: DataSource | None = field(default=None, compare=False, repr=False)
    arguments: dict[str, Any] = field(default_factory=dict)


def _deny(tool: str, code: str, reason: str, **extra: Any) -> GatewayDecision:
    return GatewayDecision(allowed=False, needs_approval=False, code=code, reason=reason, tool=tool, **extra)


def _referenced_names(sql: str, dialect: str) -> set[str] | None:
    """Lower-case table names a statement mentions, to load only those policies; None if unparsable."""
    try:
        return {t.name.lower() for tree in sqlglot.parse(sql, read=dialect) if tree for t in tree.find_all(exp.Table)}
    except SqlglotError:
        return None


def _firewall(actor: Actor, spec: ToolSpec, datasource: DataSource, sql: str) -> GatewayDecision:
    dialect = dialect_of(datasource)
    names = _referenced_names(sql, dialect)
    try:
        rules, _hidden = member_rules(membership=actor.membership, datasource=datasource, only=names)
    except PolicyError as exc:
        # A broken policy denies rather than letting data through unfiltered.
        return _deny(spec.name, "policy_error", f"A policy of this data source cannot be applied: {exc}")
    policy = FirewallPolicy(
        dialect=dialect,
        tables=tuple(visible_table(table) for table in rules.values()),
        allowed_kinds=_KINDS.get(spec.effect, frozenset()),
        # One row past the cap: the read path keeps QUERY_MAX_ROWS rows and, seeing one more, says the
        # result was capped (``truncated``); with a LIMIT of the cap itself it could never tell.
        max_rows=settings.QUERY_MAX_ROWS + 1,
        default_schema=default_schema(datasource),
    )
    verdict = check_sql(sql, policy)
    read = _read(rules, verdict.tables)
    common: dict[str, Any] = {
        "datasource_id": datasource.pk,
        "datasource": datasource,
        "sql_before": verdict.sql_before,
        "sql_after": verdict.sql_after,
        "statement_kind": verdict.statement_kind,
        "tables": verdict.tables,
        "policies_applied": verdict.policies_applied,
        "notices": _notices(read),
        "masks": _masks(read),
    }
    if not verdict.allowed:
        return _deny(spec.name, verdict.code, verdict.reason, **common)
    return GatewayDecision(allowed=True, needs_approval=False, code="ok", reason="", tool=spec.name, **common)


def _read(rules: dict[TableKey, TableRules], tables: tuple[str, ...]) -> list[tuple[str, TableRules]]:
    """The rules of the tables a statement reads (``tables``: the firewall's qualified names)."""
    read = set(tables)
    named = ((f"{key.schema}.{key.name}" if key.schema else key.name, table) for key, table in rules.items())
    return [(name, table) for name, table in named if name in read]


def _notices(read: list[tuple[str, TableRules]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(notice for _, table in read for notice in table.notices))


def _masks(read: list[tuple[str, TableRules]]) -> tuple[MaskNote, ...]:
    return tuple(
        MaskNote(name, column, rule.strategy, rule.policy, rule.reason)
        for name, table in read
        for column, rule in table.column_rules.items()
        if rule.strategy != "hide"  # a hidden column does not exist for the member: never named
    )


def _safety(actor: Actor, spec: ToolSpec, decision: GatewayDecision) -> GatewayDecision:
    """The workspace safety level and approval rules on top of an allowed decision."""
    level = actor.workspace.safety_level
    needs = False
    if spec.effect == WRITE:
        if level == SafetyLevel.STRICT:
            return _deny(spec.name, "safety_level", "This workspace is read-only (safety level strict).",
                         datasource_id=decision.datasource_id, sql_before=decision.sql_before)  # fmt: skip
        needs = level == SafetyLevel.STANDARD
    elif spec.effect == DDL:
        if level == SafetyLevel.STRICT:
            return _deny(spec.name, "safety_level", "Schema changes are off in this workspace (safety level strict).",
                         datasource_id=decision.datasource_id, sql_before=decision.sql_before)  # fmt: skip
        needs = True
    action = _APPROVAL_ACTION.get(spec.effect)
    if action and ApprovalRule.objects.filter(workspace=actor.workspace, action=action, enabled=True).exists():
        needs = True
    if not needs:
        return decision
    return GatewayDecision(**{**decision.__dict__, "needs_approval": True, "reason": "Needs approval."})


def authorize(actor: Actor, tool: str, arguments: dict[str, Any], *, execution_id: Any = None) -> GatewayDecision:
    """Decides whether ``actor`` may call ``tool`` with ``arguments``; always leaves an audit row."""
    spec = _REGISTRY.get(tool)
    if spec is None:
        decision = _deny(tool, "unknown_tool", f"There is no tool named {tool!r}.")
    else:
        decision = _decide(actor, spec, arguments)
    event = audit_append(
        workspace_id=actor.workspace.pk,
        actor=actor.user,
        actor_username=actor.user.get_username(),
        tool=tool[:64],
        arguments_hash=arguments_hash(arguments),
        decision="denied" if not decision.allowed else "needs_approval" if decision.needs_approval else "allowed",
        code=decision.code,
        reason=decision.reason,
        policies_applied=list(decision.policies_applied),
        sql_before=decision.sql_before or "",
        sql_after=decision.sql_after or "",
        execution_id=execution_id,
    )
    return GatewayDecision(**{**decision.__dict__, "audit_id": event.pk, "arguments": arguments})


def _decide(actor: Actor, spec: ToolSpec, arguments: dict[str, Any]) -> GatewayDecision:
    if spec.workspace_permission and not actor.user.has_perm(f"workspaces.{spec.workspace_permission}",
                                                             actor.workspace):  # fmt: skip
        return _deny(spec.name, "permission_denied", "Your role in this workspace does not allow this.")
    datasource = None
    if spec.datasource_permission:
        try:
            datasource = access_datasource(
                user=actor.user, datasource_id=arguments.get("datasource_id"), perm=spec.datasource_permission
            )
        except Http404:
            return _deny(spec.name, "not_found", "No such data source.")
        except PermissionDenied:
            return _deny(spec.name, "permission_denied", "Your role does not allow this on this data source.")
        if datasource.workspace_id != actor.workspace.pk:
            return _deny(spec.name, "not_found", "No such data source.")
        datasource.workspace = actor.workspace  # the same row, already loaded
    if spec.sql_argument:
        sql = arguments.get(spec.sql_argument)
        if not isinstance(sql, str) or not sql.strip():
            return _deny(spec.name, "invalid_arguments", f"The tool needs SQL in {spec.sql_argument!r}.")
        assert datasource is not None, f"tool {spec.name} carries SQL but names no data source permission"
        decision = _firewall(actor, spec, datasource, sql)
        if not decision.allowed:
            return decision
        return _safety(actor, spec, decision)
    decision = GatewayDecision(allowed=True, needs_approval=False, code="ok", reason="", tool=spec.name,
                               datasource_id=datasource.pk if datasource else None, datasource=datasource)  # fmt: skip
    return _safety(actor, spec, decision)


def audit_outcome(decision: GatewayDecision, actor: Actor, *, rows_returned: int | None = None,
                  error_code: str = "", execution_id: Any = None) -> None:  # fmt: skip
    """Records what an allowed call did (the audit log is append-only, so this is a row of its own)."""
    audit_append(
        workspace_id=actor.workspace.pk,
        actor=actor.user,
        actor_username=actor.user.get_username(),
        tool=f"{decision.tool}.outcome"[:64],
        arguments_hash=arguments_hash(decision.arguments),
        decision="failed" if error_code else "completed",
        code=error_code or "ok",
        reason=f"outcome of audit event {decision.audit_id}",
        rows_returned=rows_returned,
        sql_after=decision.sql_after or "",
        execution_id=execution_id,
    )


# The tool inventory's governance side. The agent issue plugs the implementations in; what each
# tool may touch is decided here, in one place.
for _spec in (
    ToolSpec("classify_intent", INTERACTION),
    ToolSpec("ask_user", INTERACTION),
    ToolSpec("request_approval", INTERACTION),
    ToolSpec("finish", INTERACTION),
    ToolSpec("search_catalog", READ),
    ToolSpec("describe_table", READ, datasource_permission="view_datasource"),
    ToolSpec("run_query", READ, datasource_permission="query_datasource", sql_argument="sql"),
    ToolSpec("execute_write", WRITE, datasource_permission="write_datasource", sql_argument="sql"),
    ToolSpec("apply_schema_change", DDL, datasource_permission="administer_datasource", sql_argument="sql"),
    ToolSpec("create_datasource", ADMIN, workspace_permission="manage_datasources"),
    ToolSpec("refresh_datasource", ADMIN, datasource_permission="administer_datasource"),
    ToolSpec("scan_sensitive_data", READ, datasource_permission="administer_datasource"),  # reads, never approval
    ToolSpec("propose_policy", READ, workspace_permission="view_workspace"),
    ToolSpec("apply_policy", GOVERNANCE, workspace_permission="manage_policies"),
):
    register_tool(_spec)
