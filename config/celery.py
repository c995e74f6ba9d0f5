"""The Celery app. Tasks carry the request id of the request that enqueued them."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun, worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("promptstudio")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Celery's Django fix-up closes the database connections (and the cache's) before and after every
# task unless this is set; workers manage theirs instead: a pool per process, connections given back
# after each task and checked before it (the handlers below), the cache's kept open.
app.conf["CELERY_DB_REUSE_MAX"] = 1_000_000

_REQUEST_ID_HEADER = "psa_request_id"
_tokens: dict[str, Any] = {}


@before_task_publish.connect
def _attach_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    from config.logging import request_id_var

    request_id = request_id_var.get()
    if headers is not None and request_id:
        headers.setdefault(_REQUEST_ID_HEADER, request_id)


@task_prerun.connect
def _bind_request_id(task_id: str = "", task: Any = None, **_: Any) -> None:
    from config.logging import request_id_var

    request_id = getattr(task.request, _REQUEST_ID_HEADER, None) if task is not None else None
    _tokens[task_id] = request_id_var.set(request_id or task_id)


@task_postrun.connect
def _unbind_request_id(task_id: str = "", **_: Any) -> None:
    from config.logging import request_id_var

    token = _tokens.pop(task_id, None)
    if token is not None:
        request_id_var.reset(token)


@task_prerun.connect
def _forget_content_types(**_: Any) -> None:
    """The test suite empties the database between tests that use the worker, which gives content
    types new ids; a long-lived worker must not keep the old ones (test settings only)."""
    from django.conf import settings

    if getattr(settings, "CELERY_FORGET_CONTENT_TYPES", False):
        from django.contrib.contenttypes.models import ContentType
        from guardian.shortcuts import clear_ct_cache

        ContentType.objects.clear_cache()
        clear_ct_cache()


@worker_process_init.connect
@worker_init.connect
def _pooled_database_connections(**_: Any) -> None:
    """Workers borrow database connections from a psycopg pool of at most WORKER_DB_POOL_MAX_SIZE
    per process, like the web process: a turn holds one only while it reads or writes, never while
    it waits on a model or a data source (``release_database_connection``), so a worker of a hundred
    threads needs a handful of connections. A pool inherited through fork is dropped, never closed
    (its sockets belong to the parent)."""
    from django.conf import settings
    from django.db import connections

    for alias in connections:
        connection = connections[alias]
        type(connection)._connection_pools.pop(alias, None)  # type: ignore[attr-defined]
        connection.connection = None  # an inherited connection is the parent's
        options = connection.settings_dict.setdefault("OPTIONS", {})
        options["pool"] = {
            "min_size": 1,
            "max_size": settings.WORKER_DB_POOL_MAX_SIZE,
            "timeout": settings.WORKER_DB_POOL_TIMEOUT,
        }
        connection.settings_dict["CONN_MAX_AGE"] = 0


@task_postrun.connect
def _return_database_connections(**_: Any) -> None:
    """A finished task gives its connections back to the pool (a thread may wait long for the next)."""
    from django.db import connections

    connections.close_all()


@task_prerun.connect
def _fresh_enough_database_connections(**_: Any) -> None:
    """What Django does at the start of a request: drop a connection that is too old or broken
    (CONN_HEALTH_CHECKS), so that a kept connection never fails a task after a database restart."""
    from django.db import close_old_connections

    close_old_connections()
