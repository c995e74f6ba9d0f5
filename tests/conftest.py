"""Shared fixtures: personas in two organisations, API clients, a real worker and ASGI server.

Alice owns Acme's workspace, Adam administers it, Ana is an analyst and Vic a viewer there.
Bob owns Globex's workspace and should have no access to any of Acme's stuff.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

from config.env import redis_url_with_db
from config.processes import stop_processes
from datasources import services as datasource_services
from datasources.catalog import catalog_apply
from datasources.demo import demo_data_load
from datasources.models import DataSource
from tests.factories import make_member, make_organization, make_workspace
from tests.fakes.openai_server import scripted_model  # noqa: F401  (a fixture, shared by every test)
from workspaces.models import Role, Workspace

ROOT = Path(__file__).resolve().parent.parent


def wait_for(predicate: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll until ``predicate`` returns something truthy; never a fixed sleep."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"{what} did not happen within {timeout} s (last error: {last_error!r})")


@pytest.fixture(scope="session", autouse=True)
def _clean_test_redis() -> None:
    """The test Redis databases start empty (the running studio's databases are left alone); a run
    with TEST_INSTANCE empties only its own keys, so another run can go on beside it."""
    for db in settings.TEST_REDIS_DBS:
        # The database in the URL's path wins over a db= argument: name it in the URL.
        client = redis.Redis.from_url(redis_url_with_db(settings.REDIS_URL, db))
        if not settings.TEST_INSTANCE:
            client.flushdb()
        else:
            patterns = (f"*psa-test_{settings.TEST_INSTANCE}*", f"{settings.CELERY_TASK_DEFAULT_QUEUE}*")
            for pattern in patterns:
                for key in client.scan_iter(match=pattern, count=1000):
                    client.delete(key)
        client.close()


@dataclass
class Tenancy:
    acme: Workspace
    globex: Workspace
    alice: Any
    adam: Any
    ana: Any
    vic: Any
    bob: Any


@pytest.fixture
def tenancy(db: None) -> Tenancy:
    acme = make_workspace(organization=make_organization("Acme", "acme-test"), name="Analytics")
    globex = make_workspace(organization=make_organization("Globex", "globex-test"), name="Ops")
    return Tenancy(
        acme=acme,
        globex=globex,
        alice=make_member(acme, "alice", Role.OWNER).user,
        adam=make_member(acme, "adam", Role.ADMIN).user,
        ana=make_member(acme, "ana", Role.ANALYST, {"region": "EMEA"}).user,
        vic=make_member(acme, "vic", Role.VIEWER, {"region": "NA"}).user,
        bob=make_member(globex, "bob", Role.OWNER).user,
    )


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for(api: APIClient) -> Callable[[Any], APIClient]:
    def login(user: Any) -> APIClient:
        if user is not None:
            api.force_authenticate(user)
        return api

    return login


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # the browser tests' own, never a server's
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings.test", "PYTHONUNBUFFERED": "1", **extra})
    return env


def _stop(process: subprocess.Popen[bytes]) -> None:
    stop_processes(process, timeout=15)


# What every worker of the run is started with: the scripted model (ai_model "offline" still picks
# the built-in one), and short leases so that the sweeper's recovery is quick to observe.
WORKER_ENV = {"OPENAI_API_KEY": "test-key", "TURN_LEASE_SECONDS": "3", "PSA_RETRY_MAX_DELAY": "2",
              "PSA_BACKOFF_COEFF": "2.0", "MODEL_FALLBACKS": ""}  # fmt: skip


class WorkerHandle:
    """The run's one Celery worker process, which fault tests kill (-9) and start again."""

    def __init__(self, log_dir: Path, model_url: str) -> None:
        self.log_dir = log_dir
        self.env = subprocess_env(OPENAI_BASE_URL=model_url, **WORKER_ENV)
        self.hostname = f"test-worker-{os.getpid()}@localhost"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.concurrency = 8  # threads of the worker's pool (the Procfile's pool, smaller)

    @property
    def log(self) -> Path:
        return self.log_dir / f"worker-{self.starts}.log"

    def start(self) -> None:
        from config.celery import app

        self.starts += 1
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "threads",
                 "--concurrency", str(self.concurrency),
                 "--loglevel", "INFO", "--hostname", self.hostname, "--without-mingle", "--without-gossip"],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        process = self.process
        wait_for(
            lambda: process.poll() is None and app.control.ping(destination=[self.hostname], timeout=0.5),
            timeout=60,
            what=f"the Celery worker answering (log: {self.log})",
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown, no ack, no cleanup, like a machine that dies."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None


@pytest.fixture(scope="session")
def worker(
    django_db_setup: None,
    tmp_path_factory: pytest.TempPathFactory,
    scripted_model: Any,  # noqa: F811  (the fixture imported above)
) -> Iterator[WorkerHandle]:
    handle = WorkerHandle(tmp_path_factory.mktemp("worker"), scripted_model.url)
    handle.start()
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="session")
def celery_worker(worker: WorkerHandle) -> str:
    """A real Celery worker process on the test broker and the test database."""
    if worker.process is None:
        worker.start()
    return worker.hostname


@contextmanager
def asgi_server(log_dir: Path, **env: str) -> Iterator[str]:
    """A real ASGI server (uvicorn + Channels) on a free port, on the test database, with ``env``
    on top of the tests' environment; its URL once it answers, stopped on exit."""
    import httpx

    port = _free_port()
    log = log_dir / "asgi.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
             "--lifespan", "off", "--ws", "websockets-sansio", "--no-access-log"],
            cwd=ROOT, env=subprocess_env(**env), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: process.poll() is None and httpx.get(f"{url}/api/schema/", timeout=2).status_code == 200,
            timeout=60,
            what=f"the ASGI server answering (log: {log})",
        )
        yield url
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def live_server_url(
    django_db_setup: None, celery_worker: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The real ASGI server on a free port, on the test database."""
    with asgi_server(tmp_path_factory.mktemp("asgi")) as url:
        yield url


# --- data sources shared by the datasources and governance tests ----------------------------


@pytest.fixture(scope="session")
def demo_files() -> dict[str, Any]:
    """The demo dataset loaded once per run into the tests' own demo database and folder."""
    sources = demo_data_load()
    return {source.kind: source for source in sources}


@pytest.fixture
def sqlite_source(tenancy: Any, demo_files: dict[str, Any]) -> DataSource:
    source = demo_files["sqlite"]
    datasource = datasource_services.datasource_create(
        workspace=tenancy.acme, name="Acme SQLite", kind="sqlite", settings=source.settings
    )
    connector = datasource_services.connector_for(datasource)
    catalog_apply(datasource=datasource, introspection=connector.introspect())
    datasource.refresh_from_db()
    return datasource


@pytest.fixture
def postgres_settings() -> dict[str, Any]:
    """Connection settings of the tests' demo database on our PostgreSQL server."""
    db = settings.DATABASES["default"]
    return {
        "settings": {
            "host": db["HOST"],
            "port": int(db["PORT"]),
            "database": settings.DEMO_DATABASE_NAME,
            "user": db["USER"],
        },
        "secrets": {"password": db["PASSWORD"]},
    }


@pytest.fixture
def files_root() -> Path:
    root = Path(settings.DATASOURCE_FILE_ROOTS[1])
    root.mkdir(parents=True, exist_ok=True)
    return root
