"""The pages of prompts (the API's routes are elsewhere)."""

from __future__ import annotations

from django.urls import path

from prompts import views

urlpatterns = [
    path("", views.prompt_library, name="prompt-library"),
]
