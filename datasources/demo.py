"""The demo data sources of the demo workspace: Acme's data in PostgreSQL, SQLite and Parquet.

Loaded once per checkout (a marker under .local/demo records which dataset version is there),
registered as three data sources and introspected, so the catalog is ready when the studio opens.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from psycopg import sql

from datasources import services
from datasources.models import DataSource
from workspaces.models import Workspace

logger = logging.getLogger(__name__)

# Bump when the generator changes, so existing checkouts reload.
DATASET_VERSION = 1


@dataclass(frozen=True)
class DemoSource:
    name: str
    kind: str
    settings: dict[str, Any]
    secrets: dict[str, str]
    description: str


def demo_root() -> Path:
    return Path(settings.DEMO_DATA_DIR)


def postgres_server() -> dict[str, Any]:
    """Connection settings of our own PostgreSQL server (the one Django uses), without a database."""
    db = settings.DATABASES["default"]
    return {"host": db["HOST"] or "127.0.0.1", "port": int(db["PORT"] or 5432), "user": db["USER"],
            "password": db["PASSWORD"]}  # fmt: skip


def postgres_database_ensure(name: str) -> str | None:
    """Creates database ``name`` on our PostgreSQL server when missing, and returns its conninfo;
    None when the server does not allow it (a managed server without CREATEDB)."""
    server = postgres_server()
    try:
        with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **server) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        logger.warning("no PostgreSQL database %s: %s", name, exc)
        return None
    return psycopg.conninfo.make_conninfo(dbname=name, **server)


def demo_data_load(*, force: bool = False) -> list[DemoSource]:
    """Loads the dataset where it is missing or stale, and says which sources it makes."""
    from datasources.demo_data import load_all

    root = demo_root()
    root.mkdir(parents=True, exist_ok=True)
    marker = root / "loaded.json"
    sqlite_path, parquet_dir = root / "acme.sqlite", root / "parquet"
    conninfo = postgres_database_ensure(settings.DEMO_DATABASE_NAME)
    loaded = json.loads(marker.read_text()) if marker.exists() else {}
    if force or loaded.get("version") != DATASET_VERSION or loaded.get("postgres") != bool(conninfo):
        summaries = load_all(postgres_conninfo=conninfo, sqlite_path=sqlite_path, parquet_dir=parquet_dir)
        marker.write_text(json.dumps({"version": DATASET_VERSION, "postgres": bool(conninfo)}))
        for summary in summaries:
            logger.info("demo data loaded into %s: %s rows in %.1f s", summary.engine, summary.total_rows,
                        summary.elapsed_seconds)  # fmt: skip
    sources = []
    if conninfo:
        server = postgres_server()
        sources.append(
            DemoSource(
                name="Acme warehouse (PostgreSQL)",
                kind="postgresql",
                settings={
                    "host": server["host"],
                    "port": server["port"],
                    "database": settings.DEMO_DATABASE_NAME,
                    "user": server["user"],
                    "schemas": ["billing", "crm", "web"],
                },
                secrets={"password": server["password"]} if server["password"] else {},
                description="Billing, CRM and web events of Acme Corporation (demo data).",
            )
        )
    sources.append(
        DemoSource(
            name="Acme export (SQLite)",
            kind="sqlite",
            settings={"path": str(sqlite_path)},
            secrets={},
            description="The same data as a SQLite file; tables are named schema_table.",
        )
    )
    sources.append(
        DemoSource(
            name="Acme lake (Parquet files)",
            kind="files",
            settings={"path": str(parquet_dir)},
            secrets={},
            description="The same data as Parquet files; web_events is a folder of parts.",
        )
    )
    return sources


def demo_datasources_ensure(*, workspace: Workspace, force: bool = False) -> list[DataSource]:
    """Registers the demo sources in the workspace (once) and brings their catalogs up to date."""
    datasources = []
    for source in demo_data_load(force=force):
        datasource = DataSource.objects.filter(workspace=workspace, name=source.name).first()
        if datasource is None:
            datasource = services.datasource_create(
                workspace=workspace,
                name=source.name,
                kind=source.kind,
                settings=source.settings,
                secrets=source.secrets,
                description=source.description,
            )
        elif datasource.settings != source.settings or datasource.secrets != source.secrets:
            # The embedded server may have moved to another port since the last run.
            datasource = services.datasource_update(
                datasource=datasource, settings=source.settings, secrets=source.secrets
            )
        if force or datasource.last_introspected_at is None or datasource.status != "ready":
            services.datasource_introspect(datasource_id=datasource.pk)
            datasource.refresh_from_db()
        datasources.append(datasource)
    return datasources
