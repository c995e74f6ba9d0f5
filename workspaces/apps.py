from __future__ import annotations

from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    """Tenancy: organisations, workspaces, memberships and the roles that grant permissions."""

    name = "workspaces"
    verbose_name = "Workspaces"
