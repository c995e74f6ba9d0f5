"""Reads for governance: a workspace's policies and its audit log (workspaces are reached through
``workspaces.selectors.access_workspace``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from governance.models import ApprovalRule, AuditEvent, ColumnMaskPolicy, RowFilterPolicy, TableVisibilityPolicy
from workspaces.models import Workspace


@dataclass(frozen=True)
class WorkspacePolicies:
    """Every policy of a workspace, enabled ones first."""

    row_filters: list[RowFilterPolicy]
    column_masks: list[ColumnMaskPolicy]
    table_visibility: list[TableVisibilityPolicy]
    approval_rules: list[ApprovalRule]

    @property
    def count(self) -> int:
        return len(self.row_filters) + len(self.column_masks) + len(self.table_visibility) + len(self.approval_rules)


def workspace_policies(*, workspace: Workspace) -> WorkspacePolicies:
    order = ("-enabled", "datasource__name", "schema_name", "table_name", "name")
    return WorkspacePolicies(
        row_filters=list(
            RowFilterPolicy.objects.filter(workspace=workspace)
            .select_related("datasource")
            .prefetch_related("groups", "users")
            .order_by(*order)
        ),
        column_masks=list(
            ColumnMaskPolicy.objects.filter(workspace=workspace)
            .select_related("datasource")
            .order_by(*order, "column_name")
        ),
        table_visibility=list(
            TableVisibilityPolicy.objects.filter(workspace=workspace).select_related("datasource").order_by(*order)
        ),
        # The workspace and its organization: an approval rule names them (its __str__).
        approval_rules=list(
            ApprovalRule.objects.filter(workspace=workspace)
            .select_related("workspace__organization")
            .order_by("-enabled", "action")
        ),
    )


def audit_events(
    *,
    workspace: Workspace,
    actor_username: str = "",
    tool: str = "",
    decision: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """The workspace's audit log, newest first, filtered; ``until`` is exclusive."""
    events = AuditEvent.objects.filter(workspace=workspace)
    if actor_username:
        events = events.filter(actor_username=actor_username)
    if tool:
        events = events.filter(tool=tool)
    if decision:
        events = events.filter(decision=decision)
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    return events.order_by("-id")


def audit_recent_tools(*, workspace: Workspace, recent: int = 2000) -> list[str]:
    """The tools named in the workspace's latest ``recent`` audit rows (suggestions for a filter)."""
    latest = AuditEvent.objects.filter(workspace=workspace).order_by("-id").values_list("tool", flat=True)[:recent]
    return sorted(set(latest))
