"""The audit log: one append-only, hash-chained row per gateway decision.

Each workspace has its own chain (rows of other workspaces don't contend). A row's hash covers its
content and the previous row's hash, so editing, deleting or reordering any row breaks every hash
after it; ``audit_verify`` walks the chains.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils import timezone

from governance.models import AuditEvent

GENESIS = "0" * 64
_HASHED_FIELDS = (
    "workspace_id", "actor_id", "actor_username", "tool", "arguments_hash", "decision", "code", "reason",
    "policies_applied", "sql_before", "sql_after", "rows_returned", "execution_id", "created_at",
)  # fmt: skip


def arguments_hash(arguments: Any) -> str:
    return hashlib.sha256(json.dumps(arguments, sort_keys=True, default=str).encode()).hexdigest()


def _content(event: AuditEvent) -> str:
    values = {name: getattr(event, name) for name in _HASHED_FIELDS}
    values["created_at"] = event.created_at.isoformat()
    return json.dumps(values, sort_keys=True, default=str, separators=(",", ":"))


def event_hash(event: AuditEvent, prev_hash: str) -> str:
    return hashlib.sha256((prev_hash + _content(event)).encode()).hexdigest()


def _chain_key(workspace_id: Any) -> int:
    # One writer per chain at a time, so two rows never claim the same predecessor.
    return (7_700 << 32) | zlib.crc32(str(workspace_id).encode())  # one bigint lock per chain


def audit_append(**fields: Any) -> AuditEvent:
    """Appends one decision to its workspace's chain: one round trip to the database function
    ``governance_audit_append`` (migration 0005), which takes the chain's lock, reads the last hash
    and inserts the row with sha256(prev_hash + content). In a transaction, the row and the lock
    belong to it."""
    event = AuditEvent(created_at=timezone.now(), **fields)
    content = _content(event)
    with connection.cursor() as cursor:
        cursor.execute(
            _APPEND_SQL,
            [
                _chain_key(event.workspace_id), content, event.workspace_id, event.actor_id, event.actor_username,
                event.tool, event.arguments_hash, event.decision, event.code, event.reason,
                json.dumps(event.policies_applied), event.sql_before, event.sql_after, event.rows_returned,
                event.execution_id, event.created_at,
            ],
        )  # fmt: skip
        event.pk, event.prev_hash, event.hash = cursor.fetchone()
    # The database hashed what Python will verify: a difference would be a broken chain later.
    if event.hash != event_hash(event, event.prev_hash):
        raise RuntimeError("the audit row's hash does not match its content")
    event._state.adding = False
    return event


_APPEND_SQL = """
    SELECT * FROM governance_audit_append(
        %s::bigint, %s::text, %s::uuid, %s::integer, %s::varchar, %s::varchar, %s::varchar, %s::varchar,
        %s::varchar, %s::text, %s::jsonb, %s::text, %s::text, %s::bigint, %s::uuid, %s::timestamptz
    )
"""


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    workspace_id: Any
    problem: str


def audit_verify() -> Iterator[ChainBreak]:
    """Yields every place where a chain does not hold (edited content, removed or reordered rows)."""
    expected: dict[Any, str] = {}
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        prev = expected.get(event.workspace_id, GENESIS)
        if event.prev_hash != prev:
            yield ChainBreak(event.id, event.workspace_id, "its predecessor is missing or was changed")
        if event.hash != event_hash(event, event.prev_hash):
            yield ChainBreak(event.id, event.workspace_id, "its content was changed")
        expected[event.workspace_id] = event.hash
