"""Plain HTTP through the WSGI handler in a thread pool: requests of one process overlap, and the
SSE feed keeps Django's ASGI path."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from config.http_threads import HttpRouter, ThreadedWsgi


def _scope(accept: bytes = b"application/json") -> dict[str, Any]:
    return {"type": "http", "http_version": "1.1", "method": "GET", "path": "/x", "raw_path": b"/x",
            "query_string": b"", "root_path": "", "scheme": "http", "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 5000), "headers": [(b"accept", accept)]}  # fmt: skip


async def _call(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def test_two_requests_of_one_process_run_at_the_same_time() -> None:
    """Each request waits for the other at a barrier: with one thread (Django's ASGI handler runs
    sync views in one), the first would wait alone until the barrier's timeout breaks it."""
    barrier = threading.Barrier(2, timeout=10)
    threads: set[str] = set()

    def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        threads.add(threading.current_thread().name)
        barrier.wait()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    app = ThreadedWsgi(wsgi_app, threads=4)

    async def both() -> list[list[dict[str, Any]]]:
        return list(await asyncio.gather(_call(app, _scope()), _call(app, _scope())))

    for sent in asyncio.run(both()):
        assert sent[0]["status"] == 200 and sent[1]["body"] == b"ok"
    assert len(threads) == 2 and all(name.startswith("http") for name in threads)


def test_the_event_stream_stays_on_the_asgi_path() -> None:
    seen: list[str] = []

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        seen.append("asgi")

    async def wsgi(scope: Any, receive: Any, send: Any) -> None:
        seen.append("wsgi")

    router = HttpRouter(asgi=asgi, wsgi=wsgi)
    asyncio.run(_call(router, _scope(b"text/event-stream")))
    asyncio.run(_call(router, _scope(b"text/html,application/xhtml+xml")))
    assert seen == ["asgi", "wsgi"]
