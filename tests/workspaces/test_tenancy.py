"""Tenancy: workspaces, roles as groups, guardian permissions, and the permission matrix of the API."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError

from tests.factories import make_user
from workspaces import selectors, services
from workspaces.models import Membership, Role
from workspaces.roles import role_group_name

pytestmark = pytest.mark.django_db


def test_workspace_creation_makes_one_group_per_role(tenancy):
    names = set(Group.objects.filter(name__startswith=f"workspace:{tenancy.acme.pk}:").values_list("name", flat=True))
    assert names == {role_group_name(tenancy.acme.pk, role) for role in Role.values}


def test_a_member_is_in_exactly_their_role_group_and_it_follows_role_changes(tenancy):
    groups = set(tenancy.ana.groups.values_list("name", flat=True))
    assert groups == {role_group_name(tenancy.acme.pk, Role.ANALYST)}

    services.membership_set(workspace=tenancy.acme, user=tenancy.ana, role=Role.ADMIN)

    groups = set(tenancy.ana.groups.values_list("name", flat=True))
    assert groups == {role_group_name(tenancy.acme.pk, Role.ADMIN)}


@pytest.mark.parametrize(
    ("persona", "perm", "allowed"),
    [
        ("alice", "manage_policies", True),
        ("adam", "manage_policies", True),
        ("ana", "manage_policies", False),
        ("vic", "manage_policies", False),
        ("bob", "manage_policies", False),
        ("ana", "view_workspace", True),
        ("vic", "view_workspace", True),
        ("bob", "view_workspace", False),
        ("adam", "manage_members", True),
        ("ana", "manage_members", False),
    ],
)
def test_roles_grant_object_permissions_through_guardian(tenancy, persona, perm, allowed):
    user = getattr(tenancy, persona)
    assert user.has_perm(f"workspaces.{perm}", tenancy.acme) is allowed


def test_bob_should_have_no_access_to_acme(tenancy):
    with pytest.raises(selectors.WorkspaceNotFound):
        selectors.access_workspace(user=tenancy.bob, workspace_id=tenancy.acme.pk)
    assert list(selectors.workspaces_for_user(user=tenancy.bob)) == [tenancy.globex]


def test_a_member_without_the_permission_is_refused_not_hidden(tenancy):
    with pytest.raises(PermissionDenied):
        selectors.access_workspace(user=tenancy.vic, workspace_id=tenancy.acme.pk, perm="manage_members")


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "", None, "00000000-0000-0000-0000-000000000000"])
def test_unknown_workspace_ids_are_not_found(tenancy, bad_id):
    with pytest.raises(selectors.WorkspaceNotFound):
        selectors.access_workspace(user=tenancy.alice, workspace_id=bad_id)


def test_the_last_owner_cannot_be_demoted_or_removed(tenancy):
    owner = Membership.objects.get(user=tenancy.alice, workspace=tenancy.acme)
    with pytest.raises(PermissionDenied):
        services.membership_update(membership=owner, role=Role.VIEWER)
    with pytest.raises(PermissionDenied):
        services.membership_remove(membership=owner)


@pytest.mark.parametrize(
    "attributes",
    [{"Region": "x"}, {"region": {"nested": 1}}, {"region": None}, ["region"], {"1st": "x"}],
)
def test_member_attributes_must_be_plain_names_and_values(tenancy, attributes):
    with pytest.raises(ValidationError):
        services.membership_set(workspace=tenancy.acme, user=tenancy.vic, role=Role.VIEWER, attributes=attributes)


def test_member_attributes_accept_scalars_and_lists(tenancy):
    membership = services.membership_set(
        workspace=tenancy.acme,
        user=tenancy.vic,
        role=Role.VIEWER,
        attributes={"region": ["NA", "EMEA"], "level": 3, "contractor": False},
    )
    membership.refresh_from_db()
    assert membership.attributes == {"region": ["NA", "EMEA"], "level": 3, "contractor": False}


# --- the permission matrix over every endpoint ---------------------------------------------------

PERSONAS = ["anonymous", "bob", "vic", "ana", "adam", "alice"]


def _user(tenancy, persona):
    return None if persona == "anonymous" else getattr(tenancy, persona)


MATRIX = {
    # endpoint: expected status for anonymous, other organisation, viewer, analyst, admin, owner
    "me": [401, 200, 200, 200, 200, 200],
    "workspace_list": [401, 200, 200, 200, 200, 200],
    "workspace_detail": [401, 404, 200, 200, 200, 200],
    "member_list": [401, 404, 403, 403, 200, 200],
    "member_add": [401, 404, 403, 403, 201, 201],
    "member_update": [401, 404, 403, 403, 200, 200],
    "member_remove": [401, 404, 403, 403, 204, 204],
}


def _call(api, tenancy, endpoint):
    ws = f"/api/v1/workspaces/{tenancy.acme.pk}"
    vic = Membership.objects.get(user=tenancy.vic, workspace=tenancy.acme)
    if endpoint == "me":
        return api.get("/api/v1/me")
    if endpoint == "workspace_list":
        return api.get("/api/v1/workspaces/")
    if endpoint == "workspace_detail":
        return api.get(f"{ws}/")
    if endpoint == "member_list":
        return api.get(f"{ws}/members/")
    if endpoint == "member_add":
        make_user("newcomer")
        return api.post(f"{ws}/members/", {"username": "newcomer", "role": "viewer"}, format="json")
    if endpoint == "member_update":
        return api.patch(f"{ws}/members/{vic.pk}/", {"attributes": {"region": "APAC"}}, format="json")
    if endpoint == "member_remove":
        return api.delete(f"{ws}/members/{vic.pk}/")
    raise AssertionError(endpoint)


@pytest.mark.parametrize("endpoint", list(MATRIX))
@pytest.mark.parametrize("persona", PERSONAS)
def test_permission_matrix(tenancy, client_for, endpoint, persona):
    expected = MATRIX[endpoint][PERSONAS.index(persona)]
    response = _call(client_for(_user(tenancy, persona)), tenancy, endpoint)
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert set(response.json()["error"]) == {"code", "message", "details"}


def test_workspace_list_shows_only_my_workspaces_with_my_role(tenancy, client_for):
    body = client_for(tenancy.ana).get("/api/v1/workspaces/").json()
    assert [(item["workspace"]["id"], item["role"], item["attributes"]) for item in body] == [
        (str(tenancy.acme.pk), "analyst", {"region": "EMEA"})
    ]


def test_only_an_owner_can_make_an_owner(tenancy, client_for):
    make_user("carol")
    ws = f"/api/v1/workspaces/{tenancy.acme.pk}/members/"
    refused = client_for(tenancy.adam).post(ws, {"username": "carol", "role": "owner"}, format="json")
    assert refused.status_code == 403
    accepted = client_for(tenancy.alice).post(ws, {"username": "carol", "role": "owner"}, format="json")
    assert accepted.status_code == 201
    assert accepted.json()["role"] == "owner"


def test_adding_an_existing_member_or_unknown_user_is_a_validation_error(tenancy, client_for):
    ws = f"/api/v1/workspaces/{tenancy.acme.pk}/members/"
    api = client_for(tenancy.alice)
    for username in ("vic", "nobody-by-this-name"):
        response = api.post(ws, {"username": username, "role": "viewer"}, format="json")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "validation_error"
        assert "username" in response.json()["error"]["details"]


def test_a_member_id_of_another_workspace_is_not_found(tenancy, client_for):
    bobs = Membership.objects.get(user=tenancy.bob)
    response = client_for(tenancy.alice).delete(f"/api/v1/workspaces/{tenancy.acme.pk}/members/{bobs.pk}/")
    assert response.status_code == 404
    assert Membership.objects.filter(pk=bobs.pk).exists()


def test_one_statement_grants_users_and_role_groups_and_keeps_existing_rows(tenancy, django_assert_num_queries):
    from django.contrib.auth.models import Permission
    from guardian.models import GroupObjectPermission, UserObjectPermission

    from workspaces.roles import grant

    by_role = {Role.ANALYST: ("workspaces.manage_policies",), "no-such-role": ("workspaces.view_workspace",)}
    with django_assert_num_queries(1):
        grant(obj=tenancy.acme, users={tenancy.vic: ("workspaces.manage_members",)}, workspace_id=tenancy.acme.pk,
              perms_by_role=by_role)  # fmt: skip
    grant(obj=tenancy.acme, users={tenancy.vic: ("workspaces.manage_members",)})  # again: nothing doubles

    assert tenancy.vic.has_perm("workspaces.manage_members", tenancy.acme)
    assert make_user("ana").has_perm("workspaces.manage_policies", tenancy.acme)  # a fresh read of ana's perms
    assert not make_user("vic").has_perm("workspaces.manage_policies", tenancy.acme)
    assert UserObjectPermission.objects.filter(user=tenancy.vic, object_pk=str(tenancy.acme.pk)).count() == 1
    no_such_group = role_group_name(tenancy.acme.pk, "no-such-role")
    assert not GroupObjectPermission.objects.filter(group__name=no_such_group).exists()

    with pytest.raises(Permission.DoesNotExist, match="no_such_perm"):
        grant(obj=tenancy.acme, users={tenancy.vic: ("workspaces.no_such_perm",)})


def test_membership_in_reads_what_the_orm_reads(tenancy):
    """membership_in builds its four objects from one hand-written row; every field must come out
    as the ORM's select_related gives it (attributes as a dict, ids as UUIDs, aware datetimes)."""
    mine = selectors.membership_in(user=tenancy.ana, workspace_id=str(tenancy.acme.pk))
    orm = Membership.objects.select_related("user", "workspace__organization").get(
        user=tenancy.ana, workspace=tenancy.acme
    )
    for got, expected in (
        (mine, orm),
        (mine.user, orm.user),
        (mine.workspace, orm.workspace),
        (mine.workspace.organization, orm.workspace.organization),
    ):
        for field in type(expected)._meta.concrete_fields:
            assert getattr(got, field.attname) == getattr(expected, field.attname), field.name
    assert mine.attributes == {"region": "EMEA"}
    assert not mine._state.adding and mine._state.db == "default"
    with pytest.raises(selectors.WorkspaceNotFound):
        selectors.membership_in(user=tenancy.bob, workspace_id=tenancy.acme.pk)
