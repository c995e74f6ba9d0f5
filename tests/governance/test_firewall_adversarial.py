"""The firewall against real engines: what an agent could write to read past Ana's policy.

Ana sees EMEA rows of customers, contacts, support tickets, accounts and invoices; contacts' e-mail
(partial), phone (redacted) and date of birth (null) are masked, customers' e-mail is hashed and
their phone does not exist for her; payments are not in her catalog.

Every case is one row: a short id, the SQL (a template over the engine's table names), and the
expected outcome, "refused:<code>" or "harmless". A harmless statement is rewritten and RUN on the
engine; then no returned value (nor error message) may hold a real e-mail, a phone number, a date of
birth, the md5 of a contact's e-mail, or a row outside EMEA, and the case's own checks must hold.
``pytest --collect-only -q`` on this file prints the list with the outcomes.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from django.conf import settings

from datasources.connectors import ConnectorError, QueryOptions, QueryResult
from governance.firewall import check_sql
from tests.governance.conftest import MAX_ROWS, Engine

ENGINES = ("postgresql", "sqlite", "duckdb", "mysql")
FLAT = ("sqlite", "duckdb", "mysql")  # engines whose tables are named billing_customers
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE_RE = re.compile(r"\+\d{1,3}-\d{3}-\d{3}-\d{4}")
MD5_RE = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Outcome:
    result: QueryResult | None
    error: ConnectorError | None


Check = Callable[[Outcome, Engine], None]


@dataclass(frozen=True)
class Case:
    id: str
    sql: str | Mapping[str, str]  # one template for every engine, or one per engine (others skip it)
    expect: str  # "refused:<code>" or "harmless"
    checks: tuple[Check, ...] = ()
    timeout: float = 10.0

    def engines(self) -> tuple[str, ...]:
        return ENGINES if isinstance(self.sql, str) else tuple(e for e in ENGINES if e in self.sql)

    def template(self, engine: str) -> str:
        return self.sql if isinstance(self.sql, str) else self.sql[engine]


def for_engines(sql: str, *engines: str) -> dict[str, str]:
    return dict.fromkeys(engines, sql)


# --- checks ------------------------------------------------------------------------------------


def succeeded(outcome: Outcome) -> QueryResult:
    assert outcome.error is None, f"the engine refused the rewritten SQL: {outcome.error.code} {outcome.error.message}"
    assert outcome.result is not None
    return outcome.result


def column(result: QueryResult, name: str) -> list[Any]:
    index = [c.lower() for c in result.columns].index(name)
    return [row[index] for row in result.rows]


def count_is(table: str) -> Check:
    def check(outcome: Outcome, engine: Engine) -> None:
        assert succeeded(outcome).rows[0][0] == engine.truth.emea_counts[table]

    return check


def every_count_is(table: str, name: str = "n") -> Check:
    def check(outcome: Outcome, engine: Engine) -> None:
        values = column(succeeded(outcome), name)
        assert values and set(values) == {engine.truth.emea_counts[table]}

    return check


def largest_count_is(table: str, name: str = "n") -> Check:
    def check(outcome: Outcome, engine: Engine) -> None:
        assert max(column(succeeded(outcome), name)) == engine.truth.emea_counts[table]

    return check


def count_in(*allowed: str | int) -> Check:
    def check(outcome: Outcome, engine: Engine) -> None:
        expected = {engine.truth.emea_counts[a] if isinstance(a, str) else a for a in allowed}
        assert succeeded(outcome).rows[0][0] in expected

    return check


def zero(outcome: Outcome, engine: Engine) -> None:
    assert succeeded(outcome).rows[0][0] in (0, "0")


def no_rows(outcome: Outcome, engine: Engine) -> None:
    assert succeeded(outcome).rows_returned == 0


def some_rows(outcome: Outcome, engine: Engine) -> None:
    assert succeeded(outcome).rows_returned > 0


def regions_are_emea(outcome: Outcome, engine: Engine) -> None:
    result = succeeded(outcome)
    regions = [c for c in result.columns if c.lower().endswith("region")]
    assert regions, "the case should select a region"
    for name in regions:
        assert set(column(result, name.lower())) <= {"EMEA", None}


def phones_redacted(outcome: Outcome, engine: Engine) -> None:
    assert set(column(succeeded(outcome), "phone")) == {"***"}


def emails_partial(outcome: Outcome, engine: Engine) -> None:
    for value in column(succeeded(outcome), "email"):
        assert re.fullmatch(r"[^@]\*\*\*@[\w.-]+", value), value


def emails_hashed(outcome: Outcome, engine: Engine) -> None:
    values = column(succeeded(outcome), "email")
    assert values
    pattern = r"\*\*\*" if engine.name == "sqlite" else r"[0-9a-f]{32}"  # SQLite has no hash function
    assert all(re.fullmatch(pattern, value) for value in values)


def times_out(outcome: Outcome, engine: Engine) -> None:
    assert outcome.error is not None and outcome.error.code == "query_timeout", outcome


def stopped(outcome: Outcome, engine: Engine) -> None:
    """Stopped by the time limit, or (MariaDB) by the engine's own recursion limit."""
    if engine.name == "mysql" and outcome.error is None:
        assert succeeded(outcome).rows[0][0] <= 1_000_001
        return
    times_out(outcome, engine)


