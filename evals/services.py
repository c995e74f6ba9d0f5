"""The evaluation's set-up and run: the "eval" workspace with its sources and logins, questions
asked through the real pipeline (executions created as the API creates them, the governance
gateway, a Celery worker), and each execution scored against its gold query.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.http import Http404

from agent.tools.query import governed_read
from agent.types import ToolContext
from datasources import services as datasource_services
from datasources.connectors.base import ConnectorError
from datasources.demo import demo_datasources_ensure
from datasources.models import DataSource
from datasources.queries import query_read
from evals.databases import DATABASES, eval_databases_load, eval_source_settings
from evals.scoring import Verdict, compare_results, gold_orders, outcome_verdict
from evals.suites import Question
from executions import services as execution_services
from executions.models import TERMINAL_STATUSES, ExecutionEvent, ExecutionStatus, Interaction, PromptExecution
from governance.demo import demo_policies_ensure, demo_tags_ensure
from governance.gateway import Actor, actor_for
from governance.policies import dialect_of
from governance.selectors import audit_events
from workspaces import services as workspace_services
from workspaces.models import Organization, Role, Workspace
from workspaces.selectors import WorkspaceNotFound

EVAL_ORG_SLUG = "eval"
EVAL_WORKSPACE_SLUG = "eval"
# The logins of the eval workspace: an owner, whom no policy restricts, and an analyst of one
# region, whom the demo's policies filter and mask (the policy-regression mode asks as them).
EVAL_OWNER = "eval-owner"
EVAL_ANALYST = "eval-analyst"
_LOGINS = ((EVAL_OWNER, Role.OWNER, {"region": "GLOBAL", "department": "it"}),
           (EVAL_ANALYST, Role.ANALYST, {"region": "EMEA", "department": "sales"}))  # fmt: skip
QUESTION_TIMEOUT_SECONDS = 60.0
_POLL_SECONDS = 0.05


class EvalError(Exception):
    """Something the person running the evaluation can fix; ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# --- set-up ------------------------------------------------------------------------------------


def eval_workspace_ensure(*, force: bool = False) -> Workspace:
    """The "eval" workspace (created once, brought up to date on every call): the demo's three
    sources and policies, the evaluation's own databases, and the two logins."""
    with transaction.atomic():
        organization = Organization.objects.filter(slug=EVAL_ORG_SLUG).first() or (
            workspace_services.organization_create(name="Evaluation", slug=EVAL_ORG_SLUG)
        )
        workspace = Workspace.objects.filter(organization=organization, slug=EVAL_WORKSPACE_SLUG).first()
        if workspace is None:
            workspace = workspace_services.workspace_create(
                organization=organization, name="Evaluation", slug=EVAL_WORKSPACE_SLUG
            )
        for username, role, attributes in _LOGINS:
            user, _ = get_user_model().objects.get_or_create(username=username)
            workspace_services.membership_set(workspace=workspace, user=user, role=role, attributes=attributes)
    demo_tags_ensure(workspace=workspace)
    demo_sources = demo_datasources_ensure(workspace=workspace, force=force)
    demo_policies_ensure(workspace=workspace, datasources=demo_sources)
    eval_databases_load(force=force)
    for database in DATABASES:
        source_settings, secrets = eval_source_settings(database)
        datasource = DataSource.objects.filter(workspace=workspace, name=database.source_name).first()
        if datasource is None:
            datasource = datasource_services.datasource_create(
                workspace=workspace, name=database.source_name, kind="postgresql", settings=source_settings,
                secrets=secrets, description=database.description,
            )  # fmt: skip
        elif datasource.settings != source_settings or datasource.secrets != secrets:
            datasource = datasource_services.datasource_update(
                datasource=datasource, settings=source_settings, secrets=secrets
            )
        if force or datasource.last_introspected_at is None or datasource.status != "ready":
            datasource_services.datasource_introspect(datasource_id=datasource.pk)
    return workspace


