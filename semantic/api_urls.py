"""The semantic API under /api/v1/ (the thumbs-up on an execution is executions' own route)."""

from __future__ import annotations

from django.urls import path

from semantic import apis

urlpatterns = [
    path("verified-queries/", apis.VerifiedQueryListApi.as_view(), name="verified-query-list"),
    path(
        "verified-queries/<str:verified_query_id>", apis.VerifiedQueryDetailApi.as_view(), name="verified-query-detail"
    ),
    path(
        "verified-queries/<str:verified_query_id>/verify",
        apis.VerifiedQueryVerifyApi.as_view(),
        name="verified-query-verify",
    ),
    path("glossary/", apis.GlossaryListApi.as_view(), name="glossary-list"),
    path("glossary/<str:term_id>", apis.GlossaryDetailApi.as_view(), name="glossary-detail"),
    path(
        "datasources/<str:datasource_id>/tables/<str:table_id>/curation",
        apis.TableCurationApi.as_view(),
        name="table-curation",
    ),
    path(
        "datasources/<str:datasource_id>/tables/<str:table_id>/columns/<str:column>/curation",
        apis.ColumnCurationApi.as_view(),
        name="column-curation",
    ),
]
