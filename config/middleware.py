"""Cross-cutting request handling: request ids, body size, security headers, error bodies."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse

from config.errors import error_response, handler500
from config.logging import request_id_var

logger = logging.getLogger("config.request")
access_logger = logging.getLogger("config.access")

Handler = Callable[[HttpRequest], HttpResponse]

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Takes a well-formed incoming ``X-Request-ID`` or makes one; every log line carries it."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            access_logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            return response
        finally:
            request_id_var.reset(token)


def _too_large() -> HttpResponse:
    limit = settings.MAX_REQUEST_BODY_BYTES
    return error_response(
        413,
        "request_too_large",
        f"The request body is larger than the limit of {limit} bytes.",
        {"limit_bytes": limit},
    )


class BodySizeLimitMiddleware:
    """Refuses bodies over ``MAX_REQUEST_BODY_BYTES`` with a 413 before any view reads them."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declared = request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > settings.MAX_REQUEST_BODY_BYTES:
            return _too_large()
        return self.get_response(request)


class QueryStringMiddleware:
    """Refuses a query string holding a NUL character with a 400: no parameter of ours may hold one,
    and PostgreSQL text cannot, so a filter passed on as is would fail in the database instead."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if any("\x00" in key or "\x00" in value for key, values in request.GET.lists() for value in values):
            return error_response(400, "invalid_query", "A query parameter holds a NUL character.")
        return self.get_response(request)


# The API docs pages run the vendored Swagger UI / ReDoc bundles, which need a looser script policy.
_CSP_DEFAULT = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_CSP_DOCS = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; connect-src 'self'; font-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)


class SecurityHeadersMiddleware:
    """Headers Django's SecurityMiddleware does not set: CSP and Permissions-Policy."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        docs = request.path.startswith(("/api/docs/", "/api/redoc/"))
        response.setdefault("Content-Security-Policy", _CSP_DOCS if docs else _CSP_DEFAULT)
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        if request.path.startswith("/api/"):
            response.setdefault("Cache-Control", "no-store")
        return response


# Django answers these itself through the handler404/403/400 views.
_HANDLED_BY_DJANGO = (Http404, PermissionDenied, SuspiciousOperation, BadRequest)


class ErrorBodyMiddleware:
    """Last line of defence: an unhandled exception is logged and answered without a trace."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RequestDataTooBig):
            return _too_large()
        if settings.DEBUG or isinstance(exception, _HANDLED_BY_DJANGO):
            return None
        logger.error(
            "unhandled exception on %s %s",
            request.method,
            request.path,
            exc_info=(type(exception), exception, exception.__traceback__),
        )
        return handler500(request)
