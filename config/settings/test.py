"""Settings for the test suite: the same real services, separate databases."""

from __future__ import annotations

from config.env import LOCAL_DIR, envstr, redis_url_with_db
from config.settings.base import *  # noqa: F403
from config.settings.base import DATABASES, REDIS_URL

# One fixed database name used both by pytest-django and by the worker and server subprocesses
# that the tests start, so that they all see the same rows.
# TEST_INSTANCE=<name> gives a second suite run on the same machine its own databases, files,
# cache/channel prefixes and Celery queue, so that two runs (worker tests included) can go at once.
_instance = envstr("TEST_INSTANCE")
TEST_INSTANCE = _instance
_suffix = f"_{_instance}" if _instance else ""
_test_db = envstr("TEST_DATABASE_NAME", f"promptstudio_test{_suffix}")
DATABASES["default"]["NAME"] = _test_db
DATABASES["default"]["TEST"] = {"NAME": _test_db}

# Redis logical databases 8..11 of the same server: the running studio (0..3) is left alone.
CELERY_BROKER_URL = redis_url_with_db(REDIS_URL, 8)
CELERY_RESULT_BACKEND = redis_url_with_db(REDIS_URL, 9)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": redis_url_with_db(REDIS_URL, 10),
        "KEY_PREFIX": f"psa-test{_suffix}",
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "config.channel_layer.BoundedRedisChannelLayer",
        "CONFIG": {
            "hosts": [{"address": redis_url_with_db(REDIS_URL, 11), "max_connections": 100, "timeout": 20}],
            "prefix": f"psa-test{_suffix}",
            "capacity": 1000,
            "expiry": 60,
        },
    }
}
TEST_REDIS_DBS = (8, 9, 10, 11)
# The queue the test worker consumes and turns are sent to: one per instance.
CELERY_TASK_DEFAULT_QUEUE = f"celery{_suffix}"

# Demo data, file sources and exports of the tests stay apart from the running studio's.
_test_dir = LOCAL_DIR / f"test{_suffix}"
DEMO_DATA_DIR = str(_test_dir / "demo")
DEMO_DATABASE_NAME = f"promptstudio_demo_test{_suffix}"
DATASOURCE_FILE_ROOTS = [DEMO_DATA_DIR, str(_test_dir / "files")]
DATASOURCE_DOWNLOAD_DIR = str(_test_dir / "downloads")
RESULT_STORE_DIR = str(_test_dir / "results")

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_BEAT_SCHEDULE_FILENAME = "/dev/null"
# The worker process outlives the database flushes of transactional tests (see config/celery.py).
CELERY_FORGET_CONTENT_TYPES = True
