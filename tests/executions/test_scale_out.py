"""Capacity: a turn waiting on the model holds no worker process, and several workers share the
queue with nothing done twice. Real Celery workers (the thread pool the Procfile runs), the real
broker and database, and the scripted model answering after a delay."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from executions.models import ExecutionStatus, Turn
from tests.conftest import WorkerHandle, wait_for
from tests.executions.conftest import assert_timeline_intact, run, wait_status
from tests.fakes.openai_server import delay, reply, tool_call

pytestmark = pytest.mark.django_db(transaction=True)

EXECUTIONS = 8
THREADS = 4  # per worker: two workers hold all eight model calls at once


def classify() -> Any:
    return reply(tool_calls=[tool_call("classify_intent", {"intent": "GENERAL", "confidence": 0.9, "reason": "t"})])


def finish(answer: str) -> Any:
    return reply(tool_calls=[tool_call("finish", {"answer": answer})])


@pytest.fixture
def two_workers(worker: WorkerHandle, tmp_path: Path) -> Iterator[tuple[WorkerHandle, WorkerHandle]]:
    """The run's worker steps aside; two workers with their own host names take the queue."""
    worker.stop()
    pair = []
    try:
        for name in ("scale-a", "scale-b"):
            handle = WorkerHandle(tmp_path / name, "")
            handle.log_dir.mkdir()
            handle.env = dict(worker.env)
            handle.hostname = f"{name}-{handle.hostname}"
            handle.concurrency = THREADS
            handle.start()
            pair.append(handle)
        yield pair[0], pair[1]
    finally:
        for handle in pair:
            handle.stop()
        worker.start()


def test_two_workers_split_the_work_hold_every_model_call_at_once_and_do_nothing_twice(
    tenancy, sqlite_source, scripted_model, two_workers, marker
) -> None:
    first, second = two_workers
    markers = [f"{marker}-{i}" for i in range(EXECUTIONS)]
    for key in markers:
        # The first model call of each execution waits 8 s: long enough to see them all in flight.
        scripted_model.script(key, [delay(8, classify()), finish(f"done {key}")])
    executions = [run(tenancy.ana, tenancy.acme, f"Scale {key}") for key in markers]

    # Eight model calls in flight at once, on two workers of four threads: waiting holds no process.
    wait_for(lambda: sum(len(scripted_model.requests(key)) for key in markers) == EXECUTIONS, timeout=7,
             what="every execution's first model call in flight at once")  # fmt: skip

    for execution in executions:
        execution = wait_status(execution, timeout=60)
        assert execution.status == ExecutionStatus.COMPLETED, (execution.error_code, execution.error_message)
        assert_timeline_intact(execution)
    # Nothing twice: one model call per turn, one delivery per turn.
    assert all(len(scripted_model.requests(key)) == 2 for key in markers)
    turns = Turn.objects.filter(execution__in=executions)
    assert set(turns.values_list("deliveries", flat=True)) == {1}
    # Both workers took turns (the lease owner names the worker's host name).
    hosts = Counter(owner.split(":")[0] for owner in turns.values_list("lease_owner", flat=True))
    assert set(hosts) == {first.hostname, second.hostname}, hosts


@pytest.fixture
def narrow_worker(worker: WorkerHandle, tmp_path: Path) -> Iterator[WorkerHandle]:
    """The run's worker, restarted with two threads and a model-call timeout of 2 s (one retry)."""
    worker.stop()
    handle = WorkerHandle(tmp_path / "narrow", "")
    handle.log_dir.mkdir()
    handle.env = {**worker.env, "MODEL_TIMEOUT_SECONDS": "2", "PSA_RETRY_COUNT": "1"}
    handle.hostname = f"narrow-{handle.hostname}"
    handle.concurrency = 2
    handle.start()
    try:
        yield handle
    finally:
        handle.stop()
        worker.start()


def test_a_model_that_never_answers_holds_only_its_own_execution(
    tenancy, sqlite_source, scripted_model, narrow_worker, marker
) -> None:
    scripted_model.script(f"{marker}-stuck", [delay(60, classify())] * 2)
    stuck = run(tenancy.ana, tenancy.acme, f"Stuck {marker}-stuck")
    wait_for(lambda: len(scripted_model.requests(f"{marker}-stuck")) == 1, timeout=15, what="the stuck model call")
    quick_keys = [f"{marker}-quick-{i}" for i in range(3)]
    for key in quick_keys:
        scripted_model.script(key, [classify(), finish(f"done {key}")])
    quick = [run(tenancy.ana, tenancy.acme, f"Quick {key}") for key in quick_keys]

    stuck = wait_status(stuck, timeout=60)
    # Its own timeout ended it, with a clear code, after the retry; the others went on meanwhile on
    # the worker's other thread, and finished first.
    assert (stuck.status, stuck.error_code) == (ExecutionStatus.FAILED, "model_timeout")
    assert "after 2 attempts" in stuck.error_message
    for execution in quick:
        execution = wait_status(execution, timeout=30)
        assert execution.status == ExecutionStatus.COMPLETED, (execution.error_code, execution.error_message)
        assert execution.completed_at is not None and stuck.completed_at is not None
        assert execution.completed_at < stuck.completed_at
