"""config.api.represent: an output serializer's fields built once per thread, the same answer."""

from __future__ import annotations

import threading

import pytest

from config.api import _output_serializers, represent
from executions.apis import ExecutionDetailOutput
from tests.executions.test_feed import make_execution

pytestmark = pytest.mark.django_db


def test_represent_answers_what_the_serializer_answers_and_keeps_one_instance_per_thread(tenancy):
    first, second = make_execution(tenancy), make_execution(tenancy)
    assert represent(ExecutionDetailOutput, first) == dict(ExecutionDetailOutput(first).data)
    assert represent(ExecutionDetailOutput, second) == dict(ExecutionDetailOutput(second).data)
    mine = _output_serializers.by_class[ExecutionDetailOutput]

    theirs: list[object] = []

    def other_thread() -> None:
        represent(ExecutionDetailOutput, first)
        theirs.append(_output_serializers.by_class[ExecutionDetailOutput])

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert theirs and theirs[0] is not mine
    assert _output_serializers.by_class[ExecutionDetailOutput] is mine
