"""Writes for data sources: register, change, test, refresh (introspect) and delete."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from datasources.catalog import catalog_apply
from datasources.connectors import CONNECTORS, build_connector
from datasources.connectors.base import (
    ConnectionConfig,
    ConnectionInfo,
    Connector,
    ConnectorError,
    GuardPolicy,
    Introspection,
)
from datasources.keys import KeyCandidate, infer_keys
from datasources.models import (
    CatalogColumn,
    DataSource,
    DataSourceKind,
    DataSourceStatus,
    InferredKey,
    InferredKeyState,
)
from workspaces.models import Workspace
from workspaces.roles import DATASOURCE_PERMISSIONS, grant

logger = logging.getLogger(__name__)

# Secrets a kind accepts; anything else in ``secrets`` is refused rather than silently stored.
SECRET_KEYS = {"postgresql": {"password"}, "mysql": {"password"}, "sqlite": set(), "files": set()}
REFRESH_STALE_AFTER = timedelta(minutes=15)


class RefreshInProgress(Exception):
    pass


class CatalogStep(Protocol):
    """Work done on every catalog read. Called after the source was introspected, outside any
    transaction (it may read the source through ``connector``), with ``progress(done, total)``; it
    returns what to do inside the transaction that stores the catalog, so the catalog never shows
    the new tables without the step's results."""

    def __call__(
        self,
        *,
        datasource: DataSource,
        introspection: Introspection,
        connector: Connector,
        progress: Callable[[int, int], None],
    ) -> Callable[[], None]: ...


# Governance registers its classification here when the app registry is ready: datasources sits
# below governance and does not import it.
_CATALOG_STEPS: list[CatalogStep] = []


def catalog_step_register(step: CatalogStep) -> None:
    if step not in _CATALOG_STEPS:
        _CATALOG_STEPS.append(step)


def catalog_steps() -> tuple[CatalogStep, ...]:
    return tuple(_CATALOG_STEPS)


class KeyReviewRecorder(Protocol):
    """Records a person's decision on an inferred key, in the transaction that stores it (governance
    audits it: a confirmed key changes which joins every model may make)."""

    def __call__(self, *, key: InferredKey, previous: str, user: User) -> None: ...


_KEY_REVIEW_RECORDERS: list[KeyReviewRecorder] = []


def key_review_recorder_register(recorder: KeyReviewRecorder) -> None:
    if recorder not in _KEY_REVIEW_RECORDERS:
        _KEY_REVIEW_RECORDERS.append(recorder)


def guard_policy() -> GuardPolicy:
    return GuardPolicy(
        allow_private=settings.DATASOURCE_ALLOW_PRIVATE_HOSTS,
        allow=tuple(settings.DATASOURCE_ALLOW_HOSTS),
        deny=tuple(settings.DATASOURCE_DENY_HOSTS),
        file_roots=tuple(Path(root) for root in settings.DATASOURCE_FILE_ROOTS),
        max_download_bytes=settings.DATASOURCE_MAX_DOWNLOAD_BYTES,
        download_dir=Path(settings.DATASOURCE_DOWNLOAD_DIR),
    )


def connector_for(datasource: DataSource) -> Connector:
    config = ConnectionConfig(
        kind=datasource.kind, settings=dict(datasource.settings), secrets=datasource.secrets or {}
    )
    return build_connector(config, guard_policy())


def _validated(kind: str, settings_: dict[str, Any], secrets: dict[str, Any]) -> dict[str, Any]:
    if kind not in CONNECTORS:
        raise ValidationError({"kind": f"Unknown kind {kind!r}; one of {', '.join(DataSourceKind.values)}."})
    unknown = set(secrets) - SECRET_KEYS[kind]
    if unknown:
        raise ValidationError({"secrets": f"{kind} sources take no secret named {', '.join(sorted(unknown))}."})
    if not all(isinstance(value, str) for value in secrets.values()):
        raise ValidationError({"secrets": "Secrets are strings."})
    if any(key in settings_ for key in ("password", "secret", "token")):
        raise ValidationError({"settings": "Put passwords and tokens in secrets, not in settings."})
    return CONNECTORS[kind].validate_settings(dict(settings_), guard_policy())


@transaction.atomic
def datasource_create(
    *,
    workspace: Workspace,
    name: str,
    kind: str,
    settings: dict[str, Any],
    secrets: dict[str, Any] | None = None,
    description: str = "",
    created_by: User | None = None,
) -> DataSource:
    """Validates the settings (hosts and paths included, without connecting) and saves the source.

    Raises ConnectorError for a forbidden host or path, ValidationError for anything else.
    """
    secrets = secrets or {}
    normalised = _validated(kind, settings, secrets)
    if DataSource.objects.filter(workspace=workspace, name=name).exists():
        raise ValidationError({"name": "This workspace already has a data source with this name."})
    datasource = DataSource(
        workspace=workspace,
        name=name,
        kind=kind,
        settings=normalised,
        secrets=secrets,
        description=description,
        created_by=created_by,
    )
    try:
        with transaction.atomic():
            datasource.save()
    except IntegrityError:
        raise ValidationError({"name": "This workspace already has a data source with this name."}) from None
    grant(
        obj=datasource,
        workspace_id=datasource.workspace_id,
        perms_by_role={
            role: [f"datasources.{perm}" for perm in perms] for role, perms in DATASOURCE_PERMISSIONS.items()
        },
    )
    return datasource


