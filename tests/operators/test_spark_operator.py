"""SparkJobOperator and SparkDriverSensor on a real Spark standalone cluster (Master + Worker, REST server on).

One cluster for the session; every submission is a real ``spark-submit --deploy-mode cluster`` of a small Java
application compiled by the test, tracked through the master's REST API.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests.servers are redefined as test parameters)
from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from airflow_zaloni.hooks.spark import SparkDriverNotFound, SparkMasterRestHook
from airflow_zaloni.operators.spark import SparkJobOperator
from airflow_zaloni.sensors.spark import SparkDriverSensor
from airflow_zaloni.triggers.spark import SparkDriverTrigger
from tests.job_context import TaskStateStore, make_context
from tests.servers.spark import FAST_JVM_OPTS, JOB_CLASS, spark_cluster, spark_test_jar, use_spark_submit  # noqa: F401

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def spark_conn(spark_cluster, monkeypatch) -> str:
    # spark-submit from this virtualenv; the master URL names the REST port: submission goes through REST
    use_spark_submit(monkeypatch)
    monkeypatch.setenv(
        "AIRFLOW_CONN_SPARK_CLUSTER",
        json.dumps(
            {
                "conn_type": "spark",
                "host": "spark://127.0.0.1",
                "port": spark_cluster.rest_port,
                "extra": {
                    "deploy-mode": "cluster",
                    "rest-port": spark_cluster.rest_port,
                    "web-ui-url": spark_cluster.web_url,
                },
            }
        ),
    )
    return "spark_cluster"


def operator(jar: Path, *args: str, task_id: str = "spark_job", **kwargs) -> SparkJobOperator:
    return SparkJobOperator(
        task_id=task_id,
        application=str(jar),
        java_class=JOB_CLASS,
        application_args=list(args),
        conn_id="spark_cluster",
        driver_memory="256m",
        conf={"spark.driver.extraJavaOptions": FAST_JVM_OPTS},
        poll_interval=0.25,
        **kwargs,
    )


def fire(trigger) -> dict:
    async def first():
        async for event in trigger.run():
            return event.payload

    return asyncio.run(first())


def drivers(cluster) -> list[str]:
    state = cluster.master_state()
    return sorted(d["id"] for d in state.get("activedrivers", []) + state.get("completeddrivers", []))


def test_cluster_job_defers_reattaches_after_a_lost_worker_and_runs_once(spark_cluster, spark_conn, spark_test_jar):
    before = drivers(spark_cluster)
    store = TaskStateStore()

    # try 1: submit, persist the driver id, defer
    context = make_context(store)
    with pytest.raises(TaskDeferred) as deferred:
        operator(spark_test_jar, "3000").execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, SparkDriverTrigger)
    driver_id = store.get("spark_job_id")
    assert trigger.driver_id == driver_id and driver_id.startswith("driver-")
    assert context["ti"].xcoms["tracking_url"] == spark_cluster.web_url

    # the worker dies here; try 2 runs on a fresh operator with the same task state: it reattaches
    retry = make_context(store, try_number=2)
    with pytest.raises(TaskDeferred) as again:
        operator(spark_test_jar, "3000").execute(retry)
    assert again.value.trigger.driver_id == driver_id
    assert drivers(spark_cluster) == sorted([*before, driver_id])  # no second submission

    event = fire(again.value.trigger)
    assert event["status"] == "success", event
    result = operator(spark_test_jar).execute_complete(retry, event)
    (job,) = result["jobs"]
    assert (job["driver_id"], job["state"]) == (driver_id, "FINISHED")
    assert job["worker_id"].startswith("worker-") and job["elapsed_seconds"] > 0

    # try 3 (e.g. the task was cleared after the job ended): nothing is submitted, the result comes back at once
    result = operator(spark_test_jar, "3000").execute(make_context(store, try_number=3))
    assert result["status"] == "success" and result["jobs"][0]["driver_id"] == driver_id
    assert drivers(spark_cluster) == sorted([*before, driver_id])


def test_failing_job_and_job_killed_by_on_kill(spark_cluster, spark_conn, spark_test_jar):
    # a driver that exits with code 3: the trigger fires "failed" and the task fails naming it
    with pytest.raises(TaskDeferred) as deferred:
        operator(spark_test_jar, "0", "3").execute(make_context())
    failing_id = deferred.value.trigger.driver_id

    # a long driver, killed by the operator's on_kill (the task was killed while it waited in the task)
    killed_op = operator(spark_test_jar, "120000", deferrable=False)
    store = TaskStateStore()
    submitted = killed_op.submit_job(make_context(store))
    killed_op.on_kill()

    event = fire(SparkDriverTrigger(driver_id=failing_id, conn_id="spark_cluster", poll_interval=0.5))
    assert event["status"] == "failed" and event["jobs"][0]["state"] == "FAILED"
    context = make_context()
    # the driver's own stderr (from its worker) is the diagnostics: the task log and the error show it
    assert event["jobs"][0]["message"] == "ZaloniTestJob failing on purpose with exit code 3"
    with pytest.raises(
        AirflowException, match=f"{failing_id} ended FAILED: ZaloniTestJob failing on purpose with exit code 3"
    ):
        operator(spark_test_jar).execute_complete(context, event)
    assert context["ti"].xcoms["job_status"]["status"] == "failed"

    event = fire(SparkDriverTrigger(driver_id=submitted, conn_id="spark_cluster", poll_interval=0.5))
    assert event["status"] == "killed" and event["jobs"][0]["state"] == "KILLED"

    # the sensor sees the same outcomes, poking (no trigger) ...
    poking = SparkDriverSensor(task_id="s", driver_id=failing_id, conn_id="spark_cluster", deferrable=False)
    with pytest.raises(AirflowException, match="FAILED"):
        poking.poke(make_context())
    # ... and deferred by default
    with pytest.raises(TaskDeferred) as sensor_deferred:
        SparkDriverSensor(task_id="s", driver_id=submitted, conn_id="spark_cluster", poke_interval=0.2).execute({})
    assert fire(sensor_deferred.value.trigger)["status"] == "killed"


def test_unknown_driver_standby_and_unreachable_master(spark_cluster, spark_conn, httpserver):
    event = fire(SparkDriverTrigger(driver_id="driver-20200101000000-9999", conn_id="spark_cluster"))
    assert event["status"] == "error" and "does not know driver driver-20200101000000-9999" in event["message"]

    # several masters (HA): one that does not answer, and a standby (answering as Spark's Master does when it is
    # not ALIVE), are passed over for the alive one
    httpserver.expect_request(re.compile(r"/v1/submissions/status/.*")).respond_with_json(
        {
            "action": "SubmissionStatusResponse",
            "serverSparkVersion": "4.3.0",
            "submissionId": "driver-20200101000000-9999",
            "success": False,
            "message": "Exception from the cluster:\njava.lang.Exception: Current state is not alive: STANDBY. "
            "Can only request driver status in ALIVE state.",
        }
    )
    standby = httpserver.url_for("").rstrip("/")
    ha = SparkMasterRestHook(rest_urls=["http://127.0.0.1:9", standby, spark_cluster.rest_url])
    with pytest.raises(SparkDriverNotFound, match="does not know driver driver-20200101000000-9999"):
        ha.driver_status("driver-20200101000000-9999")
    assert len(httpserver.log) == 1

    hook = SparkMasterRestHook(rest_urls=["http://127.0.0.1:9"], retry_policy=None)
    trigger = SparkDriverTrigger(
        driver_id="driver-20200101000000-0001", rest_urls=hook.rest_urls, retry_budget=0.5, poll_interval=0.1
    )
    event = fire(trigger)
    assert event["status"] == "error" and "no alive Spark master" in event["message"]
