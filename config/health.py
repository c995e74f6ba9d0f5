"""``GET /health``: is every part this deployment needs reachable right now?"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from config.celery import app as celery_app

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    ms: float
    detail: str


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    connection.close()
    return "ok"


def _check_redis() -> str:
    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS
    client = redis.Redis.from_url(
        str(settings.CACHES["default"]["LOCATION"]), socket_timeout=timeout, socket_connect_timeout=timeout
    )
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def _check_broker() -> str:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=max(1, int(settings.HEALTH_CHECK_TIMEOUT_SECONDS)))
    return "ok"


def _check_worker() -> str:
    # limit=1: answer as soon as one worker replies instead of waiting out the timeout.
    replies = celery_app.control.ping(timeout=min(1.0, settings.HEALTH_CHECK_TIMEOUT_SECONDS), limit=1)
    if not replies:
        raise RuntimeError("no Celery worker answered")
    return f"{len(replies)} worker(s)"


CHECKS: dict[str, Callable[[], str]] = {
    "database": _check_database,
    "redis": _check_redis,
    "broker": _check_broker,
    "worker": _check_worker,
}


def _run(name: str, check: Callable[[], str]) -> CheckResult:
    started = time.perf_counter()
    try:
        detail = check()
        ok = True
    except Exception as exc:  # a health check reports any failure, it never raises
        logger.warning("health check %s failed", name, exc_info=True, extra={"check": name})
        # Anonymous callers may read /health: in production the reason stays in the log.
        detail = "unavailable" if settings.PRODUCTION else f"{type(exc).__name__}: {exc}"[:300]
        ok = False
    return CheckResult(name, ok, round((time.perf_counter() - started) * 1000, 1), detail)


def run_checks() -> list[CheckResult]:
    """Runs the checks in parallel, each bounded by the health timeout."""
    deadline = settings.HEALTH_CHECK_TIMEOUT_SECONDS + 1.0
    pool = ThreadPoolExecutor(max_workers=len(CHECKS), thread_name_prefix="health")
    futures = {name: pool.submit(_run, name, check) for name, check in CHECKS.items()}
    results = []
    for name, future in futures.items():
        try:
            results.append(future.result(timeout=deadline))
        except FutureTimeout:
            results.append(CheckResult(name, False, deadline * 1000, "timed out"))
    pool.shutdown(wait=False)
    return results


def health(request: HttpRequest) -> JsonResponse:
    results = run_checks()
    healthy = all(result.ok for result in results)
    body = {
        "status": "ok" if healthy else "fail",
        "checks": {r.name: {"status": "ok" if r.ok else "fail", "ms": r.ms, "detail": r.detail} for r in results},
    }
    return JsonResponse(body, status=200 if healthy else 503)
