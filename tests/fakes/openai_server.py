"""A scripted OpenAI-compatible model: a real HTTP server, so the real ``openai`` client is exercised,
from the test process or from a worker subprocess given ``OPENAI_BASE_URL=<server.url>``.

Scripts are keyed so that several executions can run at once: a request is answered from the script
whose key is a substring of its first user message (the longest such key; ``""`` is the default
script). Each request consumes one step of its script::

    scripted_model.script("top customers", [
        reply(tool_calls=[tool_call("run_query", {"sql": "select 1"})]),
        error(429, retry_after=2),
        delay(5, reply("late")),
        reply("Here they are."),
    ])
    ...
    scripted_model.requests("top customers")[0]["messages"]

A script that runs out of steps answers a 500 saying so.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

DEFAULT = ""  # the key of the default script: the empty string is a substring of every message


@dataclass(frozen=True)
class ScriptedToolCall:
    name: str
    arguments: dict[str, Any] | str  # a string is sent as is (invalid JSON for the error tests)
    id: str = ""  # generated when empty


@dataclass(frozen=True)
class ScriptedReply:
    content: str | None = None
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    usage: tuple[int, int] | None = None  # (prompt, completion) tokens; estimated when None
    finish_reason: str = ""  # "tool_calls" or "stop" from the reply when empty


@dataclass(frozen=True)
class ScriptedError:
    status: int
    message: str = "scripted error"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ScriptedDelay:
    """Wait, then answer with ``then``: a client with a shorter timeout sees a timeout."""

    seconds: float
    then: ScriptedReply | ScriptedError


Step = ScriptedReply | ScriptedError | ScriptedDelay


def tool_call(name: str, arguments: dict[str, Any] | str | None = None, *, id: str = "") -> ScriptedToolCall:
    return ScriptedToolCall(name=name, arguments={} if arguments is None else arguments, id=id)


def reply(
    content: str | None = None,
    *,
    tool_calls: Sequence[ScriptedToolCall] = (),
    usage: tuple[int, int] | None = None,
    finish_reason: str = "",
) -> ScriptedReply:
    return ScriptedReply(content=content, tool_calls=tuple(tool_calls), usage=usage, finish_reason=finish_reason)


def error(status: int, message: str = "", *, retry_after: float | None = None) -> ScriptedError:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
    return ScriptedError(status=status, message=message or f"scripted HTTP {status}", headers=headers)


def delay(seconds: float, then: ScriptedReply | ScriptedError | None = None) -> ScriptedDelay:
    return ScriptedDelay(seconds=seconds, then=then if then is not None else reply("(delayed reply)"))


@dataclass(frozen=True)
class Recorded:
    body: dict[str, Any]
    authorization: str  # the bearer token the client sent


class ScriptedModelServer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, list[Step]] = {}
        self._recorded: dict[str, list[Recorded]] = {}
        # Set on reset/stop: a pending delay ends at once instead of holding a thread.
        self._cancel = threading.Event()
        self.in_flight = 0  # requests being answered now
        self.peak_in_flight = 0  # the most at once since the start (or the last reset_peak)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="scripted-model", daemon=True)
        host, port = self._httpd.server_address[:2]
        self.url = f"http://{host!s}:{port}/v1"

    # --- for tests ---------------------------------------------------------------------------

    def script(self, key: str, steps: Sequence[Step]) -> None:
        """Answer requests whose first user message contains ``key`` with ``steps``, in order
        (appended to what is left of an earlier script for the same key)."""
        with self._lock:
            self._scripts.setdefault(key, []).extend(steps)

    def requests(self, key: str = DEFAULT) -> list[dict[str, Any]]:
        """The JSON bodies of the requests answered from ``key``'s script, oldest first."""
        with self._lock:
            return [recorded.body for recorded in self._recorded.get(key, [])]

    def authorizations(self, key: str = DEFAULT) -> list[str]:
        with self._lock:
            return [recorded.authorization for recorded in self._recorded.get(key, [])]

    def remaining(self, key: str = DEFAULT) -> int:
        with self._lock:
            return len(self._scripts.get(key, []))

    def reset_peak(self) -> int:
        """The most requests in flight at once since the last call, and starts counting again."""
        with self._lock:
            peak, self.peak_in_flight = self.peak_in_flight, self.in_flight
            return peak

    def _flight(self, change: int) -> None:
        with self._lock:
            self.in_flight += change
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def __enter__(self) -> ScriptedModelServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self._recorded.clear()
            self._cancel.set()
            self._cancel = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._cancel.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # --- for the handler ---------------------------------------------------------------------

    def _next_step(self, body: dict[str, Any], authorization: str) -> tuple[str, Step | None, threading.Event]:
        text = _first_user_text(body)
        with self._lock:
            keys = sorted((k for k in self._scripts if k and k in text), key=len, reverse=True)
            key = keys[0] if keys else DEFAULT
            self._recorded.setdefault(key, []).append(Recorded(body=body, authorization=authorization))
            steps = self._scripts.get(key)
            return key, (steps.pop(0) if steps else None), self._cancel


def _first_user_text(body: dict[str, Any]) -> str:
    for message in body.get("messages") or ():
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # content parts
                return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
            return str(content or "")
    return ""


def _completion(body: dict[str, Any], step: ScriptedReply) -> dict[str, Any]:
    calls = [
        {
            "id": call.id or f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {
                "name": call.name,
                "arguments": call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments),
            },
        }
        for call in step.tool_calls
    ]
    message: dict[str, Any] = {"role": "assistant", "content": step.content, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    if step.usage is not None:
        prompt_tokens, completion_tokens = step.usage
    else:
        # Deterministic estimates (about four characters a token), enough for budget arithmetic.
        prompt_tokens = len(json.dumps(body.get("messages") or [])) // 4 + 1
        completion_tokens = len((step.content or "") + json.dumps(calls)) // 4 + 1
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(body.get("model") or "scripted"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": step.finish_reason or ("tool_calls" if calls else "stop"),
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _error_body(status: int, message: str) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error", 429: "rate_limit_error"}
    return {"error": {"message": message, "type": kind.get(status, "server_error"), "param": None, "code": None}}


def _handler_for(server: ScriptedModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the real API
        # Headers and body leave in two writes; with Nagle's algorithm the body would wait for the
        # client's delayed ACK of the headers (40 ms on Linux), which is no model's latency.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # a quiet test run

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(
                    404, _error_body(404, f"the scripted model only serves /v1/chat/completions, not {self.path}")
                )
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._send(400, _error_body(400, "the request body is not JSON"))
                return
            authorization = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            key, step, cancel = server._next_step(body, authorization)
            if isinstance(step, ScriptedDelay):
                server._flight(+1)
                try:
                    if cancel.wait(step.seconds):
                        return  # reset or stopped: nobody is waiting for this answer any more
                finally:
                    server._flight(-1)
                step = step.then
            if step is None:
                self._send(500, _error_body(500, f"scripted model: no steps left for script {key!r}"))
            elif isinstance(step, ScriptedError):
                self._send(step.status, _error_body(step.status, step.message), step.headers)
            else:
                self._send(200, _completion(body, step))

        def do_GET(self) -> None:
            self._send(404, _error_body(404, "the scripted model only serves POST /v1/chat/completions"))

        def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

    return Handler


@pytest.fixture(scope="session")
def scripted_model() -> Iterator[ScriptedModelServer]:
    """The scripted model server for the whole run; call ``.reset()`` before scripting a test."""
    with ScriptedModelServer() as server:
        yield server
