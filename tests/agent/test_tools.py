"""The tools through their one entry point, ``call_tool``: the gateway decides, the tool runs, the
model gets an observation, the audit log gets the decision and the outcome.

Alice owns Acme's workspace, Ana is an EMEA analyst, Vic a viewer; Bob owns Globex's workspace and
should have no access to any of Acme's stuff. Ana's view of the demo SQLite source: customers of her
region only, no payments table, no contact phones, contact and customer e-mails masked.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction

from agent.dispatch import call_tool
from agent.models import ToolLedger
from agent.tools import INVENTORY, TOOLS, Tool
from agent.types import INTENTS, ToolCall, ToolContext, ToolResult
from datasources import services
from datasources.catalog import catalog_apply
from governance import gateway
from governance.audit import audit_verify
from governance.gateway import Actor, ToolSpec
from governance.models import (
    ApprovalAction,
    ApprovalRule,
    AuditEvent,
    ColumnMaskPolicy,
    RowFilterPolicy,
    TableVisibilityPolicy,
)
from workspaces.models import Membership

pytestmark = pytest.mark.django_db

TABLE_KEYS = {"datasource_id", "datasource", "schema", "name", "qualified_name", "comment", "description", "synonyms",
              "row_estimate", "score", "columns"}  # fmt: skip
COLUMN_KEYS = {"name", "type", "pk", "references", "inferred", "masked", "comment", "description", "synonyms"}
REGIONS = ["APAC", "EMEA", "LATAM", "NA"]


def actor(tenancy: Any, name: str) -> Actor:
    user = getattr(tenancy, name)
    membership = Membership.objects.select_related("workspace", "user").get(user=user)
    return Actor(user=user, workspace=membership.workspace, membership=membership)


def context(tenancy: Any, name: str, **extra: Any) -> ToolContext:
    return ToolContext(actor=actor(tenancy, name), execution_id=uuid.uuid4(), tool_call_id="call_1", **extra)


def call(ctx: ToolContext, tool: str, arguments: Any, call_id: str = "call_1") -> ToolResult:
    return call_tool(ctx, ToolCall(id=call_id, name=tool, arguments=arguments))


def audit_rows(execution_id: uuid.UUID) -> list[tuple[str, str, str]]:
    return [(e.tool, e.decision, e.code) for e in AuditEvent.objects.filter(execution_id=execution_id).order_by("id")]


@pytest.fixture
def ana_policies(tenancy: Any, sqlite_source: Any) -> None:
    common = {"workspace": tenancy.acme, "datasource": sqlite_source, "schema_name": "main"}
    RowFilterPolicy.objects.create(**common, name="Own region only", table_name="billing_customers",
                                   predicate="region = {{ user.region }}", roles=["analyst", "viewer"])  # fmt: skip
    TableVisibilityPolicy.objects.create(**common, name="No payments", table_name="billing_payments",
                                         hidden_for_roles=["analyst"])  # fmt: skip
    ColumnMaskPolicy.objects.create(**common, name="Hide phones", table_name="crm_contacts", column_name="phone",
                                    strategy="hide", exempt_roles=["owner"])  # fmt: skip
    ColumnMaskPolicy.objects.create(**common, name="Mask emails", table_name="crm_contacts", column_name="email",
                                    strategy="partial")  # fmt: skip
    ColumnMaskPolicy.objects.create(**common, name="Mask customer segments", table_name="billing_customers",
                                    column_name="segment", strategy="redact", exempt_roles=["owner"])  # fmt: skip


# --- search_catalog ----------------------------------------------------------------------------


def test_search_leaves_hidden_tables_and_columns_out_and_marks_masks(tenancy, sqlite_source, ana_policies):
    ctx = context(tenancy, "ana")
    payments = call(ctx, "search_catalog", {"query": "payments card"})
    assert payments.status == "ok"
    assert "billing_payments" not in {t["name"] for t in payments.observation["tables"]}

    contacts = call(ctx, "search_catalog", {"query": "contacts email phone", "limit": 3}).observation["tables"]
    assert 1 <= len(contacts) <= 3
    table = contacts[0]
    assert set(table) == TABLE_KEYS
    assert (table["datasource_id"], table["datasource"]) == (str(sqlite_source.pk), "Acme SQLite")
    assert (table["schema"], table["name"], table["qualified_name"]) == ("main", "crm_contacts", "main.crm_contacts")
    columns = {c["name"]: c for c in table["columns"]}
    assert all(set(c) == COLUMN_KEYS for c in columns.values())
    assert "phone" not in columns
    assert columns["email"]["masked"] == "partial"
    assert columns["id"]["pk"] is True
    assert columns["company_id"]["references"] == "main.crm_companies.id"

    owner = call(context(tenancy, "alice"), "search_catalog", {"query": "payments card"}).observation["tables"]
    assert "billing_payments" in {t["name"] for t in owner}


def test_search_keeps_to_the_executions_selection(tenancy, sqlite_source):
    other = str(uuid.uuid4())
    nothing = call(context(tenancy, "ana", datasource_ids=(other,)), "search_catalog", {"query": "invoices"})
    assert nothing.observation == {"tables": []}
    selected = call(context(tenancy, "ana", datasource_ids=(sqlite_source.pk,)), "search_catalog",
                    {"query": "invoices"})  # fmt: skip
    assert "billing_invoices" in {t["name"] for t in selected.observation["tables"]}


# --- describe_table ----------------------------------------------------------------------------


def describe(ctx: ToolContext, source: Any, table: str) -> ToolResult:
    return call(ctx, "describe_table", {"datasource_id": str(source.pk), "table": table})


def test_describe_shows_the_table_as_the_actor_sees_it_with_filtered_samples(tenancy, sqlite_source, ana_policies):
    ctx = context(tenancy, "ana")
    described = describe(ctx, sqlite_source, "billing_customers")
    assert described.status == "ok", described.observation
    table = described.observation
    assert TABLE_KEYS <= set(table)
    assert [c["name"] for c in table["columns"]] == ["id", "name", "email", "phone", "country", "region", "segment",
                                                     "created_at", "account_manager"]  # fmt: skip
    assert {c["name"]: c["masked"] for c in table["columns"]}["segment"] == "redact"
    # The row filter holds for sample values: Ana sees her region only. Masked columns get none.
    assert table["sample_values"]["region"] == ["EMEA"]
    assert "segment" not in table["sample_values"]
    assert "name" not in table["sample_values"]  # one value per row: not sampled
    # Each sample read went through the gateway as a run_query of Ana's, rewritten and audited.
    reads = AuditEvent.objects.filter(execution_id=ctx.execution_id, tool="run_query")
    assert reads.exists() and all(e.decision == "allowed" and "'EMEA'" in e.sql_after for e in reads)
    outcomes = AuditEvent.objects.filter(execution_id=ctx.execution_id, tool="run_query.outcome")
    assert outcomes.count() == reads.count()
    assert audit_rows(ctx.execution_id)[0] == ("describe_table", "allowed", "ok")
    assert audit_rows(ctx.execution_id)[-1] == ("describe_table.outcome", "completed", "ok")

    owner = describe(context(tenancy, "alice"), sqlite_source, "main.billing_customers").observation
    assert owner["sample_values"]["region"] == REGIONS
    assert sorted(owner["sample_values"]["segment"]) == ["Enterprise", "Mid-Market", "SMB"]


def test_describe_leaves_hidden_columns_out(tenancy, sqlite_source, ana_policies):
    table = describe(context(tenancy, "ana"), sqlite_source, '"main"."crm_contacts"').observation
    columns = {c["name"]: c["masked"] for c in table["columns"]}
    assert "phone" not in columns
    assert columns["email"] == "partial"
    assert "email" not in table["sample_values"]


def test_a_hidden_table_reads_exactly_like_one_that_does_not_exist(tenancy, sqlite_source, ana_policies):
    ctx = context(tenancy, "ana")
    hidden, missing = describe(ctx, sqlite_source, "billing_payments"), describe(ctx, sqlite_source, "billing_nope")
    assert (hidden.status, hidden.error_code) == (missing.status, missing.error_code) == ("error", "unknown_table")
    words = hidden.observation["error"]["message"].replace("billing_payments", "X")
    assert words == missing.observation["error"]["message"].replace("billing_nope", "X")
    assert describe(context(tenancy, "alice"), sqlite_source, "billing_payments").status == "ok"


def test_a_viewer_gets_the_description_without_sample_values(tenancy, sqlite_source):
    described = describe(context(tenancy, "vic"), sqlite_source, "billing_invoices")
    assert described.status == "ok"
    assert described.observation["sample_values"] == {}
    assert described.observation["sample_values_unavailable"]["code"] == "permission_denied"


def test_another_workspaces_source_does_not_exist(tenancy, sqlite_source):
    described = describe(context(tenancy, "bob"), sqlite_source, "billing_invoices")
    assert (described.status, described.error_code) == ("denied", "not_found")
    assert described.observation == {"error": {"code": "not_found", "message": "No such data source."}}


# --- run_query ---------------------------------------------------------------------------------


def query(ctx: ToolContext, source: Any, sql: str) -> ToolResult:
    return call(ctx, "run_query", {"datasource_id": str(source.pk), "sql": sql, "purpose": "test"})


def test_run_query_runs_the_rewritten_sql_and_returns_only_filtered_rows(tenancy, sqlite_source, ana_policies):
    ctx = context(tenancy, "ana")
    result = query(ctx, sqlite_source, "SELECT region, count(*) AS n FROM billing_customers GROUP BY region")
    assert result.status == "ok", result.observation
    assert result.sql is not None and "'EMEA'" in result.sql
    assert result.observation["sql"] == result.sql
    assert result.observation["columns"] == ["region", "n"]
    assert [row[0] for row in result.observation["rows"]] == ["EMEA"]
    assert (result.observation["row_count"], result.observation["truncated"], result.rows_returned) == (1, False, 1)
    assert result.data is not None
    assert {key: result.data[key] for key in ("columns", "rows", "datasource_id")} == {
        "columns": ["region", "n"],
        "rows": result.observation["rows"],
        "datasource_id": str(sqlite_source.pk),
    }
    # Which columns of the tables read are masked for Ana, by which policy and why (model and page see it).
    assert [(m["column"], m["policy"]) for m in result.data["masked"]] == [("segment", "Mask customer segments")]
    assert result.observation["masked"] == result.data["masked"]
    json.dumps(result.as_json())  # JSON-friendly all the way
    events = list(AuditEvent.objects.filter(execution_id=ctx.execution_id).order_by("id"))
    assert [(e.tool, e.decision, e.rows_returned) for e in events] == [
        ("run_query", "allowed", None),
        ("run_query.outcome", "completed", 1),
    ]
    assert events[0].sql_after == events[1].sql_after == result.sql
    assert list(audit_verify()) == []


def test_run_query_caps_the_rows_shown_to_the_model(tenancy, sqlite_source, settings):
    settings.QUERY_PREVIEW_ROWS = 5
    result = query(context(tenancy, "alice"), sqlite_source, "SELECT id FROM billing_invoices")
    assert len(result.observation["rows"]) == 5
    assert result.observation["row_count"] == result.rows_returned == settings.QUERY_MAX_ROWS  # 20,000 invoices


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [("alice", "ok", ""), ("ana", "ok", ""), ("vic", "denied", "permission_denied"), ("bob", "denied", "not_found")],
)
def test_who_may_query_a_source(tenancy, sqlite_source, who, status, code):
    ctx = context(tenancy, who)
    result = query(ctx, sqlite_source, "SELECT count(*) FROM billing_products")
    assert (result.status, result.error_code) == (status, code)
    if status == "denied":
        # A denial is an observation the model sees, with the gateway's reason; nothing ran.
        assert result.observation["error"]["code"] == code
        assert result.observation["error"]["message"]
        assert result.sql is None
        assert audit_rows(ctx.execution_id) == [("run_query", "denied", code)]
    else:
        assert result.observation["rows"] == [[40]]


def test_the_firewall_refusal_is_a_denial_the_model_can_read(tenancy, sqlite_source, ana_policies):
    result = query(context(tenancy, "ana"), sqlite_source, "SELECT * FROM billing_payments")
    assert (result.status, result.error_code) == ("denied", "sql_unknown_table")
    multiple = query(context(tenancy, "ana"), sqlite_source, "SELECT 1; DROP TABLE billing_customers")
    assert multiple.error_code == "sql_multiple_statements"


def test_an_engine_error_comes_back_with_its_stable_code(tenancy):
    folder = Path(settings.DATASOURCE_FILE_ROOTS[1])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tools-vanishing.sqlite"
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, amount REAL)")
    source = services.datasource_create(workspace=tenancy.acme, name="Vanishing", kind="sqlite",
                                        settings={"path": str(path)})  # fmt: skip
    catalog_apply(datasource=source, introspection=services.connector_for(source).introspect())
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE orders")
    ctx = context(tenancy, "alice")
    result = query(ctx, source, "SELECT sum(amount) FROM orders")
    assert (result.status, result.error_code) == ("error", "table_not_found")
    assert result.observation["error"]["code"] == "table_not_found"
    assert audit_rows(ctx.execution_id)[-1] == ("run_query.outcome", "failed", "table_not_found")


# --- the dispatcher ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments", "mentions"),
    [
        ("run_query", {"datasource_id": "x"}, "'sql' is a required property"),
        ("run_query", {"datasource_id": "x", "sql": "SELECT 1", "dry": True}, "dry"),
        ("classify_intent", {"intent": "WHATEVER", "confidence": 0.5, "reason": "r"}, "intent"),
        ("classify_intent", {"intent": "DATA_QUERY", "confidence": 2, "reason": "r"}, "confidence"),
        ("ask_user", {"question": "Which?", "choices": [str(i) for i in range(11)]}, "choices"),
        ("search_catalog", {"query": "x", "limit": 0}, "limit"),
        ("finish", ["not", "an", "object"], "not of type 'object'"),
    ],
)
def test_invalid_arguments_get_a_message_the_model_can_act_on(tenancy, tool, arguments, mentions):
    ctx = context(tenancy, "ana")
    result = call(ctx, tool, arguments)
    assert (result.status, result.error_code) == ("error", "invalid_arguments")
    message = result.observation["error"]["message"]
    assert mentions in message and tool in message
    # Malformed calls are audited like any other.
    assert audit_rows(ctx.execution_id)[0][0] == tool


def test_an_unknown_tool_is_denied_and_audited(tenancy):
    ctx = context(tenancy, "alice")
    result = call(ctx, "drop_everything", {"please": True})
    assert (result.status, result.error_code) == ("denied", "unknown_tool")
    assert result.observation == {
        "error": {"code": "unknown_tool", "message": "There is no tool named 'drop_everything'."}
    }
    assert audit_rows(ctx.execution_id) == [("drop_everything", "denied", "unknown_tool")]


def test_every_tool_has_a_valid_schema_and_a_description(tenancy):
    import jsonschema

    for name in ("classify_intent", "search_catalog", "describe_table", "run_query", "ask_user", "request_approval",
                 "finish"):  # fmt: skip
        tool = TOOLS[name]
        jsonschema.validators.validator_for(tool.parameters).check_schema(tool.parameters)
        assert tool.parameters["type"] == "object"
        assert len(tool.description) > 80
        assert name in gateway.registered_tools()


# --- interaction tools -------------------------------------------------------------------------


def test_classify_intent_names_the_tools_now_on_offer(tenancy):
    result = call(context(tenancy, "ana"), "classify_intent",
                  {"intent": "DATA_QUERY", "confidence": 0.9, "reason": "a count"})  # fmt: skip
    assert (result.status, result.intent, result.confidence) == ("ok", "DATA_QUERY", 0.9)
    assert result.observation == {"intent": "DATA_QUERY", "tools": list(INVENTORY["DATA_QUERY"])}
    assert set(INTENTS) == set(INVENTORY)


def test_ask_user_pauses_with_the_question_and_choices(tenancy):
    result = call(context(tenancy, "ana"), "ask_user", {"question": "Which quarter?", "choices": ["Q1", "Q2"]})
    assert (result.status, result.pauses) == ("ask_user", True)
    assert result.interaction == {"question": "Which quarter?", "choices": ["Q1", "Q2"]}
    plain = call(context(tenancy, "ana"), "ask_user", {"question": "Which region?"})
    assert plain.interaction == {"question": "Which region?", "choices": []}


def test_request_approval_pauses_and_is_approved_when_resumed(tenancy):
    asked = call(context(tenancy, "ana"), "request_approval", {"action": "email the report", "details": "to all"})
    assert (asked.status, asked.pauses) == ("approval", True)
    assert asked.interaction is not None
    assert (asked.interaction["question"], asked.interaction["details"]) == ("Approve: email the report?", "to all")
    resumed = call(context(tenancy, "ana", approved_by="alice"), "request_approval", {"action": "email the report"})
    assert (resumed.status, resumed.observation) == ("ok", {"approved": True, "by": "alice"})


def test_finish_carries_the_answer(tenancy):
    ctx = context(tenancy, "ana")
    result = call(ctx, "finish", {"answer": "There are 40 products.", "confidence": 0.8})
    assert (result.status, result.final) == ("finish", {"answer": "There are 40 products.", "confidence": 0.8})
    assert call(ctx, "finish", {"answer": "Done."}, call_id="call_2").final == {"answer": "Done.", "confidence": None}
    assert audit_rows(ctx.execution_id)[:2] == [("finish", "allowed", "ok"), ("finish.outcome", "completed", "ok")]


# --- crashes and side effects ------------------------------------------------------------------


@pytest.fixture
def extra_tool(monkeypatch):
    """Registers a test tool in the agent and in the gateway for one test."""

    def add(tool: Tool, effect: str = gateway.READ) -> Tool:
        monkeypatch.setitem(TOOLS, tool.name, tool)
        monkeypatch.setitem(gateway._REGISTRY, tool.name, ToolSpec(tool.name, effect))
        return tool

    return add


ANY_ARGUMENTS = {"type": "object"}


def test_a_tool_that_crashes_is_a_plain_error_without_the_traceback(tenancy, extra_tool, caplog):
    def explode(ctx: ToolContext, arguments: dict[str, Any], decision: Any) -> ToolResult:
        raise ValueError("internal detail: password=hunter2")

    extra_tool(Tool("test_explode", "Always fails.", ANY_ARGUMENTS, explode))
    ctx = context(tenancy, "alice")
    result = call(ctx, "test_explode", {})
    assert (result.status, result.error_code) == ("error", "tool_failed")
    text = json.dumps(result.as_json())
    assert "hunter2" not in text and "Traceback" not in text and "ValueError" not in text
    assert "hunter2" in caplog.text  # the log has it, for the people running the service
    assert audit_rows(ctx.execution_id)[-1] == ("test_explode.outcome", "failed", "tool_failed")


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def run(self, ctx: ToolContext, arguments: dict[str, Any], decision: Any) -> ToolResult:
        self.calls += 1
        return ToolResult(observation={"done": self.calls, "by": ctx.approved_by})

    def preview(self, ctx: ToolContext, arguments: dict[str, Any], decision: Any) -> dict[str, Any]:
        return {"would_do": arguments}


@pytest.fixture
def side_effect(extra_tool) -> Counter:
    counter = Counter()
    extra_tool(Tool("test_side_effect", "Acts on the world.", ANY_ARGUMENTS, counter.run, side_effect=True,
                    preview=counter.preview), effect=gateway.ADMIN)  # fmt: skip
    return counter


@pytest.mark.django_db(transaction=True)  # the ledger row is committed before the tool acts
def test_a_side_effecting_tool_runs_once_per_tool_call_id(tenancy, side_effect):
    ctx = context(tenancy, "alice")
    first = call(ctx, "test_side_effect", {"n": 1}, call_id="call_a")
    again = call(ctx, "test_side_effect", {"n": 1}, call_id="call_a")
    assert first == again == ToolResult(observation={"done": 1, "by": ""})
    assert side_effect.calls == 1
    assert call(ctx, "test_side_effect", {"n": 1}, call_id="call_b").observation["done"] == 2
    entry = ToolLedger.objects.get(execution_id=ctx.execution_id, tool_call_id="call_a")
    assert (entry.status, entry.tool, entry.result) == ("done", "test_side_effect", first.as_json())
    assert entry.finished_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_call_started_by_an_earlier_attempt_is_not_repeated(tenancy, side_effect):
    ctx = context(tenancy, "alice")
    ToolLedger.objects.create(execution_id=ctx.execution_id, tool_call_id="call_a", tool="test_side_effect")
    result = call(ctx, "test_side_effect", {}, call_id="call_a")
    assert (result.status, result.error_code) == ("error", "outcome_unknown")
    assert "earlier attempt" in result.observation["error"]["message"]
    assert side_effect.calls == 0


@pytest.mark.django_db(transaction=True)
def test_a_call_that_needs_approval_pauses_then_runs_once_approved(tenancy, side_effect):
    ApprovalRule.objects.create(workspace=tenancy.acme, action=ApprovalAction.DATASOURCE, approver_roles=["owner"])
    ctx = context(tenancy, "adam")
    paused = call(ctx, "test_side_effect", {"n": 1})
    assert (paused.status, side_effect.calls) == ("approval", 0)
    assert paused.interaction is not None
    assert paused.interaction["question"] == "Approve this data source change (test_side_effect)?"
    assert paused.interaction["preview"] == {"would_do": {"n": 1}}
    assert (paused.interaction["tool"], paused.interaction["arguments"]) == ("test_side_effect", {"n": 1})
    assert not ToolLedger.objects.filter(execution_id=ctx.execution_id).exists()

    approved = call(replace(ctx, approved_by="alice"), "test_side_effect", {"n": 1})
    assert approved.observation == {"done": 1, "by": "alice"}
    # Authorized (and audited) again when resumed, then run.
    assert audit_rows(ctx.execution_id) == [
        ("test_side_effect", "needs_approval", "ok"),
        ("test_side_effect", "needs_approval", "ok"),
        ("test_side_effect.outcome", "completed", "ok"),
    ]


def test_a_side_effecting_tool_refuses_to_run_inside_a_transaction(tenancy, side_effect):
    with transaction.atomic(), pytest.raises(RuntimeError, match="inside a transaction"):
        call(context(tenancy, "alice"), "test_side_effect", {})
    assert side_effect.calls == 0
