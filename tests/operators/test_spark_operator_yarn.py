"""SparkJobOperator in YARN cluster mode, from the point where YARN has the application (local RM server).

No YARN can run here, so ``spark-submit --master yarn`` itself is not exercised; everything after it is: a retry
reattaching to the application through the RM REST API, the deferred wait, the report, the kill.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests.servers are redefined as test parameters)
from __future__ import annotations

import asyncio
import json

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_zaloni.operators.spark import SparkJobOperator
from airflow_zaloni.triggers.yarn import YarnApplicationTrigger
from tests.job_context import TaskStateStore, make_context
from tests.servers.yarn_rm import yarn_cluster, yarn_rm  # noqa: F401

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def conns(yarn_rm, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SPARK_YARN",
        json.dumps({"conn_type": "spark", "host": "yarn", "extra": {"deploy-mode": "cluster"}}),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_YARN_RM", json.dumps({"conn_type": "yarn", "host": yarn_rm.address, "login": "etl"})
    )


def operator() -> SparkJobOperator:
    return SparkJobOperator(
        task_id="refine",
        application="hdfs:///jobs/refine.py",
        conn_id="spark_yarn",
        yarn_conn_id="yarn_rm",
        poll_interval=0.01,
    )


def test_retry_reattaches_to_the_yarn_application_and_reports_it(conns, yarn_rm, yarn_cluster):
    app = yarn_cluster.add_app("refine", running_polls=2)
    store = TaskStateStore()
    store.set("spark_job_id", app.id)  # what the lost try had persisted after spark-submit
    context = make_context(store, try_number=2)

    op = operator()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, YarnApplicationTrigger) and trigger.application_ids == [app.id]
    assert trigger.kill_on_task_kill  # a user killing the deferred task kills the application
    assert context["ti"].xcoms["tracking_url"] == f"{yarn_rm.url}/cluster/app/{app.id}"

    event = asyncio.run(anext(trigger.run())).payload
    result = operator().execute_complete(context, event)
    (job,) = result["jobs"]
    assert (job["application_id"], job["state"], job["final_status"]) == (app.id, "FINISHED", "SUCCEEDED")
    assert job["memory_seconds"] > 0 and job["vcore_seconds"] > 0

    # a later try finds the application succeeded: nothing is submitted, the report comes back at once
    again = operator().execute(make_context(store, try_number=3))
    assert again["status"] == "success" and again["jobs"][0]["application_id"] == app.id


def test_on_kill_kills_the_application_through_the_rm(conns, yarn_cluster):
    app = yarn_cluster.add_app("refine", outcome=None)
    store = TaskStateStore()
    store.set("spark_job_id", app.id)
    op = operator()
    with pytest.raises(TaskDeferred):
        op.execute(make_context(store, try_number=2))
    op.on_kill()
    assert app.state == "KILLED" and app.kill_requests == ["etl"]
