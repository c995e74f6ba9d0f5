"""Saved prompts and workspace analytics, under /api/v1/."""

from __future__ import annotations

from django.urls import path

from executions.analytics_api import AnalyticsApi
from prompts import apis

urlpatterns = [
    path("prompts/", apis.PromptListApi.as_view(), name="prompt-list"),
    path("prompts/<str:prompt_id>", apis.PromptDetailApi.as_view(), name="prompt-detail"),
    path("prompts/<str:prompt_id>/restore", apis.PromptRestoreApi.as_view(), name="prompt-restore"),
    path("prompts/<str:prompt_id>/run", apis.PromptRunApi.as_view(), name="prompt-run"),
    path("prompts/<str:prompt_id>/executions", apis.PromptExecutionsApi.as_view(), name="prompt-executions"),
    path("analytics/", AnalyticsApi.as_view(), name="analytics"),
]
