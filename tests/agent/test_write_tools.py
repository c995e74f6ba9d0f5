"""The tools that change things: writes and schema changes on real engines, policies, data sources,
the compliance scan; each run with a decision of the real gateway (and through ``call_tool``).

Alice owns Acme's workspace, Adam administers it, Ana is an EMEA analyst (here allowed to write, and
filtered to her region with e-mails masked), Bob owns Globex's workspace and should have no access
to any of Acme's stuff. Every engine gets a scratch table of its own, so the demo data stays intact:
40 customers, one region in four EMEA (ids 4, 8, ..., 40), e-mails person<id>@example.com.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import pymysql
import pytest
from django.core.exceptions import ValidationError
from guardian.shortcuts import assign_perm

from agent.tools.admin import (
    apply_policy,
    create_datasource,
    propose_policy,
    refresh_datasource,
    scan_sensitive_data,
)
from agent.tools.base import Tool
from agent.tools.write import apply_schema_change, execute_write
from agent.types import ToolCall, ToolContext, ToolResult
from datasources import services as datasource_services
from datasources.catalog import catalog_apply
from datasources.models import CatalogColumn, DataSource
from datasources.queries import query_read, query_write, write_plan
from governance import services as governance_services
from governance.classification import column_tag_add, tag_create
from governance.gateway import Actor, GatewayDecision, authorize
from governance.models import ColumnMaskPolicy, RowFilterPolicy
from workspaces.models import Membership

pytestmark = pytest.mark.django_db

REGIONS = ("EMEA", "NA", "APAC", "LATAM")
ROWS = [(i, f"Customer {i}", f"person{i}@example.com", REGIONS[i % 4], "SMB") for i in range(1, 41)]
EMEA_IDS = [row[0] for row in ROWS if row[3] == "EMEA"]
EMAILS = {row[2] for row in ROWS}


# --- the scratch tables -----------------------------------------------------------------------


@dataclass(frozen=True)
class Scratch:
    engine: str
    datasource: DataSource
    table: str  # as the SQL of the tests names it
    schema: str  # as the catalog names it
    name: str

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def truth(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows as the engine has them (no firewall); ``{t}`` is the scratch table."""
        return [tuple(row) for row in query_read(datasource=self.datasource, sql=sql.format(t=self.table)).rows]

    def sql(self, template: str) -> str:
        return template.format(t=self.table)


def _register(tenancy: Any, name: str, kind: str, settings: dict[str, Any], secrets: dict[str, Any]) -> DataSource:
    datasource = datasource_services.datasource_create(
        workspace=tenancy.acme, name=name, kind=kind, settings=settings, secrets=secrets
    )
    catalog_apply(datasource=datasource, introspection=datasource_services.connector_for(datasource).introspect())
    datasource.refresh_from_db()
    return datasource


def _mysql_server() -> dict[str, Any]:
    url = os.environ.get("TEST_MYSQL_URL")
    if not url:
        pytest.skip("TEST_MYSQL_URL is not set: the MariaDB/MySQL write cases need a server (mysql://root@host:3306/x)")
    parts = urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
    }


@pytest.fixture
def sqlite_scratch(tenancy: Any, files_root: Path) -> Iterator[Scratch]:
    path = files_root / f"writes-{uuid.uuid4().hex}.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE w_customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT, region TEXT, segment TEXT)")
    conn.executemany("INSERT INTO w_customers VALUES (?, ?, ?, ?, ?)", ROWS)
    conn.commit()
    conn.close()
    datasource = _register(tenancy, "Scratch SQLite", "sqlite", {"path": str(path)}, {})
    yield Scratch("sqlite", datasource, "w_customers", "main", "w_customers")
    path.unlink(missing_ok=True)


@pytest.fixture
def postgres_scratch(tenancy: Any, postgres_settings: dict[str, Any], demo_files: dict[str, Any]) -> Iterator[Scratch]:
    if "postgresql" not in demo_files:
        pytest.skip("the demo PostgreSQL database could not be created")
    settings, secrets = postgres_settings["settings"], postgres_settings["secrets"]
    name = f"w_customers_{uuid.uuid4().hex[:8]}"
    conninfo = {
        "host": settings["host"],
        "port": settings["port"],
        "dbname": settings["database"],
        "user": settings["user"],
        "password": secrets["password"],
    }
    with psycopg.connect(autocommit=True, **conninfo) as conn:
        conn.execute(
            f"CREATE TABLE public.{name} (id integer PRIMARY KEY, name text, email text, region text, segment text)"
        )
        with conn.cursor() as cursor:
            cursor.executemany(f"INSERT INTO public.{name} VALUES (%s, %s, %s, %s, %s)", ROWS)
    datasource = _register(tenancy, "Scratch PostgreSQL", "postgresql", {**settings, "schemas": ["public"]}, secrets)
    try:
        yield Scratch("postgresql", datasource, f"public.{name}", "public", name)
    finally:
        with psycopg.connect(autocommit=True, **conninfo) as conn:
            conn.execute(f"DROP TABLE IF EXISTS public.{name}")