def backslash_kept(outcome: Outcome, engine: Engine) -> None:
    assert succeeded(outcome).rows == (("a\\", f" FROM {engine.names['payments']} --"),)


def capped(outcome: Outcome, engine: Engine) -> None:
    assert 0 < succeeded(outcome).rows_returned <= MAX_ROWS


def no_hidden_names(outcome: Outcome, engine: Engine) -> None:
    """Neither the rows nor an error message name a customer only non-EMEA customers have."""
    texts = [outcome.error.message] if outcome.error else [str(v) for row in succeeded(outcome).rows for v in row]
    for text in texts:
        assert not any(name in text for name in engine.truth.non_emea_names), text


def assert_nothing_leaks(outcome: Outcome, engine: Engine) -> None:
    truth = engine.truth
    if outcome.error is not None:
        texts = [outcome.error.message]
    else:
        result = succeeded(outcome)
        texts = [str(value) for row in result.rows for value in row if value is not None]
        if "date_of_birth" in result.columns:
            assert set(column(result, "date_of_birth")) == {None}, "a date of birth came through"
    for text in texts:
        leaked = {email for email in EMAIL_RE.findall(text) if email in truth.emails}
        assert not leaked, f"real e-mail(s) {sorted(leaked)[:3]} in {text[:200]!r}"
        assert not PHONE_RE.search(text), f"a phone number in {text[:200]!r}"
        hashes = set(MD5_RE.findall(text)) & truth.contact_email_md5s
        assert not hashes, f"the md5 of a contact's real e-mail in {text[:200]!r}"


# --- the cases ---------------------------------------------------------------------------------

R = "refused:"
HARMLESS = "harmless"
PG, SQ, DK, MY = "postgresql", "sqlite", "duckdb", "mysql"

