from __future__ import annotations

import os
import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from config.env import local_secret
from datasources.demo import demo_datasources_ensure
from governance.demo import demo_policies_ensure, demo_tags_ensure
from workspaces.demo import DEMO_USERS, demo_workspace_ensure


class Command(BaseCommand):
    help = "Create (or bring up to date) the demo organisation, workspace and users, and print how to sign in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--banner", action="store_true", help="Also print the URLs of every part.")
        parser.add_argument("--reload-data", action="store_true", help="Reload the demo data and re-read schemas.")

    def handle(self, *args: Any, **options: Any) -> None:
        # Passwords are generated once per checkout and kept in .local/, never in the repository.
        passwords = {
            user.username: local_secret(f"demo-password-{user.username}", lambda: secrets.token_urlsafe(9))
            for user in DEMO_USERS
        }
        workspace = demo_workspace_ensure(passwords=passwords)
        demo_tags_ensure(workspace=workspace)  # before the sources are read, so that the read detects them
        datasources = demo_datasources_ensure(workspace=workspace, force=options["reload_data"])
        demo_policies_ensure(workspace=workspace, datasources=datasources)
        host = os.environ.get("HOST", "127.0.0.1")
        port = os.environ.get("WEB_PORT", "8000")
        flower_port = os.environ.get("FLOWER_PORT", "5555")
        base = f"http://{host}:{port}"
        lines = []
        if options["banner"]:
            lines += [
                "",
                "Prompt Studio is starting. Open:",
                f"  Studio        {base}/",
                f"  API docs      {base}/api/docs/   (ReDoc: {base}/api/redoc/, schema: {base}/api/schema/)",
                f"  Admin         {base}/admin/",
                f"  Health        {base}/health",
                f"  Flower        http://{host}:{flower_port}/",
            ]
        lines += ["", f"Demo workspace: {workspace}. Sign in as:"]
        lines += [
            f"  {user.username:<8} {passwords[user.username]:<14} ({user.role}{', Django admin' if user.staff else ''})"
            for user in DEMO_USERS
        ]
        lines += ["", "Demo data sources:"]
        lines += [
            f"  {ds.name:<30} {ds.status:<8} {ds.catalog_table_count} tables  {ds.error_code}".rstrip()
            for ds in datasources
        ]
        lines += [
            "",
            "Governance follows the data: on all three sources, analysts and viewers see the personal data of",
            "their own region only, with e-mails and phone numbers masked (tag policies), and dates of birth",
            "masked until someone reviews their tag. No model key is needed: the built-in offline model answers.",
            '  Try: .venv/bin/python manage.py ask "top 10 customers by revenue" --user analyst',
            "",
        ]
        self.stdout.write("\n".join(lines))
