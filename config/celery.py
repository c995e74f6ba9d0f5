"""The Celery app. Tasks carry the request id of the request that enqueued them."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("promptstudio")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

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
