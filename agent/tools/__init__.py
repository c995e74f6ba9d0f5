"""The agent's tools. Each is registered with its JSON schema and called only through
``agent.dispatch.call_tool``, which passes it through the governance gateway first."""

from __future__ import annotations

from agent.tools.base import INVENTORY, TOOLS, Tool, inventory, openai_schema, register

__all__ = ["INVENTORY", "TOOLS", "Tool", "inventory", "openai_schema", "register"]
