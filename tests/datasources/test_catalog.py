"""The catalog: incremental refresh with stable ids, and search that finds what a prompt means."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from datasources.catalog import catalog_apply, catalog_search
from datasources.connectors.base import IntrospectedColumn, IntrospectedTable, Introspection
from datasources.models import CatalogColumn, CatalogTable, DataSource
from datasources.vocabulary import expand_word, index_tokens, name_tokens, prompt_words

pytestmark = pytest.mark.django_db


def col(name, ordinal, data_type="integer", pk=False, fk=None, comment=""):
    schema, table, column = fk if fk else ("", "", "")
    return IntrospectedColumn(
        name=name, ordinal=ordinal, data_type=data_type, nullable=not pk, is_primary_key=pk, comment=comment,
        fk_schema=schema, fk_table=table, fk_column=column,
    )  # fmt: skip


def table(name, columns, schema="billing", comment="", kind="table"):
    return IntrospectedTable(schema=schema, name=name, kind=kind, row_estimate=100, comment=comment,
                             columns=tuple(columns))  # fmt: skip


BILLING = (
    table("cust_accounts", [col("id", 1, pk=True), col("cust_name", 2, "text"), col("region", 3, "text")],
          comment="Customer accounts"),
    table("invoices", [col("id", 1, pk=True), col("account_id", 2, fk=("billing", "cust_accounts", "id")),
                       col("total_amount", 3, "numeric"), col("issued_at", 4, "date")]),
    table("products", [col("id", 1, pk=True), col("sku", 2, "text"), col("unit_price", 3, "numeric")]),
    table("invoice_lines", [col("id", 1, pk=True), col("invoice_id", 2, fk=("billing", "invoices", "id")),
                            col("product_id", 3, fk=("billing", "products", "id")), col("qty", 4)]),
    table("support_tickets", [col("id", 1, pk=True), col("subject", 2, "text"),
                              col("satisfaction", 3, comment="CSAT score 1-5")], schema="crm"),
    table("web_events", [col("id", 1, pk=True), col("page", 2, "text"), col("occurred_at", 3, "timestamp")],
          schema="web"),
)  # fmt: skip


@pytest.fixture
def source(tenancy):
    cache.clear()
    datasource = DataSource.objects.create(workspace=tenancy.acme, name="Warehouse", kind="postgresql")
    catalog_apply(datasource=datasource, introspection=Introspection(server_version="PostgreSQL 18", tables=BILLING))
    return datasource


def names(matches):
    return [m.name for m in matches]


def test_words_of_names_and_prompts():
    assert name_tokens("custAccounts_2024") == ["cust", "accounts", "2024"]
    assert index_tokens("invoice_lines") == ["invoice", "lines", "line"]
    assert prompt_words("Show me the TOP 10 customers by revenue!") == ["customers", "revenue"]
    assert "cust" in expand_word("customers")
    assert "amount" in expand_word("revenue")


def test_apply_stores_tables_columns_keys_and_resolves_foreign_keys(source):
    assert CatalogTable.objects.filter(datasource=source, is_present=True).count() == 6
    fk = CatalogColumn.objects.get(table__name="invoice_lines", name="product_id")
    assert fk.fk_table == CatalogTable.objects.get(name="products")
    source.refresh_from_db()
    assert (source.status, source.catalog_version, source.introspection_progress) == ("ready", 1, 100)
    assert source.server_version == "PostgreSQL 18"


def test_a_refresh_keeps_ids_marks_removed_tables_and_brings_them_back(source):
    ids = dict(CatalogTable.objects.values_list("name", "id"))
    column_id = CatalogColumn.objects.get(table__name="invoices", name="total_amount").id
    smaller = tuple(t for t in BILLING if t.name != "products")
    catalog_apply(datasource=source, introspection=Introspection(server_version="PostgreSQL 18", tables=smaller))

    assert dict(CatalogTable.objects.values_list("name", "id")) == ids
    assert CatalogColumn.objects.get(table__name="invoices", name="total_amount").id == column_id
    assert not CatalogTable.objects.get(name="products").is_present
    assert CatalogColumn.objects.get(table__name="invoice_lines", name="product_id").fk_table is None

    catalog_apply(datasource=source, introspection=Introspection(server_version="PostgreSQL 18", tables=BILLING))
    assert CatalogTable.objects.get(name="products").is_present
    assert dict(CatalogTable.objects.values_list("name", "id")) == ids
    source.refresh_from_db()
    assert source.catalog_version == 3


@pytest.mark.parametrize(
    ("prompt", "expected_first"),
    [
        ("top customers", "cust_accounts"),  # word parts: customer -> cust
        ("list invoices issued last quarter", "invoices"),
        ("average satisfaction of tickets", "support_tickets"),  # column name and comment
        ("page views on the website", "web_events"),
        ("products by unit price", "products"),
        ("invocies", "invoices"),  # a typo, through pg_trgm
    ],
)
def test_search_finds_the_table_a_prompt_is_about(source, tenancy, prompt, expected_first):
    matches = catalog_search(workspace_id=tenancy.acme.pk, prompt=prompt)
    assert matches, prompt
    assert matches[0].name == expected_first, [(m.name, m.score, m.reasons) for m in matches]


def test_search_brings_the_table_that_joins_two_matches(source, tenancy):
    matches = catalog_search(workspace_id=tenancy.acme.pk, prompt="revenue per product from invoices")
    assert {"invoices", "products", "invoice_lines"} <= set(names(matches))
    lines = next(m for m in matches if m.name == "invoice_lines")
    assert any("foreign key" in reason or "joins" in reason for reason in lines.reasons)


def test_search_returns_relevant_columns_with_keys(source, tenancy):
    (first, *_) = catalog_search(workspace_id=tenancy.acme.pk, prompt="customer region")
    assert first.name == "cust_accounts"
    columns = {c.name: c for c in first.columns}
    assert columns["region"].matched
    assert columns["id"].is_primary_key
    matches = catalog_search(workspace_id=tenancy.acme.pk, prompt="invoice account")
    invoices = next(m for m in matches if m.name == "invoices")
    assert {c.name: c.references for c in invoices.columns}["account_id"] == "billing.cust_accounts.id"


def test_search_honours_filters_limit_and_the_workspace(source, tenancy):
    assert names(catalog_search(workspace_id=tenancy.acme.pk, prompt="tickets events", schema_names=["web"])) == [
        "web_events"
    ]
    assert len(catalog_search(workspace_id=tenancy.acme.pk, prompt="id", limit=2)) <= 2
    assert catalog_search(workspace_id=tenancy.globex.pk, prompt="invoices") == []
    other = DataSource.objects.create(workspace=tenancy.acme, name="Other", kind="sqlite")
    assert catalog_search(workspace_id=tenancy.acme.pk, prompt="invoices", datasource_ids=[other.pk]) == []


def test_search_results_are_cached_until_the_next_refresh(source, tenancy, django_assert_num_queries):
    first = catalog_search(workspace_id=tenancy.acme.pk, prompt="invoices")
    with django_assert_num_queries(1):  # only the catalog versions are read
        assert catalog_search(workspace_id=tenancy.acme.pk, prompt="invoices") == first
    renamed = tuple(table("bills", t.columns) if t.name == "invoices" else t for t in BILLING)
    catalog_apply(datasource=source, introspection=Introspection(server_version="PostgreSQL 18", tables=renamed))
    after = names(catalog_search(workspace_id=tenancy.acme.pk, prompt="invoices"))
    assert "bills" in after  # a synonym of invoice
    assert "invoices" not in after


def test_a_prompt_with_no_content_words_finds_nothing(source, tenancy):
    assert catalog_search(workspace_id=tenancy.acme.pk, prompt="show me the") == []
