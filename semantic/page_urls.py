"""The pages of the semantic layer (its API routes are in api_urls)."""

from __future__ import annotations

from django.urls import path

from semantic import views

urlpatterns = [
    path("semantic/", views.semantic_page, name="semantic-page"),
    path("semantic/glossary", views.glossary_change, name="semantic-glossary-change"),
    path("semantic/verified", views.verified_query_change, name="semantic-verified-change"),
    path("datasources/<uuid:datasource_id>/curation", views.catalog_curation, name="datasource-curation"),
]
