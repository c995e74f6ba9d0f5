"""The pages of prompts (the API's routes are elsewhere)."""

from __future__ import annotations

from django.urls import path

from prompts import views

urlpatterns = [
    path("", views.prompt_library, name="prompt-library"),
    path("<uuid:prompt_id>/edit/", views.prompt_edit_page, name="prompt-library-edit"),
    path("<uuid:prompt_id>/run", views.prompt_run_page, name="prompt-library-run"),
    path("<uuid:prompt_id>/delete", views.prompt_delete_page, name="prompt-library-delete"),
    path("<uuid:prompt_id>/restore", views.prompt_restore_page, name="prompt-library-restore"),
]
