"""Per-turn orchestration overhead of the durable turn pipeline, against a bare Celery round trip.

Every model reply comes from the zero-latency scripted model (``tests/fakes/openai_server.py``, a
real OpenAI-compatible HTTP server started in this process, called by the real ``openai`` client in
real worker subprocesses), so what is measured is the pipeline itself: the lease, the stored reply,
the events (persisted and published to the channel layer), one ``run_query`` through the governance
gateway (firewall, audit rows, read-only query on a small SQLite source) and the way to the next turn.

Turn time (``turn_p50_ms``): the cycle time of one ``run_query`` turn, from the ``turn.started``
event of turn k to the ``turn.started`` event of turn k+1 (their ``created_at``, written by the
worker). Taking the interval between consecutive turns counts everything a turn costs: its commits,
the publish of its events and the next turn's claim (with TURN_CARRY_ON, the default, the worker
claims turn k+1 in the transaction that finishes turn k and runs it at once; off, each turn is a
task, with the enqueue and the broker hop in between). Executions run one at a time (classify, then
MAX_LOOP_COUNT - 2 ``run_query`` turns, then finish) on one solo worker, so no turn waits behind
another; only the ``run_query`` turns are counted, and the first executions after the worker starts
are a warm-up. The phases of those turns (from the same event timestamps) are printed as well:
where a turn's time goes.

Celery round trip (``celery_p50_ms``): ``ops.echo.delay().get()`` through the same worker, measured
in small batches between the executions so that both figures see the same machine state. The ratio
is turn p50 / Celery p50 (goal: at most 6).

Throughput (``executions_per_s``, an object keyed by worker count, {"1": x, "2": y}): a batch of
short executions (classify -> run_query -> finish, 4 turns with the enrichment) is submitted at once
and timed from the first submission until all are terminal, with one solo worker and then with two
solo worker processes (after a small warm-up batch each time).

The bench uses the development database and broker like the other benches (it needs `make services`
and a migrated database), in its own workspace ("turn-bench" of the "bench" organisation, with a
small SQLite file of its own) and its own Celery queues, so a running development worker neither
takes its turns nor is disturbed; one run at a time. The executions it creates are deleted at the
end (audit rows stay: the audit chain is append-only). Worker logs go to a temporary folder that is
kept, and named, only when something fails. The last line is JSON: turn_p50_ms, turn_p95_ms, turns,
celery_p50_ms, celery_p95_ms, ratio, turn_phases_p50_ms, executions_per_s ({"1", "2"}), batch, cpus.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import (
    ROOT,
    bench_workspace,
    customers_source,
    delete_executions,
    percentiles,
    report,
    setup_django,
    stop_process,
)
from kombu import Queue


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smaller run that finishes in under 45 seconds")
    # Internal: this file re-executed as a Celery worker publishing to and consuming the bench's queue.
    parser.add_argument("--worker", nargs=3, metavar=("QUEUE", "HOSTNAME", "CONSUME"), help=argparse.SUPPRESS)
    return parser.parse_args()


args = parse_arguments()
setup_django()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402

from config.celery import app  # noqa: E402


def run_worker(queue: str, hostname: str, consume: str) -> None:
    """A solo worker whose tasks (the next turns) go to ``queue``; it consumes ``consume``."""
    app.conf.task_default_queue = queue
    app.worker_main(
        ["worker", "--pool", "solo", "--concurrency", "1", "--loglevel", "WARNING", "--hostname", hostname,
         "--queues", consume, "--without-mingle", "--without-gossip"]
    )  # fmt: skip


if args.worker:
    run_worker(*args.worker)
    sys.exit(0)

from config.tasks import echo  # noqa: E402
from datasources.models import DataSource  # noqa: E402
from executions import services  # noqa: E402
from executions.models import TERMINAL_STATUSES, ExecutionEvent, ExecutionStatus, PromptExecution  # noqa: E402
from tests.factories import make_user  # noqa: E402
from tests.fakes.openai_server import ScriptedModelServer, ScriptedReply, reply, tool_call  # noqa: E402
from workspaces import services as workspace_services  # noqa: E402
from workspaces.models import Role  # noqa: E402

QUICK = args.quick
# Fixed names (one run at a time), so that runs leave no broker keys behind but these queues' own.
QUEUE = "bench.turn_overhead"
IDLE_QUEUE = "bench.turn_overhead.idle"  # what the second worker listens to until it is wanted
HOSTNAMES = ("bench-turn-overhead-1@localhost", "bench-turn-overhead-2@localhost")
app.conf.task_default_queue = QUEUE  # before anything is published: execution_create enqueues turn 0 here

LATENCY_EXECUTIONS = 4 if QUICK else 30
LATENCY_WARMUP = 1 if QUICK else 2
ECHOES_BETWEEN = 10  # Celery round trips measured after each execution
BATCH = 12 if QUICK else 50  # executions submitted at once, per worker count
BATCH_WARMUP = 3 if QUICK else 4
STALL_SECONDS = 15
SQL = "SELECT count(*) AS n FROM billing_customers"
QUERY_TURNS = settings.MAX_LOOP_COUNT - 2
GOAL_RATIO = 6  # turn 1 classifies, the last allowed turn finishes


# --- set-up ------------------------------------------------------------------------------------


class Workers:
    """Solo worker subprocesses on the bench's queue, talking to the scripted model."""

    def __init__(self, model_url: str, log_dir: Path) -> None:
        self.env = {**os.environ, "OPENAI_BASE_URL": model_url, "OPENAI_API_KEY": "bench-key",
                    "MODEL_FALLBACKS": "", "PYTHONUNBUFFERED": "1"}  # fmt: skip
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, hostname: str, consume: str) -> str:
        with open(self.log_dir / f"{hostname.split('@')[0]}.log", "wb") as out:
            self.processes[hostname] = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--worker", QUEUE, hostname, consume],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return hostname

    def wait_ready(self, hostname: str) -> None:
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[hostname], timeout=0.5):
            if self.processes[hostname].poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the bench worker {hostname} did not start (logs: {self.log_dir})")

    def consume(self, hostname: str, queue: str) -> None:
        replies = app.control.add_consumer(queue, destination=[hostname], reply=True, timeout=5)
        if not replies:
            raise SystemExit(f"the bench worker {hostname} did not add the queue (logs: {self.log_dir})")

    def stop(self) -> None:
        stop_process(*self.processes.values())


