"""The studio in a real browser, against the real server, worker, PostgreSQL and Redis: asking,
following a run live over the WebSocket, answering, approving, reloading mid-run, downloading.

Alice owns Acme's workspace, Adam administers it, Ana is an EMEA analyst and Vic a viewer there.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from guardian.shortcuts import assign_perm

from executions.models import PromptExecution
from tests.browser.conftest import screenshot, sign_in
from tests.executions.conftest import marker, postgres_demo_source, scratch_sqlite  # noqa: F401  (fixtures)
from tests.fakes.openai_server import reply, tool_call
from workspaces.models import SafetyLevel

pytestmark = pytest.mark.django_db(transaction=True)

EXECUTION_URL = re.compile(r".*/executions/[0-9a-f-]{36}/$")
BY_STATUS = "SELECT status, count(*) AS n FROM billing_invoices GROUP BY status ORDER BY status"


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def classify(intent: str) -> Any:
    return reply(tool_calls=[tool_call("classify_intent", {"intent": intent, "confidence": 0.9, "reason": "test"})])


def call(name: str, arguments: dict[str, Any]) -> Any:
    return reply(tool_calls=[tool_call(name, arguments)])


def seq_of(socket_url: str) -> int:
    return int(socket_url.rsplit("after_seq=", 1)[1])


def run_from_studio(page: Any, prompt: str, source_name: str, model: str = "") -> str:
    """Writes the prompt, ticks the source, picks the model, runs with Ctrl+Enter; the execution's URL."""
    page.goto("/")
    page.get_by_label("Prompt", exact=True).fill(prompt)
    page.get_by_role("checkbox", name=source_name, exact=True).check()
    page.get_by_label("Model", exact=True).select_option(model)
    page.get_by_label("Prompt", exact=True).press("Control+Enter")
    page.wait_for_url(EXECUTION_URL)
    return str(page.url)


def test_alice_asks_a_data_question_with_the_offline_model(
    tenancy: Any,
    postgres_demo_source: Any,  # noqa: F811
    page: Any,
) -> None:
    sign_in(page, "alice")
    prompt = page.get_by_label("Prompt", exact=True)
    prompt.fill("top 10 customers by revenue ")
    prompt.press_sequentially("@Acme")
    expect(page.get_by_role("option", name="Acme PostgreSQL")).to_be_visible()
    prompt.press("Enter")  # "@" completion: names the source and ticks it
    expect(page.get_by_role("checkbox", name="Acme PostgreSQL", exact=True)).to_be_checked()
    expect(prompt).to_have_value("top 10 customers by revenue @Acme PostgreSQL ")
    page.get_by_label("Model", exact=True).select_option("offline")
    screenshot(page, "studio")

    prompt.press("Control+Enter")
    page.wait_for_url(EXECUTION_URL)

    expect(page.locator("#execution-status")).to_have_text("Completed")
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#progress-label")).to_have_text("Done · 100%")
    expect(page.locator("#answer-text")).to_contain_text("Top 10 customers")
    expect(page.locator("#sql-code .sql-keyword").first).to_have_text(re.compile("SELECT", re.I))
    expect(page.locator("#row-count")).to_have_text("10 rows")
    rows = page.locator("#result-table tbody tr")
    expect(rows).to_have_count(10)
    expect(page.locator("#chart canvas")).to_be_visible()
    expect(page.locator("#chart-caption")).to_contain_text("Bar chart of")
    expect(page.locator("#timeline .call", has_text="Run a query").first).to_contain_text("done")
    expect(page.locator("#timeline > li").last).to_contain_text("Finished")

    # The table sorts by a column header, both ways.
    header = page.locator("#result-table th").last
    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "descending")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    lines = open(download.path(), encoding="utf-8").read().strip().splitlines()
    assert len(lines) == 11  # a header and the ten customers
    screenshot(page, "execution-finished")


