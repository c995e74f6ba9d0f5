"""Rate limits of the integrator API: fixed windows counted in Redis, checked and counted atomically.

Each limit is a counter key that lives for one window from its first hit (``EXPIRE`` set when the
counter is created), so a window never straddles a clock boundary and ``Retry-After`` is simply the
key's time to live. One small Lua script checks every counter of a request and, only when all are
under their limits, increments them all: the check and the count are one atomic step on the
server, concurrent requests cannot both take the last slot, and a refused request spends nobody's
budget (a user over their own limit does not eat into their workspace's).

Limits (per window of ``RATE_LIMIT_WINDOW_SECONDS``, 0 = no limit):

- ``RATE_LIMIT_API_PER_USER``: every authenticated call of the API (``ApiUserThrottle``, the
  default DRF throttle);
- ``RATE_LIMIT_EXECUTE_PER_USER`` and ``RATE_LIMIT_EXECUTE_PER_WORKSPACE``: new executions
  (execute and rerun), counted once the user is known to be a member of the workspace, so nobody can
  spend another workspace's budget.

When Redis cannot be reached the request is let through (and logged): a limit is protection, not
a reason to take the API down with the cache.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache as django_cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from config.api import ApiError

logger = logging.getLogger(__name__)

# KEYS: the counters; ARGV[1]: window seconds; ARGV[1 + i]: the limit of KEYS[i] (0 = none).
# Returns {0, 0} when counted, else {i, ttl} for the first counter at its limit.
_CHECK_AND_COUNT = """
local window = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[i + 1])
  if limit > 0 then
    local count = tonumber(redis.call('GET', key) or '0')
    if count >= limit then
      local ttl = redis.call('TTL', key)
      if ttl < 0 then
        redis.call('EXPIRE', key, window)
        ttl = window
      end
      return {i, ttl}
    end
  end
end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then
    redis.call('EXPIRE', key, window)
  end
end
return {0, 0}
"""


@dataclass(frozen=True)
class Limit:
    scope: str  # api:user | execute:user | execute:workspace
    subject: str  # the user's or workspace's id
    limit: int  # requests per window; 0 = none

    @property
    def key(self) -> str:
        # Through the cache's key function, so the cache prefix (per test instance too) applies.
        return django_cache.make_key(f"ratelimit:{self.scope}:{self.subject}")


class RateLimited(ApiError):
    """429 with ``Retry-After`` (DRF's exception handler sets the header from ``wait``)."""

    def __init__(self, limit: Limit, wait: int) -> None:
        what = {
            "api:user": "API requests",
            "execute:user": "executions started by you",
            "execute:workspace": "executions started in this workspace",
        }.get(limit.scope, "requests")
        window = settings.RATE_LIMIT_WINDOW_SECONDS
        super().__init__(
            429,
            "rate_limited",
            f"Too many {what}: at most {limit.limit} per {window} s. Try again in {wait} s.",
        )
        self.wait = wait  # the error body's details carry it as retry_after_seconds


@cache
def _client() -> redis.Redis:
    # The cache's Redis database (its LOCATION); one connection pool per process.
    return redis.Redis.from_url(
        str(settings.CACHES["default"]["LOCATION"]), socket_timeout=1.0, socket_connect_timeout=1.0
    )


@cache
def _script() -> Any:
    return _client().register_script(_CHECK_AND_COUNT)


def rate_limit_check(limits: list[Limit]) -> None:
    """Counts one request against every limit, or raises ``RateLimited`` (nothing counted) when one
    of them is used up."""
    limits = [limit for limit in limits if limit.limit > 0]
    if not limits:
        return
    window = max(1, int(settings.RATE_LIMIT_WINDOW_SECONDS))
    try:
        index, ttl = _script()(keys=[limit.key for limit in limits], args=[window, *(lim.limit for lim in limits)])
    except redis.RedisError as exc:
        logger.warning("rate limits not checked: Redis failed (%s)", exc)
        return
    if int(index) > 0:
        raise RateLimited(limits[int(index) - 1], max(1, int(ttl)))


def execute_limits(*, user_id: Any, workspace_id: Any) -> list[Limit]:
    return [
        Limit("execute:user", str(user_id), int(settings.RATE_LIMIT_EXECUTE_PER_USER)),
        Limit("execute:workspace", str(workspace_id), int(settings.RATE_LIMIT_EXECUTE_PER_WORKSPACE)),
    ]


class ApiUserThrottle(BaseThrottle):
    """Every authenticated API call counts against ``RATE_LIMIT_API_PER_USER``. DRF runs throttles
    after authentication and permissions, so anonymous callers get their 401 first."""

    def allow_request(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return True
        # Raising here (rather than returning False) gives the body our code, rate_limited.
        rate_limit_check([Limit("api:user", str(user.pk), int(settings.RATE_LIMIT_API_PER_USER))])
        return True
