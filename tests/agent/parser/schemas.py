"""Small invented schemas for the parser's development set, loaded into real engines.

``shop`` lives in a schema that is not the default one (``sales``), declares no foreign keys (its
joins come as inferred ``references``, the way the catalog infers them), has names that the catalog
lower-cased from camelCase (``orderdate``, ``customerid``), a hyphenated table (``order-items``),
an epoch column (``event_time``) and amounts in several currencies. The rows are few and fixed so
that every truth is also easy to check by hand.
"""

from __future__ import annotations

import calendar
from datetime import date
from typing import Any

from agent.offline.knowledge import Knowledge, table_from_json

TODAY = date(2026, 10, 1)


def _epoch(day: str) -> int:
    return calendar.timegm(date.fromisoformat(day).timetuple())


SHOP: dict[str, Any] = {
    "customers": {
        "comment": "People who buy in the shop.",
        "columns": [("customerid", "INTEGER", {"pk": True}), ("fullname", "VARCHAR", {}), ("country", "VARCHAR", {}),
                    ("signupdate", "DATE", {"comment": "When the customer signed up."})],
        "rows": [(1, "Ann Lee", "FR", "2025-01-10"), (2, "Bo Chen", "DE", "2025-03-02"),
                 (3, "Cy Diaz", "FR", "2026-02-14"), (4, "Di Evans", "US", "2026-08-20"),
                 (5, "Ed Fox", "US", "2026-09-05")],
    },
    "products": {
        "comment": "The catalogue.",
        "columns": [("productid", "INTEGER", {"pk": True}), ("productname", "VARCHAR", {}),
                    ("category", "VARCHAR", {}), ("unitprice", "DECIMAL(10,2)", {"comment": "List price."}),
                    ("is_discontinued", "BOOLEAN", {})],
        "rows": [(1, "Lamp", "home", 30.0, False), (2, "Desk", "office", 250.0, False),
                 (3, "Chair", "office", 120.0, True), (4, "Rug", "home", 80.0, False), (5, "Pen", "office", 2.5, True)],
    },
    "orders": {
        "comment": "Orders placed by customers.",
        "columns": [("orderid", "INTEGER", {"pk": True}),
                    ("customerid", "INTEGER", {"references": "sales.customers.customerid"}),
                    ("orderdate", "DATE", {}), ("status", "VARCHAR", {}), ("total", "DECIMAL(10,2)", {}),
                    ("currency", "VARCHAR", {"comment": "ISO currency of the total."})],
        "rows": [(1, 1, "2026-01-05", "shipped", 100.0, "EUR"), (2, 1, "2026-07-15", "shipped", 50.0, "EUR"),
                 (3, 2, "2026-08-01", "cancelled", 300.0, "EUR"), (4, 2, "2026-09-10", "shipped", 20.0, "EUR"),
                 (5, 4, "2026-09-20", "pending", 500.0, "USD"), (6, 4, "2026-09-25", "shipped", 70.0, "USD"),
                 (7, 4, "2025-12-30", "shipped", 10.0, "USD"), (8, 3, "2026-06-01", "shipped", 40.0, "EUR")],
    },
    "order-items": {
        "comment": "Lines of orders.",
        "columns": [("id", "INTEGER", {"pk": True}), ("orderid", "INTEGER", {"references": "sales.orders.orderid"}),
                    ("productid", "INTEGER", {"references": "sales.products.productid"}),
                    ("quantity", "INTEGER", {}), ("amount", "DECIMAL(10,2)", {})],
        "rows": [(1, 1, 1, 2, 60.0), (2, 1, 5, 4, 10.0), (3, 2, 1, 1, 30.0), (4, 3, 2, 1, 250.0),
                 (5, 4, 5, 8, 20.0), (6, 5, 2, 2, 500.0), (7, 6, 4, 1, 70.0), (8, 8, 3, 1, 40.0)],
    },
    "events": {
        "comment": "Clicks on the web shop.",
        "columns": [("id", "INTEGER", {"pk": True}),
                    ("customerid", "INTEGER", {"references": "sales.customers.customerid"}),
                    ("event_time", "BIGINT", {"comment": "Seconds since 1970."}), ("kind", "VARCHAR", {})],
        "rows": [(1, 1, _epoch("2026-09-28"), "view"), (2, 1, _epoch("2026-09-29"), "click"),
                 (3, 2, _epoch("2026-07-01"), "view"), (4, 3, _epoch("2026-09-15"), "view"),
                 (5, 5, _epoch("2025-11-11"), "click")],
    },
}  # fmt: skip


