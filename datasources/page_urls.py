"""The pages of datasources (the API's routes are elsewhere)."""

from __future__ import annotations

from django.urls import path

from datasources import views

urlpatterns = [
    path("", views.datasource_list, name="datasource-list"),
]
