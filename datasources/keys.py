"""Join keys a schema does not declare, inferred from names and types.

Most public dumps (and many warehouses) declare no foreign key, yet ``orders.customer_id`` plainly
holds ids of ``customers``. Each catalog read scores, for every column that declares no key, the
tables its name points at: the name of the column without its ``id`` must name the table
(``customer_id`` -> ``customers``, ``orderId`` -> ``orders``, ``orderid`` when a catalog lower-cased
the camelCase: the compact forms are compared, so the compound splits wherever a table name fits),
the referenced column must be the table's key (its declared primary key, ``id``, or ``<table>_id``)
and both columns must be of one type family (integers, text, uuid). Where nothing is named like an
id, a column naming a thing (``restaurant.city_name``) references the table that leads with a column
of that name and declares no key (``geographic.city_name``): the natural key of a lookup table. Only
confident candidates are kept, and a column matching two tables equally well gets none: a wrong join
is worse than none.

Nothing here reads data or Django models: it works on an ``Introspection``, so every connector
(PostgreSQL, MySQL, SQLite, files) gets the same inference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from datasources.connectors.base import IntrospectedColumn, IntrospectedTable, Introspection
from datasources.vocabulary import name_tokens, singular

# A candidate is kept at this score or above (see ``_NAME_SCORES`` and ``_KEY_SCORES``).
MIN_SCORE = 0.75
# How well the column's name names the table: the whole table name, its last word ("customer_id" for
# ``billing_customers``), or the last words of a longer name ("parent_order_id" for ``orders``).
_NAME_SCORES = {"table": 0.6, "last word": 0.45, "role": 0.4, "shared name": 0.45, "key name": 0.45}
# How much the referenced column looks like the table's key.
_KEY_SCORES = {"primary key": 0.3, "id": 0.2, "table key": 0.2, "natural key": 0.2}
# The last word of a column that names a thing rather than counting it: a natural key is one of these.
_KEY_WORDS = frozenset({"name", "code", "id", "key", "no", "number", "num"})
SAME_TYPE = 0.1  # the two columns have exactly the same type, not only the same family
SAME_SCHEMA = 0.05  # breaks ties between tables of the same name in two schemas

_INTEGER = re.compile(r"^u?(tiny|small|medium|big|huge)?int(eger)?\d*$|^(big|small)?serial\d*$|^long$")
_TEXT = re.compile(r"^(n?var)?char(acter)?\d*$|^(tiny|medium|long)?text$|^(n?clob|string|citext|n?varchar2)$")
_UUID = re.compile(r"^(uuid|uniqueidentifier)$")
_WHOLE_DECIMAL = re.compile(r"^(numeric|decimal|number)\(\d+(,0)?\)")  # NUMBER(10): a whole number


@dataclass(frozen=True)
class KeyCandidate:
    """``schema.table.column`` holds values of ``target_schema.target_table.target_column``."""

    schema: str
    table: str
    column: str
    target_schema: str
    target_table: str
    target_column: str
    score: float
    evidence: str


def type_family(data_type: str) -> str | None:
    """``integer``, ``text`` or ``uuid`` for a type as any of the engines names it
    (``bigint unsigned``, ``character varying(120)``, ``INT64``, ``VARCHAR``); None for the others,
    which never join by inference."""
    if _WHOLE_DECIMAL.match(data_type.lower().replace(" ", "")):
        return "integer"
    words = re.sub(r"\(.*?\)", " ", data_type.lower()).split()
    if not words:
        return None
    first = words[0]
    if _INTEGER.match(first):
        return "integer"
    if _TEXT.match(first):
        return "text"
    if _UUID.match(first):
        return "uuid"
    return None


def _compact(name: str) -> str:
    """``order_Items`` -> ``orderitems``: how a name compares whatever its case or separators."""
    return "".join(name_tokens(name))


def _table_forms(table: IntrospectedTable) -> dict[str, str]:
    """The compact words a column may use to name ``table`` and how they name it: ``order_items``
    -> {"orderitem": "table", "orderitems": "table", "item": "last word"}."""
    tokens = name_tokens(table.name)
    if not tokens:
        return {}
    forms = {"".join([*tokens[:-1], singular(tokens[-1])]): "table", "".join(tokens): "table"}
    if len(tokens) > 1:
        forms.setdefault(singular(tokens[-1]), "last word")
    return forms


def _key_stem(column: IntrospectedColumn) -> str | None:
    """What a key column's name says it references: ``customer_id`` -> ``customer``; None for a name
    that does not end in ``id`` (or is just ``id``)."""
    compact = _compact(column.name)
    if len(compact) <= 2 or not compact.endswith("id"):
        return None
    return compact[:-2]


def _tables_named(stem: str, index: dict[str, list[tuple[int, str]]]) -> list[tuple[int, str]]:
    """(table, how the name names it) for every table ``stem`` names: by an exact form, or with a role
    before the table's name ("parent_order" for orders, "billing_customer" for customers)."""
    found = dict(index.get(stem, ()))
    for start in range(1, len(stem) - 1):
        for table, kind in index.get(stem[start:], ()):
            if kind == "table":
                found.setdefault(table, "role")
    return list(found.items())