# Like the public text-to-SQL benchmarks' restaurant schema: lower-case names, keys not declared,
# places too many to be sampled (``nosample``), so that a city is known only from the question.
RESTAURANTS: dict[str, Any] = {
    "geographic": {
        "comment": "",
        "columns": [("city_name", "VARCHAR", {"pk": True, "nosample": True}), ("county", "VARCHAR", {}),
                    ("region", "VARCHAR", {})],
        "rows": [("san francisco", "san francisco county", "bay area"), ("palo alto", "santa clara county",
                 "bay area"), ("los angeles", "los angeles county", "southern california")],
    },
    "restaurant": {
        "comment": "",
        "columns": [("id", "INTEGER", {"pk": True}), ("name", "VARCHAR", {"nosample": True}),
                    ("food_type", "VARCHAR", {}),
                    ("city_name", "VARCHAR", {"references": "public.geographic.city_name", "nosample": True}),
                    ("rating", "REAL", {})],
        "rows": [(1, "jing", "chinese", "san francisco", 4.5), (2, "roma", "italian", "san francisco", 3.9),
                 (3, "luigi", "italian", "palo alto", 4.1), (4, "taco", "mexican", "los angeles", 3.2),
                 (5, "pasta", "italian", "los angeles", 2.8)],
    },
}  # fmt: skip


# A help desk: values said as verbs and codes (``closed_won``, ``bank_transfer``), countries and
# currencies stored as ISO codes, a value of a joined table ("Enterprise clients"), a verb that names
# a date column (``opened_at``), a column whose name holds a value's word (``card_last4``) and a
# table whose name holds one (``support_calls`` and the plans of the Support category).
HELPDESK: dict[str, Any] = {
    "clients": {
        "comment": "",
        "columns": [("id", "INTEGER", {"pk": True}), ("name", "VARCHAR", {"nosample": True}),
                    ("segment", "VARCHAR", {}), ("country", "VARCHAR", {})],
        "rows": [(1, "Acme", "Enterprise", "DE"), (2, "Bolt", "SMB", "DE"), (3, "Cora", "Enterprise", "FR"),
                 (4, "Dune", "SMB", "US")],
    },
    "tickets": {
        "comment": "",
        "columns": [("id", "INTEGER", {"pk": True}), ("client_id", "INTEGER", {"references": "helpdesk.clients.id"}),
                    ("status", "VARCHAR", {}), ("device", "VARCHAR", {}), ("opened_at", "DATE", {}),
                    ("satisfaction", "INTEGER", {})],
        "rows": [(1, 1, "open", "tablet", "2026-09-01", 4), (2, 1, "closed", "desktop", "2026-09-02", 5),
                 (3, 2, "open", "tablet", "2026-09-03", 2), (4, 3, "closed", "mobile", "2026-09-04", 3),
                 (5, 3, "open", "desktop", "2026-09-05", 1), (6, 4, "closed", "mobile", "2026-09-06", 5)],
    },
    "deals": {
        "comment": "",
        "columns": [("id", "INTEGER", {"pk": True}), ("client_id", "INTEGER", {"references": "helpdesk.clients.id"}),
                    ("stage", "VARCHAR", {}), ("amount", "DECIMAL(10,2)", {}), ("currency", "VARCHAR", {})],
        "rows": [(1, 1, "closed_won", 100.0, "EUR"), (2, 2, "closed_lost", 50.0, "EUR"),
                 (3, 3, "closed_won", 70.0, "JPY"), (4, 4, "negotiation", 20.0, "USD")],
    },
    "payments": {
        "comment": "",
        "columns": [("id", "INTEGER", {"pk": True}), ("method", "VARCHAR", {}), ("card_last4", "VARCHAR", {}),
                    ("amount", "DECIMAL(10,2)", {}), ("is_refunded", "BOOLEAN", {})],
        "rows": [(1, "card", "4242", 10.0, False), (2, "card", "1111", 20.0, True),
                 (3, "bank_transfer", None, 30.0, False), (4, "card", "4242", 40.0, False)],
    },
    "support_calls": {
        "comment": "",
        "columns": [("id", "INTEGER", {"pk": True}), ("minutes", "INTEGER", {})],
        "rows": [(1, 5), (2, 9)],
    },
    "plans": {
        "comment": "",
        "columns": [("id", "INTEGER", {"pk": True}), ("name", "VARCHAR", {"nosample": True}),
                    ("category", "VARCHAR", {})],
        "rows": [(1, "Basic care", "Support"), (2, "Premium care", "Support"), (3, "Shield", "Security")],
    },
}  # fmt: skip


