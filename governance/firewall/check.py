"""``check_sql``: parse, classify, check functions, resolve tables and columns, rewrite, limit."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError, UnsupportedError
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from governance.firewall.dialects import (
    ALLOWED_FUNCTION_CLASSES,
    CARRIED_TABLE_ARGS,
    DDL_NODES,
    DML_NODES,
    FORBIDDEN_KEYWORDS,
    FORBIDDEN_NODES,
    MOVED_TABLE_ARGS,
    READ_NODES,
    RULES,
    TABLE_FUNCTION_CLASSES,
    TABLE_NAME_ARGS,
    ascii_lower,
)
from governance.firewall.policy import CODES, FirewallDecision, FirewallPolicy, MaskStrategy, VisibleTable
from governance.firewall.rewrite import escape_backslashes, limited, protected_select, qualified

MAX_SQL_CHARS = 100_000
# The SQL of protected SELECTs by everything they are built from (see protected_key): the same table
# seen by the same kind of actor is protected the same way in every check. Bounded; cleared when full.
_PROTECTED_SQL: dict[tuple[object, ...], str] = {}
_PROTECTED_SQL_MAX = 4096


def clear_cache() -> None:
    """Forgets the protected SELECTs built so far (benchmarks measure the firewall cold with it)."""
    _PROTECTED_SQL.clear()


def check_sql(sql: str, policy: FirewallPolicy) -> FirewallDecision:
    """Decides whether ``sql`` may run for the actor ``policy`` describes, and how (``sql_after``)."""
    analysis = _Analysis(policy)
    try:
        sql_after = analysis.run(sql)
    except _Refused as refused:
        return analysis.decision(sql, None, refused.code, refused.reason)
    except RecursionError:
        # sqlglot and our walk recurse over the tree: absurd nesting is refused, never a crash.
        return analysis.decision(sql, None, "sql_parse_error", "the statement is nested too deeply")
    return analysis.decision(sql, sql_after, "ok", "allowed")


class _Refused(Exception):
    """Stops the analysis with a refusal; never leaves this package."""

    def __init__(self, code: str, reason: str) -> None:
        assert code in CODES, code
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class _Findings:
    """What one pass over the statement as sent found, refused in a fixed order of precedence."""

    construct: str = ""  # the first forbidden construct, in words
    function: str = ""  # the first refusal about a function
    nested_write: bool = False
    malformed: str = ""  # something sqlglot accepted that no engine reads the same way
    literals: list[exp.Literal] = field(default_factory=list)
    qualified_columns: list[exp.Column] = field(default_factory=list)  # columns naming a schema too
    columns: list[exp.Column] = field(default_factory=list)
    tables: list[exp.Table] = field(default_factory=list)
    aliases: set[str] = field(default_factory=set)  # output and column alias names the statement defines
    derived: set[str] = field(default_factory=set)  # names of CTEs and aliases of derived tables
    derived_outputs: dict[str, set[str] | None] = field(default_factory=dict)  # their column names, if plain
    unusual_scopes: bool = False  # USING / NATURAL joins, LATERAL: resolution left to qualify


class _Analysis:
    """The state of one check: the catalog index, what the statement touches, and the walk."""

    def __init__(self, policy: FirewallPolicy) -> None:
        if policy.dialect not in RULES:
            raise ValueError(f"unsupported dialect {policy.dialect!r}")
        self.policy = policy
        self.dialect = policy.dialect
        self.rules = RULES[policy.dialect]
        self.kind = ""
        self.catalog: dict[tuple[str, str], VisibleTable] = {}
        for table in policy.tables:
            self.catalog.setdefault((self._catalog_schema_key(table.schema), self._fold(table.name, True)), table)
        self.touched: dict[str, VisibleTable] = {}  # qualified name -> table, in order of appearance
        self.unaliased: set[tuple[str, str]] = set()  # keys of catalog references that had no alias
        self.write_targets: set[int] = set()  # ids of Table nodes that are written, not read
        # Catalog table references the walk found, renamed to their catalog names, in walk order,
        # with the table modifiers the protected SELECT takes over.
        self.references: list[tuple[exp.Table, VisibleTable, dict[str, exp.Expr]]] = []
        self.generator = sqlglot.Dialect.get_or_raise(self.dialect).generator(
            comments=False, unsupported_level=ErrorLevel.RAISE
        )
        self.protected: dict[int, str] = {}  # id(VisibleTable) -> its protected SELECT, as SQL

    def decision(self, sql: str, sql_after: str | None, code: str, reason: str) -> FirewallDecision:
        policies = dict.fromkeys(name for table in self.touched.values() for name in table.policies)
        return FirewallDecision(
            allowed=code == "ok",
            code=code,
            reason=reason,
            statement_kind=self.kind,
            sql_before=sql,
            sql_after=sql_after,
            tables=tuple(self.touched),
            policies_applied=tuple(policies),
        )

    def run(self, sql: str) -> str:
        statement = self.parse(sql)
        self.kind = _statement_kind(statement)
        findings = self.inspect(statement)
        if findings.malformed:
            raise _Refused("sql_parse_error", findings.malformed)
        if findings.construct:
            raise _Refused("sql_forbidden_construct", f"{findings.construct} is not allowed")
        if self.kind == "other":
            keyword = self.forbidden_keyword(sql)
            if keyword:
                raise _Refused("sql_forbidden_construct", f"{keyword} is not allowed")
        if self.kind not in self.policy.allowed_kinds:
            raise _Refused("sql_statement_not_allowed", f"{_kind_words(self.kind)} are not allowed here")
        if findings.nested_write:
            raise _Refused("sql_forbidden_construct", "a statement that writes cannot be nested in another one")
        if findings.function:
            raise _Refused("sql_forbidden_function", findings.function)
        if self.dialect == "postgres":
            escape_backslashes(findings.literals)
        if self.kind == "select":
            return self.rewrite_read(statement, findings)
        if self.kind in ("insert", "update", "delete"):
            self.rewrite_write(statement, findings)
        elif self.kind == "ddl":
            self.rewrite_ddl(statement, findings)
        else:
            raise _Refused("sql_statement_not_allowed", "MERGE is not supported by the firewall; use INSERT or UPDATE")
        self.protect(statement)
        return self.generate(statement)

    def generate(self, statement: exp.Expr) -> str:
        try:
            # RAISE: a construct the dialect cannot express would otherwise be dropped or approximated
            # with a warning, and what runs would differ from what was checked.
            # copy=False: the trees generated here are the firewall's own and not used afterwards (a
            # copy of the whole rewritten statement was otherwise a fifth of the firewall's cost).
            return self.generator.generate(statement, copy=False)
        except UnsupportedError as exc:
            raise _Refused("sql_parse_error", f"the statement cannot be written for this engine: {exc}") from exc

    # -- step 1: parse --

    def parse(self, sql: str) -> exp.Expr:
        if not sql or not sql.strip():
            raise _Refused("sql_parse_error", "the statement is empty")
        if len(sql) > MAX_SQL_CHARS:
            raise _Refused("sql_parse_error", f"the statement is longer than {MAX_SQL_CHARS} characters")
        try:
            parsed = sqlglot.parse(sql, read=self.dialect)
        except SqlglotError as exc:
            keyword = self.forbidden_keyword(sql)
            if keyword:
                raise _Refused("sql_forbidden_construct", f"{keyword} is not allowed") from exc
            raise _Refused("sql_parse_error", f"the statement could not be parsed: {_first_line(exc)}") from exc
        # sqlglot keeps an empty statement after a trailing ";" (None) and a lone trailing comment
        # (Semicolon); neither runs anything.
        statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
        if not statements:
            raise _Refused("sql_parse_error", "the statement is empty")
        if len(statements) > 1:
            raise _Refused("sql_multiple_statements", f"send one statement at a time, not {len(statements)}")
        return statements[0]

    def forbidden_keyword(self, sql: str) -> str:
        """The forbidden keyword a statement sqlglot cannot parse starts with (or holds, for INTO
        OUTFILE/DUMPFILE), so that the refusal names it rather than saying "parse error"."""
        try:
            tokens = sqlglot.Dialect.get_or_raise(self.dialect).tokenize(sql)
        except SqlglotError:
            return ""
        words = [token.text.upper() for token in tokens]
        for word in ("OUTFILE", "DUMPFILE"):
            if word in words:
                return f"INTO {word}"
        return words[0] if words and words[0] in FORBIDDEN_KEYWORDS else ""

    # -- steps 2 and 3: forbidden constructs and functions, in one pass --

    def inspect(self, statement: exp.Expr) -> _Findings:
        findings = _Findings()
        for node in statement.walk():
            if isinstance(node, FORBIDDEN_NODES):
                findings.construct = findings.construct or _construct_words(node)
            elif isinstance(node, exp.Func):
                findings.function = findings.function or self.function_refusal(node)
            elif isinstance(node, exp.Literal):
                findings.literals.append(node)
            elif isinstance(node, exp.Column):
                findings.columns.append(node)
                if node.args.get("db") is not None:
                    findings.qualified_columns.append(node)
            elif isinstance(node, exp.Table):
                findings.tables.append(node)
            elif isinstance(node, exp.Alias) and isinstance(node.args.get("alias"), exp.Identifier):
                findings.aliases.add(self._ident_key(node.args["alias"]))
            elif isinstance(node, exp.TableAlias):
                findings.aliases.update(self._ident_key(c) for c in node.columns if isinstance(c, exp.Identifier))
                if isinstance(node.this, exp.Identifier) and not isinstance(node.parent, exp.Table):
                    key = self._ident_key(node.this)
                    # Two derived tables of one name: their outputs are not told apart (None: any name).
                    outputs = None if key in findings.derived else self._outputs(node)
                    findings.derived.add(key)
                    findings.derived_outputs[key] = outputs
            elif isinstance(node, exp.Join) and (node.args.get("using") or node.args.get("method")):
                findings.unusual_scopes = True
            elif isinstance(node, exp.Lateral):
                findings.unusual_scopes = True
            elif isinstance(node, exp.Select) and not node.expressions:
                findings.malformed = findings.malformed or "a SELECT without anything to select"
            elif isinstance(node, exp.Dot) and isinstance(node.this, exp.Literal) and not node.this.is_string:
                # 1.region: sqlglot reads a field of a number, engines a number and then junk.
                findings.malformed = findings.malformed or f"{node.sql(dialect=self.dialect)} is not a valid name"
            if isinstance(node, DML_NODES) and node is not statement:
                findings.nested_write = True
            if isinstance(node, exp.Table | exp.Lateral | exp.From | exp.Join) and isinstance(node.this, exp.Func):
                if not isinstance(node.this, TABLE_FUNCTION_CLASSES) or node.args.get("db") is not None:
                    refusal = f"the table function {_function_name(node.this)} is not allowed"
                    findings.function = findings.function or refusal
        return findings

    def function_refusal(self, node: exp.Func) -> str:
        name = _function_name(node)
        parent = node.parent
        if isinstance(parent, exp.Dot) and parent.expression is node:
            # pg_catalog.pg_sleep(1), other_schema.lower(x), DuckDB's x.fn(): only unqualified
            # built-ins are known to be what their name says.
            return f"the qualified function call {name} is not allowed"
        if isinstance(node, exp.Anonymous | exp.AnonymousAggFunc):
            if isinstance(node.this, exp.Identifier) and node.this.quoted:
                return f"the quoted function name {name} is not allowed"
            if ascii_lower(name) not in self.rules.functions:
                return f"the function {name} is not allowed"
        elif type(node) not in ALLOWED_FUNCTION_CLASSES:
            return f"the function {name} is not allowed"
        return ""

    # -- names --

    def _fold(self, name: str, quoted: bool) -> str:
        if not quoted or self.rules.fold_quoted:
            return ascii_lower(name)
        return name

    def _catalog_schema_key(self, schema: str) -> str:
        key = self._fold(schema, True)
        return "" if key in self.rules.implicit_schemas else key

    def _ident_key(self, identifier: exp.Identifier) -> str:
        return self._fold(identifier.name, bool(identifier.quoted))

    def _cte_key(self, identifier: exp.Identifier) -> str:
        return self._ident_key(identifier) if self.rules.fold_cte else identifier.name

    def _reference_key(self, db: exp.Expr | None, name: exp.Identifier) -> tuple[str, str] | None:
        if db is None:
            schema_key = self._catalog_schema_key(self.policy.default_schema)
        elif isinstance(db, exp.Identifier):
            schema_key = self._ident_key(db)
            schema_key = "" if schema_key in self.rules.implicit_schemas else schema_key
        else:
            return None
        return schema_key, self._ident_key(name)

    def lookup(self, table: exp.Table) -> VisibleTable | None:
        if table.args.get("catalog") is not None or not isinstance(table.this, exp.Identifier):
            return None
        key = self._reference_key(table.args.get("db"), table.this)
        return self.catalog.get(key) if key else None

    def emitted_schema(self, table: VisibleTable) -> str:
        schema = table.schema or self.policy.default_schema
        if not schema and self.rules.implicit_schemas:
            return "main"  # qualified, so that a CTE of the same name can never capture the reference
        return schema

    def touch(self, table: VisibleTable) -> None:
        self.touched.setdefault(f"{table.schema}.{table.name}" if table.schema else table.name, table)

    # -- step 4 and 6: the walk that resolves and rewrites table references --

    def walk(self, node: exp.Expr, ctes: frozenset[str]) -> None:
        """Rewrites every catalog table under ``node``; ``ctes`` are the CTE names in scope."""
        with_ = node.args.get("with_")
        if isinstance(with_, exp.With):
            ctes = self.walk_with(with_, ctes)
        for key, value in list(node.args.items()):
            if key != "with_":
                for child in list(value) if isinstance(value, list) else [value]:
                    if isinstance(child, exp.Expr):
                        self.visit(child, ctes)

    def visit(self, node: exp.Expr, ctes: frozenset[str]) -> None:
        if isinstance(node, exp.Table):
            self.visit_table(node, ctes)
        else:
            self.walk(node, ctes)

    def walk_with(self, with_: exp.With, outer: frozenset[str]) -> frozenset[str]:
        """A CTE sees the CTEs before it; itself only in the recursive term of WITH RECURSIVE
        ``anchor UNION [ALL] recursive-term``. Engines may let a CTE see more (SQLite and MariaDB
        resolve later siblings): reading such a name as the real table is the safe side. They may
        also see less: DuckDB treats a RECURSIVE CTE without UNION as a plain one, whose own name
        then means the real table, so nothing else may count as a self-reference."""
        names = set(outer)
        recursive = bool(with_.args.get("recursive"))
        for cte in with_.expressions:
            alias = cte.args.get("alias")
            key = self._cte_key(alias.this) if isinstance(alias, exp.TableAlias) and alias.this else None
            body = cte.this
            if recursive and key is not None and isinstance(body, exp.Union):
                for arg, value in list(body.args.items()):
                    if isinstance(value, exp.Expr):
                        self.visit(value, frozenset(names | {key} if arg == "expression" else names))
            else:
                self.walk(cte, frozenset(names))
            if key is not None:
                names.add(key)
        return frozenset(names)

    def walk_table_parts(self, table: exp.Table, ctes: frozenset[str]) -> None:
        for key, value in list(table.args.items()):
            if key not in TABLE_NAME_ARGS:
                for child in list(value) if isinstance(value, list) else [value]:
                    if isinstance(child, exp.Expr):
                        self.visit(child, ctes)

    def visit_table(self, table: exp.Table, ctes: frozenset[str]) -> None:
        if isinstance(table.this, exp.Func):  # a table function (checked in step 3)
            self.walk(table, ctes)
            return
        if id(table) in self.write_targets:
            self.walk_table_parts(table, ctes)
            return
        if not isinstance(table.this, exp.Identifier):
            raise _Refused("sql_unknown_table", f"the table {table.sql(dialect=self.dialect)} is not known")
        unqualified = table.args.get("db") is None and table.args.get("catalog") is None
        if unqualified and self._cte_key(table.this) in ctes:
            self.walk_table_parts(table, ctes)
            return
        if self.dialect == "mysql" and unqualified and not table.this.quoted and table.name.upper() == "DUAL":
            # MySQL's dummy table: a keyword there, which the generator would quote into a table name.
            if isinstance(table.parent, exp.From):
                table.parent.pop()
            return
        visible = self.lookup(table)
        if visible is None:
            # Same words whether the table is hidden or does not exist.
            raise _Refused("sql_unknown_table", f"the table {table.sql(dialect=self.dialect)} is not known")
        self.walk_table_parts(table, ctes)
        known_args = (*TABLE_NAME_ARGS, *CARRIED_TABLE_ARGS, *MOVED_TABLE_ARGS)
        if any(value for arg, value in table.args.items() if arg not in known_args):
            raise _Refused("sql_forbidden_construct", "this table modifier is not supported")
        carried = {arg: table.args[arg] for arg in CARRIED_TABLE_ARGS if table.args.get(arg) is not None}
        # The catalog name, with the name the query uses as alias; MySQL's PARTITION (p0) names
        # partitions, not columns, and goes to the protected SELECT with the other modifiers.
        table.set("alias", table.args.get("alias") or self.name_as_alias(table))
        table.set("partition", None)
        self.canonicalise(table, visible)
        self.references.append((table, visible, carried))
        self.touch(visible)

    def protect(self, statement: exp.Expr) -> list[tuple[exp.Table, exp.Subquery]]:
        """Replaces every reference the walk found by the protected SELECT of its table, aliased with
        the reference's name; returns what was replaced by what, so that it can be put back."""
        replaced = []
        for table, visible, carried in self.references:
            if table.root() is not statement:
                # A reference outside the statement means part of it was copied after the walk: what
                # runs would then read the table unprotected. Never expected; refused if it happens.
                raise _Refused("sql_forbidden_construct", "the statement could not be rewritten safely")
            # The protected SELECT goes in as its generated SQL (a Var is written verbatim): it is the
            # same for every reference to the table, so it is generated once per check and not once
            # per reference as part of the whole statement.
            key = None if carried else self.protected_key(visible)
            text = _PROTECTED_SQL.get(key) if key else None
            if text is None:
                select = protected_select(visible, dialect=self.dialect, rules=self.rules, salt=self.policy.hash_salt)
                base = self.base_table(visible)
                for arg, value in carried.items():
                    base.set(arg, value.copy())
                select.set("from_", exp.From(this=base))
                text = self.generate(select)
                if key:
                    if len(_PROTECTED_SQL) >= _PROTECTED_SQL_MAX:
                        _PROTECTED_SQL.clear()
                    _PROTECTED_SQL[key] = text
            subquery = exp.Subquery(this=exp.Var(this=text), alias=table.args["alias"].copy())
            for arg in MOVED_TABLE_ARGS:
                if table.args.get(arg):
                    subquery.set(arg, table.args[arg])
            table.replace(subquery)
            replaced.append((table, subquery))
        self.references = []
        return replaced

    def protected_key(self, visible: VisibleTable) -> tuple[object, ...]:
        """Everything the protected SELECT of ``visible`` is made of, so that its SQL can be reused by
        any later check that would build the same one (same columns, masks, filter, salt, engine)."""
        row_filter = self.generator.generate(visible.row_filter) if visible.row_filter is not None else None
        masks = tuple(sorted((column, MaskStrategy(strategy).value) for column, strategy in visible.masks.items()))
        return (self.dialect, self.policy.hash_salt, self.emitted_schema(visible), visible.name, visible.columns,
                masks, row_filter)  # fmt: skip

    @staticmethod
    def restore(replaced: list[tuple[exp.Table, exp.Subquery]]) -> None:
        for table, subquery in reversed(replaced):
            for arg in MOVED_TABLE_ARGS:
                if subquery.args.get(arg):
                    table.set(arg, subquery.args[arg])
            subquery.replace(table)

    def name_as_alias(self, table: exp.Table) -> exp.TableAlias:
        reference = self._reference_key(table.args.get("db"), table.this)
        if reference is not None:
            self.unaliased.add(reference)
        return exp.TableAlias(this=table.this.copy())

    def base_table(self, visible: VisibleTable) -> exp.Table:
        base = exp.Table(alias=exp.TableAlias(this=exp.to_identifier(visible.name, quoted=True)))
        self.canonicalise(base, visible)
        return base

    def canonicalise(self, table: exp.Table, visible: VisibleTable) -> None:
        """Names the table exactly as the catalog does, quoted, whatever case or quoting was used."""
        schema = self.emitted_schema(visible)
        table.set("this", exp.to_identifier(visible.name, quoted=True))
        table.set("db", exp.to_identifier(schema, quoted=True) if schema else None)
        table.set("catalog", None)

    def strip_table_qualifiers(self, columns: list[exp.Column]) -> None:
        """``billing.customers.id`` names the table, which is now a subquery aliased ``customers``."""
        for column in columns:
            db, table = column.args.get("db"), column.args.get("table")
            if isinstance(db, exp.Identifier) and isinstance(table, exp.Identifier):
                if self._reference_key(db, table) in self.unaliased:
                    column.set("db", None)
                    column.set("catalog", None)

    # -- reads --

    def rewrite_read(self, statement: exp.Expr, findings: _Findings) -> str:
        self.walk(statement, frozenset())
        self.strip_table_qualifiers(findings.qualified_columns)
        if not self.references:
            return self.generate(limited(statement, self.policy.max_rows))
        # The SQL to run is generated first; then the references are put back and the statement as
        # sent, with catalog names, is handed to sqlglot's qualify to check its columns (no copy).
        references = list(self.references)
        replaced = self.protect(statement)
        wrapped = limited(statement, self.policy.max_rows)
        sql_after = self.generate(wrapped)
        if wrapped is not statement:
            statement.pop()
        self.restore(replaced)
        if not self.columns_plainly_known(references, findings):
            self.check_columns(statement)
        return sql_after

    # -- step 5: columns --

    def _outputs(self, alias: exp.TableAlias) -> set[str] | None:
        """The column names a CTE or derived table exposes, when every one is plain to read."""
        if alias.columns:
            return {self._ident_key(c) for c in alias.columns if isinstance(c, exp.Identifier)}
        query = alias.parent.this if isinstance(alias.parent, exp.CTE | exp.Subquery) else None
        if not isinstance(query, exp.Query):
            return None
        names: set[str] = set()
        for projection in query.selects:
            identifier = projection.args.get("alias") if isinstance(projection, exp.Alias) else projection.this
            if not isinstance(projection, exp.Alias | exp.Column) or not isinstance(identifier, exp.Identifier):
                return None  # a star or an unnamed expression: names the engine makes up
            names.add(self._ident_key(identifier))
        return names

    def columns_plainly_known(
        self, references: list[tuple[exp.Table, VisibleTable, dict[str, exp.Expr]]], findings: _Findings
    ) -> bool:
        """Whether every column reference plainly names a visible column (or a name the statement
        defines), so that sqlglot's qualify, the costliest step, has nothing to find. Conservative:
        anything else (several sources, outer references, USING) goes through qualify. Either way the
        protected subqueries only expose visible columns: this check is for clear refusals."""
        if findings.unusual_scopes:
            return False
        by_node: dict[int, VisibleTable] = {id(table): visible for table, visible, _ in references}
        by_alias: dict[str, set[int]] = {}
        for table, visible, _ in references:
            alias = table.args.get("alias")
            if isinstance(alias, exp.TableAlias) and isinstance(alias.this, exp.Identifier):
                by_alias.setdefault(self._ident_key(alias.this), set()).add(id(visible))
        # Aliases of CTE references (FROM recent r): r exposes what the CTE does.
        derived_outputs = dict(findings.derived_outputs)
        for table in findings.tables:
            alias = table.args.get("alias")
            if id(table) in by_node or not isinstance(table.this, exp.Identifier):
                continue
            if isinstance(alias, exp.TableAlias) and isinstance(alias.this, exp.Identifier):
                key, target = self._ident_key(alias.this), self._ident_key(table.this)
                outputs = derived_outputs.get(target) if target in findings.derived else None
                derived_outputs[key] = None if key in derived_outputs and key != target else outputs
        visible_columns = {id(v): {self._fold(c, True) for c in v.columns} for _, v, _ in references}
        anywhere = set().union(*visible_columns.values(), findings.aliases) if visible_columns else set()
        for column in findings.columns:
            if isinstance(column.this, exp.Star):
                continue
            if not isinstance(column.this, exp.Identifier) or column.args.get("db") is not None:
                return False
            name = self._ident_key(column.this)
            qualifier = column.args.get("table")
            if qualifier is not None:
                if not isinstance(qualifier, exp.Identifier):
                    return False
                key = self._ident_key(qualifier)
                owners = by_alias.get(key, set())
                if owners and key not in derived_outputs:
                    if len(owners) != 1 or name not in visible_columns[next(iter(owners))]:
                        return False
                elif not owners and key in derived_outputs:
                    outputs_of = derived_outputs.get(key)
                    if name not in (anywhere if outputs_of is None else outputs_of):
                        return False
                else:
                    return False
                continue
            select = column.find_ancestor(exp.Select)
            if select is None:
                return False
            outputs = {self._ident_key(a.args["alias"]) for a in select.expressions
                       if isinstance(a, exp.Alias) and isinstance(a.args.get("alias"), exp.Identifier)}  # fmt: skip
            if name in outputs and column.arg_key != "expressions":
                continue  # ORDER BY revenue: an output of the same SELECT
            if select.args.get("joins") or select.args.get("laterals"):
                return False
            source = select.args.get("from_")
            source = source.this if isinstance(source, exp.From) else None
            if isinstance(source, exp.Table) and id(source) in by_node:
                if name not in visible_columns[id(by_node[id(source)])] and name not in outputs:
                    return False
            elif isinstance(source, exp.Table | exp.Subquery):
                if name not in anywhere:
                    return False
            else:
                return False
        return True

    def check_columns(self, statement: exp.Expr) -> None:
        """Resolves the columns with sqlglot's qualify, on the statement as sent whose catalog tables
        are renamed to their exact names and given only their visible columns: what the protected
        subqueries expose."""
        if self.dialect != "postgres":
            # Column names and aliases are case-insensitive there, quoted or not (qualify already
            # folds them for SQLite and DuckDB, not for MySQL).
            for identifier in statement.find_all(exp.Identifier):
                identifier.set("this", identifier.name.lower())

        def key(name: str) -> str:  # the keys as qualify normalises the tree: exact, or lower case
            return name if self.dialect == "postgres" else name.lower()

        nested: dict[str, dict[str, object]] = {}
        flat: dict[str, object] = {}
        for visible in self.touched.values():
            columns = {key(name): "text" for name in visible.columns}
            nested.setdefault(key(self.emitted_schema(visible)), {})[key(visible.name)] = columns
            flat[key(visible.name)] = columns
        uniform = all(self.emitted_schema(visible) for visible in self.touched.values())
        mapping = MappingSchema(dict(nested) if uniform else flat, dialect=self.dialect, normalize=False)
        try:
            resolved = qualify(
                statement,
                dialect=self.dialect,
                schema=mapping,
                expand_alias_refs=False,
                validate_qualify_columns=False,
                quote_identifiers=False,
            )
        except SqlglotError as exc:
            raise _Refused("sql_unknown_column", _column_message(exc)) from exc
        sources = {node.name for node in resolved.find_all(exp.TableAlias)}
        for column in resolved.find_all(exp.Column):
            # Left unqualified by qualify: a whole-row reference (row_to_json(t)), an output alias
            # used in ORDER BY / GROUP BY / HAVING, or unknown, hidden, or in more than one source.
            if column.table or isinstance(column.this, exp.Star) or column.name in sources:
                continue
            if not _refers_to_output_alias(column):
                raise _Refused("sql_unknown_column", f"the column {column.name} is not known (or is ambiguous)")

    # -- writes --

    def rewrite_write(self, statement: exp.Expr, findings: _Findings) -> None:
        target = statement.this.this if isinstance(statement.this, exp.Schema) else statement.this
        if not isinstance(target, exp.Table):
            raise _Refused("sql_unknown_table", "the statement does not name the table it writes")
        if target.args.get("joins") or statement.args.get("tables"):
            raise _Refused("sql_forbidden_construct", "a statement that writes several tables at once is not supported")
        visible = self.lookup(target)
        if visible is None:
            raise _Refused("sql_unknown_table", f"the table {target.sql(dialect=self.dialect)} is not known")
        self.touch(visible)
        if isinstance(statement, exp.Insert):
            self.check_insert(statement, visible)
        else:
            self.check_target_columns(statement, target, visible)
        returning = statement.args.get("returning")
        if returning is not None and any(isinstance(node, exp.Star) for node in returning.walk()):
            raise _Refused("sql_unknown_column", "RETURNING * is not allowed: name the visible columns")
        self.write_targets.add(id(target))
        self.walk(statement, frozenset())
        self.strip_table_qualifiers(findings.qualified_columns)
        alias = target.args.get("alias")
        qualifier = alias.this.copy() if isinstance(alias, exp.TableAlias) and alias.this else None
        qualifier = qualifier or exp.to_identifier(visible.name, quoted=True)
        self.canonicalise(target, visible)
        if visible.row_filter is not None and isinstance(statement, exp.Update | exp.Delete):
            # Only rows the actor sees can be changed or deleted. The statement's own condition is
            # evaluated only on those rows: ANDed, the planner may evaluate it first, and an error
            # it raises on a hidden row (a division by zero, a failing cast quoting the value) would
            # tell that the row exists. CASE evaluates its THEN only when its WHEN holds; the filter
            # ANDed in front keeps its indexes usable.
            condition = qualified(visible.row_filter, qualifier, dialect=self.dialect)
            where = statement.args.get("where")
            if isinstance(where, exp.Where):
                guarded = exp.Case(
                    ifs=[exp.If(this=exp.Paren(this=condition.copy()), true=exp.Paren(this=where.this))],
                    default=exp.false(),
                )
                condition = exp.and_(exp.Paren(this=condition), guarded, copy=False)
            statement.set("where", exp.Where(this=condition))

    def check_insert(self, statement: exp.Insert, visible: VisibleTable) -> None:
        if visible.row_filter is not None:
            raise _Refused("sql_statement_not_allowed", "rows cannot be added to a table you only see part of")
        if statement.args.get("conflict") is not None:
            raise _Refused("sql_forbidden_construct", "ON CONFLICT / ON DUPLICATE KEY is not supported")
        if not isinstance(statement.this, exp.Schema) or not statement.this.expressions:
            raise _Refused("sql_statement_not_allowed", "INSERT must name the columns it writes")
        for identifier in statement.this.expressions:
            self.check_writable(visible, identifier)
        returning = statement.args.get("returning")
        for column in returning.find_all(exp.Column) if returning is not None else ():
            self.check_writable(visible, column, reading=True)

    def check_writable(self, visible: VisibleTable, node: exp.Expr, *, reading: bool = False) -> None:
        """``node`` (a Column or an Identifier) names a visible, unmasked column of ``visible``."""
        identifier = node.this if isinstance(node, exp.Column) else node
        if not isinstance(identifier, exp.Identifier):
            raise _Refused("sql_forbidden_construct", f"{node.sql(dialect=self.dialect)} is not a column name")
        known = {self._fold(name, True): name for name in visible.columns}
        real = known.get(self._ident_key(identifier))
        if real is None:
            raise _Refused("sql_unknown_column", f"the column {identifier.name} is not known")
        if real in visible.masks:
            verb = "read" if reading else "written"
            raise _Refused("sql_masked_column", f"the masked column {identifier.name} cannot be {verb} by a write")

    def check_target_columns(self, statement: exp.Expr, target: exp.Table, visible: VisibleTable) -> None:
        """UPDATE/DELETE keep the real table as target, so what they read of it is checked here:
        only visible, unmasked columns, and the row filter's columns are not changed."""
        alias = target.args.get("alias")
        names = {self._ident_key(target.this)} if isinstance(target.this, exp.Identifier) else set()
        if isinstance(alias, exp.TableAlias) and alias.this:
            names = {self._ident_key(alias.this)}
        filter_columns = visible.row_filter.find_all(exp.Column) if visible.row_filter is not None else ()
        filtered = {self._fold(column.name, True) for column in filter_columns}
        for assignment in statement.expressions if isinstance(statement, exp.Update) else ():
            column = assignment.this if isinstance(assignment, exp.EQ) else None
            if not isinstance(column, exp.Column):
                raise _Refused("sql_forbidden_construct", "this SET clause is not supported")
            self.check_writable(visible, column)
            if self._fold(column.name, True) in filtered:
                raise _Refused("sql_statement_not_allowed", f"the column {column.name} decides which rows you see")
        for column in statement.find_all(exp.Column):
            if isinstance(column.this, exp.Star):
                continue
            qualifier = column.args.get("table")
            scope = column.find_ancestor(exp.Select)
            if isinstance(qualifier, exp.Identifier):
                if self._ident_key(qualifier) in names:
                    self.check_writable(visible, column, reading=True)
            elif scope is None:
                # Top level: an unqualified name is the target's (qualify other tables' columns).
                self.check_writable(visible, column, reading=True)
            elif not self.own_column(scope, column):
                raise _Refused(
                    "sql_unknown_column",
                    f"qualify the column {column.name} in the subquery: it could be read from the written table",
                )

    def own_column(self, select: exp.Select, column: exp.Column) -> bool:
        """Whether a source of ``select`` itself provides the column (so the engine resolves it
        there, never in the table being written)."""
        key = self._fold(column.name, bool(isinstance(column.this, exp.Identifier) and column.this.quoted))
        sources: list[exp.Expr] = []
        from_ = select.args.get("from_")
        if isinstance(from_, exp.From):
            sources.append(from_.this)
        sources += [join.this for join in select.args.get("joins") or []]
        for source in sources:
            if isinstance(source, exp.Table):
                visible = self.lookup(source)
                if visible is not None and key in {self._fold(name, True) for name in visible.columns}:
                    return True
            elif isinstance(source, exp.Subquery) and isinstance(source.this, exp.Query):
                if key in {self._fold(name, True) for name in source.this.named_selects}:
                    return True
        return False

    # -- DDL --

    def rewrite_ddl(self, statement: exp.Expr, findings: _Findings) -> None:
        """Modest: tables and views (and indexes on tables) only; what is dropped, altered, truncated
        or replaced must be visible in full (no row filter, no mask), since DDL acts on every row."""
        kind = str(statement.args.get("kind") or "").upper()
        targets: list[exp.Table] = []
        if isinstance(statement, exp.Create) and kind in ("TABLE", "VIEW"):
            created = statement.this.this if isinstance(statement.this, exp.Schema) else statement.this
            if not isinstance(created, exp.Table):
                raise _Refused("sql_forbidden_construct", "this CREATE statement is not supported")
            if statement.args.get("replace"):
                targets.append(created)  # OR REPLACE would overwrite an object, maybe a hidden one
            self.write_targets.add(id(created))
        elif isinstance(statement, exp.Create) and kind == "INDEX" and isinstance(statement.this, exp.Index):
            indexed = statement.this.args.get("table")
            if not isinstance(indexed, exp.Table):
                raise _Refused("sql_forbidden_construct", "this CREATE INDEX statement is not supported")
            self.require_visible(indexed, complete=False)
            if self.dialect == "sqlite":
                # SQLite takes no schema on the indexed table (the index name carries it); a CTE
                # cannot stand in for a table there, so the bare name is the catalog's table.
                indexed.set("db", None)
            self.write_targets.add(id(indexed))
        elif isinstance(statement, exp.Drop) and kind in ("TABLE", "VIEW") and not statement.args.get("cascade"):
            targets += [t for t in statement.args.get("tables") or [] if isinstance(t, exp.Table)]
        elif isinstance(statement, exp.Alter) and kind == "TABLE" and isinstance(statement.this, exp.Table):
            targets.append(statement.this)
        elif isinstance(statement, exp.TruncateTable):
            targets += [t for t in statement.expressions if isinstance(t, exp.Table)]
        else:
            raise _Refused("sql_forbidden_construct", "this DDL statement is not supported")
        for target in targets:
            self.require_visible(target, complete=True)
            self.write_targets.add(id(target))
        self.walk(statement, frozenset())
        self.strip_table_qualifiers(findings.qualified_columns)

    def require_visible(self, table: exp.Table, *, complete: bool) -> None:
        visible = self.lookup(table)
        if visible is None:
            raise _Refused("sql_unknown_table", f"the table {table.sql(dialect=self.dialect)} is not known")
        if complete and (visible.row_filter is not None or visible.masks):
            raise _Refused("sql_statement_not_allowed", f"you do not see all of {table.name}, so it cannot be changed")
        self.touch(visible)
        self.canonicalise(table, visible)


