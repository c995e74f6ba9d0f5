"""Plain HTTP requests through Django's WSGI handler, in a pool of threads of the ASGI process.

Django's ASGI handler runs a sync view and sync middleware in one thread per process
(``thread_sensitive``) and hops between that thread and the event loop three times per request
(sync middleware -> async core -> sync view). Our views and middleware are all sync, so a request
gains nothing from the async path: through the WSGI handler it makes one hop, into a thread of a
pool, and requests of one process overlap while they wait on PostgreSQL or Redis. WebSockets and
the Server-Sent Events feed (an async stream) stay on the ASGI path.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from asgiref.wsgi import WsgiToAsgiInstance

# asgiref's instance runs the WSGI app with a thread-sensitive sync_to_async (one thread); the
# undecorated function is run here in the pool instead.
_run_wsgi_app = WsgiToAsgiInstance.__dict__["run_wsgi_app"].func


class ThreadedWsgi:
    def __init__(self, wsgi_application: Any, *, threads: int) -> None:
        self.wsgi_application = wsgi_application
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="http")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await _Instance(self.wsgi_application, self.executor)(scope, receive, send)


class _Instance(WsgiToAsgiInstance):
    def __init__(self, wsgi_application: Any, executor: ThreadPoolExecutor) -> None:
        super().__init__(wsgi_application)
        self.executor = executor

    async def run_wsgi_app(self, body: Any) -> None:
        await sync_to_async(_run_wsgi_app, thread_sensitive=False, executor=self.executor)(self, body)


def wants_event_stream(scope: dict[str, Any]) -> bool:
    return any(name == b"accept" and b"text/event-stream" in value for name, value in scope.get("headers", ()))


class HttpRouter:
    """The SSE feed to Django's ASGI handler, every other request to the threaded WSGI handler."""

    def __init__(self, *, asgi: Any, wsgi: Any) -> None:
        self.asgi = asgi
        self.wsgi = wsgi

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        app = self.asgi if wants_event_stream(scope) else self.wsgi
        await app(scope, receive, send)
