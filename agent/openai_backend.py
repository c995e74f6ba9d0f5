"""The OpenAI backend: one chat completion through the ``openai`` client, against OpenAI or any
OpenAI-compatible server, turned into a ``Reply`` or a ``ModelError``.

The client never retries (``max_retries=0``): a transient error goes back to the turn task, which
retries with backoff and keeps the execution's deadline. Routing, fallbacks and budgets live in
``agent.llm``.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any

import openai
from django.conf import settings
from openai.types.chat import ChatCompletion

from agent.types import ModelError, Reply, ToolCall

PROVIDER = "openai"
_MESSAGE_LIMIT = 300  # characters of a provider's error message kept in ours


@lru_cache(maxsize=32)
def _client(api_key: str, base_url: str, timeout: float) -> openai.OpenAI:
    # One client per endpoint and key keeps its connection pool across calls; clients are thread-safe.
    return openai.OpenAI(api_key=api_key, base_url=base_url or None, timeout=timeout, max_retries=0)


def chat_complete(
    *,
    model: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    api_key: str,
    base_url: str,
    temperature: float | None,
) -> Reply:
    """One non-streaming chat completion. ``model`` is the provider's model name."""
    client = _client(api_key, base_url, float(settings.MODEL_TIMEOUT_SECONDS))
    started = time.monotonic()
    try:
        body: dict[str, Any] = {"model": model, "messages": messages}
        if tools:  # an empty tools array is rejected by OpenAI: left out instead
            body["tools"] = tools
        if temperature is not None:
            body["temperature"] = temperature
        # The client's own POST with a plain JSON body: ``chat.completions.create`` first walks every
        # message and tool schema to "transform" them, which costs more than a local model's answer.
        # Our dicts are already the wire format (agent.prompting builds them).
        completion = client.post("/chat/completions", body=body, cast_to=ChatCompletion)
    except openai.OpenAIError as exc:
        raise model_error(exc, model=model) from exc
    latency_ms = (time.monotonic() - started) * 1000
    return parse_completion(completion, model=model, latency_ms=latency_ms)


def parse_completion(completion: Any, *, model: str, latency_ms: float) -> Reply:
    """The reply of a ``ChatCompletion``; a reply we cannot use is ``model_bad_response``."""
    choices = getattr(completion, "choices", None)
    if not choices:
        raise ModelError("model_bad_response", f"{model} answered with no choices.", transient=False)
    message = choices[0].message
    calls: list[ToolCall] = []
    for raw in message.tool_calls or ():
        function = getattr(raw, "function", None)
        if getattr(raw, "type", "function") != "function" or function is None:
            raise ModelError("model_bad_response", f"{model} called a tool that is not a function.", transient=False)
        calls.append(
            ToolCall(
                # The id keys the side-effect ledger: a server that omits it still gets a unique one.
                id=raw.id or f"call_{uuid.uuid4().hex}",
                name=function.name,
                arguments=parse_arguments(function.arguments, model=model, tool=function.name),
            )
        )
    usage = getattr(completion, "usage", None)
    prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    return Reply(
        content=message.content or "",
        tool_calls=tuple(calls),
        model=model,
        provider=PROVIDER,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost_usd(model, prompt_tokens, completion_tokens),
        latency_ms=round(latency_ms, 1),
    )


def parse_arguments(raw: str | None, *, model: str, tool: str) -> dict[str, Any]:
    if raw is None or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise ModelError(
            "model_bad_response", f"{model} sent arguments for {tool} that are not valid JSON.", transient=False
        ) from None
    if not isinstance(value, dict):
        raise ModelError(
            "model_bad_response", f"{model} sent arguments for {tool} that are not a JSON object.", transient=False
        )
    return value


def cost_usd(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    prices: dict[str, tuple[float, float]] = settings.MODEL_PRICES
    price = prices.get(model)
    if price is None:
        # A dated snapshot ("gpt-4o-2024-08-06") costs what its family costs; the longest prefix
        # wins, so "gpt-4o-mini-..." is not priced as "gpt-4o".
        prefixes = [name for name in prices if model.startswith(f"{name}-")]
        price = prices[max(prefixes, key=len)] if prefixes else (0.0, 0.0)
    return round((prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000, 8)


def model_error(exc: openai.OpenAIError, *, model: str) -> ModelError:
    """Our error for one of the client's. Auth failures never repeat the provider's message: it
    can quote part of the key."""
    # APITimeoutError is an APIConnectionError: it goes first.
    if isinstance(exc, openai.APITimeoutError):
        return ModelError("model_timeout", f"{model} did not answer in time.", transient=True)
    if isinstance(exc, openai.APIConnectionError):
        return ModelError("model_unavailable", f"{model} could not be reached.", transient=True)
    if isinstance(exc, openai.RateLimitError):
        return ModelError(
            "model_rate_limited",
            f"{model} is rate limited: {_provider_message(exc)}",
            transient=True,
            retry_after=retry_after(exc.response.headers),
        )
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return ModelError("model_auth_failed", f"{model} refused the key (HTTP {exc.status_code}).", transient=False)
    if isinstance(exc, openai.NotFoundError):
        return ModelError("model_not_found", f"{model} was not found: {_provider_message(exc)}", transient=False)
    if isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
        return ModelError(
            "model_bad_request", f"{model} refused the request: {_provider_message(exc)}", transient=False
        )
    if isinstance(exc, openai.APIStatusError):
        # 5xx, and 408/409 which OpenAI documents as worth retrying.
        if exc.status_code >= 500 or exc.status_code in (408, 409):
            return ModelError(
                "model_unavailable",
                f"{model} failed (HTTP {exc.status_code}): {_provider_message(exc)}",
                transient=True,
                retry_after=retry_after(exc.response.headers),
            )
        return ModelError(
            "model_bad_request", f"{model} refused the request (HTTP {exc.status_code}).", transient=False
        )
    # APIResponseValidationError and anything else the client could not make sense of.
    return ModelError("model_bad_response", f"{model} sent a reply that could not be read.", transient=False)


def _provider_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    message: Any = None
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else error
    text = str(message) if message else f"HTTP {exc.status_code}"
    return text[:_MESSAGE_LIMIT]


def retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (OpenAI) or ``Retry-After`` (seconds or an HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
