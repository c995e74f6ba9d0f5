"""What each workspace role may do to its workspace, as guardian object permissions of its group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from guardian.models import GroupObjectPermission, UserObjectPermission

from governance.models import Role

WORKSPACE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.OWNER: ("view_workspace", "change_workspace", "manage_members", "manage_policies", "manage_datasources"),
    Role.ADMIN: ("view_workspace", "change_workspace", "manage_members", "manage_policies", "manage_datasources"),
    Role.ANALYST: ("view_workspace",),
    Role.VIEWER: ("view_workspace",),
}


def role_group_name(workspace_id: object, role: str) -> str:
    return f"workspace:{workspace_id}:{role}"


# Defaults each role gets on every data source of its workspace (grants per object come on top).
DATASOURCE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.OWNER: ("view_datasource", "query_datasource", "write_datasource", "administer_datasource"),
    Role.ADMIN: ("view_datasource", "query_datasource", "write_datasource", "administer_datasource"),
    Role.ANALYST: ("view_datasource", "query_datasource"),
    Role.VIEWER: ("view_datasource",),
}


def grant_to_roles(*, obj: Any, workspace_id: object, perms_by_role: Mapping[str, Sequence[str]]) -> None:
    """Gives each role's group of the workspace its object permissions (``app_label.codename``) on
    ``obj``: how a new data source, prompt or execution gets its role defaults."""
    groups = Group.objects.filter(name__in=[role_group_name(workspace_id, role) for role in perms_by_role])
    by_name = {group.name: group for group in groups}
    grant_object_perms(
        obj=obj,
        groups={
            by_name[name]: perms
            for role, perms in perms_by_role.items()
            if (name := role_group_name(workspace_id, role)) in by_name
        },
    )


def grant_object_perms(
    *, obj: Any, users: Mapping[Any, Sequence[str]] | None = None, groups: Mapping[Group, Sequence[str]] | None = None
) -> None:
    """Object permissions (``app_label.codename``) on ``obj`` for users and groups: what guardian's
    ``assign_perm`` does a row and a few queries at a time, in one insert per kind (rows that exist
    already are kept). Every object created through the API gets a dozen of these."""
    users, groups = users or {}, groups or {}
    content_type = ContentType.objects.get_for_model(obj)
    wanted = {perm for perms in (*users.values(), *groups.values()) for perm in perms}
    codenames = {perm.split(".", 1)[-1] for perm in wanted}
    ids = dict(
        Permission.objects.filter(content_type=content_type, codename__in=codenames).values_list("codename", "id")
    )
    if unknown := codenames - ids.keys():
        raise Permission.DoesNotExist(f"No permission {sorted(unknown)} for {content_type.app_label}.")
    object_pk = str(obj.pk)
    UserObjectPermission.objects.bulk_create(
        [UserObjectPermission(user=user, permission_id=ids[perm.split(".", 1)[-1]], content_type=content_type,
                              object_pk=object_pk) for user, perms in users.items() for perm in perms],
        ignore_conflicts=True,
    )  # fmt: skip
    GroupObjectPermission.objects.bulk_create(
        [GroupObjectPermission(group=group, permission_id=ids[perm.split(".", 1)[-1]], content_type=content_type,
                               object_pk=object_pk) for group, perms in groups.items() for perm in perms],
        ignore_conflicts=True,
    )  # fmt: skip