def test_ana_answers_a_question_sees_a_denial_and_neither_a_reload_nor_a_drop_loses_the_timeline(
    tenancy: Any,
    sqlite_source: Any,
    scripted_model: Any,
    marker: str,  # noqa: F811
    page: Any,
) -> None:
    scripted_model.script(marker, [
        classify("DATA_QUERY"),
        call("ask_user", {"question": "Which table should I count?",
                          "choices": ["billing_invoices", "billing_customers"]}),
        call("run_query", {"datasource_id": str(sqlite_source.pk), "sql": "SELECT pg_sleep(10)"}),
        call("run_query", {"datasource_id": str(sqlite_source.pk), "sql": BY_STATUS}),
        call("finish", {"answer": "Invoices by status.", "confidence": 0.8}),
    ])  # fmt: skip
    sign_in(page, "ana")
    sockets: list[Any] = []  # the page's sockets, relayed to the server through Playwright

    def relay(socket: Any) -> None:
        socket.connect_to_server()
        sockets.append(socket)

    page.route_web_socket(re.compile(r".*/ws/executions/.*"), relay)
    run_from_studio(page, f"How many invoices per status? {marker}", "Acme SQLite")

    question = page.get_by_role("region", name="The agent asks")
    expect(question).to_contain_text("Which table should I count?")
    expect(page.locator("#execution-status")).to_have_text("Waiting for a person")
    timeline = page.locator("#timeline > li")
    expect(timeline.last).to_contain_text("waiting for an answer")
    before = timeline.all_text_contents()

    page.reload()  # mid-run: the timeline is replayed, the same, and the question is still open

    expect(timeline).to_have_text(before)
    assert seq_of(sockets[-1].url) == 0
    applied = PromptExecution.objects.get(prompt_text__contains=marker).last_event_seq
    sockets[-1].close(code=1011, reason="dropped")  # the connection drops: the page reconnects
    expect(page.locator("#connection-status")).to_contain_text("reconnecting")
    expect(page.locator("#connection-status")).to_be_empty()
    question.get_by_role("button", name="billing_invoices").click()

    expect(page.locator("#execution-status")).to_have_text("Completed")
    expect(question).to_have_count(0)
    assert seq_of(sockets[-1].url) == applied  # it resumed after the last event it had shown
    # Nothing shown twice: one question, one answer, each step once.
    expect(page.locator("#timeline .call", has_text="Ask you a question")).to_have_count(1)
    expect(page.locator("#timeline .response")).to_have_text(["Answered by ana: billing_invoices"])
    headings = page.locator("#timeline h4").all_text_contents()
    assert len(headings) == len(set(headings)) == 6, headings  # steps 0 to 5
    denial = page.locator("#timeline .call", has=page.locator(".badge.denied"))
    expect(denial).to_contain_text("Not allowed: The query used a function that is not allowed.")
    expect(page.locator("#answer-text")).to_have_text("Invoices by status.")
    expect(page.locator("#result-table tbody tr").first).to_be_visible()
    expect(page.locator("#chart canvas")).to_be_visible()
    assert PromptExecution.objects.get(prompt_text__contains=marker).status == "completed"


