"""GET /health reports each part with its status and timing, and 503 when one fails."""

from __future__ import annotations

import pytest
from django.test import Client

from config.tasks import echo


@pytest.mark.django_db(transaction=True)
def test_health_is_ok_when_database_redis_broker_and_worker_answer(celery_worker):
    response = Client().get("/health")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "broker", "worker"}
    for check in body["checks"].values():
        assert check["status"] == "ok"
        assert isinstance(check["ms"], float)


@pytest.mark.django_db(transaction=True)
def test_health_is_503_and_names_the_failing_check_when_redis_is_unreachable(settings, celery_worker):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    response = Client().get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["redis"]["status"] == "fail"
    assert "Connection" in body["checks"]["redis"]["detail"]
    assert body["checks"]["database"]["status"] == "ok"


@pytest.mark.django_db(transaction=True)
def test_a_task_round_trips_through_the_broker_and_a_real_worker(celery_worker):
    assert echo.delay("ping").get(timeout=30) == "ping"


@pytest.mark.django_db(transaction=True)
def test_in_production_a_failing_check_does_not_reveal_why(settings, celery_worker):
    settings.PRODUCTION = True
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    body = Client().get("/health").json()
    assert body["checks"]["redis"] == {"status": "fail", "ms": body["checks"]["redis"]["ms"], "detail": "unavailable"}