# --- executions --------------------------------------------------------------------------------


def classify() -> ScriptedReply:
    return reply(tool_calls=[tool_call("classify_intent", {"intent": "DATA_QUERY", "confidence": 0.9, "reason": "b"})])


def query(source: DataSource) -> ScriptedReply:
    return reply(tool_calls=[tool_call("run_query", {"datasource_id": str(source.pk), "sql": SQL})])


def finish() -> ScriptedReply:
    return reply(tool_calls=[tool_call("finish", {"answer": "Counted.", "confidence": 0.9})])


def submit(model: ScriptedModelServer, user: User, source: DataSource, queries: int) -> PromptExecution:
    marker = f"[b{uuid.uuid4().hex[:12]}]"
    model.script(marker, [classify(), *[query(source) for _ in range(queries)], finish()])
    request = services.ExecuteRequest(
        prompt_text=f"How many billing customers are there? {marker}",
        workspace_id=source.workspace_id,
        selected_data_source_ids=[source.pk],
    )
    return services.execution_create(user=user, request=request)


def wait_terminal(ids: list[Any], timeout: float, log_dir: Path) -> None:
    """Until every execution is terminal; stops early when no event was written for STALL_SECONDS
    (a turn task that crashed leaves its execution to the sweeper, which the bench does not run)."""
    deadline = time.monotonic() + timeout
    last_count, last_change = -1, time.monotonic()
    while PromptExecution.objects.filter(pk__in=ids).exclude(status__in=TERMINAL_STATUSES).exists():
        now = time.monotonic()
        if now - last_change > 0.5:
            count = ExecutionEvent.objects.filter(execution_id__in=ids).count()
            if count != last_count:
                last_count, last_change = count, now
            elif now - last_change > STALL_SECONDS:
                fail(f"executions stalled (no new event for {STALL_SECONDS} s)", log_dir)
        if now > deadline:
            fail(f"executions did not finish within {timeout} s", log_dir)
        time.sleep(0.01)
    failed = list(
        PromptExecution.objects.filter(pk__in=ids)
        .exclude(status=ExecutionStatus.COMPLETED)
        .values_list("status", "error_code", "error_message")[:3]
    )
    if failed:
        fail(f"executions did not complete: {failed}", log_dir)


