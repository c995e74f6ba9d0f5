"""The model layer through its one entry point, ``complete()``, with the real ``openai`` client talking
to the scripted OpenAI-compatible server.

Alice's workspace (Acme) has its own key for gpt-4o; Bob's (Globex) should never be billed to it.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client

from agent import llm
from agent.models import ModelConfig
from agent.openai_backend import cost_usd, retry_after
from agent.prompting import build_messages
from agent.selectors import models_for_workspace
from agent.tools.base import Tool, openai_schema
from agent.types import ModelError, ToolCall, ToolResult
from tests.factories import make_user
from tests.fakes.openai_server import ScriptedModelServer, delay, error, reply, tool_call

pytestmark = pytest.mark.django_db

ACME_KEY = "sk-acme-0123456789-secret"


def _noop(context: Any, arguments: dict[str, Any], decision: Any) -> ToolResult:
    return ToolResult(observation={})


SEARCH = openai_schema(
    Tool(
        name="search_catalog",
        description="Search the catalog.",
        parameters={"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
        run=_noop,
    )
)


def conversation(prompt: str) -> list[dict[str, Any]]:
    return build_messages(context={"tables": []}, prompt_text=prompt, turns=[])


@pytest.fixture
def model(scripted_model: ScriptedModelServer, settings: Any) -> ScriptedModelServer:
    """The scripted server as the deployment's model endpoint, with known routing and no budget."""
    scripted_model.reset()
    settings.OPENAI_API_KEY = "test-key"
    settings.OPENAI_BASE_URL = scripted_model.url
    settings.MODEL_CLASSIFICATION = "gpt-4o-mini"
    settings.MODEL_PLANNING = "gpt-4o"
    settings.MODEL_GENERATION = "gpt-4.1"
    settings.MODEL_PER_TURN = True
    settings.MODEL_FALLBACKS = []
    settings.MODEL_TIMEOUT_SECONDS = 10.0
    settings.MODEL_TOKEN_BUDGET = 0
    return scripted_model


def ask(prompt: str, workspace: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("category", "planning")
    kwargs.setdefault("tools", [SEARCH])
    return llm.complete(messages=conversation(prompt), workspace_id=workspace.pk, **kwargs)


def acme_config(**kwargs: Any) -> ModelConfig:
    from workspaces.models import Workspace

    fields: dict[str, Any] = {"name": "gpt-4o (Acme key)", "model": "gpt-4o", "api_key": ACME_KEY}
    fields.update(kwargs)
    fields.setdefault("workspace", Workspace.objects.get(name="Analytics", organization__slug="acme-test"))
    return ModelConfig.objects.create(**fields)


# --- replies -----------------------------------------------------------------------------------


def test_a_reply_with_tool_calls_is_parsed_with_its_tokens_cost_and_latency(model, tenancy):
    model.script(
        "which customers",
        [
            reply(
                "Let me look.",
                tool_calls=[
                    tool_call("search_catalog", {"query": "customers"}, id="call_given"),
                    tool_call("search_catalog", {"query": "orders"}),
                ],
                usage=(1200, 300),
            )
        ],
    )

    answer = ask("which customers buy most?", tenancy.acme, temperature=0.2)

    assert answer.content == "Let me look."
    assert answer.tool_calls[0] == ToolCall("call_given", "search_catalog", {"query": "customers"})
    assert answer.tool_calls[1].name == "search_catalog"
    assert answer.tool_calls[1].arguments == {"query": "orders"}
    assert answer.tool_calls[1].id.startswith("call_")
    assert (answer.model, answer.provider) == ("gpt-4o", "openai")
    assert (answer.prompt_tokens, answer.completion_tokens) == (1200, 300)
    assert answer.cost_usd == pytest.approx((1200 * 2.50 + 300 * 10.00) / 1_000_000)
    assert answer.latency_ms > 0
    assert answer.fallback_from == ()
    [sent] = model.requests("which customers")
    assert sent["model"] == "gpt-4o"
    assert sent["messages"] == conversation("which customers buy most?")
    assert sent["tools"] == [SEARCH]
    assert sent["temperature"] == 0.2
    assert model.authorizations("which customers") == ["test-key"]


def test_no_tools_and_no_temperature_are_left_out_of_the_request(model, tenancy):
    model.script("say hello", [reply("Hello.")])

    answer = ask("say hello", tenancy.acme, tools=[])

    assert answer.content == "Hello."
    assert answer.tool_calls == ()
    [sent] = model.requests("say hello")
    assert "tools" not in sent
    assert "temperature" not in sent


# --- routing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "explicit", "per_turn", "expected"),
    [
        ("classification", "", True, "gpt-4o-mini"),
        ("planning", "", True, "gpt-4o"),
        ("generation", "", True, "gpt-4.1"),
        ("classification", "", False, "gpt-4o"),
        ("generation", "", False, "gpt-4o"),
        ("classification", "o3-mini", True, "o3-mini"),
        ("generation", "o3-mini", False, "o3-mini"),
    ],
)
def test_the_model_is_routed_by_category_unless_one_is_asked_for(
    model, tenancy, settings, category, explicit, per_turn, expected
):
    settings.MODEL_PER_TURN = per_turn
    model.script("route me", [reply("ok")])

    answer = ask("route me please", tenancy.acme, category=category, model=explicit)

    assert answer.model == expected
    assert [sent["model"] for sent in model.requests("route me")] == [expected]


