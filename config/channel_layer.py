"""The channel layer: channels_redis with a bounded, blocking Redis connection pool.

channels_redis builds each host's pool with ``redis.asyncio.ConnectionPool``, which raises "Too
many connections" as soon as more commands are in flight than ``max_connections`` (100 by
default). A burst of hundreds of WebSocket connects or disconnects (each a ``group_add`` or
``group_discard``) would then fail. A ``BlockingConnectionPool`` makes a burst wait its turn for
one of at most ``max_connections`` connections instead (``timeout`` seconds at most), so the
number of Redis clients per ASGI process stays bounded too (Redis has its own ``maxclients``).

redis-py (since 6) reads with a 5 s socket timeout by default, the very time channels_redis blocks
in BZPOPMIN waiting for a message: an idle process's read then times out just as the server's
empty answer arrives, and the error ends the consumer that happened to hold the receive (its socket
drops). The read timeout here is longer than the blocking call.
"""

from __future__ import annotations

from typing import Any

from channels_redis.core import RedisChannelLayer
from redis.asyncio import BlockingConnectionPool


class BoundedRedisChannelLayer(RedisChannelLayer):
    """Hosts are dicts: ``{"address": url, "max_connections": n, "timeout": seconds}``."""

    def create_pool(self, index: int) -> Any:
        host = dict(self.hosts[index])
        address = host.pop("address")
        host.setdefault("socket_timeout", self.brpop_timeout + 10)
        return BlockingConnectionPool.from_url(address, **host)