def fail(message: str, log_dir: Path) -> None:
    errors = [
        line[:600]
        for log in sorted(log_dir.glob("*.log"))
        for line in log.read_text(errors="replace").splitlines()
        if '"level": "ERROR"' in line or "Traceback" in line
    ]
    detail = "\n".join(errors[-3:])
    raise SystemExit(f"{message}; worker logs in {log_dir}" + (f", last errors:\n{detail}" if detail else ""))


def ms(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() * 1000


def turn_samples(ids: list[Any]) -> tuple[list[float], dict[str, list[float]]]:
    """The run_query turns' cycle times and their phases, from the events."""
    wanted = ("turn.started", "model.responded", "tool.requested", "tool.completed")
    stamps: dict[tuple[Any, int], dict[str, datetime]] = defaultdict(dict)
    model_ms: dict[tuple[Any, int], float] = {}
    for execution_id, type_, payload, created_at in ExecutionEvent.objects.filter(
        execution_id__in=ids, type__in=wanted
    ).values_list("execution_id", "type", "payload", "created_at"):
        key = (execution_id, int(payload["turn"]))
        stamps[key].setdefault(type_, created_at)
        if type_ == "model.responded":
            model_ms[key] = float(payload.get("latency_ms") or 0)
    cycles: list[float] = []
    phases: dict[str, list[float]] = defaultdict(list)
    for execution_id in ids:
        for index in range(2, 2 + QUERY_TURNS):
            this, following = stamps[(execution_id, index)], stamps[(execution_id, index + 1)]
            cycles.append(ms(following["turn.started"], this["turn.started"]))
            phases["model"].append(ms(this["model.responded"], this["turn.started"]))
            phases["model_http"].append(model_ms[(execution_id, index)])
            phases["announce"].append(ms(this["tool.requested"], this["model.responded"]))
            phases["run_query"].append(ms(this["tool.completed"], this["tool.requested"]))
            phases["handover"].append(ms(following["turn.started"], this["tool.completed"]))
    return cycles, phases


PHASES = {
    "model": "turn.started -> model.responded (commit, history, model, reply)",
    "model_http": "  of which the model call (client-side latency)",
    "announce": "model.responded -> tool.requested",
    "run_query": "tool.requested -> tool.completed (gateway, query)",
    "handover": "tool.completed -> next turn.started (the next claim)",
}


def echo_round_trips(n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        echo.delay("x").get(timeout=30)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def throughput(model: ScriptedModelServer, user: User, source: DataSource, log_dir: Path) -> float:
    warmup = [submit(model, user, source, 1).pk for _ in range(BATCH_WARMUP)]
    wait_terminal(warmup, 60, log_dir)
    started = time.perf_counter()
    ids = [submit(model, user, source, 1).pk for _ in range(BATCH)]
    wait_terminal(ids, 180, log_dir)
    elapsed = time.perf_counter() - started
    return round(BATCH / elapsed, 2)


# --- the bench ---------------------------------------------------------------------------------


def check_database() -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        raise SystemExit("the development database has unapplied migrations: run `make setup` first")


def purge_queues() -> None:
    with app.connection_for_write() as connection:
        for queue in (QUEUE, IDLE_QUEUE):
            Queue(queue).bind(connection.default_channel).purge()


def main() -> None:
    if QUERY_TURNS < 1:
        raise SystemExit("MAX_LOOP_COUNT must be at least 3 for this bench")
    check_database()
    workspace = bench_workspace("turn-bench", "Turn bench")
    user = make_user("bench-turns")
    workspace_services.membership_set(workspace=workspace, user=user, role=Role.ANALYST)
    source = customers_source(
        workspace, name="Turn bench SQLite", filename="turn-overhead.sqlite", table="billing_customers"
    )
    if app.control.ping(destination=list(HOSTNAMES), timeout=1):
        raise SystemExit(f"a bench worker of an earlier run still answers ({', '.join(HOSTNAMES)}): stop it first")
    purge_queues()  # what an interrupted earlier run left
    delete_executions(workspace)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-turn-overhead-"))
    with ScriptedModelServer() as model:
        workers = Workers(model.url, log_dir)
        try:
            first = workers.start(HOSTNAMES[0], QUEUE)
            second = workers.start(HOSTNAMES[1], IDLE_QUEUE)  # starts now, consumes the bench queue later
            workers.wait_ready(first)
            workers.wait_ready(second)

            # Turn latency: one execution at a time, Celery round trips in between.
            echo_round_trips(ECHOES_BETWEEN)  # warm-up
            for _ in range(LATENCY_WARMUP):
                wait_terminal([submit(model, user, source, QUERY_TURNS).pk], 60, log_dir)
            ids: list[Any] = []
            echoes: list[float] = []
            for _ in range(LATENCY_EXECUTIONS):
                execution = submit(model, user, source, QUERY_TURNS)
                wait_terminal([execution.pk], 60, log_dir)
                ids.append(execution.pk)
                echoes += echo_round_trips(ECHOES_BETWEEN)
            cycles, phases = turn_samples(ids)

            # Throughput with one, then two workers.
            per_second = {"1": throughput(model, user, source, log_dir)}
            workers.consume(second, QUEUE)
            per_second["2"] = throughput(model, user, source, log_dir)
        finally:
            workers.stop()
            purge_queues()
            delete_executions(workspace)
    shutil.rmtree(log_dir, ignore_errors=True)  # kept when the run failed

    turn, celery = percentiles(cycles), percentiles(echoes)
    ratio = round(turn["p50_ms"] / celery["p50_ms"], 2)
    phase_p50 = {key: round(statistics.median(phases[key]), 2) for key in PHASES}
    print(f"run_query turn cycle: p50 {turn['p50_ms']} ms, p95 {turn['p95_ms']} ms over {turn['n']} turns")
    print(f"bare Celery round trip (ops.echo): p50 {celery['p50_ms']} ms, p95 {celery['p95_ms']} ms")
    print(f"ratio turn / Celery (p50): {ratio} (goal: at most {GOAL_RATIO})")
    print("phases of a run_query turn, from the events (p50, ms):")
    for key, label in PHASES.items():
        print(f"  {label:<66} {phase_p50[key]:8.2f}")
    print(f"executions per second (classify -> run_query -> finish, batches of {BATCH}): {per_second}")
    report(
        "turn_overhead",
        {
            "turn_p50_ms": turn["p50_ms"],
            "turn_p95_ms": turn["p95_ms"],
            "turns": turn["n"],
            "celery_p50_ms": celery["p50_ms"],
            "celery_p95_ms": celery["p95_ms"],
            "ratio": ratio,
            "goal_ratio": GOAL_RATIO,
            "turn_phases_p50_ms": phase_p50,
            "executions_per_s": per_second,
            "batch": BATCH,
            "cpus": os.cpu_count(),
        },
    )


main()
