"""Rate limits on real Redis: counted atomically, refused with 429 rate_limited and Retry-After.

Ana is an analyst and Vic a viewer of Acme's workspace; Bob owns Globex's and should not be able to
spend Acme's budget.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from executions import ratelimits
from executions.ratelimits import Limit, RateLimited, rate_limit_check

pytestmark = pytest.mark.django_db


def _subject() -> str:
    return uuid.uuid4().hex  # a counter no other test touches


def _execute(api, workspace, prompt="How many customers?"):
    return api.post(
        "/api/v1/prompts/execute", {"prompt_text": prompt, "workspace_id": str(workspace.pk)}, format="json"
    )


def test_a_limit_admits_exactly_its_count_under_concurrency(settings) -> None:
    settings.RATE_LIMIT_WINDOW_SECONDS = 60
    limit = Limit("execute:user", _subject(), 10)

    def attempt(_: int) -> bool:
        try:
            rate_limit_check([limit])
        except RateLimited:
            return False
        return True

    with ThreadPoolExecutor(max_workers=16) as pool:
        admitted = sum(pool.map(attempt, range(40)))

    assert admitted == 10
    client = ratelimits._client()
    assert int(client.get(limit.key) or 0) == 10  # refused requests were not counted
    assert 0 < client.ttl(limit.key) <= 60


def test_a_refused_request_spends_no_other_counter(settings) -> None:
    user, workspace = Limit("execute:user", _subject(), 1), Limit("execute:workspace", _subject(), 5)
    rate_limit_check([user, workspace])
    with pytest.raises(RateLimited) as refused:
        rate_limit_check([user, workspace])

    assert refused.value.status_code == 429 and refused.value.wait >= 1
    assert refused.value.get_codes() == "rate_limited"
    client = ratelimits._client()
    assert int(client.get(workspace.key) or 0) == 1


def test_a_limit_of_zero_is_no_limit() -> None:
    for _ in range(5):
        rate_limit_check([Limit("api:user", _subject(), 0)])


def test_execute_over_the_per_user_limit_is_429_with_retry_after(tenancy, client_for, settings) -> None:
    settings.RATE_LIMIT_EXECUTE_PER_USER = 2
    api = client_for(tenancy.ana)
    assert [_execute(api, tenancy.acme).status_code for _ in range(2)] == [202, 202]

    response = _execute(api, tenancy.acme)

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert "executions started by you" in response.json()["error"]["message"]
    assert 1 <= int(response["Retry-After"]) <= settings.RATE_LIMIT_WINDOW_SECONDS
    assert response.json()["error"]["details"]["retry_after_seconds"] == int(response["Retry-After"])
    # Another member is not limited by Ana's counter.
    assert _execute(client_for(tenancy.vic), tenancy.acme).status_code == 202


def test_execute_over_the_per_workspace_limit_is_429_for_every_member(tenancy, client_for, settings) -> None:
    settings.RATE_LIMIT_EXECUTE_PER_WORKSPACE = 2
    assert _execute(client_for(tenancy.ana), tenancy.acme).status_code == 202
    assert _execute(client_for(tenancy.vic), tenancy.acme).status_code == 202

    response = _execute(client_for(tenancy.adam), tenancy.acme)

    assert response.status_code == 429 and response.json()["error"]["code"] == "rate_limited"
    assert "in this workspace" in response.json()["error"]["message"]
    assert _execute(client_for(tenancy.bob), tenancy.globex).status_code == 202  # Globex has its own


def test_bob_cannot_spend_acmes_workspace_limit(tenancy, client_for, settings) -> None:
    settings.RATE_LIMIT_EXECUTE_PER_WORKSPACE = 1
    assert _execute(client_for(tenancy.bob), tenancy.acme).status_code == 404  # not a member: not counted
    assert _execute(client_for(tenancy.ana), tenancy.acme).status_code == 202


def test_rerun_counts_against_the_execute_limits(tenancy, client_for, settings) -> None:
    settings.RATE_LIMIT_EXECUTE_PER_USER = 1
    api = client_for(tenancy.ana)
    execution_id = _execute(api, tenancy.acme).json()["id"]

    response = api.post(f"/api/v1/executions/{execution_id}/rerun")

    assert response.status_code == 429 and response.json()["error"]["code"] == "rate_limited"


def test_the_whole_api_is_limited_per_user(tenancy, client_for, settings) -> None:
    settings.RATE_LIMIT_API_PER_USER = 3
    api = client_for(tenancy.vic)
    assert [api.get("/api/v1/executions/").status_code for _ in range(3)] == [200, 200, 200]

    refused = api.get("/api/v1/me")

    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert int(refused["Retry-After"]) >= 1
    assert client_for(tenancy.ana).get("/api/v1/me").status_code == 200  # per user


def test_anonymous_callers_get_401_not_429(tenancy, api, settings) -> None:
    settings.RATE_LIMIT_API_PER_USER = 1
    assert [api.get("/api/v1/executions/").status_code for _ in range(3)] == [401, 401, 401]


def test_limits_let_requests_through_when_redis_is_down(settings, monkeypatch) -> None:
    """Redis is outside our code: a dead server is simulated by a client on a closed port."""
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(ratelimits, "_script", lambda: dead.register_script(ratelimits._CHECK_AND_COUNT))

    rate_limit_check([Limit("api:user", _subject(), 1)])
    rate_limit_check([Limit("api:user", _subject(), 1)])
