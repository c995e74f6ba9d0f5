from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from datasources import services
from datasources.catalog import catalog_apply
from datasources.demo import demo_data_load
from datasources.models import DataSource


@pytest.fixture(scope="session")
def demo_files() -> dict[str, Any]:
    """The demo dataset loaded once per run into the tests' own demo database and folder."""
    sources = demo_data_load()
    return {source.kind: source for source in sources}


@pytest.fixture
def sqlite_source(tenancy: Any, demo_files: dict[str, Any]) -> DataSource:
    source = demo_files["sqlite"]
    datasource = services.datasource_create(
        workspace=tenancy.acme, name="Acme SQLite", kind="sqlite", settings=source.settings
    )
    connector = services.connector_for(datasource)
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