def workspace_by_slug(slug: str) -> Workspace:
    """``slug`` or ``organisation/slug``; EvalError when it names no workspace or more than one."""
    organization, _, name = slug.rpartition("/")
    found = Workspace.objects.filter(slug=name)
    if organization:
        found = found.filter(organization__slug=organization)
    workspaces = list(found[:2])
    if not workspaces:
        raise EvalError("unknown_workspace", f"No workspace {slug!r}.")
    if len(workspaces) > 1:
        raise EvalError("ambiguous_workspace", f"Several organisations have a workspace {slug!r}: write org/slug.")
    return workspaces[0]


def actor_by_login(*, username: str, workspace: Workspace) -> Actor:
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise EvalError("unknown_user", f"No login {username!r}.")
    try:
        return actor_for(user=user, workspace_id=workspace.pk)
    except WorkspaceNotFound as exc:
        raise EvalError("not_a_member", f"{username} is not a member of the workspace {workspace.slug}.") from exc


def sources_by_name(*, workspace: Workspace, questions: Iterable[Question]) -> dict[str, DataSource]:
    """The workspace's data sources the questions name; EvalError naming those it lacks."""
    names = {question.source for question in questions}
    found = {source.name: source for source in DataSource.objects.filter(workspace=workspace, name__in=names)}
    missing = sorted(names - set(found))
    if missing:
        raise EvalError("unknown_source", f"The workspace {workspace.slug} has no data source {', '.join(missing)}.")
    return found


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rows:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    truncated: bool = False


@dataclass
class QuestionResult:
    id: str
    category: str
    source: str
    question: str
    expect: str
    outcome: str = ""  # rows, refusal, ask_back, approval, failed, cancelled, timeout
    verdict: str = "wrong"  # correct | wrong | error
    reason: str = ""
    sql: str = ""  # what ran: the gateway's rewrite of the model's SQL
    model_sql: str = ""  # what the model wrote
    seconds: float | None = None
    execution_id: str = ""
    rows_compared_from: str = ""  # "stored" or "re-run" (the stored rows were only a preview)
    leaks: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def gold_rows(*, datasource: DataSource, sql: str) -> Rows:
    """The gold query's full result, on the read-only path, as the source's owner sees it (no
    policies: the gold answer is what the data says)."""
    result = query_read(datasource=datasource, sql=sql, max_rows=settings.QUERY_MAX_ROWS,
                        preview_rows=settings.QUERY_MAX_ROWS)  # fmt: skip
    return Rows(result.columns, result.rows, result.truncated)


def governed_rows(*, actor: Actor, execution: PromptExecution, datasource: DataSource, sql: str) -> Rows:
    """``sql`` run again through the gateway as ``actor``, for its full result (up to the row cap):
    what the execution would have shown had it shown every row."""
    context = ToolContext(actor=actor, execution_id=execution.pk, tool_call_id=f"evaluate-{execution.pk}")
    read = governed_read(context, datasource=datasource, sql=sql, purpose="evaluation: the full result",
                         max_rows=settings.QUERY_MAX_ROWS)  # fmt: skip
    if read.error is not None:
        raise EvalError(read.error.code, read.error.message)
    if read.result is None:
        raise EvalError(read.decision.code, read.decision.reason or "The gateway did not run the query again.")
    return Rows(read.result.columns, read.result.rows, read.result.truncated)


def model_sql(execution: PromptExecution) -> str:
    """The model's own SQL behind the execution's result, as the audit log recorded it before the
    gateway's rewrite (the execution keeps the rewrite, with the asking user's filters and masks
    built in); the rewrite when the log has no such row."""
    event = (
        audit_events(workspace=execution.workspace, tool="run_query", decision="allowed")
        .filter(execution_id=execution.pk, sql_after=execution.generated_query_text)
        .only("sql_before")
        .first()
    )
    return event.sql_before if event is not None and event.sql_before else execution.generated_query_text