@pytest.fixture
def mysql_scratch(tenancy: Any) -> Iterator[Scratch]:
    server = _mysql_server()
    database = f"psa_writes_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = pymysql.connect(autocommit=True, **server)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{database}`")
        cursor.execute(
            f"CREATE TABLE `{database}`.w_customers (id BIGINT PRIMARY KEY, name VARCHAR(100), "
            "email VARCHAR(200), region VARCHAR(20), segment VARCHAR(20))"
        )
        cursor.executemany(f"INSERT INTO `{database}`.w_customers VALUES (%s, %s, %s, %s, %s)", ROWS)
    try:
        settings = {"host": server["host"], "port": server["port"], "database": database, "user": server["user"]}
        secrets = {"password": server["password"]} if server["password"] else {}
        datasource = _register(tenancy, "Scratch MariaDB", "mysql", settings, secrets)
        yield Scratch("mysql", datasource, "w_customers", database, "w_customers")
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
        admin.close()


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def scratch(request: pytest.FixtureRequest) -> Scratch:
    scratch: Scratch = request.getfixturevalue(f"{request.param}_scratch")
    return scratch


def let_ana_write(tenancy: Any, scratch: Scratch, *, safety_level: str = "permissive") -> Scratch:
    """Ana may write to the scratch source; she sees EMEA rows only, e-mails masked (partial)."""
    set_safety_level(tenancy, safety_level)
    assign_perm("datasources.write_datasource", tenancy.ana, scratch.datasource)
    common = {
        "workspace": tenancy.acme,
        "datasource": scratch.datasource,
        "schema_name": scratch.schema,
        "table_name": scratch.name,
    }
    governance_services.row_filter_policy_create(
        **common, predicate="region = {{ user.region }}", roles=["analyst"], name="Own region only"
    )
    governance_services.column_mask_policy_create(
        **common, column_name="email", strategy="partial", name="Mask e-mails"
    )
    return scratch


@pytest.fixture
def ana_writes(tenancy: Any, scratch: Scratch) -> Scratch:
    return let_ana_write(tenancy, scratch)


def set_safety_level(tenancy: Any, level: str) -> None:
    tenancy.acme.safety_level = level
    tenancy.acme.save(update_fields=["safety_level"])


# --- helpers ---------------------------------------------------------------------------------


def actor(tenancy: Any, name: str) -> Actor:
    user = getattr(tenancy, name)
    membership = Membership.objects.select_related("workspace", "user").get(user=user)
    return Actor(user=user, workspace=membership.workspace, membership=membership)


def context(tenancy: Any, name: str) -> ToolContext:
    return ToolContext(actor=actor(tenancy, name), execution_id=uuid.uuid4(), tool_call_id="call_1")


def decide(ctx: ToolContext, tool: Tool, arguments: dict[str, Any]) -> GatewayDecision:
    return authorize(ctx.actor, tool.name, arguments, execution_id=ctx.execution_id)


def run(ctx: ToolContext, tool: Tool, arguments: dict[str, Any]) -> tuple[GatewayDecision, ToolResult]:
    decision = decide(ctx, tool, arguments)
    return decision, tool.run(ctx, arguments, decision)


def preview(ctx: ToolContext, tool: Tool, arguments: dict[str, Any]) -> dict[str, Any]:
    decision = decide(ctx, tool, arguments)
    assert decision.allowed, decision
    assert tool.preview is not None
    return tool.preview(ctx, arguments, decision)


def write_args(scratch: Scratch, sql: str) -> dict[str, Any]:
    return {"datasource_id": str(scratch.datasource.pk), "sql": scratch.sql(sql), "reason": "test"}


def read_as(who: Actor, datasource: DataSource, sql: str) -> GatewayDecision:
    """The gateway's decision on ``who`` reading ``sql`` (which must be allowed)."""
    decision = authorize(who, "run_query", {"datasource_id": str(datasource.pk), "sql": sql})
    assert decision.allowed and decision.sql_after, decision
    return decision


