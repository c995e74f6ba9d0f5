"""The built-in offline model, driven turn by turn like the pipeline drives it.

The context is built the way enrichment builds it (the permission-aware catalog search over the
demo data, through ``table_to_context``); tool observations are simulated on the real engines: the
SQL the model writes goes through the gateway as Alice and runs on the demo database, and the
answer is checked against the truth read independently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest

from agent.context import datasource_to_context, table_to_context
from agent.offline import OfflineModel, classify
from agent.offline.parser.normalise import normalise
from agent.prompting import build_messages
from agent.tools.base import INVENTORY
from agent.types import INTENTS, Reply, ToolResult
from datasources import services
from datasources.catalog import ColumnMatch, TableMatch, catalog_apply
from datasources.demo_data import ANCHOR_DATE
from datasources.models import CatalogTable, DataSource
from datasources.queries import query_read
from governance.catalog import apply_view, visible_catalog_search
from governance.gateway import Actor, authorize
from governance.models import ColumnMaskPolicy
from governance.policies import catalog_view
from workspaces.models import Membership

pytestmark = pytest.mark.django_db

TODAY = ANCHOR_DATE  # 2026-10-01: "last quarter" is July to September 2026, where the demo data is


# --- the harness -----------------------------------------------------------------------------------


@pytest.fixture
def postgres_source(tenancy: Any, demo_files: Any, postgres_settings: dict[str, Any]) -> DataSource:
    datasource = services.datasource_create(
        workspace=tenancy.acme, name="Acme warehouse", kind="postgresql", **postgres_settings
    )
    catalog_apply(datasource=datasource, introspection=services.connector_for(datasource).introspect())
    datasource.refresh_from_db()
    return datasource


@pytest.fixture(params=["sqlite", "postgresql"])
def source(request: pytest.FixtureRequest) -> DataSource:
    return request.getfixturevalue("sqlite_source" if request.param == "sqlite" else "postgres_source")


def name(source: DataSource, qualified: str) -> str:
    """``billing.customers`` as the engine names it."""
    return qualified.replace(".", "_") if source.kind == "sqlite" else qualified


def tool_schemas(names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": n, "description": n, "parameters": {"type": "object"}}}
            for n in names]  # fmt: skip


def describe_observation(membership: Membership, source: DataSource, qualified: str) -> dict[str, Any]:
    """What describe_table shows: every visible column, and the values of small text columns."""
    schema, _, table_name = qualified.rpartition(".")
    table = CatalogTable.objects.get(datasource=source, schema_name=schema, name=table_name, is_present=True)
    columns = tuple(
        ColumnMatch(c.name, c.data_type, c.nullable, c.is_primary_key,
                    ".".join(p for p in (c.fk_schema, c.fk_table_name, c.fk_column) if p) if c.fk_table_name else "",
                    c.comment, False)
        for c in table.columns.filter(is_present=True).order_by("ordinal")
    )  # fmt: skip
    match = TableMatch(table.pk, source.pk, source.name, schema, table_name, table.kind, table.comment,
                       table.row_estimate, 1.0, ("described",), columns)  # fmt: skip
    match = apply_view(match, catalog_view(membership=membership, datasource=source))
    samples: dict[str, list[Any]] = {}
    target = table_name if source.kind == "sqlite" else qualified
    for column in match.columns:
        if "text" in column.data_type.lower() and not column.masked and not column.is_primary_key:
            rows = query_read(
                datasource=source,
                sql=f'SELECT DISTINCT "{column.name}" FROM {target} WHERE "{column.name}" IS NOT NULL LIMIT 21',
            ).rows
            if len(rows) <= 20:
                samples[column.name] = sorted(row[0] for row in rows)
    return {**table_to_context(match), "kind": match.kind, "sample_values": samples}


@dataclass
class Session:
    """One execution's conversation: the model asks, the harness plays the tools as a member."""

    tenancy: Any
    source: DataSource
    prompt: str
    intent: str | None = "DATA_QUERY"
    who: str = "alice"
    tools: tuple[str, ...] | None = None
    turns: list[tuple[Reply, dict[str, ToolResult]]] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    query_errors: list[dict[str, Any]] = field(default_factory=list)  # forced outcomes of run_query, in order

    def __post_init__(self) -> None:
        user = getattr(self.tenancy, self.who)
        self.membership = Membership.objects.select_related("workspace", "user").get(user=user)
        self.actor = Actor(user=user, workspace=self.membership.workspace, membership=self.membership)
        matches = visible_catalog_search(
            membership=self.membership, prompt=self.prompt, datasource_ids=[self.source.pk], limit=10
        )
        self.context: dict[str, Any] = {
            "prompt": self.prompt,
            "intent": self.intent,
            "datasources": [datasource_to_context(self.source)],
            "tables": [table_to_context(match) for match in matches],
            "policies": [],
        }
        self.model = OfflineModel(today=TODAY)

    @property
    def offered(self) -> tuple[str, ...]:
        if self.tools is not None:
            return self.tools
        return INVENTORY[self.intent] if self.intent else ("classify_intent",)

    def messages(self) -> list[dict[str, Any]]:
        return build_messages(context=self.context, prompt_text=self.prompt, turns=self.turns)

    def ask(self) -> Reply:
        reply = self.model.complete(self.messages(), tool_schemas(self.offered), category="planning")
        assert reply.provider == "offline" and reply.model == "offline" and reply.cost_usd == 0
        assert {call.name for call in reply.tool_calls} <= set(self.offered), "only tools on offer"
        return reply

    def tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        if name == "search_catalog":
            matches = visible_catalog_search(membership=self.membership, prompt=arguments["query"],
                                             datasource_ids=[self.source.pk], limit=arguments.get("limit"))  # fmt: skip
            return {"tables": [table_to_context(m) for m in matches]}
        if name == "describe_table":
            assert arguments["datasource_id"] == str(self.source.pk)
            return describe_observation(self.membership, self.source, arguments["table"])
        if name == "run_query":
            self.queries.append(arguments["sql"])
            if self.query_errors:
                return {"error": self.query_errors.pop(0)}
            decision = authorize(self.actor, "run_query", arguments)
            if not decision.allowed:
                return {"error": {"code": decision.code, "message": decision.reason}}
            result = query_read(datasource=self.source, sql=decision.sql_after or "")
            rows = [list(r) for r in result.rows]
            return {"columns": list(result.columns), "rows": rows, "row_count": result.rows_returned,
                    "truncated": result.truncated, "sql": decision.sql_after}  # fmt: skip
        if name == "scan_sensitive_data":
            return {"findings": [{"schema": "main", "table": "billing_customers", "column": "email", "kind": "email"}]}
        if name == "execute_write":
            return {"rows_affected": 1}
        raise AssertionError(f"unexpected tool {name}")

    def run(self, answers: tuple[str, ...] = (), max_turns: int = 8) -> Reply:
        """Turns until ``finish`` (or an unanswered ``ask_user``); returns the last reply."""
        pending = list(answers)
        for _ in range(max_turns):
            reply = self.ask()
            observations = {}
            for call in reply.tool_calls:
                if call.name == "finish":
                    return reply
                if call.name == "ask_user":
                    if not pending:
                        return reply
                    observations[call.id] = ToolResult(observation={"answer": pending.pop(0)})
                    continue
                # Through JSON, as the pipeline stores observations.
                observation = json.loads(json.dumps(self.tool(call.name, call.arguments), default=str))
                observations[call.id] = ToolResult(observation=observation)
            assert reply.tool_calls, "the model always calls a tool"
            self.turns.append((reply, observations))
        raise AssertionError("the model did not finish")

    def calls(self, name: str) -> list[dict[str, Any]]:
        return [call.arguments for reply, _ in self.turns for call in reply.tool_calls if call.name == name]