def test_an_unknown_category_is_a_programming_error(model, tenancy):
    with pytest.raises(ValueError, match="Unknown model category"):
        ask("anything", tenancy.acme, category="chitchat")


# --- errors and fallbacks ----------------------------------------------------------------------


def test_a_rate_limit_is_transient_with_the_servers_retry_after(model, tenancy):
    model.script("busy hour", [error(429, "Rate limit reached", retry_after=7)])

    with pytest.raises(ModelError) as caught:
        ask("busy hour report", tenancy.acme)

    assert caught.value.code == "model_rate_limited"
    assert caught.value.transient is True
    assert caught.value.retry_after == 7.0


def test_a_server_error_falls_back_to_the_next_model_of_the_chain(model, tenancy, settings):
    settings.MODEL_FALLBACKS = ["gpt-4o-mini", "offline"]
    model.script("fallback please", [error(500, "upstream exploded"), reply("from the fallback")])

    answer = ask("fallback please", tenancy.acme)

    assert answer.content == "from the fallback"
    assert answer.model == "gpt-4o-mini"
    assert answer.fallback_from == ("gpt-4o",)
    assert [sent["model"] for sent in model.requests("fallback please")] == ["gpt-4o", "gpt-4o-mini"]


def test_a_missing_model_falls_back_too(model, tenancy, settings):
    settings.MODEL_FALLBACKS = ["gpt-4o-mini"]
    model.script("no such model", [error(404, "The model does not exist"), reply("ok")])

    answer = ask("no such model here", tenancy.acme, model="gpt-9")

    assert answer.fallback_from == ("gpt-9",)
    assert answer.model == "gpt-4o-mini"


def test_when_every_model_fails_the_last_error_is_raised_still_transient(model, tenancy, settings):
    settings.MODEL_FALLBACKS = ["gpt-4o-mini"]
    model.script("all down", [error(502), error(503, "overloaded")])

    with pytest.raises(ModelError) as caught:
        ask("all down today", tenancy.acme)

    assert caught.value.code == "model_unavailable"
    assert caught.value.transient is True
    assert "overloaded" in caught.value.message
    assert len(model.requests("all down")) == 2


def test_a_script_out_of_steps_says_so(model, tenancy):
    with pytest.raises(ModelError) as caught:
        ask("nothing scripted for this", tenancy.acme)

    assert caught.value.code == "model_unavailable"
    assert "no steps left" in caught.value.message


def test_a_refused_key_is_permanent_and_not_retried_on_another_model(model, tenancy, settings):
    settings.MODEL_FALLBACKS = ["gpt-4o-mini"]
    model.script("bad key", [error(401, "Incorrect API key provided: test-***"), reply("never sent")])

    with pytest.raises(ModelError) as caught:
        ask("bad key again", tenancy.acme)

    assert caught.value.code == "model_auth_failed"
    assert caught.value.transient is False
    assert "test-" not in caught.value.message  # the provider's text can quote the key
    assert len(model.requests("bad key")) == 1


