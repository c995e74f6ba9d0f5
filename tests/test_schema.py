"""Property-based conformance of the whole API with its OpenAPI document (schemathesis).

Every operation of ``/api/schema/`` is called with generated requests (valid and invalid ones),
as Alice, the owner of Acme's workspace, through the Django WSGI application in this process and
on the test database. Each answer must not be a 500, must have a documented status code and
content type, and must match the documented body (a documented 502 or 504, a data source that is
down or slow, is an answer, not a server error).

Path ids (and a ``workspace_id`` in a query or a body) are swapped for ids of real objects of
Alice's workspace (a prompt, an execution, a data source, the workspace), so the generated bodies
and queries reach real code rather than stopping at a 404; garbage and foreign ids are covered by
each app's own tests. Nothing here starts long work: the test runs in a transaction that is rolled
back, so the work an endpoint enqueues on commit (turn tasks, schema refreshes) never reaches the
broker. The event feed is asked for JSON, not SSE (a stream stays open until its time limit).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, Phase, settings
from schemathesis.core.failures import ServerError
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from executions.services import ExecuteRequest, execution_create
from prompts.services import prompt_create
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@schemathesis.check
def not_a_500(ctx: Any, response: Any, case: Any) -> None:
    """No internal error; other 5xx must be documented (status_code_conformance says so)."""
    if response.status_code == 500:
        raise ServerError(operation=case.operation.label, status_code=response.status_code)


CHECKS = [not_a_500, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def same_connection() -> Iterator[None]:
    """Django closes "obsolete" connections around each request; inside the test's transaction that
    would abort it, so the WSGI app keeps the test's connection (as django.test.Client does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def world(tenancy: Any, sqlite_source: Any) -> dict[str, Any]:
    """Alice's token and real ids of her workspace, by path parameter name."""
    response = Client().post(
        "/api/v1/auth/token/",
        {"username": "alice", "password": PASSWORD, "workspace_id": str(tenancy.acme.pk)},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    prompt = prompt_create(workspace=tenancy.acme, created_by=tenancy.alice, prompt_text="How many customers?",
                           saved=True, title="Customers")  # fmt: skip
    execution = execution_create(
        user=tenancy.alice, request=ExecuteRequest(prompt_text="How many customers?", workspace_id=tenancy.acme.pk)
    )
    return {
        "headers": {"Authorization": f"Bearer {response.json()['access']}"},
        "ids": {
            "workspace_id": str(tenancy.acme.pk),
            "prompt_id": str(prompt.pk),
            "execution_id": str(execution.pk),
            "datasource_id": str(sqlite_source.pk),
        },
    }


# Loaded when the module is collected (the schema view reads no database). The lazy loader,
# schemathesis.pytest.from_fixture, does not work with pytest 9 (it sets the removed Node._nodeid).
schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler())


@schema.parametrize()
@settings(
    max_examples=12,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failing example is reported as is
)
def test_the_api_keeps_its_documented_contract(case: Any, world: dict[str, Any], same_connection: None) -> None:
    for name in case.path_parameters or {}:
        if name in world["ids"]:
            case.path_parameters[name] = world["ids"][name]
    for part in (case.query, case.body):
        # A workspace in a query or a body is Alice's too, so creates and filters reach real work.
        if isinstance(part, dict) and "workspace_id" in part:
            part["workspace_id"] = world["ids"]["workspace_id"]
    if case.operation.path.endswith("/events"):
        # The event stream (SSE) stays open until its time limit, by design; the JSON form of the
        # feed answers at once with the same events.
        case.query = {**(case.query or {}), "format": "json"}
    case.call_and_validate(headers=world["headers"], checks=CHECKS)