def finished(reply: Reply) -> dict[str, Any]:
    assert [call.name for call in reply.tool_calls] == ["finish"], [(c.name, c.arguments) for c in reply.tool_calls]
    return reply.tool_calls[0].arguments


def truth(source: DataSource, sql: str) -> list[list[Any]]:
    return [list(row) for row in query_read(datasource=source, sql=sql, max_rows=10_000, preview_rows=10_000).rows]


# --- classification ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "intent"),
    [
        ("list billing tables", "SCHEMA_EXPLORATION"),
        ("describe the invoices table", "SCHEMA_EXPLORATION"),
        ("what columns does the payments table have?", "SCHEMA_EXPLORATION"),
        ("how many customers do we have", "DATA_QUERY"),
        ("top 10 customers by revenue", "DATA_QUERY"),
        ("revenue by region last quarter", "DATA_QUERY"),
        ("average deal amount by stage", "DATA_QUERY"),
        ("customers in EMEA", "DATA_QUERY"),
        ("set status of invoice 42 to paid", "DATA_WRITE"),
        ("delete customer 7", "DATA_WRITE"),
        ("insert a new product called Analytics Pro", "DATA_WRITE"),
        ("create a table for marketing leads", "SCHEMA_CHANGE"),
        ("alter table invoices add column notes text", "SCHEMA_CHANGE"),
        ("drop the web events table", "SCHEMA_CHANGE"),
        ("truncate the support tickets", "SCHEMA_CHANGE"),
        ("please wipe the shipments", "SCHEMA_CHANGE"),
        ("can you purge the audit log", "SCHEMA_CHANGE"),
        ("delete all void invoices", "DATA_WRITE"),
        ("remove every cancelled order", "DATA_WRITE"),
        ("raise all list prices by 10%", "DATA_WRITE"),
        ("refund every order that was returned", "DATA_WRITE"),
        ("please cancel the pending orders", "DATA_WRITE"),
        ("increase of revenue by month", "DATA_QUERY"),
        ("add up the invoice amounts by region", "DATA_QUERY"),
        ("pages with more than 5000 page views", "DATA_QUERY"),
        ("gadgets under $20", "DATA_QUERY"),
        ("the cheapest gadget", "DATA_QUERY"),
        ("mask the email column for analysts", "GOVERNANCE_POLICY"),
        ("add a row filter so viewers only see their region", "GOVERNANCE_POLICY"),
        ("scan the warehouse for personal data", "COMPLIANCE_SCAN"),
        ("which columns contain PII?", "COMPLIANCE_SCAN"),
        ("connect a new PostgreSQL data source", "DATA_SOURCE_ADMIN"),
        ("refresh the warehouse catalog", "DATA_SOURCE_ADMIN"),
        ("refresh the catalog and then update the overdue invoices", "ACTION_EXECUTION"),
        ("hello", "GENERAL"),
        ("tell me a joke about truck drivers", "GENERAL"),
        ("write a poem about our customers", "GENERAL"),
        ("what can you do?", "GENERAL"),
    ],
)
def test_prompts_are_classified_into_the_nine_intents_by_rules(prompt: str, intent: str) -> None:
    found = classify(prompt, known_words=frozenset({"customer", "invoice"}))
    assert found.intent == intent
    assert found.intent in INTENTS and 0 < found.confidence <= 1 and found.reason