# Measures of several kinds (an age, a weight, a height, a distance, a duration) named by their units,
# so that "the heaviest", "older than 30" and "the longest race" find their column by its words.
ATHLETICS: dict[str, Any] = {
    "athlete": {
        "comment": "",
        "columns": [("athlete_id", "INTEGER", {"pk": True}), ("name", "VARCHAR", {"nosample": True}),
                    ("country", "VARCHAR", {}), ("age", "INTEGER", {}), ("height_cm", "REAL", {}),
                    ("weight_kg", "REAL", {}), ("joined_on", "DATE", {})],
        "rows": [(1, "ada", "kenya", 31, 172.0, 58.0, "2019-04-01"),
                 (2, "bram", "norway", 24, 188.0, 81.5, "2023-02-11"),
                 (3, "chen", "china", 28, 165.0, 52.0, "2021-09-30"),
                 (4, "dev", "india", 35, 180.0, 90.0, "2016-06-15")],
    },
    "race": {
        "comment": "",
        "columns": [("race_id", "INTEGER", {"pk": True}),
                    ("athlete_id", "INTEGER", {"references": "public.athlete.athlete_id"}),
                    ("place", "VARCHAR", {"nosample": True}), ("distance_km", "REAL", {}),
                    ("duration_minutes", "REAL", {})],
        "rows": [(1, 1, "nairobi", 42.2, 130.0), (2, 2, "oslo", 10.0, 31.0), (3, 3, "beijing", 21.1, 75.0),
                 (4, 1, "boston", 42.2, 128.5), (5, 4, "delhi", 5.0, 17.0)],
    },
}  # fmt: skip


# A log of page views whose kind is a value ("page_view"), and clients whose manager's column starts
# with the name of another table (``account_manager``, ``accounts``).
WEBLOG: dict[str, Any] = {
    "hits": {
        "comment": "",
        "columns": [("id", "INTEGER", {"pk": True}), ("page", "VARCHAR", {}), ("action", "VARCHAR", {})],
        "rows": [(1, "/home", "page_view"), (2, "/home", "page_view"), (3, "/home", "click"),
                 (4, "/pricing", "page_view"), (5, "/docs", "click"), (6, "/docs", "click"), (7, "/docs", "page_view")],
    },
    "accounts": {
        "comment": "",
        "columns": [("id", "INTEGER", {"pk": True}), ("name", "VARCHAR", {})],
        "rows": [(1, "north"), (2, "south")],
    },
    "clients": {
        "comment": "",
        "columns": [("id", "INTEGER", {"pk": True}), ("name", "VARCHAR", {}), ("account_manager", "VARCHAR", {}),
                    ("account_id", "INTEGER", {"references": "public.accounts.id"})],
        "rows": [(1, "acme", "kim", 1), (2, "bolt", "kim", 1), (3, "core", "kim", 2), (4, "dune", "lou", 2)],
    },
}  # fmt: skip


