"""The parser's development set over an invented schema: each question is compiled and run on a
real engine (DuckDB with a ``sales`` schema, SQLite with none), and its rows are compared with the
rows of a statement written by hand. Cases are kinds of question, not single sentences; the
``kind`` column is what the accuracy figures are counted by.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from agent.offline.parser import Statement, plan
from tests.agent.parser.schemas import ATHLETICS, CRM, HELPDESK, RESTAURANTS, SHOP, TODAY, WEBLOG, knowledge_of, load

# (kind, question, truth with {s} for the schema prefix, ordered)
CASES: list[tuple[str, str, str, bool]] = [
    ("count", "how many customers are there", "SELECT count(*) FROM {s}customers", False),
    ("count", "how many orders were shipped?", "SELECT count(*) FROM {s}orders WHERE status = 'shipped'", False),
    ("count", "number of customers in FR", "SELECT count(*) FROM {s}customers WHERE country = 'FR'", False),
    ("distinct", "how many different countries do customers come from",
     "SELECT count(DISTINCT country) FROM {s}customers", False),
    ("distinct", "how many distinct customers placed orders",
     "SELECT count(DISTINCT customerid) FROM {s}orders", False),
    ("distinct", "which currencies do customers pay in", "SELECT DISTINCT currency FROM {s}orders", False),
    ("distinct", "what categories do we sell", "SELECT DISTINCT category FROM {s}products", False),
    ("group", "number of orders by status", "SELECT status, count(*) FROM {s}orders GROUP BY status", False),
    ("group", "average unit price by category",
     "SELECT category, avg(unitprice) FROM {s}products GROUP BY category", False),
    ("group", "total amount of order items by product category",
     'SELECT p.category, sum(i.amount) FROM {s}"order-items" i JOIN {s}products p ON p.productid = i.productid '
     "GROUP BY p.category", False),
    ("group", "number of orders per customer country",
     "SELECT c.country, count(*) FROM {s}orders o JOIN {s}customers c ON c.customerid = o.customerid "
     "GROUP BY c.country", False),
    ("group", "total order total by customer country sorted by total descending",
     "SELECT c.country, sum(o.total) AS t FROM {s}orders o JOIN {s}customers c ON c.customerid = o.customerid "
     "GROUP BY c.country ORDER BY t DESC", False),
    ("group", "orders per customer id",
     "SELECT customerid, count(*) FROM {s}orders GROUP BY customerid", False),
    ("currency", "sum of order total", "SELECT currency, sum(total) FROM {s}orders GROUP BY currency", False),
    ("currency", "sum of order total in USD", "SELECT sum(total) FROM {s}orders WHERE currency = 'USD'", False),
    ("top", "top 2 customers by order total",
     "SELECT c.fullname, o.currency, sum(o.total) AS s FROM {s}orders o JOIN {s}customers c "
     "ON c.customerid = o.customerid GROUP BY c.customerid, c.fullname, o.currency ORDER BY s DESC LIMIT 2", True),
    ("top", "which 3 products have the highest unit price",
     "SELECT productname FROM {s}products ORDER BY unitprice DESC LIMIT 3", True),
    ("top", "the 2 cheapest products", "SELECT productname FROM {s}products ORDER BY unitprice LIMIT 2", True),
    ("top", "which 2 orders are the largest", "SELECT orderid FROM {s}orders ORDER BY total DESC LIMIT 2", True),
    ("top", "the 3 smallest orders", "SELECT orderid FROM {s}orders ORDER BY total LIMIT 3", True),
    ("top", "biggest single order ever placed in USD",
     "SELECT orderid FROM {s}orders WHERE currency = 'USD' ORDER BY total DESC LIMIT 1", True),
    ("top", "what are the 2 most expensive products",
     "SELECT productname FROM {s}products ORDER BY unitprice DESC LIMIT 2", True),
    ("top", "the newest customer", "SELECT fullname FROM {s}customers ORDER BY signupdate DESC LIMIT 1", True),
    ("top", "what is the most recent order", "SELECT orderid FROM {s}orders ORDER BY orderdate DESC LIMIT 1", True),
    ("top", "which customer has the most orders",
     "SELECT c.fullname, count(*) FROM {s}orders o JOIN {s}customers c ON c.customerid = o.customerid "
     "GROUP BY c.customerid, c.fullname ORDER BY 2 DESC LIMIT 1", True),
    ("top", "which product sold the most units",
     'SELECT p.productname, sum(i.quantity) AS q FROM {s}"order-items" i JOIN {s}products p '
     "ON p.productid = i.productid GROUP BY p.productid, p.productname ORDER BY q DESC LIMIT 1", True),
    ("top", "top 3 products by quantity sold",
     'SELECT p.productname, sum(i.quantity) AS q FROM {s}"order-items" i JOIN {s}products p '
     "ON p.productid = i.productid GROUP BY p.productid, p.productname ORDER BY q DESC LIMIT 3", True),
    ("order", "list products sorted by unit price", "SELECT productname FROM {s}products ORDER BY unitprice", True),
    ("order", "show customers ordered by signup date descending",
     "SELECT fullname FROM {s}customers ORDER BY signupdate DESC", True),
    ("order", "list all products from most expensive to cheapest",
     "SELECT productname FROM {s}products ORDER BY unitprice DESC", True),
    ("order", "show the orders from highest to lowest total", "SELECT orderid FROM {s}orders ORDER BY total DESC",
     True),
    ("order", "list the customers ordered alphabetically", "SELECT fullname FROM {s}customers ORDER BY fullname",
     True),
    ("order", "products in reverse alphabetical order",
     "SELECT productname FROM {s}products ORDER BY productname DESC", True),
    ("order", "average unit price by category sorted by unit price descending",
     "SELECT category, avg(unitprice) AS a FROM {s}products GROUP BY category ORDER BY a DESC", True),
    ("filter", "orders with a total over 100", "SELECT orderid FROM {s}orders WHERE total > 100", False),
    # Dollars, where the orders say their currency: the amounts in US dollars.
    ("filter", "orders worth more than 60 dollars",
     "SELECT orderid FROM {s}orders WHERE total > 60 AND currency = 'USD'", False),
    ("filter", "orders worth more than 60", "SELECT orderid FROM {s}orders WHERE total > 60", False),
    ("filter", "orders over 0.1k", "SELECT orderid FROM {s}orders WHERE total > 100", False),
    ("filter", "products that cost more than 100", "SELECT productid FROM {s}products WHERE unitprice > 100", False),
    ("filter", "shipped orders over 1,000 in any currency",
     "SELECT orderid FROM {s}orders WHERE total > 1000 AND status = 'shipped'", False),
    ("filter", "products priced under 0.05k", "SELECT productid FROM {s}products WHERE unitprice < 50", False),
    ("filter", "products with unit price between 50 and 150",
     "SELECT productid FROM {s}products WHERE unitprice BETWEEN 50 AND 150", False),
    ("filter", "orders that are not shipped", "SELECT orderid FROM {s}orders WHERE status <> 'shipped'", False),
    ("filter", "list cancelled orders", "SELECT orderid FROM {s}orders WHERE status = 'cancelled'", False),
    ("filter", "customers named 'Lee'", "SELECT customerid FROM {s}customers WHERE fullname LIKE '%Lee%'", False),
    ("set", "customers with no orders",
     "SELECT customerid FROM {s}customers WHERE customerid NOT IN (SELECT customerid FROM {s}orders)", False),
    ("flag", "how many products are discontinued", "SELECT count(*) FROM {s}products WHERE is_discontinued", False),
    ("flag", "products that are not discontinued",
     "SELECT productid FROM {s}products WHERE NOT is_discontinued", False),
    ("flag", "average unit price of non-discontinued office products",
     "SELECT avg(unitprice) FROM {s}products WHERE NOT is_discontinued AND category = 'office'", False),
    ("set", "how many customers have never ordered",
     "SELECT count(*) FROM {s}customers WHERE customerid NOT IN (SELECT customerid FROM {s}orders)", False),
    ("set", "customers who have a cancelled order",
     "SELECT customerid FROM {s}customers WHERE customerid IN "
     "(SELECT customerid FROM {s}orders WHERE status = 'cancelled')", False),
    ("set", "how many customers placed an order but never had one cancelled",
     "SELECT count(*) FROM {s}customers WHERE customerid IN (SELECT customerid FROM {s}orders) "
     "AND customerid NOT IN (SELECT customerid FROM {s}orders WHERE status = 'cancelled')", False),
    ("set", "customers with a pending order and a shipped order",
     "SELECT customerid FROM {s}customers WHERE customerid IN (SELECT customerid FROM {s}orders "
     "WHERE status = 'pending') AND customerid IN (SELECT customerid FROM {s}orders WHERE status = 'shipped')",
     False),
    ("set", "products that were never ordered",
     'SELECT productid FROM {s}products WHERE productid NOT IN (SELECT productid FROM {s}"order-items")', False),
    ("having", "customers with more than 1 order",
     "SELECT c.fullname, count(*) FROM {s}orders o JOIN {s}customers c ON c.customerid = o.customerid "
     "GROUP BY c.customerid, c.fullname HAVING count(*) > 1", False),
    ("having", "customers that have at least 2 orders",
     "SELECT c.fullname, count(*) FROM {s}orders o JOIN {s}customers c ON c.customerid = o.customerid "
     "GROUP BY c.customerid, c.fullname HAVING count(*) >= 2", False),
    ("having", "products that appear on more than 1 order item",
     'SELECT p.productname, count(*) FROM {s}"order-items" i JOIN {s}products p ON p.productid = i.productid '
     "GROUP BY p.productid, p.productname HAVING count(*) > 1", False),
    ("having", "which countries have more than 1 customer",
     "SELECT country, count(*) FROM {s}customers GROUP BY country HAVING count(*) > 1", False),
    ("having", "countries with at least 2 customers",
     "SELECT country, count(*) FROM {s}customers GROUP BY country HAVING count(*) >= 2", False),
    ("having", "which categories have over 2 products",
     "SELECT category, count(*) FROM {s}products GROUP BY category HAVING count(*) > 2", False),
    ("having", "which statuses have fewer than 2 orders",
     "SELECT status, count(*) FROM {s}orders GROUP BY status HAVING count(*) < 2", False),
    ("having", "which statuses have orders worth more than 400 dollars in total",
     "SELECT status, sum(total) FROM {s}orders GROUP BY status HAVING sum(total) > 400", False),
    ("having", "customers whose orders total more than 300",
     "SELECT c.fullname, sum(o.total) FROM {s}orders o JOIN {s}customers c ON c.customerid = o.customerid "
     "GROUP BY c.customerid, c.fullname HAVING sum(o.total) > 300", False),
    ("having", "which customers spent more than 300 dollars in total",
     "SELECT c.fullname, sum(o.total) FROM {s}orders o JOIN {s}customers c ON c.customerid = o.customerid "
     "GROUP BY c.customerid, c.fullname HAVING sum(o.total) > 300", False),
    ("having", "order statuses used more than 2 times",
     "SELECT status, count(*) FROM {s}orders GROUP BY status HAVING count(*) > 2", False),
    ("top", "the 2 orders that earned the most", "SELECT orderid FROM {s}orders ORDER BY total DESC LIMIT 2", True),
    ("distinct", "how many different customers have placed an order",
     "SELECT count(DISTINCT customerid) FROM {s}orders", False),
    ("distinct", "how many unique customers have events", "SELECT count(DISTINCT customerid) FROM {s}events", False),
    ("distinct", "which countries do customers come from", "SELECT DISTINCT country FROM {s}customers", False),
    ("distinct", "list the distinct product categories", "SELECT DISTINCT category FROM {s}products", False),
    ("distinct", "what categories do products come in", "SELECT DISTINCT category FROM {s}products", False),
    ("distinct", "what currencies are orders paid in", "SELECT DISTINCT currency FROM {s}orders", False),
    ("distinct", "which statuses do shipped or pending orders have",
     "SELECT DISTINCT status FROM {s}orders WHERE status IN ('shipped', 'pending')", False),
    ("top", "which 2 countries have the most customers",
     "SELECT country, count(*) c FROM {s}customers GROUP BY country ORDER BY c DESC, country LIMIT 2", False),
    ("top", "which category has the most products",
     "SELECT category, count(*) c FROM {s}products GROUP BY category ORDER BY c DESC LIMIT 1", True),
    ("top", "top 1 status by number of orders",
     "SELECT status, count(*) c FROM {s}orders GROUP BY status ORDER BY c DESC LIMIT 1", True),
    ("top", "which country has the fewest customers",
     "SELECT country, count(*) c FROM {s}customers GROUP BY country ORDER BY c LIMIT 1", True),
    ("having", "how many customers have more than 2 orders",
     "SELECT count(*) FROM (SELECT customerid FROM {s}orders GROUP BY customerid HAVING count(*) > 2) t", False),
    ("per", "average number of orders per customer",
     "SELECT count(*) * 1.0 / (SELECT count(*) FROM {s}customers) FROM {s}orders", False),
    ("time", "how many orders in the last 3 months",
     "SELECT count(*) FROM {s}orders WHERE orderdate >= '2026-07-01'", False),
    ("time", "orders this year", "SELECT orderid FROM {s}orders WHERE orderdate >= '2026-01-01'", False),
    ("time", "how many customers signed up in 2025",
     "SELECT count(*) FROM {s}customers WHERE signupdate < '2026-01-01'", False),
    ("time", "number of orders since March", "SELECT count(*) FROM {s}orders WHERE orderdate >= '2026-03-01'", False),
    ("time", "orders between 2026-01-01 and 2026-06-30",
     "SELECT orderid FROM {s}orders WHERE orderdate BETWEEN '2026-01-01' AND '2026-06-30'", False),
    ("time", "how many orders last month", "SELECT count(*) FROM {s}orders WHERE orderdate >= '2026-09-01'", False),
    ("time", "how many orders in the first half of 2026",
     "SELECT count(*) FROM {s}orders WHERE orderdate >= '2026-01-01' AND orderdate < '2026-07-01'", False),
    ("time", "number of orders in the third quarter of 2026",
     "SELECT count(*) FROM {s}orders WHERE orderdate >= '2026-07-01' AND orderdate < '2026-10-01'", False),
    ("time", "how many orders from December 2025 to February 2026",
     "SELECT count(*) FROM {s}orders WHERE orderdate >= '2025-12-01' AND orderdate < '2026-03-01'", False),
    ("bucket", "number of orders by month this year",
     "SELECT date_trunc('month', orderdate) m, count(*) FROM {s}orders WHERE orderdate >= '2026-01-01' "
     "GROUP BY m", False),
    ("bucket", "number of orders per quarter",
     "SELECT date_trunc('quarter', orderdate) q, count(*) FROM {s}orders GROUP BY q", False),
    ("epoch", "how many events in the last 7 days",
     "SELECT count(*) FROM {s}events WHERE event_time >= {epoch_0925}", False),
    ("epoch", "number of events per year",
     "SELECT strftime(CAST(to_timestamp(event_time) AS DATE), '%Y') y, count(*) FROM {s}events GROUP BY y", False),
    ("ratio", "percentage of orders that are shipped",
     "SELECT 100.0 * sum(CASE WHEN status = 'shipped' THEN 1 ELSE 0 END) / count(*) FROM {s}orders", False),
]  # fmt: skip


def _normal(value: Any) -> Any:
    if isinstance(value, float | Decimal):
        return round(float(value), 2)
    return value


def _rows(rows: list[tuple[Any, ...]], width: int | None = None) -> list[tuple[Any, ...]]:
    return [tuple(_normal(v) for v in row[:width]) for row in rows]


def _loaded(schema: str, tables: dict[str, Any]) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB database holding ``tables`` in ``schema``, for one module's tests."""
    connection = duckdb.connect()
    load(connection, schema, tables)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    yield from _loaded("sales", SHOP)


