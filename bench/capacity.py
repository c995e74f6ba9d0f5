"""Capacity: many executions at once on one host, against a model that takes its time.

A scripted OpenAI-compatible model (``tests/fakes/openai_server.py``, a real HTTP server in this
process) answers every call after ``--latency`` seconds (default 1.0). Each execution makes three
model calls (classify, one ``run_query`` through the governance gateway on a small SQLite source,
finish). The executions are started together through the real API (``POST /api/v1/prompts/execute``
on a real ASGI server, with a JWT of one of 20 analysts), and run by real Celery workers with the
Procfile's pool (``--workers`` processes of ``--threads`` threads), on the development database and
broker, in a queue of the bench's own.

For each level (1, 10, 50 and 200 executions at once; ``--quick``: 1, 10, 40) it prints the wall
time from the first request until all are terminal, p50 and p95 of each execution's time (created
-> completed, from the database), the failures by code (refused requests and failed executions),
and the most model calls in flight at once. Goal: 200 at once with 0 failures and p95 within
1.5 x (3 calls x latency) + 2 s.

The bench server runs without the per-user and per-workspace execute limits (they are not what is
measured; admission control stays on). The last line is JSON: {"levels": {"<n>": {...}},
"latency_s", "goal_p95_s", "workers", "threads", "cpus"}.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from _common import (
    ROOT,
    arguments,
    bench_workspace,
    customers_source,
    delete_executions,
    free_port,
    report,
    setup_django,
    stop_process,
)

args = arguments(
    __doc__ or "",
    latency=(float, 1.0, "seconds the model takes to answer each call"),
    workers=(int, 4, "worker processes (make run's WORKERS)"),
    threads=(int, 50, "threads per worker process (the Procfile's WORKER_THREADS)"),
)
QUEUE = "bench.capacity"
os.environ["CELERY_QUEUE"] = QUEUE  # before Django: this process publishes nothing, but says the same
setup_django()

import httpx  # noqa: E402
from kombu import Queue  # noqa: E402

from config.celery import app  # noqa: E402
from executions.models import TERMINAL_STATUSES, ExecutionStatus, PromptExecution  # noqa: E402
from tests.factories import make_user  # noqa: E402
from tests.fakes.openai_server import ScriptedModelServer, delay, reply, tool_call  # noqa: E402
from workspaces import services as workspace_services  # noqa: E402
from workspaces.models import Role  # noqa: E402

LEVELS = (1, 10, 40) if args.quick else (1, 10, 50, 200)
USERS = 20
PASSWORD = f"bench-{uuid.uuid4().hex[:8]}"
CALLS = 3
GOAL_P95 = 1.5 * CALLS * args.latency + 2


class Processes:
    def __init__(self, log_dir: Path, model_url: str) -> None:
        self.log_dir = log_dir
        self.env = {**os.environ, "CELERY_QUEUE": QUEUE, "OPENAI_BASE_URL": model_url, "OPENAI_API_KEY": "bench",
                    "MODEL_FALLBACKS": "", "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING",
                    "RATE_LIMIT_EXECUTE_PER_USER": "0", "RATE_LIMIT_EXECUTE_PER_WORKSPACE": "0",
                    "RATE_LIMIT_API_PER_USER": "0"}  # fmt: skip
        self.running: list[subprocess.Popen[bytes]] = []
        self.hostnames = [f"bench-capacity-{i}@localhost" for i in range(args.workers)]

    def spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        with open(self.log_dir / f"{name}.log", "wb") as out:
            process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.running.append(process)
        return process

    def start(self) -> str:
        port = free_port()
        self.spawn("web", [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
                           "--port", str(port), "--lifespan", "off", "--ws", "websockets-sansio",
                           "--no-access-log"])  # fmt: skip
        for hostname in self.hostnames:
            self.spawn(hostname.split("@")[0], [sys.executable, "-m", "celery", "-A", "config", "worker",
                                                "--pool", "threads", "--concurrency", str(args.threads),
                                                "--loglevel", "WARNING", "--hostname", hostname,
                                                "--without-mingle", "--without-gossip"])  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code < 500 and all(
                    app.control.ping(destination=[h], timeout=0.5) for h in self.hostnames
                ):
                    return url
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.running):
                raise SystemExit(f"the bench's server or workers did not start (logs: {self.log_dir})")
            time.sleep(0.2)

    def stop(self) -> None:
        stop_process(*self.running, timeout=30)


def script(model: ScriptedModelServer, source: Any) -> str:
    marker = f"[c{uuid.uuid4().hex[:12]}]"
    sql = "SELECT region, count(*) AS customers FROM customers GROUP BY region"
    model.script(marker, [
        delay(args.latency, reply(tool_calls=[tool_call("classify_intent", {"intent": "DATA_QUERY", "confidence": 0.9,
                                                                           "reason": "bench"})])),
        delay(args.latency, reply(tool_calls=[tool_call("run_query", {"datasource_id": str(source.pk), "sql": sql})])),
        delay(args.latency, reply(tool_calls=[tool_call("finish", {"answer": "Counted.", "confidence": 0.9})])),
    ])  # fmt: skip
    return marker


async def start_all(url: str, tokens: list[str], bodies: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=len(bodies))
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def one(index: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            headers = {"Authorization": f"Bearer {tokens[index % len(tokens)]}"}
            response = await client.post("/api/v1/prompts/execute", json=body, headers=headers)
            return response.status_code, response.json()

        return await asyncio.gather(*(one(i, b) for i, b in enumerate(bodies)))


def level(url: str, tokens: list[str], model: ScriptedModelServer, source: Any, n: int) -> dict[str, Any]:
    bodies = [{"prompt_text": f"How many customers per region? {script(model, source)}",
               "workspace_id": str(source.workspace_id), "selected_data_source_ids": [str(source.pk)]}
              for _ in range(n)]  # fmt: skip
    model.reset_peak()
    started = time.perf_counter()
    answers = asyncio.run(start_all(url, tokens, bodies))
    failures: Counter[str] = Counter()
    ids = []
    for status, body in answers:
        if status == 202:
            ids.append(body["id"])
        else:
            failures[f"http_{status}_{(body.get('error') or {}).get('code', '')}"] += 1
    deadline = time.monotonic() + 120 + n * CALLS * args.latency
    while PromptExecution.objects.filter(pk__in=ids).exclude(status__in=TERMINAL_STATUSES).exists():
        if time.monotonic() > deadline:
            failures["bench_timeout"] += PromptExecution.objects.filter(pk__in=ids).exclude(
                status__in=TERMINAL_STATUSES).count()  # fmt: skip
            break
        time.sleep(0.1)
    wall = time.perf_counter() - started
    rows = list(PromptExecution.objects.filter(pk__in=ids).values_list("status", "error_code", "created_at",
                                                                       "completed_at"))  # fmt: skip
    times = sorted(
        (done - created).total_seconds() for state, _, created, done in rows if state == "completed" and done
    )
    for state, code, _, _ in rows:
        if state != ExecutionStatus.COMPLETED and state in TERMINAL_STATUSES:
            failures[str(code or state)] += 1
    figures = {
        "wall_s": round(wall, 2),
        "completed": len(times),
        "p50_s": round(statistics.median(times), 2) if times else None,
        "p95_s": round(times[max(0, int(len(times) * 0.95) - 1)], 2) if times else None,
        "failures": dict(failures),
        "model_calls_in_flight_max": model.reset_peak(),
    }
    print(f"{n:>4} at once: {figures}")
    return figures


def main() -> None:
    workspace = bench_workspace("capacity-bench", "Capacity bench")
    source = customers_source(workspace, name="Capacity bench SQLite", filename="capacity.sqlite")
    users = []
    for i in range(USERS):
        user = make_user(f"bench-capacity-{i}")
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
        workspace_services.membership_set(workspace=workspace, user=user, role=Role.ANALYST)
        users.append(user)
    with app.connection_for_write() as connection:
        Queue(QUEUE).bind(connection.default_channel).purge()
    delete_executions(workspace)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    results: dict[str, Any] = {}
    with ScriptedModelServer() as model:
        processes = Processes(log_dir, model.url)
        try:
            url = processes.start()
            tokens = [httpx.post(f"{url}/api/v1/auth/token/", json={"username": u.username, "password": PASSWORD},
                                 timeout=30).json()["access"] for u in users]  # fmt: skip
            level(url, tokens, model, source, 2)  # warm-up: connections, imports, caches
            for n in LEVELS:
                results[str(n)] = level(url, tokens, model, source, n)
        finally:
            processes.stop()
            delete_executions(workspace)
    shutil.rmtree(log_dir, ignore_errors=True)
    top = results[str(LEVELS[-1])]
    ok = not top["failures"] and top["p95_s"] is not None and top["p95_s"] <= GOAL_P95
    print(f"goal: {LEVELS[-1]} at once, 0 failures, p95 <= {GOAL_P95:.1f} s: {'met' if ok else 'not met'}")
    report("capacity", {"levels": results, "latency_s": args.latency, "goal_p95_s": round(GOAL_P95, 2),
                        "workers": args.workers, "threads": args.threads, "cpus": os.cpu_count()})  # fmt: skip


main()