def rows_as(who: Actor, datasource: DataSource, sql: str) -> list[tuple[Any, ...]]:
    sql_after = read_as(who, datasource, sql).sql_after
    assert sql_after is not None
    return [tuple(row) for row in query_read(datasource=datasource, sql=sql_after).rows]


def catalog_columns(scratch: Scratch) -> list[str]:
    return list(
        CatalogColumn.objects.filter(table__datasource=scratch.datasource, table__name=scratch.name, is_present=True)
        .order_by("ordinal")
        .values_list("name", flat=True)
    )


# --- writes -----------------------------------------------------------------------------------


def test_a_dry_run_changes_nothing_and_shows_the_exact_rows_with_masks_applied(tenancy, ana_writes):
    ctx = context(tenancy, "ana")
    shown = preview(ctx, execute_write, write_args(ana_writes, "UPDATE {t} SET segment = 'Enterprise' WHERE id <= 20"))

    expected = [i for i in EMEA_IDS if i <= 20]
    assert shown["rows_affected"] == len(expected) == 5
    assert shown["kind"] == "update"
    assert "Own region only" in shown["policies_applied"]
    assert [c.lower() for c in shown["columns"]] == ["id", "name", "email", "region", "segment"]
    assert sorted(row[0] for row in shown["rows"]) == expected
    assert {row[3] for row in shown["rows"]} == {"EMEA"}
    assert all(row[2].startswith("p***@") for row in shown["rows"])  # partial mask
    assert not EMAILS & {row[2] for row in shown["rows"]}
    assert "rolled back" in shown["note"]
    assert ana_writes.truth("SELECT count(*) FROM {t} WHERE segment = 'Enterprise'") == [(0,)]


def test_the_dry_run_an_approver_sees_holds_tag_policies_too(tenancy, scratch):
    """No table policy on the scratch table: the region filter and the e-mail mask follow its tags."""
    set_safety_level(tenancy, "permissive")
    assign_perm("datasources.write_datasource", tenancy.ana, scratch.datasource)
    tag_create(workspace_id=tenancy.acme.pk, name="region")
    columns = CatalogColumn.objects.filter(table__datasource=scratch.datasource, table__name=scratch.name)
    for column, tag in (("email", "pii.email"), ("region", "region")):
        column_tag_add(column=columns.get(name__iexact=column), tag=tag, user=tenancy.alice)
    governance_services.tag_mask_policy_create(
        workspace=tenancy.acme, tag="pii.email", strategy="partial", roles=["analyst"], name="Partial e-mails"
    )
    governance_services.tag_row_filter_policy_create(
        workspace=tenancy.acme, tag="region", predicate="{{ column }} = {{ user.region }}", roles=["analyst"],
        name="Own region",
    )  # fmt: skip

    shown = preview(
        context(tenancy, "ana"), execute_write, write_args(scratch, "UPDATE {t} SET segment = 'x' WHERE id <= 20")
    )
    assert shown["rows_affected"] == 5
    assert sorted(row[0] for row in shown["rows"]) == [i for i in EMEA_IDS if i <= 20]
    assert {row[3] for row in shown["rows"]} == {"EMEA"}
    assert all(row[2].startswith("p***@") for row in shown["rows"])
    assert "Own region (tag region)" in shown["policies_applied"]


def test_a_write_changes_exactly_the_rows_the_writer_sees(tenancy, ana_writes):
    ctx = context(tenancy, "ana")
    decision, result = run(ctx, execute_write, write_args(ana_writes, "UPDATE {t} SET segment = 'Enterprise'"))

    assert (result.status, result.observation) == ("ok", {"rows_affected": len(EMEA_IDS)})
    assert decision.sql_after is not None and "'EMEA'" in decision.sql_after
    assert result.sql == decision.sql_after
    changed = ana_writes.truth("SELECT id FROM {t} WHERE segment = 'Enterprise' ORDER BY id")
    assert [row[0] for row in changed] == EMEA_IDS

    # Rows of another region cannot be reached, whatever the WHERE says.
    _, other = run(ctx, execute_write, write_args(ana_writes, "DELETE FROM {t} WHERE region = 'NA'"))
    assert other.observation == {"rows_affected": 0}
    assert ana_writes.truth("SELECT count(*) FROM {t}") == [(40,)]


def test_a_subquery_on_the_written_table_sees_only_the_writers_rows(tenancy, ana_writes):
    # Unfiltered, the subquery would find the NA customer 1 and the write would reach every EMEA row.
    sql = (
        "UPDATE {t} SET segment = 'X' WHERE EXISTS (SELECT 1 FROM {t} AS other WHERE other.id = 1 "
        "AND other.email = 'person1@example.com')"
    )
    shown = preview(context(tenancy, "ana"), execute_write, write_args(ana_writes, sql))
    assert shown["rows_affected"] == 0


