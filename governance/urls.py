"""The API of governance under /api/v1/: the catalog as a member may see it."""

from __future__ import annotations

from django.urls import path

from governance import apis

urlpatterns = [
    path(
        "datasources/<str:datasource_id>/tables/",
        apis.DataSourceTablesApi.as_view(),
        name="datasource-tables",
    ),
    path("catalog/search", apis.CatalogSearchApi.as_view(), name="catalog-search"),
    path("tags/", apis.TagListApi.as_view(), name="tag-list"),
    path("tags/<str:tag_id>", apis.TagDetailApi.as_view(), name="tag-detail"),
    path("datasources/<str:datasource_id>/column-tags/", apis.ColumnTagListApi.as_view(), name="column-tag-list"),
    path("column-tags/<str:column_tag_id>", apis.ColumnTagDetailApi.as_view(), name="column-tag-detail"),
]