def test_alice_approves_adams_write_and_vic_sees_no_approve_button(
    tenancy: Any,
    scratch_sqlite: Any,  # noqa: F811
    scripted_model: Any,
    marker: str,  # noqa: F811
    new_page: Any,
) -> None:
    tenancy.acme.safety_level = SafetyLevel.STANDARD
    tenancy.acme.save(update_fields=["safety_level"])
    source = scratch_sqlite("Scratch")
    sql = "UPDATE billing_invoices SET status = 'void' WHERE id = 1"
    shown = "billing_invoices\" SET status = 'void' WHERE id = 1"  # as the firewall qualified it
    scripted_model.script(marker, [
        classify("DATA_WRITE"),
        call("execute_write", {"datasource_id": str(source.pk), "sql": sql}),
        call("finish", {"answer": "Invoice 1 is void.", "confidence": 0.9}),
    ])  # fmt: skip
    adam = new_page()
    sign_in(adam, "adam")
    url = run_from_studio(adam, f"Void invoice 1 {marker}", source.name)

    approval = adam.get_by_role("region", name="Approval needed")
    expect(approval).to_contain_text(shown)
    expect(approval).to_contain_text("1 row would be affected.")
    expect(approval).to_contain_text("An approver other than you")  # four eyes: Adam asked
    expect(adam.get_by_role("button", name="Approve")).to_have_count(0)

    execution = PromptExecution.objects.get(prompt_text__contains=marker)
    assign_perm("executions.view_promptexecution", tenancy.vic, execution)
    vic = new_page()
    sign_in(vic, "vic")
    vic.goto(url)
    expect(vic.get_by_role("region", name="Approval needed")).to_contain_text(shown)
    expect(vic.get_by_role("button", name="Approve")).to_have_count(0)
    expect(vic.get_by_role("button", name="Reject")).to_have_count(0)
    expect(vic.get_by_role("button", name="Cancel")).to_have_count(0)

    alice = new_page()
    sign_in(alice, "alice")
    alice.goto(url)
    alice.get_by_role("region", name="Approval needed").get_by_label("Comment").fill("Checked with billing.")
    alice.get_by_role("button", name="Approve").click()

    expect(alice.locator("#execution-status")).to_have_text("Completed")
    expect(alice.locator("#timeline")).to_contain_text("Approved by alice: Checked with billing.")
    expect(alice.locator("#timeline .call", has_text="Change data")).to_contain_text("1 row changed")
    # Adam's page followed it live.
    expect(adam.locator("#execution-status")).to_have_text("Completed")
    expect(adam.locator("#answer-text")).to_have_text("Invoice 1 is void.")
    expect(approval).to_have_count(0)


def test_alice_cancels_a_waiting_run_and_runs_it_again(
    tenancy: Any,
    postgres_demo_source: Any,  # noqa: F811
    page: Any,
) -> None:
    sign_in(page, "alice")
    first = run_from_studio(page, "how many clients do we have", "Acme PostgreSQL", model="offline")
    expect(page.get_by_role("region", name="The agent asks")).to_contain_text("billing.customers")

    page.get_by_role("button", name="Cancel").click()

    expect(page.locator("#execution-status")).to_have_text("Cancelled")
    expect(page.get_by_role("region", name="The agent asks")).to_have_count(0)
    expect(page.get_by_role("button", name="Cancel")).to_be_hidden()
    expect(page.locator("#timeline > li").last).to_contain_text("Cancelled.")

    page.get_by_role("button", name="Run again").click()
    page.wait_for_url(lambda url: EXECUTION_URL.match(url) is not None and url != first)
    expect(page.get_by_role("region", name="The agent asks")).to_contain_text("billing.customers")
    expect(page.locator("#execution-status")).to_have_text("Waiting for a person")


def test_where_websockets_are_blocked_the_page_follows_the_event_feed(
    tenancy: Any,
    postgres_demo_source: Any,  # noqa: F811
    page: Any,
) -> None:
    """A proxy that lets the socket open and closes it at once, every time: after three silent
    closes the page reads the same events from the SSE feed, and shows the whole run."""
    closed: list[str] = []

    def refuse(socket: Any) -> None:  # never connected to the server: closed as a proxy would
        closed.append(socket.url)
        socket.close()

    page.route_web_socket(re.compile(r".*/ws/executions/.*"), refuse)
    sign_in(page, "alice")
    page.get_by_label("Prompt", exact=True).fill("how many customers do we have")
    page.get_by_label("Model", exact=True).select_option("offline")
    page.get_by_label("Prompt", exact=True).press("Control+Enter")
    page.wait_for_url(EXECUTION_URL)

    expect(page.locator("#execution-status")).to_have_text("Completed")
    expect(page.locator("#answer-text")).to_contain_text("customers")
    expect(page.locator("#connection-status")).to_contain_text("event feed")
    expect(page.locator("#timeline > li").last).to_contain_text("Finished")
    expect(page.locator("#timeline > li", has_text="Queued for a worker")).to_have_count(1)  # nothing twice
    assert len(closed) == 3


