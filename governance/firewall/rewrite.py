"""The trees the firewall puts in place of what it was sent: the filtered, masked subquery that
replaces every catalog table, the mask expressions, the outer LIMIT."""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from governance.firewall.dialects import Rules
from governance.firewall.policy import MaskStrategy, VisibleTable


def protected_select(visible: VisibleTable, *, dialect: str, rules: Rules, salt: str) -> exp.Select:
    """SELECT <visible columns, masked ones as their mask> WHERE <row filter> [fence]; the caller
    adds FROM <the table> AS <its name>.

    The row filter's columns are qualified with the base table's own alias, so that none of them
    can be captured by a column of an enclosing query (a filter on a column the table lacks fails
    instead of silently comparing an outer value).
    """
    qualifier = exp.to_identifier(visible.name, quoted=True)
    projections: list[exp.Expr] = []
    for name in visible.columns:
        strategy = visible.masks.get(name)
        if not strategy:
            # A plain column keeps its name; unqualified, it can only be the base table's column, the
            # one source of this SELECT (short, because the generated SQL is repeated per reference).
            projections.append(exp.column(name, quoted=True))
            continue
        column = exp.column(name, table=qualifier.copy(), quoted=True)
        value = mask(column, MaskStrategy(strategy), dialect=dialect, rules=rules, salt=salt)
        projections.append(exp.Alias(this=value, alias=exp.to_identifier(name, quoted=True)))
    select = exp.Select(expressions=projections)
    if visible.row_filter is not None:
        select = select.where(qualified(visible.row_filter, qualifier, dialect=dialect), copy=False)
        kind, amount = rules.fence
        fence = exp.Literal.number(amount) if amount >= 0 else exp.Neg(this=exp.Literal.number(-amount))
        select.set(kind, exp.Offset(expression=fence) if kind == "offset" else exp.Limit(expression=fence))
    return select


def mask(column: exp.Expr, strategy: MaskStrategy, *, dialect: str, rules: Rules, salt: str) -> exp.Expr:
    text = exp.DataType.build("text")
    redacted = exp.Cast(this=exp.Literal.string("***"), to=text)
    if strategy is MaskStrategy.NULL:
        return exp.Null()
    if strategy is MaskStrategy.REDACT:
        return redacted
    value = exp.Cast(this=column, to=text.copy())
    if strategy is MaskStrategy.HASH:
        # SQLite has no hash function; what plain SQL can compute there (hex, length, sums of code
        # points) can be inverted or reveals structure, so a HASH mask redacts instead.
        if not rules.has_md5:
            return redacted
        if salt:
            return exp.MD5(this=exp.DPipe(this=exp.Literal.string(salt), expression=value))
        return exp.MD5(this=value)
    return partial(value, dialect=dialect)


def partial(value: exp.Expr, *, dialect: str) -> exp.Expr:
    """An e-mail keeps its first character and its domain (j***@example.com); other text keeps its
    last four characters when it has at least eight (so at most half is shown), else it is ***."""

    def copy() -> exp.Expr:
        return value.copy()

    stars = exp.Literal.string("***")
    email = exp.DPipe(
        this=exp.DPipe(
            this=exp.Substring(this=copy(), start=exp.Literal.number(1), length=exp.Literal.number(1)),
            expression=stars.copy(),
        ),
        expression=exp.Substring(this=copy(), start=exp.StrPosition(this=copy(), substr=exp.Literal.string("@"))),
    )
    if dialect == "sqlite":  # no RIGHT() there; a negative start counts from the end
        tail: exp.Expr = exp.Substring(this=copy(), start=exp.Neg(this=exp.Literal.number(4)))
    else:  # PostgreSQL would read a negative start as "before the string" and return all of it
        tail = exp.Right(this=copy(), expression=exp.Literal.number(4))
    is_email = exp.Like(this=copy(), expression=exp.Literal.string("%_@_%"))
    is_long = exp.GTE(this=exp.Length(this=copy()), expression=exp.Literal.number(8))
    return exp.Case(
        ifs=[
            exp.If(this=is_email, true=email),
            exp.If(this=is_long, true=exp.DPipe(this=stars.copy(), expression=tail)),
        ],
        default=stars.copy(),
    )


def qualified(condition: exp.Expr, qualifier: exp.Identifier, *, dialect: str) -> exp.Expr:
    """A copy of a policy condition with its own columns qualified by ``qualifier``."""
    copy = condition.copy()
    for column in _own_columns(copy):
        if not column.args.get("table"):
            column.set("table", qualifier.copy())
    if dialect == "postgres":
        escape_backslashes(list(copy.find_all(exp.Literal)))
    return copy


def _own_columns(condition: exp.Expr) -> Iterator[exp.Column]:
    """The columns of a condition, not those of a subquery in it (which has its own tables)."""
    for node in condition.walk(prune=lambda n: isinstance(n, exp.Query) and n is not condition):
        if isinstance(node, exp.Column):
            yield node


def escape_backslashes(literals: list[exp.Literal]) -> None:
    r"""PostgreSQL reads a backslash in '...' as an escape when standard_conforming_strings is off,
    so 'a\' would swallow the closing quote and what follows. E'...' strings mean the same under
    both settings; sqlglot writes ByteString nodes as E'a\\b' (for the value a\b)."""
    for literal in literals:
        # Initcap's default delimiters are a literal sqlglot adds itself and only omits when unchanged.
        if literal.is_string and "\\" in literal.this and not isinstance(literal.parent, exp.Initcap):
            literal.replace(exp.ByteString(this=literal.this))


def limited(statement: exp.Expr, max_rows: int) -> exp.Expr:
    """Adds LIMIT max_rows to the outermost query, or lowers a larger literal one; a limit the
    firewall cannot read as a plain number (LIMIT ALL, a subquery, WITH TIES, PERCENT) is wrapped."""
    cap = exp.Literal.number(max_rows)
    if isinstance(statement, exp.Select | exp.SetOperation):
        limit = statement.args.get("limit")
        if limit is None:
            statement.set("limit", exp.Limit(expression=cap))
            return statement
        if isinstance(limit, exp.Limit) and not _has_options(limit):
            value = _int_literal(limit.expression)
            if value is not None:
                if value > max_rows:
                    limit.set("expression", cap)
                return statement
        if isinstance(limit, exp.Fetch) and not _has_options(limit):
            value = _int_literal(limit.args.get("count"))
            if value is not None:
                if value > max_rows:
                    limit.set("count", cap)
                return statement
    wrapper = exp.Select(expressions=[exp.Star()]).from_(
        exp.Subquery(this=statement, alias=exp.TableAlias(this=exp.to_identifier("_fw_limited"))), copy=False
    )
    wrapper.set("limit", exp.Limit(expression=cap))
    return wrapper


def _has_options(limit: exp.Expr) -> bool:
    options = limit.args.get("limit_options")
    return bool(options and any(options.args.get(key) for key in ("percent", "with_ties")))


def _int_literal(node: exp.Expr | None) -> int | None:
    if isinstance(node, exp.Literal) and not node.is_string and node.name.isdigit():
        return int(node.name)
    return None
