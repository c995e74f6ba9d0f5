from __future__ import annotations

from celery import shared_task

from datasources import services


@shared_task(name="datasources.refresh", acks_late=True)
def datasource_refresh(datasource_id: str) -> dict[str, int] | None:
    """Introspects a data source into the catalog. Idempotent: a redelivery re-reads and upserts."""
    return services.datasource_introspect(datasource_id=datasource_id)
