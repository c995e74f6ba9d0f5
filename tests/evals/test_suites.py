"""The suites themselves: well-formed, big enough, and every gold query runs on the databases the
evaluation builds and returns an answer (spot-checked against known figures of the data)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from datasources.connectors.base import ConnectorError
from evals.databases import DATABASES
from evals.scoring import gold_orders
from evals.services import eval_workspace_ensure, gold_rows, sources_by_name
from evals.suites import SUITE_NAMES, SuiteError, suite_load, suite_path
from governance.policies import dialect_of

SUITES = {name: suite_load(suite_path(name)) for name in SUITE_NAMES}
MINIMUM_QUESTIONS = {"demo": 150, "fleet": 60, "shop": 60}
# Figures of the generated data, so that a gold query answering something else is caught.
KNOWN = {"demo-001": 2000, "demo-007": 100_000, "fleet-001": 3000, "fleet-003": 80, "shop-001": 2000,
         "shop-002": 600}  # fmt: skip


@pytest.mark.parametrize("name", SUITE_NAMES)
def test_each_suite_is_big_enough_and_covers_the_categories(name: str) -> None:
    questions = SUITES[name]
    categories = Counter(q.category for q in questions)
    assert len(questions) >= MINIMUM_QUESTIONS[name]
    assert len(categories) >= 12
    assert {"out_of_scope", "write_request", "ambiguity"} <= set(categories)
    assert len({q.id for q in questions}) == len(questions)
    assert len({q.text.lower() for q in questions}) == len(questions)


def test_the_suites_cover_every_demo_engine_and_both_built_databases() -> None:
    sources = {q.source for questions in SUITES.values() for q in questions}
    assert {"Acme warehouse (PostgreSQL)", "Acme export (SQLite)", "Acme lake (Parquet files)"} <= sources
    assert {database.source_name for database in DATABASES} <= sources


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("not json", "suite_invalid_json"),
        ('{"id": "a", "category": "count", "source": "s"}', "suite_invalid_question"),
        ('{"id": "a", "category": "count", "source": "s", "question": "q"}', "suite_invalid_question"),
        ('{"id": "a", "category": "c", "source": "s", "question": "q", "expect": "maybe"}', "suite_invalid_question"),
        ("", "suite_empty"),
    ],
)
def test_a_malformed_suite_is_refused_with_a_stable_code(tmp_path: Any, line: str, code: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(SuiteError) as raised:
        suite_load(path)
    assert raised.value.code == code


@pytest.mark.django_db
def test_every_gold_query_runs_and_answers(demo_files: dict[str, Any]) -> None:
    workspace = eval_workspace_ensure()
    assert eval_workspace_ensure().pk == workspace.pk  # idempotent
    problems = []
    for questions in SUITES.values():
        sources = sources_by_name(workspace=workspace, questions=questions)
        for question in questions:
            if question.expect != "rows":
                continue
            source = sources[question.source]
            try:
                rows = gold_rows(datasource=source, sql=question.gold_sql)
            except ConnectorError as exc:  # every failure is reported, not only the first
                problems.append(f"{question.id}: {exc}")
                continue
            if rows.truncated or not rows.rows:
                problems.append(f"{question.id}: {len(rows.rows)} rows, truncated {rows.truncated}")
            elif question.category != "time_relative" and all(v is None for v in rows.rows[0]):
                problems.append(f"{question.id}: the answer is NULL")
            if question.category == "top_n" and not gold_orders(question.gold_sql, dialect_of(source)):
                problems.append(f"{question.id}: a top-N gold query must order its rows")
            if question.id in KNOWN and rows.rows[0][0] != KNOWN[question.id]:
                problems.append(f"{question.id}: {rows.rows[0][0]} where the data has {KNOWN[question.id]}")
    assert problems == [], "\n".join(problems)
