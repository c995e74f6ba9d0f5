"""A Celery worker for the evaluation: the one already consuming the turn queue when there is one
(``make run``), else a worker subprocess started for the run and stopped after it. That one runs
with the intent cache off: an evaluation measures the model as it is now, never a classification an
earlier version of it left in Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from config.celery import app
from config.processes import stop_processes
from evals.services import EvalError

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 60.0


def queue_consumers(queue: str) -> list[str]:
    """Hostnames of the live workers that consume ``queue``."""
    replies = app.control.inspect(timeout=1.0).active_queues() or {}
    return [host for host, queues in replies.items() if any(q.get("name") == queue for q in queues or [])]


@contextmanager
def eval_worker(*, concurrency: int = 4) -> Iterator[str]:
    """Yields the hostname of a worker consuming the turn queue; one it started is stopped on exit.
    Its log goes to a temporary file, kept and named when it fails to start."""
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    running = queue_consumers(queue)
    if running:
        yield running[0]
        return
    hostname = f"eval-{os.getpid()}@localhost"
    log = Path(tempfile.mkstemp(prefix="evaluate-worker-", suffix=".log")[1])
    with open(log, "wb") as out:
        process = subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "threads",
             "--concurrency", str(concurrency), "--loglevel", "WARNING", "--hostname", hostname,
             "--queues", queue, "--without-mingle", "--without-gossip"],
            cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1", "INTENT_CACHE_SECONDS": "0"},
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not app.control.ping(destination=[hostname], timeout=0.5):
            if process.poll() is not None or time.monotonic() > deadline:
                raise EvalError("worker_not_started", f"The evaluation's worker did not start (log: {log}).")
        yield hostname
    finally:
        stop_processes(process)
    log.unlink(missing_ok=True)
