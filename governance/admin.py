"""Admin for governance: the policies (with a preview of what a member's query becomes) and the
audit log, read only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from datasources.models import DataSource
from governance.models import ApprovalRule, AuditEvent, ColumnMaskPolicy, RowFilterPolicy, TableVisibilityPolicy
from workspaces.models import Membership


class RowFilterPolicyForm(forms.ModelForm):
    class Meta:
        model = RowFilterPolicy
        fields = [
            "workspace", "datasource", "name", "schema_name", "table_name", "predicate", "roles", "groups", "users",
            "exempt_roles", "enabled",
        ]  # fmt: skip

    def clean(self) -> dict[str, Any]:
        # Imported here: policies pulls in the SQL firewall, which the admin registry need not load.
        from governance.policies import PolicyError, dialect_of, parse_predicate

        cleaned = super().clean() or {}
        datasource, predicate = cleaned.get("datasource"), cleaned.get("predicate")
        if datasource is not None and predicate:
            try:
                parse_predicate(predicate, dialect_of(datasource))
            except PolicyError as exc:
                raise forms.ValidationError({"predicate": str(exc)}) from exc
        if datasource is not None and cleaned.get("workspace") and datasource.workspace_id != cleaned["workspace"].pk:
            raise forms.ValidationError({"datasource": "The data source belongs to another workspace."})
        return cleaned


class PolicyPreviewForm(forms.Form):
    datasource = forms.ModelChoiceField(queryset=DataSource.objects.select_related("workspace"))
    member = forms.ModelChoiceField(
        queryset=Membership.objects.select_related("user", "workspace"), help_text="Preview as this member."
    )
    sql = forms.CharField(widget=forms.Textarea(attrs={"rows": 5, "cols": 90}), label="SQL")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("datasource") and cleaned.get("member"):
            if cleaned["datasource"].workspace_id != cleaned["member"].workspace_id:
                raise forms.ValidationError("The member must belong to the data source's workspace.")
        return cleaned


class PolicyAdmin(admin.ModelAdmin):
    list_filter = ["enabled", "workspace", "datasource"]
    search_fields = ["name", "table_name"]
    change_list_template = "admin/governance/policy_change_list.html"

    def get_urls(self) -> list[Any]:
        urls = super().get_urls()
        info = self.model._meta.app_label, self.model._meta.model_name
        preview = path("preview/", self.admin_site.admin_view(self.preview_view), name=f"{info[0]}_{info[1]}_preview")
        return [preview, *urls]

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """Shows what a member's query becomes under the policies in force, and its first rows."""
        from datasources.connectors.base import ConnectorError
        from datasources.queries import query_read
        from governance.gateway import Actor, authorize

        form = PolicyPreviewForm(request.POST or None)
        outcome: dict[str, Any] = {}
        if request.method == "POST" and form.is_valid():
            member = form.cleaned_data["member"]
            actor = Actor(user=member.user, workspace=member.workspace, membership=member)
            decision = authorize(
                actor, "run_query", {"datasource_id": str(form.cleaned_data["datasource"].pk),
                                     "sql": form.cleaned_data["sql"]},
            )  # fmt: skip
            outcome["decision"] = decision
            if decision.allowed and decision.sql_after:
                try:
                    result = query_read(datasource=form.cleaned_data["datasource"], sql=decision.sql_after,
                                        preview_rows=20)  # fmt: skip
                    outcome["result"] = result
                except ConnectorError as exc:
                    outcome["error"] = f"{exc.message} ({exc.code})"
        context = {**self.admin_site.each_context(request), "form": form, "title": "Policy preview", **outcome,
                   "opts": self.model._meta}  # fmt: skip
        return TemplateResponse(request, "admin/governance/policy_preview.html", context)


@admin.register(RowFilterPolicy)
class RowFilterPolicyAdmin(PolicyAdmin):
    form = RowFilterPolicyForm
    list_display = ["name", "datasource", "schema_name", "table_name", "predicate", "roles", "enabled"]
    filter_horizontal = ["groups", "users"]


@admin.register(ColumnMaskPolicy)
class ColumnMaskPolicyAdmin(PolicyAdmin):
    list_display = ["name", "datasource", "schema_name", "table_name", "column_name", "strategy", "exempt_roles",
                    "enabled"]  # fmt: skip


@admin.register(TableVisibilityPolicy)
class TableVisibilityPolicyAdmin(PolicyAdmin):
    list_display = ["name", "datasource", "schema_name", "table_name", "hidden_for_roles", "enabled"]


@admin.register(ApprovalRule)
class ApprovalRuleAdmin(admin.ModelAdmin):
    list_display = ["workspace", "action", "approver_roles", "required_approvals", "enabled"]
    list_filter = ["workspace", "action", "enabled"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the log is append-only in the database too."""

    list_display = ["created_at", "actor_username", "workspace", "tool", "decision", "code", "rows_returned"]
    list_filter = ["decision", "tool", "code", "workspace"]
    search_fields = ["actor_username", "reason", "sql_before", "execution_id"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