def test_when_only_classify_intent_is_offered_it_classifies_with_a_confidence(tenancy, sqlite_source) -> None:
    session = Session(tenancy, sqlite_source, "top 10 customers by revenue", intent=None)
    reply = session.ask()
    assert [(c.name, c.arguments["intent"]) for c in reply.tool_calls] == [("classify_intent", "DATA_QUERY")]
    assert 0.5 <= reply.tool_calls[0].arguments["confidence"] <= 1
    assert reply.prompt_tokens > 0 and reply.latency_ms >= 0


def test_the_same_conversation_gets_the_same_reply(tenancy, sqlite_source) -> None:
    session = Session(tenancy, sqlite_source, "revenue by region last quarter")
    assert session.ask().tool_calls == session.ask().tool_calls


@pytest.mark.parametrize(
    ("prompt", "start", "end"),
    [
        ("revenue by region last quarter", date(2026, 7, 1), date(2026, 10, 1)),
        ("invoices this year", date(2026, 1, 1), date(2026, 10, 2)),
        ("payments last month", date(2026, 9, 1), date(2026, 10, 1)),
        ("signups in the last 30 days", date(2026, 9, 2), date(2026, 10, 2)),
        ("deals won in 2025", date(2025, 1, 1), date(2026, 1, 1)),
        ("revenue in Q2 2026", date(2026, 4, 1), date(2026, 7, 1)),
    ],
)
def test_time_windows_are_computed_from_today(prompt: str, start: date, end: date) -> None:
    window = normalise(prompt, TODAY).window
    assert window is not None and (window.start, window.end) == (start, end)


