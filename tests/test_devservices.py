"""The embedded PostgreSQL and Redis: real servers, private ports, data kept across restarts."""

from __future__ import annotations

import psycopg
import pytest
import redis

from config.devservices import DevServices


@pytest.fixture
def services(tmp_path):
    services = DevServices(tmp_path / "local")
    yield services
    services.down()


def _pg(state):
    pg = state["postgres"]
    return psycopg.connect(
        host="127.0.0.1", port=pg["port"], user=pg["user"], password=pg["password"], dbname=pg["database"],
        autocommit=True,
    )  # fmt: skip


def _redis(state):
    rd = state["redis"]
    return redis.Redis(host="127.0.0.1", port=rd["port"], password=rd["password"])


def test_up_starts_real_servers_that_keep_their_data_across_down_and_up(services):
    state = services.up()
    with _pg(state) as conn:
        assert conn.execute("SHOW server_version").fetchone()[0].split(".")[0].isdigit()
        conn.execute("CREATE TABLE kept (v int)")
        conn.execute("INSERT INTO kept VALUES (42)")
    _redis(state).set("kept", "yes")
    assert [s.running for s in services.status()] == [True, True]

    services.down()
    assert [s.running for s in services.status()] == [False, False]

    again = services.up()
    assert again["postgres"]["password"] == state["postgres"]["password"]
    with _pg(again) as conn:
        assert conn.execute("SELECT v FROM kept").fetchone() == (42,)
    assert _redis(again).get("kept") == b"yes"


def test_up_twice_reuses_the_running_servers(services):
    first = services.up()
    second = services.up()
    assert first == second


def test_servers_refuse_connections_without_the_password(services):
    state = services.up()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host="127.0.0.1", port=state["postgres"]["port"], user="postgres", password="wrong",
                        dbname="postgres")  # fmt: skip
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=state["redis"]["port"], password="wrong").ping()
