"""Cost of the SQL firewall: check + rewrite, against a bare sqlglot parse + generate of the same SQL.

The policy is the demo schema (PostgreSQL dialect) with row filters on the regional tables, masks on
personal columns, and one hidden table. No database is touched: this measures the firewall alone.
Goal: complex queries p50 at most 5 ms. The firewall reuses a table's protected SELECT across checks
(by content); "cold" is the same check with that cache cleared first, as after a policy change.

"tag_policies" is the whole rewrite as the gateway does it for one statement, with 50 tag policies
over a catalog of 200 tables in the development database: the member's rules read from PostgreSQL
(one round trip: the named tables, their columns' tags, the policies) and resolved, then the
firewall's check and rewrite of the complex query. Goal: p50 at most 5 ms. The last line is JSON:
{"simple": {"p50_ms", "p95_ms", "ratio"}, "medium": {...}, "complex": {...}, "tag_policies": {...}}.
"""

from __future__ import annotations

import time
from typing import Any

import sqlglot
from _common import arguments, bench_workspace, percentiles, report, setup_django
from sqlglot import exp

args = arguments(__doc__ or "")
setup_django()

from datasources.demo_data import TABLES  # noqa: E402
from governance.firewall import FirewallPolicy, MaskStrategy, VisibleTable, check_sql, clear_cache  # noqa: E402

MASKS = {"email": MaskStrategy.PARTIAL, "phone": MaskStrategy.REDACT, "date_of_birth": MaskStrategy.NULL,
         "card_last4": MaskStrategy.REDACT}  # fmt: skip
HIDDEN = {"billing.payments"}


def policy() -> FirewallPolicy:
    tables = []
    for table in TABLES:
        if table.qualified_name in HIDDEN:
            continue
        names = tuple(c.name for c in table.columns)
        row_filter = sqlglot.parse_one("region = 'EMEA'", read="postgres") if "region" in names else None
        tables.append(
            VisibleTable(
                schema=table.schema,
                name=table.name,
                columns=names,
                row_filter=row_filter,
                masks={c: m for c, m in MASKS.items() if c in names},
                policies=("EMEA only",) if row_filter is not None else (),
            )
        )
    return FirewallPolicy(dialect="postgres", tables=tuple(tables), max_rows=1000, default_schema="public")


QUERIES = {
    "simple": "SELECT first_name, email FROM crm.contacts WHERE department = 'sales' ORDER BY last_name LIMIT 20",
    "medium": """
        SELECT c.name, c.region, count(i.id) AS invoices, sum(i.total_amount) AS revenue
          FROM billing.customers c
          JOIN billing.accounts a ON a.customer_id = c.id
          JOIN billing.invoices i ON i.account_id = a.id
         WHERE i.issued_at >= DATE '2026-07-01' AND i.status <> 'void'
         GROUP BY c.name, c.region
        HAVING sum(i.total_amount) > 1000
         ORDER BY revenue DESC
         LIMIT 10""",
    "complex": """
        WITH recent AS (
            SELECT a.customer_id, i.id, i.total_amount, i.issued_at,
                   row_number() OVER (PARTITION BY a.customer_id ORDER BY i.issued_at DESC) AS rn
              FROM billing.invoices i JOIN billing.accounts a ON a.id = i.account_id
             WHERE i.issued_at >= DATE '2026-01-01'
        ), tickets AS (
            SELECT customer_id, count(*) AS open_tickets, avg(satisfaction) AS csat
              FROM crm.support_tickets WHERE status <> 'closed' GROUP BY customer_id
        )
        SELECT c.name, c.email, r.total_amount, t.open_tickets, t.csat,
               CASE WHEN t.csat < 3 THEN 'at risk' ELSE 'ok' END AS health,
               (SELECT count(*) FROM crm.contacts ct WHERE ct.customer_id = c.id) AS contacts,
               rank() OVER (ORDER BY r.total_amount DESC) AS revenue_rank
          FROM billing.customers c
          JOIN recent r ON r.customer_id = c.id AND r.rn = 1
          LEFT JOIN tickets t ON t.customer_id = c.id
         WHERE EXISTS (SELECT 1 FROM billing.subscriptions s JOIN billing.accounts a2 ON a2.id = s.account_id
                        WHERE a2.customer_id = c.id AND s.status = 'active')
        UNION ALL
        SELECT co.name, NULL, d.amount, NULL, NULL, d.stage, NULL, NULL
          FROM crm.deals d JOIN crm.companies co ON co.id = d.company_id
         WHERE d.stage = 'won'""",
}


