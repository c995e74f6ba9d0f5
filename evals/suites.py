"""Question sets (``evals/suites/*.jsonl``): one JSON object a line with ``id``, ``category``,
``source`` (a data source's name in the workspace asked), ``question``, and either ``gold_sql``
(the question expects rows) or ``expect`` (``refusal``, ``ask_back`` or ``approval``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from evals.scoring import OUTCOMES

SUITES_DIR = Path(__file__).resolve().parent / "suites"
SUITE_NAMES = ("demo", "fleet", "shop")


class SuiteError(ValueError):
    """A suite file that cannot be run; ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Question:
    id: str
    category: str
    source: str
    text: str
    gold_sql: str = ""
    expect: str = "rows"


def suite_path(name_or_path: str) -> Path:
    """A suite's file: a path, or the name of one of ours (``demo``)."""
    path = Path(name_or_path)
    if path.suffix != ".jsonl" and (SUITES_DIR / f"{name_or_path}.jsonl").exists():
        return SUITES_DIR / f"{name_or_path}.jsonl"
    return path


def suite_load(path: Path) -> list[Question]:
    """The questions of one suite, checked line by line (SuiteError names the first bad line)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SuiteError("suite_unreadable", f"Cannot read the suite {path.name}: {exc.strerror}.") from None
    questions: list[Question] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        try:
            item = json.loads(line)
        except ValueError:
            raise SuiteError("suite_invalid_json", f"{where} is not JSON.") from None
        if not isinstance(item, dict):
            raise SuiteError("suite_invalid_question", f"{where} is not a JSON object.")
        missing = [key for key in ("id", "category", "source", "question") if not str(item.get(key) or "").strip()]
        if missing:
            raise SuiteError("suite_invalid_question", f"{where} has no {', '.join(missing)}.")
        expect = str(item.get("expect") or "rows")
        gold = str(item.get("gold_sql") or "").strip()
        if expect not in OUTCOMES:
            raise SuiteError("suite_invalid_question", f"{where}: expect must be one of {', '.join(OUTCOMES)}.")
        if (expect == "rows") != bool(gold):
            raise SuiteError(
                "suite_invalid_question", f"{where}: a question has gold_sql exactly when it expects rows."
            )
        if item["id"] in seen:
            raise SuiteError("suite_duplicate_id", f"{where} repeats the id {item['id']!r}.")
        seen.add(item["id"])
        questions.append(Question(id=str(item["id"]), category=str(item["category"]), source=str(item["source"]),
                                  text=str(item["question"]), gold_sql=gold, expect=expect))  # fmt: skip
    if not questions:
        raise SuiteError("suite_empty", f"The suite {path.name} has no questions.")
    return questions
