"""The built-in offline model: a chat model made of rules, so the product answers without a key.

It reads the conversation the way a remote model would (the context in the system message, the
prompt, earlier tool calls and their observations), keeps no state between calls, and answers with
tool calls from those on offer. Same conversation, same reply.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.utils import timezone

from agent.offline.knowledge import Knowledge, Table, table_from_json
from agent.offline.parser import Choice, Describe, Outcome, Statement, Unanswerable, plan
from agent.offline.parser.check import misfits
from agent.offline.parser.explain import answer, number_text
from agent.offline.parser.link import table_score
from agent.offline.words import Classification, classify, content_words, tokens_of
from agent.prompting import read_context
from agent.types import INTENTS, Reply, ToolCall
from datasources.vocabulary import name_tokens, singular
from semantic.adapt import best_adaptation, glossary_matches

MODEL = PROVIDER = "offline"
MAX_TURNS = 12  # past this, finish with what is known rather than loop
MAX_DESCRIBE_ROUNDS = 2
MAX_QUERIES = 2
# Error codes that mean "not allowed": never worked around, only explained.
_DENIED = re.compile(r"denied|permission|forbidden|policy|not_allowed|unknown_table|unknown_column|safety|approval")


@dataclass(frozen=True)
class Call:
    id: str
    name: str
    arguments: dict[str, Any]
    observation: dict[str, Any] | None
    turn: int


@dataclass(frozen=True)
class Action:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Conversation:
    prompt: str
    context: dict[str, Any]
    calls: tuple[Call, ...]
    turns: int  # assistant messages so far

    @classmethod
    def from_messages(cls, messages: Sequence[dict[str, Any]]) -> Conversation:
        context = read_context(messages) or {}
        prompt = ""
        pending: list[tuple[str, str, dict[str, Any], int]] = []
        observations: dict[str, dict[str, Any]] = {}
        turns = 0
        for message in messages:
            role = message.get("role")
            if role == "user" and not prompt:
                prompt = _text(message.get("content"))
            elif role == "assistant":
                turns += 1
                for call in message.get("tool_calls") or []:
                    function = call.get("function") or {}
                    arguments = _json(function.get("arguments"))
                    pending.append((str(call.get("id")), str(function.get("name")), arguments, turns))
            elif role == "tool":
                observations[str(message.get("tool_call_id"))] = _json(message.get("content"))
        calls = tuple(Call(i, n, a, observations.get(i), t) for i, n, a, t in pending)
        return cls(prompt or str(context.get("prompt") or ""), context, calls, turns)

    def of(self, name: str) -> list[Call]:
        return [call for call in self.calls if call.name == name]

    def last(self, name: str) -> Call | None:
        found = self.of(name)
        return found[-1] if found else None

    @property
    def intent(self) -> str | None:
        classified = self.last("classify_intent")
        if classified is not None and classified.arguments.get("intent") in INTENTS:
            return str(classified.arguments["intent"])
        intent = self.context.get("intent")
        return str(intent) if intent in INTENTS else None

    def knowledge(self) -> Knowledge:
        knowledge = Knowledge(self.context.get("datasources") or [])
        for data in self.context.get("tables") or []:
            table = table_from_json(data) if isinstance(data, dict) else None
            if table is not None:
                knowledge.add(table)
        for call in self.calls:
            observation = call.observation or {}
            if call.name == "search_catalog":
                for data in observation.get("tables") or []:
                    table = table_from_json(data) if isinstance(data, dict) else None
                    if table is not None:
                        knowledge.add(table)
            elif call.name == "describe_table" and "error" not in observation:
                data = observation.get("table") if isinstance(observation.get("table"), dict) else observation
                table = table_from_json(data, described=True) if isinstance(data, dict) else None
                if table is not None:
                    knowledge.add(table)
        return knowledge

    def answers(self) -> list[tuple[tuple[str, ...], str]]:
        """(choices, answer) of each answered ``ask_user``."""
        found = []
        for call in self.of("ask_user"):
            answer = (call.observation or {}).get("answer")
            if isinstance(answer, str):
                found.append((tuple(str(c) for c in call.arguments.get("choices") or ()), answer))
        return found


def _text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value) if isinstance(value, str | bytes) else None
    except ValueError:
        return {"value": value}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def _accepts(schema: dict[str, Any] | None, arguments: dict[str, Any]) -> bool:
    """The tool's JSON schema takes these arguments (required ones present, no unknown ones)."""
    parameters = ((schema or {}).get("function") or {}).get("parameters") or {}
    properties = parameters.get("properties") or {}
    if any(name not in arguments for name in parameters.get("required") or []):
        return False
    return parameters.get("additionalProperties", True) is not False or all(k in properties for k in arguments)


