"""The scorer alone: execution accuracy over rows, independent of any database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from evals.scoring import compare_results, gold_orders, normalise, outcome_verdict

GOLD = [("EMEA", 3), ("NA", 5), ("APAC", 1)]


def test_rows_in_another_order_match_when_the_gold_query_does_not_order() -> None:
    assert compare_results(GOLD, list(reversed(GOLD)), ordered=False).correct


def test_rows_in_another_order_fail_when_the_gold_query_orders() -> None:
    verdict = compare_results(GOLD, list(reversed(GOLD)), ordered=True)
    assert not verdict.correct
    assert "another order" in verdict.reason


def test_same_order_matches_an_ordering_gold_query() -> None:
    assert compare_results(GOLD, GOLD, ordered=True).correct


def test_extra_result_columns_are_allowed() -> None:
    result = [("EMEA", "Europe", 3), ("NA", "North America", 5), ("APAC", "Asia", 1)]
    assert compare_results(GOLD, result, ordered=False).correct


def test_a_missing_gold_column_fails() -> None:
    verdict = compare_results(GOLD, [("EMEA",), ("NA",), ("APAC",)], ordered=False)
    assert not verdict.correct
    assert "columns" in verdict.reason


def test_column_order_is_free() -> None:
    assert compare_results(GOLD, [(3, "EMEA"), (5, "NA"), (1, "APAC")], ordered=True).correct


def test_values_paired_differently_fail_even_when_each_column_matches() -> None:
    result = [("EMEA", 5), ("NA", 3), ("APAC", 1)]
    verdict = compare_results(GOLD, result, ordered=False)
    assert not verdict.correct
    assert "pair" in verdict.reason


def test_floats_match_within_a_small_relative_tolerance() -> None:
    assert compare_results([(1234.5678,)], [(1234.57,)], ordered=False).correct
    assert not compare_results([(1234.5678,)], [(1236.0,)], ordered=False).correct


def test_decimal_strings_ints_and_floats_are_the_same_number() -> None:
    assert compare_results([(Decimal("12.50"), 3)], [("12.5", 3.0)], ordered=False).correct


def test_duplicates_count() -> None:
    gold = [("a",), ("a",), ("b",)]
    assert compare_results(gold, [("a",), ("b",), ("a",)], ordered=False).correct
    assert not compare_results(gold, [("a",), ("b",), ("b",)], ordered=False).correct
    assert not compare_results(gold, [("a",), ("b",)], ordered=False).correct


def test_a_timestamp_at_midnight_utc_is_its_date_and_none_is_none() -> None:
    gold = [("2026-09-01", None)]
    assert compare_results(gold, [("2026-09-01T00:00:00+00:00", None)], ordered=False).correct
    assert not compare_results(gold, [("2026-09-01T10:00:00+00:00", None)], ordered=False).correct
    assert not compare_results(gold, [("2026-09-01", 0)], ordered=False).correct


def test_timestamps_compare_in_utc() -> None:
    assert normalise("2026-09-01T12:00:00+02:00") == normalise("2026-09-01T10:00:00+00:00")


def test_empty_matches_empty_and_not_rows() -> None:
    assert compare_results([], [], ordered=False).correct
    assert not compare_results([], [(1,)], ordered=False).correct


def test_identical_columns_are_matched_one_to_one() -> None:
    gold = [(1, 1), (2, 2)]
    assert compare_results(gold, [(1, 1), (2, 2)], ordered=False).correct
    assert not compare_results(gold, [(1,), (2,)], ordered=False).correct


@pytest.mark.parametrize(
    ("sql", "orders"),
    [
        ("SELECT region, count(*) FROM t GROUP BY region ORDER BY 2 DESC LIMIT 3", True),
        ("SELECT region FROM (SELECT region FROM t ORDER BY region) AS s", False),
        ("SELECT count(*) FROM t", False),
        ("SELECT a FROM t UNION SELECT a FROM u ORDER BY a", True),
    ],
)
def test_gold_orders_only_when_the_outermost_query_has_order_by(sql: str, orders: bool) -> None:
    assert gold_orders(sql, "postgres") is orders


@pytest.mark.parametrize(
    ("expected", "actual", "correct"),
    [
        ("refusal", "refusal", True),
        ("refusal", "rows", False),
        ("ask_back", "ask_back", True),
        ("ask_back", "rows", False),
        ("approval", "approval", True),
        ("approval", "refusal", True),  # a strict workspace refuses the write outright: nothing written
        ("approval", "rows", False),
    ],
)
def test_outcome_questions_are_scored_by_what_the_execution_did(expected: str, actual: str, correct: bool) -> None:
    assert outcome_verdict(expected, actual).correct is correct
