"""The policies of a workspace (row filters, column masks, hidden tables, approval rules) and its
audit log."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.postgres.fields import ArrayField
from django.db import models

from workspaces.models import Role, Workspace


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


# --- classification: tags on catalog columns, and policies that follow the tags -------------------


class Tag(models.Model):
    """A workspace's own classification tag (``region``, ``finance.amount``), with the rules that detect
    it on every catalog read. The built-in ``pii.*`` tags (``governance.tags.BUILTIN_TAGS``) need no row."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=64, help_text="Lower case, dots between parts: region, finance.amount.")
    description = models.TextField(blank=True)
    personal = models.BooleanField(
        default=False, help_text="Personal data: masked for analysts and viewers until a detection is reviewed."
    )
    name_patterns = ArrayField(
        models.CharField(max_length=120), default=list, blank=True,
        help_text="Column names that carry the tag (globs on the lower-case name): region, *_region.",
    )  # fmt: skip
    values = ArrayField(
        models.CharField(max_length=200), default=list, blank=True,
        help_text="Values that carry the tag when most sampled values of a column are among them.",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["workspace", "name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="tag_name_unique_in_workspace")]

    def __str__(self) -> str:
        return self.name


class TagSource(models.TextChoices):
    DETECTED = "detected", "Detected"
    MANUAL = "manual", "Set by a person"


class TagState(models.TextChoices):
    DETECTED = "detected", "Detected, not reviewed"
    CONFIRMED = "confirmed", "Confirmed"
    REJECTED = "rejected", "Rejected"


class ColumnTag(models.Model):
    """One tag on one catalog column: where it came from and whether a person has reviewed it.

    A catalog read adds and updates detections; it never changes the state a person set (confirmed
    or rejected) nor removes a tag a person set. A rejected tag does not apply to anything.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    datasource = models.ForeignKey("datasources.DataSource", on_delete=models.CASCADE, related_name="+")
    column = models.ForeignKey("datasources.CatalogColumn", on_delete=models.CASCADE, related_name="classification")
    tag = models.CharField(max_length=64)
    source = models.CharField(max_length=8, choices=TagSource.choices, default=TagSource.DETECTED)
    # Of the last detection (None for a tag only a person set); 0..1.
    confidence = models.FloatField(null=True, blank=True)
    evidence = models.TextField(blank=True, help_text="What the detector saw, in plain words (never a value).")
    state = models.CharField(max_length=9, choices=TagState.choices, default=TagState.DETECTED)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    detected_at = models.DateTimeField(null=True, blank=True, help_text="The last catalog read that detected it.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["datasource", "column", "tag"]
        constraints = [models.UniqueConstraint(fields=["column", "tag"], name="column_tag_unique")]
        indexes = [
            models.Index(fields=["datasource", "state"], name="column_tag_by_state"),
            models.Index(fields=["workspace", "tag"], name="column_tag_by_tag"),
        ]

    def __str__(self) -> str:
        return f"{self.tag} on {self.column_id} ({self.state})"


class _TagPolicy(models.Model):
    """A policy on every column (or table) that carries a tag, on every source of its workspace."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=120)
    tag = models.CharField(max_length=64)
    # Only tables with a column carrying one of these tags ("pii.*": any tag under pii.); empty: every table.
    table_tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    # The audience: empty means every member; exempt roles are left out either way.
    roles = ArrayField(models.CharField(max_length=16, choices=Role.choices), default=list, blank=True)
    exempt_roles = ArrayField(models.CharField(max_length=16, choices=Role.choices), default=list, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name


class TagMaskPolicy(_TagPolicy):
    """Masks (or hides) every column carrying ``tag`` for its audience."""

    strategy = models.CharField(max_length=8, choices=MaskStrategy.choices, default=MaskStrategy.REDACT)

    class Meta:
        verbose_name = "tag mask policy"
        verbose_name_plural = "tag mask policies"


class TagRowFilterPolicy(_TagPolicy):
    """Rows its audience may see of every table with a column carrying ``tag``: a condition on that
    column, ``{{ column }} = {{ user.region }}``; with several such columns, every one must hold."""

    predicate = models.TextField(
        help_text="SQL condition on the tagged column: {{ column }} = {{ user.region }}, {{ column }} IN ('EU', 'UK')."
    )

    class Meta:
        verbose_name = "tag row filter policy"
        verbose_name_plural = "tag row filter policies"
