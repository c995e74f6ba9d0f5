"""Execution accuracy of the built-in model on our suites (``evals/suites``), through the real
pipeline: ``manage.py evaluate`` on the demo, fleet and shop suites, as the eval workspace's owner,
with the offline model and a worker of its own (or the running one).

Reports accuracy per suite and per category (percent of questions answered right: the rows of the
gold query, or the expected refusal, ask-back or approval), and the median and p95 time per question
(from the execution's creation to its last event). ``--quick`` asks the first 20 questions of each
suite. The last line is JSON: {"suites": {"demo": {"accuracy", "by_category", "median_seconds"}, ...},
"accuracy", "questions", "median_seconds", "p95_seconds"}.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from _common import arguments, report, setup_django

args = arguments(__doc__ or "")
setup_django()

from django.core.management import call_command  # noqa: E402

from evals.suites import SUITE_NAMES  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as folder:
        path = Path(folder) / "report.json"
        call_command("evaluate", *SUITE_NAMES, "--json", str(path), *(["--limit", "20"] if args.quick else []))
        data = json.loads(path.read_text())
    suites = {
        name: {key: suite["summary"][key] for key in ("accuracy", "questions", "by_category", "median_seconds")}
        for name, suite in data["suites"].items()
    }
    overall = data["summary"]
    report("eval", {"suites": suites, **{key: overall[key] for key in ("accuracy", "questions", "median_seconds",
                                                                       "p95_seconds")}})  # fmt: skip


main()