def test_a_bad_request_is_permanent(model, tenancy):
    model.script("too long", [error(400, "maximum context length exceeded")])

    with pytest.raises(ModelError) as caught:
        ask("too long a prompt", tenancy.acme)

    assert (caught.value.code, caught.value.transient) == ("model_bad_request", False)
    assert "maximum context length" in caught.value.message


def test_a_slow_model_times_out_as_a_transient_error(model, tenancy, settings):
    settings.MODEL_TIMEOUT_SECONDS = 0.3
    model.script("slow one", [delay(30, reply("too late"))])

    with pytest.raises(ModelError) as caught:
        ask("a slow one", tenancy.acme)

    assert (caught.value.code, caught.value.transient) == ("model_timeout", True)
    model.reset()  # ends the server's wait at once


@pytest.mark.parametrize("arguments", ['{"query": "custo', "[1, 2]"])
def test_tool_call_arguments_that_are_not_a_json_object_are_a_bad_response(model, tenancy, arguments):
    model.script("broken json", [reply(tool_calls=[tool_call("search_catalog", arguments)])])

    with pytest.raises(ModelError) as caught:
        ask("broken json please", tenancy.acme)

    assert (caught.value.code, caught.value.transient) == ("model_bad_response", False)


# --- the token budget --------------------------------------------------------------------------


def test_a_workspace_over_its_monthly_budget_is_refused_before_the_call(model, tenancy, settings):
    settings.MODEL_TOKEN_BUDGET = 1000
    model.script("budget", [reply("first", usage=(700, 400)), reply("never sent")])

    ask("budget one", tenancy.acme)
    assert llm.tokens_used(workspace_id=tenancy.acme.pk) == 1100

    with pytest.raises(ModelError) as caught:
        ask("budget two", tenancy.acme)

    assert (caught.value.code, caught.value.transient) == ("model_budget_exceeded", False)
    assert len(model.requests("budget")) == 1
    # Bob's workspace has its own count.
    assert llm.tokens_used(workspace_id=tenancy.globex.pk) == 0
    model.script("globex budget", [reply("fine", usage=(10, 5))])
    assert ask("globex budget", tenancy.globex).content == "fine"


def test_a_model_configuration_can_raise_the_workspace_budget(model, tenancy, settings):
    settings.MODEL_TOKEN_BUDGET = 1000
    acme_config(monthly_token_budget=5000)
    model.script("raised", [reply("one", usage=(700, 400)), reply("two", usage=(700, 400))])

    ask("raised budget", tenancy.acme)
    assert ask("raised budget", tenancy.acme).content == "two"

    assert llm.tokens_used(workspace_id=tenancy.acme.pk) == 2200


# --- model configurations ----------------------------------------------------------------------


def test_a_configuration_key_is_encrypted_at_rest(tenancy):
    config = acme_config()

    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM agent_modelconfig WHERE id = %s", [config.pk])
        [raw] = cursor.fetchone()

    assert raw
    assert ACME_KEY not in raw
    assert ModelConfig.objects.get(pk=config.pk).api_key_text == ACME_KEY


def test_a_workspace_key_is_used_for_its_workspace_only(model, tenancy):
    acme_config()
    model.script("acme question", [reply("acme")])
    model.script("globex question", [reply("globex")])
    model.script("globex by name", [error(404)])

    # Both route "planning" to gpt-4o; Acme has its own configuration for it.
    ask("acme question", tenancy.acme)
    ask("globex question", tenancy.globex)
    with pytest.raises(ModelError):  # Bob cannot name Acme's configuration to use its key either
        ask("globex by name", tenancy.globex, model="gpt-4o (Acme key)")

    assert model.authorizations("acme question") == [ACME_KEY]
    assert model.authorizations("globex question") == ["test-key"]
    assert model.authorizations("globex by name") == ["test-key"]


