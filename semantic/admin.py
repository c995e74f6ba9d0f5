"""Admin for verified queries and glossary terms: saved through the services, so the admin checks
the SQL (sqlglot and the firewall, as the admin user) and who may verify exactly as the API does."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest

from semantic import services
from semantic.models import GlossaryTerm, VerifiedQuery, VerifiedQueryOrigin


class _ServiceForm(forms.ModelForm):
    """A form whose ``clean`` saves through a service as the admin user (set by the ModelAdmin)."""

    user: User

    def _save(self, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(user=self.user, **kwargs)
        except services.SemanticError as exc:
            raise ValidationError({exc.field: exc.message} if exc.field in self.fields else exc.message) from exc
        except Http404 as exc:  # the admin user is no member of the workspace: no actor to check the SQL as
            raise ValidationError("You must be a member of this workspace to check its SQL.") from exc


class VerifiedQueryForm(_ServiceForm):
    class Meta:
        model = VerifiedQuery
        fields = ["datasource", "question", "sql", "schema_names"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        if self.instance._state.adding:
            self.instance = self._save(
                services.verified_query_create,
                datasource=cleaned["datasource"],
                question=cleaned["question"],
                sql=cleaned["sql"],
                schema_names=cleaned.get("schema_names") or (),
                origin=VerifiedQueryOrigin.ADMIN,
            )
        else:
            original = VerifiedQuery.objects.select_related("datasource").get(pk=self.instance.pk)
            if cleaned["datasource"].pk != original.datasource_id:
                raise ValidationError({"datasource": "The data source of a verified query does not change."})
            self.instance = self._save(
                services.verified_query_update,
                verified_query=original,
                question=cleaned["question"],
                sql=cleaned["sql"],
                schema_names=cleaned.get("schema_names") or (),
            )
        return cleaned


class GlossaryTermForm(_ServiceForm):
    class Meta:
        model = GlossaryTerm
        fields = ["workspace", "term", "synonyms", "kind", "sql", "datasource", "table_name", "description"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        values = services.GlossaryValues(
            term=cleaned["term"],
            kind=cleaned["kind"],
            sql=cleaned["sql"],
            synonyms=cleaned.get("synonyms") or (),
            datasource=cleaned.get("datasource"),
            table_name=cleaned.get("table_name") or "",
            description=cleaned.get("description") or "",
        )
        if self.instance._state.adding:
            self.instance = self._save(services.glossary_term_create, workspace=cleaned["workspace"], values=values)
        else:
            original = GlossaryTerm.objects.select_related("workspace", "datasource").get(pk=self.instance.pk)
            if cleaned["workspace"].pk != original.workspace_id:
                raise ValidationError({"workspace": "The workspace of a term does not change."})
            self.instance = self._save(services.glossary_term_update, term=original, values=values)
        return cleaned


class _ServiceAdmin(admin.ModelAdmin):
    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        form.user = request.user  # type: ignore[attr-defined]  # a _ServiceForm: who the services act as
        return form

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        pass  # the form's clean saved it through the service


@admin.register(VerifiedQuery)
class VerifiedQueryAdmin(_ServiceAdmin):
    form = VerifiedQueryForm
    list_display = ["question", "datasource", "status", "origin", "created_by", "created_at"]
    list_filter = ["status", "origin", "workspace"]
    search_fields = ["question", "sql"]
    readonly_fields = ["status", "origin", "source_execution_id", "created_by", "verified_by", "created_at",
                       "verified_at"]  # fmt: skip
    actions = ["verify"]

    @admin.action(description="Verify the selected proposed queries")
    def verify(self, request: HttpRequest, queryset: Any) -> None:
        done = 0
        for verified_query in queryset.select_related("datasource"):
            try:
                services.verified_query_verify(user=request.user, verified_query=verified_query)  # type: ignore[arg-type]
                done += 1
            except (services.SemanticError, Http404) as exc:
                self.message_user(request, f"{verified_query}: {getattr(exc, 'message', exc)}", level="warning")
        self.message_user(request, f"Verified {done} quer{'y' if done == 1 else 'ies'}.")


@admin.register(GlossaryTerm)
class GlossaryTermAdmin(_ServiceAdmin):
    form = GlossaryTermForm
    list_display = ["term", "kind", "workspace", "datasource", "table_name"]
    list_filter = ["kind", "workspace"]
    search_fields = ["term", "description"]
