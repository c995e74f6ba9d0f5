from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from governance.audit import audit_verify
from governance.models import AuditEvent


class Command(BaseCommand):
    help = "Check the hash chains of the audit log; exits non-zero when any row was edited, removed or reordered."

    def handle(self, *args: Any, **options: Any) -> None:
        breaks = list(audit_verify())
        for problem in breaks:
            self.stderr.write(f"audit event {problem.event_id} (workspace {problem.workspace_id}): {problem.problem}")
        if breaks:
            raise CommandError(f"the audit log does not verify: {len(breaks)} problem(s)")
        self.stdout.write(f"audit log verified: {AuditEvent.objects.count()} event(s), every chain intact")
