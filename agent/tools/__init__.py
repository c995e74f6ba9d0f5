"""The agent's tools. Each is registered with its JSON schema and called only through
``agent.dispatch.call_tool``, which passes it through the governance gateway first.

Importing this package registers every tool: each module below registers its tools when imported.
Add a new tool module to the import list.
"""

from __future__ import annotations

from agent.tools import (  # noqa: F401  (imported for registration)
    admin,
    catalog,
    interaction,
    query,
    write,
)
from agent.tools.base import INVENTORY, TOOLS, Tool, inventory, openai_schema, register

__all__ = ["INVENTORY", "TOOLS", "Tool", "inventory", "openai_schema", "register"]
