"""Request overhead of the API stack, as ratios to bare round trips measured in the same run.

Prints one JSON object. Figures are p50/p95 in milliseconds over N calls; the ratios compare the
full Django stack (middleware, auth, JWT, guardian, serializers) to a bare PostgreSQL ``SELECT 1``,
and a Celery task round trip to a bare Redis PING, so that machine noise cancels out.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework_simplejwt.tokens import RefreshToken  # noqa: E402

from config.celery import app  # noqa: E402
from config.tasks import echo  # noqa: E402
from governance import services  # noqa: E402
from governance.models import Role, Workspace  # noqa: E402
from tests.factories import make_user  # noqa: E402

N = int(os.environ.get("BENCH_N", "200"))


def measure(fn: Callable[[], object], n: int = N) -> dict[str, float]:
    for _ in range(min(20, n)):
        fn()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 3),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 3),
        "n": n,
    }


def select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def main() -> None:
    # A workspace of its own, so the demo workspace and its logins are left alone.
    workspace = Workspace.objects.filter(slug="bench", organization__slug="bench").first()
    if workspace is None:
        organization = services.organization_create(name="Bench", slug="bench")
        workspace = services.workspace_create(organization=organization, name="Bench", slug="bench")
    analyst = make_user("bench-analyst")
    services.membership_set(workspace=workspace, user=analyst, role=Role.ANALYST)
    token = str(RefreshToken.for_user(analyst).access_token)
    client = Client()
    auth = {"Authorization": f"Bearer {token}"}
    redis_client = redis.Redis.from_url(settings.CELERY_BROKER_URL)

    results: dict[str, object] = {
        "bare_select_1": measure(select_one),
        "bare_redis_ping": measure(redis_client.ping),
        "api_me_jwt": measure(lambda: client.get("/api/v1/me", headers=auth)),
        "api_workspace_detail_jwt": measure(lambda: client.get(f"/api/v1/workspaces/{workspace.pk}/", headers=auth)),
        "api_unauthenticated_401": measure(lambda: client.get("/api/v1/me")),
    }

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel", "WARNING",
         "--hostname", f"bench-{os.getpid()}@localhost", "--without-mingle", "--without-gossip"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[f"bench-{os.getpid()}@localhost"], timeout=0.5):
            if time.monotonic() > deadline:
                raise SystemExit("the bench worker did not start")
        results["celery_round_trip"] = measure(lambda: echo.delay("x").get(timeout=30), n=max(20, N // 4))
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
    print(json.dumps({"bench": "api", **results}, indent=2))


if __name__ == "__main__":
    main()
