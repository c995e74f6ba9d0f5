"""Intent classifications cached in Redis: the same question, asked again in a workspace over the
same data sources, is classified without asking a model (ARCHITECTURE.md, "The model layer").

What is cached is the ``classify_intent`` call a model made (intent, confidence, reason), keyed by
the workspace, the selected sources and the question with case and spacing normalised. A hit
becomes a reply from the "cache" provider holding that call, so the turn runs it like any other:
through the gateway, audited, and recorded in the execution's timeline. INTENT_CACHE_SECONDS=0
turns the cache off.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError

from agent.types import Reply, ToolCall

logger = logging.getLogger(__name__)
PROVIDER = "cache"
_FIELDS = ("intent", "confidence", "reason")


def _key(workspace_id: Any, prompt_text: str, datasource_ids: Iterable[Any]) -> str:
    question = " ".join(prompt_text.lower().split())
    sources = ",".join(sorted(str(pk) for pk in datasource_ids))
    digest = hashlib.sha256(f"{workspace_id}\n{sources}\n{question}".encode()).hexdigest()
    return f"intent:{workspace_id}:{digest}"


def cached_reply(*, workspace_id: Any, prompt_text: str, datasource_ids: Iterable[Any]) -> Reply | None:
    """A reply holding the cached classification of this question, or None (a miss, or the cache off)."""
    if settings.INTENT_CACHE_SECONDS <= 0:
        return None
    try:
        arguments = cache.get(_key(workspace_id, prompt_text, datasource_ids))
    except RedisError:
        logger.warning("the intent cache could not be read", exc_info=True)
        return None
    if not isinstance(arguments, dict) or not arguments.get("intent"):
        return None
    call = ToolCall(f"cached_{uuid.uuid4().hex[:24]}", "classify_intent", dict(arguments))
    return Reply(content="", tool_calls=(call,), model=PROVIDER, provider=PROVIDER)


def remember(*, workspace_id: Any, prompt_text: str, datasource_ids: Iterable[Any], arguments: dict[str, Any]) -> None:
    """Caches a classification a model made (never one that came from the cache)."""
    if settings.INTENT_CACHE_SECONDS <= 0:
        return
    value = {name: arguments[name] for name in _FIELDS if name in arguments}
    try:
        cache.set(_key(workspace_id, prompt_text, datasource_ids), value, timeout=settings.INTENT_CACHE_SECONDS)
    except RedisError:
        logger.warning("the intent cache could not be written", exc_info=True)
