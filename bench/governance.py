"""Cost of the SQL firewall: check + rewrite, against a bare sqlglot parse + generate of the same SQL.

The policy is the demo schema (PostgreSQL dialect) with row filters on the regional tables, masks on
personal columns, and one hidden table. No database is touched: this measures the firewall alone.
Goal: complex queries p50 at most 5 ms. The firewall reuses a table's protected SELECT across checks
(by content); "cold" is the same check with that cache cleared first, as after a policy change. The last line is JSON:
{"simple": {"p50_ms", "p95_ms", "ratio"}, "medium": {...}, "complex": {...}}.
"""

from __future__ import annotations

import time

import sqlglot
from _common import arguments, percentiles, report, setup_django
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
    report("governance", {**figures, "goal_complex_p50_ms": 5})


main()
