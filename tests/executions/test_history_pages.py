"""The history page (/executions/), through Django's test client.

Ana (analyst) and Vic (viewer) run questions in Acme's workspace; Alice (owner) and Adam (admin)
see every run of it; Bob (Globex) should have no access to any of Acme's runs.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from guardian.shortcuts import assign_perm

from executions.models import ExecutionStatus, PromptExecution
from tests.executions.conftest import run

pytestmark = pytest.mark.django_db

URL = "/executions/"


def page_as(user: Any) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def rows(response: Any) -> list[str]:
    """The executions the page lists, by id, in order."""
    return re.findall(r'href="/executions/([0-9a-f-]{36})/"', response.content.decode())


def finished(execution: PromptExecution, **fields: Any) -> PromptExecution:
    values = {"status": ExecutionStatus.COMPLETED, "completed_at": timezone.now(), **fields}
    PromptExecution.objects.filter(pk=execution.pk).update(**values)
    execution.refresh_from_db()
    return execution


# --- who sees what ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "sees_anas_run"),
    [("alice", True), ("adam", True), ("ana", True), ("vic", False), ("bob", False)],
)
def test_each_persona_sees_the_runs_they_may_see(tenancy, persona, sees_anas_run) -> None:
    anas = run(tenancy.ana, tenancy.acme, "How many customers per region?")
    bobs = run(tenancy.bob, tenancy.globex, "Count open tickets")

    response = page_as(getattr(tenancy, persona)).get(URL)

    assert response.status_code == 200
    listed = rows(response)
    assert (str(anas.pk) in listed) is sees_anas_run
    assert (str(bobs.pk) in listed) is (persona == "bob")


def test_anonymous_people_are_sent_to_sign_in(tenancy) -> None:
    response = Client().get(URL + "?status=failed")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/executions/")


def test_owners_and_admins_see_who_ran_each_question_analysts_do_not_need_to(tenancy) -> None:
    run(tenancy.ana, tenancy.acme, "How many customers per region?")
    assert "Run by" in page_as(tenancy.adam).get(URL).content.decode()
    assert "Run by" not in page_as(tenancy.ana).get(URL).content.decode()


def test_a_row_shows_status_intent_duration_rows_model_and_cost_and_opens_the_execution(tenancy) -> None:
    execution = finished(
        run(tenancy.ana, tenancy.acme, "Top 10 customers by revenue"),
        intent_type="DATA_QUERY",
        total_duration_ms=2140,
        rows_returned=10,
        ai_metadata={"model": "gpt-4o-mini", "cost_usd": 0.0123, "turns": []},
    )

    html = page_as(tenancy.ana).get(URL).content.decode()

    row = re.search(r"<tr>\s*<td class=\"when\">.*?</tr>", html, re.S)
    assert row is not None
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(0), re.S)]
    assert cells[1:] == ["Top 10 customers by revenue", "Completed", "Data query", "2.1 s", "10", "gpt-4o-mini",
                         "$0.0123"]  # fmt: skip
    assert f'href="/executions/{execution.pk}/"' in row.group(0)
    assert '<th scope="col">Status</th>' in html


# --- filters ------------------------------------------------------------------------------------


def test_filters_by_status_intent_data_source_date_and_words(tenancy, sqlite_source) -> None:
    today = run(tenancy.ana, tenancy.acme, "Revenue by region", selected_data_source_ids=[sqlite_source.pk])
    finished(today, intent_type="DATA_QUERY")
    failed = run(tenancy.ana, tenancy.acme, "List the billing tables")
    PromptExecution.objects.filter(pk=failed.pk).update(status=ExecutionStatus.FAILED, intent_type="SCHEMA_EXPLORATION")
    old = run(tenancy.ana, tenancy.acme, "Revenue last year")
    PromptExecution.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    client = page_as(tenancy.ana)
    day = timezone.localdate()

    def listed(**params: str) -> list[str]:
        response = client.get(URL, params)
        assert response.status_code == 200
        return rows(response)

    assert listed() == [str(failed.pk), str(today.pk), str(old.pk)]
    assert listed(status="failed") == [str(failed.pk)]
    assert listed(intent="DATA_QUERY") == [str(today.pk)]
    assert listed(datasource=str(sqlite_source.pk)) == [str(today.pk)]
    assert listed(q="revenue") == [str(today.pk), str(old.pk)]
    assert listed(date_from=str(day)) == [str(failed.pk), str(today.pk)]
    assert listed(date_to=str(day - timedelta(days=1))) == [str(old.pk)]
    assert listed(q="revenue", date_from=str(day), date_to=str(day)) == [str(today.pk)]


def test_a_filter_that_does_not_make_sense_is_said_and_the_others_still_apply(tenancy) -> None:
    kept = run(tenancy.ana, tenancy.acme, "Revenue by region")
    run(tenancy.ana, tenancy.acme, "List tables")
    response = page_as(tenancy.ana).get(URL, {"status": "sleeping", "q": "revenue", "date_from": "2026-02-01",
                                              "date_to": "2026-01-01"})  # fmt: skip
    html = response.content.decode()
    assert response.status_code == 200
    assert rows(response) == [str(kept.pk)]
    assert "Select a valid choice" in html
    assert "The end date is before the start date." in html


def test_a_data_source_of_another_workspace_is_not_offered_nor_accepted(tenancy, sqlite_source) -> None:
    run(tenancy.bob, tenancy.globex, "Count tickets")
    response = page_as(tenancy.bob).get(URL, {"datasource": str(sqlite_source.pk)})
    assert "Acme SQLite" not in response.content.decode()
    assert "Select a valid choice" in response.content.decode()


# --- htmx, pagination, empty states, queries ------------------------------------------------------


def test_an_htmx_request_gets_the_results_alone(tenancy) -> None:
    failed = run(tenancy.ana, tenancy.acme, "List the billing tables")
    PromptExecution.objects.filter(pk=failed.pk).update(status=ExecutionStatus.FAILED)
    run(tenancy.ana, tenancy.acme, "Revenue by region")
    client = page_as(tenancy.ana)

    fragment = client.get(URL, {"status": "failed"}, headers={"HX-Request": "true"})
    full = client.get(URL, {"status": "failed"}, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})

    html = fragment.content.decode()
    assert "<html" not in html and "<form" not in html
    assert '<table class="data history">' in html
    assert rows(fragment) == [str(failed.pk)]
    assert "HX-Request" in fragment["Vary"]
    assert "<html" in full.content.decode()  # htmx restoring a page from history needs all of it


def test_without_javascript_the_filters_are_a_plain_get_form(tenancy) -> None:
    html = page_as(tenancy.ana).get(URL).content.decode()
    form = re.search(r"<form method=\"get\" action=\"/executions/\"[^>]*>", html)
    assert form is not None and 'hx-get="/executions/"' in form.group(0)
    for name in ("Prompt contains", "Status", "Intent", "Data source", "From", "To"):
        assert re.search(rf"<label for=\"id_\w+\">{name}:?</label>", html), name


def many(tenancy: Any, count: int) -> list[PromptExecution]:
    """``count`` executions of Ana's, made in bulk (as the history of a busy workspace)."""
    start = timezone.now()
    made = PromptExecution.objects.bulk_create(
        [
            PromptExecution(
                workspace=tenancy.acme,
                user=tenancy.ana,
                prompt_text=f"question {i}",
                status=ExecutionStatus.COMPLETED,
                rows_returned=i,
                total_duration_ms=100 + i,
                ai_metadata={"model": "offline", "cost_usd": 0},
            )
            for i in range(count)
        ]
    )
    for i, execution in enumerate(made):  # distinct, ordered creation times
        PromptExecution.objects.filter(pk=execution.pk).update(created_at=start - timedelta(seconds=i))
    mine = PromptExecution.objects.filter(user=tenancy.ana)
    assign_perm("executions.view_promptexecution", tenancy.ana, mine)  # type: ignore[arg-type]  # bulk: a queryset
    return made


