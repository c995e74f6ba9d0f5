"""What each workspace role may do to its workspace, as guardian object permissions of its group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib.auth.models import Permission
from django.db import connection

from workspaces.models import Role

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


def grant(
    *,
    obj: Any,
    users: Mapping[Any, Sequence[str]] | None = None,
    workspace_id: object = None,
    perms_by_role: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Object permissions on ``obj`` for users and for the role groups of a workspace, in one
    statement: what guardian's ``assign_perm`` does a row and a few queries at a time. Every
    prompt and execution the API creates gets a dozen of these, on the request's critical path."""
    user_rows = [(user.pk, perm) for user, perms in (users or {}).items() for perm in perms]
    group_rows = [
        (role_group_name(workspace_id, role), perm) for role, perms in (perms_by_role or {}).items() for perm in perms
    ]
    if not user_rows and not group_rows:
        return
    opts = obj._meta
    codename = lambda perm: perm.split(".", 1)[-1]  # noqa: E731
    params = {
        "app_label": opts.app_label,
        "model": opts.model_name,
        "object_pk": str(obj.pk),
        "user_ids": [int(user_id) for user_id, _ in user_rows],
        "user_perms": [codename(perm) for _, perm in user_rows],
        "group_names": [name for name, _ in group_rows],
        "group_perms": [codename(perm) for _, perm in group_rows],
        "all_perms": [codename(perm) for _, perm in (*user_rows, *group_rows)],
    }
    with connection.cursor() as cursor:
        cursor.execute(_GRANT_SQL, params)
        unknown = cursor.fetchone()[0]
    if unknown:
        raise Permission.DoesNotExist(f"No permission {sorted(unknown)} for {opts.app_label}.")


# Permission ids are looked up in the statement rather than cached: a test run's flush re-creates
# them with new ids, and a worker process would keep the stale ones. A role group that does not
# exist is skipped (as a workspace without that group has no one to grant); an unknown permission
# is an error.
_GRANT_SQL = """
WITH perms AS (
    SELECT p.id, p.codename, p.content_type_id
    FROM auth_permission p JOIN django_content_type ct ON ct.id = p.content_type_id
    WHERE ct.app_label = %(app_label)s AND ct.model = %(model)s
), to_users AS (
    INSERT INTO guardian_userobjectpermission (permission_id, content_type_id, object_pk, user_id)
    SELECT perms.id, perms.content_type_id, %(object_pk)s, wanted.user_id
    FROM unnest(%(user_ids)s::int[], %(user_perms)s::text[]) AS wanted(user_id, codename)
    JOIN perms ON perms.codename = wanted.codename
    ON CONFLICT DO NOTHING
    RETURNING 1
), to_groups AS (
    INSERT INTO guardian_groupobjectpermission (permission_id, content_type_id, object_pk, group_id)
    SELECT perms.id, perms.content_type_id, %(object_pk)s, g.id
    FROM unnest(%(group_names)s::text[], %(group_perms)s::text[]) AS wanted(group_name, codename)
    JOIN perms ON perms.codename = wanted.codename
    JOIN auth_group g ON g.name = wanted.group_name
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT ARRAY(SELECT DISTINCT c FROM unnest(%(all_perms)s::text[]) AS c WHERE c NOT IN (SELECT codename FROM perms)),
       (SELECT count(*) FROM to_users), (SELECT count(*) FROM to_groups)
"""
