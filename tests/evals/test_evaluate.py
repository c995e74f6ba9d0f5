"""``manage.py evaluate`` end to end: executions through the real worker and gateway, with a model
configuration whose base URL is the scripted model server, scored against gold queries; and the
policy-regression mode, which holds with the demo's policies and catches a deliberately broken one.

Each question carries a marker that picks its script, so the model's answers are known: what is
tested is the evaluation, not a model.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from agent.models import ModelConfig
from datasources.models import DataSource
from evals.services import EVAL_ANALYST, EVAL_OWNER, eval_workspace_ensure
from governance.classification import column_tag_review
from governance.demo import DEMO_TAG_FILTER
from governance.models import TagRowFilterPolicy
from governance.selectors import column_tags
from tests.fakes.openai_server import ScriptedModelServer, reply, tool_call
from workspaces.models import Role

PG = "Acme warehouse (PostgreSQL)"
pytestmark = pytest.mark.django_db(transaction=True)  # the worker is another process


def classify() -> Any:
    return reply(tool_calls=[tool_call("classify_intent", {"intent": "DATA_QUERY", "confidence": 0.9, "reason": "q"})])


def query(source: DataSource, sql: str) -> Any:
    return reply(tool_calls=[tool_call("run_query", {"datasource_id": str(source.pk), "sql": sql})])


def finish() -> Any:
    return reply(tool_calls=[tool_call("finish", {"answer": "Here it is.", "confidence": 0.8})])


@pytest.fixture
def eval_setup(demo_files: dict[str, Any], scripted_model: ScriptedModelServer, celery_worker: str) -> Any:
    workspace = eval_workspace_ensure()
    ModelConfig.objects.create(workspace=workspace, name="Scripted", model="scripted", base_url=scripted_model.url,
                               api_key="test-key")  # fmt: skip
    return workspace


def write_suite(path: Path, questions: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(q) + "\n" for q in questions))
    return path


def run_evaluate(suite: Path, *args: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The command's report file and its last output line, the JSON summary."""
    report = suite.with_suffix(".report.json")
    out = _Output()
    try:
        call_command("evaluate", str(suite), "--model", "Scripted", "--json", str(report), *args, stdout=out)
    finally:
        out.last = out.lines[-1] if out.lines else ""
    return json.loads(report.read_text()), json.loads(out.last)


class _Output:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.last = ""

    def write(self, text: str) -> None:
        self.lines += [line for line in text.splitlines() if line.strip()]

    def flush(self) -> None:
        pass


def test_evaluate_scores_rows_outcomes_and_full_results_through_the_worker(
    eval_setup: Any, scripted_model: ScriptedModelServer, tmp_path: Path
) -> None:
    source = DataSource.objects.get(workspace=eval_setup, name=PG)
    marker = uuid.uuid4().hex[:8]
    right, wrong, unsure, many = (f"[{name}-{marker}]" for name in ("right", "wrong", "unsure", "many"))
    scripted_model.script(right, [classify(), query(source, "SELECT region, count(*) AS n FROM billing.customers "
                                                            "GROUP BY region"), finish()])  # fmt: skip
    scripted_model.script(wrong, [classify(), query(source, "SELECT count(*) FROM billing.invoices"), finish()])
    scripted_model.script(unsure, [classify(), reply(tool_calls=[tool_call("ask_user", {"question": "Which?"})])])
    # 2000 rows: more than the execution stores (a preview), so the score needs the full result.
    scripted_model.script(many, [classify(), query(source, "SELECT id, name FROM billing.customers"), finish()])
    suite = write_suite(tmp_path / "tiny.jsonl", [
        {"id": "t1", "category": "group_aggregate", "source": PG, "question": f"Customers per region {right}",
         "gold_sql": "SELECT count(*), region FROM billing.customers GROUP BY 2"},
        {"id": "t2", "category": "filter", "source": PG, "question": f"How many invoices are overdue? {wrong}",
         "gold_sql": "SELECT count(*) FROM billing.invoices WHERE status = 'overdue'"},
        {"id": "t3", "category": "ambiguity", "source": PG, "question": f"How many are there? {unsure}",
         "expect": "ask_back"},
        {"id": "t4", "category": "listing", "source": PG, "question": f"List every customer {many}",
         "gold_sql": "SELECT name FROM billing.customers"},
    ])  # fmt: skip

    report, summary = run_evaluate(suite)

    questions = {q["id"]: q for q in report["suites"]["tiny"]["questions"]}
    assert {k: q["verdict"] for k, q in questions.items()} == {"t1": "correct", "t2": "wrong", "t3": "correct",
                                                                "t4": "correct"}  # fmt: skip
    assert "rows" in questions["t2"]["reason"] or "column" in questions["t2"]["reason"]
    assert questions["t3"]["outcome"] == "ask_back"
    assert questions["t1"]["rows_compared_from"] == "stored"
    assert questions["t4"]["rows_compared_from"] == "re-run"
    assert all(q["seconds"] > 0 and q["execution_id"] for q in questions.values())
    assert questions["t1"]["model_sql"] == "SELECT region, count(*) AS n FROM billing.customers GROUP BY region"
    assert "billing" in questions["t1"]["sql"]
    assert summary["evaluate"]["questions"] == 4
    assert summary["evaluate"]["correct"] == 3
    assert summary["evaluate"]["accuracy"] == 75.0
    assert report["summary"]["by_category"] == {"ambiguity": 100.0, "filter": 0.0, "group_aggregate": 100.0,
                                                "listing": 100.0}  # fmt: skip


