"""Full results: the answer shows the first rows, the execution and its downloads hold every row of
the query up to the row cap (QUERY_MAX_ROWS), say when the cap was reached, and hold the row filters
and masks of whoever downloads. Through the real worker and the scripted model, so the SQL is
exactly what the test writes (no LIMIT)."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.conf import settings
from django.test import Client

from executions.models import ExecutionStatus, PromptExecution
from governance.models import ColumnMaskPolicy, RowFilterPolicy
from tests.executions.conftest import run, wait_status
from tests.fakes.openai_server import reply, tool_call

pytestmark = pytest.mark.django_db(transaction=True)


def answered(scripted_model: Any, marker: str, user: Any, tenancy: Any, source: Any, sql: str) -> PromptExecution:
    scripted_model.script(marker, [
        reply(tool_calls=[tool_call("classify_intent", {"intent": "DATA_QUERY", "confidence": 0.9, "reason": "t"})]),
        reply(tool_calls=[tool_call("run_query", {"datasource_id": str(source.pk), "sql": sql})]),
        reply(tool_calls=[tool_call("finish", {"answer": "Here they are.", "confidence": 0.8})]),
    ])  # fmt: skip
    execution = run(user, tenancy.acme, f"list them {marker}", selected_data_source_ids=[source.pk])
    execution = wait_status(execution, timeout=90)
    assert execution.status == ExecutionStatus.COMPLETED, (execution.error_code, execution.error_message)
    return execution


def download(client: Any, execution: PromptExecution, fmt: str = "csv") -> tuple[Any, bytes]:
    response = client.get(f"/api/v1/executions/{execution.pk}/result.{fmt}")
    assert response.status_code == 200, response.content
    return response, b"".join(response.streaming_content)


def csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode())))


def test_a_listing_of_120_rows_holds_all_120_everywhere_but_the_preview(
    tenancy, sqlite_source, scripted_model, celery_worker, marker, client_for
) -> None:
    execution = answered(scripted_model, marker, tenancy.alice, tenancy, sqlite_source,
                         "SELECT id, name FROM billing_customers WHERE id <= 120 ORDER BY id")  # fmt: skip

    assert (execution.rows_returned, execution.result_truncated) == (120, False)
    assert len(execution.result_preview or []) == min(120, settings.QUERY_PREVIEW_ROWS)
    api = client_for(tenancy.alice)
    detail = api.get(f"/api/v1/executions/{execution.pk}").json()
    assert (detail["rows_returned"], detail["result_truncated"]) == (120, False)

    response, body = download(api, execution)
    rows = csv_rows(body)
    assert rows[0] == ["id", "name"] and [int(row[0]) for row in rows[1:]] == list(range(1, 121))
    assert (response["X-Result-Rows"], response["X-Result-Truncated"]) == ("120", "false")
    _, parquet = download(api, execution, "parquet")
    assert pq.read_table(io.BytesIO(parquet)).num_rows == 120

    # The page's table starts from the preview and says how many rows there are, with the downloads.
    page = Client()
    page.force_login(tenancy.alice)
    html = page.get(f"/executions/{execution.pk}/").content.decode()
    found = re.search(r'<script id="execution-state" type="application/json">(.*?)</script>', html)
    assert found is not None
    state = json.loads(found[1])
    assert (state["rows_returned"], state["truncated"], len(state["rows"])) == (120, False, settings.QUERY_PREVIEW_ROWS)
    assert f"/api/v1/executions/{execution.pk}/result.csv" in html


def test_a_result_past_the_row_cap_says_it_was_capped(
    tenancy, sqlite_source, scripted_model, celery_worker, marker, client_for
) -> None:
    # 20,000 invoices, the cap is QUERY_MAX_ROWS (10,000).
    execution = answered(scripted_model, marker, tenancy.alice, tenancy, sqlite_source,
                         "SELECT id FROM billing_invoices ORDER BY id")  # fmt: skip

    assert (execution.rows_returned, execution.result_truncated) == (settings.QUERY_MAX_ROWS, True)
    api = client_for(tenancy.alice)
    assert api.get(f"/api/v1/executions/{execution.pk}").json()["result_truncated"] is True
    response, body = download(api, execution)
    assert len(csv_rows(body)) == settings.QUERY_MAX_ROWS + 1
    assert response["X-Result-Truncated"] == "true"
    assert response["X-Result-Rows"] == response["X-Result-Row-Cap"] == str(settings.QUERY_MAX_ROWS)


def test_row_filters_and_masks_hold_in_the_whole_download(
    tenancy, sqlite_source, scripted_model, celery_worker, marker, client_for
) -> None:
    """Ana, an EMEA analyst, sees EMEA customers only and their e-mails redacted: in every one of the
    590 rows of her download, not only in the first ones the answer shows."""
    RowFilterPolicy.objects.create(workspace=tenancy.acme, datasource=sqlite_source, name="Own region",
                                   schema_name="main", table_name="billing_customers",
                                   predicate="region = {{ user.region }}", roles=["analyst"])  # fmt: skip
    ColumnMaskPolicy.objects.create(workspace=tenancy.acme, datasource=sqlite_source, name="No e-mails",
                                    schema_name="main", table_name="billing_customers", column_name="email",
                                    strategy="redact", exempt_roles=["owner"])  # fmt: skip
    execution = answered(scripted_model, marker, tenancy.ana, tenancy, sqlite_source,
                         "SELECT id, email, region FROM billing_customers ORDER BY id")  # fmt: skip
    assert (execution.rows_returned, execution.result_truncated) == (590, False)

    _, body = download(client_for(tenancy.ana), execution)
    rows = csv_rows(body)[1:]
    assert len(rows) == 590
    assert {row[2] for row in rows} == {"EMEA"}
    assert not any("@" in row[1] for row in rows)
