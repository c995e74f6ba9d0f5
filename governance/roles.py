"""What each workspace role may do to its workspace, as guardian object permissions of its group."""

from __future__ import annotations

from governance.models import Role

WORKSPACE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.OWNER: ("view_workspace", "change_workspace", "manage_members", "manage_policies"),
    Role.ADMIN: ("view_workspace", "change_workspace", "manage_members", "manage_policies"),
    Role.ANALYST: ("view_workspace",),
    Role.VIEWER: ("view_workspace",),
}


def role_group_name(workspace_id: object, role: str) -> str:
    return f"workspace:{workspace_id}:{role}"