CASES: tuple[Case, ...] = (
    # one statement only
    Case(
        "multiple_statements", "SELECT count(*) FROM {customers}; DROP TABLE {payments}", R + "sql_multiple_statements"
    ),
    Case("comment_hides_second_statement", "SELECT 1 --\n; DELETE FROM {contacts}", R + "sql_multiple_statements"),
    Case(
        "trailing_semicolon_and_comment",
        "SELECT count(*) AS n FROM {customers}; -- done",
        HARMLESS,
        (count_is("customers"),),
    ),
    Case(
        "comment_tricks",
        "SELECT count(*) AS n FROM {customers} /* WHERE 1 = 0 */ -- ; DROP TABLE {payments}",
        HARMLESS,
        (count_is("customers"),),
    ),
    Case(
        "mysql_executable_comment", "SELECT 1 AS x /*! UNION SELECT email FROM {customers} */", HARMLESS, (some_rows,)
    ),
    # statement kinds and constructs
    Case("select_into", "SELECT * INTO stolen FROM {customers}", R + "sql_forbidden_construct"),
    Case("for_update", "SELECT * FROM {customers} FOR UPDATE", R + "sql_forbidden_construct"),
    Case("update", "UPDATE {contacts} SET email = 'x@example.com'", R + "sql_statement_not_allowed"),
    Case("drop_table", "DROP TABLE {payments}", R + "sql_statement_not_allowed"),
    Case(
        "data_modifying_cte",
        for_engines("WITH gone AS (DELETE FROM {contacts} RETURNING *) SELECT * FROM gone", PG),
        R + "sql_statement_not_allowed",
    ),
    Case(
        "copy_to_program",
        for_engines("COPY (SELECT * FROM {customers}) TO PROGRAM 'id'", PG),
        R + "sql_forbidden_construct",
    ),
    Case("copy_to_file", for_engines("COPY {customers} TO '/tmp/stolen.csv'", DK), R + "sql_forbidden_construct"),
    Case("set_session", for_engines("SET statement_timeout = 0", PG), R + "sql_forbidden_construct"),
    Case(
        "attach",
        {SQ: "ATTACH DATABASE '/tmp/other.db' AS other", DK: "ATTACH '/tmp/other.db'"},
        R + "sql_forbidden_construct",
    ),
    Case("pragma", for_engines("PRAGMA query_only = OFF", SQ, DK), R + "sql_forbidden_construct"),
    Case("install_extension", for_engines("INSTALL httpfs", DK), R + "sql_forbidden_construct"),
    Case(
        "into_outfile",
        for_engines("SELECT * FROM {customers} INTO OUTFILE '/tmp/stolen'", MY),
        R + "sql_forbidden_construct",
    ),
    Case("server_variable", for_engines("SELECT @@datadir", MY), R + "sql_forbidden_construct"),
    Case("regclass_probe", for_engines("SELECT 'billing.payments'::regclass", PG), R + "sql_forbidden_construct"),
    # functions
    Case("pg_sleep", for_engines("SELECT pg_sleep(30)", PG), R + "sql_forbidden_function"),
    Case("pg_sleep_qualified", for_engines("SELECT pg_catalog.pg_sleep(30)", PG), R + "sql_forbidden_function"),
    Case("pg_read_file", for_engines("SELECT pg_read_file('/etc/passwd')", PG), R + "sql_forbidden_function"),
    Case("pg_ls_dir", for_engines("SELECT * FROM pg_ls_dir('.')", PG), R + "sql_forbidden_function"),
    Case("lo_import", for_engines("SELECT lo_import('/etc/passwd')", PG), R + "sql_forbidden_function"),
    Case(
        "dblink",
        for_engines("SELECT * FROM dblink('dbname=postgres', 'SELECT 1') AS t(x int)", PG),
        R + "sql_forbidden_function",
    ),
    Case(
        "set_config",
        for_engines("SELECT set_config('statement_timeout', '0', false)", PG),
        R + "sql_forbidden_function",
    ),
    Case("current_setting", for_engines("SELECT current_setting('data_directory')", PG), R + "sql_forbidden_function"),
    Case(
        "query_to_xml",
        for_engines("SELECT query_to_xml('SELECT * FROM billing.payments', true, false, '')", PG),
        R + "sql_forbidden_function",
    ),
    Case("load_extension", for_engines("SELECT load_extension('/tmp/evil.so')", SQ), R + "sql_forbidden_function"),
    Case("readfile", for_engines("SELECT readfile('/etc/passwd')", SQ), R + "sql_forbidden_function"),
    Case(
        "pragma_table_function",
        for_engines("SELECT * FROM pragma_table_info('billing_payments')", SQ),
        R + "sql_forbidden_function",
    ),
    Case("read_csv", for_engines("SELECT * FROM read_csv('/etc/passwd')", DK), R + "sql_forbidden_function"),
    Case("glob", for_engines("SELECT * FROM glob('/etc/*')", DK), R + "sql_forbidden_function"),
    Case("getenv", for_engines("SELECT getenv('HOME')", DK), R + "sql_forbidden_function"),
    Case(
        "query_function",
        for_engines("SELECT * FROM query('SELECT * FROM billing_payments')", DK),
        R + "sql_forbidden_function",
    ),
    Case("file_as_table", for_engines("SELECT * FROM '/etc/passwd'", DK), R + "sql_unknown_table"),
    Case("mysql_sleep", for_engines("SELECT SLEEP(30)", MY), R + "sql_forbidden_function"),
    Case("mysql_benchmark", for_engines("SELECT BENCHMARK(100000000, MD5('x'))", MY), R + "sql_forbidden_function"),
    Case("mysql_load_file", for_engines("SELECT LOAD_FILE('/etc/passwd')", MY), R + "sql_forbidden_function"),
    Case("mysql_get_lock", for_engines("SELECT GET_LOCK('x', 10)", MY), R + "sql_forbidden_function"),
    # hidden tables, however they are reached
    Case("hidden_table", "SELECT * FROM {payments}", R + "sql_unknown_table"),
    Case("hidden_table_subquery", "SELECT * FROM (SELECT * FROM {payments}) p", R + "sql_unknown_table"),
    Case("hidden_table_union", "SELECT id FROM {customers} UNION SELECT id FROM {payments}", R + "sql_unknown_table"),
    Case(
        "hidden_table_exists",
        "SELECT count(*) FROM {customers} WHERE EXISTS (SELECT 1 FROM {payments})",
        R + "sql_unknown_table",
    ),
    Case("hidden_table_cte", "WITH p AS (SELECT * FROM {payments}) SELECT count(*) FROM p", R + "sql_unknown_table"),
    Case(
        "hidden_table_lateral",
        for_engines("SELECT * FROM {customers} c, LATERAL (SELECT * FROM {payments}) p", PG, DK),
        R + "sql_unknown_table",
    ),
    Case(
        "system_catalog",
        {
            PG: "SELECT * FROM pg_catalog.pg_tables",
            SQ: "SELECT * FROM sqlite_master",
            DK: "SELECT * FROM information_schema.tables",
            MY: "SELECT * FROM information_schema.tables",
        },
        R + "sql_unknown_table",
    ),
    Case("quoted_other_case", for_engines('SELECT count(*) FROM "billing"."Customers"', PG), R + "sql_unknown_table"),
    Case(
        "quoted_same_table",
        {
            SQ: 'SELECT count(*) AS n FROM "BILLING_CUSTOMERS"',
            DK: 'SELECT count(*) AS n FROM "BILLING_CUSTOMERS"',
            MY: "SELECT count(*) AS n FROM `billing_customers`",
        },
        HARMLESS,
        (count_is("customers"),),
    ),
    Case(
        "unquoted_upper_case",
        {
            PG: "SELECT count(*) AS n FROM BILLING.Customers",
            SQ: "SELECT count(*) AS n FROM BILLING_CUSTOMERS",
            DK: "SELECT count(*) AS n FROM Billing_Customers",
        },
        HARMLESS,
        (count_is("customers"),),
    ),
    Case("default_schema", for_engines("SELECT count(*) FROM public.customers", PG), R + "sql_unknown_table"),
    Case(
        "main_schema",
        for_engines("SELECT count(*) AS n FROM main.billing_customers", SQ, DK),
        HARMLESS,
        (count_is("customers"),),
    ),
    Case("zero_width_name", "SELECT count(*) FROM {customers}\u200b", R + "sql_unknown_table"),
    Case(
        "fullwidth_name",
        {
            PG: "SELECT count(*) FROM \uff42illing.customers",
            SQ: "SELECT count(*) FROM \uff42illing_customers",
            DK: "SELECT count(*) FROM \uff42illing_customers",
            MY: "SELECT count(*) FROM \uff42illing_customers",
        },
        R + "sql_unknown_table",
    ),
    Case(
        "backslash_string",
        for_engines("SELECT 'a\\' AS x, ' FROM {payments} --' AS y", PG, SQ, DK),
        HARMLESS,
        (backslash_kept,),
    ),
    Case("nbsp_whitespace", "SELECT\u00a0count(*) AS n\u00a0FROM {customers}", HARMLESS, (count_is("customers"),)),
    # hidden columns
    Case("hidden_column", "SELECT phone FROM {customers}", R + "sql_unknown_column"),
    Case("hidden_column_qualified", "SELECT c.phone FROM {customers} c", R + "sql_unknown_column"),
    Case("hidden_column_in_where", "SELECT count(*) FROM {customers} WHERE phone LIKE '+1%'", R + "sql_unknown_column"),
    Case(
        "hidden_column_via_derived_table", "SELECT x.phone FROM (SELECT * FROM {customers}) x", R + "sql_unknown_column"
    ),
    # CTEs named like protected tables
    Case(
        "cte_shadows_nothing_outside",
        "SELECT count(*) AS n FROM (WITH {cname} AS (SELECT 1 AS id) SELECT id FROM {cname}) a "
        "CROSS JOIN {customers} b",
        HARMLESS,
        (count_is("customers"),),
    ),
    Case(
        "cte_reads_itself_non_recursive",
        "WITH {cname} AS (SELECT * FROM {customers}) SELECT count(*) AS n FROM {cname}",
        HARMLESS,
        (count_is("customers"),),
    ),
    Case(
        "cte_with_fake_rows",
        "WITH {cname} AS (SELECT 'EMEA' AS region) SELECT count(*) AS n FROM (SELECT * FROM {customers}) c",
        HARMLESS,
        (count_in("customers", 1),),
    ),
    Case(
        "recursive_cte_without_union",
        for_engines("WITH RECURSIVE {cname} AS (SELECT * FROM {cname}) SELECT count(*) AS n FROM {cname}", SQ, DK, MY),
        HARMLESS,
        (count_is("customers"),),
    ),
    Case(
        "recursive_cte_self_in_anchor",
        for_engines(
            "WITH RECURSIVE {cname} AS (SELECT * FROM {cname} UNION ALL SELECT * FROM {cname} WHERE 1 = 0) "
            "SELECT count(*) AS n FROM {cname}",
            SQ,
            DK,
            MY,
        ),
        HARMLESS,
        (count_is("customers"),),
    ),
    Case(
        "recursive_cte_pg",
        for_engines("WITH RECURSIVE customers AS (SELECT * FROM customers) SELECT count(*) FROM customers", PG),
        R + "sql_unknown_table",
    ),
    # row filter tricks
    Case(
        "or_1_eq_1",
        "SELECT count(*) AS n FROM {customers} WHERE region <> 'EMEA' OR 1 = 1",
        HARMLESS,
        (count_is("customers"),),
    ),
    Case("ask_for_other_region", "SELECT id, region FROM {customers} WHERE region = 'NA'", HARMLESS, (no_rows,)),
    Case(
        "having_trick",
        "SELECT region, count(*) AS n FROM {customers} GROUP BY region HAVING count(*) > 0 OR 1 = 1",
        HARMLESS,
        (regions_are_emea, every_count_is("customers")),
    ),
    Case(
        "window_trick",
        "SELECT region, count(*) OVER () AS n FROM {customers}",
        HARMLESS,
        (regions_are_emea, every_count_is("customers")),
    ),
    Case(
        "rollup",
        {
            PG: "SELECT region, count(*) AS n FROM {customers} GROUP BY ROLLUP (region)",
            DK: "SELECT region, count(*) AS n FROM {customers} GROUP BY ROLLUP (region)",
            MY: "SELECT region, count(*) AS n FROM {customers} GROUP BY region WITH ROLLUP",
        },
        HARMLESS,
        (regions_are_emea, largest_count_is("customers")),
    ),
    Case(
        "union_all",
        "SELECT region FROM {customers} UNION ALL SELECT region FROM {support_tickets}",
        HARMLESS,
        (regions_are_emea,),
    ),
    Case(
        "join_both_filtered",
        "SELECT k.region AS region, c.region AS customer_region, k.email FROM {contacts} k "
        "JOIN {customers} c ON c.id = k.customer_id",
        HARMLESS,
        (regions_are_emea, emails_partial),
    ),
    Case(
        "exists_other_region",
        "SELECT count(*) AS n FROM {customers} c WHERE EXISTS (SELECT 1 FROM {contacts} k "
        "WHERE k.customer_id = c.id AND k.region <> 'EMEA')",
        HARMLESS,
        (zero,),
    ),
    Case(
        "lateral",
        for_engines(
            "SELECT c.id, x.email, x.region FROM {customers} c, LATERAL (SELECT k.email, k.region "
            "FROM {contacts} k WHERE k.customer_id = c.id LIMIT 1) x",
            PG,
            DK,
        ),
        HARMLESS,
        (regions_are_emea, emails_partial),
    ),
    Case(
        "scalar_subquery_in_function",
        "SELECT coalesce((SELECT max(email) FROM {contacts}), 'none') AS email",
        HARMLESS,
        (emails_partial,),
    ),
    Case(
        "db_qualified_column",
        for_engines("SELECT billing.customers.region FROM billing.customers", PG),
        HARMLESS,
        (regions_are_emea,),
    ),
    Case(
        "error_oracle_division",
        "SELECT count(*) AS n FROM {invoices} WHERE 1 / (id - {inv_id}) <> 7",
        HARMLESS,
        (count_is("invoices"),),
    ),
    Case(
        "error_message_oracle",
        "SELECT count(*) AS n FROM {customers} WHERE CAST(name AS INTEGER) = 1",
        HARMLESS,
        (no_hidden_names,),
    ),
    # masks
    Case("star_masked", "SELECT * FROM {contacts}", HARMLESS, (regions_are_emea, emails_partial, phones_redacted)),
    Case(
        "table_star_masked",
        "SELECT k.* FROM {contacts} k",
        HARMLESS,
        (regions_are_emea, emails_partial, phones_redacted),
    ),
    Case(
        "row_to_json",
        {PG: "SELECT row_to_json(k) AS j FROM {contacts} k", DK: "SELECT to_json(k) AS j FROM {contacts} k"},
        HARMLESS,
        (some_rows,),
    ),
    Case(
        "string_agg",
        {
            PG: "SELECT string_agg(email, ',') AS s FROM {contacts}",
            DK: "SELECT string_agg(email, ',') AS s FROM {contacts}",
            SQ: "SELECT group_concat(email) AS s FROM {contacts}",
            MY: "SELECT group_concat(email) AS s FROM {contacts}",
        },
        HARMLESS,
        (some_rows,),
    ),
    Case("md5_of_masked", for_engines("SELECT md5(email) AS h FROM {contacts}", PG, DK, MY), HARMLESS, (some_rows,)),
    Case(
        "case_when_like",
        "SELECT count(*) AS n FROM {contacts} WHERE CASE WHEN email LIKE '%rossi%' THEN 1 ELSE 0 END = 1",
        HARMLESS,
        (zero,),
    ),
    Case("substring_probe", "SELECT count(*) AS n FROM {contacts} WHERE substr(email, 2, 1) <> '*'", HARMLESS, (zero,)),
    Case("date_of_birth_null", "SELECT count(date_of_birth) AS n FROM {contacts}", HARMLESS, (zero,)),
    Case("phone_redacted", "SELECT DISTINCT phone FROM {contacts}", HARMLESS, (phones_redacted,)),
    Case("customer_email_hashed", "SELECT email FROM {customers}", HARMLESS, (emails_hashed,)),
    Case(
        "group_by_masked",
        "SELECT email, count(*) AS n FROM {contacts} GROUP BY email ORDER BY n DESC",
        HARMLESS,
        (emails_partial,),
    ),
    # bounded by the engine: timeout and row cap
    Case(
        "generate_series_blowup",
        {
            PG: "SELECT count(*) FROM generate_series(1, 100000000000) AS g",
            DK: "SELECT count(*) FROM range(100000000000) AS r",
            SQ: "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
            MY: "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
        },
        HARMLESS,
        (stopped,),
        timeout=1.0,
    ),
    Case(
        "cartesian_blowup",
        "SELECT count(*) FROM {events} a, {events} b, {events} c, {events} d",
        HARMLESS,
        (times_out,),
        timeout=1.0,
    ),
    Case("row_cap", "SELECT a.id FROM {events} a, {events} b", HARMLESS, (capped,)),
    Case("limit_lowered", "SELECT id FROM {events} LIMIT 100000", HARMLESS, (capped,)),
)