class OfflineModel:
    """``complete(messages, tools, category=...) -> Reply``, like the OpenAI-backed model."""

    name = MODEL

    def __init__(self, *, today: date | None = None) -> None:
        self._today = today

    @property
    def today(self) -> date:
        return self._today or timezone.localdate()

    def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        category: str,
        temperature: float | None = None,
    ) -> Reply:
        started = time.perf_counter()
        offered = {str((t.get("function") or {}).get("name")): t for t in tools if isinstance(t, dict)}
        conversation = Conversation.from_messages(messages)
        content, actions = _Turn(self, conversation, offered).decide()
        actions = [a for a in actions if a.name in offered]
        if not actions and "finish" in offered:
            actions = [Action("finish", {"answer": content or _help(conversation), "confidence": 0.3})]
        digest = hashlib.sha256(json.dumps(messages, sort_keys=True, default=str).encode()).hexdigest()[:8]
        calls = tuple(
            ToolCall(f"offline-{conversation.turns + 1}-{index}-{digest}", action.name, action.arguments)
            for index, action in enumerate(actions)
        )
        completion = json.dumps([c.as_json() for c in calls]) + content
        return Reply(
            content=content,
            tool_calls=calls,
            model=MODEL,
            provider=PROVIDER,
            prompt_tokens=len(json.dumps(messages, default=str)) // 4,
            completion_tokens=len(completion) // 4,
            cost_usd=0.0,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
        )


