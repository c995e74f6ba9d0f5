"""Classification: tags on catalog columns, detected on every catalog read and reviewed by people.

Every introspection or refresh, on every connector, runs ``classify_on_read`` (registered with the
data sources' catalog steps when the app registry is ready): it samples the text columns of each
table on the engine's read-only path (``CLASSIFY_SAMPLE_ROWS`` rows, each query time-boxed, all of
them within ``CLASSIFY_SAMPLE_BUDGET_SECONDS``; tables beyond it are judged by their names), runs
the detector (``governance.detect``) over names and values, and stores the detections in the same
transaction as the catalog, so no new column is ever in the catalog without its tags.

Sampled values never leave this module: not stored, not logged, not in the evidence.

A re-read updates what it detects, adds what is new and drops detections it no longer makes; it
never changes a state a person set (confirmed, rejected) and never removes a tag a person added.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from sqlglot import exp

from datasources.connectors import CONNECTORS
from datasources.connectors.base import (
    Connector,
    ConnectorError,
    IntrospectedColumn,
    IntrospectedTable,
    Introspection,
    QueryOptions,
)
from datasources.models import CatalogColumn, DataSource, InferredKey
from governance import detect
from governance.audit import arguments_hash, audit_append
from governance.models import ColumnTag, Tag, TagMaskPolicy, TagRowFilterPolicy, TagSource, TagState
from governance.tags import BUILTIN_TAGS, MAX_TAG_CHARS, TAG_NAME

logger = logging.getLogger(__name__)

ColumnKey = tuple[str, str, str]  # (schema, table, column)


@dataclass(frozen=True)
class ReadClassification:
    """What one catalog read detected, per column, and how much of it rests on sampled values."""

    detections: Mapping[ColumnKey, tuple[detect.Detection, ...]]
    tables_sampled: int
    tables_by_name_only: int  # no values read: over the time budget, or the sample query failed


# --- on every catalog read ---------------------------------------------------------------------


def workspace_rules(workspace_id: Any) -> tuple[detect.TagRule, ...]:
    return tuple(
        detect.TagRule(
            name=tag.name,
            name_patterns=tuple(tag.name_patterns),
            values=tuple(tag.values),
            personal=tag.personal,
        )
        for tag in Tag.objects.filter(workspace_id=workspace_id).order_by("name")
        if tag.name_patterns or tag.values
    )


def sample_sql(schema: str, table: str, columns: Sequence[str], *, dialect: str, rows: int) -> str:
    """``SELECT <columns> FROM <table> LIMIT rows``, every name quoted, in the source's dialect."""
    db = exp.to_identifier(schema, quoted=True) if schema and dialect != "sqlite" else None
    target = exp.Table(this=exp.to_identifier(table, quoted=True), db=db)
    return exp.select(*[exp.column(c, quoted=True) for c in columns]).from_(target).limit(rows).sql(dialect=dialect)


def classify_introspection(
    *,
    datasource: DataSource,
    introspection: Introspection,
    connector: Connector | None,
    progress: Callable[[int, int], None] | None = None,
) -> ReadClassification:
    """Detects the tags of every column of an introspection; values are sampled through
    ``connector`` (None: names only)."""
    dialect = CONNECTORS[datasource.kind].dialect
    rules = workspace_rules(datasource.workspace_id)
    rows = settings.CLASSIFY_SAMPLE_ROWS
    timeout = float(min(settings.CLASSIFY_SAMPLE_TIMEOUT_SECONDS, datasource.workspace.query_timeout_seconds))
    deadline = time.monotonic() + settings.CLASSIFY_SAMPLE_BUDGET_SECONDS
    detections: dict[ColumnKey, tuple[detect.Detection, ...]] = {}
    sampled = by_name = 0
    total = len(introspection.tables)
    for index, table in enumerate(introspection.tables):
        wanted = [c.name for c in table.columns if detect.sampled_types(c.data_type, column=c.name)]
        samples: dict[str, list[Any]] = {}
        if wanted and connector is not None and rows and time.monotonic() < deadline:
            try:
                result = connector.execute_read(
                    sample_sql(table.schema, table.name, wanted, dialect=dialect, rows=rows),
                    options=QueryOptions(timeout_seconds=timeout, max_rows=rows, preview_rows=rows),
                )
                samples = {name: [row[i] for row in result.rows] for i, name in enumerate(result.columns)}
                sampled += 1
            except ConnectorError as exc:
                logger.info("classification of %s: no sample of %s (%s)", datasource.pk, table.name, exc.code)
                by_name += 1
        elif wanted:
            by_name += 1
        for column in table.columns:
            found = detect.detect_column(
                column=column.name,
                data_type=column.data_type,
                samples=samples.get(column.name, ()),
                table=table.name,
                rules=rules,
            )
            if found:
                detections[(table.schema, table.name, column.name)] = found
        if progress is not None:
            progress(index + 1, total)
    return ReadClassification(detections=detections, tables_sampled=sampled, tables_by_name_only=by_name)


