"""What a workspace has checked and defined, given to every model as examples and definitions:
verified queries (a question with the SQL that answers it) and glossary terms."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models


class VerifiedQueryOrigin(models.TextChoices):
    THUMBS_UP = "thumbs_up", "Thumbs-up on an execution"
    ADMIN = "admin", "Django admin"
    API = "api", "API"


class VerifiedQueryStatus(models.TextChoices):
    # Proposed by someone who may query the source; only verified ones reach a model.
    PROPOSED = "proposed", "Proposed"
    VERIFIED = "verified", "Verified"


class VerifiedQuery(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    datasource = models.ForeignKey("datasources.DataSource", on_delete=models.CASCADE, related_name="+")
    question = models.TextField()
    sql = models.TextField()
    schema_names = ArrayField(models.CharField(max_length=255), default=list, blank=True)
    status = models.CharField(max_length=10, choices=VerifiedQueryStatus.choices, default=VerifiedQueryStatus.VERIFIED)
    origin = models.CharField(max_length=10, choices=VerifiedQueryOrigin.choices)
    # The execution a thumbs-up came from (an id, not a key: executions depend on this app, not the reverse).
    source_execution_id = models.UUIDField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")  # fmt: skip
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    # The day its relative periods ("last quarter") were meant from: set when it is verified.
    verified_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["workspace", "-created_at"]
        verbose_name_plural = "verified queries"
        indexes = [models.Index(fields=["workspace", "status"], name="verified_query_by_status")]

    def __str__(self) -> str:
        return self.question[:80]


class GlossaryKind(models.TextChoices):
    METRIC = "metric", "Metric (an aggregate: SUM(total))"
    FILTER = "filter", "Filter (a condition: status = 'paid')"
    EXPRESSION = "expression", "Expression (a value per row)"
    DIMENSION = "dimension", "Dimension (something to group by)"


class GlossaryTerm(models.Model):
    """A word of the business ("revenue") with what it means in SQL ("SUM(invoices.total)" over paid
    invoices), optionally tied to one data source and table."""

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    term = models.CharField(max_length=120)
    synonyms = ArrayField(models.CharField(max_length=120), default=list, blank=True)
    kind = models.CharField(max_length=10, choices=GlossaryKind.choices)
    sql = models.TextField(help_text="An SQL expression (for a filter: a condition), in the data source's dialect.")
    datasource = models.ForeignKey("datasources.DataSource", null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="+")  # fmt: skip
    table_name = models.CharField(max_length=511, blank=True, help_text="schema.table the expression is over.")
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["workspace", "term"]
        constraints = [models.UniqueConstraint(fields=["workspace", "term"], name="glossary_term_unique")]

    def __str__(self) -> str:
        return self.term
