"""An ASGI wrapper that enforces the request body limit while the body arrives.

It also gives a chunked body (no Content-Length) its length, which Django's ASGI request needs.

Django's ASGI handler spools a whole body to disk before any middleware runs, and a chunked body
has no Content-Length to check, so the limit is enforced here, on the bytes as they are received:
at most ``MAX_REQUEST_BODY_BYTES`` are ever buffered.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = Any
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            received += len(message.get("body", b""))
            if received > self.limit:
                await self._refuse(send)
                return
            messages.append(message)
            if not message.get("more_body", False):
                break

        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"transfer-encoding"]
        if not any(k.lower() == b"content-length" for k, _ in headers):
            # Django reads exactly Content-Length bytes; a chunked body would otherwise arrive empty.
            headers.append((b"content-length", str(received).encode()))
            scope = dict(scope, headers=headers)

        async def replay() -> Message:
            if messages:
                return messages.pop(0)
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": "request_too_large",
                    "message": f"The request body is larger than the limit of {self.limit} bytes.",
                    "details": {"limit_bytes": self.limit},
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
