"""Admin for model configurations: the API key is write-only (shown as "set" / "not set")."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from agent.models import ModelConfig
from agent.types import CATEGORIES


class ModelConfigForm(forms.ModelForm):
    new_api_key = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only. Leave blank to keep the stored key.",
    )
    clear_api_key = forms.BooleanField(required=False, help_text="Remove the stored key.")
    categories = forms.MultipleChoiceField(
        choices=[(c, c) for c in CATEGORIES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Turn categories it serves; none ticked: all.",
    )

    class Meta:
        model = ModelConfig
        # api_key itself is never a form field, so its value never reaches a page.
        fields = [
            "workspace", "name", "model", "base_url", "categories", "enabled", "is_default", "monthly_token_budget",
        ]  # fmt: skip

    def save(self, commit: bool = True) -> Any:
        if self.cleaned_data.get("clear_api_key"):
            self.instance.api_key = None
        elif self.cleaned_data.get("new_api_key"):
            self.instance.api_key = self.cleaned_data["new_api_key"]
        return super().save(commit=commit)


@admin.register(ModelConfig)
class ModelConfigAdmin(admin.ModelAdmin):
    form = ModelConfigForm
    list_display = ["name", "model", "workspace", "base_url", "key_status", "enabled", "is_default"]
    list_filter = ["enabled", "is_default", "workspace"]
    search_fields = ["name", "model", "workspace__name"]
    readonly_fields = ["key_status", "created_at", "updated_at"]
    fields = [
        "workspace", "name", "model", "base_url", "key_status", "new_api_key", "clear_api_key", "categories",
        "enabled", "is_default", "monthly_token_budget", "created_at", "updated_at",
    ]  # fmt: skip

    @admin.display(description="API key")
    def key_status(self, obj: ModelConfig) -> str:
        return "set" if obj.api_key_text else "not set"
