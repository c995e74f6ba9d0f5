"""The pages of datasources (the API's routes are elsewhere; the catalog browser, ``/datasources/<id>/``,
is ``governance.catalog_page_urls``)."""

from __future__ import annotations

from django.urls import path

from datasources import views

urlpatterns = [
    path("", views.datasource_list, name="datasource-list"),
    path("new/", views.datasource_add, name="datasource-add"),
    path("new/test", views.datasource_add_test, name="datasource-add-test"),
    path("<uuid:datasource_id>/status", views.datasource_status, name="datasource-status"),
    path("<uuid:datasource_id>/refresh", views.datasource_refresh, name="datasource-refresh"),
    path("<uuid:datasource_id>/inferred-keys", views.inferred_key_decide, name="datasource-inferred-keys"),
]
