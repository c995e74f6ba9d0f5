"""The history page: the executions of the current workspace a person may see, filtered and paged.

The filters are a plain GET form, so the page works without JavaScript and every filtered view
has its own address; with htmx the form asks for the same URL and gets only the results fragment.
Filtering is ``executions_search``, the API's list; what a row shows is read in the one page query
(the model and cost come out of ``ai_metadata`` in PostgreSQL, not by loading the JSON).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from agent.types import INTENTS
from config.pages import day_bounds, is_fragment_request, query_without_page, workspace_page
from datasources.selectors import datasources_for_user
from executions.models import PromptExecution
from executions.selectors import executions_search
from executions.services.create import EXECUTION_ROLES_WITH_ACCESS
from executions.views import STATUS_LABELS  # the studio says the same words
from workspaces.models import Membership

PAGE_SIZE = 25

INTENT_LABELS = {intent: intent.replace("_", " ").capitalize() for intent in INTENTS}

# The columns a row shows; the heavy JSON of an execution (preview, trace, final data) stays unread.
_ROW_FIELDS = ("id", "created_at", "prompt_text", "status", "intent_type", "total_duration_ms",
               "rows_returned", "ai_model", "user__username")  # fmt: skip


class HistoryFilters(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Prompt contains", strip=True)
    status = forms.ChoiceField(required=False, label="Status",
                               choices=[("", "Any status"), *STATUS_LABELS.items()])  # fmt: skip
    intent = forms.ChoiceField(required=False, label="Intent",
                               choices=[("", "Any intent"), *INTENT_LABELS.items()])  # fmt: skip
    datasource = forms.ChoiceField(required=False, label="Data source")
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, datasources: list[tuple[str, str]], **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        field = self.fields["datasource"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "Any data source"), *datasources]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
            cleaned.pop("date_to", None)
        return cleaned


def _rows(query: QuerySet[PromptExecution]) -> QuerySet[PromptExecution]:
    return (
        query.select_related("user")
        .only(*_ROW_FIELDS)
        .annotate(
            model_used=KeyTextTransform("model", "ai_metadata"),
            cost_usd=KeyTextTransform("cost_usd", "ai_metadata"),
        )
    )


@workspace_page
def history(request: HttpRequest, membership: Membership) -> HttpResponse:
    workspace_id = membership.workspace_id
    sources = datasources_for_user(user=request.user, workspace_id=workspace_id).order_by("name")
    form = HistoryFilters(
        request.GET or None, datasources=[(str(pk), name) for pk, name in sources.values_list("pk", "name")]
    )
    filters: dict[str, Any] = {}
    if form.is_bound:
        form.is_valid()  # invalid fields are shown and left out; the valid ones still filter
        values = form.cleaned_data
        created_after, created_before = day_bounds(values.get("date_from"), values.get("date_to"))
        filters = {
            "q": values.get("q") or "",
            "status": values.get("status") or None,
            "intent": values.get("intent") or None,
            "datasource_id": values.get("datasource") or None,
            "created_after": created_after,
            "created_before": created_before,
        }
    executions = executions_search(user=request.user, workspace_id=workspace_id, **filters)
    page = Paginator(_rows(executions), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page": page,
        "filtered": any(filters.values()),
        "query": query_without_page(request),
        # Owners and admins see every run of their workspace (executions.services.execution_grant), so
        # their history says who ran each one; everyone else sees their own (and the odd shared one).
        "show_author": membership.role in EXECUTION_ROLES_WITH_ACCESS or request.user.is_superuser,
        "status_labels": STATUS_LABELS,
        "intent_labels": INTENT_LABELS,
    }
    template = "history/_results.html" if is_fragment_request(request) else "history/history.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response
