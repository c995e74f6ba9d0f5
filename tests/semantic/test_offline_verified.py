"""End to end: the built-in offline model answers a paraphrase of a verified query with the verified
SQL adapted to the question, through the real worker, the gateway and the demo PostgreSQL source."""

from __future__ import annotations

import pytest

from executions.models import ExecutionStatus, Turn
from semantic.models import VerifiedQueryOrigin
from semantic.services import verified_query_create
from tests.executions.conftest import assert_timeline_intact, run, wait_status

pytestmark = pytest.mark.django_db(transaction=True)

VERIFIED_SQL = (
    "SELECT region, COUNT(*) AS invoices FROM billing.invoices "
    "WHERE issued_at >= '2025-01-01' AND issued_at < '2026-01-01' GROUP BY region ORDER BY region"
)


def queries_run(execution) -> list[str]:
    return [
        call["arguments"]["sql"]
        for reply in Turn.objects.filter(execution=execution).order_by("index").values_list("reply", flat=True)
        for call in (reply or {}).get("tool_calls") or []
        if call["name"] == "run_query"
    ]


def test_a_paraphrase_of_a_verified_query_runs_its_adapted_sql(tenancy, postgres_demo_source, celery_worker) -> None:
    verified_query_create(
        user=tenancy.alice,
        datasource=postgres_demo_source,
        question="How many invoices per region in 2025",
        sql=VERIFIED_SQL,
        origin=VerifiedQueryOrigin.API,
    )

    execution = run(tenancy.ana, tenancy.acme, "how many invoices are there per region for 2024?",
                    selected_data_source_ids=[postgres_demo_source.pk], ai_model="offline")  # fmt: skip
    execution = wait_status(execution, timeout=90)

    assert execution.status == ExecutionStatus.COMPLETED, (execution.error_code, execution.error_message)
    assert queries_run(execution) == [
        "SELECT region, COUNT(*) AS invoices FROM billing.invoices "
        "WHERE issued_at >= '2024-01-01' AND issued_at < '2025-01-01' GROUP BY region ORDER BY region"
    ]
    answer = (execution.final_data or {}).get("answer", "")
    assert "verified query" in answer and "region" in answer, answer
    assert execution.rows_returned and execution.rows_returned > 1
    assert_timeline_intact(execution)