def test_masked_columns_cannot_be_written_and_rows_cannot_be_added_to_a_filtered_table(tenancy, ana_writes):
    ctx = context(tenancy, "ana")
    masked = decide(ctx, execute_write, write_args(ana_writes, "UPDATE {t} SET email = 'x@example.com'"))
    assert (masked.allowed, masked.code) == (False, "sql_masked_column")
    insert = decide(ctx, execute_write, write_args(ana_writes, "INSERT INTO {t} (id, name) VALUES (100, 'x')"))
    assert (insert.allowed, insert.code) == (False, "sql_statement_not_allowed")


def test_an_insert_preview_shows_the_rows_to_add_then_the_write_adds_them(tenancy, scratch):
    set_safety_level(tenancy, "standard")
    ctx = context(tenancy, "adam")
    sql = (
        "INSERT INTO {t} (id, name, email, region, segment) VALUES "
        "(101, 'New one', 'new@example.com', 'EMEA', 'SMB'), (102, 'Two', NULL, 'NA', 'SMB')"
    )
    arguments = write_args(scratch, sql)
    decision = decide(ctx, execute_write, arguments)
    assert (decision.allowed, decision.needs_approval) == (True, True)

    shown = execute_write.preview(ctx, arguments, decision) if execute_write.preview else {}
    assert shown["rows_affected"] == 2
    assert [c.lower() for c in shown["columns"]] == ["id", "name", "email", "region", "segment"]
    assert shown["rows"] == [[101, "New one", "new@example.com", "EMEA", "SMB"], [102, "Two", None, "NA", "SMB"]]
    assert scratch.truth("SELECT count(*) FROM {t}") == [(40,)]

    result = execute_write.run(ctx, arguments, decision)
    assert result.observation == {"rows_affected": 2}
    assert scratch.truth("SELECT count(*) FROM {t}") == [(42,)]


@pytest.fixture
def tickets(scratch: Scratch) -> Iterator[Scratch]:
    """A table beside the scratch one whose ids the engine generates: serial, AUTO_INCREMENT, AUTOINCREMENT."""
    name = f"w_tickets_{uuid.uuid4().hex[:8]}"
    table = f"public.{name}" if scratch.engine == "postgresql" else name
    id_column = {
        "sqlite": "id INTEGER PRIMARY KEY AUTOINCREMENT",
        "postgresql": "id serial PRIMARY KEY",
        "mysql": "id INT AUTO_INCREMENT PRIMARY KEY",
    }[scratch.engine]
    create = f"CREATE TABLE {table} ({id_column}, title VARCHAR(100))"
    query_write(datasource=scratch.datasource, sql=create, dry_run=False)
    introspection = datasource_services.connector_for(scratch.datasource).introspect()
    catalog_apply(datasource=scratch.datasource, introspection=introspection)
    try:
        yield replace(scratch, table=table, name=name)
    finally:
        query_write(datasource=scratch.datasource, sql=f"DROP TABLE {table}", dry_run=False)


def test_an_insert_preview_says_when_its_dry_run_used_up_ids(tenancy, tickets):
    set_safety_level(tenancy, "standard")
    ctx = context(tenancy, "adam")
    arguments = write_args(tickets, "INSERT INTO {t} (title) VALUES ('first'), ('second')")
    decision = decide(ctx, execute_write, arguments)

    shown = execute_write.preview(ctx, arguments, decision) if execute_write.preview else {}
    result = execute_write.run(ctx, arguments, decision)

    assert (shown["rows_affected"], result.observation) == (2, {"rows_affected": 2})
    ids = [row[0] for row in tickets.truth("SELECT id FROM {t} ORDER BY id")]
    if tickets.engine == "mysql":  # InnoDB does not roll back AUTO_INCREMENT
        assert f"used up values of {tickets.qualified} AUTO_INCREMENT, which" in shown["note"]
        assert ids == [3, 4]
    else:  # SQLite rolls its sequence back; PostgreSQL's dry run sets it back
        assert "used up" not in shown["note"]
        assert ids == [1, 2]


def test_a_failing_write_reports_the_engines_error(tenancy, scratch):
    set_safety_level(tenancy, "permissive")
    ctx = context(tenancy, "adam")
    arguments = write_args(scratch, "INSERT INTO {t} (id, name) VALUES (1, 'duplicate id')")
    shown = preview(ctx, execute_write, arguments)
    assert shown["rows_affected"] is None and shown["error"]["code"] == "query_failed"
    _, result = run(ctx, execute_write, arguments)
    assert (result.status, result.error_code) == ("error", "query_failed")


