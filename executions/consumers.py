"""The live timeline of one execution over a WebSocket: ``ws/executions/<uuid>/``.

The consumer authenticates, checks access, subscribes and relays; every change it is asked for goes
through the same services (and the same checks) as the API.

Connect with the session cookie, or with ``?ticket=...`` from ``POST /api/v1/executions/{id}/ws-ticket``
(single use, ``WS_TICKET_SECONDS``); ``?after_seq=N`` replays the stored events after N first. Messages
to the client: ``{"type": "event", "event": {execution_id, seq, type, payload, created_at}}`` in ``seq``
order without gaps or duplicates, ``{"type": "ping"}`` every ``WS_PING_INTERVAL`` seconds (answer
with any message, e.g. ``{"type": "pong"}``), ``{"type": "ack", "action": ...}`` and
``{"type": "error", "code": ..., "message": ...}``. Messages from the client: ``user_response``
(``interaction_id``, ``text``), ``approve`` / ``reject`` (``interaction_id``, ``comment``), ``cancel``,
``pong``, ``ping``.

Close codes (sent after the handshake, so that a browser can read them; the close reason is the
error code, and but for 4403 and 4408 an ``{"type": "error", ...}`` message with it comes first):

====  ==========================================================================================
4400  bad request: ``after_seq`` is not a non-negative integer
4401  not authenticated: no session, or a ticket that is unknown, expired, used or for another execution
4403  origin not allowed (``config.asgi``)
4404  no such execution, or one this user may not view
4408  no answer to the previous ping within ``WS_PING_INTERVAL``
4429  ``WS_MAX_CONNECTIONS_PER_EXECUTION`` sockets are already open on this execution
====  ==========================================================================================

Ordering: the consumer joins the execution's group before it reads the backlog from the database,
so nothing committed after the read is missed; a live event at or below the last ``seq`` sent is a
duplicate and dropped; one above the next expected ``seq`` reveals a gap (the channel layer is
at-most-once), filled from the database, where every published event already is.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import redis
import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache as django_cache
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404

from executions import events, services
from executions.models import ExecutionEvent, PromptExecution
from executions.selectors import access_execution, events_after

logger = logging.getLogger(__name__)

CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_ORIGIN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_PING_TIMEOUT = 4408
CLOSE_TOO_MANY = 4429

BACKFILL_PAGE = 500
MAX_MESSAGE_CHARS = 16_000  # an answer is at most 4,000 characters; the rest is the envelope


# --- Redis: tickets and socket slots ------------------------------------------------------------
# Both live in the cache's Redis database under the cache's key prefix (per test instance too).

_sync_client: redis.Redis | None = None
_async_clients: dict[asyncio.AbstractEventLoop, aioredis.Redis] = {}


def _key(name: str) -> str:
    return django_cache.make_key(f"ws:{name}")


def _location() -> str:
    return str(settings.CACHES["default"]["LOCATION"])


def _redis() -> redis.Redis:
    global _sync_client
    if _sync_client is None:
        _sync_client = redis.Redis.from_url(_location(), socket_timeout=2.0)
    return _sync_client


def _aredis() -> aioredis.Redis:
    # One bounded pool per event loop (an ASGI process has one): a burst of connects waits for a
    # connection rather than failing or opening hundreds.
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        pool = aioredis.BlockingConnectionPool.from_url(
            _location(), max_connections=settings.WS_REDIS_MAX_CONNECTIONS, timeout=10
        )
        client = _async_clients[loop] = aioredis.Redis(connection_pool=pool)
    return client


@dataclass(frozen=True)
class Ticket:
    ticket: str
    expires_in: int


def ticket_issue(*, user: Any, execution: PromptExecution) -> Ticket:
    """A single-use ticket for one WebSocket connect to ``execution`` as ``user``. The caller has
    checked that the user may view the execution; the consumer checks again on connect."""
    ticket = secrets.token_urlsafe(32)
    seconds = int(settings.WS_TICKET_SECONDS)
    _redis().set(_key(f"ticket:{ticket}"), f"{user.pk}:{execution.pk}", ex=seconds)
    return Ticket(ticket=ticket, expires_in=seconds)


async def ticket_redeem(ticket: str, execution_id: Any) -> int | None:
    """The user id of a ticket for this execution, consumed (GETDEL: a ticket opens one socket,
    even when two connects race with it); None when unknown, expired, used or for another one."""
    if not ticket or len(ticket) > 128:
        return None
    value = await _aredis().getdel(_key(f"ticket:{ticket}"))
    if value is None:
        return None
    text = value.decode() if isinstance(value, bytes) else str(value)
    user_id, _, ticket_execution = text.partition(":")
    if ticket_execution != str(execution_id) or not user_id.isdigit():
        return None
    return int(user_id)


# A slot per open socket, in a sorted set per execution scored by its expiry (Redis server time):
# every ASGI process counts against the same set, and the slots of a process that died without
# closing its sockets expire by themselves (a live socket renews its slot at each ping).
# KEYS[1]: the set; ARGV: slot id, limit (0 = renew only), lifetime seconds. 1 = taken, 0 = full.
_SLOT_SCRIPT = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local lifetime = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if tonumber(ARGV[2]) > 0 then
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
  redis.call('ZADD', KEYS[1], t + lifetime, ARGV[1])
else
  redis.call('ZADD', KEYS[1], 'XX', t + lifetime, ARGV[1])
end
redis.call('EXPIRE', KEYS[1], math.ceil(lifetime))
return 1
"""
_slot_scripts: dict[asyncio.AbstractEventLoop, Any] = {}


