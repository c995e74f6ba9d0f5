"""``semantic.adapt``: when a question is a paraphrase of a verified one, and the SQL it then gets."""

from __future__ import annotations

from datetime import date

import pytest

from semantic.adapt import adapt, best_adaptation, glossary_matches, period_of

TODAY = date(2026, 12, 7)

REVENUE_BY_REGION = {
    "question": "Total revenue by region in 2025",
    "sql": "SELECT region, SUM(total_amount) AS revenue FROM billing.invoices WHERE status = 'paid' "
    "AND issued_at >= '2025-01-01' AND issued_at < '2026-01-01' GROUP BY region",
}
TOP_CUSTOMERS = {
    "question": "Top 10 customers by revenue in EMEA",
    "sql": "SELECT c.name, SUM(i.total_amount) AS revenue FROM billing.customers c "
    "JOIN billing.accounts a ON a.customer_id = c.id JOIN billing.invoices i ON i.account_id = a.id "
    "WHERE c.region = 'EMEA' GROUP BY c.name ORDER BY revenue DESC LIMIT 10",
}
INVOICES_OF = {
    "question": "Invoices of customer 'Acme Corp' since 2024-03-01",
    "sql": "SELECT i.* FROM billing.invoices i JOIN billing.accounts a ON a.id = i.account_id "
    "JOIN billing.customers c ON c.id = a.customer_id WHERE c.name LIKE '%Acme Corp%' AND i.issued_at >= '2024-03-01'",
}


def adapted(question: str, verified: dict[str, str]) -> str | None:
    found = adapt(question, verified, dialect="postgres", today=TODAY)
    return found.sql if found is not None else None


def test_the_same_question_gets_the_same_query() -> None:
    assert adapted("Total revenue by region in 2025", REVENUE_BY_REGION) == (
        "SELECT region, SUM(total_amount) AS revenue FROM billing.invoices WHERE status = 'paid' "
        "AND issued_at >= '2025-01-01' AND issued_at < '2026-01-01' GROUP BY region"
    )


def test_a_paraphrase_with_another_number_replaces_the_limit() -> None:
    sql = adapted("the top 5 customers by revenue in EMEA?", TOP_CUSTOMERS)
    assert sql is not None and sql.endswith("ORDER BY revenue DESC LIMIT 5")
    assert "c.region = 'EMEA'" in sql


@pytest.mark.parametrize(
    ("question", "start", "end"),
    [
        ("What is the total revenue per region for 2023?", "2023-01-01", "2024-01-01"),
        ("total revenue by region in Q1 2024", "2024-01-01", "2024-04-01"),
        ("Total revenue by region in March 2026", "2026-03-01", "2026-04-01"),
        ("total revenue by region last quarter", "2026-07-01", "2026-10-01"),
        ("total revenue by region this year", "2026-01-01", "2027-01-01"),
    ],
)
def test_a_paraphrase_with_another_period_replaces_both_bounds(question: str, start: str, end: str) -> None:
    sql = adapted(question, REVENUE_BY_REGION)
    assert sql == (
        "SELECT region, SUM(total_amount) AS revenue FROM billing.invoices WHERE status = 'paid' "
        f"AND issued_at >= '{start}' AND issued_at < '{end}' GROUP BY region"
    )


def test_a_paraphrase_with_another_value_replaces_the_literal() -> None:
    sql = adapted("Top 10 customers by revenue in APAC", TOP_CUSTOMERS)
    assert sql is not None and "c.region = 'APAC'" in sql and "EMEA" not in sql


def test_quoted_names_and_dates_in_words_are_slots_too() -> None:
    sql = adapted('invoices of customer "Globex" since 5 June 2025', INVOICES_OF)
    assert sql is not None
    assert "c.name LIKE '%Globex%'" in sql and "i.issued_at >= '2025-06-05'" in sql