class _Turn:
    """One decision: what to say and which tools to call, from the conversation so far."""

    def __init__(self, model: OfflineModel, conversation: Conversation, offered: dict[str, dict[str, Any]]) -> None:
        self.model = model
        self.conv = conversation
        self.offered = offered
        self.knowledge = conversation.knowledge()

    def can(self, name: str, arguments: dict[str, Any] | None = None) -> bool:
        return name in self.offered and (arguments is None or _accepts(self.offered[name], arguments))

    def finish(self, answer: str, confidence: float) -> tuple[str, list[Action]]:
        return answer, [Action("finish", {"answer": answer, "confidence": round(confidence, 2)})]

    def decide(self) -> tuple[str, list[Action]]:
        if "classify_intent" in self.offered and (len(self.offered) == 1 or self.conv.last("classify_intent") is None):
            found = self.classification()
            return found.reason, [Action("classify_intent", {"intent": found.intent, "confidence": found.confidence,
                                                              "reason": found.reason})]  # fmt: skip
        if self.conv.turns >= MAX_TURNS:
            return self.finish("I could not finish this within the steps I allow myself. " + _help(self.conv), 0.2)
        intent = self.conv.intent or self.classification().intent
        handler = {
            "DATA_QUERY": self.data_query,
            "SCHEMA_EXPLORATION": self.schema_exploration,
            "COMPLIANCE_SCAN": self.compliance_scan,
            "DATA_WRITE": self.data_write,
            "SCHEMA_CHANGE": self.schema_change,
            "DATA_SOURCE_ADMIN": self.datasource_admin,
            "GOVERNANCE_POLICY": self.governance,
            "ACTION_EXECUTION": self.action_execution,
        }.get(intent, self.general)
        return handler()

    def classification(self) -> Classification:
        known = frozenset(word for table in self.knowledge.tables.values() for word in table.words[-1:])
        return classify(self.conv.prompt, known_words=known)

    # --- data questions -----------------------------------------------------------------------

    def data_query(self) -> tuple[str, list[Action]]:
        verified = self._verified_query()
        if verified is not None:
            return verified
        runs = self.conv.of("run_query")
        failed = [r for r in runs if "error" in (r.observation or {})]
        if runs and runs[-1].observation is not None:
            last = runs[-1]
            observation = last.observation or {}
            if "error" not in observation:
                outcome = self._plan(simplified=bool(failed))
                # What governance says about these rows: masked columns shown, and notices (a filter
                # that needs an attribute the member lacks).
                notices = " ".join([*_masked_text(observation), *(str(n) for n in observation.get("notices") or [])])
                if isinstance(outcome, Statement):
                    said = answer(outcome.query, observation, misfits(outcome.query, observation))
                    return self.finish(f"{said} {notices}".strip(), outcome.confidence)
                return self.finish(f"{_rows_text(observation)} {notices}".strip(), 0.5)
            code, message = _error_of(observation)
            if not _DENIED.search(code) and len(runs) < MAX_QUERIES:
                retry = self._plan(simplified=True)
                if isinstance(retry, Statement) and retry.sql != last.arguments.get("sql"):
                    return "The query failed; trying a simpler one.", [self._run(retry)]
            return self.finish(_refusal(code, message), 0.3)
        outcome = self._plan(simplified=False)
        if isinstance(outcome, Statement):
            if self.can("run_query"):
                return f"Running: {outcome.purpose}.", [self._run(outcome)]
            return self.finish(f"This SQL answers it, but I may not run queries here:\n{outcome.sql}", 0.4)
        if isinstance(outcome, Describe):
            return "Reading the tables' columns and values first.", [self._describe(key) for key in outcome.tables]
        if isinstance(outcome, Choice):
            if self.can("ask_user"):
                arguments = {"question": outcome.question, "choices": list(outcome.choices)}
                return outcome.question, [Action("ask_user", arguments)]
            planned = self._plan(simplified=False, extra_answers=[(outcome.choices, outcome.choices[0])])
            if isinstance(planned, Statement) and self.can("run_query"):
                return f"Running: {planned.purpose}.", [self._run(planned)]
        search = self._search(content_words(tokens_of(self.conv.prompt)))
        if search is not None:
            return "Searching the catalog.", [search]
        reason = outcome.reason if isinstance(outcome, Unanswerable) else "the question is ambiguous"
        return self.finish(
            f"I could not answer this from the data I can see: {reason}. {_available(self.knowledge)}", 0.3
        )

    def _verified_query(self) -> tuple[str, list[Action]] | None:
        """Before planning: a verified query the prompt paraphrases runs with the prompt's values
        (``semantic.adapt``), and its rows answer; if it fails, the model plans its own query."""
        dialects = {str(d.get("id")): str(d.get("dialect")) for d in self.conv.context.get("datasources") or []}
        adapted = best_adaptation(self.conv.prompt, self.conv.context.get("verified_queries") or [],
                                  dialects=dialects, today=self.model.today)  # fmt: skip
        if adapted is None or not self.can("run_query"):
            return None
        ran = [c for c in self.conv.of("run_query") if c.arguments.get("sql") == adapted.sql]
        if not ran:
            arguments = {"datasource_id": str(adapted.verified["datasource_id"]), "sql": adapted.sql,
                         "purpose": f"the verified query {adapted.verified['question']!r}"}  # fmt: skip
            if not _accepts(self.offered.get("run_query"), arguments):
                arguments.pop("purpose")
            return "Running a verified query.", [Action("run_query", arguments)]
        observation = ran[-1].observation or {}
        if "error" in observation:
            return None
        notices = " ".join([*_masked_text(observation), *(str(n) for n in observation.get("notices") or [])])
        answer = f"{_rows_text(observation)} (A verified query: {adapted.verified['question']!r}.) {notices}"
        return self.finish(answer.strip(), 0.9)

    def _plan(self, *, simplified: bool, extra_answers: list[tuple[tuple[str, ...], str]] | None = None) -> Outcome:
        attempted = frozenset((str(c.arguments.get("datasource_id")), str(c.arguments.get("table")))
                              for c in self.conv.of("describe_table"))  # fmt: skip
        rounds = len({c.turn for c in self.conv.of("describe_table")})
        return plan(
            self.conv.prompt,
            self.knowledge,
            self.model.today,
            answers=self.conv.answers() + (extra_answers or []),
            can_describe=self.can("describe_table") and rounds < MAX_DESCRIBE_ROUNDS,
            attempted=attempted,
            metrics=self._glossary_metrics(),
            simplified=simplified,
        )

    def _glossary_metrics(self) -> dict[str, str]:
        """The workspace's glossary metrics the prompt names (term and synonyms -> SQL expression),
        offered to the parser as measures."""
        named = glossary_matches(self.conv.prompt, self.conv.context.get("glossary") or [])
        return {
            str(word): str(term["sql"])
            for term in named
            if term.get("kind") == "metric" and term.get("sql")
            for word in [term.get("term", ""), *(term.get("synonyms") or [])]
            if word
        }

    def _run(self, statement: Statement) -> Action:
        arguments = {"datasource_id": statement.datasource_id, "sql": statement.sql, "purpose": statement.purpose}
        if not _accepts(self.offered.get("run_query"), arguments):
            arguments.pop("purpose")
        return Action("run_query", arguments)

    def _describe(self, key: tuple[str, str]) -> Action:
        return Action("describe_table", {"datasource_id": key[0], "table": key[1]})

    def _search(self, words: Sequence[str]) -> Action | None:
        query = " ".join(words)[:200]
        if not query or self.conv.of("search_catalog") or not self.can("search_catalog"):
            return None
        return Action("search_catalog", {"query": query, "limit": 10})

    # --- schema exploration -------------------------------------------------------------------

    def schema_exploration(self) -> tuple[str, list[Action]]:
        text = self.conv.prompt.lower()
        words = [w for w in content_words(tokens_of(text)) if w not in _META_WORDS]
        describing = re.search(r"\b(describe|structure|columns?|fields?|schema of|tell me about|what is in)\b", text)
        if describing and not re.search(r"\b(tables|views)\b", text):
            return self._describe_table(words)
        return self._list_tables(words)

    def _describe_table(self, words: list[str]) -> tuple[str, list[Action]]:
        tables = list(self.knowledge.tables.values())
        scored = sorted(
            ((sum(table_score(w, t) for w in words), -rank, t) for rank, t in enumerate(tables)),
            key=lambda item: (-item[0], -item[1]),
        )
        if not scored or scored[0][0] <= 0:
            search = self._search(words)
            if search is not None:
                return "Searching the catalog.", [search]
            return self.finish(f"I found no table called {' '.join(words)!r}. {_available(self.knowledge)}", 0.3)
        best = scored[0][2]
        same = [t for s, _, t in scored if s == scored[0][0] and t.datasource_id == best.datasource_id]
        if len(same) > 1 and self.can("ask_user"):
            names = [t.qualified_name for t in same][:6]
            answered = [a for choices, a in self.conv.answers() if set(choices) == set(names)]
            if not answered:
                question = f"Which table should I describe: {', '.join(names)}?"
                return question, [Action("ask_user", {"question": question, "choices": names})]
            best = next((t for t in same if t.qualified_name.lower() in answered[-1].lower()), best)
        attempted = any(c.arguments.get("table") == best.qualified_name for c in self.conv.of("describe_table"))
        if not best.described and self.can("describe_table") and not attempted:
            return f"Describing {best.qualified_name}.", [self._describe(best.key)]
        return self.finish(describe_text(best, self.knowledge), 0.9 if best.described else 0.6)

    def _list_tables(self, words: list[str]) -> tuple[str, list[Action]]:
        wanted = {singular(w) for w in words} | set(words)
        tables = list(self.knowledge.tables.values())
        if wanted:
            tables = [t for t in tables if _lists(t, wanted)]
        if not tables and wanted:
            search = self._search(words)
            if search is not None:
                return "Searching the catalog.", [search]
        if not tables and words:
            return self.finish(f"I found no tables about {' '.join(words)!r}. {_available(self.knowledge)}", 0.4)
        if not tables:
            sources = ", ".join(str(s.get("name")) for s in self.knowledge.datasources.values()) or "none selected"
            return self.finish(
                f"Name a schema or a subject and I will list its tables, e.g. 'list billing tables' or "
                f"'which tables have an email column'. Data sources: {sources}.",
                0.5,
            )
        return self.finish(_table_list(tables, self.knowledge, wanted), 0.9 if wanted else 0.7)

    # --- the other intents --------------------------------------------------------------------

    def compliance_scan(self) -> tuple[str, list[Action]]:
        scans = self.conv.of("scan_sensitive_data")
        if scans:
            return self.finish(_scan_summary(scans, self.knowledge), 0.8)
        sources = self._named_datasources()[:3]
        actions = [Action("scan_sensitive_data", {"datasource_id": ds}) for ds in sources]
        if actions and all(self.can(a.name, a.arguments) for a in actions):
            return "Scanning for personal data.", actions
        return self.finish(_personal_columns(self.knowledge), 0.5)

    def data_write(self) -> tuple[str, list[Action]]:
        writes = self.conv.of("execute_write")
        if writes and writes[-1].observation is not None:
            return self.finish(_write_summary(writes[-1]), 0.8)
        from agent.offline.writes import plan_write

        attempted = {str(c.arguments.get("table")) for c in self.conv.of("describe_table")}
        outcome = plan_write(self.conv.prompt, self.knowledge, attempted=attempted)
        if isinstance(outcome, tuple):
            return f"Describing {outcome[1]}.", [self._describe(outcome)] if self.can("describe_table") else []
        if isinstance(outcome, str):
            return self.finish(outcome, 0.4)
        datasource_id, sql = outcome.datasource_id, outcome.sql
        arguments = {"datasource_id": datasource_id, "sql": sql}
        if self.can("execute_write", arguments):
            return f"Changing rows: {sql}", [Action("execute_write", arguments)]
        return self.finish(f"This statement would do it, but I may not change data here:\n{sql}", 0.4)

    def schema_change(self) -> tuple[str, list[Action]]:
        changes = self.conv.of("apply_schema_change")
        if changes and changes[-1].observation is not None:
            return self.finish(_write_summary(changes[-1]), 0.7)
        from agent.offline.writes import explicit_statement

        sources = self._named_datasources()
        if sources:
            sql = explicit_statement(self.conv.prompt, self.knowledge.dialect(sources[0]), ddl=True)
            arguments = {"datasource_id": sources[0], "sql": sql or ""}
            if sql and self.can("apply_schema_change", arguments):
                return f"Applying: {sql}", [Action("apply_schema_change", arguments)]
        return self.finish(
            "Without a language model I only apply schema changes written as SQL, for example "
            "'ALTER TABLE billing.customers ADD COLUMN notes text'; every change needs an approval.",
            0.4,
        )

    def datasource_admin(self) -> tuple[str, list[Action]]:
        refreshes = self.conv.of("refresh_datasource")
        if refreshes and refreshes[-1].observation is not None:
            observation = refreshes[-1].observation or {}
            if "error" in observation:
                return self.finish(_refusal(*_error_of(observation)), 0.4)
            status = observation.get("status", "started")
            return self.finish(f"The catalog refresh is {status}; new tables will show up when it is done.", 0.8)
        if re.search(r"\b(refresh|re-?introspect|resync|sync|reload|update)\b", self.conv.prompt.lower()):
            sources = self._named_datasources()
            arguments = {"datasource_id": sources[0]} if sources else {}
            if sources and self.can("refresh_datasource", arguments):
                name = self.knowledge.datasource_name(sources[0])
                return f"Refreshing {name}.", [Action("refresh_datasource", arguments)]
        return self.finish(
            "To add a data source, open Data sources and give its connection settings (PostgreSQL, MySQL, "
            "SQLite or a folder of Parquet/CSV files); I can refresh the catalog of a connected one. "
            + _available(self.knowledge),
            0.5,
        )

    def governance(self) -> tuple[str, list[Action]]:
        policies = [str(p) for p in self.conv.context.get("policies") or []]
        masked = [
            f"{t.qualified_name}.{c.name} ({c.masked})"
            for t in self.knowledge.tables.values()
            for c in t.columns
            if c.masked
        ]
        parts = ["Without a language model I do not write policies; an administrator can add masks, row "
                 "filters and hidden tables on the Governance page, and every change is audited."]  # fmt: skip
        if policies:
            parts.append("Policies in force for you: " + "; ".join(policies) + ".")
        if masked:
            parts.append("Masked columns you can see: " + ", ".join(masked) + ".")
        return self.finish(" ".join(parts), 0.6)

    def action_execution(self) -> tuple[str, list[Action]]:
        steps = [s.strip() for s in re.split(r"\b(?:and then|then|after that|afterwards)\b|[;,]", self.conv.prompt)]
        steps = [s for s in steps if s]
        listed = "".join(f"\n{i}. {s}" for i, s in enumerate(steps, start=1))
        return self.finish(
            "Without a language model I do one thing per request. Send these steps one at a time:" + listed, 0.4
        )

    def general(self) -> tuple[str, list[Action]]:
        return self.finish(_help(self.conv), 0.6)

    def _named_datasources(self) -> list[str]:
        """Data sources the prompt names (by a word of their name), else all of the context's."""
        words = {singular(w) for w in tokens_of(self.conv.prompt)} - {"acme", "data", "source", "the"}
        named = [
            ds for ds, source in self.knowledge.datasources.items()
            if words & {singular(w) for w in tokens_of(str(source.get("name") or ""))}
        ]  # fmt: skip
        return named or list(self.knowledge.datasources)