def test_ana_sees_which_columns_were_masked_for_her_and_why(
    tenancy: Any,
    sqlite_source: Any,
    scripted_model: Any,
    marker: str,  # noqa: F811
    page: Any,
) -> None:
    from governance import services as governance_services
    from governance.classification import ReadClassification, column_tags_store
    from governance.detect import Detection

    found = {
        ("main", "crm_contacts", "email"): (Detection("pii.email", 0.97, "the name 'email'"),),
        ("main", "crm_contacts", "date_of_birth"): (Detection("pii.date_of_birth", 0.8, "the name 'date_of_birth'"),),
    }
    column_tags_store(datasource=sqlite_source, classification=ReadClassification(found, 1, 0))
    governance_services.tag_mask_policy_create(workspace=tenancy.acme, tag="pii.email", strategy="partial",
                                               name="Partial e-mails")  # fmt: skip
    sql = "SELECT first_name, email, date_of_birth FROM crm_contacts ORDER BY id LIMIT 5"
    scripted_model.script(marker, [
        classify("DATA_QUERY"),
        call("run_query", {"datasource_id": str(sqlite_source.pk), "sql": sql}),
        call("finish", {"answer": "Five contacts.", "confidence": 0.8}),
    ])  # fmt: skip
    sign_in(page, "ana")
    run_from_studio(page, f"Five contacts with their e-mail {marker}", "Acme SQLite")

    expect(page.locator("#execution-status")).to_have_text("Completed")
    note = page.locator("#result-governance")
    expect(note).to_be_visible()
    expect(note).to_contain_text(
        "main.crm_contacts.email: tagged pii.email: masked by the tag policy 'Partial e-mails'"
    )
    expect(note).to_contain_text("main.crm_contacts.date_of_birth: detected as pii.date_of_birth and not yet reviewed")
    expect(page.locator("#result-table tbody tr").first).to_contain_text("***")
    screenshot(page, "execution-masked")


def test_alice_pages_through_every_row_of_a_result_longer_than_the_answer(
    tenancy: Any,
    sqlite_source: Any,
    scripted_model: Any,
    marker: str,  # noqa: F811
    page: Any,
) -> None:
    sql = "SELECT id, number, status FROM billing_invoices ORDER BY id LIMIT 250"
    scripted_model.script(marker, [
        classify("DATA_QUERY"),
        call("run_query", {"datasource_id": str(sqlite_source.pk), "sql": sql}),
        call("finish", {"answer": "250 invoices.", "confidence": 0.8}),
    ])  # fmt: skip
    sign_in(page, "alice")
    run_from_studio(page, f"The first 250 invoices {marker}", "Acme SQLite")

    expect(page.locator("#execution-status")).to_have_text("Completed")
    expect(page.locator("#row-count")).to_contain_text("Showing the first 100 of 250 rows")
    rows = page.locator("#result-table tbody tr")
    expect(rows).to_have_count(100)

    # The whole result comes from the governed download, and the table pages through it.
    page.get_by_role("button", name="Show all rows").click()
    expect(page.locator("#row-count")).to_have_text("All 250 rows, 100 a page.")
    expect(page.locator("#result-page")).to_have_text("Rows 1\u2013100 of 250")
    pager = page.get_by_role("navigation", name="Result pages")
    expect(pager.get_by_role("button", name="Previous")).to_be_disabled()
    pager.get_by_role("button", name="Next").click()
    pager.get_by_role("button", name="Next").click()
    expect(page.locator("#result-page")).to_have_text("Rows 201\u2013250 of 250")
    expect(rows).to_have_count(50)
    expect(pager.get_by_role("button", name="Next")).to_be_disabled()
    expect(rows.last.locator("td").first).to_have_text("250")

    # Sorting sorts every row, not the page: the highest id comes first, back on page one.
    page.locator("#result-table th").first.get_by_role("button").click()
    page.locator("#result-table th").first.get_by_role("button").click()
    expect(page.locator("#result-page")).to_have_text("Rows 1\u2013100 of 250")
    expect(rows.first.locator("td").first).to_have_text("250")
    screenshot(page, "execution-all-rows")
