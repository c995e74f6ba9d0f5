"""Saved prompts (the seed's ``prompts`` table, with UUID ids, workspace, tags and soft delete)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models


class Prompt(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"  # written for one execution, not kept in the library
        SAVED = "saved"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("workspaces.Organization", on_delete=models.CASCADE, related_name="+")
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="prompts")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    title = models.CharField(max_length=200, blank=True)
    prompt_text = models.TextField()
    ai_model_used = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    selected_data_source_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    selected_schema_names = ArrayField(models.CharField(max_length=255), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)  # soft delete

    class Meta:
        db_table = "prompts"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "status", "-created_at"], name="prompt_workspace_recent")]

    def __str__(self) -> str:
        return self.title or self.prompt_text[:60]
