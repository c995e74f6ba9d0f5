from __future__ import annotations

from django.apps import AppConfig


class DatasourcesConfig(AppConfig):
    """Data sources, connectors, encrypted credentials, the catalog and query execution."""

    name = "datasources"

    def ready(self) -> None:
        # Every catalog read infers the join keys the schema does not declare.
        from datasources.services import catalog_step_register, infer_keys_on_read

        catalog_step_register(infer_keys_on_read)
