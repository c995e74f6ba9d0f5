"""The data source chokepoint reads object permissions in one query; its answers are guardian's."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from guardian.core import ObjectPermissionChecker
from guardian.shortcuts import assign_perm

from datasources.selectors import DataSourceNotFound, access_datasource

pytestmark = pytest.mark.django_db


@pytest.fixture
def source(sqlite_source):
    return sqlite_source


def _perms(user, source) -> set[str]:
    try:
        access_datasource(user=user, datasource_id=source.pk)
    except DataSourceNotFound:
        return set()
    return {
        perm
        for perm in ("view_datasource", "query_datasource", "write_datasource", "administer_datasource")
        if _allowed(user, source, perm)
    }


def _allowed(user, source, perm: str) -> bool:
    try:
        access_datasource(user=user, datasource_id=source.pk, perm=perm)
    except PermissionDenied:
        return False
    return True


def test_every_role_gets_exactly_guardians_permissions(tenancy, source) -> None:
    assign_perm("query_datasource", tenancy.vic, source)  # a personal grant on top of the role's
    for user in (tenancy.alice, tenancy.adam, tenancy.ana, tenancy.vic):
        expected = set(ObjectPermissionChecker(user).get_perms(source)) & {
            "view_datasource", "query_datasource", "write_datasource", "administer_datasource"}  # fmt: skip
        assert expected, user
        assert _perms(user, source) == expected, user.username
    assert "query_datasource" in _perms(tenancy.vic, source)


def test_another_organisation_an_inactive_member_and_garbage_ids_find_nothing(tenancy, source) -> None:
    with pytest.raises(DataSourceNotFound):
        access_datasource(user=tenancy.bob, datasource_id=source.pk)
    for garbage in ("nope", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(DataSourceNotFound):
            access_datasource(user=tenancy.alice, datasource_id=garbage)
    tenancy.ana.is_active = False
    tenancy.ana.save(update_fields=["is_active"])
    with pytest.raises(DataSourceNotFound):
        access_datasource(user=tenancy.ana, datasource_id=source.pk)


def test_a_superuser_member_holds_every_permission_and_a_stranger_superuser_none(tenancy, source) -> None:
    from tests.factories import make_member, make_user
    from workspaces.models import Role

    root = make_member(tenancy.acme, "root", Role.VIEWER).user
    root.is_superuser = True
    root.save(update_fields=["is_superuser"])
    assert _perms(root, source) == {"view_datasource", "query_datasource", "write_datasource", "administer_datasource"}
    outsider = make_user("outsider", staff=True)  # a superuser of no workspace of this source
    assert _perms(outsider, source) == set()