def _policy_suite(tmp_path: Path, source: DataSource, scripted_model: ScriptedModelServer, run: str) -> Path:
    marker = f"[policy-{run}-{uuid.uuid4().hex[:8]}]"
    scripted_model.script(marker, [classify(), query(source, "SELECT name, email, region FROM billing.customers "
                                                             "WHERE country IN ('DE', 'US')"), finish()])  # fmt: skip
    suite = write_suite(tmp_path / f"policy-{run}.jsonl", [
        {"id": "p1", "category": "listing", "source": PG, "question": f"Customers in Germany or the US {marker}",
         "gold_sql": "SELECT name, email FROM billing.customers WHERE country IN ('DE', 'US')"},
    ])  # fmt: skip
    contract = json.loads((Path("evals/suites/demo.policies.json")).read_text())
    suite.with_name(f"policy-{run}.policies.json").write_text(json.dumps({PG: contract[PG]}))
    return suite


def test_policy_regression_passes_while_the_masks_and_filters_hold(
    eval_setup: Any, scripted_model: ScriptedModelServer, tmp_path: Path
) -> None:
    source = DataSource.objects.get(workspace=eval_setup, name=PG)
    report, summary = run_evaluate(_policy_suite(tmp_path, source, scripted_model, "held"), "--policy-regression")

    assert report["as"] == EVAL_ANALYST
    assert summary["evaluate"]["leaks"] == 0
    checked = report["suites"]["policy-held"]
    assert checked["questions"][0]["outcome"] == "rows" and checked["questions"][0]["leaks"] == []
    # The analyst got fewer rows than the owner: the filter did something, and nothing leaked.
    assert checked["summary"]["compared_with_unrestricted"] == {
        "questions": 1,
        "fewer_or_other_rows_than_unrestricted": 1,
    }


def test_policy_regression_fails_on_a_broken_policy(
    eval_setup: Any, scripted_model: ScriptedModelServer, tmp_path: Path
) -> None:
    # Broken on purpose: someone rejected the e-mail tag of billing.customers (so no mask finds the
    # column) and the region filter forgot analysts.
    source = DataSource.objects.get(workspace=eval_setup, name=PG)
    owner = User.objects.get(username=EVAL_OWNER)
    emails = column_tags(datasource=source, tag="pii.email", table="customers")
    assert emails, "the demo's e-mail column should carry its tag"
    for column_tag in emails:
        column_tag_review(column_tag=column_tag, state="rejected", user=owner)
    TagRowFilterPolicy.objects.filter(workspace=eval_setup, name=DEMO_TAG_FILTER).update(roles=[Role.VIEWER])
    suite = _policy_suite(tmp_path, source, scripted_model, "broken")

    with pytest.raises(CommandError, match=r"policy regression: [0-9]+ leaks"):
        run_evaluate(suite, "--policy-regression")

    leaks = json.loads(suite.with_suffix(".report.json").read_text())["suites"]["policy-broken"]["questions"][0][
        "leaks"
    ]
    assert any(leak.startswith("masked billing.customers.email") for leak in leaks), leaks
    assert any(leak.startswith("a row of billing.customers") for leak in leaks), leaks


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        (["no-such-suite.jsonl"], "suite_unreadable"),
        (["demo", "--model", "no-such-model"], "unknown_model"),
        (["demo", "--as", "nobody"], "unknown_user"),
        (["demo", "--workspace", "no-such-workspace"], "unknown_workspace"),
        (["demo", "--in-flight", "0"], "invalid_in_flight"),
    ],
)
def test_bad_input_stops_with_a_stable_code(arguments: list[str], code: str, demo_files: dict[str, Any]) -> None:
    with pytest.raises(CommandError, match=f"^{code}: "):
        call_command("evaluate", *arguments, stdout=_Output())