# --- helpers -----------------------------------------------------------------------------------


def _statement_kind(statement: exp.Expr) -> str:
    if isinstance(statement, READ_NODES):
        # A SELECT whose CTE deletes is a delete (WITH d AS (DELETE ... RETURNING *) SELECT ...).
        for node in statement.find_all(*DML_NODES):
            return _statement_kind(node)
        return "select"
    if isinstance(statement, exp.Insert):
        return "insert"
    if isinstance(statement, exp.Update):
        return "update"
    if isinstance(statement, exp.Delete):
        return "delete"
    if isinstance(statement, exp.Merge):
        return "merge"
    if isinstance(statement, DDL_NODES):
        return "ddl"
    return "other"


def _kind_words(kind: str) -> str:
    words = {"select": "SELECT", "insert": "INSERT", "update": "UPDATE", "delete": "DELETE", "merge": "MERGE",
             "ddl": "DDL (CREATE, ALTER, DROP, ...)"}  # fmt: skip
    return f"{words[kind]} statements" if kind in words else "statements of this kind"


def _construct_words(node: exp.Expr) -> str:
    if isinstance(node, exp.Into):
        return "SELECT ... INTO"
    if isinstance(node, exp.Lock):
        return "FOR UPDATE / FOR SHARE"
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    if isinstance(node, exp.ObjectIdentifier):
        return f"a cast to {node.sql()}"
    if isinstance(node, exp.Parameter | exp.SessionParameter | exp.Placeholder):
        return "a variable or bind parameter"
    if isinstance(node, exp.Hint):
        return "an optimizer hint"
    return type(node).__name__.upper()


def _function_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous | exp.AnonymousAggFunc):
        return node.name
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return type(node).__name__.lower()


def _refers_to_output_alias(column: exp.Column) -> bool:
    """Whether ``column`` sits outside its SELECT's list and names one of that list's outputs."""
    child: exp.Expr = column
    parent = column.parent
    while parent is not None and not isinstance(parent, exp.Select):
        child, parent = parent, parent.parent
    if parent is None or child.arg_key == "expressions":
        return False
    return column.name in parent.named_selects


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _column_message(exc: SqlglotError) -> str:
    text = _first_line(exc)
    if text.startswith("Unknown column:"):
        return f"the column {text.split(':', 1)[1].strip()} is not known"
    return f"a column reference could not be resolved ({text})"
