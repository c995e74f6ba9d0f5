"""How a tool says it could not do something: a stable code and plain words the model can act on."""

from __future__ import annotations

from typing import Any

from agent.types import ToolResult


def error_observation(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_result(code: str, message: str, *, status: str = "error", **extra: Any) -> ToolResult:
    """``status`` is "error" (the call went wrong) or "denied" (the gateway said no)."""
    return ToolResult(observation=error_observation(code, message), status=status, error_code=code, **extra)
