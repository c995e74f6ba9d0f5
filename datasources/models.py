"""Data sources of a workspace and the catalog learnt from them."""

from __future__ import annotations

import uuid

from django.conf import settings as django_settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models

from config.crypto import EncryptedJSONField


class DataSourceKind(models.TextChoices):
    POSTGRESQL = "postgresql", "PostgreSQL"
    MYSQL = "mysql", "MySQL / MariaDB"
    SQLITE = "sqlite", "SQLite file"
    FILES = "files", "Files (CSV, Parquet, JSON)"


class DataSourceStatus(models.TextChoices):
    NEW = "new", "New"
    INTROSPECTING = "introspecting", "Reading the schema"
    READY = "ready", "Ready"
    EMPTY = "empty", "Nothing to read"  # read, but no table: error_code and status_message say why
    ERROR = "error", "Error"


class DataSource(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="datasources")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=DataSourceKind.choices)
    # Shown to users: host, port, database, user, path, urls, schemas... Never a password.
    settings = models.JSONField(default=dict, blank=True)
    # Passwords and tokens: encrypted at rest, never returned by the API or shown in the admin.
    secrets = EncryptedJSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=DataSourceStatus.choices, default=DataSourceStatus.NEW)
    error_code = models.CharField(max_length=64, blank=True)
    status_message = models.TextField(blank=True)
    server_version = models.CharField(max_length=200, blank=True)
    introspection_progress = models.PositiveSmallIntegerField(default=0)
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_introspected_at = models.DateTimeField(null=True, blank=True)
    # Bumped by every refresh and every review of an inferred key: part of every catalog cache key, so
    # either invalidates them all.
    catalog_version = models.PositiveIntegerField(default=0)
    catalog_table_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["workspace", "name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="datasource_name_unique")]
        permissions = [
            ("query_datasource", "Can run read queries on the data source"),
            ("write_datasource", "Can run writes on the data source (by policy with approval)"),
            ("administer_datasource", "Can change, refresh and delete the data source"),
        ]

    def __str__(self) -> str:
        return self.name


class CatalogTable(models.Model):
    datasource = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="catalog_tables")
    schema_name = models.CharField(max_length=255, blank=True)
    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=8, default="table")  # table | view
    row_estimate = models.BigIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True)
    # Curated by the workspace's owners (never by introspection, so a refresh keeps them); searched
    # and given to the model next to the source's own comment.
    description = models.TextField(blank=True)
    synonyms = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    # Words of the name ("cust_accounts" -> "cust accounts"), for trigram similarity.
    name_words = models.TextField(blank=True)
    # Lower-case tokens of the name and their singulars.
    tokens = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    # A table that disappeared on refresh is kept (ids stay stable if it comes back) but not searched.
    is_present = models.BooleanField(default=True)
    introspected_at = models.DateTimeField()

    class Meta:
        ordering = ["datasource", "schema_name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["datasource", "schema_name", "name"], name="catalog_table_unique")
        ]
        indexes = [GinIndex(OpClass("name_words", name="gin_trgm_ops"), name="catalog_table_trgm")]

    def __str__(self) -> str:
        return f"{self.schema_name}.{self.name}" if self.schema_name else self.name


def fk_reference(schema: str, table: str, column: str) -> str:
    """A foreign key's target as ``schema.table.column`` (empty when the column references nothing)."""
    return ".".join(part for part in (schema, table, column) if part) if table else ""


class CatalogColumn(models.Model):
    table = models.ForeignKey(CatalogTable, on_delete=models.CASCADE, related_name="columns")
    name = models.CharField(max_length=255)
    ordinal = models.PositiveIntegerField()
    data_type = models.CharField(max_length=255)
    nullable = models.BooleanField(default=True)
    is_primary_key = models.BooleanField(default=False)
    comment = models.TextField(blank=True)
    # Curated, like the table's: kept across refreshes, searched, given to the model.
    description = models.TextField(blank=True)
    synonyms = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    fk_schema = models.CharField(max_length=255, blank=True)
    fk_table_name = models.CharField(max_length=255, blank=True)
    fk_column = models.CharField(max_length=255, blank=True)
    # The referenced table in this catalog, resolved after each refresh.
    fk_table = models.ForeignKey(
        CatalogTable, null=True, blank=True, on_delete=models.SET_NULL, related_name="referencing_columns"
    )
    name_words = models.TextField(blank=True)
    tokens = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    is_present = models.BooleanField(default=True)
    # Not stored: the mask strategy in force for the member a page or response is for.
    masked: str = ""

    class Meta:
        ordering = ["table", "ordinal"]
        constraints = [models.UniqueConstraint(fields=["table", "name"], name="catalog_column_unique")]

    def __str__(self) -> str:
        return f"{self.table}.{self.name}"

    @property
    def references(self) -> str:
        return fk_reference(self.fk_schema, self.fk_table_name, self.fk_column)


