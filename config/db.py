"""Database connections around waits."""

from __future__ import annotations

from django.db import connections


def release_database_connection() -> None:
    """Gives this thread's pooled connections back before it waits on something else (a model, a
    data source), so that a hundred waiting turns need no hundred connections; the next query takes
    one again. Nothing happens inside a transaction, or without a pool (a kept connection stays)."""
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and not connection.in_atomic_block and getattr(connection, "pool", None):
            connection.close()
