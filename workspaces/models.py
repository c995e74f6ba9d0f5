"""Tenancy: organisations, their workspaces, and who is a member of which workspace in what role."""

from __future__ import annotations

import uuid

from django.conf import settings
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
    mask_unreviewed_personal_data = models.BooleanField(
        default=True,
        help_text="Mask columns detected as personal data for analysts and viewers until an owner or admin reviews "
        "the tag.",
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
