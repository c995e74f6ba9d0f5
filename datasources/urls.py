from __future__ import annotations

from django.urls import path

from datasources import apis

urlpatterns = [
    path("datasources/", apis.DataSourceListApi.as_view(), name="datasource-list"),
    path("datasources/<str:datasource_id>/", apis.DataSourceDetailApi.as_view(), name="datasource-detail"),
    path("datasources/<str:datasource_id>/test", apis.DataSourceTestApi.as_view(), name="datasource-test"),
    path("datasources/<str:datasource_id>/refresh", apis.DataSourceRefreshApi.as_view(), name="datasource-refresh"),
    path("datasources/<str:datasource_id>/inferred-keys/", apis.InferredKeyListApi.as_view(), name="inferred-key-list"),
    path(
        "datasources/<str:datasource_id>/inferred-keys/<str:key_id>",
        apis.InferredKeyDetailApi.as_view(),
        name="inferred-key-detail",
    ),
    path("exports/<str:export_id>/", apis.ExportDetailApi.as_view(), name="export-detail"),
    path("exports/<str:export_id>/download", apis.ExportDownloadApi.as_view(), name="export-download"),
]
