"""WebSocket fan-out: from an event's commit to its receipt by every socket watching the execution.

One uvicorn process (Channels, the production command line of the Procfile) is started by the bench;
CLIENTS WebSocket clients (2,000; 500 with --quick) connect to it with single-use tickets, five per
execution (WS_MAX_CONNECTIONS_PER_EXECUTION), on executions of the bench's own workspace ("ws-fanout"
of the "bench" organisation) in the development database. Then events are committed one at a time,
round-robin over the executions, the way the worker commits them (``executions.events.event_append``
in a transaction, with the execution locked; published to the channel layer after commit by the
events module's publisher), and each client records when the event reaches it.

- ``p50_ms`` / ``p99_ms`` / ``max_ms``: from the commit returning to a client's receipt of the event,
  over every (event, client) pair. Goal: p99 <= 25 ms.
- ``bare_publish_p50_ms`` / ``bare_publish_p99_ms``: a bare channel-layer round trip in the same run
  and process (``group_send`` to a group of one channel, then ``receive`` on it), interleaved with the
  events: the floor under the figures above.
- ``kib_per_connection``: the ASGI process's resident memory (VmRSS from /proc) after all clients
  are connected and have answered a ping, less what it used after a warm-up connection, per client.
  Goal: <= 60 KiB.
- ``failed``: connections that could not be opened or were refused (goal 0); ``lost``: receipts that
  never came (the channel layer is at-most-once; a client would backfill them from the database).

The bench and its clients share the machine's two cores with the ASGI process (and Redis and
PostgreSQL), so the figures are an upper bound of what a dedicated ASGI process shows. It needs
`make services` and a migrated database; its executions are deleted at the end.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _common import (
    ROOT,
    arguments,
    bench_workspace,
    delete_executions,
    free_port,
    percentiles,
    report,
    setup_django,
    stop_process,
)

args = arguments(__doc__ or "")
setup_django()

import websockets  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from guardian.shortcuts import assign_perm  # noqa: E402

from executions import events  # noqa: E402
from executions.consumers import ticket_issue  # noqa: E402
from executions.models import PromptExecution  # noqa: E402
from tests.factories import make_user  # noqa: E402
from workspaces import services as workspace_services  # noqa: E402
from workspaces.models import Role, Workspace  # noqa: E402

QUICK = args.quick
CLIENTS = 500 if QUICK else 2000
PER_EXECUTION = int(settings.WS_MAX_CONNECTIONS_PER_EXECUTION)
EXECUTIONS = math.ceil(CLIENTS / PER_EXECUTION)
EVENTS = 150 if QUICK else 400
EVENT_GAP_SECONDS = 0.02  # between commits: latency, not a queue behind a flood, is measured
CONNECT_AT_ONCE = 200  # handshakes in flight at a time (a burst, bounded by the clients' own limit)
TIMEOUT = 30


def raise_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))  # the ASGI process inherits it


def make_executions(workspace: Workspace, user: Any, count: int) -> list[PromptExecution]:
    created = PromptExecution.objects.bulk_create(
        [PromptExecution(workspace=workspace, user=user, prompt_text=f"fan-out {i}") for i in range(count)]
    )
    mine = PromptExecution.objects.filter(workspace=workspace)
    assign_perm("executions.view_promptexecution", user, mine)  # type: ignore[arg-type]  # bulk: a queryset
    return created


def start_server(port: int, log_path: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
    with open(log_path, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
             "--lifespan", "off", "--ws", "websockets-sansio", "--no-access-log", "--log-level", "warning",
             "--backlog", "4096", "--timeout-graceful-shutdown", "5"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def commit_event(execution_id: Any, number: int) -> float:
    """One event, committed as the worker commits it; the time the commit returned."""
    with transaction.atomic():
        execution = PromptExecution.objects.select_for_update().get(pk=execution_id)
        events.event_append(execution, events.PROGRESS, {"bench": number})
    return time.perf_counter()


class Client:
    def __init__(self, url: str) -> None:
        self.url = url
        self.ws: Any = None
        self.received: dict[int, float] = {}
        self.pong = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self.ws = await websockets.connect(self.url, open_timeout=TIMEOUT, max_queue=None, compression=None)
        self.task = asyncio.ensure_future(self.read())
        await self.ws.send('{"type": "ping"}')
        await asyncio.wait_for(self.pong.wait(), TIMEOUT)  # the consumer is set up and answering

    async def read(self) -> None:
        try:
            async for raw in self.ws:
                now = time.perf_counter()
                message = json.loads(raw)
                kind = message["type"]
                if kind == "event":
                    self.received[message["event"]["seq"]] = now
                elif kind == "ping":
                    await self.ws.send('{"type": "pong"}')
                elif kind == "pong":
                    self.pong.set()
        except websockets.ConnectionClosed:
            pass


async def bare_round_trip(layer: Any, group: str, channel: str) -> float:
    started = time.perf_counter()
    await layer.group_send(group, {"type": "bench.bare"})
    await layer.receive(channel)
    return (time.perf_counter() - started) * 1000


async def run(server_pid: int, base_url: str, user: Any, executions: list[PromptExecution], warmup: Any) -> dict:
    # Warm-up: one socket, one event, so that the process has imported and set up what every socket uses.
    warm = Client(f"{base_url}/ws/executions/{warmup.pk}/?ticket={ticket_issue(user=user, execution=warmup).ticket}")
    await warm.open()
    publisher = ThreadPoolExecutor(max_workers=1)  # one thread, one database connection, like a worker
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(publisher, commit_event, warmup.pk, 0)
    while not warm.received:
        await asyncio.sleep(0.01)
    await warm.ws.close()
    rss_before = rss_kib(server_pid)

    targets = [executions[i % len(executions)] for i in range(CLIENTS)]
    clients = [Client(f"{base_url}/ws/executions/{execution.pk}/?ticket=") for execution in targets]
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    failures: list[str] = []

    async def open_one(client: Client, execution: PromptExecution) -> None:
        async with gate:
            # A ticket is good for WS_TICKET_SECONDS: each is issued as its client connects.
            client.url += ticket_issue(user=user, execution=execution).ticket
            try:
                await client.open()
            except Exception as exc:
                failures.append(f"{type(exc).__name__}: {exc}")

    # The clients' own objects are long-lived: keep the collector from rescanning them all the time
    # (a pause in this process would be counted as the server's latency).
    gc.collect()
    gc.freeze()
    started, cpu_started = time.perf_counter(), cpu_seconds(server_pid)
    await asyncio.gather(*(open_one(client, execution) for client, execution in zip(clients, targets, strict=True)))
    connect_seconds = time.perf_counter() - started
    connect_cpu_ms = (cpu_seconds(server_pid) - cpu_started) * 1000 / CLIENTS
    connected = [client for client in clients if client.ws is not None and client.pong.is_set()]
    rss_after = rss_kib(server_pid)
    print(f"{len(connected)} of {CLIENTS} clients connected in {connect_seconds:.1f} s; {len(failures)} failed"
          + (f" (first: {failures[0]})" if failures else "")
          + f"; the ASGI process spent {connect_cpu_ms:.1f} ms of CPU per connect")  # fmt: skip
    print(f"ASGI process RSS {rss_before / 1024:.1f} MiB -> {rss_after / 1024:.1f} MiB")

    layer = get_channel_layer()
    assert layer is not None
    bare_channel = await layer.new_channel()
    bare_group = f"bench.bare.{os.getpid()}"
    await layer.group_add(bare_group, bare_channel)
    for _ in range(10):
        await bare_round_trip(layer, bare_group, bare_channel)

    by_execution: dict[Any, list[Client]] = {}
    for client, execution in zip(clients, targets, strict=True):
        if client in connected:
            by_execution.setdefault(execution.pk, []).append(client)
    # Each execution's events are numbered from 1 in commit order (the clients' executions had none).
    expected: list[tuple[Any, int, float]] = []  # (execution id, seq, when its commit returned)
    seq_of: dict[Any, int] = {}
    bare: list[float] = []
    for number in range(EVENTS):
        execution = executions[number % len(executions)]
        at = await loop.run_in_executor(publisher, commit_event, execution.pk, number + 1)
        seq_of[execution.pk] = seq_of.get(execution.pk, 0) + 1
        expected.append((execution.pk, seq_of[execution.pk], at))
        bare.append(await bare_round_trip(layer, bare_group, bare_channel))
        await asyncio.sleep(EVENT_GAP_SECONDS)

    deadline = time.perf_counter() + 5
    total = sum(len(by_execution.get(execution_id, [])) for execution_id, _, _ in expected)

    def receipts() -> int:
        return sum(1 for e, s, _ in expected for c in by_execution.get(e, []) if s in c.received)

    while receipts() < total and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    latencies = [
        (client.received[seq] - at) * 1000
        for execution_id, seq, at in expected
        for client in by_execution.get(execution_id, [])
        if seq in client.received
    ]
    await layer.group_discard(bare_group, bare_channel)

    async def close_one(client: Client) -> None:
        async with gate:
            try:
                await client.ws.close()
            except Exception:  # noqa: S110  the run is over; a close that fails changes no figure
                pass

    await asyncio.gather(*(close_one(client) for client in connected))
    publisher.shutdown()
    ordered = sorted(latencies)
    return {
        "p50_ms": percentiles(latencies)["p50_ms"] if latencies else None,
        "p99_ms": round(ordered[max(0, math.ceil(len(ordered) * 0.99) - 1)], 3) if ordered else None,
        "max_ms": round(ordered[-1], 3) if ordered else None,
        "kib_per_connection": round((rss_after - rss_before) / max(1, len(connected)), 1),
        "failed": CLIENTS - len(connected),
        "bare_publish_p50_ms": percentiles(bare)["p50_ms"],
        "bare_publish_p99_ms": round(sorted(bare)[max(0, math.ceil(len(bare) * 0.99) - 1)], 3),
        "clients": CLIENTS,
        "executions": len(executions),
        "events": EVENTS,
        "receipts": len(latencies),
        "lost": total - len(latencies),
        "connect_s": round(connect_seconds, 2),
        "server_cpu_ms_per_connect": round(connect_cpu_ms, 2),
        "rss_mib_before": round(rss_before / 1024, 1),
        "rss_mib_after": round(rss_after / 1024, 1),
    }


def main() -> None:
    raise_file_limit(2 * CLIENTS + 1024)
    port = free_port()
    log_path = f"/tmp/bench-ws-fanout-{os.getpid()}.log"  # noqa: S108  named only when the run fails
    server = start_server(port, log_path)  # it boots while the executions are written
    workspace = bench_workspace("ws-fanout", "WS fan-out")
    try:
        user = make_user("bench-ws-fanout")
        workspace_services.membership_set(workspace=workspace, user=user, role=Role.ANALYST)
        delete_executions(workspace)  # what an interrupted earlier run left
        executions = make_executions(workspace, user, EXECUTIONS + 1)
        warmup, executions = executions[0], executions[1:]
        connection.close()  # the publisher thread opens its own
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/schema/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the ASGI server did not start (log: {log_path})")
            time.sleep(0.1)
        figures = asyncio.run(run(server.pid, f"ws://127.0.0.1:{port}", user, executions, warmup))
    finally:
        stop_process(server)
        delete_executions(workspace)
    if figures["failed"] or figures["lost"]:
        print(f"ASGI server log: {log_path}")
    else:
        os.unlink(log_path)
    print(f"commit -> receipt p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms (goal <= 25) over "
          f"{figures['receipts']} receipts; bare channel-layer round trip p50 {figures['bare_publish_p50_ms']} ms; "
          f"{figures['kib_per_connection']} KiB per connection (goal <= 60)")  # fmt: skip
    report("ws_fanout", figures)


if __name__ == "__main__":
    main()