_META_WORDS = frozenset(
    "describe table tables column columns field fields structure schema schemas about view views dataset datasets "
    "available exist exists database".split()
)


def _lists(table: Table, wanted: set[str]) -> bool:
    """A table belongs to "list billing tables": its schema, a word of its name or a column is named."""
    if table.schema.lower() in wanted or wanted.intersection(table.words):
        return True
    return any(wanted.intersection(c.words) for c in table.columns)


def _table_list(tables: list[Table], knowledge: Knowledge, wanted: set[str]) -> str:
    lines: list[str] = []
    by_source: dict[str, list[Table]] = {}
    for table in tables:
        by_source.setdefault(table.datasource_id, []).append(table)
    for datasource_id, found in by_source.items():
        names = {t.qualified_name for t in found}
        # Tables the found ones point at, in the same schema ("billing.products" from invoice_lines).
        referenced = sorted(
            {c.target[0] for t in found for c in t.columns if c.target and c.target[0] not in names
             and (not wanted or c.target[0].split(".")[0] in wanted
                  or wanted.intersection(singular(w) for w in name_tokens(c.target[0])))}
        )  # fmt: skip
        about = f" matching {', '.join(sorted(wanted))}" if wanted else ""
        lines.append(f"Tables in {knowledge.datasource_name(datasource_id)}{about}:")
        for table in sorted(found, key=lambda t: t.qualified_name):
            rows = f" (about {number_text(table.row_estimate)} rows)" if table.row_estimate else ""
            comment = f": {table.comment}" if table.comment else ""
            lines.append(f"- {table.qualified_name}{comment}{rows}")
        lines.extend(f"- {name}" for name in referenced)
    return "\n".join(lines)


