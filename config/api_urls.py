"""Everything under /api/v1/."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("workspaces.urls")),  # tokens, me, workspaces and their members
    path("", include("datasources.urls")),
    path("", include("governance.urls")),  # the catalog as a member may see it: tables, search
    path("", include("executions.api_urls")),  # execute, executions, results, rerun, prompt runs
    path("", include("executions.feed_urls")),  # the event feed (JSON, SSE) and WebSocket tickets
    path("", include("prompts.api_urls")),  # saved prompts, analytics
    path("", include("semantic.api_urls")),  # verified queries, glossary, curated descriptions
]
