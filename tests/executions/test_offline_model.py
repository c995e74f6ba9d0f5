"""With no model key, the built-in offline model answers the demo questions end to end: through the
worker, the gateway and the demo PostgreSQL source (``ai_model="offline"`` is what a deployment
without a key falls back to)."""

from __future__ import annotations

import pytest

from executions import services
from executions.models import ExecutionStatus, Interaction
from tests.executions.conftest import assert_timeline_intact, run, wait_status

pytestmark = pytest.mark.django_db(transaction=True)


def ask(tenancy, source, prompt):
    execution = run(tenancy.alice, tenancy.acme, prompt, selected_data_source_ids=[source.pk], ai_model="offline")
    return wait_status(execution, timeout=90)


@pytest.mark.parametrize(
    ("prompt", "expected_words", "rows"),
    [
        ("list billing tables", ["billing.invoices", "billing.customers"], None),
        ("how many customers do we have", ["2,000"], 1),
        ("top 10 customers by revenue", ["Top 10 customers"], 10),
        ("revenue by region last quarter", ["region"], None),
        ("describe the invoices table", ["total_amount", "status"], None),
    ],
)
def test_the_offline_model_answers_the_demo_questions(
    tenancy, postgres_demo_source, celery_worker, prompt, expected_words, rows
) -> None:
    execution = ask(tenancy, postgres_demo_source, prompt)

    assert execution.status == ExecutionStatus.COMPLETED, (execution.error_code, execution.error_message)
    answer = (execution.final_data or {}).get("answer", "")
    for word in expected_words:
        assert word in answer, answer
    if rows is not None:
        assert execution.rows_returned == rows
    assert execution.ai_metadata["provider"] == "offline" and execution.ai_metadata["cost_usd"] == 0
    assert_timeline_intact(execution)


def test_the_offline_model_asks_when_the_question_is_ambiguous(tenancy, postgres_demo_source, celery_worker) -> None:
    execution = run(tenancy.alice, tenancy.acme, "how many clients do we have",
                    selected_data_source_ids=[postgres_demo_source.pk], ai_model="offline")  # fmt: skip
    execution = wait_status(execution, ExecutionStatus.WAITING_FOR_USER, timeout=90)
    question = Interaction.objects.get(execution=execution)
    assert "billing.customers" in question.choices

    services.interaction_answer(user=tenancy.alice, execution=execution, interaction_id=question.pk,
                                text="billing.customers")  # fmt: skip

    execution = wait_status(execution, timeout=90)
    assert execution.status == ExecutionStatus.COMPLETED
    assert "2,000" in (execution.final_data or {}).get("answer", "")
