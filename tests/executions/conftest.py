"""Whole executions through a real Celery worker, PostgreSQL, Redis and the scripted model server.

Each test scripts the model under a key it puts in its prompt, so the worker's model calls for that
execution get that script. Tests commit (transactional database) because the worker is another process.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from datasources import services as datasource_services
from datasources.catalog import catalog_apply
from datasources.models import DataSource
from executions import services
from executions.models import TERMINAL_STATUSES, ExecutionEvent, PromptExecution, Turn
from tests.conftest import wait_for


@pytest.fixture
def marker() -> str:
    """A unique word for the prompt, which picks this test's model script."""
    return f"[t{uuid.uuid4().hex[:10]}]"


@pytest.fixture
def scratch_sqlite(tenancy: Any, demo_files: dict[str, Any], files_root: Path) -> Callable[[str], DataSource]:
    """A private copy of the demo SQLite file as a data source, for tests that write."""

    def make(name: str = "Scratch") -> DataSource:
        source = Path(demo_files["sqlite"].settings["path"])
        target = files_root / f"scratch-{uuid.uuid4().hex[:8]}.sqlite"
        shutil.copyfile(source, target)
        datasource = datasource_services.datasource_create(
            workspace=tenancy.acme, name=f"{name} {target.stem}", kind="sqlite", settings={"path": str(target)}
        )
        catalog_apply(datasource=datasource, introspection=datasource_services.connector_for(datasource).introspect())
        datasource.refresh_from_db()
        return datasource

    return make


@pytest.fixture
def postgres_demo_source(tenancy: Any, demo_files: dict[str, Any], postgres_settings: dict[str, Any]) -> DataSource:
    datasource = datasource_services.datasource_create(
        workspace=tenancy.acme, name="Acme PostgreSQL", kind="postgresql", **postgres_settings
    )
    catalog_apply(datasource=datasource, introspection=datasource_services.connector_for(datasource).introspect())
    datasource.refresh_from_db()
    return datasource


def run(user: Any, workspace: Any, prompt: str, **request: Any) -> PromptExecution:
    return services.execution_create(
        user=user, request=services.ExecuteRequest(prompt_text=prompt, workspace_id=workspace.pk, **request)
    )


def wait_status(execution: PromptExecution, statuses: Any = TERMINAL_STATUSES, timeout: float = 60) -> PromptExecution:
    wanted = {statuses} if isinstance(statuses, str) else set(statuses)

    def reached() -> PromptExecution | None:
        execution.refresh_from_db()
        return execution if execution.status in wanted else None

    try:
        return wait_for(reached, timeout=timeout, what=f"execution {execution.pk} reaching {sorted(wanted)}")
    except AssertionError as exc:
        turns = list(Turn.objects.filter(execution=execution).values_list("index", "status", "deliveries", "attempts"))
        last = [
            (e.seq, e.type, e.payload) for e in ExecutionEvent.objects.filter(execution=execution).order_by("-seq")[:5]
        ]
        raise AssertionError(f"{exc}; status {execution.status}, turns {turns}, last events {last}") from None


def event_types(execution: PromptExecution) -> list[str]:
    return list(ExecutionEvent.objects.filter(execution=execution).order_by("seq").values_list("type", flat=True))


def assert_timeline_intact(execution: PromptExecution) -> None:
    seqs = list(ExecutionEvent.objects.filter(execution=execution).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    execution.refresh_from_db()
    assert execution.last_event_seq == len(seqs)


__all__ = ["assert_timeline_intact", "event_types", "run", "settings", "wait_status"]
