"""Shared pieces of the API: the documented error body."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import APIException


class ApiError(APIException):
    """An error with its own status and stable code, raised by views for domain failures."""

    def __init__(self, status_code: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.details = details or {}


ErrorBody = inline_serializer(
    name="ErrorBody",
    fields={
        "error": inline_serializer(
            name="ErrorDetail",
            fields={
                "code": serializers.CharField(help_text="Stable, machine-readable code, e.g. not_found."),
                "message": serializers.CharField(help_text="A sentence for people."),
                "details": serializers.JSONField(help_text="Field errors or extra facts; {} when none."),
            },
        )
    },
)


def _error(description: str, code: str, message: str) -> OpenApiResponse:
    return OpenApiResponse(
        response=ErrorBody,
        description=description,
        examples=[OpenApiExample(code, value={"error": {"code": code, "message": message, "details": {}}})],
    )


ERROR_RESPONSES = {
    400: _error("Malformed JSON or invalid fields", "validation_error", "The request is not valid."),
    401: _error(
        "Missing, invalid or expired credentials", "not_authenticated", "Authentication credentials were not provided."
    ),
    403: _error("Your role does not allow this", "permission_denied", "You do not have permission."),
    404: _error("Unknown id, or an id of another workspace", "not_found", "No such workspace."),
    413: _error("Body over the size limit", "request_too_large", "The request body is too large."),
}