@pytest.mark.parametrize(
    "question",
    [
        "number of customers by region in 2025",  # another measure
        "Top 10 products by revenue in EMEA",  # another subject
        "total revenue by region",  # no period where the verified one has one
        "total revenue by region in 2024 and 2025",  # two periods for one
        "drop the invoices table",
    ],
)
def test_a_different_question_does_not_match(question: str) -> None:
    assert adapted(question, REVENUE_BY_REGION if "region" in question else TOP_CUSTOMERS) is None


def test_a_slot_the_sql_does_not_take_must_stay_the_same() -> None:
    # "10" is in the question but the SQL takes no such literal: "top 5" would need another query.
    verified = {"question": "top 10 customers", "sql": "SELECT name FROM billing.customers ORDER BY name"}
    assert adapted("top 10 customers", verified) is not None
    assert adapted("top 5 customers", verified) is None


def test_unparsable_sql_adapts_to_nothing() -> None:
    assert adapted("top 5 customers", {"question": "top 10 customers", "sql": "SELEC nonsense LIMIT 10"}) is None


def test_relative_periods_of_the_verified_question_are_read_from_the_day_it_was_verified() -> None:
    verified = {
        "question": "revenue last month",
        "sql": "SELECT SUM(total_amount) FROM billing.invoices "
        "WHERE issued_at >= '2026-05-01' AND issued_at < '2026-06-01'",
        "verified_on": "2026-06-15",
        "datasource_id": "ds",
    }
    found = best_adaptation("revenue last month", [verified], dialects={"ds": "postgres"}, today=TODAY)
    assert found is not None
    assert found.sql.endswith("issued_at >= '2026-11-01' AND issued_at < '2026-12-01'")


def test_the_best_of_several_verified_queries_wins_and_unknown_sources_are_skipped() -> None:
    queries = [
        {**TOP_CUSTOMERS, "datasource_id": "gone"},
        {**REVENUE_BY_REGION, "datasource_id": "ds"},
    ]
    found = best_adaptation("Top 3 customers by revenue in NA", queries, dialects={"ds": "postgres"}, today=TODAY)
    assert found is None
    found = best_adaptation("total revenue by region in 2024", queries, dialects={"ds": "postgres"}, today=TODAY)
    assert found is not None and found.verified["datasource_id"] == "ds"


def test_periods() -> None:
    assert period_of("last 7 days", TODAY) == period_of("past 7 days", TODAY)
    assert period_of("last week", TODAY).start == date(2026, 11, 30)  # type: ignore[union-attr]
    assert period_of("yesterday", TODAY).start == date(2026, 12, 6)  # type: ignore[union-attr]


def test_glossary_terms_are_found_by_term_or_synonym_longest_first() -> None:
    terms = [
        {"term": "revenue", "synonyms": ["sales"], "sql": "SUM(total_amount)"},
        {"term": "net revenue", "synonyms": [], "sql": "SUM(total_amount) - SUM(refunds)"},
        {"term": "active customer", "synonyms": ["live accounts"], "sql": "status = 'active'"},
        {"term": "churn", "synonyms": [], "sql": "..."},
    ]
    found = glossary_matches("Net revenue and sales of active customers per region", terms)
    assert [t["term"] for t in found] == ["net revenue", "active customer", "revenue"]
    assert glossary_matches("how many live accounts", terms) == [terms[2]]
    assert glossary_matches("list tables", terms) == []


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "SELECT COUNT(*) FROM billing.invoices WHERE EXTRACT(YEAR FROM issued_at) = 2025",
            "SELECT COUNT(*) FROM billing.invoices WHERE EXTRACT(YEAR FROM issued_at) = 2023",
        ),
        (
            "SELECT COUNT(*) FROM billing.invoices WHERE issued_at BETWEEN '2025-01-01' AND '2025-12-31'",
            "SELECT COUNT(*) FROM billing.invoices WHERE issued_at BETWEEN '2023-01-01' AND '2023-12-31'",
        ),
    ],
)
def test_a_year_is_replaced_whether_the_sql_names_it_or_its_bounds(sql: str, expected: str) -> None:
    assert adapted("number of invoices in 2023", {"question": "number of invoices in 2025", "sql": sql}) == expected
