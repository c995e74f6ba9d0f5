"""The pages of executions (the API's routes are in api_urls and feed_urls)."""

from __future__ import annotations

from django.urls import path

from executions import history_views, views

urlpatterns = [
    path("", views.studio, name="studio"),
    path("executions/", history_views.history, name="history"),
    path("executions/<uuid:execution_id>/", views.execution_page, name="execution-page"),
    path("executions/<uuid:execution_id>/verify", views.execution_verify, name="execution-verify-page"),
]
