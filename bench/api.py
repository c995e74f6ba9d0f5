"""Request overhead of the API stack, as ratios to bare round trips measured in the same run; and
the executions API under load: ``POST /api/v1/prompts/execute`` and ``GET /api/v1/executions/{id}``
from 50 concurrent clients against a real ASGI server.

Figures are p50/p95 in milliseconds; the ratios compare the full Django stack (middleware, auth,
JWT, guardian, serializers) to a bare PostgreSQL ``SELECT 1``, and a Celery task round trip
through a real worker to a bare Redis PING, so that machine noise cancels out.

The load part starts uvicorn (``UVICORN_WORKERS`` processes, default one per CPU) on the
development database with the bench's own settings module: the turns the executions enqueue go to
the queue ``bench.api`` that no worker consumes (purged afterwards, with the executions of the
workspace ``api-bench``), and the rate limits are raised so that they are counted but never
refuse. The server borrows database connections from its pool (DB_POOL_MAX_SIZE, the default
settings); ``DB_POOL_MAX_SIZE=0`` measures a connection per request instead.

Two load shapes, 50 concurrent clients each, each client on its own keep-alive connection:

- **paced** (the goals: p95 <= 50 ms for execute, <= 20 ms for the read): each client waits a
  random think time (exponential, mean ``--think-ms``, default 1000) between its requests, the
  way a person or an integrator polling an execution's status uses the API: 50 clients offer
  about 50 requests a second.
- **saturated**: each client sends its next request the moment the last one answers (a closed
  loop). That measures capacity (requests per second); its latencies are queueing, not service:
  by Little's law a closed loop of 50 waits 50 / throughput, so p95 <= 20 ms would take 2,500
  reads a second.

One client alone is measured too, for the service time. The server's CPU time a request
(``server_cpu_ms_per_get``, goal at most 5 ms; ``server_cpu_ms_per_execute``) is read from the
server's processes around the saturated runs, so the bench's own clients on the same cores do not
count. The executions stay queued (no worker takes them): a read of one includes its queue position.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    ROOT,
    arguments,
    bench_workspace,
    delete_executions,
    free_port,
    measure,
    percentiles,
    report,
    setup_django,
    stop_process,
)

args = arguments(__doc__ or "", think_ms=(float, 1000.0, "mean think time of a paced client (ms)"))
# The same user makes every request of the run: its limits are raised so none is refused (and a
# second run within the window is measured the same), while each request still counts in Redis.
for _name in ("RATE_LIMIT_API_PER_USER", "RATE_LIMIT_EXECUTE_PER_USER", "RATE_LIMIT_EXECUTE_PER_WORKSPACE"):
    os.environ.setdefault(_name, "100000000")
setup_django()

import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework_simplejwt.tokens import RefreshToken  # noqa: E402

from config.celery import app  # noqa: E402
from config.tasks import echo  # noqa: E402
from tests.factories import make_user  # noqa: E402
from workspaces import services  # noqa: E402
from workspaces.models import Role  # noqa: E402

N = 50 if args.quick else 300


def select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def main() -> None:
    # A workspace of its own, so the demo workspace and its logins are left alone.
    workspace = bench_workspace("bench", "Bench")
    analyst = make_user("bench-analyst")
    services.membership_set(workspace=workspace, user=analyst, role=Role.ANALYST)
    token = str(RefreshToken.for_user(analyst).access_token)
    client = Client()
    auth = {"Authorization": f"Bearer {token}"}
    redis_client = redis.Redis.from_url(settings.CELERY_BROKER_URL)

    results: dict[str, object] = {
        "bare_select_1": measure(select_one, N),
        "bare_redis_ping": measure(redis_client.ping, N),
        "api_me_jwt": measure(lambda: client.get("/api/v1/me", headers=auth), N),
        "api_workspace_detail_jwt": measure(lambda: client.get(f"/api/v1/workspaces/{workspace.pk}/", headers=auth), N),
        "api_unauthenticated_401": measure(lambda: client.get("/api/v1/me"), N),
    }
    hostname = f"bench-{os.getpid()}@localhost"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel", "WARNING",
         "--hostname", hostname, "--without-mingle", "--without-gossip"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[hostname], timeout=0.5):
            if time.monotonic() > deadline:
                raise SystemExit("the bench worker did not start")
        results["celery_round_trip"] = measure(lambda: echo.delay("x").get(timeout=30), max(20, N // 4))
    finally:
        stop_process(worker, timeout=30)

    def ratio(a: str, b: str) -> float:
        return round(results[a]["p50_ms"] / results[b]["p50_ms"], 2)  # type: ignore[index]

    results["ratios_p50"] = {
        "api_me_jwt / bare_select_1": ratio("api_me_jwt", "bare_select_1"),
        "api_workspace_detail_jwt / bare_select_1": ratio("api_workspace_detail_jwt", "bare_select_1"),
        "celery_round_trip / bare_redis_ping": ratio("celery_round_trip", "bare_redis_ping"),
    }
    load = executions_under_load(analyst, token)
    print(
        f"paced ({CLIENTS} clients, think {args.think_ms:g} ms): execute p50/p95 {load['execute_p50_ms']}/"
        f"{load['execute_p95_ms']} ms, get p50/p95 {load['get_p50_ms']}/{load['get_p95_ms']} ms"
    )
    print(f"saturated ({CLIENTS} clients, closed loop): {load['capacity_execute_per_second']} executes/s, "
          f"{load['capacity_get_per_second']} gets/s; get p95 {load['saturated_get_p95_ms']} ms")  # fmt: skip
    report("api", {**load, **results})


# --- the executions API under load, on a real ASGI server -------------------------------------

CLIENTS = 50
PER_CLIENT = 3 if args.quick else 20  # measured requests of each client, per endpoint
QUEUE = "bench.api"  # where the server's executions enqueue their turns; no worker consumes it
SETTINGS_MODULE = f"""
from config.settings.base import *  # noqa: F403