def _truth(sql: str, prefix: str) -> str:
    return sql.replace("{s}", prefix).replace("{epoch_0925}", "1790294400")


def _compare(got: list[tuple[Any, ...]], columns: list[str], truth: list[tuple[Any, ...]], ordered: bool) -> bool:
    """The truth's columns are found among the result's (a listing may show more of them)."""
    if len(got) != len(truth):
        return False
    if not truth:
        return True
    width = len(truth[0])
    for start in range(max(1, len(columns) - width + 1)):
        candidates = [
            [tuple(_normal(row[i]) for i in indexes) for row in got]
            for indexes in ([*range(start, start + width)], [*range(width - 1), len(columns) - 1])
            if max(indexes) < len(columns)
        ]
        for candidate in candidates:
            if (
                (candidate == _rows(truth))
                if ordered
                else (sorted(map(repr, candidate)) == sorted(map(repr, _rows(truth))))
            ):
                return True
    # A listing: the truth's one column anywhere in the result.
    if width == 1:
        for index in range(len(columns)):
            column = [(_normal(row[index]),) for row in got]
            if (column == _rows(truth)) if ordered else sorted(map(repr, column)) == sorted(map(repr, _rows(truth))):
                return True
    return False


@pytest.fixture(scope="module")
def lite() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:")
    load(connection, "main", SHOP)
    yield connection
    connection.close()


