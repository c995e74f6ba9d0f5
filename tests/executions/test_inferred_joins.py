"""The offline model joins along inferred keys as along declared ones: a source declaring no foreign
key answers a question that needs a join, through the worker, the gateway and the engine."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from datasources import services as datasource_services
from datasources.models import InferredKey
from executions.models import ExecutionStatus
from tests.executions.conftest import run, wait_status

pytestmark = pytest.mark.django_db(transaction=True)


def test_total_order_amount_per_customer_name_joins_along_the_inferred_key(
    tenancy: Any, files_root: Path, celery_worker: str
) -> None:
    path = files_root / f"shop-{uuid.uuid4().hex[:8]}.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);"
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, amount NUMERIC(10,2));"
            "INSERT INTO customers VALUES (1, 'Alice'), (2, 'Bob'), (3, 'Charlie');"
            "INSERT INTO orders VALUES (10, 1, 5.5), (11, 1, 4.5), (12, 2, 7), (13, 3, 1);"
        )
    source = datasource_services.datasource_create(
        workspace=tenancy.acme, name="Shop", kind="sqlite", settings={"path": str(path)}
    )
    datasource_services.datasource_introspect(datasource_id=source.pk)
    assert InferredKey.objects.filter(datasource=source, column__name="customer_id").exists()

    execution = run(tenancy.alice, tenancy.acme, "total order amount per customer name",
                    selected_data_source_ids=[source.pk], ai_model="offline")  # fmt: skip
    execution = wait_status(execution, timeout=90)

    assert execution.status == ExecutionStatus.COMPLETED, (execution.error_code, execution.error_message)
    assert "JOIN" in execution.generated_query_text.upper(), execution.generated_query_text
    columns, rows = execution.result_columns or [], execution.result_preview or []
    totals = {row[columns[0]]: row[columns[-1]] for row in rows}
    assert {customer: float(amount) for customer, amount in totals.items()} == {
        "Alice": 10.0,
        "Bob": 7.0,
        "Charlie": 1.0,
    }
