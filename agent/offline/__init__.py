"""The built-in offline model, used when no model key is configured (see ``agent.llm``).

- ``model``: ``OfflineModel.complete(messages, tools, category=...) -> Reply``: reads the
  conversation, decides the next tool calls by intent.
- ``words``: intent rules.
- ``knowledge``: the catalog as seen so far in the conversation: tables, columns, joins.
- ``parser``: the semantic parser: a data question to a typed query, checked, compiled to SQL with
  sqlglot and explained in words (one module per stage).
- ``sql``: building blocks of statements (identifiers quoted where needed, literals, joins).
- ``writes``: one-row changes and statements written out in SQL.
"""

from __future__ import annotations

from agent.offline.model import OfflineModel, describe_text
from agent.offline.parser import plan
from agent.offline.words import classify

__all__ = ["OfflineModel", "classify", "describe_text", "plan"]