def execution_rows(*, actor: Actor, execution: PromptExecution, datasource: DataSource) -> tuple[Rows, str]:
    """The execution's full result: its stored rows when they are all of them, else the model's SQL
    run again through the gateway as the asking user (the stored rows are a preview of the first
    ones; the gateway applies the same filters and masks again)."""
    columns = tuple(execution.result_columns or ())
    preview = execution.result_preview or []
    complete = execution.rows_returned is not None and execution.rows_returned <= len(preview)
    if complete and len(set(columns)) == len(columns):  # a dict per row loses repeated column names
        return Rows(columns, tuple(tuple(row.get(c) for c in columns) for row in preview)), "stored"
    return governed_rows(actor=actor, execution=execution, datasource=datasource,
                         sql=model_sql(execution)), "re-run"  # fmt: skip


def outcome_of(execution: PromptExecution) -> tuple[str, str]:
    """What the execution did, as a question's expectation names it, and a detail for the report."""
    if execution.status == ExecutionStatus.WAITING_FOR_USER:
        interaction = Interaction.objects.filter(execution=execution, status=Interaction.Status.OPEN).last()
        if interaction is not None and interaction.kind == Interaction.Kind.APPROVAL:
            return "approval", interaction.tool
        return "ask_back", (interaction.question[:200] if interaction else "")
    if execution.status == ExecutionStatus.COMPLETED:
        if execution.query_execution_status == "completed" and execution.result_columns is not None:
            return "rows", ""
        denied = ExecutionEvent.objects.filter(execution=execution, type="tool.denied").last()
        if denied is not None:
            return "refusal", f"the gateway denied {denied.payload.get('tool')}: {denied.payload.get('code', '')}"
        # Finished without data: the model declined or explained why it could not answer.
        return "refusal", str((execution.final_data or {}).get("answer", ""))[:200]
    if execution.status == ExecutionStatus.CANCELLED:
        return "cancelled", execution.error_message
    return "failed", f"{execution.error_code}: {execution.error_message}"[:300]


def _seconds(execution: PromptExecution) -> float:
    """From the execution's creation to its last event: what the person asking waits, by the
    database's own clock (no polling interval in it)."""
    last = ExecutionEvent.objects.filter(execution=execution).aggregate(at=Max("created_at"))["at"]
    return round((last - execution.created_at).total_seconds(), 3) if last else 0.0


# --- the run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOptions:
    workspace: Workspace
    actor: Actor
    model: str = ""  # "" = the built-in offline model ("offline")
    in_flight: int = 4  # executions running at once (the worker's threads)
    timeout_seconds: float = QUESTION_TIMEOUT_SECONDS


def _ask(options: RunOptions, question: Question, source: DataSource) -> PromptExecution:
    request = execution_services.ExecuteRequest(prompt_text=question.text, workspace_id=options.workspace.pk,
                                                selected_data_source_ids=[source.pk],
                                                ai_model=options.model or "offline")  # fmt: skip
    try:
        return execution_services.execution_create(user=options.actor.user, request=request,
                                                   membership=options.actor.membership)  # fmt: skip
    except ValidationError as exc:  # what the API answers 400 to: the whole run would fail alike
        codes = [error.code for error in exc.error_list] if not hasattr(exc, "error_dict") else [
            error.code for errors in exc.error_dict.values() for error in errors]  # fmt: skip
        raise EvalError(next((c for c in codes if c), "invalid_request"), "; ".join(exc.messages)) from None
    except Http404:
        raise EvalError("unknown_source", f"{options.actor.user} cannot see the source {source.name!r}.") from None


def _settled(execution: PromptExecution) -> bool:
    return execution.status in TERMINAL_STATUSES or execution.status == ExecutionStatus.WAITING_FOR_USER