# --- the five demo questions -----------------------------------------------------------------------


def test_list_billing_tables_answers_from_the_context(tenancy, source) -> None:
    session = Session(tenancy, source, "list billing tables", intent="SCHEMA_EXPLORATION")
    answer = finished(session.run())["answer"]
    for table in ("billing.invoices", "billing.invoice_lines", "billing.customers", "billing.accounts",
                  "billing.payments", "billing.products"):  # fmt: skip
        assert name(source, table) in answer
    assert "contacts" not in answer and "support_tickets" not in answer


def test_how_many_customers_is_one_count(tenancy, source) -> None:
    session = Session(tenancy, source, "how many customers do we have")
    answer = finished(session.run())
    assert session.queries == [f"SELECT COUNT(*) AS count FROM {name(source, 'billing.customers')}"]
    (count,) = truth(source, f"SELECT count(*) FROM {name(source, 'billing.customers')}")[0]
    assert answer["answer"] == f"There are {count:,} customers."
    assert answer["confidence"] >= 0.8


def test_top_customers_by_revenue_joins_invoices_through_accounts(tenancy, source) -> None:
    """Invoice totals are in the invoice's currency: they are summed per currency, never across
    currencies (the old planner added EUR to USD)."""
    session = Session(tenancy, source, "top 10 customers by revenue")
    answer = finished(session.run())["answer"]
    customers, accounts, invoices = (name(source, f"billing.{t}") for t in ("customers", "accounts", "invoices"))
    sql = session.queries[-1]
    assert "JOIN" in sql and "SUM(" in sql and "LIMIT 10" in sql
    expected = truth(
        source,
        f"SELECT c.name, i.currency, sum(i.total_amount) AS revenue FROM {invoices} i JOIN {accounts} a "
        f"ON a.id = i.account_id JOIN {customers} c ON c.id = a.customer_id GROUP BY c.id, c.name, i.currency "
        "ORDER BY revenue DESC LIMIT 10",
    )
    got = truth(source, sql)
    assert [tuple(row[:2]) for row in got] == [tuple(row[:2]) for row in expected]
    assert [float(row[2]) for row in got] == pytest.approx([float(row[2]) for row in expected])
    assert answer.startswith("Top 10 customers by revenue")
    assert f"{expected[0][0]}, {expected[0][1]} ({float(expected[0][2]):,.2f})" in answer
    assert "summed per currency" in answer


def test_revenue_by_region_last_quarter_uses_literal_dates(tenancy, source) -> None:
    session = Session(tenancy, source, "revenue by region last quarter")
    answer = finished(session.run())["answer"]
    (sql,) = session.queries
    assert "'2026-07-01'" in sql and "'2026-10-01'" in sql and "GROUP BY region" in sql
    # The truth from the invoices themselves, converted as the revenue view converts them.
    invoices = name(source, "billing.invoices")
    expected = dict(
        (row[0], float(row[1]))
        for row in truth(
            source,
            "SELECT region, sum(total_amount * CASE currency WHEN 'USD' THEN 1.00 WHEN 'EUR' THEN 1.08 "
            f"WHEN 'GBP' THEN 1.27 END) FROM {invoices} WHERE status <> 'void' AND issued_at >= '2026-07-01' "
            "AND issued_at < '2026-10-01' GROUP BY region",
        )
    )
    got = {row[0]: float(row[1]) for row in truth(source, sql)}
    assert set(got) == {"NA", "EMEA", "APAC", "LATAM"}
    assert got == pytest.approx(expected, abs=0.5)
    assert answer.startswith("Revenue by region")
    assert "last quarter (2026-07-01 to 2026-09-30)" in answer