@transaction.atomic
def datasource_update(
    *,
    datasource: DataSource,
    name: str | None = None,
    description: str | None = None,
    settings: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> DataSource:
    """Changes a source. ``secrets`` merge: a key set to "" is removed, keys left out are kept."""
    fields = ["updated_at"]
    if name is not None and name != datasource.name:
        if DataSource.objects.filter(workspace_id=datasource.workspace_id, name=name).exists():
            raise ValidationError({"name": "This workspace already has a data source with this name."})
        datasource.name = name
        fields.append("name")
    if description is not None:
        datasource.description = description
        fields.append("description")
    if secrets is not None:
        merged = dict(datasource.secrets or {})
        for key, value in secrets.items():
            if value == "":
                merged.pop(key, None)
            else:
                merged[key] = value
        secrets = merged
    if settings is not None or secrets is not None:
        new_settings = settings if settings is not None else dict(datasource.settings)
        new_secrets = secrets if secrets is not None else dict(datasource.secrets or {})
        datasource.settings = _validated(datasource.kind, new_settings, new_secrets)
        datasource.secrets = new_secrets
        fields += ["settings", "secrets"]
    datasource.save(update_fields=fields)
    return datasource


@transaction.atomic
def datasource_delete(*, datasource: DataSource) -> None:
    datasource.delete()


def datasource_test(*, datasource: DataSource) -> ConnectionInfo:
    """Connects with the stored settings and credentials; records the outcome on the source."""
    connector = connector_for(datasource)
    try:
        info = connector.test()
    except ConnectorError as exc:
        DataSource.objects.filter(pk=datasource.pk).update(
            last_tested_at=timezone.now(),
            error_code=exc.code,
            status_message=exc.message[:2000],
            status=DataSourceStatus.ERROR if datasource.status == DataSourceStatus.NEW else datasource.status,
        )
        raise
    finally:
        connector.close()
    # A connection that works but shows no table says why, on the source too.
    visibility = info.visibility
    nothing = visibility is not None and bool(visibility.code)
    DataSource.objects.filter(pk=datasource.pk).update(
        last_tested_at=timezone.now(),
        server_version=info.server_version[:200],
        error_code=visibility.code if nothing and visibility else "",
        status_message=(visibility.message if nothing and visibility else "")[:2000],
    )
    return info


def datasource_test_settings(
    *, kind: str, settings: dict[str, Any], secrets: dict[str, Any] | None = None
) -> ConnectionInfo:
    """Connects with settings that are not saved (yet): the "Test connection" of the add form.

    Raises ValidationError or ConnectorError like ``datasource_create`` for settings it refuses,
    and ConnectorError when the source cannot be reached or refuses the credentials. Nothing is saved.
    """
    secrets = secrets or {}
    normalised = _validated(kind, settings, secrets)
    connector = build_connector(ConnectionConfig(kind=kind, settings=normalised, secrets=secrets), guard_policy())
    try:
        return connector.test()
    finally:
        connector.close()


@transaction.atomic
def datasource_refresh_start(*, datasource: DataSource) -> DataSource:
    """Marks the source as being introspected and enqueues the task after commit."""
    from datasources.tasks import datasource_refresh

    locked = DataSource.objects.select_for_update().get(pk=datasource.pk)
    if locked.status == DataSourceStatus.INTROSPECTING and locked.updated_at > timezone.now() - REFRESH_STALE_AFTER:
        raise RefreshInProgress("A refresh of this data source is already running.")
    locked.status = DataSourceStatus.INTROSPECTING
    locked.introspection_progress = 0
    locked.save(update_fields=["status", "introspection_progress", "updated_at"])
    # Enqueued only once the status change is committed, never inside the open transaction.
    transaction.on_commit(lambda: datasource_refresh.delay(str(locked.pk)))
    return locked


def datasource_introspect(*, datasource_id: Any) -> dict[str, int] | None:
    """The body of the refresh task: introspect, then store the catalog in one transaction."""
    datasource = DataSource.objects.filter(pk=datasource_id).first()
    if datasource is None:
        return None  # deleted since the refresh was asked for
    connector = connector_for(datasource)
    last_update = [0.0, -1]
    steps = catalog_steps()
    # Reading the schema is the first part of the bar; the catalog steps (classification samples
    # the tables) share the rest.
    share = 100 if not steps else 60

    def progress_between(start: int, width: int) -> Callable[[int, int], None]:
        def progress(done: int, total: int) -> None:
            percent = min(99, start + int(done * width / total)) if total else start
            now = time.monotonic()
            # At most a few writes a second, whatever the number of tables.
            if percent != last_update[1] and now - last_update[0] > 0.25:
                DataSource.objects.filter(pk=datasource.pk).update(introspection_progress=percent)
                last_update[:] = [now, percent]

        return progress

    try:
        introspection = connector.introspect(progress=progress_between(0, share))
        width = (100 - share) // max(1, len(steps))
        finish = [
            step(datasource=datasource, introspection=introspection, connector=connector,
                 progress=progress_between(share + index * width, width))
            for index, step in enumerate(steps)
        ]  # fmt: skip
        with transaction.atomic():
            counts = catalog_apply(datasource=datasource, introspection=introspection)
            for store in finish:
                store()
        return counts
    except ConnectorError as exc:
        DataSource.objects.filter(pk=datasource.pk).update(
            status=DataSourceStatus.ERROR, error_code=exc.code, status_message=exc.message[:2000]
        )
        logger.warning("introspection of %s failed: %s", datasource.pk, exc.code)
        return None
    except Exception:
        # Never leave the source "introspecting" until the stale window: say it failed, then re-raise
        # so the worker logs the trace.
        DataSource.objects.filter(pk=datasource.pk).update(
            status=DataSourceStatus.ERROR,
            error_code="introspection_failed",
            status_message="Reading the schema failed unexpectedly; the error is in the worker's log.",
        )
        raise
    finally:
        connector.close()


# --- inferred join keys ------------------------------------------------------------------------


def infer_keys_on_read(
    *,
    datasource: DataSource,
    introspection: Introspection,
    connector: Connector,
    progress: Callable[[int, int], None],
) -> Callable[[], None]:
    """The catalog step (see ``CatalogStep``) that infers the keys a schema does not declare, from
    names and types only (nothing is read from the source), and stores them with the catalog."""
    candidates = infer_keys(introspection)
    progress(1, 1)

    def store() -> None:
        inferred_keys_store(datasource=datasource, candidates=candidates)

    return store


def inferred_keys_store(*, datasource: DataSource, candidates: list[KeyCandidate]) -> dict[str, int]:
    """Brings the inferred keys of a source in line with one read (inside the catalog's transaction):
    new detections are added, known ones refreshed (score, evidence; never their state), detections
    no longer made are dropped unless a person decided on them, and keys whose columns are gone or
    now declare a foreign key are dropped whatever their state."""
    now = timezone.now()
    columns: dict[tuple[str, str, str], int] = {}
    declared: set[int] = set()
    for pk, schema, table, name, fk_table in CatalogColumn.objects.filter(
        table__datasource=datasource, table__is_present=True, is_present=True
    ).values_list("pk", "table__schema_name", "table__name", "name", "fk_table_name"):
        columns[(schema, table, name)] = pk
        if fk_table:
            declared.add(pk)
    existing = {(key.column_id, key.target_id): key for key in InferredKey.objects.filter(datasource=datasource)}
    new, changed, seen = [], [], set()
    for candidate in candidates:
        column_id = columns.get((candidate.schema, candidate.table, candidate.column))
        target_id = columns.get((candidate.target_schema, candidate.target_table, candidate.target_column))
        if column_id is None or target_id is None:
            continue
        seen.add((column_id, target_id))
        current = existing.get((column_id, target_id))
        if current is None:
            new.append(
                InferredKey(
                    datasource=datasource,
                    column_id=column_id,
                    target_id=target_id,
                    score=candidate.score,
                    evidence=candidate.evidence,
                    detected_at=now,
                )
            )
            continue
        current.score, current.evidence, current.detected_at = candidate.score, candidate.evidence, now
        changed.append(current)
    InferredKey.objects.bulk_create(new, ignore_conflicts=True, batch_size=2000)
    InferredKey.objects.bulk_update(changed, ["score", "evidence", "detected_at"], batch_size=2000)
    present = set(columns.values())
    gone = [
        key.pk
        for pair, key in existing.items()
        if key.column_id not in present
        or key.target_id not in present
        or key.column_id in declared
        or (pair not in seen and key.state == InferredKeyState.DETECTED)
    ]
    InferredKey.objects.filter(pk__in=gone).delete()
    return {"added": len(new), "updated": len(changed), "removed": len(gone)}


@transaction.atomic
def inferred_key_review(*, key: InferredKey, state: str, user: User) -> InferredKey:
    """A person confirms or rejects an inferred key (or puts it back to detected); later reads keep
    the decision. A rejected key is never given to a model."""
    if state not in InferredKeyState.values:
        raise ValidationError({"state": f"One of {', '.join(InferredKeyState.values)}."})
    with transaction.atomic():
        previous = key.state
        key.state = state
        reviewed = state != InferredKeyState.DETECTED
        key.reviewed_by = user if reviewed else None
        key.reviewed_at = timezone.now() if reviewed else None
        key.save(update_fields=["state", "reviewed_by", "reviewed_at", "updated_at"])
        # Catalog searches are cached under the catalog version: the model must see the decision at once.
        DataSource.objects.filter(pk=key.datasource_id).update(catalog_version=F("catalog_version") + 1)
        for recorder in _KEY_REVIEW_RECORDERS:
            recorder(key=key, previous=previous, user=user)
    return key
