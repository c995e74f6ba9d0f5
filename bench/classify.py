"""Cost of classification on a catalog read.

"detect" is ``governance.detect.detect_column`` alone (no database): columns of 200 sampled values
each, a mix of e-mails, phone numbers, card numbers, IBANs, ids, free text and dates, so most values
are rejected by a cheap shape check and some reach a validating library. Goal: p50 under 5 ms a
column.

"catalog_read" is a refresh of each demo source (SQLite file, Parquet lake, and PostgreSQL when the
development database has it) in a bench workspace: the connector's introspection alone, against
introspection plus classification (one sample of ``CLASSIFY_SAMPLE_ROWS`` rows a table through the
same connector, every column detected, tags stored). Reported as the ratio of the two, measured in
one run. The last line is JSON: {"detect": {...}, "catalog_read": {"<kind>": {...}}}.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

from _common import arguments, bench_workspace, measure, report, setup_django

args = arguments(__doc__ or "")
setup_django()

from governance import detect  # noqa: E402

ROWS = 200
rng = random.Random(11)


def _values(kind: str) -> Sequence[object]:
    if kind == "email":
        return [f"user{rng.randrange(10**6)}@example.com" for _ in range(ROWS)]
    if kind == "phone":
        return [f"+1 202-555-{rng.randrange(100, 200):04d}" for _ in range(ROWS)]
    if kind == "card":
        return ["4539578763621486", "4111 1111 1111 1111", "5555-5555-5555-4444"] * (ROWS // 3) + ["378282246310005"]
    if kind == "iban":
        return ["DE89370400440532013000", "GB82 WEST 1234 5698 7654 32"] * (ROWS // 2)
    if kind == "id":
        return [rng.randrange(10**9) for _ in range(ROWS)]
    if kind == "date":
        return [f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 28):02d}" for _ in range(ROWS)]
    return [" ".join(rng.choice(["late", "order", "refund", "ok", "call", "back", "12", "EMEA"]) for _ in range(5))
            for _ in range(ROWS)]  # fmt: skip


COLUMNS = [("email", "text", "email"), ("contact", "text", "email"), ("phone", "varchar", "phone"),
           ("note", "text", "text"), ("ref", "text", "card"), ("account", "text", "iban"), ("id", "bigint", "id"),
           ("created", "text", "date"), ("comment", "text", "text"), ("status", "text", "text")]  # fmt: skip
SAMPLES = {name: _values(kind) for name, _, kind in COLUMNS}
RULES = (detect.TagRule("region", name_patterns=("region", "*_region"), values=("NA", "EMEA", "APAC", "LATAM")),)


def detect_all() -> None:
    for name, data_type, _ in COLUMNS:
        detect.detect_column(column=name, data_type=data_type, samples=SAMPLES[name], table="t", rules=RULES)


per_table = measure(detect_all, 20 if args.quick else 100)
detect_figures = {
    "p50_ms_per_column": round(per_table["p50_ms"] / len(COLUMNS), 3),
    "p95_ms_per_column": round(per_table["p95_ms"] / len(COLUMNS), 3),
    "values_per_column": ROWS,
    "goal_p50_ms_per_column": 5,
}
print(f"detect: {detect_figures['p50_ms_per_column']} ms a column of {ROWS} values (p50)")

from datasources.catalog import catalog_apply  # noqa: E402
from datasources.connectors.base import Introspection  # noqa: E402
from datasources.demo import demo_datasources_ensure  # noqa: E402
from datasources.services import connector_for  # noqa: E402
from governance.classification import classify_introspection, column_tags_store  # noqa: E402
from governance.demo import demo_tags_ensure  # noqa: E402

workspace = bench_workspace("classify-bench", "Classification bench")
demo_tags_ensure(workspace=workspace)
reads: dict[str, dict[str, float]] = {}
repeats = 1 if args.quick else 3
for datasource in demo_datasources_ensure(workspace=workspace):
    introspect_ms, classify_ms, tables = [], [], 0
    for _ in range(repeats):
        connector = connector_for(datasource)
        try:
            started = time.perf_counter()
            introspection: Introspection = connector.introspect()
            introspect_ms.append((time.perf_counter() - started) * 1000)
            catalog_apply(datasource=datasource, introspection=introspection)
            started = time.perf_counter()
            found = classify_introspection(datasource=datasource, introspection=introspection, connector=connector)
            column_tags_store(datasource=datasource, classification=found)
            classify_ms.append((time.perf_counter() - started) * 1000)
            tables = len(introspection.tables)
        finally:
            connector.close()
    introspect, classified = min(introspect_ms), min(classify_ms)
    reads[datasource.kind] = {
        "tables": tables,
        "introspect_ms": round(introspect, 1),
        "classify_ms": round(classified, 1),
        "ratio": round((introspect + classified) / introspect, 2),
    }
    print(f"{datasource.kind}: introspect {introspect:.0f} ms, classification {classified:.0f} ms ({tables} tables)")

report("classify", {"detect": detect_figures, "catalog_read": reads})