def test_files_sources_refuse_writes(tenancy, demo_files):
    set_safety_level(tenancy, "permissive")
    files = _register(tenancy, "Lake", "files", dict(demo_files["files"].settings), {})
    ctx = context(tenancy, "adam")
    arguments = {"datasource_id": str(files.pk), "sql": "DELETE FROM billing_products WHERE id = 1"}
    _, result = run(ctx, execute_write, arguments)
    assert (result.status, result.error_code) == ("error", "writes_not_supported")


def test_query_write_dry_runs_and_write_plans_read_the_statement(tenancy, sqlite_scratch):
    dry = query_write(datasource=sqlite_scratch.datasource, sql="DELETE FROM w_customers WHERE id > 30", dry_run=True)
    assert (dry.rows_affected, dry.committed) == (10, False)
    assert sqlite_scratch.truth("SELECT count(*) FROM {t}") == [(40,)]

    plan = write_plan(
        'DELETE FROM "main"."w_customers" AS c WHERE c.id > 30 AND (c.region = \'EMEA\')', dialect="sqlite"
    )
    assert plan.affected_select == (
        'SELECT * FROM "main"."w_customers" AS c WHERE c.id > 30 AND (c.region = \'EMEA\') LIMIT 20'
    )
    assert write_plan("ALTER TABLE t ADD COLUMN x INT", dialect="mysql").description == "ALTER TABLE"


# --- schema changes ---------------------------------------------------------------------------


def test_a_schema_change_is_tried_first_then_applied_and_the_catalog_follows(tenancy, scratch):
    set_safety_level(tenancy, "permissive")
    ctx = context(tenancy, "adam")
    arguments = write_args(scratch, "ALTER TABLE {t} ADD COLUMN note VARCHAR(200)")
    decision = decide(ctx, apply_schema_change, arguments)
    assert (decision.allowed, decision.needs_approval) == (True, True)  # DDL always asks

    shown = apply_schema_change.preview(ctx, arguments, decision) if apply_schema_change.preview else {}
    assert shown["kind"] == "ALTER TABLE"
    if scratch.engine == "mysql":
        assert shown["validated"] is None and "cannot be tried out" in shown["note"]
    else:
        assert shown["validated"] is True
    assert "note" not in catalog_columns(scratch)
    assert len(scratch.truth("SELECT * FROM {t} WHERE id = 1")[0]) == 5  # the dry run left the table alone

    result = apply_schema_change.run(ctx, arguments, decision)
    assert result.observation == {"applied": True, "catalog_refreshed": True}
    assert catalog_columns(scratch) == ["id", "name", "email", "region", "segment", "note"]
    # The firewall knows the new column at once.
    read_as(ctx.actor, scratch.datasource, scratch.sql("SELECT note FROM {t}"))


def test_a_schema_change_the_engine_refuses_fails_its_dry_run(tenancy, sqlite_scratch, postgres_scratch):
    set_safety_level(tenancy, "permissive")
    for scratch in (sqlite_scratch, postgres_scratch):
        shown = preview(
            context(tenancy, "adam"), apply_schema_change, write_args(scratch, "ALTER TABLE {t} ADD COLUMN region TEXT")
        )
        assert shown["validated"] is False, scratch.engine
        assert shown["error"]["code"] in {"query_failed", "query_invalid"}


def test_analysts_cannot_change_schemas_and_other_workspaces_do_not_exist(tenancy, sqlite_scratch):
    arguments = write_args(sqlite_scratch, "DROP TABLE {t}")
    assert decide(context(tenancy, "ana"), apply_schema_change, arguments).code == "permission_denied"
    bob = Actor(user=tenancy.bob, workspace=tenancy.globex, membership=Membership.objects.get(user=tenancy.bob))
    assert authorize(bob, "apply_schema_change", arguments).code == "not_found"
    assert authorize(bob, "execute_write", arguments).code == "not_found"


# --- policies ---------------------------------------------------------------------------------


def policy_args(scratch: Scratch, **extra: Any) -> dict[str, Any]:
    return {"datasource_id": str(scratch.datasource.pk), "table": scratch.qualified, **extra}


