from __future__ import annotations

from typing import Any

from celery import shared_task

from governance import classification


@shared_task(name="governance.classify", acks_late=True)
def catalog_classify(datasource_id: str) -> dict[str, Any] | None:
    """Classifies a source's stored catalog again (a workspace tag was defined or its rules changed).
    Idempotent: a redelivery samples again and stores the same detections."""
    return classification.catalog_classify_by_id(datasource_id=datasource_id)