def test_describe_the_invoices_table_describes_it_then_answers(tenancy, source) -> None:
    session = Session(tenancy, source, "describe the invoices table", intent="SCHEMA_EXPLORATION")
    answer = finished(session.run())["answer"]
    invoices = name(source, "billing.invoices")
    assert session.calls("describe_table") == [
        {"datasource_id": str(source.pk), "table": f"main.{invoices}" if source.kind == "sqlite" else invoices}
    ]
    assert "- id (" in answer and "primary key" in answer
    assert f"references {'main.billing_accounts' if source.kind == 'sqlite' else 'billing.accounts'}.id" in answer
    assert "status: open, overdue, paid, void" in answer
    assert "total_amount" in answer and "issued_at" in answer


# --- ambiguity, filters and failures -----------------------------------------------------------------


def test_an_ambiguous_table_is_asked_about_and_the_answer_is_used(tenancy, source) -> None:
    session = Session(tenancy, source, "how many clients do we have")
    reply = session.run()
    (ask,) = reply.tool_calls
    customers, accounts = name(source, "billing.customers"), name(source, "billing.accounts")
    prefix = "main." if source.kind == "sqlite" else ""
    assert ask.name == "ask_user"
    assert sorted(ask.arguments["choices"]) == sorted([prefix + accounts, prefix + customers])

    answer = finished(session.run(answers=(prefix + customers,)))
    assert session.queries == [f"SELECT COUNT(*) AS count FROM {customers}"]
    (count,) = truth(source, f"SELECT count(*) FROM {customers}")[0]
    assert answer["answer"] == f"There are {count:,} clients."


def test_words_that_name_values_become_filters_after_a_description(tenancy, source) -> None:
    session = Session(tenancy, source, "how many open tickets by priority")
    answer = finished(session.run())["answer"]
    tickets = name(source, "crm.support_tickets")
    assert [c["table"].split(".")[-1] for c in session.calls("describe_table")] == [tickets.split(".")[-1]]
    (sql,) = session.queries
    assert "status = 'open'" in sql and "GROUP BY priority" in sql
    expected = {row[0]: row[1] for row in truth(
        source, f"SELECT priority, count(*) FROM {tickets} WHERE status = 'open' GROUP BY priority")}  # fmt: skip
    assert {row[0]: row[1] for row in truth(source, sql)} == expected
    assert answer.startswith("Number of tickets by priority with status = open")


def test_a_region_named_in_the_prompt_filters_the_customers(tenancy, source) -> None:
    session = Session(tenancy, source, "how many customers in EMEA")
    answer = finished(session.run())["answer"]
    customers = name(source, "billing.customers")
    assert session.queries[-1] == f"SELECT COUNT(*) AS count FROM {customers} WHERE region = 'EMEA'"
    (count,) = truth(source, f"SELECT count(*) FROM {customers} WHERE region = 'EMEA'")[0]
    assert answer == f"There are {count:,} customers with region = EMEA."


def test_averages_by_a_group(tenancy, source) -> None:
    session = Session(tenancy, source, "average deal amount by stage")
    answer = finished(session.run())["answer"]
    deals = name(source, "crm.deals")
    (sql,) = session.queries
    assert sql.startswith("SELECT stage, AVG(amount) AS avg_amount FROM ")
    expected = {
        row[0]: float(row[1]) for row in truth(source, f"SELECT stage, avg(amount) FROM {deals} GROUP BY stage")
    }
    assert {row[0]: float(row[1]) for row in truth(source, sql)} == pytest.approx(expected)
    assert "by stage" in answer


