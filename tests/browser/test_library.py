"""The saved prompts and history pages in a real browser: htmx filters, delete and restore."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from guardian.shortcuts import assign_perm

from executions.models import ExecutionStatus, PromptExecution
from prompts.services import prompt_create
from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def history_of(tenancy: Any) -> None:
    """Ana's past runs, written as they end up (no worker runs them)."""
    now = timezone.now()
    runs = [
        ("Top 10 customers by revenue last quarter", ExecutionStatus.COMPLETED, "DATA_QUERY", 2140, 10, 0.0123),
        ("List the billing tables", ExecutionStatus.COMPLETED, "SCHEMA_EXPLORATION", 640, 12, 0.0009),
        ("Mask emails in the crm schema", ExecutionStatus.FAILED, "GOVERNANCE_POLICY", 3810, None, 0.0041),
        ("How many customers per region?", ExecutionStatus.COMPLETED, "DATA_QUERY", 1280, 4, 0),
        ("Void invoice 1042", ExecutionStatus.CANCELLED, "DATA_WRITE", 5120, None, 0.0022),
        ("Average ticket satisfaction by month", ExecutionStatus.FAILED, "DATA_QUERY", 950, None, 0.0010),
    ]
    made = PromptExecution.objects.bulk_create(
        [
            PromptExecution(
                workspace=tenancy.acme,
                user=tenancy.ana,
                prompt_text=text,
                status=status,
                intent_type=intent,
                total_duration_ms=ms,
                rows_returned=rows,
                ai_metadata={"model": "offline" if cost == 0 else "gpt-4o-mini", "cost_usd": cost},
            )
            for text, status, intent, ms, rows, cost in runs
        ]
    )
    for minutes, execution in enumerate(made):
        PromptExecution.objects.filter(pk=execution.pk).update(created_at=now - timedelta(minutes=7 * minutes))
    mine = PromptExecution.objects.filter(user=tenancy.ana)
    assign_perm("executions.view_promptexecution", tenancy.ana, mine)  # type: ignore[arg-type]  # bulk: a queryset


def test_ana_finds_a_prompt_by_tag_deletes_and_restores_it_and_filters_her_history(tenancy: Any, page: Any) -> None:
    from playwright.sync_api import expect

    for title, text, tags in [
        ("Top customers", "Top 10 customers by revenue last quarter", ["sales", "weekly"]),
        ("Churn", "Customers lost last month", ["sales"]),
        ("Billing tables", "List the billing tables", ["schema"]),
    ]:
        prompt_create(workspace=tenancy.acme, created_by=tenancy.ana, prompt_text=text, title=title, tags=tags,
                      saved=True)  # fmt: skip
    history_of(tenancy)
    sign_in(page, "ana")

    # The library, searched by tag: htmx replaces the list and the address follows.
    page.goto("/prompts/")
    headings = page.locator(".prompt-item h2")
    expect(headings).to_have_text(["Billing tables", "Churn", "Top customers"])
    page.get_by_label("Tag", exact=True).fill("sales")
    page.get_by_label("Tag", exact=True).press("Enter")
    expect(headings).to_have_text(["Churn", "Top customers"])
    page.wait_for_url(lambda url: "tag=sales" in url)

    # Delete (after the confirmation), then restore from the Deleted tab.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete “Churn”").click()
    expect(page.get_by_role("status").filter(has_text="Deleted “Churn”")).to_be_visible()
    expect(headings).to_have_text(["Top customers"])
    page.get_by_role("link", name="Deleted").click()
    expect(headings).to_have_text(["Churn"])
    page.get_by_role("button", name="Restore “Churn”").click()
    expect(page.get_by_text("Restored “Churn” to the library.")).to_be_visible()
    page.get_by_role("link", name="Library").click()
    expect(headings).to_have_text(["Billing tables", "Churn", "Top customers"])
    screenshot(page, "saved-prompts")

    # The history, filtered by status with htmx; a row opens its execution.
    page.get_by_role("link", name="History").click()
    rows = page.locator("table.history tbody tr")
    expect(rows).to_have_count(6)
    page.get_by_label("Status", exact=True).select_option("failed")
    expect(rows).to_have_count(2)
    page.wait_for_url(lambda url: "status=failed" in url)
    expect(page.get_by_role("status").filter(has_text="2 executions match these filters")).to_be_visible()
    page.get_by_label("Status", exact=True).select_option("")
    expect(rows).to_have_count(6)
    screenshot(page, "history")
    page.get_by_label("Prompt contains").press_sequentially("crm schema")  # searched as it is typed
    expect(rows).to_have_count(1)
    page.get_by_role("link", name="Mask emails in the crm schema").click()
    page.wait_for_url(lambda url: "/executions/" in url and url.rstrip("/").split("/")[-1] != "executions")