def _target_key(
    table: IntrospectedTable, source: IntrospectedColumn, forms: dict[str, str]
) -> list[tuple[IntrospectedColumn, str]]:
    """The columns of ``table`` that look like its key, strongest first, with how they look like it."""
    found: list[tuple[IntrospectedColumn, str]] = []
    primary = [c for c in table.columns if c.is_primary_key]
    if len(primary) == 1:
        found.append((primary[0], "primary key"))
    source_compact = _compact(source.name)
    for column in table.columns:
        if column.is_primary_key and len(primary) == 1:
            continue
        compact = _compact(column.name)
        if compact == "id":
            found.append((column, "id"))
        elif compact == source_compact or (compact.endswith("id") and forms.get(compact[:-2]) == "table"):
            found.append((column, "table key"))
    return found


def _natural_keys(
    tables: tuple[IntrospectedTable, ...], source: IntrospectedTable, column: IntrospectedColumn, family: str
) -> list[tuple[int, IntrospectedColumn]]:
    """Tables keyed by the value ``column`` holds, where nothing is named ``id``: ``restaurant.city_name``
    holds values of ``geographic.city_name``, the first column of a table without a declared primary
    key (dumps of lookup tables lead with the thing they describe). The column must name a thing
    (``..._name``, ``..._code``) and must not itself lead its own table, where it would be that
    table's key rather than a reference."""
    tokens = name_tokens(column.name)
    if len(tokens) < 2 or tokens[-1] not in _KEY_WORDS or (source.columns and source.columns[0] is column):
        return []
    compact = "".join(tokens)
    found = []
    for position, target in enumerate(tables):
        if target is source or not target.columns or any(c.is_primary_key for c in target.columns):
            continue
        first = target.columns[0]
        if _compact(first.name) == compact and type_family(first.data_type) == family:
            found.append((position, first))
    return found


def _same_key_name(
    tables: tuple[IntrospectedTable, ...], source: IntrospectedTable, column: IntrospectedColumn, family: str
) -> list[tuple[int, IntrospectedColumn]]:
    """The one table whose single-column primary key has this column's name (``customerId`` of
    ``salesOrders`` and ``customerAccounts.customerId``, ``StuID`` of a table of allergies and of
    students): the convention of schemas that join by a shared key name. Never a bare ``id`` or
    ``code``, and nothing when several tables have such a key."""
    tokens = name_tokens(column.name)
    if len(tokens) < 2 or tokens[-1] not in _KEY_WORDS:
        return []
    compact = "".join(tokens)
    found = []
    for position, target in enumerate(tables):
        primary = [c for c in target.columns if c.is_primary_key]
        if target is source or len(primary) != 1 or _compact(primary[0].name) != compact:
            continue
        if type_family(primary[0].data_type) == family:
            found.append((position, primary[0]))
    return found if len(found) == 1 else []


