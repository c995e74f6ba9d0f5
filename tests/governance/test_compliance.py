"""The compliance scan finds personal data by name and by sampled values, and proposes masks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from django.conf import settings

from datasources import services
from datasources.catalog import catalog_apply
from governance.compliance import name_kind, propose_mask_policies, scan_datasource

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("column", "data_type", "kind"),
    [
        ("email", "varchar(200)", "email"),
        ("customerPhone", "text", "phone"),
        ("date_of_birth", "date", "date_of_birth"),
        ("iban", "text", "iban"),
        ("email_verified", "boolean", None),
        ("title", "text", None),
    ],
)
def test_names_alone_say_what_a_column_may_hold(column, data_type, kind):
    assert name_kind(column, data_type) == kind


def test_the_scan_finds_personal_columns_in_the_demo_data(tenancy, sqlite_source):
    findings = {(f.table, f.column): f for f in scan_datasource(datasource=sqlite_source, tables=["crm_contacts"])}
    assert findings[("crm_contacts", "email")].evidence == "name and values"
    assert findings[("crm_contacts", "phone")].kind == "phone"
    assert findings[("crm_contacts", "date_of_birth")].kind == "date_of_birth"
    assert ("crm_contacts", "title") not in findings


def test_values_give_away_columns_whose_names_do_not(tenancy):
    folder = Path(settings.DATASOURCE_FILE_ROOTS[1])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "notes.sqlite"
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE tickets (id INTEGER PRIMARY KEY, note TEXT, ref TEXT)")
        conn.executemany(
            "INSERT INTO tickets (note, ref) VALUES (?, ?)",
            [("4539578763621486", f"T-{i}") for i in range(20)] + [("4111111111111111", "T-x")],
        )
    source = services.datasource_create(workspace=tenancy.acme, name="Notes", kind="sqlite",
                                        settings={"path": str(path)})  # fmt: skip
    catalog_apply(datasource=source, introspection=services.connector_for(source).introspect())
    findings = scan_datasource(datasource=source)
    assert [(f.column, f.kind, f.evidence) for f in findings] == [("note", "card_number", "values")]
    (policy,) = propose_mask_policies(datasource=source, findings=findings)
    assert (policy.column_name, policy.strategy, policy.pk) == ("note", "partial", None)