CELERY_TASK_DEFAULT_QUEUE = {QUEUE!r}
"""
POOL = os.environ.get("DB_POOL_MAX_SIZE", "10") != "0"  # the server's environment is this one's
SERVER_ENV = {
    "LOG_LEVEL": "WARNING",
    "RATE_LIMIT_API_PER_USER": "100000000",
    "RATE_LIMIT_EXECUTE_PER_USER": "100000000",
    "RATE_LIMIT_EXECUTE_PER_WORKSPACE": "100000000",
    # No worker takes these executions, so the queue only grows: admission control still runs its
    # check on every execute (its cost is measured) but never refuses.
    "QUEUE_MAX_WAIT_SECONDS": "1000000000",
}


def start_server(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    (folder / "bench_api_settings.py").write_text(SETTINGS_MODULE)
    port = free_port()
    workers = os.environ.get("UVICORN_WORKERS") or str(os.cpu_count() or 1)
    env = {**os.environ, **SERVER_ENV, "DJANGO_SETTINGS_MODULE": "bench_api_settings",
           "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--workers", workers, "--lifespan", "off", "--no-access-log", "--log-level", "warning",
         "--timeout-keep-alive", "300"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(folder / "server.log", "wb"),
    )  # fmt: skip
    return process, f"http://127.0.0.1:{port}"


def server_cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """CPU time (user and system) of the server and its worker processes so far: what the
    requests cost the server, without the bench's own clients on the same cores."""
    import psutil

    server = psutil.Process(process.pid)
    total = 0.0
    for each in [server, *server.children(recursive=True)]:
        try:
            times = each.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


async def _wait_until_up(client: Any, process: subprocess.Popen[bytes], folder: Path) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the bench server exited (log: {folder / 'server.log'})")
        try:
            if (await client.get("/api/v1/me")).status_code == 200:
                return
        except httpx.TransportError:  # not listening yet
            await asyncio.sleep(0.1)
            continue
        await asyncio.sleep(0.1)
    raise SystemExit(f"the bench server did not answer (log: {folder / 'server.log'})")


