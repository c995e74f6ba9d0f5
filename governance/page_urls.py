"""The pages of governance (the API's routes are elsewhere)."""

from __future__ import annotations

from django.urls import path

from governance import views

urlpatterns = [
    path("", views.governance_overview, name="governance-overview"),
]
