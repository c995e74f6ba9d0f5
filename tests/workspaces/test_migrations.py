"""Tenancy moved from governance to workspaces (workspaces.0001, governance.0006) on a database that
already has workspaces, members and grants: migrated back to governance's tables and content types
and forward again on the test database, inside the test's transaction (PostgreSQL rolls DDL back).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from guardian.models import GroupObjectPermission, UserObjectPermission

from workspaces.models import Membership, Organization, Workspace
from workspaces.roles import role_group_name

pytestmark = pytest.mark.django_db

MODELS = ("organization", "workspace", "membership")


@pytest.fixture(autouse=True)
def _forget_content_types() -> Iterator[None]:
    """The content type cache forgets the rows it saw in the migrated (and rolled back) database."""
    ContentType.objects.clear_cache()
    yield
    ContentType.objects.clear_cache()


def _back() -> MigrationExecutor:
    """To before workspaces.0001, and everything that depends on it."""
    # The rows the test made leave deferred foreign-key checks pending, and PostgreSQL alters no
    # table with pending trigger events (workspaces.0002 drops a column on the way back): run them now.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    executor = MigrationExecutor(connection)
    executor.migrate([("workspaces", None)])
    ContentType.objects.clear_cache()
    return executor


def _forward() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()


def _tables() -> set[str]:
    names = connection.introspection.table_names()
    return {name for name in names if name.startswith(("governance_", "workspaces_"))}


def _content_types() -> list[tuple[str, str]]:
    return sorted(ContentType.objects.filter(model__in=MODELS).values_list("app_label", "model"))


def test_back_to_governance_and_forward_keeps_rows_content_types_and_every_grant(tenancy):
    ids = {model: ContentType.objects.get_for_model(model).pk for model in (Organization, Workspace, Membership)}
    executor = _back()
    old_workspace = executor.loader.project_state([("governance", "0005_audit_append_function")]).apps.get_model(
        "governance", "Workspace"
    )
    assert old_workspace.objects.filter(pk=tenancy.acme.pk).exists()
    assert {"governance_workspace", "governance_membership", "governance_organization"} <= _tables()
    assert not {"workspaces_workspace", "workspaces_membership", "workspaces_organization"} & _tables()
    assert _content_types() == [("governance", model) for model in sorted(MODELS)]

    _forward()

    assert {"workspaces_workspace", "workspaces_membership", "workspaces_organization"} <= _tables()
    assert not {"governance_workspace", "governance_membership", "governance_organization"} & _tables()
    assert _content_types() == [("workspaces", model) for model in sorted(MODELS)]
    assert {model: ContentType.objects.get_for_model(model).pk for model in ids} == ids
    alice, ana = User.objects.get(pk=tenancy.alice.pk), User.objects.get(pk=tenancy.ana.pk)
    assert alice.has_perm("workspaces.manage_policies", tenancy.acme)
    assert ana.has_perm("workspaces.view_workspace", tenancy.acme)
    assert not ana.has_perm("workspaces.manage_policies", tenancy.acme)
    assert Membership.objects.get(user=ana, workspace=tenancy.acme).attributes == {"region": "EMEA"}


def test_a_content_type_already_made_under_the_new_label_is_merged_into_the_moved_one(tenancy):
    """As if a post_migrate of the new code had run before workspaces.0001: its content type and
    permissions for the workspace, and grants on them, go to the moved content type, none doubled."""
    _back()
    moved = ContentType.objects.get(app_label="governance", model="workspace")
    early = ContentType.objects.create(app_label="workspaces", model="workspace")
    same = Permission.objects.create(content_type=early, codename="manage_policies", name="Manage policies")
    only_early = Permission.objects.create(content_type=early, codename="audit_export", name="Export the audit")
    owners = tenancy.alice.groups.get(name=role_group_name(tenancy.acme.pk, "owner"))
    # bulk_create: guardian's save() would load the workspace through the model of the new code.
    GroupObjectPermission.objects.bulk_create(
        [GroupObjectPermission(group=owners, permission=same, content_type=early, object_pk=str(tenancy.acme.pk))]
    )
    UserObjectPermission.objects.bulk_create(
        [UserObjectPermission(user=tenancy.ana, permission=same, content_type=early, object_pk=str(tenancy.acme.pk))]
    )
    tenancy.vic.user_permissions.add(only_early)

    _forward()

    assert _content_types() == [("workspaces", model) for model in sorted(MODELS)]
    assert ContentType.objects.get(app_label="workspaces", model="workspace").pk == moved.pk
    assert not ContentType.objects.filter(pk=early.pk).exists()
    assert Permission.objects.get(pk=only_early.pk).content_type_id == moved.pk
    assert Permission.objects.filter(content_type=moved, codename="manage_policies").count() == 1
    alice, ana, vic = (User.objects.get(pk=user.pk) for user in (tenancy.alice, tenancy.ana, tenancy.vic))
    assert alice.has_perm("workspaces.manage_policies", tenancy.acme)
    assert ana.has_perm("workspaces.manage_policies", tenancy.acme)  # her grant on the early type moved
    assert vic.has_perm("workspaces.audit_export")
    owner_grants = GroupObjectPermission.objects.filter(
        group=owners, permission__codename="manage_policies", object_pk=str(tenancy.acme.pk)
    )
    assert owner_grants.count() == 1
