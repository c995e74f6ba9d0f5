"""The parser's stages alone: normalising, linking, and the outcomes that are not a statement
(asking back, refusing, bad input), plus glossary metrics and dialects."""

from __future__ import annotations

from datetime import date

import pytest
import sqlglot

from agent.offline.knowledge import Column, Knowledge, table_from_json
from agent.offline.parser import Choice, Statement, Unanswerable, plan
from agent.offline.parser.link import Linker
from agent.offline.parser.normalise import normalise, singular
from datasources.vocabulary import index_tokens
from tests.agent.parser.schemas import SHOP, TODAY, context_tables, knowledge_of


@pytest.mark.parametrize(
    ("word", "expected"),
    [("courses", "course"), ("categories", "category"), ("addresses", "address"), ("status", "status"),
     ("analyses", "analysis"), ("this", "this"), ("sales", "sale"), ("people", "person"), ("boxes", "box")],
)  # fmt: skip
def test_singulars_come_from_the_inflection_library(word: str, expected: str) -> None:
    assert singular(word) == expected


def test_the_catalog_and_the_question_share_one_singular() -> None:
    # A table named "people" is indexed under "person", the word a question about persons reduces to.
    assert "person" in index_tokens("people") and singular("persons") == "person"
    assert [singular(w) for w in ("data", "metadata", "media", "news")] == ["data", "metadata", "media", "news"]


@pytest.mark.parametrize(
    ("question", "start", "end"),
    [
        ("orders in the last 3 months", date(2026, 7, 1), date(2026, 10, 2)),
        ("orders in the last three months", date(2026, 7, 1), date(2026, 10, 2)),
        ("orders this year", date(2026, 1, 1), date(2026, 10, 2)),
        ("orders in 2024", date(2024, 1, 1), date(2025, 1, 1)),
        ("orders since March", date(2026, 3, 1), date(2026, 10, 2)),
        ("orders since November", date(2025, 11, 1), date(2026, 10, 2)),
        ("orders in March 2025", date(2025, 3, 1), date(2025, 4, 1)),
        ("orders since 3 March 2025", date(2025, 3, 3), date(2026, 10, 2)),
        ("orders before 2025-02-01", date(1900, 1, 1), date(2025, 2, 1)),
        ("orders between 2025-01-01 and 2025-01-31", date(2025, 1, 1), date(2025, 2, 1)),
        ("revenue in Q2 2026", date(2026, 4, 1), date(2026, 7, 1)),
        ("yesterday's orders", date(2026, 9, 30), date(2026, 10, 1)),
        ("orders after 2024", date(2025, 1, 1), date(2026, 10, 2)),
        ("orders before 2025", date(1900, 1, 1), date(2025, 1, 1)),
        ("orders in the first half of 2026", date(2026, 1, 1), date(2026, 7, 1)),
        ("orders in H2 2025", date(2025, 7, 1), date(2026, 1, 1)),
        ("orders in the third quarter of 2025", date(2025, 7, 1), date(2025, 10, 1)),
        ("orders in the last quarter of 2025", date(2025, 10, 1), date(2026, 1, 1)),
        ("orders in the first quarter", date(2026, 1, 1), date(2026, 4, 1)),
        ("orders in Q4", date(2026, 10, 1), date(2027, 1, 1)),
        ("orders in 2026-Q2", date(2026, 4, 1), date(2026, 7, 1)),
        ("orders from December 2025 to February 2026", date(2025, 12, 1), date(2026, 3, 1)),
        ("orders between 2023 and 2024", date(2023, 1, 1), date(2025, 1, 1)),
    ],
)
def test_periods_become_half_open_date_windows(question: str, start: date, end: date) -> None:
    window = normalise(question, TODAY).window
    assert window is not None and (window.start, window.end) == (start, end)


