"""Admin for data sources (credentials are write-only) and a read-only view of the catalog."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from guardian.admin import GuardedModelAdmin

from datasources import services
from datasources.connectors.base import ConnectorError
from datasources.models import CatalogColumn, CatalogTable, DataSource


class DataSourceForm(forms.ModelForm):
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only. Leave blank to keep the stored password.",
    )
    clear_password = forms.BooleanField(required=False, help_text="Remove the stored password.")

    class Meta:
        model = DataSource
        fields = ["workspace", "name", "description", "kind", "settings"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        secrets: dict[str, Any] | None = None
        if cleaned.get("clear_password"):
            secrets = {"password": ""}
        elif cleaned.get("password"):
            secrets = {"password": cleaned["password"]}
        try:
            if self.instance.pk is None:
                self.instance = services.datasource_create(
                    workspace=cleaned["workspace"],
                    name=cleaned["name"],
                    kind=cleaned["kind"],
                    settings=cleaned.get("settings") or {},
                    secrets={k: v for k, v in (secrets or {}).items() if v},
                    description=cleaned.get("description", ""),
                )
            else:
                original = DataSource.objects.get(pk=self.instance.pk)
                self.instance = services.datasource_update(
                    datasource=original,
                    name=cleaned["name"],
                    description=cleaned.get("description", ""),
                    settings=cleaned.get("settings") or {},
                    secrets=secrets,
                )
        except ConnectorError as exc:
            raise ValidationError(f"{exc.message} ({exc.code})") from exc
        return cleaned


@admin.register(DataSource)
class DataSourceAdmin(GuardedModelAdmin):
    form = DataSourceForm
    list_display = ["name", "workspace", "kind", "status", "last_introspected_at", "server_version"]
    list_filter = ["kind", "status", "workspace"]
    search_fields = ["name", "workspace__name"]
    readonly_fields = [
        "status", "error_code", "status_message", "server_version", "introspection_progress",
        "last_tested_at", "last_introspected_at", "catalog_version", "created_by", "created_at",
    ]  # fmt: skip
    actions = ["refresh_catalog"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The kind of an existing source cannot change: its settings would not fit.
        return [*self.readonly_fields, "kind"] if obj is not None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: DataSource, form: Any, change: bool) -> None:
        # DataSourceForm.clean already saved through the services (validation, role grants).
        if not change and obj.created_by_id is None:
            DataSource.objects.filter(pk=obj.pk).update(created_by=request.user)

    @admin.action(description="Refresh the catalog of the selected data sources")
    def refresh_catalog(self, request: HttpRequest, queryset: QuerySet[DataSource]) -> None:
        started = 0
        for datasource in queryset:
            try:
                services.datasource_refresh_start(datasource=datasource)
                started += 1
            except services.RefreshInProgress:
                self.message_user(request, f"{datasource}: a refresh is already running.", messages.WARNING)
        self.message_user(request, f"Refresh started for {started} data source(s).")


COLUMN_FIELDS = ("ordinal", "name", "data_type", "nullable", "is_primary_key", "fk_table", "comment", "is_present")


class CatalogColumnInline(admin.TabularInline):
    model = CatalogColumn
    fk_name = "table"
    extra = 0
    can_delete = False
    fields = COLUMN_FIELDS
    readonly_fields = COLUMN_FIELDS

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CatalogTable)
class CatalogTableAdmin(admin.ModelAdmin):
    list_display = ["__str__", "datasource", "kind", "row_estimate", "is_present", "introspected_at"]
    list_filter = ["datasource", "kind", "is_present"]
    search_fields = ["name", "schema_name", "comment"]
    inlines = [CatalogColumnInline]
    readonly_fields = [
        "datasource", "schema_name", "name", "kind", "row_estimate", "comment", "is_present", "introspected_at",
    ]  # fmt: skip
    exclude = ["search_vector", "tokens", "name_words"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
