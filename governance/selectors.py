"""Reads for tenancy, and the chokepoint every caller uses to reach a workspace."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from governance.models import (
    ApprovalRule,
    AuditEvent,
    ColumnMaskPolicy,
    Membership,
    RowFilterPolicy,
    TableVisibilityPolicy,
    Workspace,
)


class WorkspaceNotFound(Http404):
    pass


def _as_uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def workspaces_for_user(*, user: User | AnonymousUser) -> QuerySet[Workspace]:
    if not user.is_authenticated:
        return Workspace.objects.none()
    return Workspace.objects.filter(memberships__user=user).select_related("organization")


def memberships_for_user(*, user: User | AnonymousUser) -> QuerySet[Membership]:
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("workspace", "workspace__organization")


def access_workspace(*, user: User | AnonymousUser, workspace_id: Any, perm: str | None = None) -> Workspace:
    """The one way to reach a workspace on behalf of a user.

    A workspace the user is not a member of does not exist for them (404, never 403), so ids of
    other tenants reveal nothing. A member lacking ``perm`` gets PermissionDenied (403).
    """
    pk = _as_uuid(workspace_id)
    workspace = workspaces_for_user(user=user).filter(pk=pk).first() if pk else None
    if workspace is None:
        raise WorkspaceNotFound("No such workspace.")
    # Anonymous users have no workspaces, so only a real user reaches this line.
    if perm is not None and not user.has_perm(f"governance.{perm}", workspace):
        raise PermissionDenied("Your role in this workspace does not allow this.")
    return workspace


def membership_in(*, user: User | AnonymousUser, workspace_id: Any) -> Membership:
    """The user's membership of a workspace, with the user, the workspace and its organization, in
    one query; a workspace the user is not a member of does not exist for them (404)."""
    pk = _as_uuid(workspace_id)
    membership = (
        Membership.objects.filter(user=user, workspace_id=pk)
        .select_related("user", "workspace", "workspace__organization")
        .first()
        if pk and user.is_authenticated
        else None
    )
    if membership is None:
        raise WorkspaceNotFound("No such workspace.")
    return membership


def workspace_members(*, workspace: Workspace) -> QuerySet[Membership]:
    return Membership.objects.filter(workspace=workspace).select_related("user")


def access_membership(*, workspace: Workspace, membership_id: Any) -> Membership:
    try:
        return workspace_members(workspace=workspace).get(pk=int(membership_id))
    except (ValueError, TypeError, Membership.DoesNotExist):
        raise Http404("No such member in this workspace.") from None


def membership_of(*, user: User, workspace: Workspace) -> Membership | None:
    return Membership.objects.filter(user=user, workspace=workspace).first()


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
        approval_rules=list(ApprovalRule.objects.filter(workspace=workspace).order_by("-enabled", "action")),
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
