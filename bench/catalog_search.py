"""Catalog search latency over a 100,000-column catalog (10,000 tables x 10 columns).

The catalog is built once in its own workspace of the development database and reused. Each
prompt is searched uncached (the cache is bypassed) to measure the database query itself; the
cached figure is printed too. Goal: p95 at most 20 ms uncached.
"""

from __future__ import annotations

import random
import time

from _common import arguments, bench_workspace, measure, percentiles, report, setup_django

args = arguments(__doc__ or "")
setup_django()

from django.db import connection  # noqa: E402

from datasources import catalog  # noqa: E402
from datasources.connectors.base import IntrospectedColumn, IntrospectedTable, Introspection  # noqa: E402
from datasources.models import CatalogColumn, CatalogTermStat, DataSource  # noqa: E402

TABLES = 1_000 if args.quick else 10_000
COLUMNS_PER_TABLE = 10

AREAS = ["cust", "acct", "fin", "hr", "mkt", "ops", "sales", "inv", "prod", "web", "crm", "erp", "log", "sup",
         "ship", "pay", "bill", "risk", "legal", "it"]  # fmt: skip
NOUNS = ["customers", "accounts", "orders", "invoices", "payments", "products", "events", "sessions", "tickets",
         "deals", "contacts", "employees", "shipments", "returns", "refunds", "campaigns", "leads", "vendors",
         "contracts", "budgets", "assets", "licenses", "claims", "quotes", "subscriptions"]  # fmt: skip
SUFFIXES = ["", "daily", "hist", "raw", "stg", "agg", "snapshot", "archive", "v2", "monthly", "by_region",
            "by_country", "audit", "errors", "summary", "detail", "latest", "backfill", "tmp", "clean"]  # fmt: skip
COLUMNS = (
    "name email amount total created_at updated_at region status country owner price quantity currency category phone "
    "description score department segment revenue cost discount started_at ended_at channel source priority rating"
).split()
PROMPTS = [
    "top 10 customers by revenue last quarter", "how many open support tickets per region", "list billing tables",
    "average order amount by country", "which products have the highest refund rate", "payments by currency",
    "monthly subscriptions churn", "employees by department", "campaign leads conversion", "shipments delayed",
    "invoices overdue by account", "revenue per sales owner", "contracts expiring next month", "vendor budgets",
    "web sessions by channel", "cust accts with most deals", "risk claims summary", "licenses by asset owner",
    "daily events errors", "quotes versus orders by segment", "invocies", "refnds by product category",
]  # fmt: skip


def build_catalog() -> DataSource:
    workspace = bench_workspace(f"catalog-bench-{TABLES}", f"Catalog bench {TABLES}")
    datasource, _ = DataSource.objects.get_or_create(workspace=workspace, name="Big warehouse", kind="postgresql")
    present = CatalogColumn.objects.filter(table__datasource=datasource, is_present=True).count()
    stale = not CatalogTermStat.objects.filter(datasource=datasource).exists()
    if present == TABLES * COLUMNS_PER_TABLE and not stale:
        return datasource
    rng = random.Random(7)
    names = [
        f"{area}_{noun}" + (f"_{suffix}" if suffix else "") for area in AREAS for noun in NOUNS for suffix in SUFFIXES
    ]
    rng.shuffle(names)
    qualified = [
        (f"s{index % 50:02d}", names[index % len(names)] + (f"_{index // len(names)}" if index >= len(names) else ""))
        for index in range(TABLES)
    ]
    tables = []
    for index, (schema, name) in enumerate(qualified):
        columns = [IntrospectedColumn(name="id", ordinal=1, data_type="bigint", nullable=False, is_primary_key=True)]
        target_schema, target_name = qualified[rng.randrange(TABLES)]
        columns.append(
            IntrospectedColumn(name=f"{target_name.split('_')[1]}_id", ordinal=2, data_type="bigint", nullable=True,
                               fk_schema=target_schema, fk_table=target_name, fk_column="id")
        )  # fmt: skip
        for ordinal, column in enumerate(rng.sample(COLUMNS, COLUMNS_PER_TABLE - 2), start=3):
            columns.append(IntrospectedColumn(name=column, ordinal=ordinal, data_type="text", nullable=True))
        comment = f"{name.replace('_', ' ')} table of the {schema} area" if index % 3 == 0 else ""
        tables.append(IntrospectedTable(schema=schema, name=name, kind="table", row_estimate=rng.randrange(10**6),
                                        comment=comment, columns=tuple(columns)))  # fmt: skip
    started = time.perf_counter()
    catalog.catalog_apply(
        datasource=datasource, introspection=Introspection(server_version="bench", tables=tuple(tables))
    )
    with connection.cursor() as cursor:
        # Measure a settled catalog, not one that autovacuum is still working through.
        cursor.execute(
            "VACUUM (ANALYZE) datasources_catalogtable, datasources_catalogcolumn, datasources_catalogterm,"
            " datasources_catalogtermstat"
        )
    print(f"built {TABLES} tables / {TABLES * COLUMNS_PER_TABLE} columns in {time.perf_counter() - started:.1f} s")
    return datasource


def main() -> None:
    datasource = build_catalog()
    workspace_id = datasource.workspace_id
    limit = 10
    prompts = iter(PROMPTS * 1000)

    def uncached() -> None:
        terms = catalog._terms(next(prompts))
        assert terms is not None
        catalog._search(workspace_id, terms, [str(datasource.pk)], None, limit, table_count=TABLES)

    def cached() -> None:
        catalog.catalog_search(workspace_id=workspace_id, prompt=next(prompts), limit=limit)

    n = 100 if args.quick else 400
    figures = measure(uncached, n)
    per_prompt = {}
    for prompt in PROMPTS[:6]:
        terms = catalog._terms(prompt)
        assert terms is not None
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            catalog._search(workspace_id, terms, [str(datasource.pk)], None, limit, table_count=TABLES)
            samples.append((time.perf_counter() - started) * 1000)
        per_prompt[prompt] = percentiles(samples)["p50_ms"]
    example = catalog.catalog_search(workspace_id=workspace_id, prompt="top 10 customers by revenue", limit=5)
    print("example: top 10 customers by revenue ->", [m.qualified_name for m in example])
    report(
        "catalog_search",
        {
            **figures,
            "tables": TABLES,
            "columns": TABLES * COLUMNS_PER_TABLE,
            "cached": measure(cached, n),
            "p50_ms_by_prompt": per_prompt,
            "goal_p95_ms": 20,
        },
    )


main()
