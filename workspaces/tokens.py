"""Bearer JWTs whose claims carry the workspace and the holder's roles in it.

The claims tell a client what the token is for; every request is still authorised against the
database, so a role change or a removed membership takes effect at once and refresh re-reads them.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import exceptions, serializers
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken

from workspaces.models import Membership
from workspaces.selectors import memberships_for_user


def _claims_for(membership: Membership | None) -> dict[str, Any]:
    if membership is None:
        return {"workspace_id": None, "organization_id": None, "roles": []}
    return {
        "workspace_id": str(membership.workspace_id),
        "organization_id": str(membership.workspace.organization_id),
        "roles": [membership.role],
    }


class WorkspaceTokenObtainSerializer(TokenObtainPairSerializer):
    workspace_id = serializers.UUIDField(
        required=False,
        help_text="The workspace the token is for; defaults to the user's first workspace.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        data = super().validate(attrs)  # authenticates; sets self.user
        user: Any = self.user
        memberships = memberships_for_user(user=user).order_by("created_at")
        wanted = attrs.get("workspace_id")
        membership = memberships.filter(workspace_id=wanted).first() if wanted else memberships.first()
        if wanted and membership is None:
            raise exceptions.ValidationError({"workspace_id": ["You are not a member of this workspace."]})
        refresh = RefreshToken.for_user(user)
        for key, value in _claims_for(membership).items():
            refresh[key] = value
        data["refresh"] = str(refresh)
        data["access"] = str(refresh.access_token)
        data.update(_claims_for(membership))
        return data


class WorkspaceTokenRefreshSerializer(TokenRefreshSerializer):
    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        refresh = RefreshToken(attrs["refresh"])  # raises TokenError -> 401 token_not_valid
        user_id = refresh.payload.get(api_settings.USER_ID_CLAIM)
        user = get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: user_id}, is_active=True).first()
        if user is None:
            raise exceptions.AuthenticationFailed("The user of this token no longer exists.", code="user_inactive")
        workspace_id = refresh.payload.get("workspace_id")
        membership = None
        if workspace_id:
            membership = memberships_for_user(user=user).filter(workspace_id=workspace_id).first()
            if membership is None:
                raise exceptions.AuthenticationFailed(
                    "You are no longer a member of this token's workspace.", code="membership_revoked"
                )
        access = refresh.access_token
        for key, value in _claims_for(membership).items():
            access[key] = value
        return {"access": str(access)}
