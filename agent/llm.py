"""The model layer's one entry point: ``complete()`` routes a request to a model, falls back along
a chain on transient failures, keeps each workspace within its monthly token budget, and returns a
``Reply`` (or raises ``ModelError``).

Which model: an explicit name (the execution's ai_model), else the workspace's default
configuration for the turn category, else the MODEL_<CATEGORY> setting; then MODEL_FALLBACKS. A
name is looked up among the workspace's configurations (by name, then by provider model) before
the deployment's OPENAI_API_KEY; "offline" is always the built-in model. A name with no usable key
is skipped, and when nothing is left the offline model answers, so a fresh machine works.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from redis.exceptions import RedisError

from agent import openai_backend
from agent.models import ModelConfig
from agent.selectors import OFFLINE, model_configs_for_workspace
from agent.types import CATEGORIES, CLASSIFICATION, GENERATION, PLANNING, ModelError, Reply
from config.db import release_database_connection

logger = logging.getLogger(__name__)

_CATEGORY_SETTINGS = {
    CLASSIFICATION: "MODEL_CLASSIFICATION",
    PLANNING: "MODEL_PLANNING",
    GENERATION: "MODEL_GENERATION",
}
# Past the end of any month, so a month's counter outlives the month and then goes away by itself.
_BUDGET_TTL_SECONDS = 40 * 24 * 3600


@dataclass(frozen=True)
class Target:
    """One model of the chain, resolved to how it is called."""

    name: str  # as routed (a configuration name or a model name): what fallback_from lists
    model: str  # the provider's model name
    provider: str  # "openai" | "offline"
    base_url: str = ""
    api_key: str = ""
    token_budget: int = 0  # tokens per month for the workspace; 0 = unlimited

    def __repr__(self) -> str:
        # Never let a key reach a log line or a traceback.
        return f"Target(name={self.name!r}, model={self.model!r}, provider={self.provider!r})"


OFFLINE_TARGET = Target(name=OFFLINE, model=OFFLINE, provider=OFFLINE)


def complete(
    *,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    category: str,
    workspace_id: Any,
    model: str = "",
    temperature: float | None = None,
) -> Reply:
    """Ask a model for the next message. ``tools`` are OpenAI tool schemas
    (``agent.tools.base.openai_schema``). Raises ``ModelError`` when no model of the chain answered:
    a permanent error at once, else the last model's error (so the turn retries a transient one)."""
    if category not in CATEGORIES:
        raise ValueError(f"Unknown model category {category!r}; expected one of {', '.join(CATEGORIES)}.")
    failed: list[str] = []
    last_error: ModelError | None = None
    for target in route(workspace_id=workspace_id, category=category, model=model):
        try:
            reply = _call(
                target, messages=messages, tools=tools, category=category, workspace_id=workspace_id,
                temperature=temperature,
            )  # fmt: skip
        except ModelError as error:
            # A missing model is a configuration slip that the next model can cover; other
            # permanent errors (key, request, budget) are for the caller to see, not to paper over.
            if not (error.transient or error.code == "model_not_found"):
                raise
            logger.warning("model %s failed (%s), trying the next one", target.name, error.code)
            failed.append(target.name)
            last_error = error
            continue
        return replace(reply, fallback_from=tuple(failed)) if failed else reply
    assert last_error is not None  # route() never returns an empty chain
    raise last_error


def route(*, workspace_id: Any, category: str, model: str = "") -> list[Target]:
    """The chain of models to try, in order (never empty)."""
    configs = model_configs_for_workspace(workspace_id)
    routed = category if settings.MODEL_PER_TURN else PLANNING
    primary = model or _default_config_name(configs, routed) or _by_strategy(routed)
    names = list(dict.fromkeys(name for name in (primary, *settings.MODEL_FALLBACKS) if name))
    targets = [target for name in names if (target := _resolve(name, configs)) is not None]
    return targets or [OFFLINE_TARGET]


def _by_strategy(category: str) -> str:
    """The deployment's model for a turn category, as ROUTING_STRATEGY picks it among the three
    category models (MODEL_CLASSIFICATION, MODEL_PLANNING, MODEL_GENERATION):

    - ``balanced``: the category's own model;
    - ``quality``: the category's model, but never a cheaper one than planning's (classification
      turns get the planning model when it costs more);
    - ``cost``: the cheapest of the three (MODEL_PRICES; an unpriced model counts as free, as in
      the cost figures), the category's own on a tie;
    - ``latency``: the one with the lowest recent latency measured here (an average over the last
      calls, kept in Redis); a model not measured yet is tried first, so each gets measured.
    """
    own = str(getattr(settings, _CATEGORY_SETTINGS[category]))
    strategy = settings.ROUTING_STRATEGY
    if strategy == "balanced" or not own:
        return own
    candidates = list(dict.fromkeys(str(getattr(settings, name)) for name in _CATEGORY_SETTINGS.values()))
    candidates = [own, *(name for name in candidates if name and name != own)]
    if strategy == "quality":
        planning = str(settings.MODEL_PLANNING) or own
        return planning if _price(planning) > _price(own) else own
    if strategy == "cost":
        return min(candidates, key=_price)  # min keeps the first (the category's own) on a tie
    measured = {name: latency_ms(name) for name in candidates}
    latencies = {name: -1.0 if value is None else value for name, value in measured.items()}
    return min(candidates, key=latencies.__getitem__)


