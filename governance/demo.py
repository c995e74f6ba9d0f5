"""The demo's policies that ``make run`` creates on the demo workspace (idempotent); the workspace
and its users are ``workspaces.demo``'s."""

from __future__ import annotations

from collections.abc import Sequence

from datasources.models import DataSource
from governance import services
from governance.models import ColumnMaskPolicy, RowFilterPolicy
from workspaces.models import Role, Workspace

# What the demo shows of governance: analysts and viewers see their own region's customers and
# contacts of the warehouse, with e-mails partly and phone numbers fully masked; owners and admins
# see everything.
DEMO_ROW_FILTERS = (("billing", "customers"), ("crm", "contacts"))
DEMO_MASKS = (("billing", "customers", "email", "partial"), ("billing", "customers", "phone", "redact"),
              ("crm", "contacts", "email", "partial"), ("crm", "contacts", "phone", "redact"))  # fmt: skip


def demo_policies_ensure(*, workspace: Workspace, datasources: Sequence[DataSource]) -> int:
    """Creates the demo's policies on the PostgreSQL warehouse once; returns how many it created."""
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