def classify_on_read(
    *,
    datasource: DataSource,
    introspection: Introspection,
    connector: Connector,
    progress: Callable[[int, int], None],
) -> Callable[[], None]:
    """The catalog step (see ``datasources.services.CatalogStep``): detect now, store with the catalog."""
    found = classify_introspection(
        datasource=datasource, introspection=introspection, connector=connector, progress=progress
    )

    def store() -> None:
        column_tags_store(datasource=datasource, classification=found)

    return store


def catalog_classify(*, datasource: DataSource) -> ReadClassification:
    """Classifies the stored catalog of a source again (after a workspace tag was defined or its
    rules changed), sampling through a fresh connection; the catalog itself is left as it is."""
    from datasources.services import connector_for

    tables = []
    query = CatalogColumn.objects.filter(table__datasource=datasource, table__is_present=True, is_present=True)
    by_table: dict[tuple[str, str, str], list[IntrospectedColumn]] = {}
    for schema, name, kind, column, ordinal, data_type in query.order_by("table_id", "ordinal").values_list(
        "table__schema_name", "table__name", "table__kind", "name", "ordinal", "data_type"
    ):
        by_table.setdefault((schema, name, kind), []).append(
            IntrospectedColumn(name=column, ordinal=ordinal, data_type=data_type, nullable=True)
        )
    for (schema, name, kind), columns in by_table.items():
        tables.append(
            IntrospectedTable(
                schema=schema, name=name, kind=kind, row_estimate=None, comment="", columns=tuple(columns)
            )
        )
    connector = connector_for(datasource)
    try:
        found = classify_introspection(
            datasource=datasource,
            introspection=Introspection(server_version="", tables=tuple(tables)),
            connector=connector,
        )
    finally:
        connector.close()
    with transaction.atomic():
        column_tags_store(datasource=datasource, classification=found)
    return found


def catalog_classify_by_id(*, datasource_id: Any) -> dict[str, Any] | None:
    """The body of the re-classification task; None when the source is gone or cannot be read now
    (the next refresh classifies it anyway)."""
    datasource = DataSource.objects.select_related("workspace").filter(pk=datasource_id).first()
    if datasource is None or datasource.status != "ready":
        return None
    try:
        found = catalog_classify(datasource=datasource)
    except ConnectorError as exc:
        logger.warning("classification of %s failed: %s", datasource.pk, exc.code)
        return None
    return {
        "columns": len(found.detections),
        "tables_sampled": found.tables_sampled,
        "tables_by_name_only": found.tables_by_name_only,
    }


def classify_workspace_later(*, workspace_id: Any) -> None:
    """After the transaction commits, classifies every ready source of the workspace again (a tag's
    rules changed, so what the sources already hold should carry it now, not at their next refresh)."""
    from governance.tasks import catalog_classify as task

    ids = [
        str(pk)
        for pk in DataSource.objects.filter(workspace_id=workspace_id, status="ready").values_list("pk", flat=True)
    ]
    for datasource_id in ids:
        transaction.on_commit(functools.partial(task.delay, datasource_id))