def test_numbers_in_words_become_digits_but_one_stays_a_pronoun() -> None:
    assert normalise("top five products", TODAY).words == ("top", "5", "products")
    assert normalise("which one sold 10,000 units", TODAY).words == ("which", "one", "sold", "10000", "units")


@pytest.mark.parametrize(
    ("said", "number"),
    [
        ("over 2.5k", "2500"),
        ("5 million dollars", "5000000"),
        ("above 1.2m", "1200000"),
        ("1,000,000 rows", "1000000"),
        ("five thousand", "5000"),
        ("0.5bn", "500000000"),
        ("1.25k", "1250"),
    ],
)
def test_scaled_numbers_become_digits(said: str, number: str) -> None:
    assert number in normalise(said, TODAY).words
    assert "3 m long" in normalise("3 m long", TODAY).text  # a letter scale only glued to its number


@pytest.mark.parametrize(
    ("words", "column"),
    [("order date", "orderdate"), ("customer", "customerid"), ("unit price", "unitprice"), ("full name", "fullname")],
)
def test_words_link_to_camelcase_names_lower_cased_by_the_catalog(words: str, column: str) -> None:
    knowledge = knowledge_of("sales", SHOP, "duckdb")
    tokens = normalise(words, TODAY).tokens
    links = Linker(knowledge, "1", tokens).column_links(tokens)
    assert column in {link.column.name for link in links if link.score >= 1.0}


def test_a_hyphenated_table_is_named_by_its_words() -> None:
    knowledge = knowledge_of("sales", SHOP, "duckdb")
    tokens = normalise("order items", TODAY).tokens
    (best, *_) = Linker(knowledge, "1", tokens).table_links(tokens)
    assert best.table.name == "order-items"


def _two_order_tables() -> Knowledge:
    knowledge = knowledge_of("sales", SHOP, "duckdb")
    web = dict(context_tables("web", {"orders": SHOP["orders"]})[0])
    knowledge.add(table_from_json(web, described=True))  # type: ignore[arg-type]
    return knowledge


def test_two_tables_named_alike_are_asked_about_and_the_answer_is_used() -> None:
    knowledge = _two_order_tables()
    asked = plan("how many orders are there", knowledge, TODAY)
    assert isinstance(asked, Choice)
    assert sorted(asked.choices) == ["sales.orders", "web.orders"]
    answered = plan("how many orders are there", knowledge, TODAY, answers=[(asked.choices, "web.orders")])
    assert isinstance(answered, Statement) and "web.orders" in answered.sql


def test_a_question_naming_one_of_them_is_not_asked_about() -> None:
    outcome = plan("how many web orders are there", _two_order_tables(), TODAY)
    assert isinstance(outcome, Statement) and "web.orders" in outcome.sql


@pytest.mark.parametrize(
    "question",
    ["", "   ", "???", "how many unicorns are there", "¿Cuántos unicornios hay en Francia?", "asdf qwerty zxcv"],
)
def test_questions_the_sources_cannot_answer_get_a_reason(question: str) -> None:
    outcome = plan(question, knowledge_of("sales", SHOP, "duckdb"), TODAY)
    assert isinstance(outcome, Unanswerable) and outcome.reason


def test_a_source_with_no_tables_gets_a_reason() -> None:
    outcome = plan("how many customers", Knowledge([{"id": "1", "name": "Empty", "dialect": "sqlite"}]), TODAY)
    assert isinstance(outcome, Unanswerable)


def test_a_five_thousand_character_prompt_is_read_in_bounded_work() -> None:
    question = "how many orders were shipped " + "and also tell me something about the weather " * 120
    assert len(question) > 5_000
    outcome = plan(question, knowledge_of("sales", SHOP, "duckdb"), TODAY)
    assert isinstance(outcome, Statement | Unanswerable)


def test_a_hidden_column_is_never_named() -> None:
    """Hidden columns are absent from the context: a question about one names nothing of it."""
    outcome = plan("average salary of customers", knowledge_of("sales", SHOP, "duckdb"), TODAY)
    assert not isinstance(outcome, Statement) or "salary" not in outcome.sql