def describe_text(table: Table, knowledge: Knowledge) -> str:
    """A readable description: columns with types and keys, masked columns marked, sample values."""
    head = f"{table.qualified_name} in {knowledge.datasource_name(table.datasource_id)}"
    lines = [head + (f": {table.comment}" if table.comment else "")]
    if table.row_estimate:
        lines.append(f"About {number_text(table.row_estimate)} rows.")
    lines.append("Columns:" if table.described else "Columns (the ones I know of):")
    for column in table.columns:
        details = [column.type or "untyped"]
        if column.pk:
            details.append("primary key")
        if column.references:
            details.append(f"references {column.references}")
        if column.masked:
            details.append(f"masked ({column.masked})")
        comment = f": {column.comment}" if column.comment else ""
        lines.append(f"- {column.name} ({', '.join(details)}){comment}")
    samples = [f"{c.name}: {', '.join(str(v) for v in c.samples)}" for c in table.columns if c.samples]
    if samples:
        lines.append("Values: " + "; ".join(samples) + ".")
    return "\n".join(lines)


def _available(knowledge: Knowledge) -> str:
    """What the sources hold, in words: their largest tables first."""
    tables = sorted(knowledge.tables.values(), key=lambda t: -(t.row_estimate or 0))[:8]
    sources = [str(s.get("name")) for s in knowledge.datasources.values()]
    if tables:
        held = ", ".join(f"{' '.join(name_tokens(t.name))} ({t.qualified_name})" for t in tables)
        return f"The tables I can see hold {held}."
    if sources:
        return f"Data sources: {', '.join(sources)}. Try naming a table, e.g. 'list billing tables'."
    return "No data source is selected."


