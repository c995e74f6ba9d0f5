"""What each workspace role may do to its workspace, as guardian object permissions of its group."""

from __future__ import annotations

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