def test_proposing_a_policy_checks_it_and_changes_nothing(tenancy, sqlite_scratch):
    ctx = context(tenancy, "ana")
    arguments = policy_args(sqlite_scratch, kind="row_filter", predicate="region = {{ user.region }}")
    _, result = run(ctx, propose_policy, arguments)
    assert result.status == "ok"
    assert result.observation["policy"] == {
        "datasource_id": str(sqlite_scratch.datasource.pk),
        "kind": "row_filter",
        "table": "main.w_customers",
        "name": "Row filter on main.w_customers: region = {{ user.region }}",
        "roles": ["analyst", "viewer"],
        "predicate": "region = {{ user.region }}",
    }
    assert "For you it reads: region = 'EMEA'" in result.observation["effect"]
    assert not RowFilterPolicy.objects.filter(datasource=sqlite_scratch.datasource).exists()


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"kind": "row_filter", "predicate": "region = {{ user.region }}; DROP TABLE x"}, "invalid_predicate"),
        ({"kind": "row_filter", "predicate": "country = 'FR'"}, "invalid_predicate"),
        ({"kind": "mask", "column": "password"}, "invalid_arguments"),
        ({"kind": "mask", "column": "email", "strategy": "rot13"}, "invalid_arguments"),
        ({"kind": "mask", "column": "email", "roles": ["intern"]}, "invalid_arguments"),
        ({"kind": "mask", "column": "email", "table": "main.nowhere"}, "invalid_arguments"),
    ],
)
def test_bad_policies_are_refused_with_a_reason(tenancy, sqlite_scratch, extra, code):
    _, result = run(context(tenancy, "adam"), propose_policy, {**policy_args(sqlite_scratch), **extra})
    assert (result.status, result.error_code) == ("error", code), result.observation


def test_an_applied_mask_holds_from_the_next_query_on(tenancy, sqlite_scratch):
    query = "SELECT email FROM w_customers ORDER BY id"
    ana, source = actor(tenancy, "ana"), sqlite_scratch.datasource
    assert rows_as(ana, source, query)[0] == ("person1@example.com",)

    _, result = run(
        context(tenancy, "adam"),
        apply_policy,
        policy_args(sqlite_scratch, kind="mask", column="email", strategy="partial"),
    )
    assert result.status == "ok", result.observation
    policy = ColumnMaskPolicy.objects.get(pk=result.observation["policy_id"])
    assert result.observation == {"policy_id": policy.pk, "kind": "mask", "name": policy.name}
    assert (policy.strategy, policy.exempt_roles) == ("partial", ["owner", "admin"])

    assert policy.name in read_as(ana, source, query).policies_applied
    assert rows_as(ana, source, query)[0] == ("p***@example.com",)
    # Applied twice, the second one is refused: the column is masked already.
    _, again = run(
        context(tenancy, "adam"),
        apply_policy,
        policy_args(sqlite_scratch, kind="mask", column="email", strategy="hash"),
    )
    assert again.error_code == "validation_error" and "already masks" in again.observation["error"]["message"]


def test_an_applied_row_filter_holds_from_the_next_query_on(tenancy, scratch):
    _, result = run(
        context(tenancy, "alice"),
        apply_policy,
        policy_args(scratch, kind="row_filter", predicate="region = {{ user.region }}", roles=["analyst"]),
    )
    assert result.status == "ok", result.observation
    rows = rows_as(actor(tenancy, "ana"), scratch.datasource, scratch.sql("SELECT id FROM {t}"))
    assert sorted(row[0] for row in rows) == EMEA_IDS


def test_the_approver_of_a_policy_sees_what_it_would_change(tenancy, sqlite_scratch):
    ctx = context(tenancy, "adam")
    arguments = policy_args(sqlite_scratch, kind="mask", column="EMAIL", strategy="hash", roles=["viewer"])
    assert apply_policy.preview is not None
    shown = apply_policy.preview(ctx, arguments, decide(ctx, apply_policy, arguments))
    assert shown["policy"]["column"] == "email" and shown["policy"]["roles"] == ["viewer"]
    assert shown["effect"].startswith("Members with the role viewer will see email of main.w_customers as a hash")
    assert not ColumnMaskPolicy.objects.exists()


def test_only_policy_managers_apply_policies(tenancy, sqlite_scratch):
    arguments = policy_args(sqlite_scratch, kind="mask", column="email")
    decision, result = run(context(tenancy, "ana"), apply_policy, arguments)
    assert decision.code == "permission_denied"
    assert (result.status, result.error_code) == ("denied", "permission_denied")
    assert not ColumnMaskPolicy.objects.exists()


