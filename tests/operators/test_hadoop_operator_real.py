"""HadoopJarOperator, YarnApplicationTrigger and YarnApplicationSensor against the real local Hadoop.

``hadoop jar hadoop-mapreduce-examples.jar wordcount`` runs as a real YARN application on Hadoop's own
ResourceManagers (two, in HA) and NodeManager; the RM REST API that our hook reads is Hadoop's.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import uuid

import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from airflow_zaloni.hooks.yarn import YarnHook
from airflow_zaloni.operators.hadoop import HadoopJarOperator
from airflow_zaloni.sensors.yarn import YarnApplicationSensor
from airflow_zaloni.triggers.yarn import YarnApplicationTrigger
from tests.job_context import TaskStateStore, make_context

pytestmark = [pytest.mark.hadoop, pytest.mark.slow, pytest.mark.timeout(280)]


@pytest.fixture
def cluster(hadoop_cluster, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_YARN_DEFAULT", hadoop_cluster.yarn_conn_uri)
    return hadoop_cluster


@pytest.fixture(scope="module")
def words(hadoop_cluster) -> str:
    path = f"/wordcount/in-{uuid.uuid4().hex[:8]}.txt"
    hadoop_cluster.run("hdfs", "dfs", "-mkdir", "-p", "/wordcount")
    hadoop_cluster.run("hdfs", "dfs", "-put", "-", path, input="a b a\nc a\n")
    return path


def wordcount(cluster, words: str, **kwargs) -> HadoopJarOperator:
    return HadoopJarOperator(
        task_id="wordcount",
        jar=str(cluster.examples_jar),
        arguments=["wordcount", *kwargs.pop("arguments", [words, f"/wordcount/out-{uuid.uuid4().hex[:8]}"])],
        hadoop_binary=str(cluster.bin / "hadoop"),
        env=cluster.env,
        poll_interval=1,
        **kwargs,
    )


def fire(trigger: YarnApplicationTrigger) -> dict:
    return asyncio.run(anext(trigger.run())).payload


def count_apps() -> int:
    return len(YarnHook().list_applications())


def test_wordcount_defers_reports_its_status_and_a_retry_does_not_submit_again(cluster, words):
    store = TaskStateStore()
    context = make_context(store)
    with pytest.raises(TaskDeferred) as deferred:
        wordcount(cluster, words).execute(context)
    (app_id,) = deferred.value.trigger.application_ids
    assert store.get("yarn_application_ids") == [app_id]

    event = fire(deferred.value.trigger)
    result = wordcount(cluster, words).execute_complete(context, event)

    assert result["status"] == "success"
    (job,) = result["jobs"]
    assert (job["application_id"], job["state"], job["final_status"]) == (app_id, "FINISHED", "SUCCEEDED")
    assert job["application_type"] == "MAPREDUCE" and job["name"] == "word count"
    assert job["memory_seconds"] > 0 and job["vcore_seconds"] > 0
    assert app_id in job["tracking_url"]
    assert app_id in context["ti"].xcoms["tracking_url"]  # the "Job tracking UI" link

    # the worker is lost after the submit: the retry finds the application done and does not run the jar again
    before = count_apps()
    again = wordcount(cluster, words).execute(make_context(store, try_number=2))
    assert again["jobs"][0]["application_id"] == app_id
    assert count_apps() == before


def test_a_failing_job_fails_the_task_with_yarn_diagnostics(cluster, words):
    # the MapReduce AM's JVM cannot start with this heap: YARN fails the application with its diagnostics
    operator = wordcount(
        cluster,
        words,
        properties={"yarn.app.mapreduce.am.command-opts": "-Xmx1k", "mapreduce.am.max-attempts": "1"},
    )
    operator.arguments = ["wordcount", *[f"-D{k}={v}" for k, v in operator.properties.items()], words, "/wc-fail"]
    operator.properties = None
    with pytest.raises(AirflowException) as failed:
        operator.execute(make_context(TaskStateStore()))
    message = str(failed.value)
    assert re.search(r"application_\d+_\d+", message)
    assert "failed with state FAILED" in message and "exitCode" in message


def _submit_in_background(cluster, words: str) -> tuple[subprocess.Popen[str], str]:
    """``hadoop jar ... wordcount`` still running, and the id of the application it submitted."""
    process = subprocess.Popen(
        [str(cluster.bin / "hadoop"), "jar", str(cluster.examples_jar), "wordcount", words, f"/wc-{uuid.uuid4().hex}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **cluster.env},
    )
    assert process.stdout is not None
    for line in process.stdout:
        found = re.search(r"Submitted application (application_\d+_\d+)", line)
        if found:
            return process, found.group(1)
    raise AssertionError(f"hadoop jar printed no application id (exit {process.wait()})")


def test_the_trigger_follows_the_new_active_rm_when_the_active_one_stops(cluster, words):
    process, app_id = _submit_in_background(cluster, words)
    trigger = YarnApplicationTrigger(application_ids=[app_id], poll_interval=1, retry_budget=120)
    before = cluster.active_resourcemanager()

    async def wait_through_failover() -> dict:
        waiting = asyncio.ensure_future(anext(trigger.run()))
        await asyncio.sleep(1)
        assert not waiting.done()  # the application still runs while the active RM goes away
        await asyncio.to_thread(cluster.stop_active_resourcemanager)
        return (await waiting).payload

    event = asyncio.run(wait_through_failover())
    process.wait(timeout=120)
    assert cluster.active_resourcemanager() == 1 - before
    assert event["status"] == "success", event
    assert event["jobs"][0]["application_id"] == app_id


def test_killing_the_deferred_task_kills_the_application(cluster, words):
    process, app_id = _submit_in_background(cluster, words)
    trigger = YarnApplicationTrigger(application_ids=[app_id], kill_on_task_kill=True, poll_interval=1)
    asyncio.run(trigger.on_kill())
    process.wait(timeout=120)
    event = fire(YarnApplicationTrigger(application_ids=[app_id], poll_interval=1, retry_budget=60))
    assert event["status"] == "killed"
    assert event["jobs"][0]["state"] == "KILLED"


def test_yarn_application_sensor_on_a_real_wordcount(cluster, words):
    process, app_id = _submit_in_background(cluster, words)
    sensor = YarnApplicationSensor(task_id="wait", application_name="word count", poke_interval=1, timeout=200)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(make_context(TaskStateStore()))
    event = fire(deferred.value.trigger)
    process.wait(timeout=120)
    context = make_context(TaskStateStore())
    result = sensor.execute_complete(context, event)
    (job,) = result["jobs"]
    assert (job["application_id"], job["final_status"]) == (app_id, "SUCCEEDED")
