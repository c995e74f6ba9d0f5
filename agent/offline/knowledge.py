"""What the offline model knows about the catalog at one point of a conversation.

Rebuilt on every call from the context and the observations of earlier ``search_catalog`` and
``describe_table`` calls (the model keeps no state): tables, their columns and sample values, the
foreign keys between them (declared or inferred: both come in a column's ``references``).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from datasources.vocabulary import name_tokens, singular

_NUMERIC = re.compile(r"int|numeric|decimal|real|double|float|money|number|serial", re.IGNORECASE)
_TEMPORAL = re.compile(r"date|time", re.IGNORECASE)
_TEXTUAL = re.compile(r"char|text|string|enum|clob", re.IGNORECASE)
_TEMPORAL_NAME = re.compile(r"(_at|_on|_date|_time|_day|^date|^month|^day|^week|^year|timestamp)$")
_INTEGER = re.compile(r"^(big|small|tiny|medium)?int(eger)?(\d+)?$|^long$|^number\(\d+(,\s*0)?\)$", re.IGNORECASE)
_EPOCH_NAME = re.compile(r"(_time|_at|_ts|timestamp|epoch|_seconds)$|^(time|ts)$")
_LABEL_NAMES = ("name", "title", "label", "full_name", "display_name", "number", "sku", "email", "subject")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    pk: bool = False
    references: str = ""  # "schema.table.column" of a foreign key
    masked: str = ""
    comment: str = ""
    samples: tuple[Any, ...] = ()

    @property
    def words(self) -> list[str]:
        return [singular(token) for token in name_tokens(self.name)]

    @property
    def is_key(self) -> bool:
        return self.pk or bool(self.references) or self.name.lower() == "id" or self.name.lower().endswith("_id")

    @property
    def is_epoch(self) -> bool:
        """An integer column named like a time holds seconds since 1970: a time, not an amount."""
        return bool(_INTEGER.match(self.type.strip())) and bool(_EPOCH_NAME.search(self.name.lower()))

    @property
    def is_numeric(self) -> bool:
        return bool(_NUMERIC.search(self.type)) and not self.is_key and not self.is_epoch

    @property
    def is_temporal(self) -> bool:
        return bool(_TEMPORAL.search(self.type)) or bool(_TEMPORAL_NAME.search(self.name.lower())) or self.is_epoch

    @property
    def is_text(self) -> bool:
        return bool(_TEXTUAL.search(self.type)) or (not self.type and not self.is_key and not self.is_temporal)

    @property
    def target(self) -> tuple[str, str] | None:
        """(qualified table, column) a foreign key points at."""
        if not self.references or "." not in self.references:
            return None
        table, column = self.references.rsplit(".", 1)
        return table, column


@dataclass(frozen=True)
class Table:
    datasource_id: str
    datasource: str
    schema: str
    name: str
    comment: str
    row_estimate: int | None
    columns: tuple[Column, ...]
    described: bool = False  # all columns known (from describe_table), with sample values

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    @property
    def key(self) -> tuple[str, str]:
        return self.datasource_id, self.qualified_name

    @property
    def words(self) -> list[str]:
        return [singular(token) for token in name_tokens(self.name)]

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def primary_key(self) -> Column | None:
        return next((c for c in self.columns if c.pk), None) or self.column("id")

    @property
    def label(self) -> Column | None:
        """The column that names a row for a person (``name``, ``title``...)."""
        usable = [c for c in self.columns if not c.is_key]
        for wanted in _LABEL_NAMES:
            for column in usable:
                if column.name.lower() == wanted and not column.masked:
                    return column
        # ``customer_name``, or ``fullname`` / ``productName`` lower-cased by the catalog.
        return next((c for c in usable if c.name.lower().endswith("name") and not c.masked), None)

    @property
    def noun(self) -> str:
        """A readable plural for answers: "customers" for ``billing_customers``."""
        words = name_tokens(self.name)
        return words[-1] if words else self.name


def table_from_json(data: dict[str, Any], *, described: bool = False) -> Table | None:
    try:
        samples = data.get("sample_values") or {}
        columns = tuple(
            Column(
                name=str(c["name"]),
                type=str(c.get("type") or ""),
                pk=bool(c.get("pk")),
                references=str(c.get("references") or ""),
                masked=str(c.get("masked") or ""),
                comment=str(c.get("comment") or ""),
                samples=tuple(samples.get(c["name"]) or ()) if isinstance(samples, dict) else (),
            )
            for c in data.get("columns") or []
        )
        return Table(
            datasource_id=str(data["datasource_id"]),
            datasource=str(data.get("datasource") or ""),
            schema=str(data.get("schema") or ""),
            name=str(data["name"]),
            comment=str(data.get("comment") or ""),
            row_estimate=data.get("row_estimate"),
            columns=columns,
            described=described,
        )
    except (KeyError, TypeError, AttributeError):
        return None


class Knowledge:
    """The tables seen so far, best first: the context's, then those searches found; a description
    replaces what was known of a table (all its columns, with samples)."""

    def __init__(self, datasources: Iterable[dict[str, Any]]) -> None:
        self.datasources: dict[str, dict[str, Any]] = {}
        for source in datasources:
            if isinstance(source, dict) and source.get("id"):
                self.datasources[str(source["id"])] = source
        self.tables: dict[tuple[str, str], Table] = {}

    def add(self, table: Table) -> None:
        known = self.tables.get(table.key)
        if known is None:
            self.tables[table.key] = table
        elif table.described or not known.described:
            # Keeps the first place in the ranking, takes the fuller description.
            self.tables[table.key] = replace(table, described=table.described or known.described)

    def dialect(self, datasource_id: str) -> str:
        source = self.datasources.get(datasource_id) or {}
        return str(source.get("dialect") or "postgres")

    def datasource_name(self, datasource_id: str) -> str:
        source = self.datasources.get(datasource_id) or {}
        return str(source.get("name") or datasource_id)

    def of(self, datasource_id: str) -> list[Table]:
        return [t for t in self.tables.values() if t.datasource_id == datasource_id]

    def get(self, datasource_id: str, qualified_name: str) -> Table | None:
        return self.tables.get((datasource_id, qualified_name))

    def find(self, datasource_id: str, text: str) -> Table | None:
        """The table ``text`` names exactly ("schema.name" or "name"), case-insensitively."""
        wanted = text.strip().lower()
        for table in self.of(datasource_id):
            if wanted in (table.qualified_name.lower(), table.name.lower()):
                return table
        return None

    # --- joins -----------------------------------------------------------------------------

    def edges(self, table: Table) -> list[Join]:
        """Foreign keys from and to ``table`` among the known tables of its data source."""
        found: list[Join] = []
        for column in table.columns:
            target = column.target
            if target is not None:
                other = self.get(table.datasource_id, target[0])
                if other is not None and other.key != table.key:
                    found.append(Join(table.key, column.name, other.key, target[1], to_parent=True))
        for other in self.of(table.datasource_id):
            if other.key == table.key:
                continue
            for column in other.columns:
                target = column.target
                if target is not None and target[0] == table.qualified_name:
                    found.append(Join(table.key, target[1], other.key, column.name, to_parent=False))
        return found

    def path(self, start: Table, goal: Table, max_joins: int = 2) -> list[Join] | None:
        """The shortest chain of foreign-key joins from ``start`` to ``goal`` (at most ``max_joins``)."""
        return next((joins for table, joins in self.reachable(start, max_joins) if table.key == goal.key), None)

    def reachable(
        self, start: Table, max_joins: int = 2, *, to_parents: bool = False
    ) -> list[tuple[Table, list[Join]]]:
        """Every known table within ``max_joins`` joins of ``start`` (itself first), nearest first.

        ``to_parents``: only along foreign keys towards the tables they reference, so that each row
        of ``start`` meets at most one row of each (no sum counted twice)."""
        found = [(start, list[Join]())]
        queue: deque[tuple[Table, list[Join]]] = deque([(start, [])])
        seen = {start.key}
        while queue:
            table, joins = queue.popleft()
            if len(joins) >= max_joins:
                continue
            for join in self.edges(table):
                if join.right in seen or (to_parents and not join.to_parent):
                    continue
                seen.add(join.right)
                other = self.tables[join.right]
                found.append((other, [*joins, join]))
                queue.append((other, [*joins, join]))
        return found

    def missing_neighbours(self, table: Table) -> list[str]:
        """Tables ``table``'s foreign keys point at that are not known yet (qualified names)."""
        names = []
        for column in table.columns:
            target = column.target
            if target is not None and self.get(table.datasource_id, target[0]) is None and target[0] not in names:
                names.append(target[0])
        return names


@dataclass(frozen=True)
class Join:
    """``left.left_column = right.right_column``, walking from ``left`` to ``right``."""

    left: tuple[str, str]
    left_column: str
    right: tuple[str, str]
    right_column: str
    to_parent: bool = True  # ``left_column`` is the foreign key: one ``right`` row per ``left`` row

    def reversed(self) -> Join:
        return Join(self.right, self.right_column, self.left, self.left_column, not self.to_parent)


def reverse_path(path: list[Join]) -> list[Join]:
    """The same joins walked from the other end."""
    return [join.reversed() for join in reversed(path)]
