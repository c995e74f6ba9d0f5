"""The saved prompts page (/prompts/), through Django's test client.

Ana (analyst) keeps prompts in Acme's library. Alice (owner) and Adam (admin) change anyone's;
Vic (viewer) reads and runs saved ones but changes none, and is not offered buttons he cannot
use; Bob (Globex) should have no access to any of Acme's prompts: each is a 404 for him.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from executions.models import PromptExecution
from prompts.models import Prompt
from prompts.services import prompt_create

pytestmark = pytest.mark.django_db

LIBRARY = "/prompts/"


def page_as(user: Any) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def save(tenancy: Any, author: Any = None, text: str = "Top 10 customers by revenue", **kwargs: Any) -> Prompt:
    return prompt_create(workspace=tenancy.acme, created_by=author or tenancy.ana, prompt_text=text,
                         saved=kwargs.pop("saved", True), **kwargs)  # fmt: skip


def listed(response: Any) -> list[str]:
    """The names of the prompts the page lists, in order."""
    return re.findall(r'<h2 id="prompt-[0-9a-f-]{36}">([^<]*)</h2>', response.content.decode())


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def deleted(prompt: Prompt) -> bool:
    prompt.refresh_from_db()
    return prompt.deleted_at is not None


# --- who may do what ----------------------------------------------------------------------------

PERSONAS = ["anonymous", "bob", "vic", "ana", "adam", "alice"]
#            anonymous, other organisation, viewer, analyst (author), admin, owner
MATRIX = {
    "library": ["login", 200, 200, 200, 200, 200],
    "edit": ["login", 404, "refused", 200, 200, 200],
    "save": ["login", 404, "refused", "done", "done", "done"],
    "delete": ["login", 404, "refused", "done", "done", "done"],
    "restore": ["login", 404, "refused", "done", "done", "done"],
    "run": ["login", 404, "ran", "ran", "ran", "ran"],
}


def _act(client: Client, action: str, prompt: Prompt) -> Any:
    base = f"/prompts/{prompt.pk}"
    if action == "restore":
        Prompt.objects.filter(pk=prompt.pk).update(deleted_at=timezone.now())
    return {
        "library": lambda: client.get(LIBRARY),
        "edit": lambda: client.get(f"{base}/edit/"),
        "save": lambda: client.post(f"{base}/edit/", {"title": "Renamed", "prompt_text": prompt.prompt_text}),
        "delete": lambda: client.post(f"{base}/delete", {"next": LIBRARY}),
        "restore": lambda: client.post(f"{base}/restore", {"next": f"{LIBRARY}?tab=deleted"}),
        "run": lambda: client.post(f"{base}/run", {"next": LIBRARY}),
    }[action]()


@pytest.mark.parametrize("action", list(MATRIX))
@pytest.mark.parametrize("persona", PERSONAS)
def test_permission_matrix(tenancy, persona, action) -> None:
    prompt = save(tenancy)  # Ana's, in the library
    user = None if persona == "anonymous" else getattr(tenancy, persona)
    expected = MATRIX[action][PERSONAS.index(persona)]

    response = _act(page_as(user), action, prompt)

    prompt.refresh_from_db()
    if expected == "login":
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    elif expected == "refused":
        assert response.status_code == 302 and response["Location"].startswith(LIBRARY)
        assert (prompt.title, prompt.deleted_at is not None) == ("", action == "restore")  # nothing changed
    elif expected == "ran":
        execution = PromptExecution.objects.get(prompt=prompt)
        assert (response.status_code, response["Location"]) == (302, f"/executions/{execution.pk}/")
        assert execution.user == user
    elif expected == "done":
        assert response.status_code == 302
        assert {"save": prompt.title == "Renamed", "delete": prompt.deleted_at is not None,
                "restore": prompt.deleted_at is None}[action]  # fmt: skip
    else:
        assert response.status_code == expected
    if action != "run":
        assert not PromptExecution.objects.exists()


def test_vic_sees_no_button_he_cannot_use_ana_sees_them_on_her_own_prompts_only(tenancy) -> None:
    anas = save(tenancy, title="Ana's question")
    alices = save(tenancy, author=tenancy.alice, title="Alice's question")

    for who, editable in [("vic", set()), ("ana", {anas.pk}), ("adam", {anas.pk, alices.pk})]:
        html = page_as(getattr(tenancy, who)).get(LIBRARY).content.decode()
        for prompt in (anas, alices):
            assert f"/prompts/{prompt.pk}/run" in html, who  # whoever sees a saved prompt may run it
            assert (f"/prompts/{prompt.pk}/edit/" in html) is (prompt.pk in editable), who
            assert (f"/prompts/{prompt.pk}/delete" in html) is (prompt.pk in editable), who


def test_a_refused_change_is_said_in_words_not_an_error_page(tenancy) -> None:
    prompt = save(tenancy)
    response = page_as(tenancy.vic).post(f"/prompts/{prompt.pk}/delete", {"next": LIBRARY}, follow=True)
    assert response.status_code == 200
    assert messages_of(response) == [
        "Not deleted. Only the author of a prompt and the workspace's owners and admins can change, delete or "
        "restore it."
    ]
    assert not deleted(prompt)


def test_a_prompt_of_my_other_workspace_is_not_found_on_this_workspaces_page(tenancy) -> None:
    from workspaces.models import Role
    from workspaces.services import membership_set

    membership_set(workspace=tenancy.globex, user=tenancy.ana, role=Role.ANALYST)
    globex_prompt = prompt_create(workspace=tenancy.globex, created_by=tenancy.ana, prompt_text="Tickets", saved=True)
    client = page_as(tenancy.ana)  # her current workspace is Acme (the first)
    assert client.get(f"/prompts/{globex_prompt.pk}/edit/").status_code == 404
    assert client.post(f"/prompts/{globex_prompt.pk}/delete").status_code == 404


# --- the library: search, tags, deleted ------------------------------------------------------------


def test_search_by_words_and_by_tag(tenancy) -> None:
    save(tenancy, title="Top customers", tags=["sales", "weekly"])
    save(tenancy, title="Churn", text="Customers lost last month", tags=["sales"])
    save(tenancy, title="Tables", text="List the billing tables", tags=["schema"])
    save(tenancy, title="A draft", saved=False)  # a run's own prompt, not in the library
    client = page_as(tenancy.vic)

    assert listed(client.get(LIBRARY)) == ["Tables", "Churn", "Top customers"]
    assert listed(client.get(LIBRARY, {"q": "customers"})) == ["Churn", "Top customers"]
    assert listed(client.get(LIBRARY, {"tag": "sales"})) == ["Churn", "Top customers"]
    assert listed(client.get(LIBRARY, {"tag": "sales", "q": "lost"})) == ["Churn"]
    html = client.get(LIBRARY).content.decode()
    assert re.search(r'href="/prompts/\?tag=sales">sales <span class="muted">2</span>', html)  # the tag list


def test_delete_then_restore_from_the_deleted_tab(tenancy) -> None:
    prompt = save(tenancy, title="Top customers")
    client = page_as(tenancy.ana)

    gone = client.post(f"/prompts/{prompt.pk}/delete", {"next": "/prompts/?q=top"}, follow=True)
    assert gone.redirect_chain == [("/prompts/?q=top", 302)]
    assert messages_of(gone) == ["Deleted “Top customers”. You can restore it from the Deleted tab."]
    assert deleted(prompt) and listed(gone) == []
    assert listed(client.get(LIBRARY, {"tab": "deleted"})) == ["Top customers"]
    assert listed(page_as(tenancy.vic).get(LIBRARY, {"tab": "deleted"})) == []  # only those you may restore

    back = client.post(f"/prompts/{prompt.pk}/restore", {"next": "/prompts/?tab=deleted"}, follow=True)
    assert messages_of(back) == ["Restored “Top customers” to the library."]
    assert not deleted(prompt)
    assert listed(client.get(LIBRARY)) == ["Top customers"]


def test_next_never_leaves_the_library(tenancy) -> None:
    prompt = save(tenancy)
    for target in ("https://evil.example/", "//evil.example/", "/admin/"):
        response = page_as(tenancy.ana).post(f"/prompts/{prompt.pk}/delete", {"next": target})
        assert response["Location"] == LIBRARY
        Prompt.objects.filter(pk=prompt.pk).update(deleted_at=None)


def test_an_htmx_search_gets_the_results_alone(tenancy) -> None:
    save(tenancy, title="Top customers")
    save(tenancy, title="Tables", text="List the billing tables")
    response = page_as(tenancy.ana).get(LIBRARY, {"q": "tables"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html and '<form method="get"' not in html
    assert listed(response) == ["Tables"]
    assert "1 saved prompt matches “tables”" in html


def test_empty_library_tells_what_to_do(tenancy) -> None:
    html = page_as(tenancy.ana).get(LIBRARY).content.decode()
    assert "No saved prompts yet" in html and 'href="/">Studio</a>' in html


def test_the_library_pages_in_a_bounded_number_of_queries(tenancy, django_assert_max_num_queries) -> None:
    for i in range(45):
        save(tenancy, title=f"Question {i:02}", tags=["sales", f"t{i}"])
    client = page_as(tenancy.ana)
    client.get(LIBRARY)
    with django_assert_max_num_queries(9):
        response = client.get(LIBRARY, {"tag": "sales", "page": "2"})
    assert len(listed(response)) == 20


# --- edit ---------------------------------------------------------------------------------------


def test_ana_edits_text_name_tags_and_data_sources(tenancy, sqlite_source) -> None:
    prompt = save(tenancy, title="Old", tags=["old"])
    client = page_as(tenancy.ana)
    form = client.get(f"/prompts/{prompt.pk}/edit/").content.decode()
    assert 'value="old"' in form and "Acme SQLite" in form

    response = client.post(
        f"/prompts/{prompt.pk}/edit/",
        {"title": " Top customers ", "prompt_text": "Top 5 customers by revenue", "tags": "sales, weekly, sales, ",
         "datasources": [str(sqlite_source.pk)]},
        follow=True,
    )  # fmt: skip

    assert messages_of(response) == ["Saved “Top customers”."]
    prompt.refresh_from_db()
    assert (prompt.title, prompt.prompt_text, prompt.tags, prompt.selected_data_source_ids) == (
        "Top customers", "Top 5 customers by revenue", ["sales", "weekly"], [sqlite_source.pk])  # fmt: skip


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"prompt_text": "   "}, "This field is required."),
        ({"prompt_text": "x" * 101}, "The prompt is longer than 100 characters."),
        ({"tags": ",".join(f"t{i}" for i in range(21))}, "At most 20 tags."),
        ({"datasources": ["00000000-0000-0000-0000-000000000000"]}, "Select a valid choice."),
    ],
)
def test_a_bad_edit_is_refused_on_the_form_with_the_apis_rules(tenancy, settings, change, error) -> None:
    settings.MAX_PROMPT_CHARS = 100
    prompt = save(tenancy, title="Kept")
    response = page_as(tenancy.ana).post(f"/prompts/{prompt.pk}/edit/", {"title": "Kept", "prompt_text": "Ok",
                                                                         **change})  # fmt: skip
    assert response.status_code == 200
    assert error in response.content.decode()
    prompt.refresh_from_db()
    assert prompt.prompt_text == "Top 10 customers by revenue"


# --- run ----------------------------------------------------------------------------------------


def test_run_starts_an_execution_like_the_api_and_opens_it(tenancy, sqlite_source) -> None:
    prompt = save(tenancy, title="Regions", text="How many customers per region?", tags=["sales"],
                  selected_data_source_ids=[sqlite_source.pk], ai_model_used="offline")  # fmt: skip
    response = page_as(tenancy.vic).post(f"/prompts/{prompt.pk}/run", {"next": LIBRARY})

    execution = PromptExecution.objects.get()
    assert response["Location"] == f"/executions/{execution.pk}/"
    assert (execution.prompt_id, execution.user, execution.prompt_text, execution.ai_model, execution.tags,
            execution.selected_data_source_ids) == (prompt.pk, tenancy.vic, "How many customers per region?",
                                                    "offline", ["sales"], [sqlite_source.pk])  # fmt: skip


def test_a_run_over_the_rate_limit_is_said_plainly(tenancy, settings) -> None:
    settings.RATE_LIMIT_EXECUTE_PER_USER = 1
    prompt = save(tenancy, title="Regions")
    client = page_as(tenancy.ana)
    assert client.post(f"/prompts/{prompt.pk}/run")["Location"].startswith("/executions/")

    response = client.post(f"/prompts/{prompt.pk}/run", {"next": LIBRARY}, follow=True)

    assert response.redirect_chain == [(LIBRARY, 302)]
    [message] = messages_of(response)
    assert re.fullmatch(r"“Regions” was not run\. Too many executions started by you: at most 1 per \d+ s\. "
                        r"Try again in \d+ s\.", message)  # fmt: skip
    assert PromptExecution.objects.count() == 1


def test_a_run_when_the_token_budget_is_spent_is_said_plainly(tenancy, settings) -> None:
    from django.core.cache import cache

    from agent.llm import _budget_key

    settings.MODEL_TOKEN_BUDGET, settings.OPENAI_API_KEY = 1000, "test-key"
    cache.set(_budget_key(tenancy.acme.pk), 1000)
    try:
        prompt = save(tenancy, title="Regions")
        response = page_as(tenancy.ana).post(f"/prompts/{prompt.pk}/run", {"next": LIBRARY}, follow=True)
    finally:
        cache.delete(_budget_key(tenancy.acme.pk))
    assert messages_of(response) == [
        "“Regions” was not run. This workspace has used its model tokens for this month. An administrator can "
        "raise the monthly budget; the built-in offline model still works."
    ]
    assert not PromptExecution.objects.exists()


def test_a_run_whose_data_source_is_gone_says_how_to_fix_it(tenancy, sqlite_source) -> None:
    prompt = save(tenancy, title="Regions", selected_data_source_ids=[sqlite_source.pk])
    sqlite_source.delete()
    response = page_as(tenancy.ana).post(f"/prompts/{prompt.pk}/run", {"next": LIBRARY}, follow=True)
    assert messages_of(response) == [
        "“Regions” was not run. A data source of this prompt no longer exists: edit the prompt to choose its "
        "sources again."
    ]
    assert "1 data source no longer available" in response.content.decode()


def test_a_deleted_prompt_cannot_be_run(tenancy) -> None:
    prompt = save(tenancy)
    Prompt.objects.filter(pk=prompt.pk).update(deleted_at=timezone.now())
    assert page_as(tenancy.ana).post(f"/prompts/{prompt.pk}/run").status_code == 404
    assert not PromptExecution.objects.exists()