def _price(model: str) -> float:
    return openai_backend.cost_usd(model, 1_000_000, 1_000_000)


# --- measured latency, for ROUTING_STRATEGY=latency --------------------------------------------

_LATENCY_WEIGHT = 0.2  # of the newest call in the moving average


def latency_ms(model: str) -> float | None:
    """The moving average of the model's recent call latencies (ms), None when never measured."""
    try:
        value = cache.get(f"llm:latency:{model}")
    except RedisError:
        return None
    return float(value) if value is not None else None


def _record_latency(model: str, milliseconds: float) -> None:
    # Not atomic (two workers may overwrite each other's step): it is an estimate for routing.
    try:
        previous = latency_ms(model)
        value = milliseconds if previous is None else previous + _LATENCY_WEIGHT * (milliseconds - previous)
        cache.set(f"llm:latency:{model}", round(value, 3), timeout=7 * 24 * 3600)
    except RedisError:
        logger.warning("could not record the latency of %s", model, exc_info=True)


def _default_config_name(configs: list[ModelConfig], category: str) -> str:
    """The configuration routed to for a category when no model was asked for: one marked default
    (the workspace's own before a shared one); with no deployment key, any usable configuration
    beats the offline model."""
    serving = [config for config in configs if config.serves(category) and config.endpoint() is not None]
    for config in serving:
        if config.is_default:
            return config.name
    if not settings.OPENAI_API_KEY and serving:
        return serving[0].name
    return ""


def _resolve(name: str, configs: list[ModelConfig]) -> Target | None:
    if name == OFFLINE:
        return OFFLINE_TARGET
    config = next((c for c in configs if c.name == name), None) or next((c for c in configs if c.model == name), None)
    if config is not None:
        endpoint = config.endpoint()
        if endpoint is None:
            return None
        budget = config.monthly_token_budget
        return Target(
            name=name,
            model=config.model,
            provider=openai_backend.PROVIDER,
            base_url=endpoint[0],
            api_key=endpoint[1],
            token_budget=int(settings.MODEL_TOKEN_BUDGET if budget is None else budget),
        )
    if not settings.OPENAI_API_KEY:
        return None
    return Target(
        name=name,
        model=name,
        provider=openai_backend.PROVIDER,
        base_url=str(settings.OPENAI_BASE_URL),
        api_key=str(settings.OPENAI_API_KEY),
        token_budget=int(settings.MODEL_TOKEN_BUDGET),
    )


def _call(
    target: Target,
    *,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    category: str,
    workspace_id: Any,
    temperature: float | None,
) -> Reply:
    if target.provider == OFFLINE:
        return _offline_complete(messages=messages, tools=tools, category=category, temperature=temperature)
    budget_key = _budget_key(workspace_id)
    if target.token_budget > 0:
        used = int(cache.get(budget_key) or 0)
        if used >= target.token_budget:
            raise ModelError(
                "model_budget_exceeded",
                f"This workspace has used its {target.token_budget:,} model tokens for this month. "
                "An administrator can raise the budget, or pick the offline model.",
                transient=False,
            )
    release_database_connection()  # the wait on the model holds no database connection
    reply = openai_backend.chat_complete(
        model=target.model, messages=messages, tools=tools, api_key=target.api_key, base_url=target.base_url,
        temperature=temperature,
    )  # fmt: skip
    _count_tokens(budget_key, reply.prompt_tokens + reply.completion_tokens)
    if settings.ROUTING_STRATEGY == "latency":
        _record_latency(target.name, reply.latency_ms)
    return reply


def _offline_complete(
    *, messages: list[dict[str, Any]], tools: list[dict[str, Any]], category: str, temperature: float | None
) -> Reply:
    try:
        # Imported here: the offline model is only loaded by the processes that use it.
        from agent.offline import OfflineModel
    except ModuleNotFoundError as exc:
        if exc.name != "agent.offline":
            raise
        raise ModelError("model_unavailable", "The built-in offline model is not installed.", transient=False) from None
    started = time.monotonic()
    reply = OfflineModel().complete(messages, tools, category=category, temperature=temperature)
    if not reply.latency_ms:
        reply = replace(reply, latency_ms=round((time.monotonic() - started) * 1000, 1))
    return reply


# --- the token budget --------------------------------------------------------------------------


def _budget_key(workspace_id: Any) -> str:
    # Calendar month in UTC; a call that straddles midnight counts in the month it started.
    return f"llm:tokens:{workspace_id or 'none'}:{timezone.now():%Y-%m}"


def tokens_used(*, workspace_id: Any) -> int:
    """Tokens the workspace has used with remote models this month (offline calls are free)."""
    return int(cache.get(_budget_key(workspace_id)) or 0)


def _count_tokens(key: str, tokens: int) -> None:
    if tokens <= 0:
        return
    try:
        # One round trip: INCRBY creates the counter at 0 when it is missing, and the expiry (past
        # the end of any month) is set again with it. Django's cache keeps integers as they are,
        # so cache.get reads the counter back.
        full_key = cache.make_and_validate_key(key)
        client = cache._cache.get_client(full_key, write=True)  # type: ignore[attr-defined]
        with client.pipeline(transaction=False) as pipe:
            pipe.incrby(full_key, tokens)
            pipe.expire(full_key, _BUDGET_TTL_SECONDS)
            pipe.execute()
    except RedisError:
        # The reply is paid for and good: losing the count beats losing the answer.
        logger.warning("could not count %d model tokens under %s", tokens, key, exc_info=True)