def _slot_lifetime() -> int:
    return 2 * int(settings.WS_PING_INTERVAL) + 10


async def _slot_call(execution_id: Any, slot: str, limit: int) -> bool:
    loop = asyncio.get_running_loop()
    script = _slot_scripts.get(loop)
    if script is None:
        script = _slot_scripts[loop] = _aredis().register_script(_SLOT_SCRIPT)
    return bool(await script(keys=[_key(f"slots:{execution_id}")], args=[slot, limit, _slot_lifetime()]))


async def slot_take(execution_id: Any) -> str | None:
    """A slot for one more socket on the execution, or None when ``WS_MAX_CONNECTIONS_PER_EXECUTION``
    are taken."""
    slot = uuid.uuid4().hex
    taken = await _slot_call(execution_id, slot, int(settings.WS_MAX_CONNECTIONS_PER_EXECUTION))
    return slot if taken else None


async def slot_renew(execution_id: Any, slot: str) -> None:
    await _slot_call(execution_id, slot, 0)


async def slot_release(execution_id: Any, slot: str) -> None:
    await _aredis().zrem(_key(f"slots:{execution_id}"), slot)


# --- database work, one thread hop each ------------------------------------------------------------


def _in_thread(function: Any) -> Any:
    """``function`` in a worker thread of the pool, closing stale connections before and after.
    Not thread-sensitive: these calls share no state, and Channels' default (one thread for every
    socket of the process) would make a burst of connects wait in a single line, each opening its
    own database connection (CONN_MAX_AGE 0), where the pool's threads overlap them."""
    return database_sync_to_async(function, thread_sensitive=False)


def _open(user: Any, user_id: int | None, execution_id: Any, after_seq: int) -> tuple[int | None, list[ExecutionEvent]]:
    """The id of the connecting user (from the ticket, else the session) once the chokepoint lets
    them view the execution (Http404 like the API), and its first page of events after
    ``after_seq``; no user when the ticket's user is no longer active."""
    if user_id is not None:
        user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.is_authenticated:
        return None, []
    execution = access_execution(user=user, execution_id=execution_id)
    return user.pk, events_after(execution=execution, after_seq=after_seq, limit=BACKFILL_PAGE)


def _events_after(execution_id: Any, after_seq: int) -> list[ExecutionEvent]:
    # The execution itself is not kept by a socket (thousands are open per process, and a finished
    # execution carries its trace and result preview): a reference by id is all the selector reads.
    return events_after(execution=PromptExecution(pk=execution_id), after_seq=after_seq, limit=BACKFILL_PAGE)


