"""The uniform error body: ``{"error": {"code": ..., "message": ..., "details": ...}}``.

Every 4xx and 5xx answer of the API has this shape and a stable ``code``; nothing else (a stack
trace, an HTML debug page) ever reaches a client.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler
from rest_framework_simplejwt.exceptions import InvalidToken

from config.logging import request_id_var

logger = logging.getLogger(__name__)


def error_payload(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details if details is not None else {}}}


def error_response(status_code: int, code: str, message: str, details: Any = None) -> JsonResponse:
    return JsonResponse(error_payload(code, message, details), status=status_code)


def _first_code(codes: Any) -> str:
    if isinstance(codes, str):
        return codes
    if isinstance(codes, dict):
        for value in codes.values():
            return _first_code(value)
    if isinstance(codes, list) and codes:
        return _first_code(codes[0])
    return "error"


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)

    response = exception_handler(exc, context)
    if response is None:
        # Not an API exception: ErrorBodyMiddleware turns it into a 500 without a trace.
        return None

    assert isinstance(exc, exceptions.APIException)
    if isinstance(exc, exceptions.ValidationError):
        body = error_payload("validation_error", "The request is not valid.", exc.detail)
    elif isinstance(exc, InvalidToken):
        body = error_payload("token_not_valid", "The token is invalid or expired.", {})
    else:
        detail = exc.detail
        message = str(detail) if not isinstance(detail, dict | list) else "The request failed."
        if isinstance(detail, dict) and "detail" in detail:
            message = str(cast("dict[str, Any]", detail)["detail"])  # some stubs type its keys as ints
        code = _first_code(exc.get_codes())
        body = error_payload(code, message, getattr(exc, "details", None) or {})
        wait = getattr(exc, "wait", None)
        if wait is not None:
            body["error"]["details"] = {"retry_after_seconds": wait}
    response.data = body
    return response


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return error_response(status.HTTP_404_NOT_FOUND, "not_found", "No such resource.")
    return render(request, "errors/404.html", status=404)


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return error_response(status.HTTP_403_FORBIDDEN, "permission_denied", "You may not do this.")
    return render(request, "errors/403.html", status=403)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return error_response(status.HTTP_400_BAD_REQUEST, "bad_request", "The request could not be understood.")
    return render(request, "errors/400.html", status=400)


def handler500(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return internal_error_response()
    return render(request, "errors/500.html", {"request_id": request_id_var.get()}, status=500)


def internal_error_response() -> JsonResponse:
    return error_response(
        status.HTTP_500_INTERNAL_SERVER_ERROR,
        "internal_error",
        "Something went wrong on our side. Quote the request id when you report it.",
        {"request_id": request_id_var.get()},
    )
