"""Tenancy: organisations, their workspaces, and who is a member of which workspace in what role."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.postgres.fields import ArrayField
from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    ANALYST = "analyst", "Analyst"
    VIEWER = "viewer", "Viewer"


class SafetyLevel(models.TextChoices):
    STRICT = "strict", "Strict (read only)"
    STANDARD = "standard", "Standard (writes and DDL need approval)"
    PERMISSIVE = "permissive", "Permissive (writes without approval, DDL with approval)"


def default_safety_level() -> str:
    return str(settings.SAFETY_LEVEL)


class Organization(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Workspace(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="workspaces")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80)
    safety_level = models.CharField(max_length=16, choices=SafetyLevel.choices, default=default_safety_level)
    query_timeout_seconds = models.PositiveIntegerField(
        default=30, help_text="statement_timeout of every query run in this workspace"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "slug"], name="workspace_slug_unique_in_org"),
        ]
        permissions = [
            ("manage_members", "Can add, change and remove workspace members"),
            ("manage_policies", "Can manage the governance policies of the workspace"),
            ("manage_datasources", "Can add data sources to the workspace"),
        ]

    def __str__(self) -> str:
        return f"{self.organization.name} / {self.name}"


class Membership(models.Model):
    """A user's role in one workspace, plus free-form attributes used by row filters."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    # For example {"region": "EMEA", "department": "finance"}; rendered into row filters as literals.
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["workspace", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace"], name="membership_unique_per_workspace"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"


class MaskStrategy(models.TextChoices):
    REDACT = "redact", "Redact (***)"
    HASH = "hash", "Hash"
    PARTIAL = "partial", "Partial (j***@example.com, ***1234)"
    NULL = "null", "Null"
    HIDE = "hide", "Hide the column"


class _TablePolicy(models.Model):
    """A policy on one table of one data source, for some roles, groups or users of its workspace."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    datasource = models.ForeignKey("datasources.DataSource", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=120)
    schema_name = models.CharField(max_length=255, blank=True)
    table_name = models.CharField(max_length=255)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name

    @property
    def qualified_table(self) -> str:
        return f"{self.schema_name}.{self.table_name}" if self.schema_name else self.table_name


class RowFilterPolicy(_TablePolicy):
    """Rows of a table this audience may see: a predicate over the table's columns, templated with
    the actor's attributes (``region = {{ user.region }}``), rendered as literals by sqlglot."""

    predicate = models.TextField(help_text="SQL condition; {{ user.<attribute> }} is the member's attribute.")
    # An empty audience means every member; otherwise the policy applies to the roles, groups and users listed.
    roles = ArrayField(models.CharField(max_length=16, choices=Role.choices), default=list, blank=True)
    groups = models.ManyToManyField(Group, blank=True, related_name="+")
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    exempt_roles = ArrayField(models.CharField(max_length=16, choices=Role.choices), default=list, blank=True)

    class Meta:
        verbose_name = "row filter policy"
        verbose_name_plural = "row filter policies"


class ColumnMaskPolicy(_TablePolicy):
    column_name = models.CharField(max_length=255)
    strategy = models.CharField(max_length=8, choices=MaskStrategy.choices, default=MaskStrategy.REDACT)
    exempt_roles = ArrayField(models.CharField(max_length=16, choices=Role.choices), default=list, blank=True)

    class Meta:
        verbose_name = "column mask policy"
        verbose_name_plural = "column mask policies"


class TableVisibilityPolicy(_TablePolicy):
    """Hides a whole table from some roles: it is absent from their catalog and their SQL."""

    hidden_for_roles = ArrayField(models.CharField(max_length=16, choices=Role.choices), default=list)

    class Meta:
        verbose_name = "table visibility policy"
        verbose_name_plural = "table visibility policies"


class ApprovalAction(models.TextChoices):
    WRITE = "write", "Data writes (INSERT, UPDATE, DELETE)"
    DDL = "ddl", "Schema changes (DDL)"
    POLICY = "policy", "Policy changes"
    DATASOURCE = "datasource", "Data source changes"


class ApprovalRule(models.Model):
    """Which actions need whose approval in a workspace, on top of what the safety level asks."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="approval_rules")
    action = models.CharField(max_length=16, choices=ApprovalAction.choices)
    approver_roles = ArrayField(models.CharField(max_length=16, choices=Role.choices), default=list)
    required_approvals = models.PositiveSmallIntegerField(default=1)
    enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "action"], name="approval_rule_unique")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} in {self.workspace}"


class AuditEvent(models.Model):
    """One gateway decision. Append-only (a database trigger refuses UPDATE and DELETE) and
    hash-chained per workspace: each row carries the hash of the previous one."""

    workspace = models.ForeignKey(Workspace, null=True, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_username = models.CharField(max_length=150, blank=True)
    tool = models.CharField(max_length=64)
    arguments_hash = models.CharField(max_length=64)
    decision = models.CharField(max_length=16)  # allowed | denied | needs_approval
    code = models.CharField(max_length=64)
    reason = models.TextField(blank=True)
    policies_applied = models.JSONField(default=list, blank=True)
    sql_before = models.TextField(blank=True)
    sql_after = models.TextField(blank=True)
    rows_returned = models.BigIntegerField(null=True, blank=True)
    execution_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["workspace", "-id"], name="audit_by_workspace"),
            models.Index(fields=["tool", "decision"], name="audit_by_tool"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_username} {self.tool} {self.decision}"