PARAMS = [
    pytest.param(engine, case, id=f"{engine}-{case.id}-{case.expect}") for case in CASES for engine in case.engines()
]


def run(engine: Engine, sql: str, timeout: float) -> Outcome:
    options = QueryOptions(timeout_seconds=timeout, max_rows=5000, preview_rows=5000)
    try:
        return Outcome(engine.connector.execute_read(sql, options=options), None)
    except ConnectorError as exc:
        return Outcome(None, exc)


@pytest.mark.parametrize(("engine_name", "case"), PARAMS)
def test_adversarial_case(engine_name: str, case: Case, request: pytest.FixtureRequest) -> None:
    engine: Engine = request.getfixturevalue(f"{engine_name}_engine")
    decision = check_sql(engine.sql(case.template(engine_name)), engine.policy)
    if case.expect.startswith(R):
        assert (decision.allowed, decision.code) == (False, case.expect.removeprefix(R)), decision
        return
    assert decision.allowed and decision.sql_after, decision
    outcome = run(engine, decision.sql_after, case.timeout)
    assert_nothing_leaks(outcome, engine)
    for check in case.checks:
        check(outcome, engine)


def test_case_ids_are_unique() -> None:
    assert len({case.id for case in CASES}) == len(CASES)


# --- the checks above would catch a leak: the same statements without the firewall leak ---------