def test_a_denied_query_is_explained_not_retried(tenancy, sqlite_source) -> None:
    session = Session(tenancy, sqlite_source, "how many customers do we have")
    session.query_errors = [{"code": "permission_denied", "message": "Viewers may not run queries here."}]
    answer = finished(session.run())["answer"]
    assert len(session.queries) == 1
    assert "not allowed (permission_denied)" in answer and "Viewers may not run queries here." in answer


def test_a_failed_query_is_simplified_once_then_explained(tenancy, sqlite_source) -> None:
    session = Session(tenancy, sqlite_source, "revenue by region last quarter")
    failure = {"code": "query_failed", "message": "something broke"}
    session.query_errors = [failure, failure]
    answer = finished(session.run())["answer"]
    assert len(session.queries) == 2
    assert "2026-07-01" in session.queries[0] and "2026-07-01" not in session.queries[1]
    assert answer == "The query failed (query_failed). something broke"


def test_nothing_in_the_catalog_matches_so_it_says_what_there_is(tenancy, sqlite_source) -> None:
    session = Session(tenancy, sqlite_source, "how many unicorns do we have")
    answer = finished(session.run())["answer"]
    assert session.queries == []
    assert "could not" in answer


# --- the other intents and robustness -------------------------------------------------------------


def test_a_one_row_write_describes_the_table_then_writes(tenancy, source) -> None:
    session = Session(tenancy, source, "set status of invoice 42 to paid", intent="DATA_WRITE")
    answer = finished(session.run())["answer"]
    invoices = name(source, "billing.invoices")
    (write,) = session.calls("execute_write")
    assert write == {"datasource_id": str(source.pk), "sql": f"UPDATE {invoices} SET status = 'paid' WHERE id = 42"}
    assert answer.startswith("1 rows changed")


def test_a_write_to_an_unknown_value_is_refused_in_words(tenancy, sqlite_source) -> None:
    session = Session(tenancy, sqlite_source, "set status of invoice 42 to bananas", intent="DATA_WRITE")
    answer = finished(session.run())["answer"]
    assert session.calls("execute_write") == []
    assert "'bananas' is not a value of status" in answer


def test_a_compliance_scan_scans_then_summarises(tenancy, sqlite_source) -> None:
    session = Session(tenancy, sqlite_source, "scan for personal data", intent="COMPLIANCE_SCAN")
    answer = finished(session.run())["answer"]
    assert session.calls("scan_sensitive_data") == [{"datasource_id": str(sqlite_source.pk)}]
    assert "main.billing_customers.email (email)" in answer


def test_general_questions_get_examples(tenancy, sqlite_source) -> None:
    session = Session(tenancy, sqlite_source, "hello", intent="GENERAL")
    assert "Top 10 customers by revenue" in finished(session.run())["answer"]


def test_it_never_calls_a_tool_that_is_not_on_offer(tenancy, sqlite_source) -> None:
    session = Session(tenancy, sqlite_source, "how many customers do we have", tools=("finish",))
    answer = finished(session.ask())["answer"]
    assert "SELECT COUNT(*) AS count FROM billing_customers" in answer

    nothing = Session(tenancy, sqlite_source, "how many customers do we have", tools=("ask_user",))
    reply = nothing.ask()
    assert reply.tool_calls == () and reply.content


def test_with_two_sources_selected_it_queries_one_without_asking(tenancy, sqlite_source, postgres_source) -> None:
    session = Session(tenancy, sqlite_source, "how many customers do we have")
    both = Session(tenancy, postgres_source, "how many customers do we have")
    session.context["datasources"] += both.context["datasources"]
    session.context["tables"] = both.context["tables"] + session.context["tables"]
    (call,) = session.ask().tool_calls
    assert call.name == "run_query"
    assert call.arguments["datasource_id"] == str(postgres_source.pk)
    assert call.arguments["sql"] == "SELECT COUNT(*) AS count FROM billing.customers"