def _help(conversation: Conversation) -> str:
    examples = ["How many customers do we have?", "Top 10 customers by revenue", "Revenue by region last quarter",
                "List billing tables", "Describe the invoices table"]  # fmt: skip
    tables = [t for t in (conversation.context.get("tables") or []) if isinstance(t, dict)]
    if tables:
        noun = name_tokens(str(tables[0].get("name") or ""))[-1:] or ["rows"]
        examples.insert(0, f"How many {noun[0]} are there?")
    return (
        "I am the built-in offline assistant (no language model is configured), so I answer common "
        "questions about your data by rules. Try: " + "; ".join(dict.fromkeys(examples)) + "."
    )


def _error_of(observation: dict[str, Any]) -> tuple[str, str]:
    """(code, message) of an error observation, whatever its shape."""
    error = observation.get("error")
    if isinstance(error, dict):
        return str(error.get("code") or "error"), str(error.get("message") or "")
    return "error", str(error or "")


def _refusal(code: str, message: str) -> str:
    if _DENIED.search(code):
        return f"I could not run the query: it is not allowed ({code}). {message}".strip()
    return f"The query failed ({code}). {message}".strip()


def _rows_text(observation: dict[str, Any]) -> str:
    rows = observation.get("rows") or []
    columns = observation.get("columns") or []
    if len(rows) == 1 and len(rows[0]) == 1:
        return f"The answer is {number_text(rows[0][0])}."
    shown = "; ".join(", ".join(f"{c}: {v}" for c, v in zip(columns, row, strict=False)) for row in rows[:5])
    return f"{number_text(observation.get('row_count', len(rows)))} rows: {shown}."