@pytest.mark.parametrize("engine_name", ENGINES)
def test_without_the_firewall_the_checks_see_the_leak(engine_name: str, request: pytest.FixtureRequest) -> None:
    engine: Engine = request.getfixturevalue(f"{engine_name}_engine")
    raw = run(engine, engine.sql("SELECT email, phone FROM {contacts}"), 10)
    with pytest.raises(AssertionError, match="real e-mail"):
        assert_nothing_leaks(raw, engine)
    counted = run(engine, engine.sql("SELECT count(*) AS n FROM {customers} WHERE region <> 'EMEA' OR 1 = 1"), 10)
    with pytest.raises(AssertionError):
        count_is("customers")(counted, engine)


def test_without_the_fence_postgresql_reveals_a_hidden_row(postgresql_engine: Engine) -> None:
    """The fence (OFFSET 0) is what keeps a cheap user predicate from running on rows the row
    filter removes: without it, a division by zero tells that a non-EMEA invoice id exists."""
    engine = postgresql_engine
    decision = check_sql(
        engine.sql("SELECT count(*) AS n FROM {invoices} WHERE 1 / (id - {inv_id}) <> 7"), engine.policy
    )
    assert decision.sql_after is not None and " OFFSET 0)" in decision.sql_after
    unfenced = run(engine, decision.sql_after.replace(" OFFSET 0)", ")"), 10)
    assert unfenced.error is not None and "division by zero" in unfenced.error.message