class InferredKeyState(models.TextChoices):
    DETECTED = "detected", "Detected, not reviewed"
    CONFIRMED = "confirmed", "Confirmed"
    REJECTED = "rejected", "Rejected"


class InferredKey(models.Model):
    """A join key the source does not declare, inferred from names and types at a catalog read:
    ``column`` holds values of ``target`` (``orders.customer_id`` -> ``customers.id``).

    A read adds and refreshes detections and drops those it no longer makes; it never changes a
    person's decision (confirmed, rejected). A key whose columns left the schema, or whose column got
    a declared foreign key, is removed whatever its state: a declared key always wins.
    """

    datasource = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="inferred_keys")
    column = models.ForeignKey(CatalogColumn, on_delete=models.CASCADE, related_name="inferred_keys")
    target = models.ForeignKey(CatalogColumn, on_delete=models.CASCADE, related_name="inferred_referrers")
    score = models.FloatField(help_text="How confident the last detection was, 0..1.")
    evidence = models.TextField(help_text="What matched, in plain words.")
    state = models.CharField(max_length=9, choices=InferredKeyState.choices, default=InferredKeyState.DETECTED)
    reviewed_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    detected_at = models.DateTimeField(help_text="The last catalog read that detected it.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["datasource", "column"]
        constraints = [models.UniqueConstraint(fields=["column", "target"], name="inferred_key_unique")]
        indexes = [models.Index(fields=["datasource", "state"], name="inferred_key_by_state")]

    def __str__(self) -> str:
        return f"{self.column_id} -> {self.target_id} ({self.state})"


class CatalogTerm(models.Model):
    """The catalog's inverted index: one row per (term, field, table), rebuilt by each refresh.

    ``field`` says where the term was found: ``name`` and ``column`` hold our own tokens of table
    and column names (``cust_accounts`` -> cust, accounts, account) and the words of their curated
    synonyms; ``text`` and ``column_text`` hold PostgreSQL full-text lexemes (english stemming) of
    table and column comments, curated descriptions and synonyms. Search
    reads it through a covering index, so its cost follows the matching postings, not the size
    of the catalog.
    """

    datasource = models.ForeignKey(DataSource, on_delete=models.CASCADE, db_index=False, related_name="+")
    table = models.ForeignKey(CatalogTable, on_delete=models.CASCADE, db_index=False, related_name="+")
    schema_name = models.CharField(max_length=255, blank=True)
    field = models.CharField(max_length=12)
    term = models.CharField(max_length=64)

    class Meta:
        indexes = [
            models.Index(
                fields=["term", "datasource"], include=["field", "table", "schema_name"], name="catalog_term_lookup"
            ),
            models.Index(fields=["datasource"], name="catalog_term_datasource"),
            # Re-scoring candidates reads their postings by table.
            models.Index(fields=["table", "term"], include=["field"], name="catalog_term_by_table"),
        ]

    def __str__(self) -> str:
        return f"{self.field}:{self.term}"


class CatalogTermStat(models.Model):
    """In how many tables of a data source a term occurs, per field: the "document frequency"
    behind the IDF weights of catalog search. Rebuilt with the postings."""

    datasource = models.ForeignKey(DataSource, on_delete=models.CASCADE, db_index=False, related_name="+")
    field = models.CharField(max_length=12)
    term = models.CharField(max_length=64)
    tables = models.PositiveIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["term", "datasource"], include=["field", "tables"], name="catalog_term_stat_lookup"),
            models.Index(fields=["datasource"], name="catalog_term_stat_datasource"),
        ]

    def __str__(self) -> str:
        return f"{self.field}:{self.term} in {self.tables} table(s)"


class QueryExport(models.Model):
    """A full query result exported to the result store, downloadable by who may see it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    datasource = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="exports")
    created_by = models.ForeignKey(django_settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    format = models.CharField(max_length=8)  # csv | parquet
    # Relative to RESULT_STORE_DIR; the name is generated, never taken from a user.
    file_name = models.CharField(max_length=255)
    sql_text = models.TextField()
    rows = models.BigIntegerField()
    bytes = models.BigIntegerField()
    duration_ms = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.format} export of {self.datasource} ({self.rows} rows)"
