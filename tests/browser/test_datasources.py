"""Data sources and governance in a real browser: an admin adds a SQLite source (testing its
connection first), its schema is read by the real worker while the page follows the progress,
and an analyst sees in the catalog which column a policy masks for her."""

from __future__ import annotations

from typing import Any

import pytest

from datasources.models import DataSource, DataSourceStatus
from governance import services as governance_services
from governance.audit import audit_append
from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_admin_adds_a_sqlite_source_and_an_analyst_sees_a_masked_column(
    tenancy: Any, demo_files: dict[str, Any], new_page: Any
) -> None:
    from playwright.sync_api import expect

    page = new_page()
    sign_in(page, "adam")
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Data sources").click()
    expect(page.get_by_role("heading", name="No data sources yet")).to_be_visible()
    page.get_by_role("link", name="Add a data source").click()
    page.get_by_role("link", name="SQLite file").click()

    page.get_by_label("Name").fill("Shop")
    page.get_by_label("File path").fill("/nowhere/shop.sqlite")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result")).to_contain_text("outside the folders this installation allows")

    page.get_by_label("File path").fill(demo_files["sqlite"].settings["path"])
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result")).to_contain_text("Connection works")
    screenshot(page, "datasource-add")
    assert not DataSource.objects.exists()  # a test saves nothing

    page.get_by_role("button", name="Save and read the schema").click()
    page.wait_for_url("**/datasources/*/")
    # The real worker reads the schema; the panel polls its progress, then the page shows the catalog.
    expect(page.locator("#ds-panel .badge.ok")).to_have_text("Ready")
    expect(page.get_by_role("heading", name="crm_contacts")).to_be_visible()
    source = DataSource.objects.get(name="Shop")
    assert source.status == DataSourceStatus.READY and source.catalog_table_count > 10

    # Refresh from the list: the row follows the task until it is done again.
    nav.get_by_role("link", name="Data sources").click()
    refreshed_before = source.last_introspected_at
    with page.expect_response(lambda response: response.url.endswith(f"/datasources/{source.pk}/refresh")):
        page.get_by_role("button", name="Refresh the catalog of Shop").click()
    # The row the refresh answered is the task's state from then on; it polls until the task is done.
    row = page.locator(f"#ds-row-{source.pk}")
    expect(row.locator(".badge.ok")).to_have_text("Ready")
    expect(row.get_by_role("button", name="Refresh the catalog of Shop")).to_be_enabled()
    source.refresh_from_db()
    assert source.last_introspected_at is not None and refreshed_before is not None
    assert source.last_introspected_at > refreshed_before
    screenshot(page, "datasources")

    governance_services.column_mask_policy_create(
        workspace=tenancy.acme, datasource=source, schema_name="main", table_name="crm_contacts",
        column_name="email", strategy="partial", name="Partial contact e-mails",
    )  # fmt: skip
    analyst = new_page()
    sign_in(analyst, "ana")
    analyst.goto(f"/datasources/{source.pk}/")
    analyst.get_by_label("Table name contains").fill("contacts")
    analyst.get_by_role("button", name="Filter").click()
    email = analyst.locator("tr.masked", has=analyst.locator("th", has_text="email"))
    expect(email).to_contain_text("Masked for you: partial")
    # The analyst can browse but neither add nor refresh.
    expect(analyst.get_by_role("button", name="Refresh the catalog")).to_have_count(0)
    screenshot(analyst, "datasource-catalog")

    # The admin's governance page says the policy in plain words and shows the log.
    audit_append(workspace_id=tenancy.acme.pk, actor_id=tenancy.ana.pk, actor_username="ana", tool="run_query",
                 arguments_hash="0" * 64, decision="allowed", code="allowed", reason="Read with 1 mask applied.",
                 policies_applied=["Partial contact e-mails"], sql_before="SELECT email FROM crm_contacts",
                 sql_after="SELECT CASE WHEN email IS NULL THEN NULL ELSE '***' END AS email FROM crm_contacts",
                 rows_returned=100)  # fmt: skip
    audit_append(workspace_id=tenancy.acme.pk, actor_id=tenancy.ana.pk, actor_username="ana", tool="execute_write",
                 arguments_hash="1" * 64, decision="denied", code="permission_denied",
                 reason="Your role does not allow writes to Shop.")  # fmt: skip
    nav.get_by_role("link", name="Governance").click()
    expect(page.get_by_text("the values of email are partly hidden")).to_be_visible()
    page.get_by_label("Decision").select_option("denied")  # htmx updates the log in place
    expect(page.locator("#audit")).to_contain_text("Your role does not allow writes to Shop.")
    expect(page.locator("#audit")).not_to_contain_text("Read with 1 mask applied.")
    assert "decision=denied" in page.url
    page.get_by_role("link", name="Clear").click()
    expect(page.locator("#audit")).to_contain_text("Read with 1 mask applied.")
    screenshot(page, "governance")
