"""The demo organisation, workspace and users that ``make run`` creates (idempotent)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from datasources.models import DataSource
from governance import services
from governance.models import Organization, Role, Workspace

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


# What the demo shows of governance: analysts and viewers see their own region's customers and
# contacts of the warehouse, with e-mails partly and phone numbers fully masked; owners and admins
# see everything.
DEMO_ROW_FILTERS = (("billing", "customers"), ("crm", "contacts"))
DEMO_MASKS = (("billing", "customers", "email", "partial"), ("billing", "customers", "phone", "redact"),
              ("crm", "contacts", "email", "partial"), ("crm", "contacts", "phone", "redact"))  # fmt: skip


def demo_policies_ensure(*, workspace: Workspace, datasources: Sequence[DataSource]) -> int:
    """Creates the demo's policies on the PostgreSQL warehouse once; returns how many it created."""
    from governance.models import ColumnMaskPolicy, RowFilterPolicy

    created = 0
    for datasource in datasources:
        if datasource.kind != "postgresql" or datasource.status != "ready":
            continue
        for schema, table in DEMO_ROW_FILTERS:
            name = f"Own region only ({schema}.{table})"
            if not RowFilterPolicy.objects.filter(datasource=datasource, name=name).exists():
                services.row_filter_policy_create(
                    workspace=workspace, datasource=datasource, schema_name=schema, table_name=table,
                    predicate="region = {{ user.region }}", roles=[Role.ANALYST, Role.VIEWER], name=name,
                )  # fmt: skip
                created += 1
        for schema, table, column, strategy in DEMO_MASKS:
            if not ColumnMaskPolicy.objects.filter(datasource=datasource, schema_name=schema, table_name=table,
                                                   column_name=column).exists():  # fmt: skip
                services.column_mask_policy_create(
                    workspace=workspace, datasource=datasource, schema_name=schema, table_name=table,
                    column_name=column, strategy=strategy, exempt_roles=[Role.OWNER, Role.ADMIN],
                    name=f"Mask {schema}.{table}.{column}",
                )  # fmt: skip
                created += 1
    return created