def test_an_empty_context_searches_the_catalog_first(tenancy, sqlite_source) -> None:
    session = Session(tenancy, sqlite_source, "how many customers do we have")
    session.context["tables"] = []
    answer = finished(session.run())["answer"]
    assert session.calls("search_catalog") == [{"query": "customers", "limit": 10}]
    assert answer.startswith("There are 2,000 customers")


def test_prompt_text_never_becomes_sql(tenancy, sqlite_source) -> None:
    prompt = "how many customers in EMEA'; DROP TABLE billing_customers; -- named x' OR '1'='1"
    session = Session(tenancy, sqlite_source, prompt)
    finished(session.run())
    assert session.queries == ["SELECT COUNT(*) AS count FROM billing_customers WHERE region = 'EMEA'"]


def test_a_statement_written_out_is_passed_on_as_parsed_sql(tenancy, sqlite_source) -> None:
    prompt = "UPDATE billing_invoices SET status = 'void' WHERE id = 7"
    session = Session(tenancy, sqlite_source, prompt, intent="DATA_WRITE")
    finished(session.run())
    assert session.calls("execute_write") == [
        {"datasource_id": str(sqlite_source.pk), "sql": "UPDATE billing_invoices SET status = 'void' WHERE id = 7"}
    ]


def test_listing_tables_the_context_lacks_searches_for_them(tenancy, sqlite_source) -> None:
    session = Session(tenancy, sqlite_source, "list crm tables", intent="SCHEMA_EXPLORATION")
    session.context["tables"] = []
    answer = finished(session.run())["answer"]
    assert session.calls("search_catalog") == [{"query": "crm", "limit": 10}]
    for table in ("crm_companies", "crm_contacts", "crm_deals", "crm_support_tickets"):
        assert f"main.{table}" in answer
    assert "billing_" not in answer


def test_two_measures_that_fit_equally_are_asked_about(tenancy, postgres_source) -> None:
    session = Session(tenancy, postgres_source, "top 5 products by revenue")
    (ask,) = session.run().tool_calls
    assert ask.name == "ask_user"
    assert sorted(ask.arguments["choices"]) == ["billing.invoice_lines.amount", "billing.subscriptions.mrr"]

    answer = finished(session.run(answers=("the invoiced amount: billing.invoice_lines.amount",)))["answer"]
    (sql,) = session.queries
    expected = truth(
        postgres_source,
        "SELECT p.sku, sum(l.amount) AS s FROM billing.invoice_lines l JOIN billing.products p ON p.id = l.product_id "
        "GROUP BY p.id, p.sku ORDER BY s DESC LIMIT 5",
    )
    assert [row[0] for row in truth(postgres_source, sql)] == [row[0] for row in expected]
    assert answer.startswith("Top 5 products by revenue (sum of billing.invoice_lines.amount)")


def test_masked_columns_are_marked_in_a_description(tenancy, sqlite_source) -> None:
    ColumnMaskPolicy.objects.create(workspace=tenancy.acme, datasource=sqlite_source, name="Mask emails",
                                    schema_name="main", table_name="billing_customers", column_name="email",
                                    strategy="partial")  # fmt: skip
    session = Session(tenancy, sqlite_source, "describe the customers table", intent="SCHEMA_EXPLORATION", who="ana")
    answer = finished(session.run())["answer"]
    assert "- email (TEXT, masked (partial))" in answer


def test_from_classification_to_answer_like_the_pipeline(tenancy, sqlite_source) -> None:
    session = Session(tenancy, sqlite_source, "how many customers do we have", intent=None)
    classified = session.ask()
    (call,) = classified.tool_calls
    intent = call.arguments["intent"]
    session.turns.append((classified, {call.id: ToolResult(observation={"intent": intent, "tools": []})}))
    session.intent = session.context["intent"] = intent
    assert finished(session.run())["answer"] == "There are 2,000 customers."
    assert session.queries == ["SELECT COUNT(*) AS count FROM billing_customers"]
