"""YarnHook against a local server answering as the YARN ResourceManager REST API (no real RM can run here)."""

# ruff: noqa: F811  (pytest fixtures imported from tests.servers are redefined as test parameters)

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_zaloni.hooks.yarn import (
    ResourceManagerUnavailable,
    YarnApplicationNotFound,
    YarnError,
    YarnHook,
    parse_rm_addresses,
)
from airflow_zaloni.utils.retry import RetryPolicy
from tests.servers.yarn_rm import (  # noqa: F401
    FakeYarnCluster,
    YarnResourceManagerServer,
    yarn_cluster,
    yarn_rm,
    yarn_rm_pair,
)

pytestmark = pytest.mark.timeout(60)

FAST = RetryPolicy(budget=1.0, initial=0.05, maximum=0.2)


@pytest.fixture
def yarn_conn(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Define a ``yarn`` connection through the environment and return its id."""

    def make(host: str, *, login: str | None = None, conn_id: str = "yarn_test", **extra: Any) -> str:
        conn: dict[str, Any] = {"conn_type": "yarn", "host": host, "extra": extra}
        if login:
            conn["login"] = login
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return conn_id

    return make


def test_application_goes_through_documented_states(yarn_rm, yarn_cluster, yarn_conn):
    app = yarn_cluster.add_app("nightly", tags=["Zaloni", "orders"], running_polls=2)
    hook = YarnHook(yarn_conn(yarn_rm.address))

    seen = []
    report = hook.get_application(app.id)
    while not report.is_terminal:
        seen.append(report.state)
        report = hook.get_application(app.id)

    assert seen == ["NEW_SAVING", "SUBMITTED", "ACCEPTED", "RUNNING", "RUNNING"]
    assert (report.state, report.final_status, report.outcome) == ("FINISHED", "SUCCEEDED", "success")
    assert report.tags == ("zaloni", "orders")
    assert report.tracking_url == f"{yarn_rm.url}/proxy/{app.id}/"
    assert report.memory_seconds and report.memory_seconds > 0 and report.vcore_seconds
    assert json.loads(json.dumps(report.to_dict()))["application_id"] == app.id


def test_finished_with_failed_final_status_is_a_failure(yarn_rm, yarn_cluster, yarn_conn):
    app = yarn_cluster.add_app(outcome="FAILED", diagnostics="User class threw exception: boom", running_polls=0)
    hook = YarnHook(yarn_conn(yarn_rm.address))
    report = hook.get_application(app.id)
    while not report.is_terminal:
        report = hook.get_application(app.id)
    assert report.outcome == "failed" and not report.succeeded
    assert "boom" in report.diagnostics and "boom" in report.summary()


def test_unknown_and_malformed_application_ids(yarn_rm, yarn_conn):
    hook = YarnHook(yarn_conn(yarn_rm.address))
    with pytest.raises(YarnApplicationNotFound, match="application_1_0042 not found"):
        hook.get_application("application_1_0042")
    with pytest.raises(ValueError, match="not a YARN application id: 'job_1_1'"):
        hook.get_application("job_1_1")


def test_kill_needs_a_user_and_ends_the_application(yarn_rm, yarn_cluster, yarn_conn):
    app = yarn_cluster.add_app(outcome=None)
    anonymous = YarnHook(yarn_conn(yarn_rm.address, conn_id="anon"))
    with pytest.raises(YarnError, match="HTTP 403 AuthorizationException"):
        anonymous.kill_application(app.id)

    hook = YarnHook(yarn_conn(yarn_rm.address, login="etl"))
    assert hook.kill_application(app.id) == "ACCEPTED"
    report = hook.get_application(app.id)
    assert (report.state, report.final_status, report.outcome) == ("KILLED", "KILLED", "killed")
    assert app.kill_requests == ["etl"]  # the anonymous kill was refused before reaching the app
    assert hook.kill_application(app.id) == "KILLED"  # killing an ended app reports its state


def test_listing_by_tags_state_user_and_queue(yarn_rm, yarn_cluster, yarn_conn):
    a = yarn_cluster.add_app("ingest", tags=["lake", "orders"], user="etl", queue="batch")
    b = yarn_cluster.add_app("ingest", tags=["lake"], user="bi", queue="adhoc", state="RUNNING")
    c = yarn_cluster.add_app("report", tags=["finance"], user="etl", queue="batch", state="RUNNING")
    hook = YarnHook(yarn_conn(yarn_rm.address))

    def ids(apps):
        return sorted(x.application_id for x in apps)

    assert ids(hook.list_applications(tags=["lake"])) == sorted([a.id, b.id])
    assert ids(hook.list_applications(states=["running"])) == sorted([b.id, c.id])
    assert ids(hook.list_applications(user="etl", queue="batch")) == sorted([a.id, c.id])
    assert ids(hook.list_applications(name="ingest", limit=1)) == [a.id]
    assert hook.list_applications(tags=["nothing-has-this"]) == []
    assert hook.find_application(name="ingest", tags=["LAKE", "orders"]).application_id == a.id
    assert hook.find_application(name="ingest", tags=["finance"]) is None


def test_cluster_metrics_and_test_connection(yarn_rm, yarn_cluster, yarn_conn):
    yarn_cluster.add_app(state="RUNNING")
    hook = YarnHook(yarn_conn(yarn_rm.address))
    metrics = hook.cluster_metrics()
    assert metrics["appsRunning"] == 1 and metrics["activeNodes"] == 2
    ok, message = hook.test_connection()
    assert ok and "ACTIVE" in message and "1 app(s) running" in message

    yarn_rm.stop()
    ok, message = YarnHook(yarn_conn(yarn_rm.address, conn_id="down", retry_budget=0.3)).test_connection()
    assert not ok and "no active YARN ResourceManager" in message and yarn_rm.address in message


def test_standby_redirects_to_active_and_hook_follows_failover(yarn_rm_pair, yarn_cluster, yarn_conn):
    rm1, rm2 = yarn_rm_pair
    app = yarn_cluster.add_app(outcome=None)
    # the standby is listed first: its 307 "This is standby RM" leads to the active one
    yarn_cluster.active = rm2
    hook = YarnHook(yarn_conn(f"{rm1.address},{rm2.address}"))
    assert hook.get_application(app.id).application_id == app.id
    assert hook.active_address == rm2.url
    assert ("GET", f"/ws/v1/cluster/apps/{app.id}") in [r[:2] for r in rm1.requests]

    # failover: rm1 becomes active, rm2 standby; the hook follows without failing the call
    yarn_cluster.active = rm1
    assert hook.get_application(app.id).state in ("NEW_SAVING", "SUBMITTED", "ACCEPTED", "RUNNING")
    assert hook.active_address == rm1.url

    # the active RM's machine goes away: the other one takes over
    rm1.stop()
    yarn_cluster.active = rm2
    assert hook.get_application(app.id).application_id == app.id
    assert hook.active_address == rm2.url


def test_no_active_rm_is_retried_within_budget_then_a_clear_error(yarn_rm_pair, yarn_cluster, yarn_conn):
    rm1, rm2 = yarn_rm_pair
    yarn_cluster.active = None  # both standby: "Can not find any active RM"
    hook = YarnHook(yarn_conn(f"{rm1.address},{rm2.address}"), retry_policy=FAST)
    started = time.monotonic()
    with pytest.raises(ResourceManagerUnavailable, match="within 1s") as info:
        hook.cluster_metrics()
    assert time.monotonic() - started < 5
    assert "Can not find any active RM" in str(info.value) and rm2.address in str(info.value)


def test_rm_unreachable_for_a_while_then_back(yarn_rm, yarn_cluster, yarn_conn):
    app = yarn_cluster.add_app(outcome=None)
    yarn_rm.stop()
    threading.Timer(0.8, yarn_rm.start).start()  # the RM restarts on the same port
    hook = YarnHook(yarn_conn(yarn_rm.address), retry_policy=RetryPolicy(budget=10, initial=0.1, maximum=0.3, jitter=0))
    assert hook.get_application(app.id).application_id == app.id


def test_simple_auth_sends_user_name(yarn_cluster, yarn_conn):
    rm = YarnResourceManagerServer(yarn_cluster, require_user=True).start()
    yarn_cluster.active = rm
    try:
        with pytest.raises(YarnError, match="set Login on the connection"):
            YarnHook(yarn_conn(rm.address, conn_id="nouser")).cluster_metrics()
        YarnHook(yarn_conn(rm.address, login="etl")).cluster_metrics()
        assert rm.requests[-1][2] == "etl"
    finally:
        rm.stop()


def test_address_list_parsing():
    assert parse_rm_addresses("rm1, rm2:9000,https://rm3:8443/x", port=None, scheme="http") == [
        "http://rm1:8088",
        "http://rm2:9000",
        "https://rm3:8443",
    ]
    assert parse_rm_addresses("rm1", port=None, scheme="https") == ["https://rm1:8090"]
    with pytest.raises(ValueError, match="no ResourceManager address"):
        parse_rm_addresses(" , ", port=None, scheme="http")
