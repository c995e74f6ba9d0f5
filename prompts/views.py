"""The saved prompts page: the library with its tags and search, and run, edit, delete, restore.

Every read and write goes through ``prompts.selectors`` / ``prompts.services``, the ones the API
uses, and a run through ``prompts.apis.prompt_run`` (the API's run: the same limits, token budget
and errors), so the page and the API always agree. The page is about the current workspace: a
prompt of another workspace is a 404 here, even for someone who is a member of both. Refusals a
person can act on (a rate limit, the token budget, a permission) come back as a message on the
page, in words, never as an error page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.text import Truncator
from django.views.decorators.http import require_POST

from config.api import ApiError
from config.pages import is_fragment_request, query_without_page, redirect_next, workspace_page
from datasources.selectors import datasources_for_user
from prompts import selectors, services
from prompts.apis import prompt_run
from prompts.models import Prompt
from workspaces.models import Membership

PAGE_SIZE = 20
DELETED_TAB = "deleted"
NOT_YOURS = "Only the author of a prompt and the workspace's owners and admins can change, delete or restore it."


class LibraryFilters(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    tag = forms.CharField(required=False, max_length=64, label="Tag")


class PromptEditForm(forms.Form):
    title = forms.CharField(required=False, max_length=services.MAX_TITLE_CHARS, label="Name")
    prompt_text = forms.CharField(label="Prompt", widget=forms.Textarea(attrs={"rows": 6}))
    tags = forms.CharField(required=False, label="Tags", help_text="Separate tags with commas, e.g. sales, weekly.")
    datasources = forms.MultipleChoiceField(
        required=False,
        label="Data sources",
        widget=forms.CheckboxSelectMultiple,
        help_text="None chosen: the question runs against the sources of the workspace you can query.",
    )

    def __init__(self, *args: Any, datasources: list[tuple[str, str]], **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        field = self.fields["datasources"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = datasources


# The service's field names, as the form calls them.
_FORM_FIELDS = {"title": "title", "prompt_text": "prompt_text", "tags": "tags",
                "selected_data_source_ids": "datasources"}  # fmt: skip


@dataclass(frozen=True)
class LibraryItem:
    prompt: Prompt
    can_change: bool
    sources: list[str]
    missing_sources: int  # selected sources that are gone or hidden from this person

    @property
    def name(self) -> str:
        return self.prompt.title or Truncator(self.prompt.prompt_text).chars(100)


def _source_names(request: HttpRequest, membership: Membership) -> dict[Any, str]:
    sources = datasources_for_user(user=request.user, workspace_id=membership.workspace_id)
    return dict(sources.order_by("name").values_list("pk", "name"))


@workspace_page
def prompt_library(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = LibraryFilters(request.GET or None)
    values = form.cleaned_data if form.is_bound and form.is_valid() else {}
    deleted = request.GET.get("tab") == DELETED_TAB
    tag = values.get("tag") or ""
    prompts = selectors.prompts_search(
        user=request.user,
        workspace_id=membership.workspace_id,
        q=values.get("q") or "",
        tags=[tag] if tag else (),
        status=Prompt.Status.SAVED,
        deleted=deleted,
    )
    page = Paginator(prompts, PAGE_SIZE).get_page(request.GET.get("page"))
    shown: list[Prompt] = list(page.object_list)
    changeable = selectors.prompts_changeable(user=request.user, prompts=shown)
    names = _source_names(request, membership)
    items = [
        LibraryItem(
            prompt=prompt,
            can_change=prompt.pk in changeable,
            sources=[names[pk] for pk in prompt.selected_data_source_ids if pk in names],
            missing_sources=sum(1 for pk in prompt.selected_data_source_ids if pk not in names),
        )
        for prompt in shown
    ]
    context = {
        "form": form,
        "page": page,
        "items": items,
        "deleted": deleted,
        "filtered": bool(values.get("q") or tag),
        "tag": tag,
        "query": query_without_page(request),
        "tags": selectors.prompt_tags(user=request.user, workspace_id=membership.workspace_id),
        "here": request.get_full_path(),
    }
    template = "prompts/_results.html" if is_fragment_request(request) else "prompts/library.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _prompt_here(
    request: HttpRequest, membership: Membership, prompt_id: Any, *, change: bool = False, include_deleted: bool = False
) -> Prompt:
    """The prompt through the API's chokepoint; outside the current workspace it is a 404, and
    with ``change`` a prompt seen but not changeable is PermissionDenied (the API's 403)."""
    prompt = selectors.access_prompt(user=request.user, prompt_id=prompt_id, include_deleted=include_deleted)
    if prompt.workspace_id != membership.workspace_id:
        raise selectors.PromptNotFound("No such prompt.")
    if change and prompt.pk not in selectors.prompts_changeable(user=request.user, prompts=[prompt]):
        raise PermissionDenied(NOT_YOURS)
    return prompt


def _back(request: HttpRequest) -> HttpResponse:
    """Back to the library view the person came from (its tab, search and page), never elsewhere."""
    library = reverse("prompt-library")
    return redirect_next(request, library, within=library)


def _name(prompt: Prompt) -> str:
    return prompt.title or Truncator(prompt.prompt_text).chars(60)


@workspace_page
@require_POST
def prompt_run_page(request: HttpRequest, membership: Membership, prompt_id: Any) -> HttpResponse:
    prompt = _prompt_here(request, membership, prompt_id)
    try:
        execution = prompt_run(user=request.user, prompt=prompt)
    except ApiError as exc:
        messages.error(request, f"“{_name(prompt)}” was not run. {_run_refusal(exc)}")
        return _back(request)
    except PermissionDenied as exc:
        messages.error(request, f"“{_name(prompt)}” was not run. {exc}")
        return _back(request)
    return redirect("execution-page", execution_id=execution.pk)


def _run_refusal(exc: ApiError) -> str:
    """The API's message, said for a person on a page rather than for an integrator."""
    code = exc.get_codes()
    if code == "model_budget_exceeded":
        return ("This workspace has used its model tokens for this month. An administrator can raise the "
                "monthly budget; the built-in offline model still works.")  # fmt: skip
    if code == "unknown_datasource":
        return "A data source of this prompt no longer exists: edit the prompt to choose its sources again."
    if code == "unknown_model":
        return "The model it was saved with is no longer available in this workspace."
    return str(exc.detail)


@workspace_page
@require_POST
def prompt_delete_page(request: HttpRequest, membership: Membership, prompt_id: Any) -> HttpResponse:
    try:
        prompt = _prompt_here(request, membership, prompt_id, change=True)
    except PermissionDenied:
        messages.error(request, f"Not deleted. {NOT_YOURS}")
        return _back(request)
    services.prompt_delete(prompt=prompt)
    messages.success(request, f"Deleted “{_name(prompt)}”. You can restore it from the Deleted tab.")
    return _back(request)


@workspace_page
@require_POST
def prompt_restore_page(request: HttpRequest, membership: Membership, prompt_id: Any) -> HttpResponse:
    try:
        prompt = _prompt_here(request, membership, prompt_id, change=True, include_deleted=True)
    except PermissionDenied:
        messages.error(request, f"Not restored. {NOT_YOURS}")
        return _back(request)
    services.prompt_restore(prompt=prompt)
    messages.success(request, f"Restored “{_name(prompt)}” to the library.")
    return _back(request)


@workspace_page
def prompt_edit_page(request: HttpRequest, membership: Membership, prompt_id: Any) -> HttpResponse:
    try:
        prompt = _prompt_here(request, membership, prompt_id, change=True)
    except PermissionDenied:
        messages.error(request, NOT_YOURS)
        return redirect("prompt-library")
    names = _source_names(request, membership)
    choices = [(str(pk), name) for pk, name in names.items()]
    missing = sum(1 for pk in prompt.selected_data_source_ids if pk not in names)
    if request.method == "POST":
        form = PromptEditForm(request.POST, datasources=choices)
        if form.is_valid() and _save(request, membership, prompt, form):
            messages.success(request, f"Saved “{_name(prompt)}”.")
            return redirect("prompt-library")
    else:
        form = PromptEditForm(
            initial={
                "title": prompt.title,
                "prompt_text": prompt.prompt_text,
                "tags": ", ".join(prompt.tags),
                "datasources": [str(pk) for pk in prompt.selected_data_source_ids if pk in names],
            },
            datasources=choices,
        )
    return render(request, "prompts/edit.html", {"form": form, "prompt": prompt, "missing_sources": missing})


def _save(request: HttpRequest, membership: Membership, prompt: Prompt, form: PromptEditForm) -> bool:
    """Checks the fields with the API's rules (prompt_fields_clean) and saves; a refusal becomes the
    field's error on the form."""
    values = form.cleaned_data
    user: Any = request.user
    try:
        fields = services.prompt_fields_clean(
            user=user,
            workspace=membership.workspace,  # the prompt's (``_prompt_here``), already loaded
            values={
                "title": values["title"],
                "prompt_text": values["prompt_text"],
                "tags": values["tags"].split(","),
                "selected_data_source_ids": values["datasources"],
            },
        )
    except services.PromptInvalid as exc:
        form.add_error(_FORM_FIELDS.get(exc.field), exc.message)
        return False
    services.prompt_update(prompt=prompt, fields=fields)
    return True