def bare(sql: str) -> None:
    tree = sqlglot.parse_one(sql, read="postgres")
    assert isinstance(tree, exp.Expression)
    tree.sql(dialect="postgres", copy=False)  # a fresh tree: no copy, like the firewall


TAG_TABLES = 200
TAG_POLICIES = 50


def tag_catalog() -> Any:
    """A 200-table catalog (the demo's 13 and 187 more), every personal-looking column tagged, and
    50 tag policies (masks and row filters over 9 built-in and 41 workspace tags); built once."""
    from django.contrib.auth import get_user_model

    from datasources.catalog import catalog_apply
    from datasources.connectors.base import IntrospectedColumn, IntrospectedTable, Introspection
    from datasources.models import CatalogColumn, DataSource
    from governance import services
    from governance.classification import ReadClassification, column_tags_store, tag_create
    from governance.detect import Detection
    from governance.models import Tag, TagMaskPolicy, TagRowFilterPolicy
    from governance.tags import BUILTIN_TAGS
    from workspaces import services as workspace_services
    from workspaces.models import Membership

    workspace = bench_workspace("tag-policies-bench", "Tag policies bench")
    datasource, _ = DataSource.objects.get_or_create(workspace=workspace, name="Tagged warehouse", kind="postgresql")
    user, _ = get_user_model().objects.get_or_create(username="bench-tag-analyst")
    workspace_services.membership_set(workspace=workspace, user=user, role="analyst", attributes={"region": "EMEA"})
    membership = Membership.objects.select_related("workspace", "user").get(workspace=workspace, user=user)
    if (
        TagMaskPolicy.objects.filter(workspace=workspace).count()
        + TagRowFilterPolicy.objects.filter(workspace=workspace).count()
        == TAG_POLICIES
        and CatalogColumn.objects.filter(table__datasource=datasource).count()
    ):
        return datasource, membership
    custom = [f"area_{i:02d}" for i in range(41)]
    for name in custom:
        if not Tag.objects.filter(workspace=workspace, name=name).exists():
            tag_create(workspace_id=workspace.pk, name=name)
    if not Tag.objects.filter(workspace=workspace, name="region").exists():
        tag_create(workspace_id=workspace.pk, name="region")
    tables = [
        IntrospectedTable(
            schema=t.schema,
            name=t.name,
            kind="table",
            row_estimate=None,
            comment="",
            columns=tuple(
                IntrospectedColumn(name=c.name, ordinal=i, data_type="text", nullable=True)
                for i, c in enumerate(t.columns, start=1)
            ),
        )
        for t in TABLES
    ]
    for index in range(TAG_TABLES - len(tables)):
        names = ["id", "email", "phone", "region", "amount", *(f"{custom[(index + k) % 41]}_value" for k in range(7))]
        tables.append(
            IntrospectedTable(
                schema=f"s{index % 10}",
                name=f"table_{index:03d}",
                kind="table",
                row_estimate=None,
                comment="",
                columns=tuple(
                    IntrospectedColumn(name=n, ordinal=i, data_type="text", nullable=True)
                    for i, n in enumerate(names, 1)
                ),
            )
        )
    catalog_apply(datasource=datasource, introspection=Introspection(server_version="bench", tables=tuple(tables)))
    detections: dict[Any, Any] = {}
    by_name = {
        "email": "pii.email",
        "phone": "pii.phone",
        "first_name": "pii.person_name",
        "last_name": "pii.person_name",
        "date_of_birth": "pii.date_of_birth",
        "card_last4": "pii.card_number",
        "region": "region",
    }
    for table in tables:
        for column in table.columns:
            tag = by_name.get(column.name) or (column.name[:-6] if column.name.endswith("_value") else None)
            if tag:
                detections[(table.schema, table.name, column.name)] = (Detection(tag, 0.9, "bench"),)
    column_tags_store(datasource=datasource, classification=ReadClassification(detections, 0, 0))
    TagMaskPolicy.objects.filter(workspace=workspace).delete()
    TagRowFilterPolicy.objects.filter(workspace=workspace).delete()
    strategies = ["partial", "redact", "null", "hash", "redact"]
    masked = [*BUILTIN_TAGS, *custom[:30]]  # 39 masks
    for index, tag in enumerate(masked):
        services.tag_mask_policy_create(
            workspace=workspace, tag=tag, strategy=strategies[index % 5], name=f"Mask {tag}"
        )
    services.tag_row_filter_policy_create(
        workspace=workspace,
        tag="region",
        predicate="{{ column }} = {{ user.region }}",
        table_tags=["pii.*"],
        name="Own region",
    )
    for tag in custom[30:40]:  # 10 more row filters
        services.tag_row_filter_policy_create(
            workspace=workspace, tag=tag, predicate="{{ column }} <> 'secret'", name=f"Rows by {tag}"
        )
    return datasource, membership


