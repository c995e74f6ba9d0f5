"""The compliance scan finds personal data by name and by sampled values, and proposes masks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from django.conf import settings

from datasources import services
from datasources.catalog import catalog_apply
from governance.compliance import iban_valid, luhn_valid, propose_mask_policies, scan_datasource, value_kind

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("j.smith@example.com", "email"),
        ("+1-555-0134", "phone"),
        ("4111 1111 1111 1111", "card_number"),
        ("4111 1111 1111 1112", None),  # fails the Luhn check
        ("GB82 WEST 1234 5698 7654 32", "iban"),
        ("GB82WEST12345698765433", None),  # wrong check digits
        ("123-45-6789", "national_id"),
        ("000-12-3456", None),
        ("hello world", None),
    ],
)
def test_values_are_recognised(value, kind):
    assert value_kind(value) == kind


def test_checksums():
    assert luhn_valid("79927398713") is False  # too short for a card
    assert luhn_valid("4539578763621486")
    assert iban_valid("DE89370400440532013000")


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
