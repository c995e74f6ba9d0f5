from __future__ import annotations

from django.apps import AppConfig


class DatasourcesConfig(AppConfig):
    """Data sources, connectors, encrypted credentials, the catalog and query execution."""

    name = "datasources"
