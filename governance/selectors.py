"""Reads for governance: a workspace's policies and its audit log (workspaces are reached through
``workspaces.selectors.access_workspace``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404

from datasources.models import CatalogColumn, CatalogTable
from governance.models import (
    ApprovalRule,
    AuditEvent,
    ColumnMaskPolicy,
    ColumnTag,
    RowFilterPolicy,
    TableVisibilityPolicy,
    Tag,
    TagMaskPolicy,
    TagRowFilterPolicy,
)
from workspaces.models import Workspace
from workspaces.selectors import access_workspace, membership_of


@dataclass(frozen=True)
class WorkspacePolicies:
    """Every policy of a workspace, enabled ones first."""

    row_filters: list[RowFilterPolicy]
    column_masks: list[ColumnMaskPolicy]
    table_visibility: list[TableVisibilityPolicy]
    approval_rules: list[ApprovalRule]
    tag_masks: list[TagMaskPolicy]
    tag_row_filters: list[TagRowFilterPolicy]

    @property
    def count(self) -> int:
        return (len(self.row_filters) + len(self.column_masks) + len(self.table_visibility) + len(self.approval_rules)
                + len(self.tag_masks) + len(self.tag_row_filters))  # fmt: skip


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
        tag_masks=list(TagMaskPolicy.objects.filter(workspace=workspace).order_by("-enabled", "tag", "name")),
        tag_row_filters=list(
            TagRowFilterPolicy.objects.filter(workspace=workspace).order_by("-enabled", "tag", "name")
        ),
    )


@dataclass(frozen=True)
class ClassificationSummary:
    """How far the workspace's columns are classified and reviewed."""

    tagged_columns: int
    awaiting_review: int  # detected personal data nobody has reviewed (masked below admin meanwhile)
    safe_default: bool  # the workspace masks unreviewed personal data


def classification_summary(*, workspace: Workspace) -> ClassificationSummary:
    from governance.tags import PERSONAL_TAGS

    personal = [*PERSONAL_TAGS, *Tag.objects.filter(workspace=workspace, personal=True).values_list("name", flat=True)]
    live = ColumnTag.objects.filter(workspace=workspace, column__is_present=True).exclude(state="rejected")
    return ClassificationSummary(
        tagged_columns=live.values("column_id").distinct().count(),
        awaiting_review=live.filter(state="detected", tag__in=personal).values("column_id").distinct().count(),
        safe_default=bool(getattr(workspace, "mask_unreviewed_personal_data", True)),
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


# --- classification ----------------------------------------------------------------------------


def workspace_tags(*, workspace: Workspace) -> QuerySet[Tag]:
    return Tag.objects.filter(workspace=workspace).order_by("name")


def access_tag(*, user: User | AnonymousUser, tag_id: Any, perm: str | None = None) -> Tag:
    """A workspace tag of one of the user's workspaces (404 otherwise; 403 without ``perm``)."""
    try:
        pk = int(tag_id)
    except (TypeError, ValueError):
        raise Http404("No such tag.") from None
    tag = Tag.objects.filter(pk=pk, workspace__memberships__user=user).first() if user.is_authenticated else None
    if tag is None:
        raise Http404("No such tag.")
    access_workspace(user=user, workspace_id=tag.workspace_id, perm=perm)
    return tag


def column_tags(*, datasource: Any, state: str = "", tag: str = "", table: str = "") -> QuerySet[ColumnTag]:
    """The tags on the present columns of a source, by table and column."""
    tags = ColumnTag.objects.filter(datasource=datasource, column__is_present=True, column__table__is_present=True)
    if state:
        tags = tags.filter(state=state)
    if tag:
        tags = tags.filter(tag=tag)
    if table:
        tags = tags.filter(column__table__name=table.rsplit(".", 1)[-1])
    return tags.select_related("column__table", "reviewed_by").order_by(
        "column__table__schema_name", "column__table__name", "column__ordinal", "tag"
    )


def column_tag_loaded(pk: int) -> ColumnTag:
    return ColumnTag.objects.select_related("column__table", "reviewed_by").get(pk=pk)


def catalog_column(*, datasource: Any, table: str, column: str) -> CatalogColumn:
    """A present column of ``schema.table`` (or of a table name unique in the source); a
    ValidationError names what is missing."""
    tables = CatalogTable.objects.filter(datasource=datasource, is_present=True)
    found = []
    if "." in table:
        schema, name = table.split(".", 1)
        found = list(tables.filter(schema_name=schema, name=name))
    found = found or list(tables.filter(name=table))
    if len(found) != 1:
        problem = "is ambiguous: name its schema too" if found else "is not in the catalog"
        raise ValidationError({"table": f"The table {table} {problem}."})
    match = CatalogColumn.objects.filter(table=found[0], name=column, is_present=True).select_related("table").first()
    if match is None:
        raise ValidationError({"column": f"{table} has no column {column}."})
    return match


def access_column_tag(*, user: User | AnonymousUser, column_tag_id: Any, perm: str | None = None) -> ColumnTag:
    """A tag on a column the user may see, of a source they may see (404 otherwise; 403 without
    ``perm`` on the workspace)."""
    from datasources.selectors import access_datasource
    from governance.policies import catalog_view

    try:
        pk = int(column_tag_id)
    except (TypeError, ValueError):
        raise Http404("No such column tag.") from None
    found = ColumnTag.objects.filter(pk=pk).select_related("column__table").first()
    if found is None:
        raise Http404("No such column tag.")
    try:
        datasource = access_datasource(user=user, datasource_id=found.datasource_id)
    except Http404:
        raise Http404("No such column tag.") from None
    membership = membership_of(user=user, workspace=datasource.workspace)  # type: ignore[arg-type]
    table = found.column.table
    view = catalog_view(membership=membership, datasource=datasource, only={table.name.lower()})  # type: ignore[arg-type]
    if view.column_rule(table.schema_name, table.name, found.column.name) is None:
        raise Http404("No such column tag.")
    access_workspace(user=user, workspace_id=found.workspace_id, perm=perm)
    return found


def tags_of_tables(*, table_ids: list[int]) -> QuerySet[ColumnTag]:
    """Every tag (rejected ones too) on the columns of these catalog tables."""
    return ColumnTag.objects.filter(column__table_id__in=table_ids).select_related("reviewed_by").order_by("tag")


def known_tag_names(*, workspace: Workspace) -> list[str]:
    from governance.tags import BUILTIN_TAGS

    return [*BUILTIN_TAGS, *workspace_tags(workspace=workspace).values_list("name", flat=True)]


def catalog_column_by_id(*, datasource: Any, column_id: Any) -> CatalogColumn | None:
    try:
        pk = int(column_id)
    except (TypeError, ValueError):
        return None
    return (
        CatalogColumn.objects.filter(pk=pk, table__datasource=datasource, is_present=True, table__is_present=True)
        .select_related("table")
        .first()
    )