def _answers_like_the_truth(
    connection: Any, knowledge: Any, question: str, truth: str, prefix: str, ordered: bool
) -> None:
    """The question's statement runs on ``connection`` and gives the rows of the truth."""
    outcome = plan(question, knowledge, TODAY)
    assert isinstance(outcome, Statement), outcome
    columns, got = _run(connection, outcome.sql)
    expected = connection.execute(_truth(truth, prefix)).fetchall()
    assert _compare(got, columns, expected, ordered), (outcome.sql, got, expected)


def _run(connection: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    cursor = connection.execute(sql)
    return [d[0] for d in cursor.description], cursor.fetchall()


@pytest.mark.parametrize(("kind", "question", "truth", "ordered"), CASES, ids=[c[1] for c in CASES])
def test_questions_on_duckdb_give_the_rows_of_the_truth(duck, kind: str, question: str, truth: str, ordered: bool):
    _answers_like_the_truth(duck, knowledge_of("sales", SHOP, "duckdb"), question, truth, "sales.", ordered)


# The truths of buckets use DuckDB's date functions; SQLite answers the rest in its own dialect.
SQLITE_CASES = [case for case in CASES if case[0] not in ("bucket", "epoch")]


@pytest.mark.parametrize(("kind", "question", "truth", "ordered"), SQLITE_CASES, ids=[c[1] for c in SQLITE_CASES])
def test_questions_on_sqlite_give_the_rows_of_the_truth(lite, kind: str, question: str, truth: str, ordered: bool):
    _answers_like_the_truth(lite, knowledge_of("main", SHOP, "sqlite"), question, truth, "", ordered)


RESTAURANT_CASES: list[tuple[str, str, str, bool]] = [
    ("filter", "how many restaurants are there in san francisco",
     "SELECT count(*) FROM {s}restaurant WHERE city_name = 'san francisco'", False),
    ("filter", "how many restaurants serve italian food",
     "SELECT count(*) FROM {s}restaurant WHERE food_type = 'italian'", False),
    ("group", "what is the average rating of restaurants in each city",
     "SELECT city_name, avg(rating) FROM {s}restaurant GROUP BY city_name", False),
    ("top", "which restaurant has the highest rating", "SELECT name FROM {s}restaurant ORDER BY rating DESC LIMIT 1",
     True),
    ("join", "list the italian restaurants in the bay area region",
     "SELECT r.id FROM {s}restaurant r JOIN {s}geographic g ON g.city_name = r.city_name "
     "WHERE g.region = 'bay area' AND r.food_type = 'italian'", False),
    ("filter", "restaurants with a rating above 4", "SELECT id FROM {s}restaurant WHERE rating > 4", False),
    ("ratio", "what is the ratio of italian restaurants to chinese restaurants",
     "SELECT sum(CASE WHEN food_type = 'italian' THEN 1 ELSE 0 END) * 1.0 / "
     "sum(CASE WHEN food_type = 'chinese' THEN 1 ELSE 0 END) FROM {s}restaurant", False),
    ("ratio", "what percentage of restaurants are italian",
     "SELECT 100.0 * sum(CASE WHEN food_type = 'italian' THEN 1 ELSE 0 END) / count(*) FROM {s}restaurant", False),
]  # fmt: skip


@pytest.fixture(scope="module")
def restaurants() -> Iterator[duckdb.DuckDBPyConnection]:
    yield from _loaded("public", RESTAURANTS)


@pytest.mark.parametrize(
    ("kind", "question", "truth", "ordered"), RESTAURANT_CASES, ids=[c[1] for c in RESTAURANT_CASES]
)
def test_questions_on_a_benchmark_like_schema(restaurants, kind: str, question: str, truth: str, ordered: bool):
    _answers_like_the_truth(
        restaurants, knowledge_of("public", RESTAURANTS, "duckdb"), question, truth, "public.", ordered
    )


# Superlatives and comparisons said by an adjective: the column of that kind, found by its words.
ATHLETICS_CASES: list[tuple[str, str, str, bool]] = [
    ("unit", "which 2 athletes ran the most kilometres",
     "SELECT a.name, sum(r.distance_km) AS k FROM {s}race r JOIN {s}athlete a ON a.athlete_id = r.athlete_id "
     "GROUP BY a.athlete_id, a.name ORDER BY k DESC LIMIT 2", True),
    ("child measure", "total kilometres run by athletes from kenya",
     "SELECT sum(r.distance_km) FROM {s}race r JOIN {s}athlete a ON a.athlete_id = r.athlete_id "
     "WHERE a.country = 'kenya'", False),
    ("top", "who is the oldest athlete", "SELECT name FROM {s}athlete ORDER BY age DESC LIMIT 1", True),
    ("top", "the 2 youngest athletes", "SELECT name FROM {s}athlete ORDER BY age LIMIT 2", True),
    ("top", "which athlete is the heaviest", "SELECT name FROM {s}athlete ORDER BY weight_kg DESC LIMIT 1", True),
    ("top", "the tallest athlete", "SELECT name FROM {s}athlete ORDER BY height_cm DESC LIMIT 1", True),
    ("top", "the 3 shortest races", "SELECT race_id FROM {s}race ORDER BY distance_km LIMIT 3", True),
    ("filter", "athletes older than 30", "SELECT athlete_id FROM {s}athlete WHERE age > 30", False),
    ("filter", "athletes lighter than 60", "SELECT athlete_id FROM {s}athlete WHERE weight_kg < 60", False),
    ("filter", "races over 100 minutes", "SELECT race_id FROM {s}race WHERE duration_minutes > 100", False),
    ("filter", "races longer than 20", "SELECT race_id FROM {s}race WHERE distance_km > 20", False),
    ("having", "which race places have more than 40 km in total",
     "SELECT place, sum(distance_km) FROM {s}race GROUP BY place HAVING sum(distance_km) > 40", False),
]  # fmt: skip


@pytest.fixture(scope="module")
def athletics() -> Iterator[duckdb.DuckDBPyConnection]:
    yield from _loaded("public", ATHLETICS)


@pytest.mark.parametrize(("kind", "question", "truth", "ordered"), ATHLETICS_CASES, ids=[c[1] for c in ATHLETICS_CASES])
def test_adjectives_name_the_column_of_their_kind(athletics, kind: str, question: str, truth: str, ordered: bool):
    _answers_like_the_truth(athletics, knowledge_of("public", ATHLETICS, "duckdb"), question, truth, "public.", ordered)


# Groups counted: by a value that says which rows ("page views"), by a column whose first word names
# another table ("account managers").
WEBLOG_CASES: list[tuple[str, str, str, bool]] = [
    ("top", "top 2 pages by page views",
     "SELECT page, count(*) c FROM {s}hits WHERE action = 'page_view' GROUP BY page ORDER BY c DESC LIMIT 2", True),
    ("having", "pages with more than 1 page view",
     "SELECT page, count(*) FROM {s}hits WHERE action = 'page_view' GROUP BY page HAVING count(*) > 1", False),
    ("having", "which account managers manage over 1 client",
     "SELECT account_manager, count(*) FROM {s}clients GROUP BY account_manager HAVING count(*) > 1", False),
    ("top", "which account manager looks after the most clients",
     "SELECT account_manager, count(*) c FROM {s}clients GROUP BY account_manager ORDER BY c DESC LIMIT 1", True),
]  # fmt: skip


@pytest.fixture(scope="module")
def weblog() -> Iterator[duckdb.DuckDBPyConnection]:
    yield from _loaded("public", WEBLOG)


@pytest.mark.parametrize(("kind", "question", "truth", "ordered"), WEBLOG_CASES, ids=[c[1] for c in WEBLOG_CASES])
def test_groups_counted_by_a_value_or_a_column_named_like_a_table(
    weblog, kind: str, question: str, truth: str, ordered: bool
):
    _answers_like_the_truth(weblog, knowledge_of("public", WEBLOG, "duckdb"), question, truth, "public.", ordered)


def test_weeks_and_quarters_are_buckets_on_sqlite_too(lite) -> None:
    knowledge = knowledge_of("main", SHOP, "sqlite")
    quarters = plan("number of orders per quarter", knowledge, TODAY)
    assert isinstance(quarters, Statement), quarters
    assert sorted(_run(lite, quarters.sql)[1]) == [("2025-Q4", 1), ("2026-Q1", 1), ("2026-Q2", 1), ("2026-Q3", 5)]
    weeks = plan("number of orders by week", knowledge, TODAY)
    assert isinstance(weeks, Statement), weeks
    assert sum(count for _, count in _run(lite, weeks.sql)[1]) == 8


def test_epoch_times_are_converted_on_sqlite(lite) -> None:
    knowledge = knowledge_of("main", SHOP, "sqlite")
    by_year = plan("number of events per year", knowledge, TODAY)
    assert isinstance(by_year, Statement), by_year
    assert sorted(_run(lite, by_year.sql)[1]) == [("2025", 1), ("2026", 4)]
    recent = plan("how many events in the last 7 days", knowledge, TODAY)
    assert isinstance(recent, Statement), recent
    assert _run(lite, recent.sql)[1] == [(2,)]


# Values said in other words than stored: a verb, a plural, a country or currency name for its code,
# a value of a joined table; and words that look like values but are not ("did clients open").
HELPDESK_CASES: list[tuple[str, str, str, bool]] = [
    ("verb", "how many deals did we win", "SELECT count(*) FROM {s}deals WHERE stage = 'closed_won'", False),
    ("verb", "how many deals were lost", "SELECT count(*) FROM {s}deals WHERE stage = 'closed_lost'", False),
    ("plural", "how many tickets came from tablets", "SELECT count(*) FROM {s}tickets WHERE device = 'tablet'",
     False),
    ("code", "how many clients are in Germany", "SELECT count(*) FROM {s}clients WHERE country = 'DE'", False),
    ("code", "list the Enterprise clients in France",
     "SELECT id FROM {s}clients WHERE segment = 'Enterprise' AND country = 'FR'", False),
    ("code", "how many deals are in yen", "SELECT count(*) FROM {s}deals WHERE currency = 'JPY'", False),
    ("code", "total deal amount in euros", "SELECT sum(amount) FROM {s}deals WHERE currency = 'EUR'", False),
    ("value over column", "how many payments were made by card",
     "SELECT count(*) FROM {s}payments WHERE method = 'card'", False),
    ("value over column", "what percentage of payments are made by card",
     "SELECT 100.0 * sum(CASE WHEN method = 'card' THEN 1 ELSE 0 END) / count(*) FROM {s}payments", False),
    ("value over column", "total payments by method",
     "SELECT method, sum(amount) FROM {s}payments GROUP BY method", False),
    ("joined value", "how many tickets did Enterprise clients open",
     "SELECT count(*) FROM {s}tickets t JOIN {s}clients c ON c.id = t.client_id WHERE c.segment = 'Enterprise'",
     False),
    ("joined value", "average satisfaction of tickets from Enterprise clients",
     "SELECT avg(t.satisfaction) FROM {s}tickets t JOIN {s}clients c ON c.id = t.client_id "
     "WHERE c.segment = 'Enterprise'", False),
    ("state", "how many open tickets are there", "SELECT count(*) FROM {s}tickets WHERE status = 'open'", False),
    ("state", "how many tickets are open", "SELECT count(*) FROM {s}tickets WHERE status = 'open'", False),
    ("event", "how many tickets were opened last month",
     "SELECT count(*) FROM {s}tickets WHERE opened_at >= '2026-09-01' AND opened_at < '2026-10-01'", False),
    ("precision", "how many tickets came from smartwatches", "SELECT count(*) FROM {s}tickets", False),
    ("code", "how many payments were by bank transfer",
     "SELECT count(*) FROM {s}payments WHERE method = 'bank_transfer'", False),
    ("code", "how many closed deals are there",
     "SELECT count(*) FROM {s}deals WHERE stage IN ('closed_won', 'closed_lost')", False),
    ("ratio", "what share of deals is won, among closed deals",
     "SELECT 100.0 * sum(CASE WHEN stage = 'closed_won' THEN 1 ELSE 0 END) / count(*) FROM {s}deals "
     "WHERE stage IN ('closed_won', 'closed_lost')", False),
    ("value over table", "list the Support plans", "SELECT id FROM {s}plans WHERE category = 'Support'", False),
    ("value over table", "how many support calls are there", "SELECT count(*) FROM {s}support_calls", False),
    ("flag", "how many payments were refunded", "SELECT count(*) FROM {s}payments WHERE is_refunded", False),
    ("flag", "total amount of payments that are not refunded",
     "SELECT sum(amount) FROM {s}payments WHERE NOT is_refunded", False),
    ("flag", "what percentage of payments are refunded",
     "SELECT 100.0 * sum(CASE WHEN is_refunded THEN 1 ELSE 0 END) / count(*) FROM {s}payments", False),
    ("ratio", "percentage of tickets that are open or closed",
     "SELECT 100.0 * sum(CASE WHEN status IN ('open', 'closed') THEN 1 ELSE 0 END) / count(*) FROM {s}tickets",
     False),
]  # fmt: skip


# (kind, question, truth, ordered) over CRM, on DuckDB.
CRM_CASES: list[tuple[str, str, str, bool]] = [
    ("time", "how many deals closed in the first half of 2026",
     "SELECT count(*) FROM {s}deals WHERE closed_at >= '2026-01-01' AND closed_at < '2026-07-01'", False),
    ("time", "deals won last quarter",
     "SELECT count(*) FROM {s}deals WHERE stage = 'closed_won' AND closed_at >= '2026-07-01' "
     "AND closed_at < '2026-10-01'",
     False),
    ("time", "how many subscriptions were cancelled last year",
     "SELECT count(*) FROM {s}subscriptions WHERE status = 'cancelled' AND ended_at >= '2025-01-01' "
     "AND ended_at < '2026-01-01'", False),
    ("time", "subscriptions ended in 2026",
     "SELECT count(*) FROM {s}subscriptions WHERE ended_at >= '2026-01-01'", False),
    ("time", "new deals created in the last 3 months",
     "SELECT count(*) FROM {s}deals WHERE created_at >= '2026-07-01'", False),
    ("time", "deals created in 2026", "SELECT count(*) FROM {s}deals WHERE created_at >= '2026-01-01'", False),
    ("time", "how many tickets were resolved in September 2026",
     "SELECT count(*) FROM {s}tickets WHERE resolved_at >= '2026-09-01' AND resolved_at < '2026-10-01'", False),
    ("filter", "how many deals were won", "SELECT count(*) FROM {s}deals WHERE stage = 'closed_won'", False),
    ("ratio", "percentage of tickets that are resolved or closed",
     "SELECT 100.0 * sum(CASE WHEN status IN ('resolved', 'closed') THEN 1 ELSE 0 END) / count(*) FROM {s}tickets",
     False),
    ("ratio", "what share of deals is won, among closed deals",
     "SELECT 100.0 * sum(CASE WHEN stage = 'closed_won' THEN 1 ELSE 0 END) / count(*) FROM {s}deals "
     "WHERE stage IN ('closed_won', 'closed_lost')", False),
    ("ratio", "win rate per region: won deals as a percentage of closed deals",
     "SELECT region, 100.0 * sum(CASE WHEN stage = 'closed_won' THEN 1 ELSE 0 END) / count(*) FROM {s}deals "
     "WHERE stage IN ('closed_won', 'closed_lost') GROUP BY region", False),
    ("ratio", "what fraction of events come from mobile devices",
     "SELECT 100.0 * sum(CASE WHEN device = 'mobile' THEN 1 ELSE 0 END) / count(*) FROM {s}events", False),
    ("ratio", "what percent of events are anonymous (no account)?",
     "SELECT 100.0 * sum(CASE WHEN account_id IS NULL THEN 1 ELSE 0 END) / count(*) FROM {s}events", False),
    ("per", "average number of seats per subscription by status",
     "SELECT status, avg(seats) FROM {s}subscriptions GROUP BY status", False),
    ("per", "on average how many employees do accounts have in each industry",
     "SELECT industry, avg(employees) FROM {s}accounts GROUP BY industry", False),
    ("per", "average number of tickets per account",
     "SELECT count(*) * 1.0 / (SELECT count(*) FROM {s}accounts) FROM {s}tickets", False),
    ("ratio", "what percentage of events come by mobile",
     "SELECT 100.0 * sum(CASE WHEN device = 'mobile' THEN 1 ELSE 0 END) / count(*) FROM {s}events", False),
    ("ratio", "cancellation rate of subscriptions",
     "SELECT 100.0 * sum(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END) / count(*) FROM {s}subscriptions", False),
]  # fmt: skip


@pytest.fixture(scope="module")
def helpdesk() -> Iterator[duckdb.DuckDBPyConnection]:
    yield from _loaded("helpdesk", HELPDESK)


@pytest.fixture(scope="module")
def crm() -> Iterator[duckdb.DuckDBPyConnection]:
    yield from _loaded("public", CRM)


@pytest.mark.parametrize(("kind", "question", "truth", "ordered"), HELPDESK_CASES, ids=[c[1] for c in HELPDESK_CASES])
def test_values_said_in_other_words(helpdesk, kind: str, question: str, truth: str, ordered: bool):
    _answers_like_the_truth(
        helpdesk, knowledge_of("helpdesk", HELPDESK, "duckdb"), question, truth, "helpdesk.", ordered
    )


@pytest.mark.parametrize(("kind", "question", "truth", "ordered"), CRM_CASES, ids=[c[1] for c in CRM_CASES])
def test_questions_on_rows_with_several_moments(crm, kind: str, question: str, truth: str, ordered: bool):
    _answers_like_the_truth(crm, knowledge_of("public", CRM, "duckdb"), question, truth, "public.", ordered)
