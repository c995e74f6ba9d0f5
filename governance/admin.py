"""Admin for governance: the policies (with a preview of what a member's query becomes) and the
audit log, read only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from datasources.models import DataSource
from governance import services
from governance.models import (
    ApprovalRule,
    AuditEvent,
    ColumnMaskPolicy,
    ColumnTag,
    RowFilterPolicy,
    TableVisibilityPolicy,
    Tag,
    TagMaskPolicy,
    TagRowFilterPolicy,
)
from workspaces.models import Membership

# --- policies --------------------------------------------------------------------------------


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


# --- classification ----------------------------------------------------------------------------


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "personal", "name_patterns", "updated_at"]
    list_filter = ["workspace", "personal"]
    search_fields = ["name", "description"]

    def save_model(self, request: HttpRequest, obj: Tag, form: Any, change: bool) -> None:
        from governance.classification import tag_create, tag_update

        if change:
            tag_update(tag=obj, description=obj.description, personal=obj.personal, name_patterns=obj.name_patterns,
                       values=obj.values)  # fmt: skip
            return
        created = tag_create(workspace_id=obj.workspace_id, name=obj.name, description=obj.description,
                             personal=obj.personal, name_patterns=obj.name_patterns, values=obj.values)  # fmt: skip
        obj.pk = created.pk
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: Tag) -> None:
        from governance.classification import tag_delete

        tag_delete(tag=obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["workspace", "name"] if obj is not None else []


class ColumnTagForm(forms.ModelForm):
    class Meta:
        model = ColumnTag
        fields = ["column", "tag", "state"]

    def clean(self) -> dict[str, Any]:
        from governance.classification import known_tag

        cleaned = super().clean() or {}
        column, tag = cleaned.get("column"), (cleaned.get("tag") or "").strip().lower()
        if column is not None and tag:
            if not known_tag(workspace_id=column.table.datasource.workspace_id, name=tag):
                raise forms.ValidationError({"tag": f"There is no tag {tag!r} in this workspace."})
            cleaned["tag"] = tag
        return cleaned


@admin.register(ColumnTag)
class ColumnTagAdmin(admin.ModelAdmin):
    """Tags on columns: review them here (or on the data sources page, or through the API)."""

    form = ColumnTagForm
    list_display = ["tag", "column_name", "datasource", "state", "source", "confidence", "reviewed_by", "reviewed_at"]
    list_filter = ["state", "source", "tag", "workspace", "datasource"]
    search_fields = ["tag", "column__name", "column__table__name"]
    list_select_related = ["column__table", "datasource", "reviewed_by"]
    readonly_fields = ["source", "confidence", "evidence", "reviewed_by", "reviewed_at", "detected_at"]
    raw_id_fields = ["column"]
    actions = ["confirm", "reject"]

    @admin.display(description="column", ordering="column__name")
    def column_name(self, obj: ColumnTag) -> str:
        table = obj.column.table
        return (
            f"{table.schema_name}.{table.name}.{obj.column.name}"
            if table.schema_name
            else f"{table.name}.{obj.column.name}"
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(self.readonly_fields)
        return [*fields, "column", "tag"] if obj is not None else fields

    def save_model(self, request: HttpRequest, obj: ColumnTag, form: Any, change: bool) -> None:
        from governance.classification import column_tag_add, column_tag_review

        user: Any = request.user
        if change:
            column_tag_review(column_tag=obj, state=obj.state, user=user)
            return
        saved = column_tag_add(column=obj.column, tag=obj.tag, user=user)
        if obj.state != saved.state:
            saved = column_tag_review(column_tag=saved, state=obj.state, user=user)
        obj.pk = saved.pk
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: ColumnTag) -> None:
        from governance.classification import column_tag_remove

        column_tag_remove(column_tag=obj, user=request.user)  # type: ignore[arg-type]

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    def _review(self, request: HttpRequest, queryset: Any, state: str) -> None:
        from governance.classification import column_tag_review

        for obj in queryset:
            column_tag_review(column_tag=obj, state=state, user=request.user)  # type: ignore[arg-type]
        self.message_user(request, f"{queryset.count()} tag(s) {state}.")

    @admin.action(description="Confirm the selected tags")
    def confirm(self, request: HttpRequest, queryset: Any) -> None:
        self._review(request, queryset, "confirmed")

    @admin.action(description="Reject the selected tags")
    def reject(self, request: HttpRequest, queryset: Any) -> None:
        self._review(request, queryset, "rejected")


class _TagPolicyForm(forms.ModelForm):
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        workspace = cleaned.get("workspace")
        if workspace is not None and cleaned.get("tag"):
            try:
                cleaned.update(
                    services.tag_policy_fields(
                        workspace=workspace, tag=cleaned["tag"], table_tags=cleaned.get("table_tags") or [],
                        roles=cleaned.get("roles") or [], exempt_roles=cleaned.get("exempt_roles") or [],
                    )
                )  # fmt: skip
            except ValidationError as exc:
                raise forms.ValidationError(exc.message_dict) from exc
        return cleaned


class TagMaskPolicyForm(_TagPolicyForm):
    class Meta:
        model = TagMaskPolicy
        fields = ["workspace", "name", "tag", "strategy", "table_tags", "roles", "exempt_roles", "enabled"]


class TagRowFilterPolicyForm(_TagPolicyForm):
    class Meta:
        model = TagRowFilterPolicy
        fields = ["workspace", "name", "tag", "predicate", "table_tags", "roles", "exempt_roles", "enabled"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("predicate"):
            try:
                cleaned["predicate"] = services.tag_predicate_validate(cleaned["predicate"])
            except ValidationError as exc:
                raise forms.ValidationError(exc.message_dict) from exc
        return cleaned


class TagPolicyAdmin(PolicyAdmin):
    """With the same "Preview as a member" page as table policies."""

    list_filter = ["enabled", "workspace", "tag"]
    search_fields = ["name", "tag"]


@admin.register(TagMaskPolicy)
class TagMaskPolicyAdmin(TagPolicyAdmin):
    form = TagMaskPolicyForm
    list_display = ["name", "workspace", "tag", "strategy", "table_tags", "roles", "exempt_roles", "enabled"]


@admin.register(TagRowFilterPolicy)
class TagRowFilterPolicyAdmin(TagPolicyAdmin):
    form = TagRowFilterPolicyForm
    list_display = ["name", "workspace", "tag", "predicate", "table_tags", "roles", "exempt_roles", "enabled"]
