"""Operational tasks."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="ops.echo", acks_late=True)
def echo(value: str) -> str:
    """A round trip through the broker and a worker: used by tests and benchmarks."""
    return value
