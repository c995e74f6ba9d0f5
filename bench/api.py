"""Request overhead of the API stack, as ratios to bare round trips measured in the same run.

Figures are p50/p95 in milliseconds; the ratios compare the full Django stack (middleware, auth,
JWT, guardian, serializers) to a bare PostgreSQL ``SELECT 1``, and a Celery task round trip
through a real worker to a bare Redis PING, so that machine noise cancels out.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from _common import ROOT, arguments, bench_workspace, measure, report, setup_django

args = arguments(__doc__ or "")
setup_django()

import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework_simplejwt.tokens import RefreshToken  # noqa: E402

from config.celery import app  # noqa: E402
from config.tasks import echo  # noqa: E402
from governance import services  # noqa: E402
from governance.models import Role  # noqa: E402
from tests.factories import make_user  # noqa: E402

N = 50 if args.quick else 300


def select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def main() -> None:
    # A workspace of its own, so the demo workspace and its logins are left alone.
    workspace = bench_workspace("bench", "Bench")
    analyst = make_user("bench-analyst")
    services.membership_set(workspace=workspace, user=analyst, role=Role.ANALYST)
    token = str(RefreshToken.for_user(analyst).access_token)
    client = Client()
    auth = {"Authorization": f"Bearer {token}"}
    redis_client = redis.Redis.from_url(settings.CELERY_BROKER_URL)

    results: dict[str, object] = {
        "bare_select_1": measure(select_one, N),
        "bare_redis_ping": measure(redis_client.ping, N),
        "api_me_jwt": measure(lambda: client.get("/api/v1/me", headers=auth), N),
        "api_workspace_detail_jwt": measure(lambda: client.get(f"/api/v1/workspaces/{workspace.pk}/", headers=auth), N),
        "api_unauthenticated_401": measure(lambda: client.get("/api/v1/me"), N),
    }
    hostname = f"bench-{os.getpid()}@localhost"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel", "WARNING",
         "--hostname", hostname, "--without-mingle", "--without-gossip"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[hostname], timeout=0.5):
            if time.monotonic() > deadline:
                raise SystemExit("the bench worker did not start")
        results["celery_round_trip"] = measure(lambda: echo.delay("x").get(timeout=30), max(20, N // 4))
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    def ratio(a: str, b: str) -> float:
        return round(results[a]["p50_ms"] / results[b]["p50_ms"], 2)  # type: ignore[index]

    results["ratios_p50"] = {
        "api_me_jwt / bare_select_1": ratio("api_me_jwt", "bare_select_1"),
        "api_workspace_detail_jwt / bare_select_1": ratio("api_workspace_detail_jwt", "bare_select_1"),
        "celery_round_trip / bare_redis_ping": ratio("celery_round_trip", "bare_redis_ping"),
    }
    report("api", results)


main()
