"""Server-rendered pages of datasources."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from config.pages import workspace_page
from governance.models import Membership


@workspace_page
def datasource_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    return render(request, "placeholder.html", {"title": "Data sources"})
