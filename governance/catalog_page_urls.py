"""The catalog browser page, mounted under /datasources/ beside ``datasources.page_urls``."""

from __future__ import annotations

from django.urls import path

from governance import catalog_views

urlpatterns = [
    path("<uuid:datasource_id>/", catalog_views.datasource_detail, name="datasource-detail"),
    path("<uuid:datasource_id>/column-tags", catalog_views.column_tag_decide, name="datasource-column-tags"),
]
