from __future__ import annotations

from django.apps import AppConfig


class ConfigAppConfig(AppConfig):
    """Holds project-wide management commands (devservices, seed_demo) and system checks."""

    name = "config"
    label = "psa_config"
    verbose_name = "Prompt Studio"

    def ready(self) -> None:
        from config import checks  # noqa: F401  (registers the system checks)
