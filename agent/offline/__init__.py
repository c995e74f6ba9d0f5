"""The built-in offline model, used when no model key is configured (see ``agent.llm``).

- ``model``: ``OfflineModel.complete(messages, tools, category=...) -> Reply``: reads the
  conversation, decides the next tool calls by intent.
- ``words``: intent rules, time windows and the shape of a data question.
- ``knowledge``: the catalog as seen so far in the conversation; words to tables and columns; joins.
- ``query``: a data question to one plan: tables, measure, group, filters, period, joins.
- ``sql``: the plan to one statement with sqlglot (identifiers quoted where needed, literals).
- ``answers``: the rows of ``run_query`` to a short answer in words.
- ``writes``: one-row changes and statements written out in SQL.
"""

from __future__ import annotations

from agent.offline.model import OfflineModel, describe_text
from agent.offline.query import plan_query
from agent.offline.words import classify, parse_question

__all__ = ["OfflineModel", "classify", "describe_text", "parse_question", "plan_query"]
