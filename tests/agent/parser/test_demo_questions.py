"""Everyday questions over the demo data, asked through the whole offline model (context from the
permission-aware catalog search, descriptions, asking back) on the SQLite demo source; the rows of
the last query are compared with the rows of a statement written by hand. ``kind`` is what the
development accuracy is counted by.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.agent.parser.test_questions import _compare
from tests.agent.test_offline import Session, finished

pytestmark = pytest.mark.django_db

_RATE = "CASE currency WHEN 'USD' THEN 1.00 WHEN 'EUR' THEN 1.08 WHEN 'GBP' THEN 1.27 END"

# (kind, question, truth on the SQLite demo source, ordered)
CASES: list[tuple[str, str, str, bool]] = [
    ("count", "how many customers do we have", "SELECT count(*) FROM billing_customers", False),
    ("count", "how many invoices are overdue", "SELECT count(*) FROM billing_invoices WHERE status = 'overdue'", False),
    ("count", "how many open tickets are there",
     "SELECT count(*) FROM crm_support_tickets WHERE status = 'open'", False),
    ("count", "how many deals are in negotiation", "SELECT count(*) FROM crm_deals WHERE stage = 'negotiation'", False),
    ("distinct", "how many distinct countries do our customers come from",
     "SELECT count(DISTINCT country) FROM billing_customers", False),
    ("group", "number of tickets by priority",
     "SELECT priority, count(*) FROM crm_support_tickets GROUP BY priority", False),
    ("group", "average deal amount by stage", "SELECT stage, avg(amount) FROM crm_deals GROUP BY stage", False),
    ("group", "number of customers by segment",
     "SELECT segment, count(*) FROM billing_customers GROUP BY segment", False),
    ("group", "total payments by method", "SELECT method, sum(amount) FROM billing_payments GROUP BY method", False),
    ("group", "average satisfaction by priority",
     "SELECT priority, avg(satisfaction) FROM crm_support_tickets GROUP BY priority", False),
    ("group", "number of web events by device", "SELECT device, count(*) FROM web_events GROUP BY device", False),
    ("top", "top 5 companies by number of employees",
     "SELECT name FROM crm_companies ORDER BY employees DESC LIMIT 5", True),
    ("top", "which 5 deals have the highest amount", "SELECT id FROM crm_deals ORDER BY amount DESC LIMIT 5", True),
    ("top", "what is the most recent invoice",
     "SELECT id FROM billing_invoices ORDER BY issued_at DESC LIMIT 1", True),
    ("top", "which customer has the most support tickets",
     "SELECT c.name, count(*) FROM crm_support_tickets t JOIN billing_customers c ON c.id = t.customer_id "
     "GROUP BY c.id, c.name ORDER BY 2 DESC LIMIT 1", True),
    ("top", "top 3 products by seats",
     "SELECT p.sku, sum(s.seats) FROM billing_subscriptions s JOIN billing_products p ON p.id = s.product_id "
     "GROUP BY p.id, p.name ORDER BY 2 DESC LIMIT 3", True),
    ("filter", "deals over 100000", "SELECT id FROM crm_deals WHERE amount > 100000", False),
    ("filter", "list urgent tickets", "SELECT id FROM crm_support_tickets WHERE priority = 'urgent'", False),
    ("filter", "list the Support products and their SKUs",
     "SELECT sku FROM billing_products WHERE category = 'Support'", False),
    ("filter", "invoices that are not paid", "SELECT id FROM billing_invoices WHERE status <> 'paid'", False),
    ("filter", "companies with more than 1000 employees", "SELECT id FROM crm_companies WHERE employees > 1000", False),
    ("filter", "products in the Security category",
     "SELECT id FROM billing_products WHERE category = 'Security'", False),
    ("set", "customers with no support tickets",
     "SELECT id FROM billing_customers WHERE id NOT IN (SELECT customer_id FROM crm_support_tickets)", False),
    ("having", "customers with more than 5 support tickets",
     "SELECT c.name, count(*) FROM crm_support_tickets t JOIN billing_customers c ON c.id = t.customer_id "
     "GROUP BY c.id, c.name HAVING count(*) > 5", False),
    ("per", "average number of tickets per customer",
     "SELECT count(*) * 1.0 / (SELECT count(*) FROM billing_customers) FROM crm_support_tickets", False),
    ("time", "how many invoices were issued last month",
     "SELECT count(*) FROM billing_invoices WHERE issued_at >= '2026-09-01' AND issued_at < '2026-10-01'", False),
    ("time", "how many deals were created this year",
     "SELECT count(*) FROM crm_deals WHERE created_at >= '2026-01-01' AND created_at < '2026-10-02'", False),
    ("time", "how many tickets were opened in Q3 2026",
     "SELECT count(*) FROM crm_support_tickets WHERE opened_at >= '2026-07-01' AND opened_at < '2026-10-01'", False),
    ("bucket", "number of invoices by month this year",
     "SELECT strftime('%Y-%m-01', issued_at), count(*) FROM billing_invoices WHERE issued_at >= '2026-01-01' "
     "AND issued_at < '2026-10-02' GROUP BY 1", False),
    ("ratio", "percentage of invoices that are paid",
     "SELECT 100.0 * sum(CASE WHEN status = 'paid' THEN 1 ELSE 0 END) / count(*) FROM billing_invoices", False),
    ("currency", "total invoice amount by currency",
     "SELECT currency, sum(total_amount) FROM billing_invoices GROUP BY currency", False),
    ("currency", "total invoice amount in EUR",
     "SELECT sum(total_amount) FROM billing_invoices WHERE currency = 'EUR'", False),
    ("currency", "add up the invoice amounts by region",
     "SELECT region, currency, sum(total_amount) FROM billing_invoices GROUP BY region, currency", False),
    ("revenue", "revenue by region last quarter",
     f"SELECT region, sum(total_amount * {_RATE}) FROM billing_invoices WHERE status <> 'void' "
     "AND issued_at >= '2026-07-01' AND issued_at < '2026-10-01' GROUP BY region", False),
]  # fmt: skip


def _rows(source: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    from datasources.queries import query_read

    result = query_read(datasource=source, sql=sql, max_rows=10_000, preview_rows=10_000)
    return list(result.columns), [tuple(row) for row in result.rows]


@pytest.mark.parametrize(("kind", "question", "truth", "ordered"), CASES, ids=[c[1] for c in CASES])
def test_everyday_demo_questions_give_the_rows_of_the_truth(
    tenancy, sqlite_source, kind: str, question: str, truth: str, ordered: bool
) -> None:
    session = Session(tenancy, sqlite_source, question)
    answer = finished(session.run())["answer"]
    assert session.queries, answer
    columns, got = _rows(sqlite_source, session.queries[-1])
    _, expected = _rows(sqlite_source, truth)
    assert _compare(got, columns, expected, ordered), (session.queries[-1], got[:5], expected[:5])


def test_a_question_outside_the_data_is_refused_with_what_it_holds(tenancy, sqlite_source) -> None:
    session = Session(tenancy, sqlite_source, "how many unicorns do our customers own")
    answer = finished(session.run())["answer"]
    assert session.queries == []
    assert "could not" in answer and "The tables I can see hold" in answer and "billing_customers" in answer


def test_a_question_the_catalog_knows_nothing_of_names_the_sources(tenancy, sqlite_source) -> None:
    session = Session(tenancy, sqlite_source, "what is the weather in Paris tomorrow")
    answer = finished(session.run())["answer"]
    assert session.queries == []
    assert "could not" in answer and "Acme SQLite" in answer