def test_backslash_strings_mean_the_same_with_standard_conforming_strings_off(postgresql_engine: Engine) -> None:
    """'x\\' ends a string only while standard_conforming_strings is on; the firewall writes E'...'
    strings, so a server (or role) configured otherwise cannot be talked into reading payments."""
    decision = check_sql("SELECT ' x\\', (SELECT 1) AS y, ' FROM billing.payments --' AS z", postgresql_engine.policy)
    assert decision.allowed and decision.sql_after is not None
    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"], dbname=settings.DEMO_DATABASE_NAME
    ) as conn:
        conn.execute("SET standard_conforming_strings = off")
        conn.execute("SET escape_string_warning = off")
        row = conn.execute(decision.sql_after).fetchone()
    assert row == (" x\\", 1, " FROM billing.payments --")


@pytest.mark.parametrize("engine_name", ["postgresql", "sqlite", "mysql"])
@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("DELETE FROM {support_tickets}", "emea"),
        ("DELETE FROM {support_tickets} t WHERE t.region <> 'EMEA' OR 1 = 1", "emea"),
        ("DELETE FROM {support_tickets} WHERE region = 'NA'", 0),
        ("UPDATE {support_tickets} SET subject = 'x'", "emea"),
    ],
)
def test_writes_only_reach_rows_the_actor_sees(
    engine_name: str, template: str, expected: str | int, request: pytest.FixtureRequest
) -> None:
    """When a policy allows writes, UPDATE and DELETE get the row filter AND-ed to their WHERE
    (run as dry runs: rolled back)."""
    engine: Engine = request.getfixturevalue(f"{engine_name}_engine")
    if engine_name in ("sqlite", "mysql") and " t " in template:
        template = template.replace(" t ", " ").replace("t.", "")  # no alias on DELETE's table there
    policy = dataclasses.replace(engine.policy, allowed_kinds=frozenset({"select", "update", "delete"}))
    decision = check_sql(engine.sql(template), policy)
    assert decision.allowed and decision.sql_after is not None, decision
    result = engine.connector.execute_write(decision.sql_after, options=QueryOptions(timeout_seconds=10), dry_run=True)
    assert not result.committed
    assert result.rows_affected == (engine.truth.emea_counts["support_tickets"] if expected == "emea" else expected)


