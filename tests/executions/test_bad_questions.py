"""Bad questions to the built-in model through the API, the worker and the gateway: empty, garbage,
another language, 5,000 characters, a source with no tables, and a column the asker may not see. Each
gets a clear answer or a stable error code, never a 5xx, and nothing of the hidden column."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from datasources import services as datasource_services
from datasources.catalog import catalog_apply
from executions.models import ExecutionStatus, PromptExecution
from governance.models import ColumnMaskPolicy
from tests.executions.conftest import wait_status

pytestmark = pytest.mark.django_db(transaction=True)

SETTLED = (ExecutionStatus.COMPLETED, ExecutionStatus.WAITING_FOR_USER, ExecutionStatus.FAILED)


def _ask(api: Any, tenancy: Any, source: Any, prompt: str) -> Any:
    return api.post("/api/v1/prompts/execute", {"prompt_text": prompt, "workspace_id": str(tenancy.acme.pk),
                    "selected_data_source_ids": [str(source.pk)], "ai_model": "offline"}, format="json")  # fmt: skip


def _settled(api: Any, created: Any) -> dict[str, Any]:
    assert created.status_code == 202, created.content
    wait_status(PromptExecution.objects.get(pk=created.json()["id"]), SETTLED, timeout=90)
    detail = api.get(f"/api/v1/executions/{created.json()['id']}")
    assert detail.status_code == 200
    return dict(detail.json())


def _said(body: dict[str, Any]) -> str:
    """What the person is shown: the answer, an open question and its choices, or the error."""
    asked = [f"{i['question']} {' '.join(i.get('choices') or [])}" for i in body.get("open_interactions") or []]
    error = body.get("error_message") or ""
    return " ".join([(body.get("final_data") or {}).get("answer", ""), *asked, error]).strip()


def test_an_empty_question_is_refused_with_a_stable_code(tenancy, sqlite_source, client_for) -> None:
    response = _ask(client_for(tenancy.ana), tenancy, sqlite_source, "   ")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "prompt_empty"


@pytest.mark.parametrize(
    "prompt",
    ["???", "asdf qwerty zxcv", "¿Cuántos unicornios hay en Francia?",
     "how many invoices are overdue " + "and please also tell me about the weather in Lisbon " * 100],  # 5,230
)  # fmt: skip
def test_garbage_other_languages_and_long_prompts_get_a_clear_answer(
    tenancy, sqlite_source, celery_worker, client_for, prompt
) -> None:
    api = client_for(tenancy.ana)
    body = _settled(api, _ask(api, tenancy, sqlite_source, prompt))
    said = _said(body)
    assert said and "Traceback" not in said
    assert body["status"] in ("completed", "waiting_for_user"), body


def test_a_source_with_no_tables_says_so(tenancy, celery_worker, client_for) -> None:
    folder = Path(settings.DATASOURCE_FILE_ROOTS[1])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"empty-{uuid.uuid4().hex}.sqlite"
    sqlite3.connect(path).close()
    source = datasource_services.datasource_create(workspace=tenancy.acme, name="Empty", kind="sqlite",
                                                   settings={"path": str(path)})  # fmt: skip
    catalog_apply(datasource=source, introspection=datasource_services.connector_for(source).introspect())
    api = client_for(tenancy.alice)
    body = _settled(api, _ask(api, tenancy, source, "how many customers do we have"))
    assert body["status"] == "completed" and "could not" in _said(body)


def test_a_question_about_a_hidden_column_names_nothing_of_it(
    tenancy, sqlite_source, celery_worker, client_for
) -> None:
    ColumnMaskPolicy.objects.create(workspace=tenancy.acme, datasource=sqlite_source, schema_name="main",
                                    name="Hide phones", table_name="crm_contacts", column_name="phone",
                                    strategy="hide", exempt_roles=["owner"])  # fmt: skip
    api = client_for(tenancy.ana)
    body = _settled(api, _ask(api, tenancy, sqlite_source, "list the contacts with their phone"))
    assert body["status"] in ("completed", "waiting_for_user"), body
    sql = (body.get("generated_query_text") or "").lower()
    assert "crm_contacts" in sql and "phone" not in sql, sql
    assert "crm_contacts.phone" not in _said(body)
    execution = PromptExecution.objects.get(pk=body["id"])
    for turn in execution.turns.all():
        for observation in (turn.observations or {}).values():
            data = (observation or {}).get("data") or {}
            assert "crm_contacts" not in str(observation.get("sql", "")) or "phone" not in data.get("columns", [])
