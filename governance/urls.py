"""The API of governance under /api/v1/: the catalog as a member may see it."""

from __future__ import annotations

from django.urls import path

from governance import catalog_apis

urlpatterns = [
    path(
        "datasources/<str:datasource_id>/tables/",
        catalog_apis.DataSourceTablesApi.as_view(),
        name="datasource-tables",
    ),
    path("catalog/search", catalog_apis.CatalogSearchApi.as_view(), name="catalog-search"),
]
