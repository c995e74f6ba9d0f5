"""The executions API under /api/v1/ (the event feed and WebSocket tickets are in feed_urls)."""

from __future__ import annotations

from django.urls import path

from executions import apis

urlpatterns = [
    path("prompts/execute", apis.ExecuteApi.as_view(), name="prompt-execute"),
    path("executions/", apis.ExecutionListApi.as_view(), name="execution-list"),
    path("executions/<str:execution_id>", apis.ExecutionDetailApi.as_view(), name="execution-detail"),
    path("executions/<str:execution_id>/respond", apis.ExecutionRespondApi.as_view(), name="execution-respond"),
    path("executions/<str:execution_id>/approve", apis.ExecutionApproveApi.as_view(), name="execution-approve"),
    path("executions/<str:execution_id>/reject", apis.ExecutionRejectApi.as_view(), name="execution-reject"),
    path("executions/<str:execution_id>/cancel", apis.ExecutionCancelApi.as_view(), name="execution-cancel"),
    path("executions/<str:execution_id>/verify", apis.ExecutionVerifyApi.as_view(), name="execution-verify"),
    path("executions/<str:execution_id>/rerun", apis.ExecutionRerunApi.as_view(), name="execution-rerun"),
    path("executions/<str:execution_id>/result.csv", apis.ExecutionResultCsvApi.as_view(), name="execution-result-csv"),
    path(
        "executions/<str:execution_id>/result.parquet",
        apis.ExecutionResultParquetApi.as_view(),
        name="execution-result-parquet",
    ),
]
