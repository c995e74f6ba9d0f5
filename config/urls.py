from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from config import health, pages

urlpatterns = [
    path("health", health.health, name="health"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("api/v1/", include("config.api_urls")),
    path("workspace/switch", pages.workspace_switch, name="workspace-switch"),
    path("prompts/", include("prompts.page_urls")),
    path("datasources/", include("datasources.page_urls")),
    path("datasources/", include("governance.catalog_page_urls")),  # the catalog browser: what a member sees
    path("governance/", include("governance.page_urls")),
    path("", include("semantic.page_urls")),  # glossary and verified queries; the catalog's curation form
    path("", include("executions.urls")),
]

handler400 = "config.errors.handler400"
handler403 = "config.errors.handler403"
handler404 = "config.errors.handler404"
handler500 = "config.errors.handler500"
