"""``manage.py ask "question"``: runs one execution through the real pipeline (a worker must be
running, as under ``make run``) and prints its timeline as it happens, then the answer."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404

from executions import selectors, services
from executions.models import PromptExecution
from workspaces.selectors import memberships_for_user

_SHOWN = ("tool", "code", "message", "phase", "percentage", "question", "choices")


class Command(BaseCommand):
    help = "Ask a question as a user and print the execution's events and answer (needs a running worker)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prompt")
        parser.add_argument("--user", default="analyst", help="username (demo users: admin, analyst, viewer)")
        parser.add_argument("--workspace", default="", help="workspace id (default: the user's first)")
        parser.add_argument("--model", default="", help='model name, "offline" for the built-in one')
        parser.add_argument("--timeout", type=float, default=120.0)

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user {options['user']!r}.")
        workspace_id = options["workspace"]
        if not workspace_id:
            membership = memberships_for_user(user=user).order_by("workspace__name").first()
            if membership is None:
                raise CommandError(f"{user} is a member of no workspace.")
            workspace_id = membership.workspace_id
        request = services.ExecuteRequest(prompt_text=options["prompt"], workspace_id=workspace_id,
                                          ai_model=options["model"])  # fmt: skip
        try:
            execution = services.execution_create(user=user, request=request)
        except (ValidationError, Http404) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"execution {execution.pk}")
        self.follow(user, execution, options["timeout"])

    def follow(self, user: Any, execution: PromptExecution, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        seq = 0
        while time.monotonic() < deadline:
            for event in selectors.events_after(execution=execution, after_seq=seq):
                seq = event.seq
                details = {k: v for k, v in event.payload.items() if k in _SHOWN}
                self.stdout.write(f"  #{event.seq} {event.type} {details if details else ''}".rstrip())
            execution.refresh_from_db()
            if execution.is_terminal:
                break
            if execution.status == "waiting_for_user":
                self.stdout.write("  (waiting for a person: answer in the studio or the API)")
                return
            time.sleep(0.2)  # a person watching, not a test
        else:
            raise CommandError(f"The execution did not finish within {timeout:g} s (is a worker running?).")
        if execution.status != "completed":
            raise CommandError(f"{execution.status}: {execution.error_code} {execution.error_message}")
        final = execution.final_data or {}
        self.stdout.write("")
        if execution.generated_query_text:
            self.stdout.write(f"SQL: {execution.generated_query_text}")
        self.stdout.write(str(final.get("answer", "")))
