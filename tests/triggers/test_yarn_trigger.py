"""YarnApplicationTrigger.run() driven with asyncio against the local ResourceManager server."""

# ruff: noqa: F811  (pytest fixtures imported from tests.servers are redefined as test parameters)
from __future__ import annotations

import asyncio
import importlib
import json
import time

import pytest

from airflow_zaloni.triggers.yarn import YarnApplicationTrigger
from tests.servers.yarn_rm import yarn_cluster, yarn_rm  # noqa: F401

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def conn_id(yarn_rm, monkeypatch) -> str:
    monkeypatch.setenv(
        "AIRFLOW_CONN_YARN_TRIGGER",
        json.dumps({"conn_type": "yarn", "host": yarn_rm.address, "login": "etl"}),
    )
    return "yarn_trigger"


def events(trigger: YarnApplicationTrigger, during=None) -> list[dict]:
    """All events of one run (a trigger fires once); ``during`` runs concurrently, e.g. to kill the app."""

    async def collect():
        found = [e.payload async for e in trigger.run()]
        return found

    async def main():
        task = asyncio.create_task(collect())
        if during:
            await during()
        return await task

    return asyncio.run(main())


def test_success_after_the_state_sequence_with_resource_use(yarn_cluster, conn_id):
    a = yarn_cluster.add_app("step1", running_polls=1)
    b = yarn_cluster.add_app("step2", running_polls=1)
    (event,) = events(YarnApplicationTrigger(application_ids=[a.id, b.id], yarn_conn_id=conn_id, poll_interval=0.01))
    assert event["status"] == "success"
    assert [j["application_id"] for j in event["jobs"]] == [a.id, b.id]
    assert all(j["state"] == "FINISHED" and j["final_status"] == "SUCCEEDED" for j in event["jobs"])
    assert event["jobs"][0]["memory_seconds"] > 0 and event["jobs"][0]["vcore_seconds"] > 0
    json.dumps(event)  # events travel through the metadata DB


def test_failed_application_carries_its_diagnostics(yarn_cluster, conn_id):
    app = yarn_cluster.add_app(outcome="FAILED", diagnostics="Exception in thread main: java.io.FileNotFoundException")
    (event,) = events(YarnApplicationTrigger(application_ids=[app.id], yarn_conn_id=conn_id, poll_interval=0.01))
    assert event["status"] == "failed"
    assert "FileNotFoundException" in event["message"] and app.id in event["message"]


def test_application_killed_outside_airflow(yarn_cluster, conn_id):
    app = yarn_cluster.add_app(outcome=None)

    async def kill_later():
        await asyncio.sleep(0.2)
        with yarn_cluster.lock:
            app.kill("ops")

    (event,) = events(
        YarnApplicationTrigger(application_ids=[app.id], yarn_conn_id=conn_id, poll_interval=0.02), kill_later
    )
    assert event["status"] == "killed"
    assert "killed by user ops" in event["message"]


def test_found_by_name_and_tags_once_it_appears(yarn_cluster, conn_id):
    yarn_cluster.add_app("nightly", tags=["other"], outcome=None)  # same name, wrong tag: not this one

    async def submit_later():
        await asyncio.sleep(0.2)
        yarn_cluster.add_app("nightly", tags=["zaloni", "run-42"], running_polls=1)

    trigger = YarnApplicationTrigger(
        application_name="nightly", application_tags=["run-42"], yarn_conn_id=conn_id, poll_interval=0.02
    )
    (event,) = events(trigger, submit_later)
    assert event["status"] == "success" and event["jobs"][0]["tags"] == ["zaloni", "run-42"]


def test_deadline_fires_timeout(yarn_cluster, conn_id):
    app = yarn_cluster.add_app(outcome=None)
    trigger = YarnApplicationTrigger(
        application_ids=[app.id], yarn_conn_id=conn_id, poll_interval=0.05, deadline=time.time() + 0.3
    )
    (event,) = events(trigger)
    assert event["status"] == "timeout" and "RUNNING" in event["message"]


def test_unreachable_rm_and_unknown_application_end_in_error(yarn_rm, yarn_cluster, conn_id):
    (event,) = events(YarnApplicationTrigger(application_ids=["application_1_0404"], yarn_conn_id=conn_id))
    assert event["status"] == "error" and "application_1_0404 not found" in event["message"]

    app = yarn_cluster.add_app(outcome=None)
    yarn_rm.stop()
    started = time.monotonic()
    (event,) = events(YarnApplicationTrigger(application_ids=[app.id], yarn_conn_id=conn_id, retry_budget=1.0))
    assert event["status"] == "error" and "no active YARN ResourceManager" in event["message"]
    assert time.monotonic() - started < 10


def test_serialize_round_trip_and_on_kill(yarn_cluster, conn_id):
    app = yarn_cluster.add_app(outcome=None)
    trigger = YarnApplicationTrigger(application_ids=[app.id], yarn_conn_id=conn_id, kill_on_task_kill=True)
    path, kwargs = trigger.serialize()
    module, name = path.rsplit(".", 1)
    again = getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))
    assert again.serialize() == (path, kwargs)

    asyncio.run(again.on_kill())
    assert app.state == "KILLED" and app.kill_requests == ["etl"]
    asyncio.run(YarnApplicationTrigger(application_ids=[app.id], yarn_conn_id=conn_id).on_kill())
    assert app.kill_requests == ["etl"]  # a sensor's trigger never kills what it watches
