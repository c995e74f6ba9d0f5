from __future__ import annotations

from django.urls import path

from executions import views

urlpatterns = [
    path("", views.studio, name="studio"),
    path("workspace/switch", views.workspace_switch, name="workspace-switch"),
]
