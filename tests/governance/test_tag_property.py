"""Property: tag policies hold on every engine, whatever SQL an agent writes over the tagged columns.

Only the public path is used. Each engine's demo data is registered as a data source of Acme's
workspace (``datasource_create``), its catalog is read, and Alice tags columns by name: every
``email`` pii.email, every ``phone`` pii.phone, ``date_of_birth`` pii.date_of_birth and every
``region`` the workspace tag ``region``. The tag policies: e-mails partial (hashed on the hash runs),
phones redacted, dates of birth null, and for analysts only the rows where
``{{ column }} = {{ user.region }}``. Ana (analyst, EMEA) sends each generated statement through
``authorize(ana, "run_query", ...)`` and, when it is allowed, runs ``decision.sql_after`` with
``query_read``. The truth is read as the owner, through the connector, without the gateway.

The statements come from a grammar of shapes: SELECT * and t.*; joins (inner, left, right, full,
self-joins, customers with contacts, contacts with companies); CTEs (one named like the protected
table, one shadowing it with another); UNION / UNION ALL / INTERSECT / EXCEPT; scalar, correlated,
EXISTS and IN subqueries; window functions; aggregates (string_agg, group_concat or listagg as the
dialect has it, count distinct, ROLLUP); and probes, which compare a masked column with a real value.
Masked values go through CASE, casts, string functions and md5, whole rows through row_to_json and
the like; predicates reach for other regions (one is a tripwire that divides by zero on a row
outside EMEA); table names are spelled as an agent might (upper case, quoted, qualified). Each
statement is written once in PostgreSQL's SQL and transpiled by sqlglot to the engine's dialect.

A refusal is always safe, and so is an error of the engine, as long as its message gives nothing
away. Otherwise no cell may hold (as a substring, in any case) a real e-mail, phone number or date
of birth, the md5 of a real e-mail (unless e-mails are hashed: then that md5 IS the mask), a region
other than EMEA, a customer or company name or account manager only non-EMEA rows have, the id of a
non-EMEA customer or contact, a count above the EMEA count, or a probe that matched.

Why hypothesis and not a seeded corpus of our own: the grammar is a tree of choices that hypothesis
draws and, when a statement leaks, shrinks to the smallest statement that still leaks, which is the
one worth reading. Each shape is one inner ``@given`` search (derandomized, so CI runs the same
statements every time) inside one test per engine, so that the data source and the truth are set up
once per engine and the counts of allowed, refused and failed statements can be asserted (at least
half ran, every shape ran) and recorded at the end.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot.errors import ErrorLevel

from datasources import services as datasource_services
from datasources.catalog import catalog_apply
from datasources.connectors import ConnectorError, QueryResult
from datasources.demo_data import TABLES
from datasources.models import CatalogColumn, DataSource
from datasources.queries import query_read
from governance import services
from governance.classification import column_tag_add, tag_create
from governance.gateway import Actor, actor_for, authorize
from tests.governance.conftest import OWNER_READ, mysql_demo_copy

pytestmark = pytest.mark.django_db

MAX_ROWS = 1000  # rows of a result read back and checked
TAGS = {"email": "pii.email", "phone": "pii.phone", "date_of_birth": "pii.date_of_birth", "region": "region"}
DIALECTS = {"postgresql": "postgres", "sqlite": "sqlite", "duckdb": "duckdb", "mysql": "mysql"}
LOGICAL = ("customers", "contacts", "companies")  # the tables the grammar writes about


@dataclass(frozen=True)
class Run:
    engine: str  # postgresql | sqlite | duckdb | mysql
    email_mask: str  # partial | hash
    per_shape: int  # statements of each shape


RUNS = (
    Run("postgresql", "partial", 20),
    Run("sqlite", "partial", 20),
    Run("duckdb", "partial", 20),
    Run("mysql", "partial", 20),
    Run("postgresql", "hash", 8),
    Run("duckdb", "hash", 8),
    Run("mysql", "hash", 8),
)


# --- the truth, read as the owner --------------------------------------------------------------


class Needles:
    """Finds any of many literal strings in a text, ignoring case: one regex over their trie.

    ``whole`` ones only match where they do not continue a word, nor go on with " <digit>" (the
    demo's company names are numbered: "Acme Widgets Co" is not "Acme Widgets Co 2")."""

    def __init__(self, words: Iterable[str], *, whole: bool = False) -> None:
        trie: dict[str, Any] = {}
        for word in {w.lower() for w in words if w}:
            node = trie
            for char in word:
                node = node.setdefault(char, {})
            node[""] = {}
        pattern = _trie_pattern(trie) if trie else "(?!)"
        self.regex = re.compile(rf"(?<!\w)(?:{pattern})(?!\w| \d)" if whole else pattern)

    def find(self, text: str) -> str | None:
        match = self.regex.search(text.lower())
        return match.group(0) if match else None


def _trie_pattern(node: Mapping[str, Any]) -> str:
    branches = [re.escape(char) + _trie_pattern(child) for char, child in sorted(node.items()) if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
    return f"(?:{body})?" if "" in node else body


@dataclass(frozen=True)
class Truth:
    secrets: Needles  # real e-mails, phone numbers and dates of birth (also without their first character)
    email_md5s: frozenset[str]
    non_emea: Needles  # customer and company names and account managers that only non-EMEA rows have
    non_emea_regions: Needles  # NA, APAC, LATAM (as words: the demo's vocabulary has them nowhere else)
    emea_ids: Mapping[str, frozenset[int]]
    emea_counts: Mapping[str, int]
    masked_examples: int  # how many real values the secrets hold
    probes: Mapping[tuple[str, str], tuple[str, ...]]  # (table, masked column) -> some real values of EMEA rows


def read_truth(datasource: DataSource, names: Mapping[str, str]) -> Truth:
    connector = datasource_services.connector_for(datasource)

    def records(columns: str, table: str) -> list[dict[str, Any]]:
        result = connector.execute_read(f"SELECT {columns} FROM {names[table]}", options=OWNER_READ)
        return [dict(zip(result.columns, row, strict=True)) for row in result.rows]

    try:
        data = {
            "customers": records("id, name, email, phone, region, account_manager", "customers"),
            "contacts": records("id, email, phone, date_of_birth, region", "contacts"),
            "companies": records("id, name, region", "companies"),
        }
    finally:
        connector.close()
    real: dict[tuple[str, str], dict[str, bool]] = {}  # (table, masked column) -> value -> of an EMEA row?
    for table in PERSONAL:
        for column in MASKED[table]:
            found = real.setdefault((table, column), {})
            for record in data[table]:
                if record[column] is not None:  # dates as the engines write them as text: 1985-03-12
                    value = str(record[column])[:10] if column == "date_of_birth" else str(record[column])
                    found[value] = found.get(value, False) or record["region"] == "EMEA"
    values = {value for found in real.values() for value in found}
    emails = {*real[("customers", "email")], *real[("contacts", "email")]}
    by_region: dict[bool, set[str]] = {True: set(), False: set()}
    for record in data["customers"]:
        by_region[record["region"] == "EMEA"] |= {record["name"], record["account_manager"]}
    for record in data["companies"]:
        by_region[record["region"] == "EMEA"].add(record["name"])
    regions = {record["region"] for records_ in data.values() for record in records_}
    emea = {table: [r for r in records_ if r["region"] == "EMEA"] for table, records_ in data.items()}
    return Truth(
        secrets=Needles(values | {value[1:] for value in values}),
        email_md5s=frozenset(hashlib.md5(e.encode()).hexdigest() for e in emails),  # noqa: S324
        non_emea=Needles(by_region[False] - by_region[True], whole=True),
        non_emea_regions=Needles((r for r in regions if r != "EMEA"), whole=True),
        emea_ids={table: frozenset(int(r["id"]) for r in rows) for table, rows in emea.items()},
        emea_counts={table: len(rows) for table, rows in emea.items()},
        masked_examples=len(values),
        probes={key: tuple(sorted(v for v, in_emea in found.items() if in_emea)[:50]) for key, found in real.items()},
    )


# --- the data sources, tagged by a person --------------------------------------------------------


@dataclass(frozen=True)
class Source:
    datasource: DataSource
    dialect: str
    names: Mapping[str, str]  # logical table name -> how SQL names it (billing.customers, billing_customers)
    schema: str  # the schema of unqualified names where tables have no schema of their own ("main", the database)
    truth: Truth


@pytest.fixture(scope="module")
def mysql_copy(demo_files: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    database = f"psa_tag_property_{os.getpid()}"
    with mysql_demo_copy(database, demo_files["sqlite"].settings["path"]) as server:
        settings_ = {"host": server["host"], "port": server["port"], "database": database, "user": server["user"]}
        yield settings_, ({"password": server["password"]} if server["password"] else {})


def connection(engine: str, request: pytest.FixtureRequest) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The kind, settings and secrets of the engine's demo data (skips when it is not there)."""
    if engine == "mysql":
        settings_, secrets = request.getfixturevalue("mysql_copy")
        return "mysql", settings_, secrets
    demo = request.getfixturevalue("demo_files")
    if engine == "postgresql":
        if "postgresql" not in demo:
            pytest.skip("the demo PostgreSQL database could not be created")
        postgres = request.getfixturevalue("postgres_settings")
        return "postgresql", postgres["settings"], postgres["secrets"]
    kind = "files" if engine == "duckdb" else "sqlite"
    return kind, dict(demo[kind].settings), {}


def tagged_source(run: Run, request: pytest.FixtureRequest, tenancy: Any) -> Source:
    kind, settings_, secrets = connection(run.engine, request)
    datasource = datasource_services.datasource_create(
        workspace=tenancy.acme, name=f"Acme {run.engine}", kind=kind, settings=settings_, secrets=secrets
    )
    connector = datasource_services.connector_for(datasource)
    try:
        catalog_apply(datasource=datasource, introspection=connector.introspect())
    finally:
        connector.close()
    datasource.refresh_from_db()

    tag_create(workspace_id=tenancy.acme.pk, name="region", description="Sales region of the row.")
    columns = CatalogColumn.objects.filter(table__datasource=datasource, name__in=TAGS, is_present=True)
    for column in columns.select_related("table__datasource"):
        column_tag_add(column=column, tag=TAGS[column.name], user=tenancy.alice)
    workspace = tenancy.acme
    services.tag_mask_policy_create(workspace=workspace, tag="pii.email", strategy=run.email_mask)
    services.tag_mask_policy_create(workspace=workspace, tag="pii.phone", strategy="redact")
    services.tag_mask_policy_create(workspace=workspace, tag="pii.date_of_birth", strategy="null")
    services.tag_row_filter_policy_create(
        workspace=workspace, tag="region", predicate="{{ column }} = {{ user.region }}", roles=["analyst"]
    )

    by_name = {t.name: t for t in TABLES}
    flat = run.engine != "postgresql"
    names = {n: by_name[n].flat_name if flat else by_name[n].qualified_name for n in LOGICAL}
    schema = str(settings_["database"]) if kind == "mysql" else "" if kind == "postgresql" else "main"
    return Source(datasource, DIALECTS[run.engine], names, schema, read_truth(datasource, names))


# --- the grammar ---------------------------------------------------------------------------------

MASKED = {"customers": ("email", "phone"), "contacts": ("email", "phone", "date_of_birth"), "companies": ()}
PLAIN = {"customers": ("name", "country", "account_manager"), "contacts": ("first_name", "title"),
         "companies": ("name", "website")}  # fmt: skip
# What is done to a masked value ({x}, text) of the row aliased {a}.
WRAPPERS = (
    "{x}", "upper({x})", "lower({x})", "substr({x}, 1, 80)", "substr({x}, 2)", "concat({x}, '')",
    "concat('<', {x}, '>')", "{x} || ''", "{a}.region || '|' || {x}", "CAST({x} AS TEXT)", "CAST({x} AS VARCHAR(200))",
    "CAST({x} AS CHAR(80))", "coalesce({x}, 'none')", "trim({x})", "length({x})", "md5({x})", "CAST({x} AS INTEGER)",
    "CASE WHEN {x} LIKE '%@%' THEN {x} ELSE 'other' END", "CASE WHEN {x} IS NULL THEN 'none' ELSE {x} END",
    "CASE WHEN {a}.region = 'EMEA' THEN 'emea' ELSE {x} END", "CASE WHEN {a}.region <> 'EMEA' THEN {x} END",
    "CASE {a}.region WHEN 'NA' THEN {x} WHEN 'APAC' THEN lower({x}) ELSE upper({x}) END",
)  # fmt: skip
# Predicates on the row aliased {a} that try to reach rows of other regions. The last one is a
# tripwire: evaluated on a row outside EMEA (below the row filter), it divides by zero (PostgreSQL
# raises; other engines return NULL), so that error would tell a hidden row exists.
TRIPWIRE = "CASE WHEN {a}.region <> 'EMEA' THEN 1 / ({a}.id - {a}.id) ELSE 1 END = 1"
REACHES = (
    "", "{a}.region <> 'EMEA'", "{a}.region = 'NA'", "NOT ({a}.region = 'EMEA')",
    "{a}.region IN ('NA', 'APAC', 'LATAM')", "{a}.region NOT IN ('EMEA')", "1 = 1 OR TRUE",
    "{a}.region LIKE '%' OR TRUE", "{a}.region <> 'EMEA' OR {a}.region IS NULL", "coalesce({a}.region, '') <> 'EMEA'",
    "{a}.id > 0", "{a}.region = 'EMEA' OR {a}.region <> 'EMEA'", "{a}.region IS DISTINCT FROM 'EMEA'", TRIPWIRE,
)  # fmt: skip
JOINS = (  # left table, its alias, right table, its alias, the join condition
    ("contacts", "c", "customers", "t", "t.id = c.customer_id"),
    ("customers", "t", "contacts", "c", "c.customer_id = t.id"),
    ("contacts", "c", "companies", "m", "m.id = c.company_id"),
    ("customers", "t", "companies", "m", "m.name = t.name"),
    ("customers", "t", "customers", "u", "u.id = t.id + 1"),
    ("contacts", "c", "contacts", "d", "d.company_id = c.company_id AND d.id <> c.id"),
)
ROW_VALUES = {
    "postgres": ("CAST(row_to_json({a}) AS TEXT)", "CAST(to_jsonb({a}) AS TEXT)", "CAST({a} AS TEXT)"),
    "duckdb": ("CAST(to_json({a}) AS TEXT)", "CAST({a} AS TEXT)"),
}
JOIN_KINDS = ("JOIN", "INNER JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN")
SET_OPERATIONS = ("UNION", "UNION ALL", "INTERSECT", "EXCEPT")
PERSONAL = ("customers", "contacts")

Draw = Callable[[st.SearchStrategy[Any]], Any]


@dataclass(frozen=True)
class Grammar:
    """What differs between the dialects' statements; sqlglot transpiles the rest."""

    wrappers: tuple[str, ...]
    join_kinds: tuple[str, ...]
    rollup: str  # a GROUP BY t.region with a grand total row
    distinct_list: str  # the distinct values of {x}, comma-separated
    row_values: tuple[str, ...]  # the whole row aliased {a} as one value, where the dialect has that
    probes: Mapping[tuple[str, str], tuple[str, ...]]  # (table, masked column) -> real values of EMEA rows


def grammar_for(source: Source) -> Grammar:
    wrappers: tuple[str, ...] = WRAPPERS
    join_kinds: tuple[str, ...] = JOIN_KINDS
    rollup, distinct_list = "GROUP BY ROLLUP (t.region)", "string_agg(DISTINCT {x}, ',')"
    row_values = ROW_VALUES.get(source.dialect, ())
    if source.dialect == "sqlite":  # no md5(), no ROLLUP, concat() only from SQLite 3.44, one-argument DISTINCT
        old = sqlite3.sqlite_version_info < (3, 44)
        wrappers = tuple(w for w in WRAPPERS if not w.startswith("md5(") and not (old and w.startswith("concat(")))
        rollup, distinct_list = "GROUP BY t.region", "group_concat(DISTINCT {x})"
    if source.dialect == "mysql":  # no FULL JOIN; ROLLUP is written after the column
        join_kinds, rollup = tuple(k for k in JOIN_KINDS if k != "FULL JOIN"), "GROUP BY t.region WITH ROLLUP"
    return Grammar(wrappers, join_kinds, rollup, distinct_list, row_values, source.truth.probes)


@dataclass(frozen=True)
class Template:
    """A statement over {customers}, {contacts}, {companies} (and {cte_customers}, the bare name of
    the table, for CTEs named like it), in PostgreSQL's SQL."""

    shape: str
    sql: str
    id_table: str | None = None  # the table whose ids an ``id`` column holds (SELECT * of one table)
    spelling: str = "plain"  # how the table names are written: a key of SPELLINGS


def ref(table: str) -> str:
    return "{" + table + "}"


def pick(draw: Draw, options: Iterable[Any]) -> Any:
    return draw(st.sampled_from(tuple(options)))


def value(draw: Draw, g: Grammar, alias: str, table: str) -> str:
    """A text expression over a masked column of ``table`` (or a plain one where it has none)."""
    if not MASKED[table]:
        return f"{alias}.{pick(draw, PLAIN[table])}"
    column = pick(draw, MASKED[table])
    base = f"{alias}.{column}"
    if column == "date_of_birth":
        base = pick(draw, (f"CAST({base} AS TEXT)", f"CAST({base} AS VARCHAR(30))", f"CAST({base} AS CHAR(10))"))
    return str(pick(draw, g.wrappers)).format(x=base, a=alias)


def projections(draw: Draw, g: Grammar, sources: Iterable[tuple[str, str]], *, most: int = 4) -> str:
    """A SELECT list over the rows aliased as in ``sources`` ((alias, table) pairs)."""
    sources = tuple(sources)
    items = []
    for index in range(draw(st.integers(1, most))):
        alias, table = pick(draw, sources)
        kind = pick(draw, ("value", "value", "value", "raw", "plain", "id", "region", "row"))
        if kind == "row" and g.row_values:
            items.append(f"{str(pick(draw, g.row_values)).format(a=alias)} AS r{index}")
        elif kind == "value" or kind == "row":
            items.append(f"{value(draw, g, alias, table)} AS v{index}")
        elif kind == "raw" and MASKED[table]:
            items.append(f"{alias}.{pick(draw, MASKED[table])}")
        elif kind == "plain" or kind == "raw":
            items.append(f"{alias}.{pick(draw, PLAIN[table])} AS p{index}")
        elif kind == "id":
            items.append(f"{alias}.id AS id_{table}_{index}")
        else:
            items.append(f"{alias}.region AS region_{index}")
    return ", ".join(items)


def where(draw: Draw, alias: str) -> str:
    condition = str(pick(draw, REACHES)).format(a=alias)
    return f" WHERE {condition}" if condition else ""


def condition(draw: Draw, alias: str) -> str:
    return str(pick(draw, REACHES[1:])).format(a=alias)


def tail(draw: Draw) -> str:
    return str(pick(draw, ("", " ORDER BY 1", " ORDER BY 1 DESC LIMIT 50", " LIMIT 20 OFFSET 5")))


def select_shape(draw: Draw, g: Grammar) -> Template:
    table = pick(draw, LOGICAL)
    if draw(st.booleans()):
        star = pick(draw, ("*", "t.*"))
        return Template("select", f"SELECT {star} FROM {ref(table)} t{where(draw, 't')}{tail(draw)}", table)
    columns = projections(draw, g, [("t", table)])
    return Template("select", f"SELECT {columns} FROM {ref(table)} t{where(draw, 't')}{tail(draw)}")


def join_shape(draw: Draw, g: Grammar) -> Template:
    left, la, right, ra, on = pick(draw, JOINS)
    kind = pick(draw, g.join_kinds)
    star = pick(draw, ("", "", "*", "left", "right"))
    id_table = None
    if star == "*":
        columns = "*"
    elif star:
        alias, id_table = (la, left) if star == "left" else (ra, right)
        columns = f"{alias}.*"
    else:
        columns = projections(draw, g, [(la, left), (ra, right)])
    alias = pick(draw, (la, ra))
    sql = f"SELECT {columns} FROM {ref(left)} {la} {kind} {ref(right)} {ra} ON {on}{where(draw, alias)} LIMIT 500"
    return Template("join", sql, id_table)


def aggregate_shape(draw: Draw, g: Grammar) -> Template:
    table = pick(draw, PERSONAL)
    x, filter_ = value(draw, g, "t", table), where(draw, "t")
    sql = pick(draw, (
        f"SELECT count(*) AS n_{table}, count(DISTINCT {x}) AS nd_{table}, min({x}) AS lo, max({x}) AS hi "
        f"FROM {ref(table)} t{filter_}",
        f"SELECT t.region, count(*) AS n_{table}, string_agg({x}, ',') AS agg FROM {ref(table)} t{filter_} "
        "GROUP BY t.region",
        f"SELECT {x} AS v, count(*) AS n_{table} FROM {ref(table)} t{filter_} GROUP BY {x} HAVING count(*) > 0",
        f"SELECT t.region, min(t.id) AS id_{table}_lo, max(t.id) AS id_{table}_hi, count(*) AS n_{table} "
        f"FROM {ref(table)} t{filter_} {g.rollup}",
        f"SELECT count(*) AS n_contacts, {g.distinct_list.format(x=value(draw, g, 'c', 'contacts'))} AS agg, "
        f"max({value(draw, g, 't', 'customers')}) AS hi FROM {ref('contacts')} c JOIN {ref('customers')} t "
        f"ON t.id = c.customer_id{where(draw, pick(draw, ('c', 't')))}",
    ))  # fmt: skip
    return Template("aggregate", sql)


def window_shape(draw: Draw, g: Grammar) -> Template:
    table = pick(draw, PERSONAL)
    x = value(draw, g, "t", table)
    window = pick(draw, (
        f"row_number() OVER (PARTITION BY t.region ORDER BY {x})",
        f"rank() OVER (ORDER BY {x})",
        f"dense_rank() OVER (PARTITION BY {x} ORDER BY t.id)",
        f"lag({x}) OVER (ORDER BY t.id)",
        f"lead({x}, 1) OVER (ORDER BY t.id)",
        f"first_value({x}) OVER (PARTITION BY t.region ORDER BY t.id)",
        f"last_value({x}) OVER (ORDER BY t.id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)",
        f"max({x}) OVER (PARTITION BY t.region)",
    ))  # fmt: skip
    count = pick(draw, ("count(*) OVER ()", "count(*) OVER (PARTITION BY t.region)", "sum(1) OVER ()"))
    sql = (
        f"SELECT t.id AS id_{table}, {x} AS v, {window} AS w, {count} AS n_{table} "
        f"FROM {ref(table)} t{where(draw, 't')}{tail(draw)}"
    )
    return Template("window", sql)


def subquery_shape(draw: Draw, g: Grammar) -> Template:
    table = pick(draw, PERSONAL)
    x, filter_ = value(draw, g, "t", table), where(draw, "t")
    kind = pick(draw, ("derived", "derived_star", "scalar", "correlated", "exists", "in", "in_masked"))
    if kind == "derived":
        inner = f"SELECT {projections(draw, g, [('t', table)])} FROM {ref(table)} t{filter_}"
        return Template("subquery", f"SELECT s.* FROM ({inner}) s")
    if kind == "derived_star":
        outer = where(draw, "s")
        return Template("subquery", f"SELECT s.* FROM (SELECT * FROM {ref(table)} t{filter_}) s{outer}", table)
    if kind == "scalar":
        sql = (
            f"SELECT (SELECT max({x}) FROM {ref(table)} t{filter_}) AS v, "
            f"(SELECT count(*) FROM {ref(table)} u{where(draw, 'u')}) AS n_{table}, "
            f"(SELECT string_agg({value(draw, g, 'w', table)}, ',') FROM {ref(table)} w{where(draw, 'w')}) AS agg"
        )
        return Template("subquery", sql)
    columns = projections(draw, g, [("t", "customers")])
    if kind == "correlated":
        sql = (
            f"SELECT t.id AS id_customers, (SELECT max({value(draw, g, 'c', 'contacts')}) FROM {ref('contacts')} c "
            f"WHERE c.customer_id = t.id) AS v, {columns} FROM {ref('customers')} t{where(draw, 't')} LIMIT 200"
        )
    elif kind == "exists":
        negated = pick(draw, ("", "NOT "))
        sql = (
            f"SELECT {columns} FROM {ref('customers')} t WHERE {negated}EXISTS (SELECT 1 FROM {ref('contacts')} c "
            f"WHERE c.customer_id = t.id AND {condition(draw, 'c')})"
        )
    elif kind == "in":
        sql = (
            f"SELECT {columns} FROM {ref('customers')} t WHERE t.id IN "
            f"(SELECT c.customer_id FROM {ref('contacts')} c WHERE {condition(draw, 'c')})"
        )
    else:
        sql = (
            f"SELECT {columns} FROM {ref('customers')} t WHERE t.email IN (SELECT c.email FROM {ref('contacts')} c) "
            f"OR {condition(draw, 't')}"
        )
    return Template("subquery", sql)


def cte_shape(draw: Draw, g: Grammar) -> Template:
    table = pick(draw, PERSONAL)
    filter_ = where(draw, "t")
    kind = pick(draw, ("plain", "named_like_table", "shadowing", "chained"))
    if kind == "plain":
        columns = projections(draw, g, [("s", table)])
        return Template("cte", f"WITH s AS (SELECT * FROM {ref(table)} t{filter_}) SELECT {columns} FROM s")
    if kind == "named_like_table":
        name = ref(f"cte_{table}")
        return Template("cte", f"WITH {name} AS (SELECT * FROM {ref(table)} t{filter_}) SELECT * FROM {name}", table)
    if kind == "shadowing":  # a CTE named like one protected table, holding another
        other = "contacts" if table == "customers" else "customers"
        name = ref(f"cte_{table}")
        columns = projections(draw, g, [("x", other)])
        return Template("cte", f"WITH {name} AS (SELECT * FROM {ref(other)} t{filter_}) SELECT {columns} FROM {name} x")
    sql = (
        f"WITH a AS (SELECT t.id, {value(draw, g, 't', table)} AS v, t.region FROM {ref(table)} t{filter_}), "
        f"b AS (SELECT * FROM a{where(draw, 'a')}) SELECT b.id AS id_{table}, b.v, b.region FROM b"
    )
    return Template("cte", sql)


def set_operation_shape(draw: Draw, g: Grammar) -> Template:
    operation = pick(draw, SET_OPERATIONS)
    table, other = pick(draw, PERSONAL), pick(draw, PERSONAL)
    kind = pick(draw, ("values", "values", "star", "ids", "counts"))
    left_filter, right_filter = where(draw, "t"), where(draw, "u")
    if kind == "star":
        right_filter = pick(draw, (right_filter, " WHERE u.region = 'EMEA'"))
        sql = f"SELECT * FROM {ref(table)} t{left_filter} {operation} SELECT * FROM {ref(table)} u{right_filter}"
        return Template("set_operation", sql, table)
    if kind == "ids":
        sql = (
            f"SELECT t.id AS id_{table} FROM {ref(table)} t{left_filter} {operation} "
            f"SELECT u.id FROM {ref(table)} u{right_filter}"
        )
    elif kind == "counts":
        sql = (
            f"SELECT count(*) AS n_{table} FROM {ref(table)} t{left_filter} {operation} "
            f"SELECT count(*) FROM {ref(table)} u{right_filter}"
        )
    else:
        sql = (
            f"SELECT {value(draw, g, 't', table)} AS v, t.region FROM {ref(table)} t{left_filter} {operation} "
            f"SELECT {value(draw, g, 'u', other)}, u.region FROM {ref(other)} u{right_filter}"
        )
    return Template("set_operation", sql)


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def probe_shape(draw: Draw, g: Grammar) -> Template:
    """Does a masked column still equal (or start like) a real value? Masked, never: the count is 0."""
    table = pick(draw, PERSONAL)
    column = pick(draw, MASKED[table])
    real = str(pick(draw, g.probes[(table, column)]))
    x = f"CAST(t.{column} AS TEXT)" if column == "date_of_birth" else f"t.{column}"
    test = pick(draw, (
        f"{x} = {quoted(real)}",
        f"lower({x}) = {quoted(real.lower())}",
        f"{x} LIKE {quoted(real[: len(real) // 2] + '%')}",
        f"substr({x}, 2, 6) = {quoted(real[1:7])}",
        f"{x} IN ({quoted(real)}, 'nobody@example.com')",
        f"t.region = 'EMEA' AND {x} = {quoted(real)}",
    ))  # fmt: skip
    sql = pick(draw, (
        f"SELECT count(*) AS probe FROM {ref(table)} t WHERE {test}",
        f"SELECT CASE WHEN EXISTS (SELECT 1 FROM {ref(table)} t WHERE {test}) THEN 1 ELSE 0 END AS probe",
        f"SELECT sum(CASE WHEN {test} THEN 1 ELSE 0 END) AS probe FROM {ref(table)} t",
    ))  # fmt: skip
    return Template("probe", sql)


SHAPES = {
    "select": select_shape,
    "join": join_shape,
    "aggregate": aggregate_shape,
    "window": window_shape,
    "subquery": subquery_shape,
    "cte": cte_shape,
    "set_operation": set_operation_shape,
    "probe": probe_shape,
}


@st.composite
def statements(draw: Draw, shape: str, g: Grammar) -> Template:
    template = SHAPES[shape](draw, g)
    return dataclasses.replace(template, spelling=pick(draw, ("plain", "plain", *SPELLINGS)))


# Table names as an agent might write them; where the engine reads them as another table (PostgreSQL's
# "BILLING"."CUSTOMERS", MySQL's BILLING_CUSTOMERS), the gateway refuses or the engine fails.
SPELLINGS: Mapping[str, Callable[[list[str]], list[str]]] = {
    "plain": lambda parts: parts,
    "upper": lambda parts: [p.upper() for p in parts],
    "mixed": lambda parts: [p.capitalize() for p in parts],
    "quoted": lambda parts: [f'"{p}"' for p in parts],
    "quoted_upper": lambda parts: [f'"{p.upper()}"' for p in parts],
    "qualified": lambda parts: parts,  # and the schema in front, where it is implicit
}


def spelled(name: str, spelling: str, schema: str) -> str:
    parts = name.split(".")
    if spelling == "qualified" and len(parts) == 1 and schema:
        parts = [schema, *parts]
    return ".".join(SPELLINGS[spelling](parts))


def written_for(template: Template, source: Source) -> str:
    spelling = template.spelling
    names = {n: spelled(source.names[n], spelling, source.schema) for n in LOGICAL}
    # A CTE's name has no schema.
    plain = "plain" if spelling == "qualified" else spelling
    names |= {f"cte_{n}": spelled(source.names[n].rsplit(".", 1)[-1], plain, "") for n in LOGICAL}
    sql = template.sql.format(**names)
    if source.dialect == "postgres":
        return sql
    # IGNORE: what sqlglot cannot carry over exactly is ordering detail (NULLS FIRST/LAST), not meaning.
    return sqlglot.transpile(sql, read="postgres", write=source.dialect, unsupported_level=ErrorLevel.IGNORE)[0]


# --- the oracle ----------------------------------------------------------------------------------

MD5 = re.compile(r"[0-9a-f]{32}")
LITERAL = re.compile(r"'((?:[^']|'')*)'")


def text_of(value: Any) -> str:
    return "" if value is None else str(value)


def leaks_in(text: str, truth: Truth, *, hashed: bool) -> list[str]:
    """What of the truth ``text`` gives away (nothing: an empty list)."""
    found = []
    if secret := truth.secrets.find(text):
        found.append(f"the real value {secret!r}")
    if not hashed:
        found += [f"the md5 of a real e-mail {m!r}" for m in MD5.findall(text.lower()) if m in truth.email_md5s]
    if name := truth.non_emea.find(text):
        found.append(f"{name!r}, which only non-EMEA rows have")
    if region := truth.non_emea_regions.find(text):
        found.append(f"the region {region!r}")
    return found


def error_leaks(error: ConnectorError, sql: str, truth: Truth, *, hashed: bool) -> list[str]:
    """What an engine's error message gives away: a value, or that a row outside EMEA exists. The
    statement's own literals ('NA', a probed e-mail) may come back quoted in it: they tell nothing."""
    message = f"{error.message} {error.details}"
    for literal in LITERAL.findall(sql):
        message = message.replace(literal, "") if literal else message
    found = leaks_in(message, truth, hashed=hashed)
    if "division by zero" in message.lower():
        found.append("a division by zero, which only a row outside EMEA can cause (the tripwire)")
    return found


def bound_of(column: str) -> tuple[str, str] | None:
    """("count" | "id", table) for the columns whose values the EMEA rows bound."""
    if column == "probe":
        return "probe", ""
    for prefix, kind in (("n_", "count"), ("nd_", "count"), ("id_", "id")):
        if column.startswith(prefix):
            table = column.removeprefix(prefix).split("_", 1)[0]
            if table in LOGICAL:
                return kind, table
    return None


def result_leaks(result: QueryResult, template: Template, truth: Truth, *, hashed: bool) -> list[str]:
    columns = [c.lower() for c in result.columns]
    bounds = {i: bound_of(c) for i, c in enumerate(columns)}
    if template.id_table:
        bounds.update({i: ("id", template.id_table) for i, c in enumerate(columns) if c == "id"})
    # One pass over all cells at once; only when it finds something, one pass per cell to say where.
    text = "\n".join(text_of(value) for row in result.rows for value in row)
    problems = []
    if leaks_in(text, truth, hashed=hashed):
        for number, row in enumerate(result.rows):
            for column, value in zip(columns, row, strict=True):
                leaks = leaks_in(text_of(value), truth, hashed=hashed)
                problems += [f"row {number} {column}: {leak}" for leak in leaks]
    for index, bound in bounds.items():
        if bound is None:
            continue
        kind, table = bound
        for number, row in enumerate(result.rows):
            cell = row[index]
            if cell is None or (isinstance(cell, str) and not cell.lstrip("-").isdigit()):
                continue
            if kind == "probe" and int(cell) != 0:
                problems.append(f"row {number} {columns[index]}: {cell}, a masked column matched a real value")
            if kind == "count" and int(cell) > truth.emea_counts[table]:
                problems.append(f"row {number} {columns[index]}: {cell} > {truth.emea_counts[table]} EMEA {table}")
            if kind == "id" and int(cell) not in truth.emea_ids[table]:
                problems.append(f"row {number} {columns[index]}: {table} {cell} is not in EMEA")
    return problems


def masked_cells(result: QueryResult, *, hashed: bool) -> int:
    """Cells that show a mask at work (a redaction, a partial e-mail, or an md5 on hash runs)."""
    return sum(
        1 for row in result.rows for value in row
        if isinstance(value, str) and ("***" in value or (hashed and MD5.fullmatch(value) is not None))
    )  # fmt: skip


# --- the property ----------------------------------------------------------------------------------


def ana(tenancy: Any) -> Actor:
    return actor_for(user=tenancy.ana, workspace_id=tenancy.acme.pk)


@pytest.mark.parametrize("run", RUNS, ids=[f"{r.engine}-{r.email_mask}" for r in RUNS])
def test_no_masked_value_and_no_filtered_row_comes_back(
    run: Run, request: pytest.FixtureRequest, tenancy: Any, record_testsuite_property: Callable[[str, Any], None]
) -> None:
    source = tagged_source(run, request, tenancy)
    truth = source.truth
    assert truth.masked_examples > 100 and all(truth.emea_counts.values()), "the demo data should be there"
    actor, hashed, grammar = ana(tenancy), run.email_mask == "hash", grammar_for(source)
    counts: Counter[str] = Counter()
    started = time.monotonic()

    def holds(template: Template) -> None:
        sql = written_for(template, source)
        decision = authorize(actor, "run_query", {"datasource_id": str(source.datasource.pk), "sql": sql})
        if not decision.allowed:
            counts.update(["refused", f"refused {decision.code}", f"{template.shape} refused"])
            return
        assert decision.sql_after
        context = [f"{run.engine}: {sql}", f"rewritten: {decision.sql_after}"]
        try:
            result = query_read(datasource=source.datasource, sql=decision.sql_after, max_rows=MAX_ROWS,
                                preview_rows=MAX_ROWS)  # fmt: skip
        except ConnectorError as exc:
            counts.update(["failed", f"{template.shape} failed"])
            leaks = error_leaks(exc, decision.sql_after, truth, hashed=hashed)
            assert not leaks, "\n".join([*context, exc.message, *leaks])
            return
        counts.update({"ran": 1, f"{template.shape} ran": 1, "rows checked": len(result.rows),
                       "masked cells": masked_cells(result, hashed=hashed)})  # fmt: skip
        problems = result_leaks(result, template, truth, hashed=hashed)
        assert not problems, "\n".join([*context, *problems[:10]])

    for shape in SHAPES:
        # One search per shape, so that each gets its share of the statements.
        search = settings(max_examples=run.per_shape, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
        search(given(template=statements(shape, grammar))(holds))()

    total = counts["ran"] + counts["refused"] + counts["failed"]
    summary = {"engine": run.engine, "email_mask": run.email_mask, "statements": total,
               "seconds": round(time.monotonic() - started, 1), **dict(sorted(counts.items()))}  # fmt: skip
    # In the junit report (--junitxml) as a property of the suite, and with pytest -s on the terminal.
    record_testsuite_property(f"tag_property[{run.engine}-{run.email_mask}]", json.dumps(summary))
    print(summary)
    assert counts["ran"] >= total / 2, f"too few statements ran to mean anything: {summary}"
    assert all(counts[f"{shape} ran"] for shape in SHAPES), f"a shape never ran: {summary}"
    assert counts["rows checked"] > 0 and counts["masked cells"] > 0, summary


# --- the oracle has teeth: run as the owner, without the gateway, the same kinds of statement leak --


@pytest.mark.parametrize("engine", DIALECTS)
def test_without_the_gateway_the_oracle_sees_each_kind_of_leak(
    engine: str, request: pytest.FixtureRequest, tenancy: Any
) -> None:
    source = tagged_source(Run(engine, "partial", 0), request, tenancy)
    truth = source.truth
    email = truth.probes[("contacts", "email")][0]
    cases = {
        "SELECT * FROM {customers}": ("the real value", "which only non-EMEA rows have", "the region"),
        "SELECT upper(phone) AS v, substr(email, 2) AS w FROM {customers}": ("real value '+1-", "real value '."),
        "SELECT CAST(date_of_birth AS TEXT) AS v FROM {contacts}": ("the real value '19",),
        "SELECT count(*) AS n_customers FROM {customers}": ("EMEA customers",),
        "SELECT id AS id_contacts FROM {contacts} WHERE region <> 'EMEA'": ("is not in EMEA",),
        f"SELECT count(*) AS probe FROM {{contacts}} WHERE email = {quoted(email)}": ("matched a real value",),
    }
    if source.dialect != "sqlite":
        cases["SELECT md5(email) AS v FROM {contacts}"] = ("the md5 of a real e-mail",)
    connector = datasource_services.connector_for(source.datasource)
    try:
        for statement, expected in cases.items():
            sql = written_for(Template("raw", statement), source)
            result = connector.execute_read(sql, options=OWNER_READ)
            found = "\n".join(result_leaks(result, Template("raw", sql), truth, hashed=False))
            assert all(words in found for words in expected), (sql, expected, found[:1000])
        if source.dialect == "postgres":
            tripwire = TRIPWIRE.format(a="t")
            with pytest.raises(ConnectorError) as error:
                connector.execute_read(f"SELECT count(*) FROM crm.contacts t WHERE {tripwire}", options=OWNER_READ)
            assert error_leaks(error.value, "", truth, hashed=False)
    finally:
        connector.close()