def _act(user_id: int, execution_id: Any, request: dict[str, Any]) -> None:
    """What the client asked for, through the services, checked exactly as the API checks it (the
    user as they are now: one deactivated since the socket opened may do nothing)."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise PermissionDenied("This account is not active.")
    kind = request["type"]
    if kind == "cancel":
        execution = access_execution(user=user, execution_id=execution_id, perm="change_promptexecution")
        services.execution_cancel(user=user, execution=execution)
        return
    execution = access_execution(user=user, execution_id=execution_id)
    if kind == "user_response":
        services.interaction_answer(
            user=user, execution=execution, interaction_id=request["interaction_id"], text=request["text"]
        )
    else:
        services.interaction_decide(
            user=user,
            execution=execution,
            interaction_id=request["interaction_id"],
            approve=kind == "approve",
            comment=request["comment"],
        )


class BadMessage(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _parse(text: str | None) -> dict[str, Any]:
    if text is None or len(text) > MAX_MESSAGE_CHARS:
        raise BadMessage("bad_message", f"Send JSON text messages of at most {MAX_MESSAGE_CHARS} characters.")
    try:
        message = json.loads(text)
    except ValueError:
        raise BadMessage("bad_message", "Send JSON text messages.") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise BadMessage("bad_message", 'A message is a JSON object with a "type".')
    kind = message["type"]
    if kind in ("ping", "pong", "cancel"):
        return {"type": kind}
    if kind not in ("user_response", "approve", "reject"):
        raise BadMessage("unknown_type", f"Unknown message type {kind[:40]!r}.")
    interaction_id = message.get("interaction_id")
    if not isinstance(interaction_id, str) or not interaction_id:
        raise BadMessage("validation_error", "interaction_id is required.")
    field = "text" if kind == "user_response" else "comment"
    value = message.get(field, "")
    if not isinstance(value, str):
        raise BadMessage("validation_error", f"{field} must be a string.")
    return {"type": kind, "interaction_id": interaction_id, field: value}


def _after_seq(query: dict[str, list[str]]) -> int | None:
    raw = (query.get("after_seq") or ["0"])[0]
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


class ExecutionConsumer(AsyncWebsocketConsumer):
    # What a socket keeps is small on purpose: an ASGI process holds thousands of them.
    execution_id: uuid.UUID
    user_id: int | None = None  # set once the socket is accepted
    slot: str | None = None
    joined = False
    last_seq = 0
    answered = True
    ping_handle: asyncio.TimerHandle | None = None
    ping_task: asyncio.Task[None] | None = None

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections (a thread hop) before every message; relaying
        # an event touches no database, and the handlers that do use database_sync_to_async.
        handler = getattr(self, message["type"].replace(".", "_"), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- connect / disconnect -------------------------------------------------------------------

    async def connect(self) -> None:
        self.execution_id = self.scope["url_route"]["kwargs"]["execution_id"]
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        after = _after_seq(query)
        if after is None:
            return await self._refuse(CLOSE_BAD_REQUEST, "bad_request", "after_seq must be a non-negative integer.")
        ticket = (query.get("ticket") or [""])[0]
        user_id = None
        if ticket:
            user_id = await ticket_redeem(ticket, self.execution_id)
            if user_id is None:
                why = "This ticket is unknown, expired, already used or for another execution."
                return await self._refuse(CLOSE_UNAUTHENTICATED, "ticket_invalid", why)
        user = self.scope.get("user")
        if user_id is None and (user is None or not user.is_authenticated):
            return await self._refuse(CLOSE_UNAUTHENTICATED, "not_authenticated", "Sign in, or connect with a ticket.")
        # Join first, then check access and read the backlog (one database hop): an event committed
        # meanwhile is in the backlog or arrives through the group. Nothing is sent before the checks
        # pass, and a refused socket leaves the group as it closes.
        await self.channel_layer.group_add(events.group_name(self.execution_id), self.channel_name)
        self.joined = True
        try:
            viewer, backlog = await _in_thread(_open)(user, user_id, self.execution_id, after)
        except Http404:
            return await self._refuse(CLOSE_NOT_FOUND, "not_found", "No such execution.")
        if viewer is None:
            return await self._refuse(CLOSE_UNAUTHENTICATED, "not_authenticated", "This account is not active.")
        self.slot = await slot_take(self.execution_id)
        if self.slot is None:
            why = f"At most {settings.WS_MAX_CONNECTIONS_PER_EXECUTION} sockets may be open on one execution."
            return await self._refuse(CLOSE_TOO_MANY, "too_many_connections", why)
        self.user_id = viewer
        await self.accept()
        self.last_seq = after
        for event in backlog:
            await self._send_event(event.as_json())
        if len(backlog) == BACKFILL_PAGE:
            await self._backfill()
        self._schedule_ping()

    async def _refuse(self, code: int, error: str, message: str) -> None:
        await self.accept()
        await self._send_json({"type": "error", "code": error, "message": message})
        await self.close(code=code, reason=error)

    async def disconnect(self, code: int) -> None:
        if self.ping_handle is not None:
            self.ping_handle.cancel()
        if self.ping_task is not None and self.ping_task is not asyncio.current_task():
            self.ping_task.cancel()
        try:
            if self.joined:
                self.joined = False
                await self.channel_layer.group_discard(events.group_name(self.execution_id), self.channel_name)
            if self.slot is not None:
                slot, self.slot = self.slot, None
                await slot_release(self.execution_id, slot)
        except Exception:
            # The slot expires by itself; the group membership with the channel layer's group expiry.
            logger.warning("cleaning up a closed socket of execution %s failed", self.execution_id, exc_info=True)

    # --- events -----------------------------------------------------------------------------------

    async def execution_event(self, message: dict[str, Any]) -> None:
        if self.user_id is None:
            return  # a refused socket, closing
        event = message["event"]
        seq = int(event["seq"])
        if seq <= self.last_seq:
            return  # sent already (from the backlog, or a duplicate)
        if seq == self.last_seq + 1:
            await self._send_event(event)
        else:
            await self._backfill()  # a gap: what was missed is committed, so the database has it

    async def _backfill(self) -> None:
        while True:
            batch = await _in_thread(_events_after)(self.execution_id, self.last_seq)
            for event in batch:
                await self._send_event(event.as_json())
            if len(batch) < BACKFILL_PAGE:
                return

    async def _send_event(self, event: dict[str, Any]) -> None:
        await self._send_json({"type": "event", "event": event})
        self.last_seq = int(event["seq"])

    async def _send_json(self, body: dict[str, Any]) -> None:
        try:
            await self.send(text_data=json.dumps(body, cls=DjangoJSONEncoder))
        except Exception:
            # The client is gone (or its connection broke): drop the socket.
            logger.info("sending to a socket of execution %s failed; closing it", self.execution_id)
            await self.disconnect(1006)
            raise StopConsumer() from None

    # --- ping ---------------------------------------------------------------------------------------

    def _schedule_ping(self) -> None:
        loop = asyncio.get_running_loop()
        self.ping_handle = loop.call_later(settings.WS_PING_INTERVAL, self._ping_due)

    def _ping_due(self) -> None:
        self.ping_task = asyncio.ensure_future(self._ping())

    async def _ping(self) -> None:
        if not self.answered:
            logger.info("a socket of execution %s did not answer its ping; closing it", self.execution_id)
            try:
                await self.close(code=CLOSE_PING_TIMEOUT, reason="ping_timeout")
            finally:
                await self.disconnect(CLOSE_PING_TIMEOUT)
            return
        self.answered = False
        try:
            await self.send(text_data='{"type": "ping"}')
            if self.slot is not None:
                await slot_renew(self.execution_id, self.slot)
        except Exception:
            logger.info("pinging a socket of execution %s failed; closing it", self.execution_id)
            await self.disconnect(1006)
            return
        self._schedule_ping()

    # --- messages from the client ---------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.answered = True  # any message is an answer to the ping
        if self.user_id is None:
            return  # refused and closing
        try:
            request = _parse(text_data)
        except BadMessage as exc:
            return await self._send_json({"type": "error", "code": exc.code, "message": exc.message})
        if request["type"] == "pong":
            return
        if request["type"] == "ping":
            return await self._send_json({"type": "pong"})
        try:
            await _in_thread(_act)(self.user_id, self.execution_id, request)
        except services.ExecutionError as exc:
            return await self._send_json({"type": "error", "code": exc.code, "message": exc.message})
        except PermissionDenied as exc:
            message = str(exc) or "You may not do this on this execution."
            return await self._send_json({"type": "error", "code": "permission_denied", "message": message})
        except Http404:
            return await self._send_json({"type": "error", "code": "not_found", "message": "No such execution."})
        body: dict[str, Any] = {"type": "ack", "action": request["type"]}
        if "interaction_id" in request:
            body["interaction_id"] = request["interaction_id"]
        await self._send_json(body)
