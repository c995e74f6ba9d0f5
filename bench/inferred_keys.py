"""Inferred join keys: how many of the declared keys the inference finds again, and what it costs.

"demo" takes the demo schema (``datasources.demo_data.schema``) as the flat engines name it
(``billing_invoices``, types as PostgreSQL spells them), drops every declared foreign key, infers the
keys again and compares them with the declared ones: precision and recall. "catalog_500" times
``infer_keys`` on 500 tables of 15 columns (an ``id`` primary key, 4 ``<table>_id`` columns naming
tables, 10 text columns). No database is needed. The last line is JSON:
{"demo": {...}, "catalog_500": {...}}.
"""

from __future__ import annotations

from _common import arguments, measure, report, setup_django

args = arguments(__doc__ or "")
setup_django()

from datasources.connectors.base import IntrospectedColumn, IntrospectedTable, Introspection  # noqa: E402
from datasources.demo_data.schema import TABLES  # noqa: E402
from datasources.keys import infer_keys  # noqa: E402


def demo() -> dict[str, object]:
    tables = tuple(
        IntrospectedTable(
            schema="main", name=table.flat_name, kind="table", row_estimate=None, comment="",
            columns=tuple(
                IntrospectedColumn(name=c.name, ordinal=i, data_type=c.type.value, nullable=c.nullable,
                                   is_primary_key=c.name == table.primary_key)
                for i, c in enumerate(table.columns, start=1)
            ),
        )
        for table in TABLES
    )  # fmt: skip
    declared = {
        (table.flat_name, c.name, str(c.references).replace(".", "_"), "id")
        for table in TABLES
        for c in table.foreign_keys
    }
    found = {(k.table, k.column, k.target_table, k.target_column) for k in infer_keys(Introspection("", tables))}
    both = declared & found
    print(f"demo: {len(declared)} declared keys, {len(found)} inferred, {len(both)} of them declared")
    for missed in sorted(declared - found):
        print("  missed", missed)
    for extra in sorted(found - declared):
        print("  extra", extra)
    return {
        "declared": len(declared),
        "inferred": len(found),
        "precision": round(len(both) / len(found), 3) if found else None,
        "recall": round(len(both) / len(declared), 3) if declared else None,
    }


def word(n: int) -> str:
    return "item" + "".join("abcdefghkm"[int(digit)] for digit in str(n))


def catalog(size: int) -> dict[str, object]:
    tables = []
    for n in range(size):
        columns = [IntrospectedColumn("id", 1, "integer", False, is_primary_key=True)]
        columns += [IntrospectedColumn(f"{word((n * 7 + j + 1) % size)}_id", j + 2, "integer", True) for j in range(4)]
        columns += [IntrospectedColumn(f"value{j}", 6 + j, "text", True) for j in range(10)]
        tables.append(IntrospectedTable("public", word(n) + "s", "table", None, "", tuple(columns)))
    introspection = Introspection("", tuple(tables))
    # A column naming its own table is no join key (the inference leaves self-references out).
    expected = sum(1 for n in range(size) for j in range(4) if (n * 7 + j + 1) % size != n)
    keys = len(infer_keys(introspection))
    figures = measure(lambda: infer_keys(introspection), 3 if args.quick else 10, warmup=1)
    print(f"catalog of {size} tables: {keys} keys of {expected}, p50 {figures['p50_ms']} ms")
    return {"tables": size, "keys": keys, "expected": expected, **figures}


report("inferred_keys", {"demo": demo(), "catalog_500": catalog(500)})
