"""Writes for governance: the policies of a workspace."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from sqlglot import exp

from datasources.models import CatalogTable, DataSource
from datasources.selectors import catalog_tables
from governance.models import ColumnMaskPolicy, MaskStrategy, RowFilterPolicy
from workspaces.models import Role, Workspace

# Whom a new policy applies to when the caller does not say: owners and admins keep seeing everything.
DEFAULT_POLICY_ROLES = (Role.ANALYST.value, Role.VIEWER.value)


def _policy_roles(roles: Any, field: str) -> list[str]:
    if not isinstance(roles, list | tuple) or not all(isinstance(role, str) for role in roles):
        raise ValidationError({field: "Roles are a list of role names."})
    unknown = sorted(set(roles) - set(Role.values))
    if unknown:
        raise ValidationError({field: f"Unknown role(s) {', '.join(unknown)}; one of {', '.join(Role.values)}."})
    return sorted(set(roles), key=Role.values.index)


def _policy_table(*, workspace: Workspace, datasource: DataSource, schema_name: str, table_name: str) -> CatalogTable:
    """The catalog table a policy is about: of a source of this workspace, and present."""
    if datasource.workspace_id != workspace.pk:
        raise ValidationError({"datasource": "The data source belongs to another workspace."})
    table = catalog_tables(datasource=datasource).filter(schema_name=schema_name, name=table_name).first()
    if table is None:
        shown = f"{schema_name}.{table_name}" if schema_name else table_name
        raise ValidationError({"table_name": f"The catalog of {datasource.name} has no table {shown}."})
    return table


def _present_columns(table: CatalogTable) -> set[str]:
    return set(table.columns.filter(is_present=True).values_list("name", flat=True))


@transaction.atomic
def row_filter_policy_create(
    *,
    workspace: Workspace,
    datasource: DataSource,
    schema_name: str,
    table_name: str,
    predicate: str,
    roles: list[str] | None = None,
    exempt_roles: list[str] | None = None,
    name: str = "",
    enabled: bool = True,
) -> RowFilterPolicy:
    """Adds a row filter: ``predicate`` (``region = {{ user.region }}``) must parse in the source's
    dialect and name only columns of the table. ``roles`` is the audience (empty: every member).
    Raises ValidationError, like the admin form."""
    # Imported here: policies pulls in the SQL firewall, which most users of this module never need.
    from governance.policies import PolicyError, dialect_of, parse_predicate

    table = _policy_table(workspace=workspace, datasource=datasource, schema_name=schema_name, table_name=table_name)
    try:
        tree, _attributes = parse_predicate(predicate, dialect_of(datasource))
    except PolicyError as exc:
        raise ValidationError({"predicate": str(exc)}) from exc
    known = {column.lower() for column in _present_columns(table)}
    named = {column.name for column in tree.find_all(exp.Column) if not column.name.startswith("__psa_attribute_")}
    unknown = sorted(column for column in named if column.lower() not in known)
    if unknown:
        raise ValidationError({"predicate": f"{table} has no column {', '.join(unknown)}."})
    duplicate = RowFilterPolicy.objects.filter(
        datasource=datasource, schema_name=schema_name, table_name=table_name, predicate=predicate, enabled=True
    ).first()
    if duplicate is not None:
        raise ValidationError({"predicate": f"The policy {duplicate.name!r} already filters {table} this way."})
    policy = RowFilterPolicy(
        workspace=workspace,
        datasource=datasource,
        name=(name or f"Row filter on {table}: {predicate}")[:120],
        schema_name=schema_name,
        table_name=table_name,
        predicate=predicate,
        roles=_policy_roles(list(DEFAULT_POLICY_ROLES) if roles is None else roles, "roles"),
        exempt_roles=_policy_roles(exempt_roles or [], "exempt_roles"),
        enabled=enabled,
    )
    policy.full_clean()
    policy.save()
    return policy


@transaction.atomic
def column_mask_policy_create(
    *,
    workspace: Workspace,
    datasource: DataSource,
    schema_name: str,
    table_name: str,
    column_name: str,
    strategy: str,
    exempt_roles: list[str] | None = None,
    name: str = "",
    enabled: bool = True,
) -> ColumnMaskPolicy:
    """Masks (or hides) a column of a catalog table for every role but ``exempt_roles`` (default:
    owner and admin). One enabled mask per column. Raises ValidationError, like the admin form."""
    table = _policy_table(workspace=workspace, datasource=datasource, schema_name=schema_name, table_name=table_name)
    if strategy not in MaskStrategy.values:
        raise ValidationError({"strategy": f"Unknown strategy {strategy!r}; one of {', '.join(MaskStrategy.values)}."})
    if column_name not in _present_columns(table):
        raise ValidationError({"column_name": f"{table} has no column {column_name}."})
    existing = ColumnMaskPolicy.objects.filter(
        datasource=datasource, schema_name=schema_name, table_name=table_name, column_name=column_name, enabled=True
    ).first()
    if existing is not None:
        raise ValidationError({"column_name": f"The policy {existing.name!r} already masks {table}.{column_name}."})
    exempt = [Role.OWNER.value, Role.ADMIN.value] if exempt_roles is None else exempt_roles
    policy = ColumnMaskPolicy(
        workspace=workspace,
        datasource=datasource,
        name=(name or f"Mask {column_name} in {table} ({strategy})")[:120],
        schema_name=schema_name,
        table_name=table_name,
        column_name=column_name,
        strategy=strategy,
        exempt_roles=_policy_roles(exempt, "exempt_roles"),
        enabled=enabled,
    )
    policy.full_clean()
    policy.save()
    return policy
