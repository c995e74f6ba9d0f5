"""ASGI entry point: HTTP through Django, WebSockets through Channels.

A WebSocket passes the origin check first, then the session is read from its cookie (a ticket in
the URL is the consumer's business), then it is routed to its consumer.
"""

from __future__ import annotations

import gc
import os
from typing import Any
from urllib.parse import urlparse

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

# Django must be set up before anything that imports models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

from config.asgi_limits import BodyLimitMiddleware  # noqa: E402
from config.http_threads import HttpRouter, ThreadedWsgi  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402

CLOSE_ORIGIN = 4403  # executions.consumers documents every close code


class OriginCheck(OriginValidator):
    """A browser always sends ``Origin`` with a WebSocket handshake, and cookies ride along with
    it: a page of another site must not open a socket with the user's session (cross-site
    WebSocket hijacking). Allowed: the hosts of ALLOWED_HOSTS (any scheme and port, as Django's
    AllowedHostsOriginValidator does) and WS_ALLOWED_ORIGINS. A handshake without ``Origin`` is
    not a browser's (an integrator's client, with a ticket or a cookie of its own) and may pass.

    A refused socket is accepted and closed at once with 4403, nothing sent, so that a browser
    sees why (a handshake refused with HTTP 403 reaches its script as a bare 1006)."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        origin = next((value for name, value in scope.get("headers", []) if name == b"origin"), None)
        if origin is None:
            return await self.application(scope, receive, send)
        try:
            parsed = urlparse(origin.decode("latin1"))
        except (UnicodeDecodeError, ValueError):
            parsed = None
        if parsed is not None and self.valid_origin(parsed):
            return await self.application(scope, receive, send)
        message = await receive()
        if message["type"] != "websocket.connect":
            return None
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": CLOSE_ORIGIN, "reason": "origin_not_allowed"})
        return None


def allowed_origins() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = ["localhost", ".localhost", "127.0.0.1", "[::1]"]
    return [*hosts, *settings.WS_ALLOWED_ORIGINS]


class ForgetContentTypes:
    """Test settings only (CELERY_FORGET_CONTENT_TYPES, as for the worker): the suite empties the
    database between tests while this server lives on, which gives content types new ids; every
    request and socket starts without the old ones (guardian looks permissions up by them)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        from django.contrib.contenttypes.models import ContentType
        from guardian.shortcuts import clear_ct_cache

        ContentType.objects.clear_cache()
        clear_ct_cache()
        return await self.app(scope, receive, send)


# Plain HTTP through the WSGI handler in HTTP_THREADS threads (config.http_threads says why);
# 0 serves it through Django's ASGI handler instead.
http_app: Any = django_asgi_app
if settings.HTTP_THREADS:
    threaded = ThreadedWsgi(get_wsgi_application(), threads=settings.HTTP_THREADS)
    http_app = HttpRouter(asgi=django_asgi_app, wsgi=threaded)

application: Any = ProtocolTypeRouter(
    {
        "http": BodyLimitMiddleware(http_app, limit=settings.MAX_REQUEST_BODY_BYTES),
        "websocket": OriginCheck(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)), allowed_origins()),
    }
)
if getattr(settings, "CELERY_FORGET_CONTENT_TYPES", False):
    application = ForgetContentTypes(application)

# The collector's full collections walk every live object: with 2,000 sockets open they paused the
# process for 100-250 ms and set bench/ws_fanout's p99 (140-160 ms; 8.7 ms with the collector
# off). Everything loaded so far (Django, the apps, URL and template machinery) lives as long as
# the process and is moved out of its sight; and a full collection comes after 1,000 collections of
# the middle generation instead of 10 (p99 8.7 ms, max 40 ms, the same memory per socket). Young
# generations are collected as usual, so short-lived cycles still go quickly.
gc.collect()
gc.freeze()
gc.set_threshold(700, 10, 1000)
