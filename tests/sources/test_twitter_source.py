"""TwitterPostsSource and XClient against a local HTTPS server that answers as the X API v2 does (no Airflow)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from airflow_zaloni.sources.base import Source, SourceError
from airflow_zaloni.sources.twitter import TwitterPostsSource
from airflow_zaloni.sources.twitter.client import (
    DEFAULT_API_HOST,
    TwitterAccessError,
    TwitterAuthError,
    TwitterError,
    TwitterNotFoundError,
    TwitterRateLimitError,
    TwitterRequestError,
    TwitterUnavailableError,
    TwitterUsageCapError,
    XClient,
)
from airflow_zaloni.utils.retry import RetryPolicy
from tests.servers.x_api import XApiServer, XState, x_api_server

pytestmark = pytest.mark.timeout(30)

FAST_RETRY = RetryPolicy(budget=2.0, initial=0.01, maximum=0.05)


@pytest.fixture
def state() -> XState:
    state = XState()
    alice, bob = state.add_user("alice"), state.add_user("bob")
    leeds = state.add_place("Leeds")
    for i in range(23):
        state.add_post(
            alice if i % 2 else bob,
            f"post {i} about #airflow",
            media=i % 3,
            place=leeds if i % 5 == 0 else None,
            mentions=(alice,) if i % 4 == 0 else (),
        )
    state.add_post(bob, "nothing to see here")
    return state


@pytest.fixture
def server(tmp_path: Path, state: XState) -> Iterator[XApiServer]:
    with x_api_server(tmp_path, state) as srv:
        yield srv


def client(server: XApiServer, token: str = "test-bearer-token", **kwargs: Any) -> XClient:
    kwargs.setdefault("retry", FAST_RETRY)
    return XClient(token, api_host=server.url, verify=server.ca_path, **kwargs)


def read(source: TwitterPostsSource) -> pa.Table:
    return pa.Table.from_batches(list(source.batches()), schema=source.schema)


def newest_ids(state: XState, text: str) -> list[int]:
    return sorted((int(p["id"]) for p in state.posts.values() if text in p["text"]), reverse=True)


def test_recent_search_pages_into_typed_arrow(server: XApiServer, state: XState) -> None:
    source = TwitterPostsSource(client(server), endpoint="recent_search", query="#airflow", max_results=10)
    assert isinstance(source, Source)
    table = read(source)

    expected = newest_ids(state, "#airflow")
    assert sorted(map(int, table.column("id").to_pylist()), reverse=True) == expected
    assert source.pages == 3  # 23 posts, 10 per page, followed through next_token
    tokens = [params.get("next_token") for _, params in state.requests]
    assert tokens[0] is None and all(tokens[1:]) and len(set(tokens[1:])) == 2
    assert source.cursor == expected[0]
    assert table.schema.field("created_at").type == pa.timestamp("ms", tz="UTC")
    assert pa.types.is_struct(table.schema.field("public_metrics").type)
    row = table.filter(pa.compute.equal(table["id"], str(expected[0]))).to_pylist()[0]
    post = state.posts[str(expected[0])]
    assert row["created_at"] == dt.datetime.fromisoformat(post["created_at"])
    assert row["public_metrics"]["impression_count"] == 42
    assert row["entities"]["hashtags"] == [{"start": 14, "end": 22, "tag": "airflow"}]
    assert row["other_fields"] is None


def test_expansions_collect_users_media_places_once(server: XApiServer, state: XState) -> None:
    source = TwitterPostsSource(client(server), endpoint="recent_search", query="#airflow", max_results=10)
    read(source)
    included = {
        kind: pa.Table.from_batches(list(s.batches()), schema=s.schema) for kind, s in source.include_sources().items()
    }
    assert set(included) == {"users", "media", "places"}
    assert sorted(included["users"].column("username").to_pylist()) == ["alice", "bob"]  # deduplicated over pages
    expected_media = {
        k
        for p in state.posts.values()
        if "#airflow" in p["text"]
        for k in p.get("attachments", {}).get("media_keys", [])
    }
    assert set(included["media"].column("media_key").to_pylist()) == expected_media
    assert included["places"].column("full_name").to_pylist() == ["Leeds, Earth"]
    assert included["users"].schema.field("created_at").type == pa.timestamp("ms", tz="UTC")
    assert source.stats()["included"] == {"users": 2, "media": len(expected_media), "places": 1}


def test_since_id_fetches_only_newer_posts(server: XApiServer, state: XState) -> None:
    ids = newest_ids(state, "#airflow")
    source = TwitterPostsSource(client(server), endpoint="recent_search", query="#airflow", since_id=ids[5])
    table = read(source)
    assert sorted(map(int, table.column("id").to_pylist()), reverse=True) == ids[:5]
    assert state.requests[0][1]["since_id"] == str(ids[5])
    assert source.cursor == ids[0]


def test_empty_result_has_no_rows_and_no_cursor(server: XApiServer, state: XState) -> None:
    source = TwitterPostsSource(client(server), endpoint="recent_search", query="kubernetes")
    assert read(source).num_rows == 0
    assert source.cursor is None
    assert source.stats()["empty"] is True


def test_user_posts_resolve_username_and_mentions(server: XApiServer, state: XState) -> None:
    alice = state.user_by_name("alice")
    assert alice is not None
    posts = TwitterPostsSource(client(server), endpoint="user_posts", user="@alice", max_results=5)
    table = read(posts)
    assert posts.user_id == alice["id"]
    assert set(table.column("author_id").to_pylist()) == {alice["id"]}
    assert table.num_rows == sum(p["author_id"] == alice["id"] for p in state.posts.values())

    mentions = TwitterPostsSource(client(server), endpoint="mentions", user=alice["id"])
    expected = sum(
        any(m["id"] == alice["id"] for m in p.get("entities", {}).get("mentions", [])) for p in state.posts.values()
    )
    assert read(mentions).num_rows == expected > 0


def test_list_posts_stop_at_the_watermark(server: XApiServer, state: XState) -> None:
    bob = state.user_by_name("bob")
    assert bob is not None
    state.lists["77"] = [bob["id"]]
    bob_ids = sorted((int(p["id"]) for p in state.posts.values() if p["author_id"] == bob["id"]), reverse=True)
    source = TwitterPostsSource(client(server), endpoint="list_posts", list_id="77", since_id=bob_ids[3], max_results=2)
    table = read(source)
    assert sorted(map(int, table.column("id").to_pylist()), reverse=True) == bob_ids[:3]
    assert source.pages == 2  # the second page crossed the watermark: no third request
    assert all("since_id" not in params for _, params in state.requests)  # X has no since_id here


def test_max_pages_keeps_newest_and_says_truncated(server: XApiServer, state: XState) -> None:
    source = TwitterPostsSource(client(server), endpoint="recent_search", query="#airflow", max_results=10, max_pages=1)
    table = read(source)
    assert table.num_rows == 10
    assert source.truncated and source.stats()["truncated"]
    assert source.cursor == newest_ids(state, "#airflow")[0]


def test_invalid_query_surfaces_x_error_text(server: XApiServer) -> None:
    source = TwitterPostsSource(client(server), endpoint="recent_search", query="#airflow nearby:london")
    with pytest.raises(TwitterRequestError, match="Reference to invalid operator 'nearby'") as info:
        read(source)
    assert info.value.status == 400 and "/2/tweets/search/recent" in str(info.value)
    with pytest.raises(TwitterRequestError, match="parenthesis"):
        read(TwitterPostsSource(client(server), endpoint="recent_search", query="(airflow OR spark"))


def test_revoked_token_is_an_auth_error(server: XApiServer, state: XState) -> None:
    state.revoked.add("test-bearer-token")
    with pytest.raises(TwitterAuthError, match=r"401 Unauthorized.*revoked"):
        read(TwitterPostsSource(client(server), endpoint="recent_search", query="airflow"))


def test_access_tier_errors_name_the_tier(server: XApiServer, state: XState) -> None:
    state.tier = "basic"
    with pytest.raises(TwitterAccessError, match=r"access tier.*Full-archive search needs Pro") as info:
        read(TwitterPostsSource(client(server), endpoint="full_archive_search", query="airflow"))
    assert "client-not-enrolled" in str(info.value)
    state.tier = "free"
    with pytest.raises(TwitterAccessError, match="code 453"):
        read(TwitterPostsSource(client(server), endpoint="recent_search", query="airflow"))


def test_deleted_suspended_and_protected_users(server: XApiServer, state: XState) -> None:
    with pytest.raises(TwitterNotFoundError, match=r"@ghost.*Could not find user with username: \[ghost\]"):
        read(TwitterPostsSource(client(server), endpoint="user_posts", user="ghost"))
    state.suspended.add("bob")
    with pytest.raises(TwitterNotFoundError, match=r"User has been suspended: \[bob\]"):
        read(TwitterPostsSource(client(server), endpoint="user_posts", user="bob"))
    carol = state.add_user("carol", protected=True)
    state.add_post(carol, "secret")
    with pytest.raises(TwitterAccessError, match=r"protected.*not authorized to see the user"):
        read(TwitterPostsSource(client(server), endpoint="user_posts", user="carol"))
    with pytest.raises(TwitterNotFoundError, match=r"Could not find user with id: \[999\]"):
        read(TwitterPostsSource(client(server), endpoint="mentions", user="999"))


def test_partial_errors_of_includes_are_counted_not_fatal(server: XApiServer, state: XState) -> None:
    alice = state.user_by_name("alice")
    assert alice is not None
    gone = state.add_post(alice, "soon deleted")
    state.add_post(alice, "a reply #reply", reply_to=gone)
    kept = state.add_post(alice, "kept")
    state.add_post(alice, "another reply #reply", reply_to=kept)
    del state.posts[gone["id"]]
    source = TwitterPostsSource(
        client(server), endpoint="recent_search", query="#reply", expansions=["author_id", "referenced_tweets.id"]
    )
    assert read(source).num_rows == 2
    stats = source.stats()
    assert stats["partial_errors"] == 1 and "Could not find tweet" in stats["partial_error_samples"][0]["detail"]
    referenced = source.include_sources()["tweets"]
    assert [b.to_pylist()[0]["id"] for b in referenced.batches()] == [kept["id"]]


def test_value_of_wrong_type_names_post_and_field(server: XApiServer, state: XState) -> None:
    alice = state.user_by_name("alice")
    assert alice is not None
    bad = state.add_post(alice, "odd #odd")
    bad["public_metrics"] = {"like_count": "many"}
    with pytest.raises(SourceError, match=rf"id='{bad['id']}'.*'public_metrics'"):
        read(TwitterPostsSource(client(server), endpoint="recent_search", query="#odd"))


def test_unknown_top_level_fields_are_kept_as_json(server: XApiServer, state: XState) -> None:
    alice = state.user_by_name("alice")
    assert alice is not None
    state.add_post(alice, "new #shiny", community_id="1234", media_metadata=[{"k": 1}])
    table = read(
        TwitterPostsSource(
            client(server), endpoint="recent_search", query="#shiny", tweet_fields=["community_id", "media_metadata"]
        )
    )
    assert table.column("other_fields").to_pylist() == ['{"community_id": "1234", "media_metadata": [{"k": 1}]}']


def test_rate_limit_waits_for_reset_within_budget(server: XApiServer, state: XState) -> None:
    state.rate_limit("/2/tweets/search/recent", limit=2, seconds=1)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    source = TwitterPostsSource(
        client(server, rate_limit_budget=30, sleep=sleep), endpoint="recent_search", query="#airflow", max_results=10
    )
    assert read(source).num_rows == 23
    assert len(slept) == 1 and 0 < slept[0] <= 2.5  # waited for the window to reset, no longer
    assert source.client.rate_limit_waited == pytest.approx(sum(slept))


def test_rate_limit_beyond_budget_fails_at_once(server: XApiServer, state: XState) -> None:
    state.rate_limit("/2/tweets/search/recent", limit=1, seconds=3600)
    slept: list[float] = []
    source = TwitterPostsSource(
        client(server, rate_limit_budget=60, sleep=slept.append),
        endpoint="recent_search",
        query="#airflow",
        max_results=10,
    )
    with pytest.raises(TwitterRateLimitError, match=r"rate limit reached.*beyond the remaining .* budget of 60s") as e:
        read(source)
    assert slept == []  # never sleeps a window it cannot afford
    assert e.value.reset_at is not None and e.value.reset_at > time.time() + 3000


def test_usage_cap_fails_without_waiting(server: XApiServer, state: XState) -> None:
    state.fail(
        "/2/tweets/search/recent",
        429,
        body={
            "title": "UsageCapExceeded",
            "detail": "Usage cap exceeded: Monthly product cap",
            "period": "Monthly",
            "scope": "Product",
            "type": "https://api.twitter.com/2/problems/usage-capped",
        },
        headers={"x-rate-limit-reset": str(int(time.time()) + 1)},
    )
    slept: list[float] = []
    with pytest.raises(TwitterUsageCapError, match=r"post cap.*Monthly product cap"):
        read(TwitterPostsSource(client(server, sleep=slept.append), endpoint="recent_search", query="#airflow"))
    assert slept == []


def test_503_and_dropped_connections_are_retried(server: XApiServer, state: XState) -> None:
    state.fail("/2/tweets/search/recent", 503, times=2)
    state.fail("/2/tweets/search/recent", None, times=1)  # connection dropped without an answer
    source = TwitterPostsSource(client(server), endpoint="recent_search", query="#airflow", max_results=10)
    assert read(source).num_rows == 23
    assert len(state.requests) == 3 + 3  # three failures, then three pages


def test_server_errors_that_last_fail_clearly(server: XApiServer, state: XState) -> None:
    state.fail("/2/tweets/search/recent", 503, times=1000)
    policy = RetryPolicy(budget=0.3, initial=0.01, maximum=0.05)
    with pytest.raises(TwitterUnavailableError, match=r"still failing after \d+ attempt.*HTTP 503") as info:
        read(TwitterPostsSource(client(server, retry=policy), endpoint="recent_search", query="#airflow"))
    assert len(state.requests) > 2  # retried before giving up
    assert info.value.status == 503


def test_oauth1_user_context_is_signed_for_the_configured_host(server: XApiServer, state: XState) -> None:
    state.oauth1["ck"] = ("cs", {"at": "ats"})
    ok = XClient(
        consumer_key="ck",
        consumer_secret="cs",
        access_token="at",
        access_token_secret="ats",
        api_host=server.url,
        verify=server.ca_path,
        retry=FAST_RETRY,
    )
    source = TwitterPostsSource(ok, endpoint="user_posts", user="alice", user_auth=True)
    assert read(source).num_rows > 0
    assert set(state.auth_seen) == {"oauth1"}
    wrong = XClient(
        consumer_key="ck",
        consumer_secret="nope",
        access_token="at",
        access_token_secret="ats",
        api_host=server.url,
        verify=server.ca_path,
        retry=FAST_RETRY,
    )
    with pytest.raises(TwitterAuthError):
        read(TwitterPostsSource(wrong, endpoint="user_posts", user="alice", user_auth=True))


def test_host_defaults_to_x_and_is_configurable(server: XApiServer) -> None:
    assert XClient("t").api_host == DEFAULT_API_HOST == "https://api.x.com"
    assert client(server).api_host == server.url
    with pytest.raises(ValueError, match="api_host"):
        XClient("t", api_host="api.x.com")


def test_bad_arguments_fail_before_any_request() -> None:
    c = XClient("t")
    with pytest.raises(ValueError, match="needs query"):
        TwitterPostsSource(c, endpoint="recent_search")
    with pytest.raises(ValueError, match="unknown X endpoint"):
        TwitterPostsSource(c, endpoint="home_timeline", query="x")
    with pytest.raises(ValueError, match=r"max_results .* 10..100"):
        TwitterPostsSource(c, endpoint="recent_search", query="x", max_results=500)
    with pytest.raises(ValueError, match="does not accept start_time"):
        TwitterPostsSource(c, endpoint="list_posts", list_id="1", start_time="2026-01-01T00:00:00Z")
    with pytest.raises(ValueError, match="since_id must be a numeric"):
        TwitterPostsSource(c, endpoint="recent_search", query="x", since_id="abc")


def test_since_id_older_than_the_recent_window_reads_the_whole_window(server: XApiServer, state: XState) -> None:
    ids = newest_ids(state, "#airflow")
    state.recent_floor_id = ids[-1]  # the watermark below is older than what recent search still covers
    source = TwitterPostsSource(client(server), endpoint="recent_search", query="#airflow", since_id=ids[-1] - 1)
    table = read(source)
    assert sorted(map(int, table.column("id").to_pylist()), reverse=True) == ids
    assert source.stats()["since_id_expired"] is True
    assert "since_id" in state.requests[0][1] and "since_id" not in state.requests[1][1]


def test_ids_and_time_window_are_not_combined() -> None:
    with pytest.raises(ValueError, match="since_id/until_id together with start_time/end_time"):
        TwitterPostsSource(XClient("t"), endpoint="recent_search", query="x", since_id=5, start_time="2026-01-01")


def test_unknown_list_is_not_found(server: XApiServer) -> None:
    with pytest.raises(TwitterNotFoundError, match=r"list 404.*Could not find list with id: \[404\]"):
        read(TwitterPostsSource(client(server), endpoint="list_posts", list_id="404"))


def test_an_answer_that_is_not_json_fails_clearly(server: XApiServer, state: XState) -> None:
    state.fail("/2/tweets/search/recent", 200, body=b"<html><body>Service temporarily moved</body></html>")
    with pytest.raises(TwitterError, match=r"/2/tweets/search/recent .*the answer is not JSON"):
        read(TwitterPostsSource(client(server), endpoint="recent_search", query="#airflow"))


def test_tls_uses_the_clients_ca_and_a_bad_certificate_fails_at_once(
    server: XApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import trustme

    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other_ca))  # the environment cannot override the client's CA
    monkeypatch.setenv("CURL_CA_BUNDLE", str(other_ca))
    assert client(server).search_recent_tweets("airflow")["data"]
    host = server.url.removeprefix("https://")
    with pytest.raises(SourceError, match=rf"TLS with {host} failed: certificate verify failed"):
        XClient("test-bearer-token", api_host=server.url, verify=str(other_ca), retry=FAST_RETRY).search_recent_tweets(
            "airflow"
        )
