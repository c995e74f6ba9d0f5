"""The demo organisation, workspace and users that ``make run`` creates (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from workspaces import services
from workspaces.models import Organization, Role, Workspace

DEMO_ORG_SLUG = "acme"
DEMO_WORKSPACE_SLUG = "analytics"


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    attributes: dict[str, Any]
    staff: bool = False


DEMO_USERS = (
    DemoUser("admin", Role.OWNER, {"region": "GLOBAL", "department": "it"}, staff=True),
    DemoUser("analyst", Role.ANALYST, {"region": "EMEA", "department": "sales"}),
    DemoUser("viewer", Role.VIEWER, {"region": "NA", "department": "support"}),
)


@transaction.atomic
def demo_workspace_ensure(*, passwords: dict[str, str]) -> Workspace:
    organization = Organization.objects.filter(slug=DEMO_ORG_SLUG).first() or services.organization_create(
        name="Acme Corporation", slug=DEMO_ORG_SLUG
    )
    workspace = Workspace.objects.filter(organization=organization, slug=DEMO_WORKSPACE_SLUG).first()
    if workspace is None:
        workspace = services.workspace_create(organization=organization, name="Analytics", slug=DEMO_WORKSPACE_SLUG)
    user_model = get_user_model()
    for demo in DEMO_USERS:
        user, _ = user_model.objects.get_or_create(
            username=demo.username, defaults={"email": f"{demo.username}@acme.example"}
        )
        user.set_password(passwords[demo.username])
        user.is_staff = demo.staff
        user.is_superuser = demo.staff
        user.save()
        services.membership_set(workspace=workspace, user=user, role=demo.role, attributes=demo.attributes)
    return workspace
