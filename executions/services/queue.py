"""The queue in front of the workers: where a pending execution stands, when it may start, and
admission control (refusing work that could not start within QUEUE_MAX_WAIT_SECONDS).

An execution is *queued* from its creation until a worker claims its first turn (status
``pending``). How fast executions start is measured, not configured: the executions started in the
last QUEUE_RATE_WINDOW_SECONDS, never taken below QUEUE_START_RATE_FLOOR a second (what a quiet
deployment is known to manage, so that a burst after an idle minute is not refused for lack of
history). Both are cheap: a count on a partial index of pending executions, and one on the start
times of the window, whose rate is shared between requests through the cache for a second."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from executions.models import ExecutionStatus, PromptExecution

_RATE_KEY = "queue:start-rate"


class Overloaded(Exception):
    """More work waits than can start within QUEUE_MAX_WAIT_SECONDS; ``wait`` is when to try again."""

    def __init__(self, backlog: int, expected: float, wait: int) -> None:
        super().__init__(
            f"Prompt Studio is busy: {backlog} executions are waiting and a new one would not start within "
            f"{settings.QUEUE_MAX_WAIT_SECONDS} s (about {expected:.0f} s). Nothing was started; try again in {wait} s."
        )
        self.backlog, self.expected, self.wait = backlog, expected, wait


def start_rate() -> float:
    rate = cache.get(_RATE_KEY)
    if rate is None:
        window = settings.QUEUE_RATE_WINDOW_SECONDS
        since = timezone.now() - timedelta(seconds=window)
        rate = PromptExecution.objects.filter(started_at__gte=since).count() / window
        cache.set(_RATE_KEY, rate, timeout=1)
    return max(float(rate), settings.QUEUE_START_RATE_FLOOR)


def queue_position(execution: PromptExecution) -> dict[str, Any] | None:
    """Where a pending execution stands: ``position`` (1 = next to start) and the expected start in
    seconds; None once it started."""
    if execution.status != ExecutionStatus.PENDING:
        return None
    ahead = PromptExecution.objects.filter(status=ExecutionStatus.PENDING, created_at__lt=execution.created_at).count()
    position = ahead + 1
    return {"position": position, "expected_start_seconds": math.ceil(position / start_rate())}


def admission_check() -> None:
    """Raises ``Overloaded`` when the work already waiting would keep a new execution from starting
    within QUEUE_MAX_WAIT_SECONDS (0: no admission control). What was accepted is never dropped."""
    limit = settings.QUEUE_MAX_WAIT_SECONDS
    if not limit:
        return
    backlog = PromptExecution.objects.filter(status=ExecutionStatus.PENDING).count()
    expected = (backlog + 1) / start_rate()
    if expected > limit:
        raise Overloaded(backlog, expected, max(1, math.ceil(expected - limit)))