def test_the_policy_services_validate_like_the_admin(tenancy, sqlite_scratch):
    common = {
        "workspace": tenancy.acme,
        "datasource": sqlite_scratch.datasource,
        "schema_name": "main",
        "table_name": "w_customers",
    }
    with pytest.raises(ValidationError, match="not valid SQL"):
        governance_services.row_filter_policy_create(**common, predicate="region = = 1")
    with pytest.raises(ValidationError, match="no column"):
        governance_services.row_filter_policy_create(**common, predicate="country = {{ user.country }}")
    with pytest.raises(ValidationError, match="no table"):
        governance_services.column_mask_policy_create(
            **{**common, "table_name": "nowhere"}, column_name="email", strategy="redact"
        )
    with pytest.raises(ValidationError, match="another workspace"):
        governance_services.column_mask_policy_create(
            **{**common, "workspace": tenancy.globex}, column_name="email", strategy="redact"
        )
    with pytest.raises(ValidationError, match="Unknown role"):
        governance_services.row_filter_policy_create(**common, predicate="region = 'EMEA'", roles=["boss"])
    policy = governance_services.row_filter_policy_create(**common, predicate="region = {{ user.region }}")
    assert (policy.roles, policy.exempt_roles) == (["analyst", "viewer"], [])


# --- data sources -----------------------------------------------------------------------------


def test_an_admin_creates_a_data_source_which_is_tested_and_read(
    tenancy, sqlite_scratch, django_capture_on_commit_callbacks
):
    ctx = context(tenancy, "adam")
    arguments = {
        "name": "Second copy",
        "kind": "sqlite",
        "settings": {"path": sqlite_scratch.datasource.settings["path"]},
    }
    with django_capture_on_commit_callbacks() as enqueued:
        decision, result = run(ctx, create_datasource, arguments)
    assert decision.allowed
    assert result.observation == {"datasource_id": result.observation["datasource_id"], "status": "introspecting"}
    created = DataSource.objects.get(pk=result.observation["datasource_id"])
    assert (created.workspace, created.name) == (tenancy.acme, "Second copy")
    assert created.server_version.startswith("SQLite")  # tested before the schema is read
    assert len(enqueued) == 1  # the introspection task, after commit


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"name": "Etc", "kind": "sqlite", "settings": {"path": "/etc/passwd"}}, "datasource_path_forbidden"),
        ({"name": "Odd", "kind": "oracle", "settings": {}}, "validation_error"),
        (
            {
                "name": "Leaky",
                "kind": "postgresql",
                "settings": {"host": "127.0.0.1", "database": "x", "user": "u", "password": "p"},
            },
            "validation_error",
        ),
        (
            {
                "name": "Meta",
                "kind": "postgresql",
                "settings": {"host": "169.254.169.254", "database": "x", "user": "u"},
            },
            "datasource_forbidden_host",
        ),
    ],
)
def test_a_data_source_that_cannot_be_created_is_an_error_with_the_services_code(tenancy, arguments, code):
    _, result = run(context(tenancy, "adam"), create_datasource, arguments)
    assert (result.status, result.error_code) == ("error", code), result.observation
    assert (result.observation["datasource_id"], result.observation["status"]) == (None, "error")
    assert not DataSource.objects.filter(name=arguments["name"]).exists()


def test_a_source_that_cannot_connect_is_kept_with_status_error(tenancy, postgres_settings):
    settings = postgres_settings["settings"]
    arguments = {
        "name": "Wrong password",
        "kind": "postgresql",
        "settings": settings,
        "secrets": {"password": "not-the-password"},
    }
    _, result = run(context(tenancy, "adam"), create_datasource, arguments)
    assert (result.status, result.error_code) == ("error", "datasource_auth_failed")
    assert "not-the-password" not in json.dumps(result.as_json())
    saved = DataSource.objects.get(pk=result.observation["datasource_id"])
    assert saved.status == "error"


def test_the_approver_sees_the_checked_settings_and_no_secret(tenancy, postgres_settings):
    ctx = context(tenancy, "adam")
    arguments = {
        "name": "Warehouse",
        "kind": "postgresql",
        "settings": postgres_settings["settings"],
        "secrets": {"password": "s3cret-value"},
    }
    assert create_datasource.preview is not None
    shown = create_datasource.preview(ctx, arguments, decide(ctx, create_datasource, arguments))
    assert shown["secrets"] == ["password"] and shown["settings"]["sslmode"] == "prefer"
    assert "s3cret-value" not in json.dumps(shown)
    forbidden = {**arguments, "settings": {**arguments["settings"], "host": "169.254.169.254"}}
    assert create_datasource.preview(ctx, forbidden, decide(ctx, create_datasource, forbidden))["error"]["code"] == (
        "datasource_forbidden_host"
    )


