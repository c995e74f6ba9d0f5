"""``manage.py evaluate SUITE [SUITE ...]``: asks every question of the suites through the real
pipeline and scores the answers by execution accuracy (``evals.scoring``).

Prints one line per question as it is scored, then per-category and overall accuracy with the median
and p95 time per question, and last a one-line JSON summary. ``--json`` writes the full report.
``--policy-regression`` asks as a restricted login and fails (exit status 1) when a masked value or a
filtered row reaches it (``evals.leaks``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agent.selectors import models_for_workspace
from evals import leaks
from evals.services import (
    EVAL_ANALYST,
    EVAL_OWNER,
    EVAL_WORKSPACE_SLUG,
    EvalError,
    QuestionResult,
    RunOptions,
    actor_by_login,
    eval_workspace_ensure,
    suite_run,
    summarise,
    workspace_by_slug,
)
from evals.suites import SuiteError, suite_load, suite_path
from evals.worker import eval_worker


class Command(BaseCommand):
    help = "Run question suites through the real pipeline and score them by execution accuracy."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("suites", nargs="+", help="suite files (.jsonl) or names of ours: demo, fleet, shop")
        parser.add_argument("--model", default="offline", help="a configured model's name (default: offline)")
        parser.add_argument("--as", dest="login", default="", help=f"the login asking (default: {EVAL_OWNER}, "
                            f"or {EVAL_ANALYST} with --policy-regression)")  # fmt: skip
        parser.add_argument("--workspace", default="", help=f"workspace slug or org/slug (default: the "
                            f"{EVAL_WORKSPACE_SLUG!r} workspace, set up first)")  # fmt: skip
        parser.add_argument("--json", dest="report", default="", help="write the full JSON report to this file")
        parser.add_argument("--policy-regression", action="store_true", help="ask as a restricted login and fail "
                            "when a masked value or a filtered row reaches it")  # fmt: skip
        parser.add_argument("--in-flight", type=int, default=4, help="executions running at once (default 4)")
        parser.add_argument("--limit", type=int, default=0, help="only the first N questions of each suite")
        parser.add_argument("--only", default="", help="only these question ids or categories, comma-separated "
                            "(demo-014,time_relative)")  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            self.evaluate(options)
        except (EvalError, SuiteError) as exc:
            raise CommandError(f"{exc.code}: {exc}") from None

    def evaluate(self, options: dict[str, Any]) -> None:
        suites = {}
        for name in options["suites"]:
            path = suite_path(name)
            questions = suite_load(path)
            if options["only"]:
                wanted = {w.strip() for w in options["only"].split(",") if w.strip()}
                questions = [q for q in questions if q.id in wanted or q.category in wanted]
                if not questions:
                    continue
            suites[path.stem] = questions[: options["limit"]] if options["limit"] > 0 else questions
        if not suites:
            raise EvalError("no_questions", f"No question matches --only {options['only']!r}.")
        if options["in_flight"] < 1:
            raise EvalError("invalid_in_flight", "--in-flight must be at least 1.")
        policy = options["policy_regression"]
        contracts = {stem: leaks.contract_load(suite_path(name)) for stem, name in
                     zip(suites, options["suites"], strict=True)} if policy else {}  # fmt: skip
        workspace = workspace_by_slug(options["workspace"]) if options["workspace"] else eval_workspace_ensure()
        login = options["login"] or (EVAL_ANALYST if policy else EVAL_OWNER)
        actor = actor_by_login(username=login, workspace=workspace)
        if options["model"] not in {name for name, _ in models_for_workspace(workspace.pk)}:
            raise EvalError("unknown_model", f"No model named {options['model']!r} in the workspace {workspace.slug}.")
        run = RunOptions(workspace=workspace, actor=actor, model=options["model"], in_flight=options["in_flight"])
        report: dict[str, Any] = {"model": options["model"], "as": login, "workspace": workspace.slug, "suites": {}}
        all_results: list[QuestionResult] = []
        leak_count = 0
        with eval_worker(concurrency=max(4, run.in_flight)):
            for stem, questions in suites.items():
                checker = (
                    leaks.LeakChecker(workspace=workspace, actor=actor, contract=contracts[stem]) if policy else None
                )
                self.stdout.write(f"== {stem}: {len(questions)} questions as {login} with {options['model']}")

                def scored(result: QuestionResult, execution: Any, checker: leaks.LeakChecker | None = checker) -> None:
                    if checker is not None:
                        checker.check(result, execution)
                    mark = {"correct": "ok ", "wrong": "-- ", "error": "!! "}[result.verdict]
                    leak = f"  LEAK: {'; '.join(result.leaks)}" if result.leaks else ""
                    self.stdout.write(f"  {mark}{result.id:<10} {result.category:<16} {result.reason[:90]}{leak}")

                results = suite_run(options=run, questions=questions, on_result=scored)
                summary = summarise(results)
                if checker is not None:
                    summary["leaks"] = sum(len(r.leaks) for r in results)
                    summary["compared_with_unrestricted"] = checker.compared
                    leak_count += summary["leaks"]
                report["suites"][stem] = {"summary": summary, "questions": [r.as_json() for r in results]}
                all_results += results
                self.print_summary(stem, summary)
        overall = summarise(all_results)
        if policy:
            overall["leaks"] = leak_count
        report["summary"] = overall
        if options["report"]:
            Path(options["report"]).write_text(json.dumps(report, indent=2, default=str) + "\n")
        line = {"suites": {stem: data["summary"]["accuracy"] for stem, data in report["suites"].items()}, **{
            key: overall[key] for key in ("questions", "correct", "accuracy", "errors", "median_seconds", "p95_seconds")
        }}  # fmt: skip
        if policy:
            line["leaks"] = leak_count
        self.stdout.write(json.dumps({"evaluate": line}, separators=(",", ":")))
        if leak_count:
            raise CommandError(f"policy regression: {leak_count} leaks (see the lines marked LEAK)")

    def print_summary(self, stem: str, summary: dict[str, Any]) -> None:
        score = f"{summary['accuracy']}% ({summary['correct']}/{summary['questions']})"
        times = f"median {summary['median_seconds']} s, p95 {summary['p95_seconds']} s per question"
        self.stdout.write(f"-- {stem}: accuracy {score}, {times}")
        for category, accuracy in summary["by_category"].items():
            self.stdout.write(f"     {category:<18} {accuracy:5.1f}%")
