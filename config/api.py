"""Shared pieces of the API: the documented error body, file downloads."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import FileResponse
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


def error_response(description: str, *examples: tuple[str, str]) -> OpenApiResponse:
    """A documented error answer: the error body, with an example per (code, message)."""
    return OpenApiResponse(
        response=ErrorBody,
        description=description,
        examples=[
            OpenApiExample(code, value={"error": {"code": code, "message": message, "details": {}}})
            for code, message in examples
        ],
    )


def error_example(description: str, code: str, message: str) -> OpenApiResponse:
    """A documented error answer with one example."""
    return error_response(description, (code, message))


ERROR_RESPONSES = {
    400: error_example("Malformed JSON or invalid fields", "validation_error", "The request is not valid."),
    401: error_example(
        "Missing, invalid or expired credentials", "not_authenticated", "Authentication credentials were not provided."
    ),
    403: error_example("Your role does not allow this", "permission_denied", "You do not have permission."),
    404: error_example("Unknown id, or an id of another workspace", "not_found", "No such workspace."),
    413: error_example("Body over the size limit", "request_too_large", "The request body is too large."),
}


def paginated(
    serializer: type[serializers.Serializer], name: str, extra: dict[str, serializers.Field] | None = None
) -> serializers.Serializer:
    """The documented body of a limit/offset page of ``serializer`` items (what
    ``LimitOffsetPagination.get_paginated_response`` answers), with ``extra`` fields beside them."""
    return inline_serializer(
        name=name,
        fields={
            "count": serializers.IntegerField(help_text="Items in all pages."),
            "next": serializers.URLField(allow_null=True, help_text="The next page, null on the last."),
            "previous": serializers.URLField(allow_null=True, help_text="The previous page, null on the first."),
            "results": serializer(many=True),
            **(extra or {}),
        },
    )


# Blocks of a file sent to the client: each is one hop to the event loop.
_FILE_BLOCK_BYTES = 256 * 1024


def file_response(request: Any, handle: Any, *, filename: str, content_type: str) -> FileResponse:
    """A download of an open binary file, sent block by block at constant memory.

    Django's FileResponse streams blocks under WSGI (our server's HTTP path, config.http_threads),
    but under Django's ASGI handler (HTTP_THREADS=0) it reads a sync iterator whole into memory
    before sending a byte; so on an ASGI request the blocks come from an async iterator instead.
    The file is closed when the last block is sent or the client goes.
    """
    response = FileResponse(handle, as_attachment=True, filename=filename, content_type=content_type)
    response.block_size = _FILE_BLOCK_BYTES
    if isinstance(getattr(request, "_request", request), ASGIRequest):
        response.streaming_content = _blocks(handle)
    return response


async def _blocks(handle: Any) -> AsyncIterator[bytes]:
    read = sync_to_async(handle.read, thread_sensitive=False)
    try:
        while block := await read(_FILE_BLOCK_BYTES):
            yield block
    finally:
        await sync_to_async(handle.close, thread_sensitive=False)()


_output_serializers = threading.local()


def represent(serializer_class: type[serializers.Serializer], instance: Any) -> dict[str, Any]:
    """``serializer_class(instance).data`` for an output serializer that needs no context, without
    building its fields again: DRF deep-copies every declared field each time a serializer is made
    (about 1 ms for an execution's 30 fields, on every execute and every GET). One instance per
    thread keeps its bound fields; only ``to_representation`` runs per call."""
    cache: dict[type[serializers.Serializer], serializers.Serializer] | None
    cache = getattr(_output_serializers, "by_class", None)
    if cache is None:
        cache = _output_serializers.by_class = {}
    serializer = cache.get(serializer_class)
    if serializer is None:
        serializer = cache[serializer_class] = serializer_class()
    return dict(serializer.to_representation(instance))
