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

from django.db import connection, transaction
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


def _chain_lock(workspace_id: Any) -> None:
    # One writer per chain at a time, so two rows never claim the same predecessor.
    key = (7_700 << 32) | zlib.crc32(str(workspace_id).encode())  # one bigint lock per chain
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s::bigint)", [key])


@transaction.atomic
def audit_append(**fields: Any) -> AuditEvent:
    """Appends one decision to its workspace's chain."""
    workspace_id = fields.get("workspace_id")
    _chain_lock(workspace_id)
    # Plain SQL: this runs twice per tool call, and the ORM's own work was most of its cost.
    with connection.cursor() as cursor:
        if workspace_id is None:
            cursor.execute(_LAST_SQL.format(where="workspace_id IS NULL"))
        else:
            cursor.execute(_LAST_SQL.format(where="workspace_id = %s"), [workspace_id])
        last = cursor.fetchone()
        event = AuditEvent(created_at=timezone.now(), prev_hash=last[0] if last else GENESIS, **fields)
        event.hash = event_hash(event, event.prev_hash)
        cursor.execute(_INSERT_SQL, [getattr(event, name) if name != "policies_applied"
                                     else json.dumps(event.policies_applied) for name in _COLUMNS])  # fmt: skip
        event.pk = cursor.fetchone()[0]
    event._state.adding = False
    return event


_TABLE = AuditEvent._meta.db_table
_LAST_SQL = f"SELECT hash FROM {_TABLE} WHERE {{where}} ORDER BY id DESC LIMIT 1"  # noqa: S608
_COLUMNS: tuple[str, ...] = (*_HASHED_FIELDS, "prev_hash", "hash")
_COLUMN_OF = {field.attname: str(field.column) for field in AuditEvent._meta.concrete_fields}
_INSERT_SQL = (
    f"INSERT INTO {_TABLE} ({', '.join(_COLUMN_OF[name] for name in _COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join(['%s'] * len(_COLUMNS))}) RETURNING id"
)


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
