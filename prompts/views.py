"""Server-rendered pages of prompts."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from config.pages import workspace_page
from governance.models import Membership


@workspace_page
def prompt_library(request: HttpRequest, membership: Membership) -> HttpResponse:
    return render(request, "placeholder.html", {"title": "Saved prompts"})