def _evidence(column: IntrospectedColumn, target: IntrospectedTable,
              key: IntrospectedColumn, name_kind: str, key_kind: str, family: str, same_type: bool) -> str:  # fmt: skip
    naming = {
        "table": f"the name {column.name} names the table {target.name}",
        "last word": f"the name {column.name} names the last word of the table {target.name}",
        "role": f"the name {column.name} ends with the name of the table {target.name}",
        "shared name": f"{target.name} leads with a column of the same name",
        "key name": f"{target.name}'s primary key has the same name",
    }[name_kind]
    keyed = {
        "primary key": f"{target.name}.{key.name} is its primary key",
        "id": f"{target.name}.{key.name} is named like its key",
        "table key": f"{target.name}.{key.name} is named like its key",
        "natural key": f"{target.name}.{key.name} is its first column and it declares no key",
    }[key_kind]
    typed = f"both are {column.data_type}" if same_type else f"both are {family} types"
    return f"{naming}; {keyed}; {typed}."


def infer_keys(introspection: Introspection) -> list[KeyCandidate]:
    """The confident inferred keys of one read, at most one per column, for columns that declare none."""
    tables = introspection.tables
    forms = [_table_forms(table) for table in tables]
    index: dict[str, list[tuple[int, str]]] = {}
    for position, table_forms in enumerate(forms):
        for form, kind in table_forms.items():
            index.setdefault(form, []).append((position, kind))
    found: list[KeyCandidate] = []
    for source in tables:
        for column in source.columns:
            if column.fk_table:
                continue  # a declared key always wins
            stem = _key_stem(column)
            family = type_family(column.data_type)
            if family is None:
                continue
            candidates: list[tuple[float, KeyCandidate]] = []
            for position, name_kind in _tables_named(stem, index) if stem else ():
                target = tables[position]
                if (target.schema, target.name) == (source.schema, source.name):
                    continue
                for key, key_kind in _target_key(target, column, forms[position]):
                    if type_family(key.data_type) != family:
                        continue
                    same_type = key.data_type.lower() == column.data_type.lower()
                    score = _NAME_SCORES[name_kind] + _KEY_SCORES[key_kind] + (SAME_TYPE if same_type else 0.0)
                    score += SAME_SCHEMA if target.schema == source.schema else 0.0
                    if score < MIN_SCORE:
                        continue
                    candidates.append((score, KeyCandidate(
                        source.schema, source.name, column.name, target.schema, target.name, key.name,
                        round(min(score, 1.0), 2),
                        _evidence(column, target, key, name_kind, key_kind, family, same_type),
                    )))  # fmt: skip
                    break  # the strongest key of this table only
            if not candidates and not column.is_primary_key:
                for position, key in _same_key_name(tables, source, column, family):
                    same_type = key.data_type.lower() == column.data_type.lower()
                    score = _NAME_SCORES["key name"] + _KEY_SCORES["primary key"] + (SAME_TYPE if same_type else 0.0)
                    score += SAME_SCHEMA if tables[position].schema == source.schema else 0.0
                    candidates.append((score, KeyCandidate(
                        source.schema, source.name, column.name, tables[position].schema, tables[position].name,
                        key.name, round(min(score, 1.0), 2),
                        _evidence(column, tables[position], key, "key name", "primary key", family, same_type),
                    )))  # fmt: skip
            if not candidates:
                named = dict(_tables_named("".join(name_tokens(column.name)[:-1]), index))
                for position, key in _natural_keys(tables, source, column, family):
                    target = tables[position]
                    name_kind = "table" if named.get(position) == "table" else "shared name"
                    same_type = key.data_type.lower() == column.data_type.lower()
                    score = _NAME_SCORES[name_kind] + _KEY_SCORES["natural key"] + (SAME_TYPE if same_type else 0.0)
                    score += SAME_SCHEMA if target.schema == source.schema else 0.0
                    if score >= MIN_SCORE:
                        candidates.append((score, KeyCandidate(
                            source.schema, source.name, column.name, target.schema, target.name, key.name,
                            round(min(score, 1.0), 2),
                            _evidence(column, target, key, name_kind, "natural key", family, same_type),
                        )))  # fmt: skip
            candidates.sort(key=lambda scored: -scored[0])
            # Two tables fitting equally well: no guess.
            if candidates and (len(candidates) == 1 or candidates[0][0] > candidates[1][0] + 1e-9):
                found.append(candidates[0][1])
    return found
