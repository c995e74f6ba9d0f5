"""Credentials a model puts in tool arguments are encrypted at rest and never shown."""

from __future__ import annotations

import pytest
from django.db import connection

from executions.models import Interaction, PromptExecution, Turn
from executions.redaction import REDACTED, redacted

pytestmark = pytest.mark.django_db


def test_secret_looking_keys_are_redacted_at_any_depth() -> None:
    value = {"name": "wh", "settings": {"host": "db"}, "secrets": {"password": "hunter2"},
             "nested": [{"api_key": "sk-1"}, {"Token": ""}]}  # fmt: skip
    assert redacted(value) == {"name": "wh", "settings": {"host": "db"}, "secrets": REDACTED,
                               "nested": [{"api_key": REDACTED}, {"Token": ""}]}  # fmt: skip


def test_tool_arguments_are_stored_encrypted(tenancy) -> None:
    execution = PromptExecution.objects.create(workspace=tenancy.acme, user=tenancy.alice, prompt_text="x")
    call = {"id": "c1", "name": "create_datasource", "arguments": {"secrets": {"password": "hunter2"}}}
    turn = Turn.objects.create(execution=execution, index=1, reply={"content": "", "tool_calls": [call]})
    Interaction.objects.create(execution=execution, turn=turn, tool_call_id="c1", tool="create_datasource",
                               arguments=call["arguments"], kind="approval", question="?")  # fmt: skip

    with connection.cursor() as cursor:
        cursor.execute("SELECT reply FROM executions_turn WHERE id = %s", [turn.pk])
        raw_reply = cursor.fetchone()[0]
        cursor.execute("SELECT arguments FROM executions_interaction WHERE turn_id = %s", [turn.pk])
        raw_arguments = cursor.fetchone()[0]
    assert "hunter2" not in raw_reply and "hunter2" not in raw_arguments
    turn.refresh_from_db()
    assert turn.reply is not None and turn.reply["tool_calls"][0]["arguments"]["secrets"]["password"] == "hunter2"


def test_an_unknown_model_is_refused_before_anything_is_written(tenancy) -> None:
    from django.core.exceptions import ValidationError

    from executions import services

    with pytest.raises(ValidationError) as refused:
        services.execution_create(user=tenancy.ana, request=services.ExecuteRequest(
            prompt_text="hi", workspace_id=tenancy.acme.pk, ai_model="gpt-9-imaginary"))  # fmt: skip
    assert refused.value.error_dict["ai_model"][0].code == "unknown_model"
    assert not PromptExecution.objects.exists()
