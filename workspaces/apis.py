"""Tenancy API: who am I, my workspaces, and workspace members."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from config.api import ERROR_RESPONSES
from workspaces import selectors, services
from workspaces.models import Role
from workspaces.tokens import WorkspaceTokenObtainSerializer, WorkspaceTokenRefreshSerializer


class WorkspaceOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    slug = serializers.SlugField()
    organization_id = serializers.UUIDField()
    organization_name = serializers.CharField(source="organization.name")
    safety_level = serializers.CharField()
    created_at = serializers.DateTimeField()


class MembershipOutput(serializers.Serializer):
    id = serializers.IntegerField()
    user_id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=Role.choices)
    attributes = serializers.DictField()
    created_at = serializers.DateTimeField()


class MyWorkspaceOutput(serializers.Serializer):
    workspace = WorkspaceOutput()
    role = serializers.ChoiceField(choices=Role.choices)
    attributes = serializers.DictField()


class MeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField(allow_blank=True)
    memberships = MyWorkspaceOutput(many=True)


class MeApi(APIView):
    @extend_schema(operation_id="me", responses={200: MeOutput, **ERROR_RESPONSES}, tags=["account"])
    def get(self, request: Request) -> Response:
        user: Any = request.user
        memberships = selectors.memberships_for_user(user=user)
        body = {"id": user.pk, "username": user.username, "email": user.email, "memberships": memberships}
        return Response(MeOutput(body).data)


class WorkspaceListApi(APIView):
    @extend_schema(
        operation_id="workspaces_list",
        responses={200: MyWorkspaceOutput(many=True), **ERROR_RESPONSES},
        tags=["workspaces"],
    )
    def get(self, request: Request) -> Response:
        memberships = selectors.memberships_for_user(user=request.user).order_by("workspace__name")
        return Response(MyWorkspaceOutput(memberships, many=True).data)


class WorkspaceDetailApi(APIView):
    @extend_schema(
        operation_id="workspaces_retrieve", responses={200: WorkspaceOutput, **ERROR_RESPONSES}, tags=["workspaces"]
    )
    def get(self, request: Request, workspace_id: str) -> Response:
        workspace = selectors.access_workspace(user=request.user, workspace_id=workspace_id)
        return Response(WorkspaceOutput(workspace).data)


class MemberListApi(APIView):
    class MemberAddInput(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        role = serializers.ChoiceField(choices=Role.choices)
        attributes = serializers.DictField(required=False, default=dict)

    @extend_schema(
        operation_id="members_list",
        responses={200: MembershipOutput(many=True), **ERROR_RESPONSES},
        tags=["workspaces"],
    )
    def get(self, request: Request, workspace_id: str) -> Response:
        workspace = selectors.access_workspace(user=request.user, workspace_id=workspace_id, perm="manage_members")
        members = selectors.workspace_members(workspace=workspace)
        return Response(MembershipOutput(members, many=True).data)

    @extend_schema(
        operation_id="members_add",
        request=MemberAddInput,
        responses={201: MembershipOutput, **ERROR_RESPONSES},
        tags=["workspaces"],
        examples=[
            OpenApiExample(
                "Add an analyst",
                value={"username": "dana", "role": "analyst", "attributes": {"region": "EMEA"}},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, workspace_id: str) -> Response:
        workspace = selectors.access_workspace(user=request.user, workspace_id=workspace_id, perm="manage_members")
        data = self.MemberAddInput(data=request.data)
        data.is_valid(raise_exception=True)
        _ensure_may_grant(request, workspace, data.validated_data["role"])
        user = get_user_model().objects.filter(username=data.validated_data["username"], is_active=True).first()
        if user is None:
            raise serializers.ValidationError({"username": ["No active user has this username."]})
        if selectors.membership_of(user=user, workspace=workspace) is not None:
            raise serializers.ValidationError({"username": ["This user is already a member; change their role."]})
        membership = services.membership_set(
            workspace=workspace,
            user=user,
            role=data.validated_data["role"],
            attributes=data.validated_data["attributes"],
        )
        return Response(MembershipOutput(membership).data, status=status.HTTP_201_CREATED)


def _ensure_may_grant(request: Request, workspace: Any, role: str) -> None:
    """Only owners make owners (or change an owner)."""
    if role != Role.OWNER:
        return
    mine = selectors.membership_of(user=request.user, workspace=workspace)  # type: ignore[arg-type]
    if mine is None or mine.role != Role.OWNER:
        from rest_framework.exceptions import PermissionDenied

        raise PermissionDenied("Only an owner can grant or change the owner role.")


class MemberDetailApi(APIView):
    class MemberUpdateInput(serializers.Serializer):
        role = serializers.ChoiceField(choices=Role.choices, required=False)
        attributes = serializers.DictField(required=False)

    @extend_schema(
        operation_id="members_update",
        request=MemberUpdateInput,
        responses={200: MembershipOutput, **ERROR_RESPONSES},
        tags=["workspaces"],
    )
    def patch(self, request: Request, workspace_id: str, membership_id: str) -> Response:
        workspace = selectors.access_workspace(user=request.user, workspace_id=workspace_id, perm="manage_members")
        membership = selectors.access_membership(workspace=workspace, membership_id=membership_id)
        data = self.MemberUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        if membership.role == Role.OWNER or data.validated_data.get("role") == Role.OWNER:
            _ensure_may_grant(request, workspace, Role.OWNER)
        membership = services.membership_update(membership=membership, **data.validated_data)
        return Response(MembershipOutput(membership).data)

    @extend_schema(operation_id="members_remove", responses={204: None, **ERROR_RESPONSES}, tags=["workspaces"])
    def delete(self, request: Request, workspace_id: str, membership_id: str) -> Response:
        workspace = selectors.access_workspace(user=request.user, workspace_id=workspace_id, perm="manage_members")
        membership = selectors.access_membership(workspace=workspace, membership_id=membership_id)
        if membership.role == Role.OWNER:
            _ensure_may_grant(request, workspace, Role.OWNER)
        services.membership_remove(membership=membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenPairOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    workspace_id = serializers.UUIDField(allow_null=True)
    organization_id = serializers.UUIDField(allow_null=True)
    roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices))


class AccessTokenOutput(serializers.Serializer):
    access = serializers.CharField()


class TokenObtainApi(TokenObtainPairView):
    """Exchange a username and password for a Bearer JWT pair scoped to one workspace."""

    serializer_class = WorkspaceTokenObtainSerializer

    @extend_schema(operation_id="auth_token_obtain", tags=["auth"], responses={200: TokenPairOutput, **ERROR_RESPONSES})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)


class TokenRefreshApi(TokenRefreshView):
    """Exchange a refresh token for a new access token (membership is checked again)."""

    serializer_class = WorkspaceTokenRefreshSerializer

    @extend_schema(
        operation_id="auth_token_refresh", tags=["auth"], responses={200: AccessTokenOutput, **ERROR_RESPONSES}
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)