def score(
    *,
    options: RunOptions,
    question: Question,
    source: DataSource,
    execution: PromptExecution,
    gold: Callable[[Question, DataSource], Rows],
) -> QuestionResult:
    result = QuestionResult(id=question.id, category=question.category, source=question.source,
                            question=question.text, expect=question.expect, execution_id=str(execution.pk),
                            sql=execution.generated_query_text, seconds=_seconds(execution))  # fmt: skip
    result.outcome, detail = outcome_of(execution)
    if execution.generated_query_text:
        result.model_sql = model_sql(execution)
    if question.expect != "rows":
        verdict = outcome_verdict(question.expect, result.outcome, detail)
    elif result.outcome != "rows":
        verdict = Verdict(False, f"expected rows, got {result.outcome}" + (f": {detail}" if detail else ""))
    else:
        try:
            expected = gold(question, source)
            got, result.rows_compared_from = execution_rows(actor=options.actor, execution=execution,
                                                            datasource=source)  # fmt: skip
        except (ConnectorError, EvalError) as exc:
            result.verdict, result.reason = "error", f"{exc.code}: {exc}"
            return result
        if got.truncated and not expected.truncated:
            verdict = Verdict(False, f"more than {settings.QUERY_MAX_ROWS} rows where the gold query has fewer")
        else:
            verdict = compare_results(expected.rows, got.rows, ordered=gold_orders(question.gold_sql,
                                                                                   dialect_of(source)))  # fmt: skip
    result.verdict, result.reason = ("correct" if verdict.correct else "wrong"), verdict.reason
    return result


def suite_run(
    *,
    options: RunOptions,
    questions: Sequence[Question],
    on_result: Callable[[QuestionResult, PromptExecution], None] | None = None,
) -> list[QuestionResult]:
    """Asks every question (``in_flight`` at a time), waits for each execution to finish or to wait
    for a person, scores it, and cancels those left waiting (nobody will answer them)."""
    sources = sources_by_name(workspace=options.workspace, questions=questions)
    gold_cache: dict[str, Rows] = {}

    def gold(question: Question, source: DataSource) -> Rows:
        if question.id not in gold_cache:
            gold_cache[question.id] = gold_rows(datasource=source, sql=question.gold_sql)
        return gold_cache[question.id]

    pending = list(questions)
    running: dict[Any, tuple[Question, PromptExecution, float]] = {}
    results: dict[str, QuestionResult] = {}
    while pending or running:
        while pending and len(running) < options.in_flight:
            question = pending.pop(0)
            execution = _ask(options, question, sources[question.source])
            running[execution.pk] = (question, execution, time.monotonic() + options.timeout_seconds)
        for execution_id, (question, execution, deadline) in list(running.items()):
            execution.refresh_from_db()
            if not _settled(execution) and time.monotonic() < deadline:
                continue
            del running[execution_id]
            if not _settled(execution):
                result = QuestionResult(id=question.id, category=question.category, source=question.source,
                                        question=question.text, expect=question.expect, outcome="timeout",
                                        verdict="error", execution_id=str(execution.pk),
                                        reason=f"not finished within {options.timeout_seconds:g} s")  # fmt: skip
            else:
                result = score(options=options, question=question, source=sources[question.source],
                               execution=execution, gold=gold)  # fmt: skip
            if on_result is not None:
                on_result(result, execution)
            if not execution.is_terminal:
                execution_services.execution_cancel(user=options.actor.user, execution=execution)
            results[question.id] = result
        if running:
            time.sleep(_POLL_SECONDS)  # polling the executions' rows, as `manage.py ask` does
    return [results[question.id] for question in questions]


# --- the summary -------------------------------------------------------------------------------


def _percent(correct: int, total: int) -> float:
    return round(100.0 * correct / total, 1) if total else 0.0


def summarise(results: Sequence[QuestionResult]) -> dict[str, Any]:
    """Overall and per-category accuracy (percent), median and p95 seconds per question."""
    by_category: dict[str, list[QuestionResult]] = defaultdict(list)
    for result in results:
        by_category[result.category].append(result)
    times = sorted(r.seconds for r in results if r.seconds is not None)
    correct = sum(r.verdict == "correct" for r in results)
    return {
        "questions": len(results),
        "correct": correct,
        "accuracy": _percent(correct, len(results)),
        "errors": sum(r.verdict == "error" for r in results),
        "by_category": {
            category: _percent(sum(r.verdict == "correct" for r in items), len(items))
            for category, items in sorted(by_category.items())
        },
        "median_seconds": round(statistics.median(times), 3) if times else None,
        "p95_seconds": round(times[max(0, int(len(times) * 0.95) - 1)], 3) if times else None,
    }
