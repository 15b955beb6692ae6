"""TwitterHook: connection parsing, secret masking and test_connection against the local X API v2 server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.log import redact

from airflow_zaloni.hooks.twitter import TwitterHook
from airflow_zaloni.sources.twitter.client import DEFAULT_API_HOST
from tests.servers.x_api import XApiServer, XState, x_api_server

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def state() -> XState:
    state = XState(bearer_tokens=("bearer-token-for-the-hook-test",))
    state.add_user("alice")
    state.oauth1["consumer-key"] = ("consumer-secret-value", {"access-token-value": "access-secret-value"})
    return state


@pytest.fixture
def server(tmp_path: Path, state: XState) -> Iterator[XApiServer]:
    with x_api_server(tmp_path, state) as srv:
        yield srv


@pytest.fixture
def twitter_conn(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Define a ``twitter`` connection through the environment and return its id."""

    def make(
        *, conn_id: str = "twitter_test", host: str | None = None, password: str | None = None, **extra: Any
    ) -> str:
        conn: dict[str, Any] = {"conn_type": "twitter", "extra": extra}
        if host:
            conn["host"] = host
        if password:
            conn["password"] = password
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return conn_id

    return make


def test_bearer_token_from_password_is_masked(server: XApiServer, twitter_conn: Callable[..., str]) -> None:
    token = "bearer-token-for-the-hook-test"
    hook = TwitterHook(twitter_conn(host=server.url, password=token, verify=server.ca_path))
    client = hook.get_conn()
    assert client.bearer_token == token and not hook.user_auth
    assert client.api_host == server.url
    assert token not in redact(f"Authorization: Bearer {token}")
    assert hook.test_connection() == (True, f"Connected to {server.url} with the app's bearer token")


def test_default_host_is_the_x_api(twitter_conn: Callable[..., str]) -> None:
    hook = TwitterHook(twitter_conn(password="some-bearer-token"))
    assert hook.api_host == DEFAULT_API_HOST == "https://api.x.com"
    assert TwitterHook(twitter_conn(host="proxy.example.com", password="tok-12345")).api_host == (
        "https://proxy.example.com"
    )


def test_oauth1_user_context(server: XApiServer, twitter_conn: Callable[..., str], state: XState) -> None:
    conn_id = twitter_conn(
        host=server.url,
        auth_type="oauth1",
        consumer_key="consumer-key",
        consumer_secret="consumer-secret-value",
        access_token="access-token-value",
        access_token_secret="access-secret-value",
        verify=server.ca_path,
    )
    hook = TwitterHook(conn_id)
    assert hook.user_auth
    assert hook.test_connection() == (True, f"Connected to {server.url} as @alice")
    assert state.auth_seen == ["oauth1"]
    for secret in ("consumer-secret-value", "access-token-value", "access-secret-value"):
        assert secret not in redact(f"value={secret}")


def test_revoked_token_fails_test_connection(server: XApiServer, twitter_conn: Callable[..., str]) -> None:
    hook = TwitterHook(twitter_conn(host=server.url, password="a-revoked-token", verify=server.ca_path))
    ok, message = hook.test_connection()
    assert not ok and "401 Unauthorized" in message


def test_incomplete_connections_say_what_is_missing(twitter_conn: Callable[..., str]) -> None:
    with pytest.raises(ValueError, match="has no bearer token"):
        TwitterHook(twitter_conn()).get_conn()
    with pytest.raises(ValueError, match="needs consumer_secret, access_token_secret"):
        TwitterHook(twitter_conn(consumer_key="k", access_token="t")).get_conn()
    with pytest.raises(ValueError, match="auth_type must be"):
        TwitterHook(twitter_conn(password="tok-12345", auth_type="oauth2")).get_conn()


def test_budget_and_tls_settings_come_from_the_connection(twitter_conn: Callable[..., str]) -> None:
    conn_id = twitter_conn(password="tok-12345", rate_limit_budget="42", timeout="7", verify="false")
    client = TwitterHook(conn_id).get_conn()
    assert (client.rate_limit_budget, client.session.timeout, client.session.verify) == (42.0, 7.0, False)
    assert TwitterHook(conn_id, rate_limit_budget=5).get_conn().rate_limit_budget == 5.0