@pytest.mark.parametrize("engine_name", ["postgresql", "sqlite", "mysql"])
@pytest.mark.parametrize(
    "template",
    [
        "UPDATE {invoices} SET total_amount = total_amount + 1 WHERE 1 / (id - {inv_id}) <> 7",
        "UPDATE {invoices} SET total_amount = total_amount + 1 "
        "WHERE CAST(CASE WHEN id = {inv_id} THEN number ELSE '1' END AS INTEGER) > 0",
    ],
)
def test_a_write_cannot_tell_by_an_error_that_a_hidden_row_exists(
    engine_name: str, template: str, request: pytest.FixtureRequest
) -> None:
    """The statement's own condition runs only on rows the filter keeps (CASE WHEN filter THEN
    condition): ANDed with the (costly) filter, PostgreSQL evaluated the cheaper division first and
    its error told that a non-EMEA invoice with that id exists."""
    engine: Engine = request.getfixturevalue(f"{engine_name}_engine")
    policy = dataclasses.replace(engine.policy, allowed_kinds=frozenset({"select", "update", "delete"}))
    decision = check_sql(engine.sql(template), policy)
    assert decision.allowed and decision.sql_after is not None, decision
    result = engine.connector.execute_write(decision.sql_after, options=QueryOptions(timeout_seconds=10), dry_run=True)
    assert result.rows_affected == engine.truth.emea_counts["invoices"]
