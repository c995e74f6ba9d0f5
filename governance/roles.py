"""What each workspace role may do to its workspace, as guardian object permissions of its group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib.auth.models import Group
from guardian.shortcuts import assign_perm

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
    for role, perms in perms_by_role.items():
        group = by_name.get(role_group_name(workspace_id, role))
        if group is not None:
            for perm in perms:
                assign_perm(perm, group, obj)