def test_a_configuration_is_picked_by_name_and_sends_its_provider_model(model, tenancy):
    acme_config(name="Acme's fast model", model="gpt-4o-mini")
    model.script("by name", [reply("ok", usage=(1000, 0))])

    answer = ask("by name", tenancy.acme, model="Acme's fast model")

    assert answer.model == "gpt-4o-mini"
    assert answer.cost_usd == pytest.approx(1000 * 0.15 / 1_000_000)
    assert model.requests("by name")[0]["model"] == "gpt-4o-mini"
    assert model.authorizations("by name") == [ACME_KEY]


def test_a_configuration_with_its_own_endpoint_never_gets_the_deployment_key(model, tenancy, settings):
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"  # nothing listens there
    acme_config(name="Local llama", model="llama3", api_key=None, base_url=model.url)
    model.script("local", [reply("from llama")])

    answer = ask("local model please", tenancy.acme, model="Local llama")

    assert answer.content == "from llama"
    assert model.authorizations("local") == ["no-key"]


def test_without_a_deployment_key_a_keyed_configuration_is_used(model, tenancy, settings):
    settings.OPENAI_API_KEY = ""
    acme_config(name="Acme classifier", model="gpt-4o-mini", categories=["classification"])
    model.script("classify", [reply("DATA_QUERY")])

    answer = ask("classify this", tenancy.acme, category="classification")

    assert (answer.provider, answer.model) == ("openai", "gpt-4o-mini")
    assert model.authorizations("classify") == [ACME_KEY]


def test_a_default_configuration_wins_over_the_settings_for_its_categories(model, tenancy):
    acme_config(name="Acme writer", model="gpt-4.1-mini", is_default=True, categories=["generation"])
    model.script("write", [reply("a"), reply("b")])

    assert ask("write it", tenancy.acme, category="generation").model == "gpt-4.1-mini"
    assert ask("write it", tenancy.acme, category="planning").model == "gpt-4o"


def test_the_model_picker_lists_usable_models_and_offline(model, tenancy):
    acme_config()
    ModelConfig.objects.create(name="Shared mini", model="gpt-4o-mini", api_key="sk-shared")
    ModelConfig.objects.create(workspace=tenancy.acme, name="Disabled", model="gpt-4o", api_key="k", enabled=False)

    acme = dict(models_for_workspace(tenancy.acme.pk))
    globex = dict(models_for_workspace(tenancy.globex.pk))

    assert acme["gpt-4o (Acme key)"] == "gpt-4o (Acme key) (gpt-4o)"
    assert "Shared mini" in acme and "Shared mini" in globex
    assert "gpt-4o (Acme key)" not in globex
    assert "Disabled" not in acme
    assert {"gpt-4o-mini", "gpt-4o", "gpt-4.1", "offline"} <= set(acme)


def test_the_admin_never_shows_the_key(model, tenancy):
    config = acme_config()
    client = Client()
    client.force_login(make_user("root-admin", staff=True))

    listing = client.get("/admin/agent/modelconfig/")
    page = client.get(f"/admin/agent/modelconfig/{config.pk}/change/")

    assert listing.status_code == page.status_code == 200
    assert ACME_KEY not in listing.content.decode() and ACME_KEY not in page.content.decode()
    assert "set" in page.content.decode()

    response = client.post(
        f"/admin/agent/modelconfig/{config.pk}/change/",
        {"workspace": str(tenancy.acme.pk), "name": config.name, "model": "gpt-4o", "base_url": "",
         "enabled": "on", "monthly_token_budget": "", "new_api_key": "", "categories": ["planning"]},
    )  # fmt: skip
    assert response.status_code == 302, response.content[:2000]
    config.refresh_from_db()
    assert config.api_key_text == ACME_KEY  # a blank key field keeps the stored key
    assert config.categories == ["planning"]

    client.post(
        f"/admin/agent/modelconfig/{config.pk}/change/",
        {"workspace": str(tenancy.acme.pk), "name": config.name, "model": "gpt-4o", "base_url": "",
         "enabled": "on", "monthly_token_budget": "", "new_api_key": "sk-new"},
    )  # fmt: skip
    config.refresh_from_db()
    assert config.api_key_text == "sk-new"


# --- the offline model -------------------------------------------------------------------------


