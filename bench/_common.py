"""Shared set-up for benchmarks: Django on the development database, quiet logs, percentiles."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def arguments(description: str, **options: tuple[type, Any, str]) -> argparse.Namespace:
    """``--quick``, and the bench's own ``name=(type, default, help)`` options as ``--name``."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smaller run that finishes in under 45 seconds")
    for name, (kind, default, text) in options.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=default, help=text)
    return parser.parse_args()


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 3),
        "n": len(ordered),
    }


def measure(fn: Callable[[], object], n: int, warmup: int = 10) -> dict[str, float]:
    for _ in range(min(warmup, n)):
        fn()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


def report(name: str, figures: dict[str, Any]) -> None:
    """Human-readable lines first; the last line is one JSON object (what make bench collects)."""
    print(json.dumps({"bench": name, **figures}, separators=(",", ":")))


def bench_workspace(slug: str, name: str) -> Any:
    """A workspace of the "bench" organisation, created once, so demo data and logins stay untouched."""
    from workspaces import services
    from workspaces.models import Organization, Workspace

    workspace = Workspace.objects.filter(slug=slug, organization__slug="bench").first()
    if workspace is not None:
        return workspace
    organization = Organization.objects.filter(slug="bench").first() or services.organization_create(
        name="Bench", slug="bench"
    )
    return services.workspace_create(organization=organization, name=name, slug=slug)


def delete_executions(workspace: Any) -> None:
    """Removes a bench workspace's executions and prompts with their object permissions (audit rows
    stay: the audit chain is append-only)."""
    from django.contrib.contenttypes.models import ContentType
    from guardian.models import GroupObjectPermission, UserObjectPermission

    from executions.models import PromptExecution
    from prompts.models import Prompt

    for model in (PromptExecution, Prompt):
        ids = [str(pk) for pk in model.objects.filter(workspace=workspace).values_list("pk", flat=True)]
        kind = ContentType.objects.get_for_model(model)
        for permissions in (UserObjectPermission, GroupObjectPermission):
            permissions.objects.filter(content_type=kind, object_pk__in=ids).delete()
        model.objects.filter(workspace=workspace).delete()


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on now, for a server the bench starts."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def customers_source(workspace: Any, *, name: str, filename: str, table: str = "customers") -> Any:
    """A small SQLite file under the files root (one table of 500 customers with a region),
    registered once as a data source of ``workspace`` and introspected."""
    import sqlite3

    from django.conf import settings

    from datasources import services
    from datasources.catalog import catalog_apply
    from datasources.models import DataSource

    path = Path(settings.DATASOURCE_FILE_ROOTS[1]) / "bench" / filename
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        with sqlite3.connect(partial) as db:
            db.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, region TEXT)")
            db.executemany(f"INSERT INTO {table} (id, name, region) VALUES (?, ?, ?)",
                           [(i, f"Customer {i}", ("EMEA", "NA", "APAC")[i % 3]) for i in range(1, 501)])  # fmt: skip
        db.close()
        partial.replace(path)
    source = DataSource.objects.filter(workspace=workspace, name=name).first()
    if source is None:
        source = services.datasource_create(workspace=workspace, name=name, kind="sqlite", settings={"path": str(path)})
    catalog_apply(datasource=source, introspection=services.connector_for(source).introspect())
    source.refresh_from_db()
    return source


def stop_process(*processes: Any, timeout: float = 20) -> None:
    """Stops the servers or workers the bench started (killed if they do not stop in ``timeout``)."""
    from config.processes import stop_processes

    stop_processes(*processes, timeout=timeout)