async def _load(url: str, token: str, workspace_id: str, process: Any, folder: Path) -> dict[str, Any]:
    import httpx

    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as client:
        await _wait_until_up(client, process, folder)
        ids: list[str] = []
        failures: dict[str, int] = {}

        async def call(method: str, path: str, samples: list[float] | None, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                response = await client.request(method, path, **kwargs)
            except httpx.TransportError as exc:  # counted, not measured: the run goes on
                name = type(exc).__name__
                failures[name] = failures.get(name, 0) + 1
                return None
            if samples is not None:
                samples.append((time.perf_counter() - started) * 1000)
            if response.status_code >= 400:
                failures[str(response.status_code)] = failures.get(str(response.status_code), 0) + 1
            return response

        async def executes(n: int, samples: list[float] | None) -> None:
            for i in range(n):
                body = {"prompt_text": f"How many customers per region? ({i})", "workspace_id": workspace_id}
                response = await call("POST", "/api/v1/prompts/execute", samples, json=body)
                if response is not None and response.status_code == 202:
                    ids.append(response.json()["id"])

        async def gets(n: int, samples: list[float] | None) -> None:
            for _ in range(n):
                await call("GET", f"/api/v1/executions/{random.choice(ids)}", samples)

        async def saturated(step: Any) -> tuple[dict[str, float], float, float]:
            """Latencies, requests a second, and the server's CPU milliseconds a request."""
            samples: list[float] = []
            cpu = server_cpu_seconds(process)
            started = time.perf_counter()
            await asyncio.gather(*(step(PER_CLIENT, samples) for _ in range(CLIENTS)))
            rate = len(samples) / (time.perf_counter() - started)
            return percentiles(samples), rate, (server_cpu_seconds(process) - cpu) * 1000 / max(len(samples), 1)

        async def paced(step: Any) -> tuple[dict[str, float], float]:
            samples: list[float] = []

            async def client() -> None:
                for _ in range(PER_CLIENT):
                    await asyncio.sleep(random.expovariate(1000 / args.think_ms))  # think time
                    await step(1, samples)

            started = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(CLIENTS)))
            return percentiles(samples), len(samples) / (time.perf_counter() - started)

        # Warm-up: every client's connection open, the server's pools and caches filled.
        await asyncio.gather(*(executes(1, None) for _ in range(CLIENTS)))
        if not ids:
            raise SystemExit(f"no execution was created: {failures} (log: {folder / 'server.log'})")
        await asyncio.gather(*(gets(1, None) for _ in range(CLIENTS)))
        execute, execute_rate = await paced(executes)
        get, get_rate = await paced(gets)
        execute_saturated, execute_capacity, execute_cpu = await saturated(executes)
        get_saturated, get_capacity, get_cpu = await saturated(gets)
        # For scale: one client alone, so the figures above read as service time plus queueing.
        single_execute: list[float] = []
        single_get: list[float] = []
        await executes(PER_CLIENT * 5, single_execute)
        await gets(PER_CLIENT * 5, single_get)
    return {
        "execute_p50_ms": execute["p50_ms"],
        "execute_p95_ms": execute["p95_ms"],
        "get_p50_ms": get["p50_ms"],
        "get_p95_ms": get["p95_ms"],
        "clients": CLIENTS,
        "think_ms_mean": args.think_ms,
        "requests_per_endpoint": execute["n"],
        "paced_execute_per_second": round(execute_rate, 1),
        "paced_get_per_second": round(get_rate, 1),
        "saturated_execute_p50_ms": execute_saturated["p50_ms"],
        "saturated_execute_p95_ms": execute_saturated["p95_ms"],
        "saturated_get_p50_ms": get_saturated["p50_ms"],
        "saturated_get_p95_ms": get_saturated["p95_ms"],
        "capacity_execute_per_second": round(execute_capacity, 1),
        "capacity_get_per_second": round(get_capacity, 1),
        "server_cpu_ms_per_execute": round(execute_cpu, 2),
        "server_cpu_ms_per_get": round(get_cpu, 2),
        "single_client_execute_p50_ms": percentiles(single_execute)["p50_ms"],
        "single_client_get_p50_ms": percentiles(single_get)["p50_ms"],
        "server_db_pool": POOL,
        "server_workers": int(os.environ.get("UVICORN_WORKERS") or os.cpu_count() or 1),
        "errors": failures,
        "goals_met": {
            "execute_p95_le_50ms": execute["p95_ms"] <= 50,
            "get_p95_le_20ms": get["p95_ms"] <= 20,
            "get_cpu_le_5ms": get_cpu <= 5,
        },
    }


def purge_queue() -> None:
    from kombu import Queue

    with app.connection_for_write() as connection:
        Queue(QUEUE).bind(connection.default_channel).purge()


def executions_under_load(user: Any, token: str) -> dict[str, Any]:
    # A workspace of its own: its executions are deleted before and after the run.
    workspace = bench_workspace("api-bench", "API bench")
    services.membership_set(workspace=workspace, user=user, role=Role.ANALYST)
    purge_queue()
    delete_executions(workspace)
    folder = Path(tempfile.mkdtemp(prefix="bench-api-"))
    process, url = start_server(folder)
    try:
        return asyncio.run(_load(url, token, str(workspace.pk), process, folder))
    finally:
        stop_process(process, timeout=30)
        purge_queue()
        delete_executions(workspace)


main()
