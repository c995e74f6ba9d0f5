"""The audit log: append-only in the database, hash-chained per workspace, verifiable."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from governance.audit import GENESIS, audit_append, audit_verify
from governance.models import AuditEvent

pytestmark = pytest.mark.django_db


def append(tenancy, workspace, tool="run_query", decision="allowed"):
    return audit_append(
        workspace_id=workspace.pk, actor=tenancy.ana, actor_username="ana", tool=tool, arguments_hash="a" * 64,
        decision=decision, code="ok", reason="", policies_applied=["EMEA only"], sql_before="SELECT 1",
        sql_after="SELECT 1 LIMIT 1000",
    )  # fmt: skip


def test_rows_chain_per_workspace_and_verify(tenancy):
    first = append(tenancy, tenancy.acme)
    other = append(tenancy, tenancy.globex)
    second = append(tenancy, tenancy.acme, decision="denied")
    assert first.prev_hash == GENESIS and other.prev_hash == GENESIS
    assert second.prev_hash == first.hash
    assert list(audit_verify()) == []
    call_command("audit_verify")


def test_the_database_refuses_to_change_or_delete_an_audit_row(tenancy):
    event = append(tenancy, tenancy.acme)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(reason="nothing to see")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()


def _tamper(sql, params):
    # Someone with the power to switch the trigger off (a superuser) edits the table directly.
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")  # triggers off for this session
        cursor.execute(sql, params)
        cursor.execute("SET session_replication_role = DEFAULT")


def test_audit_verify_detects_an_edited_row(tenancy):
    append(tenancy, tenancy.acme)
    edited = append(tenancy, tenancy.acme, decision="denied")
    append(tenancy, tenancy.acme)
    _tamper("UPDATE governance_auditevent SET decision = 'allowed' WHERE id = %s", [edited.pk])
    problems = list(audit_verify())
    assert [(p.event_id, p.problem) for p in problems] == [(edited.pk, "its content was changed")]
    with pytest.raises(CommandError, match="does not verify"):
        call_command("audit_verify")


def test_audit_verify_detects_a_removed_row(tenancy):
    append(tenancy, tenancy.acme)
    removed = append(tenancy, tenancy.acme)
    after = append(tenancy, tenancy.acme)
    _tamper("DELETE FROM governance_auditevent WHERE id = %s", [removed.pk])
    assert [(p.event_id, p.problem) for p in audit_verify()] == [
        (after.pk, "its predecessor is missing or was changed")
    ]


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_a_chain(tenancy):
    """Writers on their own connections append to one chain at once: every row names a different
    predecessor, and the chain verifies."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def write(_: int) -> None:
        try:
            for _ in range(10):
                append(tenancy, tenancy.acme)
        finally:
            connections.close_all()  # this thread's connection

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, range(4)))
    rows = list(AuditEvent.objects.filter(workspace=tenancy.acme).order_by("id").values_list("prev_hash", "hash"))
    assert len(rows) == 40
    assert len({prev for prev, _ in rows}) == 40, "two rows claimed the same predecessor"
    assert [prev for prev, _ in rows[1:]] == [hash_ for _, hash_ in rows[:-1]]
    assert list(audit_verify()) == []
