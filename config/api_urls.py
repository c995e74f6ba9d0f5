"""Everything under /api/v1/."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("governance.urls")),
    path("", include("datasources.urls")),
]