def test_pages_of_twenty_five_newest_first_keeping_the_filters(tenancy) -> None:
    made = many(tenancy, 30)
    client = page_as(tenancy.ana)

    first = client.get(URL, {"q": "question"})
    second = client.get(URL, {"q": "question", "page": "2"})

    assert rows(first) == [str(e.pk) for e in made[:25]]
    assert rows(second) == [str(e.pk) for e in made[25:]]
    assert "30 executions match these filters · page 1 of 2" in first.content.decode()
    assert 'href="/executions/?q=question&amp;page=2"' in first.content.decode()


def test_the_number_of_queries_does_not_grow_with_the_history(tenancy, django_assert_max_num_queries) -> None:
    many(tenancy, 120)
    client = page_as(tenancy.ana)
    client.get(URL)  # the session and content types are warm
    with django_assert_max_num_queries(7):
        response = client.get(URL, {"status": "completed", "q": "question"})
    assert len(rows(response)) == 25


def test_a_first_time_user_is_told_to_ask_a_question_in_the_studio(tenancy) -> None:
    html = page_as(tenancy.vic).get(URL).content.decode()
    assert "Nothing run yet" in html
    assert 'href="/">Studio</a>' in html


def test_filters_that_match_nothing_offer_to_clear_them(tenancy) -> None:
    run(tenancy.ana, tenancy.acme, "Revenue by region")
    html = page_as(tenancy.ana).get(URL, {"q": "no such words"}).content.decode()
    assert "No execution matches these filters" in html
    assert "clear the filters" in html