def column_tags_store(*, datasource: DataSource, classification: ReadClassification) -> dict[str, int]:
    """Brings the detected tags of a source in line with one read (inside the catalog's transaction)."""
    now = timezone.now()
    columns = {
        (schema, table, name): pk
        for pk, schema, table, name in CatalogColumn.objects.filter(
            table__datasource=datasource, table__is_present=True, is_present=True
        ).values_list("pk", "table__schema_name", "table__name", "name")
    }
    existing = {(t.column_id, t.tag): t for t in ColumnTag.objects.filter(datasource=datasource)}
    new, changed, seen = [], [], set()
    for key, found in classification.detections.items():
        column_id = columns.get(key)
        if column_id is None:
            continue
        for detection in found:
            seen.add((column_id, detection.tag))
            current = existing.get((column_id, detection.tag))
            if current is None:
                new.append(
                    ColumnTag(
                        workspace_id=datasource.workspace_id,
                        datasource=datasource,
                        column_id=column_id,
                        tag=detection.tag,
                        source=TagSource.DETECTED,
                        confidence=detection.confidence,
                        evidence=detection.evidence,
                        state=TagState.DETECTED,
                        detected_at=now,
                    )
                )
                continue
            # What the detector saw is refreshed; the state a person set is not touched.
            current.confidence, current.evidence, current.detected_at = (detection.confidence, detection.evidence, now)
            changed.append(current)
    ColumnTag.objects.bulk_create(new, ignore_conflicts=True, batch_size=2000)
    ColumnTag.objects.bulk_update(changed, ["confidence", "evidence", "detected_at"], batch_size=2000)
    present = set(columns.values())
    stale = [
        tag.pk
        for (column_id, name), tag in existing.items()
        if (column_id, name) not in seen
        and column_id in present
        and tag.source == TagSource.DETECTED
        and tag.state == TagState.DETECTED
    ]
    ColumnTag.objects.filter(pk__in=stale).delete()
    return {"added": len(new), "updated": len(changed), "removed": len(stale)}


# --- people: review, add, remove --------------------------------------------------------------


def known_tag(*, workspace_id: Any, name: str) -> bool:
    return name in BUILTIN_TAGS or Tag.objects.filter(workspace_id=workspace_id, name=name).exists()


def _audit_tag(column_tag: ColumnTag, *, user: User, action: str, reason: str) -> None:
    audit_append(
        workspace_id=column_tag.workspace_id,
        actor=user,
        actor_username=user.get_username(),
        tool=f"column_tag.{action}",
        arguments_hash=arguments_hash({"column_id": column_tag.column_id, "tag": column_tag.tag, "action": action}),
        decision="completed",
        code="ok",
        reason=reason[:2000],
    )


def audit_key_review(*, key: InferredKey, previous: str, user: User) -> None:
    """A person's decision on an inferred join key, in the audit chain: a confirmed key opens joins
    to every model, a rejected one closes them (registered with datasources in ``apps.ready``)."""
    column, target = key.column, key.target
    reason = f"{_column_words(column)} -> {_column_words(target)}: {previous} -> {key.state}"
    audit_append(
        workspace_id=key.datasource.workspace_id,
        actor=user,
        actor_username=user.get_username(),
        tool="inferred_key.review",
        arguments_hash=arguments_hash({"key_id": key.pk, "state": key.state}),
        decision="completed",
        code="ok",
        reason=reason[:2000],
    )


def _column_words(column: CatalogColumn) -> str:
    table = column.table
    qualified = f"{table.schema_name}.{table.name}" if table.schema_name else table.name
    return f"{qualified}.{column.name}"


@transaction.atomic
def column_tag_review(*, column_tag: ColumnTag, state: str, user: User) -> ColumnTag:
    """Confirms or rejects a tag (or puts it back to "detected"); a later catalog read keeps it."""
    if state not in TagState.values:
        raise ValidationError({"state": f"Unknown state {state!r}; one of {', '.join(TagState.values)}."})
    locked = ColumnTag.objects.select_for_update().select_related("column__table").get(pk=column_tag.pk)
    if state == TagState.DETECTED and locked.source == TagSource.MANUAL:
        raise ValidationError({"state": "A tag a person set has no detection to go back to; remove it instead."})
    locked.state = state
    locked.reviewed_by = user if state != TagState.DETECTED else None
    locked.reviewed_at = timezone.now() if state != TagState.DETECTED else None
    locked.save(update_fields=["state", "reviewed_by", "reviewed_at", "updated_at"])
    _audit_tag(locked, user=user, action="review", reason=f"{locked.tag} on {_column_words(locked.column)}: {state}")
    return locked


@transaction.atomic
def column_tag_add(*, column: CatalogColumn, tag: str, user: User) -> ColumnTag:
    """A person tags a column: the tag is confirmed at once (and a detection of it becomes theirs)."""
    datasource = column.table.datasource
    tag = tag.strip().lower()
    if not known_tag(workspace_id=datasource.workspace_id, name=tag):
        raise ValidationError({"tag": f"There is no tag {tag!r} in this workspace; define it first."})
    current = ColumnTag.objects.select_for_update().filter(column=column, tag=tag).first()
    now = timezone.now()
    if current is None:
        current = ColumnTag(
            workspace_id=datasource.workspace_id, datasource=datasource, column=column, tag=tag, source=TagSource.MANUAL
        )
    current.state, current.reviewed_by, current.reviewed_at = TagState.CONFIRMED, user, now
    current.save()
    _audit_tag(current, user=user, action="add", reason=f"{tag} on {_column_words(column)}")
    return current


