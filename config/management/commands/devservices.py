from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.devservices import DevServiceError, DevServices
from config.env import LOCAL_DIR


class Command(BaseCommand):
    help = (
        "Start, stop or show the embedded PostgreSQL and Redis used when DATABASE_URL / REDIS_URL are not set. "
        "Data lives under .local/; servers listen on 127.0.0.1 only, on private ports, with generated passwords."
    )
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["up", "down", "status"])

    def handle(self, *args: Any, **options: Any) -> None:
        services = DevServices(LOCAL_DIR)
        action = options["action"]
        try:
            if action == "up":
                want_pg = not os.environ.get("DATABASE_URL")
                want_redis = not os.environ.get("REDIS_URL")
                services.up(postgres=want_pg, redis=want_redis)
                if not want_pg:
                    self.stdout.write("postgres: DATABASE_URL is set, the embedded server is not used")
                if not want_redis:
                    self.stdout.write("redis: REDIS_URL is set, the embedded server is not used")
            elif action == "down":
                services.down()
        except DevServiceError as exc:
            raise CommandError(str(exc)) from exc
        for status in services.status():
            state = "running" if status.running else "stopped"
            self.stdout.write(f"{status.name}: {state} {status.url} {status.detail}".rstrip())
