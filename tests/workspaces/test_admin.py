"""The admin manages organisations, workspaces and memberships, keeping role groups in step."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from tests.factories import make_user
from workspaces.models import Membership, Workspace
from workspaces.roles import role_group_name

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(tenancy):
    superuser = make_user("root-admin", staff=True)
    client = Client()
    client.force_login(superuser)
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/workspaces/organization/",
        "/admin/workspaces/workspace/",
        "/admin/workspaces/membership/",
        "/admin/workspaces/workspace/add/",
        "/admin/workspaces/membership/add/",
    ],
)
def test_admin_pages_render(admin_client, url):
    assert admin_client.get(url).status_code == 200


def test_a_workspace_added_in_the_admin_gets_its_role_groups(admin_client, tenancy):
    response = admin_client.post(
        "/admin/workspaces/workspace/add/",
        {
            "organization": str(tenancy.acme.organization_id),
            "name": "Finance",
            "slug": "finance",
            "safety_level": "standard",
            "query_timeout_seconds": "30",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    workspace = Workspace.objects.get(slug="finance")
    assert Group.objects.filter(name__startswith=f"workspace:{workspace.pk}:").count() == 4


def test_a_role_changed_in_the_admin_moves_the_member_to_the_new_group(admin_client, tenancy):
    membership = Membership.objects.get(user=tenancy.vic)
    response = admin_client.post(
        f"/admin/workspaces/membership/{membership.pk}/change/",
        {"user": tenancy.vic.pk, "workspace": str(tenancy.acme.pk), "role": "analyst", "attributes": "{}"},
    )
    assert response.status_code == 302
    assert set(tenancy.vic.groups.values_list("name", flat=True)) == {role_group_name(tenancy.acme.pk, "analyst")}


def test_people_who_are_not_staff_cannot_use_the_admin(tenancy):
    client = Client()
    client.force_login(tenancy.alice)
    assert client.get("/admin/").status_code == 302