@transaction.atomic
def column_tag_remove(*, column_tag: ColumnTag, user: User) -> None:
    """Removes a tag a person set. A detected tag is rejected instead, so a re-read keeps it off."""
    locked = ColumnTag.objects.select_for_update().select_related("column__table").get(pk=column_tag.pk)
    if locked.source == TagSource.DETECTED:
        column_tag_review(column_tag=locked, state=TagState.REJECTED, user=user)
        return
    _audit_tag(locked, user=user, action="remove", reason=f"{locked.tag} on {_column_words(locked.column)}")
    locked.delete()


# --- the vocabulary: a workspace's own tags ---------------------------------------------------


def _tag_referenced(workspace_id: Any, name: str) -> list[str]:
    names = [*TagMaskPolicy.objects.filter(workspace_id=workspace_id, tag=name).values_list("name", flat=True)]
    names += TagRowFilterPolicy.objects.filter(workspace_id=workspace_id, tag=name).values_list("name", flat=True)
    return names


def validate_tag_name(name: Any, *, field: str = "name") -> str:
    if not isinstance(name, str) or not TAG_NAME.match(name) or len(name) > MAX_TAG_CHARS:
        raise ValidationError(
            {
                field: f"A tag is lower case, at most {MAX_TAG_CHARS} characters, with dots between parts: "
                "finance.amount."
            }
        )
    return name


def _texts(values: Any, field: str, *, limit: int, chars: int) -> list[str]:
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) and v.strip() for v in values):
        raise ValidationError({field: "A list of non-empty texts."})
    if len(values) > limit or any(len(v) > chars for v in values):
        raise ValidationError({field: f"At most {limit} entries of at most {chars} characters."})
    return list(dict.fromkeys(v.strip() for v in values))


@transaction.atomic
def tag_create(
    *,
    workspace_id: Any,
    name: str,
    description: str = "",
    personal: bool = False,
    name_patterns: Iterable[str] = (),
    values: Iterable[str] = (),
) -> Tag:
    """Defines a workspace tag; the next catalog read of each source detects it by its rules."""
    name = validate_tag_name(name)
    if name in BUILTIN_TAGS:
        raise ValidationError({"name": f"{name} is a built-in tag."})
    if Tag.objects.filter(workspace_id=workspace_id, name=name).exists():
        raise ValidationError({"name": f"This workspace already has a tag {name}."})
    tag = Tag(
        workspace_id=workspace_id,
        name=name,
        description=description,
        personal=bool(personal),
        name_patterns=[p.lower() for p in _texts(list(name_patterns), "name_patterns", limit=50, chars=120)],
        values=_texts(list(values), "values", limit=500, chars=200),
    )
    tag.full_clean()
    tag.save()
    if tag.name_patterns or tag.values:
        classify_workspace_later(workspace_id=workspace_id)
    return tag


@transaction.atomic
def tag_update(
    *,
    tag: Tag,
    description: str | None = None,
    personal: bool | None = None,
    name_patterns: Iterable[str] | None = None,
    values: Iterable[str] | None = None,
) -> Tag:
    fields = ["updated_at"]
    if description is not None:
        tag.description, fields = description, [*fields, "description"]
    if personal is not None:
        tag.personal, fields = bool(personal), [*fields, "personal"]
    if name_patterns is not None:
        patterns = _texts(list(name_patterns), "name_patterns", limit=50, chars=120)
        tag.name_patterns, fields = [p.lower() for p in patterns], [*fields, "name_patterns"]
    if values is not None:
        tag.values, fields = _texts(list(values), "values", limit=500, chars=200), [*fields, "values"]
    tag.save(update_fields=fields)
    if name_patterns is not None or values is not None:
        classify_workspace_later(workspace_id=tag.workspace_id)
    return tag


@transaction.atomic
def tag_delete(*, tag: Tag) -> None:
    """Removes a workspace tag and its column tags; refused while a policy names it (the policy
    would otherwise stop protecting anything, silently)."""
    users = _tag_referenced(tag.workspace_id, tag.name)
    if users:
        raise ValidationError({"name": f"The policies {', '.join(sorted(users))} use the tag {tag.name}."})
    ColumnTag.objects.filter(workspace_id=tag.workspace_id, tag=tag.name).delete()
    tag.delete()
