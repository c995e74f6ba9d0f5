"""Writes for tenancy: organisations, workspaces and memberships (roles map to groups)."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from workspaces.models import Membership, Organization, Role, Workspace
from workspaces.roles import WORKSPACE_PERMISSIONS, grant, role_group_name

_ATTRIBUTE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_SCALARS = (str, int, float, bool)


def validate_attributes(attributes: Any) -> dict[str, Any]:
    """Attributes are rendered into row filters later, so only plain names and values are allowed."""
    if not isinstance(attributes, dict):
        raise ValidationError({"attributes": "Attributes must be an object of names to values."})
    for key, value in attributes.items():
        if not isinstance(key, str) or not _ATTRIBUTE_KEY.match(key):
            raise ValidationError({"attributes": f"Attribute name {key!r} must be lower_snake_case."})
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(item, _SCALARS) for item in values):
            raise ValidationError(
                {"attributes": f"Attribute {key!r} must be a string, number, boolean or a list of them."}
            )
    return dict(attributes)


@transaction.atomic
def organization_create(*, name: str, slug: str) -> Organization:
    return Organization.objects.create(name=name, slug=slug)


@transaction.atomic
def workspace_create(*, organization: Organization, name: str, slug: str, safety_level: str | None = None) -> Workspace:
    """Creates the workspace and one group per role holding that role's object permissions."""
    workspace = Workspace(organization=organization, name=name, slug=slug)
    if safety_level is not None:
        workspace.safety_level = safety_level
    workspace.full_clean()
    workspace.save()
    Group.objects.bulk_create([Group(name=role_group_name(workspace.pk, role)) for role in WORKSPACE_PERMISSIONS])
    grant(obj=workspace, workspace_id=workspace.pk, perms_by_role=WORKSPACE_PERMISSIONS)
    return workspace


def _role_groups(workspace: Workspace) -> dict[str, Group]:
    names = {role_group_name(workspace.pk, role): role for role in Role.values}
    return {names[group.name]: group for group in Group.objects.filter(name__in=names)}


@transaction.atomic
def membership_set(
    *, workspace: Workspace, user: User, role: str, attributes: dict[str, Any] | None = None
) -> Membership:
    """Adds the user to the workspace or changes their role; the role's group follows."""
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; one of {', '.join(Role.values)}."})
    membership = Membership.objects.select_for_update().filter(workspace=workspace, user=user).first()
    if membership is None:
        membership = Membership(workspace=workspace, user=user)
    elif membership.role == Role.OWNER and role != Role.OWNER:
        _ensure_another_owner(membership)
    membership.role = role
    if attributes is not None:
        membership.attributes = validate_attributes(attributes)
    membership.save()

    groups = _role_groups(workspace)
    user.groups.remove(*[group for name, group in groups.items() if name != role])
    user.groups.add(groups[role])
    return membership


def _ensure_another_owner(membership: Membership) -> None:
    others = (
        Membership.objects.select_for_update()
        .filter(workspace_id=membership.workspace_id, role=Role.OWNER)
        .exclude(pk=membership.pk)
    )
    if not others.exists():
        raise PermissionDenied("A workspace keeps at least one owner.")


@transaction.atomic
def membership_update(
    *, membership: Membership, role: str | None = None, attributes: dict[str, Any] | None = None
) -> Membership:
    return membership_set(
        workspace=membership.workspace,
        user=membership.user,
        role=role if role is not None else membership.role,
        attributes=attributes,
    )


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    if membership.role == Role.OWNER:
        _ensure_another_owner(membership)
    membership.user.groups.remove(*_role_groups(membership.workspace).values())
    membership.delete()