def test_with_no_key_configured_everything_goes_to_the_offline_model(model, tenancy, settings):
    pytest.importorskip("agent.offline")
    settings.OPENAI_API_KEY = ""

    answer = ask("how many customers are there", tenancy.acme, category="classification", tools=[])

    assert answer.provider == "offline"
    assert model.requests() == []


def test_offline_by_name_ignores_the_key_and_the_budget(model, tenancy, settings):
    pytest.importorskip("agent.offline")
    settings.MODEL_TOKEN_BUDGET = 1
    model.script("spend", [reply("spent", usage=(5, 5))])
    ask("spend it", tenancy.acme)

    answer = ask("how many customers are there", tenancy.acme, model="offline", tools=[])

    assert answer.provider == "offline"
    assert answer.cost_usd == 0


# --- helpers -----------------------------------------------------------------------------------


def test_dated_model_names_are_priced_by_their_family(settings):
    assert cost_usd("gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(0.15)
    assert cost_usd("gpt-4o-2024-08-06", 0, 1_000_000) == pytest.approx(10.0)
    assert cost_usd("my-local-model", 1_000_000, 1_000_000) == 0.0


def test_retry_after_reads_seconds_milliseconds_and_dates():
    assert retry_after({"retry-after": "3"}) == 3.0
    assert retry_after({"retry-after-ms": "1500", "retry-after": "3"}) == 1.5
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert retry_after({}) is None


# --- routing strategies ------------------------------------------------------------------------


@pytest.fixture
def no_latencies() -> Any:
    from django.core.cache import cache

    names = ("gpt-4o-mini", "gpt-4o", "gpt-4.1")
    cache.delete_many([f"llm:latency:{name}" for name in names])
    yield names
    cache.delete_many([f"llm:latency:{name}" for name in names])


@pytest.mark.parametrize(
    ("strategy", "category", "expected"),
    [
        ("balanced", "classification", "gpt-4o-mini"),
        ("balanced", "generation", "gpt-4.1"),
        ("quality", "classification", "gpt-4o"),  # planning's model costs more: quality takes it
        ("quality", "generation", "gpt-4o"),  # gpt-4.1 is cheaper than planning's gpt-4o
        ("quality", "planning", "gpt-4o"),
        ("cost", "generation", "gpt-4o-mini"),
        ("cost", "planning", "gpt-4o-mini"),
    ],
)
def test_the_routing_strategy_picks_among_the_category_models(model, tenancy, settings, strategy, category, expected):
    settings.ROUTING_STRATEGY = strategy
    model.script("strategy", [reply("ok")])

    assert ask("strategy please", tenancy.acme, category=category).model == expected
    assert [sent["model"] for sent in model.requests("strategy")] == [expected]


def test_the_latency_strategy_measures_each_model_then_takes_the_fastest(model, tenancy, settings, no_latencies):
    from django.core.cache import cache

    settings.ROUTING_STRATEGY = "latency"
    model.script("fast", [reply("ok")] * 4)
    # Nothing measured yet: the category's own model first, then each unmeasured one in turn.
    assert ask("fast one", tenancy.acme, category="generation").model == "gpt-4.1"
    assert llm.latency_ms("gpt-4.1") is not None
    assert ask("fast two", tenancy.acme, category="generation").model == "gpt-4o-mini"
    assert ask("fast three", tenancy.acme, category="generation").model == "gpt-4o"
    # All measured: the lowest average wins, whatever the category.
    cache.set_many({"llm:latency:gpt-4o-mini": 40.0, "llm:latency:gpt-4o": 5.0, "llm:latency:gpt-4.1": 20.0})
    assert ask("fast four", tenancy.acme, category="generation").model == "gpt-4o"


def test_an_explicit_model_or_a_default_configuration_beats_the_strategy(model, tenancy, settings):
    settings.ROUTING_STRATEGY = "cost"
    model.script("explicit", [reply("ok"), reply("ok")])
    assert ask("explicit one", tenancy.acme, category="planning", model="gpt-4.1").model == "gpt-4.1"
    acme_config(name="house", model="o3-mini", is_default=True, categories=["planning"])
    assert ask("explicit two", tenancy.acme, category="planning").model == "o3-mini"
