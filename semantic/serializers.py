"""Output shapes of the semantic API, shared by its views and the thumbs-up of executions."""

from __future__ import annotations

from rest_framework import serializers

from semantic.models import GlossaryKind, VerifiedQueryOrigin, VerifiedQueryStatus


class VerifiedQueryOutput(serializers.Serializer):
    id = serializers.UUIDField()
    workspace_id = serializers.UUIDField()
    datasource_id = serializers.UUIDField()
    question = serializers.CharField()
    sql = serializers.CharField(
        help_text="As written (checked by the firewall on save); runs rewritten for each person."
    )
    schema_names = serializers.ListField(child=serializers.CharField())
    status = serializers.ChoiceField(
        choices=VerifiedQueryStatus.choices,
        help_text="proposed: waits for an owner or admin; only verified ones reach a model.",
    )
    origin = serializers.ChoiceField(choices=VerifiedQueryOrigin.choices)
    source_execution_id = serializers.UUIDField(allow_null=True, help_text="The execution a thumbs-up came from.")
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    verified_by = serializers.CharField(source="verified_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    verified_at = serializers.DateTimeField(allow_null=True)


class GlossaryTermOutput(serializers.Serializer):
    id = serializers.IntegerField()
    workspace_id = serializers.UUIDField()
    term = serializers.CharField()
    synonyms = serializers.ListField(child=serializers.CharField())
    kind = serializers.ChoiceField(choices=GlossaryKind.choices)
    sql = serializers.CharField(help_text="An SQL expression (a condition for a filter) in the source's dialect.")
    datasource_id = serializers.UUIDField(allow_null=True)
    table_name = serializers.CharField(help_text="schema.table the expression is over; empty when none.")
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CurationOutput(serializers.Serializer):
    datasource_id = serializers.UUIDField()
    table_id = serializers.IntegerField()
    table = serializers.CharField(help_text="schema.table")
    column = serializers.CharField(allow_null=True, help_text="The column, or null for the table itself.")
    comment = serializers.CharField(help_text="The source's own comment (read-only: it comes from introspection).")
    description = serializers.CharField(help_text="Curated here; kept across catalog refreshes.")
    synonyms = serializers.ListField(child=serializers.CharField())