def _write_summary(call: Call) -> str:
    observation = call.observation or {}
    if "error" in observation:
        return _refusal(*_error_of(observation))
    count = next((observation[k] for k in ("rows_affected", "row_count", "affected") if k in observation), None)
    done = f"{number_text(count)} rows changed" if count is not None else "Done"
    return f"{done}: {call.arguments.get('sql', '')}"


def _scan_summary(scans: list[Call], knowledge: Knowledge) -> str:
    parts = []
    for scan in scans:
        observation = scan.observation or {}
        source = knowledge.datasource_name(str(scan.arguments.get("datasource_id")))
        if "error" in observation:
            code, message = _error_of(observation)
            parts.append(f"{source}: the scan failed ({code}). {message}")
            continue
        findings = next((v for k, v in observation.items() if isinstance(v, list) and k != "columns"), [])
        items = [f for f in findings if isinstance(f, dict)]
        if not items:
            parts.append(f"{source}: no personal or sensitive data found.")
            continue
        described = [
            f"{'.'.join(str(f[k]) for k in ('schema', 'table', 'column') if f.get(k))} ({f.get('kind', 'sensitive')})"
            for f in items[:20]
        ]
        more = f" and {len(items) - 20} more" if len(items) > 20 else ""
        parts.append(f"{source}: {len(items)} columns look personal or sensitive: {', '.join(described)}{more}.")
    return " ".join(parts) + " Masks can be proposed for them on the Governance page."


def _masked_text(observation: dict[str, Any]) -> list[str]:
    """One sentence on the shown columns that governance masked, with the policy of each."""
    shown = set(observation.get("columns") or [])
    masked = [m for m in observation.get("masked") or [] if isinstance(m, dict) and m.get("column") in shown]
    if not masked:
        return []
    said = "; ".join(f"{m['column']} ({m.get('policy') or 'a mask policy'})" for m in masked)
    return [f"Masked for you: {said}."]


def _personal_columns(knowledge: Knowledge) -> str:
    from governance.compliance import name_kind

    found = [
        f"{t.qualified_name}.{c.name} ({kind})"
        for t in knowledge.tables.values()
        for c in t.columns
        if (kind := name_kind(c.name, c.type or "text", t.name)) is not None
    ]
    if not found:
        return "I cannot scan the data here, and no column of the catalog I see is named like personal data."
    return "I cannot scan the values here; by their names these columns hold personal data: " + ", ".join(found) + "."
