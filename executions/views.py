"""Server-rendered pages of executions: the studio, one execution, the history."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from config.pages import workspace_page
from governance.models import Membership


@workspace_page
def studio(request: HttpRequest, membership: Membership) -> HttpResponse:
    return render(request, "placeholder.html", {"title": "Studio"})


@workspace_page
def execution_page(request: HttpRequest, membership: Membership, execution_id: str) -> HttpResponse:
    return render(request, "placeholder.html", {"title": "Execution"})


@workspace_page
def history(request: HttpRequest, membership: Membership) -> HttpResponse:
    return render(request, "placeholder.html", {"title": "History"})
