"""The SQL firewall: one statement in, a decision and the SQL that may run out.

Pure (no ORM, no database): the gateway hands it the SQL an agent wrote and the catalog as the actor
sees it (``FirewallPolicy``), and gets back a ``FirewallDecision``. An allowed statement comes back
rewritten, in the same dialect, so that row filters and column masks hold whatever the SQL does:

- every reference to a catalog table becomes ``(SELECT <visible columns, masked ones replaced by
  their mask> FROM <the table> WHERE <row filter>) AS <the same name>``, so ``SELECT *``, joins,
  ``WHERE``/``HAVING``, window functions and whole-row functions only ever see filtered, masked rows;
- the SQL that runs is generated from the checked syntax tree, never the text that came in, so
  comments, odd whitespace or quoting the engine would read differently cannot smuggle anything past;
- names are matched the way the engine matches them, and a CTE only hides a table inside its own
  ``WITH``; when in doubt a name is taken for the real table, which is always the safe reading
  (the table is then filtered and masked, or refused).

Column checks (``sql_unknown_column``) are for clear messages: a hidden column does not exist in the
rewritten subquery, so the engine could not read it even if a check missed it.

Decisions worth knowing:

- Cost: the protected SELECT of a table is generated once and then reused, by content (engine,
  columns, masks, row filter as SQL, salt), by every check that would build the same one; the
  statement is never copied (columns are checked on it after the SQL to run has been generated);
  sqlglot's qualify (the costliest step) only runs when some column does not plainly name a visible
  column of its one source, a CTE's output or an output alias.

- Functions: an allow-list. sqlglot models most standard functions as classes; those that only
  compute (aggregates, windows, math, text, dates, casts, conditionals, JSON/array accessors) are
  allowed by class whatever the dialect calls them. Names sqlglot does not model are allowed only
  from a per-dialect list. Schema-qualified and quoted function names are refused (a same-named
  function in another schema could do anything). Table functions: generate_series/range/unnest only.
  ``current_setting`` is refused: server settings are not data and can hold paths or secrets.
- A filtered subquery carries a fence (OFFSET 0, LIMIT -1, LIMIT 2^64-1) so that the planner cannot
  evaluate a user predicate on rows the filter removes: PostgreSQL otherwise lets a division by zero
  (or a failing cast, whose message quotes the value) reveal a hidden row.
- HASH is md5 of the text (salted when ``hash_salt`` is set); SQLite has no hash function, so there
  it redacts. PARTIAL keeps an e-mail's first character and domain, else the last 4 characters of
  values of 8 characters or more.
- In PostgreSQL, strings with a backslash are written as E'...' strings, which mean the same whether
  standard_conforming_strings is on or off. MySQL strings are written with doubled quotes, which
  NO_BACKSLASH_ESCAPES cannot turn into a closing quote.
- Writes (when allowed): UPDATE and DELETE get the row filter AND-ed to their WHERE, which itself
  becomes ``CASE WHEN <filter> THEN <where> ELSE FALSE END`` so that it never runs (and never
  fails, telling a hidden row's existence or, in MySQL's messages, its value) on a row the filter
  removes; they may only read and write visible, unmasked columns of their target
  (``sql_masked_column`` otherwise); an INSERT must name its columns and is refused on a
  row-filtered table; ON CONFLICT, RETURNING *, multi-table writes and MERGE are refused. DDL:
  tables, views and indexes only; what it drops, alters, truncates or replaces must be seen in full.
"""

from __future__ import annotations

from governance.firewall.check import MAX_SQL_CHARS, check_sql, clear_cache
from governance.firewall.policy import (
    CODES,
    STATEMENT_KINDS,
    FirewallDecision,
    FirewallPolicy,
    MaskStrategy,
    VisibleTable,
)

__all__ = [
    "CODES",
    "MAX_SQL_CHARS",
    "STATEMENT_KINDS",
    "FirewallDecision",
    "FirewallPolicy",
    "MaskStrategy",
    "VisibleTable",
    "check_sql",
    "clear_cache",
]
