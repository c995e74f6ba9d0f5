"""Writes for governance: the policies of a workspace."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from sqlglot import exp

from datasources.models import CatalogTable, DataSource
from datasources.selectors import catalog_tables
from governance.classification import known_tag, validate_tag_name
from governance.models import ColumnMaskPolicy, MaskStrategy, RowFilterPolicy, TagMaskPolicy, TagRowFilterPolicy
from governance.selectors import known_tag_names
from governance.tags import TAG_PATTERN, tag_matches
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


# --- tag policies ------------------------------------------------------------------------------

# The dialects a tag policy must render in: it acts on every source, whatever its engine.
TAG_POLICY_DIALECTS = ("postgres", "mysql", "sqlite", "duckdb")


def _known_tag(workspace: Workspace, name: Any, field: str) -> str:
    name = validate_tag_name(name.strip().lower() if isinstance(name, str) else name, field=field)
    if not known_tag(workspace_id=workspace.pk, name=name):
        raise ValidationError({field: f"There is no tag {name!r} in this workspace (built-in or defined)."})
    return name


def _table_tags(workspace: Workspace, patterns: Any) -> list[str]:
    if not isinstance(patterns, list | tuple) or not all(isinstance(p, str) for p in patterns):
        raise ValidationError({"table_tags": "A list of tags, such as pii.* or pii.email."})
    cleaned = []
    known = known_tag_names(workspace=workspace)
    for pattern in patterns:
        pattern = pattern.strip().lower()
        if not TAG_PATTERN.match(pattern) or not any(tag_matches(pattern, tag) for tag in known):
            raise ValidationError({"table_tags": f"{pattern!r} matches no tag of this workspace."})
        cleaned.append(pattern)
    return list(dict.fromkeys(cleaned))


def tag_predicate_validate(predicate: Any) -> str:
    """A tag row filter that parses, names only ``{{ column }}`` and renders in every dialect."""
    from governance.policies import PolicyError, parse_tag_predicate, render_predicate

    if not isinstance(predicate, str) or not predicate.strip():
        raise ValidationError({"predicate": "A tag row filter is a condition: {{ column }} = {{ user.region }}."})
    try:
        _tree, names = parse_tag_predicate(predicate)
        for dialect in TAG_POLICY_DIALECTS:
            render_predicate(predicate, dict.fromkeys(names, "x"), dialect, column="c").sql(dialect=dialect)
    except PolicyError as exc:
        raise ValidationError({"predicate": str(exc)}) from exc
    except Exception as exc:  # sqlglot cannot write it for one of the engines
        raise ValidationError({"predicate": f"The condition cannot be written for every engine: {exc}"}) from exc
    return predicate.strip()


def tag_policy_fields(
    *, workspace: Workspace, tag: Any, table_tags: Any, roles: Any, exempt_roles: Any
) -> dict[str, Any]:
    """The checked common fields of a tag policy (admin forms and services share this)."""
    return {
        "tag": _known_tag(workspace, tag, "tag"),
        "table_tags": _table_tags(workspace, table_tags or []),
        "roles": _policy_roles(roles, "roles"),
        "exempt_roles": _policy_roles(exempt_roles, "exempt_roles"),
    }


@transaction.atomic
def tag_mask_policy_create(
    *,
    workspace: Workspace,
    tag: str,
    strategy: str,
    roles: list[str] | None = None,
    exempt_roles: list[str] | None = None,
    table_tags: list[str] | None = None,
    name: str = "",
    enabled: bool = True,
) -> TagMaskPolicy:
    """Masks (or hides) every column tagged ``tag``, on every source of the workspace, for
    ``roles`` (empty: every member) but ``exempt_roles`` (default: owner and admin)."""
    if strategy not in MaskStrategy.values:
        raise ValidationError({"strategy": f"Unknown strategy {strategy!r}; one of {', '.join(MaskStrategy.values)}."})
    exempt = [Role.OWNER.value, Role.ADMIN.value] if exempt_roles is None else exempt_roles
    fields = tag_policy_fields(
        workspace=workspace, tag=tag, table_tags=table_tags, roles=roles or [], exempt_roles=exempt
    )
    duplicate = TagMaskPolicy.objects.filter(
        workspace=workspace, tag=fields["tag"], enabled=True, roles=fields["roles"], table_tags=fields["table_tags"]
    ).first()
    if duplicate is not None and enabled:
        raise ValidationError(
            {"tag": f"The policy {duplicate.name!r} already masks {fields['tag']} for this audience."}
        )
    policy = TagMaskPolicy(
        workspace=workspace,
        name=(name or f"Mask {fields['tag']} ({strategy})")[:120],
        strategy=strategy,
        enabled=enabled,
        **fields,
    )
    policy.full_clean()
    policy.save()
    return policy


@transaction.atomic
def tag_row_filter_policy_create(
    *,
    workspace: Workspace,
    tag: str,
    predicate: str,
    roles: list[str] | None = None,
    exempt_roles: list[str] | None = None,
    table_tags: list[str] | None = None,
    name: str = "",
    enabled: bool = True,
) -> TagRowFilterPolicy:
    """Rows ``roles`` (default analysts and viewers) see of every table with a column tagged
    ``tag``: ``predicate`` on that column, ``{{ column }} = {{ user.region }}``."""
    predicate = tag_predicate_validate(predicate)
    fields = tag_policy_fields(
        workspace=workspace,
        tag=tag,
        table_tags=table_tags,
        roles=list(DEFAULT_POLICY_ROLES) if roles is None else roles,
        exempt_roles=exempt_roles or [],
    )
    duplicate = TagRowFilterPolicy.objects.filter(
        workspace=workspace, tag=fields["tag"], predicate=predicate, enabled=True
    ).first()
    if duplicate is not None and enabled:
        raise ValidationError({"predicate": f"The policy {duplicate.name!r} already filters {fields['tag']} this way."})
    policy = TagRowFilterPolicy(
        workspace=workspace,
        name=(name or f"Rows by {fields['tag']}: {predicate}")[:120],
        predicate=predicate,
        enabled=enabled,
        **fields,
    )
    policy.full_clean()
    policy.save()
    return policy
