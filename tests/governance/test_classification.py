"""Classification on every catalog read, on every connector: a refresh of a PostgreSQL, MySQL,
SQLite or files source tags its columns from their names and from sampled values, and a second
read keeps what a person decided."""

from __future__ import annotations

import csv
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import phonenumbers
import psycopg
import pymysql
import pytest
from django.conf import settings

from datasources import services as datasource_services
from datasources.models import DataSource
from governance.classification import column_tag_review, tag_create
from governance.models import AuditEvent, ColumnTag

pytestmark = pytest.mark.django_db

IBANS = ["GB82WEST12345698765432", "DE89370400440532013000", "FR1420041010050500013M02606", "NL91ABNA0417164300",
         "ES9121000418450200051332"]  # fmt: skip
REGIONS = ["EMEA", "NA", "APAC", "LATAM"]
COLUMNS = ("id", "contact", "reach", "acct", "email", "area", "note")


def _phones() -> list[str]:
    numbers = [phonenumbers.example_number(region) for region in ("GB", "DE", "FR", "US", "NL", "ES", "IT")]
    return [phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.INTERNATIONAL) for n in numbers if n]


def rows() -> list[tuple[Any, ...]]:
    """Columns whose names say nothing (contact, reach, acct, area): only their values tell."""
    phones = _phones()
    return [
        (i, f"person{i}@example.com", phones[i % len(phones)], IBANS[i % len(IBANS)], f"p{i}@example.org",
         REGIONS[i % 4], f"called on day {i}")
        for i in range(1, 41)
    ]  # fmt: skip


EXPECTED = {("contact", "pii.email"), ("reach", "pii.phone"), ("acct", "pii.iban"), ("email", "pii.email"),
            ("area", "region")}  # fmt: skip


def _register(tenancy: Any, kind: str, settings_: dict[str, Any], secrets: dict[str, Any] | None = None) -> DataSource:
    return datasource_services.datasource_create(
        workspace=tenancy.acme, name=f"{kind} {uuid.uuid4().hex[:6]}", kind=kind, settings=settings_,
        secrets=secrets or {},
    )  # fmt: skip


@pytest.fixture
def postgres_people(tenancy: Any, postgres_settings: dict[str, Any]) -> Iterator[DataSource]:
    db = settings.DATABASES["default"]
    name = f"psa_classify_{os.getpid()}"
    server: dict[str, Any] = {"host": db["HOST"], "port": db["PORT"], "user": db["USER"], "password": db["PASSWORD"]}
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(dbname=name, autocommit=True, **server) as conn:
            conn.execute("CREATE TABLE people (id int PRIMARY KEY, contact text, reach text, acct varchar(40), "
                         "email text, area text, note text)")  # fmt: skip
            with conn.cursor() as cursor:
                cursor.executemany("INSERT INTO people VALUES (%s, %s, %s, %s, %s, %s, %s)", rows())
        yield _register(tenancy, "postgresql", {**postgres_settings["settings"], "database": name},
                        postgres_settings["secrets"])  # fmt: skip
    finally:
        from datasources.connectors.postgres import close_pools

        close_pools()
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def mysql_people(tenancy: Any) -> Iterator[DataSource]:
    url = os.environ.get("TEST_MYSQL_URL")
    if not url:
        pytest.skip("TEST_MYSQL_URL is not set: the MySQL/MariaDB classification case needs a server")
    parts = urlsplit(url)
    server: dict[str, Any] = {"host": parts.hostname or "127.0.0.1", "port": parts.port or 3306,
              "user": unquote(parts.username or "root"), "password": unquote(parts.password or "")}  # fmt: skip
    name = f"psa_classify_{os.getpid()}"
    admin = pymysql.connect(autocommit=True, **server)
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute(f"CREATE DATABASE `{name}`")
        cursor.execute(f"CREATE TABLE `{name}`.people (id INT PRIMARY KEY, contact TEXT, reach VARCHAR(40), "
                       "acct VARCHAR(40), email TEXT, area VARCHAR(10), note TEXT)")  # fmt: skip
        cursor.executemany(f"INSERT INTO `{name}`.people VALUES (%s, %s, %s, %s, %s, %s, %s)", rows())
    try:
        yield _register(tenancy, "mysql", {"host": server["host"], "port": server["port"], "database": name,
                                           "user": server["user"]},
                        {"password": server["password"]} if server["password"] else {})  # fmt: skip
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture
def sqlite_people(tenancy: Any, files_root: Path) -> DataSource:
    path = files_root / f"people-{uuid.uuid4().hex[:8]}.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, contact TEXT, reach TEXT, acct TEXT, email TEXT, "
                     "area TEXT, note TEXT)")  # fmt: skip
        conn.executemany("INSERT INTO people VALUES (?, ?, ?, ?, ?, ?, ?)", rows())
    return _register(tenancy, "sqlite", {"path": str(path)})


@pytest.fixture
def files_people(tenancy: Any, files_root: Path) -> DataSource:
    folder = files_root / f"people-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    with open(folder / "people.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows(rows())
    return _register(tenancy, "files", {"path": str(folder)})


SOURCES = ["postgres_people", "mysql_people", "sqlite_people", "files_people"]


def tags_of(source: DataSource) -> dict[tuple[str, str], ColumnTag]:
    found = ColumnTag.objects.filter(datasource=source).select_related("column__table")
    return {(t.column.name, t.tag): t for t in found if t.column.table.name in ("people", "people.csv")}


@pytest.mark.parametrize("fixture", SOURCES)
def test_a_refresh_tags_columns_from_names_and_values_and_keeps_decisions(
    tenancy: Any, request: pytest.FixtureRequest, fixture: str
) -> None:
    tag_create(workspace_id=tenancy.acme.pk, name="region", values=REGIONS)
    source: DataSource = request.getfixturevalue(fixture)

    datasource_services.datasource_introspect(datasource_id=source.pk)

    tags = tags_of(source)
    assert set(tags) == EXPECTED, sorted(tags)
    assert all(t.source == "detected" and t.state == "detected" and t.confidence for t in tags.values())
    assert "values" in tags[("contact", "pii.email")].evidence
    for value in (r[1] for r in rows()):
        assert value not in " ".join(t.evidence for t in tags.values())  # never a sampled value

    column_tag_review(column_tag=tags[("acct", "pii.iban")], state="confirmed", user=tenancy.alice)
    column_tag_review(column_tag=tags[("area", "region")], state="rejected", user=tenancy.alice)

    datasource_services.datasource_introspect(datasource_id=source.pk)  # a refresh: the same read again

    again = tags_of(source)
    assert set(again) == EXPECTED
    assert again[("acct", "pii.iban")].state == "confirmed"
    assert again[("area", "region")].state == "rejected"
    assert again[("area", "region")].reviewed_by == tenancy.alice
    assert AuditEvent.objects.filter(tool="column_tag.review").count() == 2


def test_a_table_that_cannot_be_sampled_is_still_classified_by_its_names(
    tenancy: Any, sqlite_people: DataSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "CLASSIFY_SAMPLE_BUDGET_SECONDS", 0)  # no time for samples at all
    datasource_services.datasource_introspect(datasource_id=sqlite_people.pk)
    assert set(tags_of(sqlite_people)) == {("email", "pii.email")}


def test_refresh_progress_reaches_100_through_classification(tenancy: Any, sqlite_people: DataSource) -> None:
    datasource_services.datasource_introspect(datasource_id=sqlite_people.pk)
    sqlite_people.refresh_from_db()
    assert (sqlite_people.status, sqlite_people.introspection_progress) == ("ready", 100)