# A CRM whose rows have several moments (``created_at``, ``closed_at``): the verb says which a period
# is about.
CRM: dict[str, Any] = {
    "accounts": {
        "comment": "",
        "columns": [("id", "INTEGER", {"pk": True}), ("name", "VARCHAR", {}), ("industry", "VARCHAR", {}),
                    ("employees", "INTEGER", {})],
        "rows": [(1, "Acme", "energy", 100), (2, "Bolt", "energy", 300), (3, "Cora", "retail", 50),
                 (4, "Dune", "retail", 10)],
    },
    "deals": {
        "comment": "",
        "columns": [("id", "INTEGER", {"pk": True}),
                    ("account_id", "INTEGER", {"references": "public.accounts.id"}),
                    ("stage", "VARCHAR", {}), ("amount", "INTEGER", {}), ("region", "VARCHAR", {}),
                    ("created_at", "DATE", {}), ("closed_at", "DATE", {})],
        "rows": [(1, 1, "closed_won", 100, "north", "2026-01-10", "2026-07-05"),
                 (2, 1, "closed_lost", 200, "north", "2026-02-10", "2026-08-01"),
                 (3, 2, "closed_won", 300, "south", "2026-07-20", "2026-09-01"),
                 (4, 3, "open", 400, "south", "2026-08-15", None),
                 (5, 3, "closed_won", 500, "north", "2025-05-01", "2026-03-01"),
                 (6, 4, "closed_lost", 600, "south", "2026-09-02", "2026-09-20")],
    },
    "tickets": {
        "comment": "",
        "columns": [("id", "INTEGER", {"pk": True}),
                    ("account_id", "INTEGER", {"references": "public.accounts.id"}),
                    ("status", "VARCHAR", {}), ("opened_at", "DATE", {}), ("resolved_at", "DATE", {})],
        "rows": [(1, 1, "open", "2026-09-01", None), (2, 1, "resolved", "2026-08-01", "2026-08-03"),
                 (3, 2, "closed", "2026-07-01", "2026-07-09"), (4, 2, "pending", "2026-09-10", None),
                 (5, 3, "resolved", "2026-05-01", "2026-09-02")],
    },
    "events": {
        "comment": "",
        "columns": [("id", "INTEGER", {"pk": True}),
                    ("account_id", "INTEGER", {"references": "public.accounts.id"}),
                    ("device", "VARCHAR", {}), ("event_type", "VARCHAR", {}), ("occurred_at", "DATE", {})],
        "rows": [(1, 1, "mobile", "signup", "2026-08-03"), (2, None, "desktop", "download", "2026-08-10"),
                 (3, None, "mobile", "download", "2026-09-01"), (4, 2, "desktop", "view", "2026-09-02"),
                 (5, 3, "mobile", "signup", "2026-09-05")],
    },
    "subscriptions": {
        "comment": "",
        "columns": [("id", "INTEGER", {"pk": True}),
                    ("account_id", "INTEGER", {"references": "public.accounts.id"}),
                    ("status", "VARCHAR", {}), ("seats", "INTEGER", {}),
                    ("started_at", "DATE", {}), ("ended_at", "DATE", {})],
        "rows": [(1, 1, "active", 5, "2025-03-01", None), (2, 2, "cancelled", 3, "2024-06-01", "2025-02-01"),
                 (3, 3, "cancelled", 8, "2025-01-15", "2026-02-01"), (4, 4, "active", 2, "2025-11-01", None)],
    },
}  # fmt: skip


def _sample(values: list[Any]) -> list[Any]:
    distinct = sorted({v for v in values if isinstance(v, str)})
    return distinct if 0 < len(distinct) <= 20 else []


def context_tables(schema: str, tables: dict[str, Any], *, inferred: bool = True) -> list[dict[str, Any]]:
    """The tables as ``describe_table`` shows them: columns, keys (marked inferred) and samples."""
    shown = []
    for name, spec in tables.items():
        columns = []
        for index, (column, type_, extra) in enumerate(spec["columns"]):
            entry = {"name": column, "type": type_, "pk": bool(extra.get("pk")), "masked": "",
                     "comment": extra.get("comment", ""), "references": extra.get("references", "")}  # fmt: skip
            if entry["references"] and inferred:
                entry["inferred"] = True
            if schema in ("main",) and entry["references"]:
                entry["references"] = "main." + entry["references"].split(".", 1)[1]
            columns.append((index, entry))
        samples = {
            column: _sample([row[index] for row in spec["rows"]])
            for index, (column, _, extra) in enumerate(spec["columns"])
            if _sample([row[index] for row in spec["rows"]]) and not extra.get("nosample")
        }
        shown.append({"datasource_id": "1", "datasource": "Shop", "schema": schema, "name": name,
                      "comment": spec["comment"], "row_estimate": len(spec["rows"]),
                      "columns": [entry for _, entry in columns], "sample_values": samples})  # fmt: skip
    return shown


def knowledge_of(schema: str, tables: dict[str, Any], dialect: str) -> Knowledge:
    knowledge = Knowledge([{"id": "1", "name": "Shop", "dialect": dialect}])
    for data in context_tables(schema, tables):
        table = table_from_json(data, described=True)
        assert table is not None
        knowledge.add(table)
    return knowledge


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def load(connection: Any, schema: str, tables: dict[str, Any]) -> None:
    """Create and fill the tables (DB-API connection of DuckDB or SQLite)."""
    prefix = "" if schema == "main" else f"{_quoted(schema)}."
    if schema != "main":
        connection.execute(f"CREATE SCHEMA {_quoted(schema)}")
    for name, spec in tables.items():
        columns = ", ".join(f"{_quoted(c)} {t}" for c, t, _ in spec["columns"])
        connection.execute(f"CREATE TABLE {prefix}{_quoted(name)} ({columns})")
        marks = ", ".join("?" for _ in spec["columns"])
        connection.executemany(f"INSERT INTO {prefix}{_quoted(name)} VALUES ({marks})", spec["rows"])
