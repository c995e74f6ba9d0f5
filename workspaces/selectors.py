"""Reads for tenancy, and the chokepoint every caller uses to reach a workspace."""

from __future__ import annotations

import functools
import uuid
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import QuerySet
from django.http import Http404

from workspaces.models import Membership, Organization, Workspace


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
    if perm is not None and not user.has_perm(f"workspaces.{perm}", workspace):
        raise PermissionDenied("Your role in this workspace does not allow this.")
    return workspace


def membership_in(*, user: User | AnonymousUser, workspace_id: Any) -> Membership:
    """The user's membership of a workspace, with the user, the workspace and its organization, in
    one query; a workspace the user is not a member of does not exist for them (404)."""
    pk = _as_uuid(workspace_id)
    membership = _membership_row(user.pk, pk) if pk and user.is_authenticated else None
    if membership is None:
        raise WorkspaceNotFound("No such workspace.")
    return membership


# The query every API call that starts work makes (execute, a saved prompt's run, the gateway's
# actor): written once, the four objects built straight from its row. Through the ORM
# (select_related over three joins) the same read cost 1.8 ms of Python for a 0.2 ms query.
_JOINED: tuple[tuple[type[Any], str], ...] = ((Membership, "m"), (User, "u"), (Workspace, "w"), (Organization, "o"))


@functools.cache
def _membership_sql() -> str:
    columns = ", ".join(
        f'{alias}."{field.column}"' for model, alias in _JOINED for field in model._meta.concrete_fields
    )
    tables = {model: model._meta.db_table for model, _ in _JOINED}
    # Table and column names come from the models; values are parameters.
    return (
        f"SELECT {columns} FROM {tables[Membership]} m "  # noqa: S608
        f"JOIN {tables[User]} u ON u.id = m.user_id "
        f"JOIN {tables[Workspace]} w ON w.id = m.workspace_id "
        f"JOIN {tables[Organization]} o ON o.id = w.organization_id "
        "WHERE m.user_id = %s AND m.workspace_id = %s LIMIT 1"
    )


@functools.cache
def _row_readers() -> tuple[tuple[type[Any], list[str], list[tuple[Any, list[Any]]]], ...]:
    """Per model: its attribute names, and per column what the ORM would apply to the value (the
    backend's and the field's converters: JSON text to objects, and the like)."""
    readers = []
    for model, _ in _JOINED:
        fields = model._meta.concrete_fields
        columns = []
        for field in fields:
            expression = field.get_col(model._meta.db_table)
            converters = [*connection.ops.get_db_converters(expression), *field.get_db_converters(connection)]
            columns.append((expression, converters))
        readers.append((model, [field.attname for field in fields], columns))
    return tuple(readers)


def _membership_row(user_id: Any, workspace_id: uuid.UUID) -> Membership | None:
    with connection.cursor() as cursor:
        cursor.execute(_membership_sql(), [user_id, workspace_id])
        row = cursor.fetchone()
    if row is None:
        return None
    objects: list[Any] = []
    values = iter(row)
    for model, attnames, columns in _row_readers():
        converted = []
        for (expression, converters), value in zip(columns, values, strict=False):
            for converter in converters:
                value = converter(value, expression, connection)
            converted.append(value)
        objects.append(model.from_db(connection.alias, attnames, converted))
    membership, member, workspace, organization = objects
    workspace.organization = organization
    membership.user, membership.workspace = member, workspace
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
