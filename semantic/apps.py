from __future__ import annotations

from django.apps import AppConfig


class SemanticConfig(AppConfig):
    """Verified queries and the glossary: what a workspace has checked and defined (issue 17)."""

    name = "semantic"

    def ready(self) -> None:
        # Registers the gateway tool that checks a verified query's SQL on save.
        from semantic import services  # noqa: F401
