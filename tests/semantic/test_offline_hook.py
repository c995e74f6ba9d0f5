"""The offline model's hook for verified queries (``_Turn._verified_query`` in agent/offline/model.py),
turn by turn on a hand-made conversation: no database, no worker."""

from __future__ import annotations

from datetime import date

from agent.offline import OfflineModel
from agent.prompting import build_messages
from agent.tools import inventory, openai_schema
from agent.types import Reply, ToolResult

VERIFIED = {
    "question": "How many invoices per region in 2025",
    "sql": "SELECT region, COUNT(*) AS n FROM billing.invoices WHERE issued_at >= '2025-01-01' "
    "AND issued_at < '2026-01-01' GROUP BY region",
    "datasource_id": "ds-1",
    "verified_on": "2026-11-02",
}
CONTEXT = {
    "prompt": "",
    "intent": "DATA_QUERY",
    "datasources": [{"id": "ds-1", "name": "Warehouse", "kind": "postgresql", "dialect": "postgres"}],
    "tables": [],
    "policies": [],
    "verified_queries": [VERIFIED],
    "glossary": [],
}
TOOLS = [openai_schema(tool) for tool in inventory("DATA_QUERY")]


def reply(prompt: str, turns: list[tuple[Reply, dict[str, ToolResult]]] | None = None) -> Reply:
    messages = build_messages(context={**CONTEXT, "prompt": prompt}, prompt_text=prompt, turns=turns or [])
    return OfflineModel(today=date(2026, 12, 7)).complete(messages, TOOLS, category="generation")


def test_a_paraphrase_runs_the_adapted_verified_query_then_answers_from_its_rows() -> None:
    first = reply("how many invoices per region for 2024?")
    (call,) = first.tool_calls
    assert call.name == "run_query" and call.arguments["datasource_id"] == "ds-1"
    assert call.arguments["sql"] == (
        "SELECT region, COUNT(*) AS n FROM billing.invoices WHERE issued_at >= '2024-01-01' "
        "AND issued_at < '2025-01-01' GROUP BY region"
    )

    rows = ToolResult(observation={"columns": ["region", "n"], "rows": [["EMEA", 3], ["NA", 4]], "row_count": 2})
    second = reply("how many invoices per region for 2024?", [(first, {call.id: rows})])
    (finish,) = second.tool_calls
    assert finish.name == "finish"
    assert "region: EMEA, n: 3" in finish.arguments["answer"] and "verified query" in finish.arguments["answer"]


def test_a_failed_verified_query_leaves_the_model_to_plan_its_own() -> None:
    first = reply("how many invoices per region for 2024?")
    failed = ToolResult(observation={"error": {"code": "query_failed", "message": "no such column"}}, status="error")

    second = reply("how many invoices per region for 2024?", [(first, {first.tool_calls[0].id: failed})])

    assert all(c.arguments.get("sql") != first.tool_calls[0].arguments["sql"] for c in second.tool_calls)


def test_another_question_is_planned_as_before() -> None:
    first = reply("list the customers in EMEA")

    assert all("billing.invoices" not in str(c.arguments.get("sql", "")) for c in first.tool_calls)


def test_a_glossary_metric_the_prompt_names_is_the_measure() -> None:
    def column(name: str, type_: str, pk: bool = False) -> dict[str, object]:
        return {"name": name, "type": type_, "pk": pk, "references": "", "inferred": False, "masked": "",
                "comment": "", "description": "", "synonyms": []}  # fmt: skip

    invoices = {
        "datasource_id": "ds-1", "datasource": "Warehouse", "schema": "billing", "name": "invoices",
        "qualified_name": "billing.invoices", "comment": "", "description": "", "synonyms": [], "row_estimate": 100,
        "score": 1.0,
        "columns": [column("id", "integer", True), column("region", "text"), column("status", "text"),
                    column("total", "numeric")],
    }  # fmt: skip
    revenue = {"term": "revenue", "synonyms": ["takings"], "kind": "metric", "datasource_id": "ds-1",
               "table": "billing.invoices", "description": "Paid invoice totals",
               "sql": "SUM(CASE WHEN status = 'paid' THEN total END)"}  # fmt: skip
    context = {**CONTEXT, "verified_queries": [], "tables": [invoices], "glossary": [revenue]}
    prompt = "What are the takings per region?"
    turns: list[tuple[Reply, dict[str, ToolResult]]] = []
    for _ in range(3):  # the model may read the table's columns first
        messages = build_messages(context={**context, "prompt": prompt}, prompt_text=prompt, turns=turns)
        step = OfflineModel(today=date(2026, 12, 7)).complete(messages, TOOLS, category="generation")
        (call,) = step.tool_calls
        if call.name != "describe_table":
            break
        turns.append((step, {call.id: ToolResult(observation={**invoices, "sample_values": {}})}))
    assert call.name == "run_query", call
    sql = call.arguments["sql"].upper()
    assert "SUM(CASE WHEN STATUS = 'PAID' THEN TOTAL END)" in sql and "GROUP BY" in sql and "REGION" in sql