def test_analysts_cannot_create_data_sources(tenancy):
    arguments = {"name": "Mine", "kind": "sqlite", "settings": {"path": "x.sqlite"}}
    decision, result = run(context(tenancy, "ana"), create_datasource, arguments)
    assert (decision.code, result.status) == ("permission_denied", "denied")


def test_a_refresh_starts_once_at_a_time(tenancy, sqlite_scratch):
    ctx = context(tenancy, "adam")
    arguments = {"datasource_id": str(sqlite_scratch.datasource.pk)}
    _, first = run(ctx, refresh_datasource, arguments)
    assert first.observation == {"datasource_id": str(sqlite_scratch.datasource.pk), "status": "introspecting"}
    _, second = run(ctx, refresh_datasource, arguments)
    assert second.status == "ok" and "already running" in second.observation["note"]
    assert decide(context(tenancy, "ana"), refresh_datasource, arguments).code == "permission_denied"


# --- compliance scan --------------------------------------------------------------------------


def test_the_scan_reports_findings_and_proposals_never_values(tenancy, sqlite_source):
    ctx = context(tenancy, "adam")
    arguments = {"datasource_id": str(sqlite_source.pk), "tables": ["main.crm_contacts", "billing_customers"]}
    decision, result = run(ctx, scan_sensitive_data, arguments)
    assert decision.allowed and result.status == "ok"
    findings = {(f["table"], f["column"]): f for f in result.observation["findings"]}
    email = findings[("main.crm_contacts", "email")]
    assert (email["kind"], email["evidence"]) == ("email", "values")
    assert email["sample_matches"] > 0
    assert {table for table, _ in findings} == {"main.crm_contacts", "main.billing_customers"}
    proposal = next(
        p for p in result.observation["proposals"] if p["column"] == "email" and p["table"] == "main.crm_contacts"
    )
    assert proposal == {
        "datasource_id": str(sqlite_source.pk),
        "kind": "mask",
        "table": "main.crm_contacts",
        "column": "email",
        "strategy": "partial",
        "roles": ["analyst", "viewer"],
    }
    values = query_read(datasource=sqlite_source, sql="SELECT email, phone FROM crm_contacts LIMIT 50").rows
    text = json.dumps(result.observation)
    assert not [value for row in values for value in row if value and value in text]
    # A proposal is apply_policy's arguments as they are.
    _, applied = run(ctx, apply_policy, proposal)
    assert applied.status == "ok", applied.observation


def test_analysts_cannot_scan(tenancy, sqlite_source):
    decision = decide(context(tenancy, "ana"), scan_sensitive_data, {"datasource_id": str(sqlite_source.pk)})
    assert decision.code == "permission_denied"


# --- through the dispatcher -------------------------------------------------------------------


@pytest.fixture
def dispatch() -> Callable[[ToolContext, str, dict[str, Any]], ToolResult]:
    dispatch_module = pytest.importorskip("agent.dispatch")

    def call(ctx: ToolContext, tool: str, arguments: dict[str, Any]) -> ToolResult:
        return dispatch_module.call_tool(ctx, ToolCall(id=ctx.tool_call_id, name=tool, arguments=arguments))

    return call


@pytest.mark.django_db(transaction=True)  # the ledger row is committed before the tool acts
def test_a_write_through_the_dispatcher_pauses_with_its_preview_then_runs_once_approved(
    tenancy, sqlite_scratch, dispatch
):
    ana_writes = let_ana_write(tenancy, sqlite_scratch, safety_level="standard")
    ctx = context(tenancy, "ana")
    arguments = write_args(ana_writes, "UPDATE {t} SET segment = 'Enterprise' WHERE id <= 20")

    paused = dispatch(ctx, "execute_write", arguments)
    assert paused.status == "approval"
    assert paused.interaction is not None
    shown = paused.interaction["preview"]
    assert shown["rows_affected"] == 5 and {row[3] for row in shown["rows"]} == {"EMEA"}
    assert ana_writes.truth("SELECT count(*) FROM {t} WHERE segment = 'Enterprise'") == [(0,)]

    approved = replace(ctx, approved_by="alice")
    done = dispatch(approved, "execute_write", arguments)
    assert done.observation == {"rows_affected": 5}
    assert dispatch(approved, "execute_write", arguments) == done  # the ledger: never twice
    assert ana_writes.truth("SELECT count(*) FROM {t} WHERE segment = 'Enterprise'") == [(5,)]