def tag_policies_case(n: int) -> dict[str, Any]:
    from governance.policies import default_schema, dialect_of, member_rules, visible_table

    datasource, membership = tag_catalog()
    sql = QUERIES["complex"]
    names = {t.name.lower() for t in sqlglot.parse_one(sql, read="postgres").find_all(exp.Table)}

    def rewrite() -> Any:
        rules, _ = member_rules(membership=membership, datasource=datasource, only=names)
        firewall_policy = FirewallPolicy(
            dialect=dialect_of(datasource),
            tables=tuple(visible_table(t) for t in rules.values()),
            max_rows=1000,
            default_schema=default_schema(datasource),
        )
        return check_sql(sql, firewall_policy)

    decision = rewrite()
    assert decision.allowed, (decision.code, decision.reason)
    resolve, whole = [], []
    for _ in range(n):
        started = time.perf_counter()
        member_rules(membership=membership, datasource=datasource, only=names)
        resolve.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        rewrite()
        whole.append((time.perf_counter() - started) * 1000)
    figures = {
        **percentiles(whole),
        "resolve_p50_ms": percentiles(resolve)["p50_ms"],
        "tables": TAG_TABLES,
        "policies": TAG_POLICIES,
        "policies_applied": len(decision.policies_applied),
    }
    print(
        f"tag_policies: rules read + rewrite p50 {figures['p50_ms']} ms (of which reading the rules "
        f"{figures['resolve_p50_ms']} ms), {len(decision.policies_applied)} policies applied"
    )
    return figures


def main() -> None:
    firewall_policy = policy()
    n = 100 if args.quick else 500
    figures = {}
    for name, sql in QUERIES.items():
        decision = check_sql(sql, firewall_policy)
        assert decision.allowed, (name, decision.code, decision.reason)
        samples_fw, samples_cold, samples_bare = [], [], []
        for _ in range(n):
            started = time.perf_counter()
            check_sql(sql, firewall_policy)
            samples_fw.append((time.perf_counter() - started) * 1000)
            clear_cache()
            started = time.perf_counter()
            check_sql(sql, firewall_policy)
            samples_cold.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            bare(sql)
            samples_bare.append((time.perf_counter() - started) * 1000)
        fw, cold, base = percentiles(samples_fw), percentiles(samples_cold), percentiles(samples_bare)
        figures[name] = {
            "p50_ms": fw["p50_ms"],
            "p95_ms": fw["p95_ms"],
            "ratio": round(fw["p50_ms"] / base["p50_ms"], 2),
            "bare_p50_ms": base["p50_ms"],
            "cold_p50_ms": cold["p50_ms"],
        }
        print(
            f"{name}: firewall+rewrite p50 {fw['p50_ms']} ms (cold {cold['p50_ms']} ms), "
            f"bare parse+generate p50 {base['p50_ms']} ms"
        )
    figures["tag_policies"] = tag_policies_case(n)
    report("governance", {**figures, "goal_complex_p50_ms": 5, "goal_tag_policies_p50_ms": 5})


main()
