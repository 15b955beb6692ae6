"""TwitterToLakeOperator end to end: the local X API v2 server, the real lake, and the example DAG run by Airflow."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from airflow_zaloni.lake import DatasetRef, Lake
from airflow_zaloni.operators.twitter import TwitterToLakeOperator
from airflow_zaloni.sources.twitter.client import TwitterRequestError
from tests.servers.x_api import XApiServer, XState, x_api_server

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]
DAY1 = datetime(2026, 11, 24, tzinfo=timezone.utc)
POSTS = DatasetRef("raw", "twitter", "posts")
INCLUDED = {kind: DatasetRef("raw", "twitter", f"posts_{kind}") for kind in ("users", "media", "places")}


@pytest.fixture
def state() -> XState:
    state = XState()
    alice, bob = state.add_user("alice"), state.add_user("bob")
    leeds = state.add_place("Leeds")
    for i in range(23):
        state.add_post(alice if i % 2 else bob, f"post {i} #airflow", media=i % 2, place=leeds if i == 3 else None)
    return state


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, server: XApiServer) -> None:
    """A ``twitter`` connection to the local server, through the environment."""
    conn = {"conn_type": "twitter", "host": server.url, "password": "test-bearer-token"}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({**conn, "extra": {"verify": server.ca_path}}))


@pytest.fixture
def server(tmp_path: Path, state: XState, monkeypatch: pytest.MonkeyPatch) -> Iterator[XApiServer]:
    with x_api_server(tmp_path, state) as srv:
        set_connection(monkeypatch, "x_test", srv)
        yield srv


def operator(lake_root: Path, **kwargs: Any) -> TwitterToLakeOperator:
    kwargs.setdefault("query", "#airflow")
    kwargs.setdefault("max_results", 10)
    return TwitterToLakeOperator(
        task_id="land", twitter_conn_id="x_test", dataset="posts", lake_root=str(lake_root), **kwargs
    )


def run(op: TwitterToLakeOperator, day: datetime = DAY1) -> dict[str, Any]:
    context = {
        "data_interval_start": day,
        "data_interval_end": day + timedelta(days=1),
        "run_id": f"r{day:%d}",
        "ti": None,
    }
    return op.execute(context)  # type: ignore[arg-type]


def ids(lake: Lake, partition: str) -> list[int]:
    return sorted(map(int, lake.read_table(POSTS, partition=partition).column("id").to_pylist()))


def post_ids(state: XState) -> list[int]:
    return sorted(int(i) for i in state.posts)


def test_posts_and_expansions_land_in_one_commit(server: XApiServer, state: XState, lake_root: Path) -> None:
    op = operator(lake_root)
    assert {o.uri for o in op.outlets} == {
        f"zaloni://lake/raw/twitter/{n}" for n in ("posts", "posts_users", "posts_media", "posts_places")
    }
    summary = run(op)
    lake = Lake(str(lake_root))
    assert summary["rows"] == 23 and summary["partition"] == "dt=2026-11-24"
    assert ids(lake, "dt=2026-11-24") == post_ids(state)
    assert lake.watermark(POSTS) == max(post_ids(state))

    manifests = [lake.manifest(ref, "dt=2026-11-24") for ref in (POSTS, *INCLUDED.values())]
    assert all(manifests) and len({m["txn_id"] for m in manifests if m}) == 1  # all four in the same commit
    posts_manifest = manifests[0]
    assert posts_manifest is not None
    assert posts_manifest["extra"]["twitter"]["pages"] == 3
    assert posts_manifest["extra"]["twitter"]["empty"] is False
    assert posts_manifest["source"]["endpoint"] == "recent_search"
    assert posts_manifest["source"]["api_host"] == server.url
    users = lake.read_table(INCLUDED["users"], partition="dt=2026-11-24")
    assert sorted(users.column("username").to_pylist()) == ["alice", "bob"]
    assert lake.read_table(INCLUDED["media"], partition="dt=2026-11-24").num_rows == 11
    assert lake.read_table(INCLUDED["places"], partition="dt=2026-11-24").column("name").to_pylist() == ["Leeds"]
    posts = lake.read_table(POSTS, partition="dt=2026-11-24")
    assert posts.schema.field("created_at").type == pa.timestamp("ms", tz="UTC")
    assert pa.types.is_struct(posts.schema.field("public_metrics").type)


def test_next_run_reads_only_newer_posts(server: XApiServer, state: XState, lake_root: Path) -> None:
    run(operator(lake_root))
    lake = Lake(str(lake_root))
    first = lake.watermark(POSTS)
    alice = state.user_by_name("alice")
    assert alice is not None
    new = [int(state.add_post(alice, f"later {i} #airflow")["id"]) for i in range(4)]
    state.requests.clear()

    run(operator(lake_root), DAY1 + timedelta(days=1))
    assert state.requests[0][1]["since_id"] == str(first)
    assert ids(lake, "dt=2026-11-25") == new
    assert lake.watermark(POSTS) == max(new)


def test_empty_result_commits_an_empty_partition_and_keeps_the_watermark(
    server: XApiServer, state: XState, lake_root: Path
) -> None:
    run(operator(lake_root))
    lake = Lake(str(lake_root))
    before = lake.watermark(POSTS)
    summary = run(operator(lake_root), DAY1 + timedelta(days=1))
    assert summary["rows"] == 0
    manifest = lake.manifest(POSTS, "dt=2026-11-25")
    assert manifest is not None and manifest["totals"]["rows"] == 0
    assert manifest["extra"]["twitter"]["empty"] is True
    assert manifest["watermark"]["before"] == manifest["watermark"]["after"] == before
    assert lake.watermark(POSTS) == before
    assert lake.read_table(POSTS, partition="dt=2026-11-25").num_rows == 0


def test_a_page_failing_halfway_publishes_nothing_and_the_retry_starts_from_the_old_watermark(
    server: XApiServer, state: XState, lake_root: Path
) -> None:
    run(operator(lake_root))
    lake = Lake(str(lake_root))
    old = lake.watermark(POSTS)
    bob = state.user_by_name("bob")
    assert bob is not None
    new = [int(state.add_post(bob, f"burst {i} #airflow", media=1)["id"]) for i in range(15)]
    state.fail(
        "/2/tweets/search/recent",
        400,
        paged_only=True,
        body={
            "errors": [{"parameters": {"next_token": ["x"]}, "message": "The `next_token` query parameter is invalid"}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        },
    )
    with pytest.raises(TwitterRequestError, match="next_token"):
        run(operator(lake_root), DAY1 + timedelta(days=1))
    assert lake.watermark(POSTS) == old
    for ref in (POSTS, *INCLUDED.values()):
        assert "dt=2026-11-25" not in lake.partitions(ref)  # not even the first page, nor its users

    state.requests.clear()
    run(operator(lake_root), DAY1 + timedelta(days=1))  # the task's retry
    assert state.requests[0][1]["since_id"] == str(old)
    assert ids(lake, "dt=2026-11-25") == new  # every new post exactly once
    assert lake.watermark(POSTS) == max(new)


def test_rerun_of_a_past_interval_replays_its_range(server: XApiServer, state: XState, lake_root: Path) -> None:
    run(operator(lake_root))
    lake = Lake(str(lake_root))
    day1 = ids(lake, "dt=2026-11-24")
    alice = state.user_by_name("alice")
    assert alice is not None
    for i in range(3):
        state.add_post(alice, f"day two {i} #airflow")
    run(operator(lake_root), DAY1 + timedelta(days=1))
    latest = lake.watermark(POSTS)
    state.add_post(alice, "day three #airflow")  # must not leak into the re-run of day one
    state.requests.clear()

    run(operator(lake_root))
    assert "since_id" not in state.requests[0][1]
    assert state.requests[0][1]["until_id"] == str(max(day1) + 1)
    assert ids(lake, "dt=2026-11-24") == day1
    assert lake.watermark(POSTS) == latest


def test_data_interval_bounds_the_search(server: XApiServer, state: XState, lake_root: Path) -> None:
    created = sorted(state.posts.values(), key=lambda p: p["created_at"])
    start = datetime.fromisoformat(created[5]["created_at"])
    end = datetime.fromisoformat(created[12]["created_at"])
    run(operator(lake_root))  # an earlier run left a since_id watermark
    state.requests.clear()
    op = operator(lake_root, use_data_interval=True)
    context = {"data_interval_start": start, "data_interval_end": end, "run_id": "window", "ti": None}
    summary = op.execute(context)  # type: ignore[arg-type]
    params = state.requests[0][1]
    assert (params["start_time"], params["end_time"]) == (f"{start:%Y-%m-%dT%H:%M:%SZ}", f"{end:%Y-%m-%dT%H:%M:%SZ}")
    assert "since_id" not in params  # X refuses ids together with a time window; the window bounds the run
    landed = Lake(str(lake_root)).read_table(POSTS, partition=summary["partition"])
    assert sorted(landed.column("id").to_pylist()) == sorted(p["id"] for p in created[5:12])


def test_user_posts_endpoint_and_bad_endpoint(server: XApiServer, state: XState, lake_root: Path) -> None:
    summary = run(operator(lake_root, endpoint="user_posts", query=None, user="alice", expansions=[]))
    alice = state.user_by_name("alice")
    assert alice is not None
    assert summary["rows"] == sum(p["author_id"] == alice["id"] for p in state.posts.values())
    assert [d["dataset"] for d in summary["datasets"]] == ["raw/twitter/posts"]
    manifest = Lake(str(lake_root)).manifest(POSTS, "dt=2026-11-24")
    assert manifest is not None and manifest["extra"]["twitter"]["user_id"] == alice["id"]
    with pytest.raises(ValueError, match="unknown X endpoint 'timeline'"):
        operator(lake_root, endpoint="timeline")


def test_example_dag_is_skipped_without_a_connection(airflow_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    from tests.airflow_helpers import load_dag, run_dag

    monkeypatch.delenv("AIRFLOW_CONN_TWITTER_DEFAULT", raising=False)
    dag_run = run_dag(REPO / "example_dags" / "twitter_ingest.py")
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {"check_connection": "skipped", "land_posts": "skipped"}
    check = load_dag(REPO / "example_dags" / "twitter_ingest.py").get_task("check_connection")
    with pytest.raises(AirflowSkipException, match=r"No Airflow connection 'twitter_default'.*type 'twitter'"):
        check.python_callable()


def test_example_dag_lands_posts_with_a_connection(
    airflow_db: Path, tmp_path: Path, server: XApiServer, state: XState, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.airflow_helpers import run_dag

    alice = state.user_by_name("alice")
    assert alice is not None
    state.add_post(alice, "We love #ApacheAirflow")
    state.add_post(alice, "a retweet of #ApacheAirflow")
    lake_root = tmp_path / "example-lake"
    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_ROOT", str(lake_root))
    set_connection(monkeypatch, "twitter_default", server)
    dag_run = run_dag(REPO / "example_dags" / "twitter_ingest.py")
    assert {ti.task_id: ti.state for ti in dag_run.get_task_instances()} == {
        "check_connection": "success",
        "land_posts": "success",
    }
    table = Lake(str(lake_root)).read_table(DatasetRef("raw", "twitter", "airflow_posts"))
    assert table.column("text").to_pylist() == ["We love #ApacheAirflow"]
