"""Server time of the pages people use, with 1,000 executions in the workspace's history.

Seeds a workspace of its own ("pages-bench") with a data source (the development PostgreSQL
server, its public schema introspected into the catalog), 50 saved prompts and 1,000 executions
of an analyst over the last 90 days (statuses, intents, durations, rows, models and costs as runs
leave them; each with its prompt and grants as ``execution_create`` writes them), then analyses the
tables as autovacuum would; one execution carries a timeline of events, turns and a result
preview, for the execution page. Then it renders each page in-process
with Django's test client, signed in as the workspace's owner (who sees every run): the studio
``/``, the history ``/executions/`` (plain, filtered, and the htmx fragment of the filtered one;
and as the analyst), one execution page, saved prompts, data sources and governance. Figures are
p50/p95 server time in milliseconds per page. Goal: every page's p95 under 200 ms. What the bench
made (executions, prompts, the data source, their grants) is removed at the end; the workspace and
its two users stay for the next run.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from _common import arguments, bench_workspace, delete_executions, measure, report, setup_django

args = arguments(__doc__ or "")
setup_django()

from django.conf import settings  # noqa: E402
from django.contrib.contenttypes.models import ContentType  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402
from guardian.models import GroupObjectPermission, UserObjectPermission  # noqa: E402

from agent.types import INTENTS  # noqa: E402
from config.pages import SESSION_WORKSPACE_KEY  # noqa: E402
from datasources import services as datasource_services  # noqa: E402
from datasources.models import DataSource  # noqa: E402
from executions.models import ExecutionEvent, ExecutionStatus, Phase, PromptExecution, Turn, TurnStatus  # noqa: E402
from executions.services.create import execution_grant  # noqa: E402
from prompts.models import Prompt  # noqa: E402
from prompts.services import prompt_create  # noqa: E402
from tests.factories import make_user  # noqa: E402
from workspaces import services as workspace_services  # noqa: E402
from workspaces.models import Role  # noqa: E402

EXECUTIONS = 1000
PROMPTS = 50
SAMPLES = 15 if args.quick else 100
GOAL_MS = 200.0
SOURCE_NAME = "Bench server (PostgreSQL)"

QUESTIONS = [
    "Top 10 customers by revenue last quarter",
    "How many customers per region?",
    "List the billing tables",
    "Average invoice amount by month",
    "Mask emails in the crm schema",
    "Which subscriptions churned last month?",
    "Revenue by product line this year",
    "Open support tickets by priority",
    "Describe the invoices table",
    "Void invoice 1042",
]
TAGS = ["sales", "finance", "weekly", "crm", "billing", "ops", "monthly", "churn"]
MODELS = [("gpt-4o-mini", 0.0009), ("gpt-4o", 0.0123), ("offline", 0.0)]
STATUSES = [ExecutionStatus.COMPLETED] * 14 + [ExecutionStatus.FAILED] * 3 + [ExecutionStatus.CANCELLED]
STATUSES += [ExecutionStatus.WAITING_FOR_USER, ExecutionStatus.RUNNING]


def clean(workspace: Any) -> None:
    """What this bench made in its workspace (also what an interrupted earlier run left)."""
    delete_executions(workspace)
    kind = ContentType.objects.get_for_model(DataSource)
    for source in DataSource.objects.filter(workspace=workspace):
        for permissions in (UserObjectPermission, GroupObjectPermission):
            permissions.objects.filter(content_type=kind, object_pk=str(source.pk)).delete()
        datasource_services.datasource_delete(datasource=source)


def bench_source(workspace: Any) -> DataSource:
    db = settings.DATABASES["default"]
    source = datasource_services.datasource_create(
        workspace=workspace,
        name=SOURCE_NAME,
        kind="postgresql",
        settings={"host": db["HOST"], "port": int(db["PORT"]), "database": db["NAME"], "user": db["USER"],
                  "schemas": ["public"]},
        secrets={"password": db["PASSWORD"]},
        description="The development database, for the pages bench.",
    )  # fmt: skip
    datasource_services.datasource_introspect(datasource_id=source.pk)
    source.refresh_from_db()
    return source


def _metadata(model: str, unit_cost: float, turns: int) -> dict[str, Any]:
    """ai_metadata as the turns leave it: per model reply, and summed."""
    per_turn = [
        {"turn": t, "model": model, "prompt_tokens": 900, "completion_tokens": 120, "cost_usd": unit_cost,
         "latency_ms": 400.0}
        for t in range(1, turns + 1)
    ]  # fmt: skip
    return {"model": model, "provider": "offline" if model == "offline" else "openai", "turns": per_turn,
            "prompt_tokens": 900 * turns, "completion_tokens": 120 * turns,
            "cost_usd": round(unit_cost * turns, 6)}  # fmt: skip


def seed(workspace: Any, analyst: Any, source: DataSource) -> PromptExecution:
    """The library, the history, and one execution with a whole timeline; returns that one."""
    rng = random.Random(7)
    saved = [
        prompt_create(workspace=workspace, created_by=analyst, prompt_text=f"{QUESTIONS[i % len(QUESTIONS)]} ({i})",
                      saved=True, title=f"Saved question {i:02}", tags=rng.sample(TAGS, rng.randint(1, 3)),
                      selected_data_source_ids=[source.pk])
        for i in range(PROMPTS)
    ]  # fmt: skip
    now = timezone.now()
    executions = []
    with transaction.atomic():
        for i in range(EXECUTIONS):
            status = rng.choice(STATUSES)
            model, unit_cost = rng.choice(MODELS)
            turns = rng.randint(2, 6)
            finished = status in (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)
            rows = rng.randint(0, 5000) if status == ExecutionStatus.COMPLETED else None
            text = f"{rng.choice(QUESTIONS)} #{i}"
            # A run of a saved prompt is linked to it; any other run has its own draft prompt, as
            # execution_create writes it (each with its grants: the library's queries see them).
            prompt = saved[i % PROMPTS] if i % 3 == 0 else prompt_create(
                workspace=workspace, created_by=analyst, prompt_text=text)  # fmt: skip
            executions.append(
                PromptExecution(
                    workspace=workspace, user=analyst, prompt=prompt, prompt_text=text,
                    selected_data_source_ids=[source.pk] if i % 2 == 0 else [], status=status,
                    phase=Phase.DONE if finished else Phase.REASONING, progress_percentage=100 if finished else 60,
                    intent_type=rng.choice(INTENTS), total_duration_ms=rng.randint(300, 30_000) if finished else None,
                    rows_returned=rows, result_columns=["region", "n"] if rows else None,
                    generated_query_text="SELECT region, count(*) AS n FROM billing.customers GROUP BY region"
                    if rows else "",
                    result_preview=[{"region": f"R{k}", "n": k} for k in range(20)] if rows else None,
                    ai_metadata=_metadata(model, unit_cost, turns), turn_count=turns,
                )
            )  # fmt: skip
        made = PromptExecution.objects.bulk_create(executions)
        for execution in made:
            execution_grant(execution, analyst)
        # Spread over the last 90 days, newest first as they were made.
        for i, execution in enumerate(made):
            created = now - timedelta(minutes=130 * i + rng.randint(0, 60))
            PromptExecution.objects.filter(pk=execution.pk).update(created_at=created, started_at=created)
    shown = made[0]
    PromptExecution.objects.filter(pk=shown.pk).update(
        status=ExecutionStatus.COMPLETED, rows_returned=20, result_columns=["region", "n"],
        result_preview=[{"region": f"R{k}", "n": k} for k in range(20)], last_event_seq=40,
        generated_query_text="SELECT region, count(*) AS n FROM billing.customers GROUP BY region",
    )  # fmt: skip
    Turn.objects.bulk_create(
        [Turn(execution=shown, index=k, status=TurnStatus.DONE, category="generation") for k in range(5)]
    )
    events = []
    for seq in range(1, 41):
        kind = "progress" if seq % 4 else "tool.completed"
        events.append(ExecutionEvent(execution=shown, seq=seq, type=kind, payload={"percentage": min(100, seq * 3)}))
    ExecutionEvent.objects.bulk_create(events)
    # The statistics autovacuum would have gathered on a workspace that grew to this size: query
    # plans of freshly inserted, never analysed rows would not be the ones a real workspace gets.
    with connection.cursor() as cursor:
        for table in (PromptExecution, Prompt, ExecutionEvent, UserObjectPermission, GroupObjectPermission):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table._meta.db_table)}")
    shown.refresh_from_db()
    return shown


def pages(execution: PromptExecution) -> dict[str, tuple[str, dict[str, str]]]:
    day = timezone.localdate()
    filtered = (f"/executions/?status=completed&q=revenue&date_from={day - timedelta(days=60)}"
                f"&date_to={day}")  # fmt: skip
    return {
        "studio": ("/", {}),
        "history": ("/executions/", {}),
        "history_filtered": (filtered, {}),
        "history_filtered_htmx": (filtered, {"HX-Request": "true"}),
        "history_page_10": ("/executions/?page=10", {}),
        "execution": (f"/executions/{execution.pk}/", {}),
        "saved_prompts": ("/prompts/", {}),
        "saved_prompts_by_tag": ("/prompts/?tag=sales&q=question", {}),
        "datasources": ("/datasources/", {}),
        "governance": ("/governance/", {}),
    }


def run_pages(client: Client, targets: dict[str, tuple[str, dict[str, str]]]) -> dict[str, dict[str, float]]:
    figures = {}
    for name, (url, headers) in targets.items():
        response = client.get(url, headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"{name}: GET {url} answered {response.status_code}")

        def get(url: str = url, headers: dict[str, str] = headers) -> None:
            client.get(url, headers=headers)

        figures[name] = measure(get, SAMPLES, warmup=3)
    return figures


def main() -> None:
    workspace = bench_workspace("pages-bench", "Pages bench")
    owner, analyst = make_user("bench-pages-owner"), make_user("bench-pages-analyst")
    workspace_services.membership_set(workspace=workspace, user=owner, role=Role.OWNER)
    workspace_services.membership_set(workspace=workspace, user=analyst, role=Role.ANALYST)
    clean(workspace)
    try:
        source = bench_source(workspace)
        execution = seed(workspace, analyst, source)
        as_owner, as_analyst = Client(), Client()
        as_owner.force_login(owner)
        as_analyst.force_login(analyst)
        # The bench's workspace is the current one, as if chosen in the switcher.
        for client in (as_owner, as_analyst):
            session = client.session
            session[SESSION_WORKSPACE_KEY] = str(workspace.pk)
            session.save()
        figures = run_pages(as_owner, pages(execution))
        analyst_pages: dict[str, tuple[str, dict[str, str]]] = {
            "history_as_analyst": ("/executions/", {}),
            "saved_prompts_as_analyst": ("/prompts/", {}),
        }
        figures.update(run_pages(as_analyst, analyst_pages))
    finally:
        clean(workspace)
    worst = max(figures.values(), key=lambda f: f["p95_ms"])
    goal_met = all(f["p95_ms"] < GOAL_MS for f in figures.values())
    for name, f in figures.items():
        print(f"{name:26} p50 {f['p50_ms']:8.1f} ms   p95 {f['p95_ms']:8.1f} ms")
    print(f"{EXECUTIONS} executions in history; worst p95 {worst['p95_ms']} ms (goal: every page under {GOAL_MS:.0f})")
    report("pages", {"executions": EXECUTIONS, "samples": SAMPLES, "pages": figures, "goal_ms": GOAL_MS,
                     "goal_met": goal_met})  # fmt: skip


if __name__ == "__main__":
    main()
