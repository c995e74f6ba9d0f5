from __future__ import annotations

from django.urls import path

from workspaces import apis

urlpatterns = [
    path("auth/token/", apis.TokenObtainApi.as_view(), name="token-obtain"),
    path("auth/token/refresh/", apis.TokenRefreshApi.as_view(), name="token-refresh"),
    path("me", apis.MeApi.as_view(), name="me"),
    path("workspaces/", apis.WorkspaceListApi.as_view(), name="workspace-list"),
    path("workspaces/<str:workspace_id>/", apis.WorkspaceDetailApi.as_view(), name="workspace-detail"),
    path("workspaces/<str:workspace_id>/members/", apis.MemberListApi.as_view(), name="member-list"),
    path(
        "workspaces/<str:workspace_id>/members/<str:membership_id>/",
        apis.MemberDetailApi.as_view(),
        name="member-detail",
    ),
]