def test_a_glossary_metric_is_a_measure() -> None:
    knowledge = knowledge_of("sales", SHOP, "duckdb")
    outcome = plan("gross sales by status", knowledge, TODAY, metrics={"gross sales": "SUM(total)"})
    assert isinstance(outcome, Statement), outcome
    assert "SUM(total) AS gross_sales" in outcome.sql and "GROUP BY status" in outcome.sql


@pytest.mark.parametrize(
    ("dialect", "conversion"), [("postgres", "TO_TIMESTAMP("), ("mysql", "FROM_UNIXTIME("), ("duckdb", "TO_TIMESTAMP(")]
)
def test_epoch_columns_are_converted_in_each_dialect(dialect: str, conversion: str) -> None:
    outcome = plan("number of events per month", knowledge_of("sales", SHOP, dialect), TODAY)
    assert isinstance(outcome, Statement), outcome
    assert conversion in outcome.sql
    sqlglot.parse_one(outcome.sql, read=dialect)


def test_an_integer_column_named_epoch_is_a_time() -> None:
    column = Column(name="start_epoch", type="BIGINT")
    assert column.is_epoch and column.is_temporal and not column.is_numeric


SHOP_KNOWLEDGE = knowledge_of("sales", SHOP, "duckdb")


@pytest.mark.parametrize(
    "question",
    ["How many are there?", "show me the best ones", "What's the total?", "Which is bigger?", "Is it growing?",
     "give me the numbers for last time", "sort them by country", "show me those again",
     "which is bigger, home or office?"],
)  # fmt: skip
def test_a_question_about_something_it_does_not_name_asks_which_data(question: str) -> None:
    asked = plan(question, SHOP_KNOWLEDGE, TODAY)
    assert isinstance(asked, Choice) and asked.question == "Which data do you mean?"
    assert len(asked.choices) >= 2 and set(asked.choices) <= {t.qualified_name for t in SHOP_KNOWLEDGE.tables.values()}


@pytest.mark.parametrize(
    "question",
    ["How many employees does Acme have in its Tokyo office?", "who won the football world cup in 2022",
     "compare them by region"],  # no source of the shop knows Acme, Tokyo, football or regions
)  # fmt: skip
def test_a_reference_among_words_no_source_knows_is_out_of_scope_not_asked(question: str) -> None:
    assert isinstance(plan(question, SHOP_KNOWLEDGE, TODAY), Unanswerable)


def test_the_answer_to_which_data_completes_the_question() -> None:
    asked = plan("How many are there?", SHOP_KNOWLEDGE, TODAY)
    assert isinstance(asked, Choice)
    answered = plan("How many are there?", SHOP_KNOWLEDGE, TODAY, answers=[(asked.choices, "orders")])
    assert isinstance(answered, Statement) and answered.sql == "SELECT COUNT(*) AS count FROM sales.orders"
    # A question that names its table is never asked about.
    assert isinstance(plan("how many customers are there", SHOP_KNOWLEDGE, TODAY), Statement)


def test_a_name_that_ends_with_its_unit_is_named_without_it() -> None:
    catalog = {"catalog": {"comment": "", "columns": [("id", "INTEGER", {"pk": True}), ("category", "VARCHAR", {}),
                                                      ("listPriceUsd", "DECIMAL(10,2)", {}),
                                                      ("shippingWeightKg", "REAL", {})], "rows": []}}  # fmt: skip
    knowledge = knowledge_of("public", catalog, "postgres")
    price = plan("average list price by category", knowledge, TODAY)
    assert isinstance(price, Statement) and 'AVG("listPriceUsd")' in price.sql, price
    weight = plan("total shipping weight in kilograms", knowledge, TODAY)
    assert isinstance(weight, Statement) and 'SUM("shippingWeightKg")' in weight.sql, weight
