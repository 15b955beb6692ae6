"""SparkJobOperator with ``spark-submit --master yarn --deploy-mode cluster`` on the real local Hadoop's YARN."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_zaloni.hooks.yarn import YarnHook
from airflow_zaloni.operators.spark import SparkJobOperator
from tests.job_context import TaskStateStore, make_context
from tests.servers.spark import spark_home

pytestmark = [pytest.mark.hadoop, pytest.mark.slow, pytest.mark.timeout(280)]

# YARN cluster mode wants the application to create a SparkContext (else "User did not initialize spark context!")
_JOB = """
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
public class ZaloniYarnJob {
    public static void main(String[] args) throws Exception {
        JavaSparkContext sc = new JavaSparkContext(new SparkConf());
        Thread.sleep(Long.parseLong(args[0]));
        sc.stop();
    }
}
"""


@pytest.fixture(scope="module")
def job_jar(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("yarn-job")
    (work / "ZaloniYarnJob.java").write_text(_JOB)
    cp = f"{spark_home() / 'jars'}/*"
    subprocess.run(["javac", "-cp", cp, "-d", str(work), str(work / "ZaloniYarnJob.java")], check=True)
    subprocess.run(["jar", "cf", str(work / "job.jar"), "-C", str(work), "ZaloniYarnJob.class"], check=True)
    return work / "job.jar"


@pytest.fixture
def spark_on_yarn(hadoop_cluster, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_YARN_DEFAULT", hadoop_cluster.yarn_conn_uri)
    monkeypatch.setenv(
        "AIRFLOW_CONN_SPARK_YARN",
        json.dumps({"conn_type": "spark", "host": "yarn", "extra": {"deploy-mode": "cluster"}}),
    )
    return hadoop_cluster


def operator(cluster, jar: Path, millis: int) -> SparkJobOperator:
    yarn_jar = cluster.env["SPARK_YARN_JAR"]
    return SparkJobOperator(
        task_id="spark_on_yarn",
        application=str(jar),
        java_class="ZaloniYarnJob",
        application_args=[str(millis)],
        conn_id="spark_yarn",
        conf={
            # the same machine: Spark's jars are where the containers run, nothing is uploaded
            "spark.yarn.jars": f"local:{spark_home() / 'jars'}/*,local:{yarn_jar}",
            "spark.driver.memoryOverhead": "256m",
            "spark.executor.memoryOverhead": "256m",
        },
        env_vars={
            **cluster.env,
            "SPARK_HOME": str(spark_home()),
            "SPARK_DIST_CLASSPATH": yarn_jar,  # spark-submit's own classpath gets Spark's YARN client
            "SPARK_LOCAL_IP": "127.0.0.1",
        },
        driver_memory="512m",
        executor_memory="512m",
        num_executors=1,
        poll_interval=1,
    )


def fire(trigger) -> dict:
    return asyncio.run(anext(trigger.run())).payload


def test_cluster_mode_defers_reattaches_and_reports(spark_on_yarn, job_jar):
    store = TaskStateStore()
    context = make_context(store)
    with pytest.raises(TaskDeferred) as deferred:
        operator(spark_on_yarn, job_jar, 15000).execute(context)
    (app_id,) = deferred.value.trigger.application_ids
    before = len(YarnHook().list_applications())

    # the worker is lost: the retry reattaches to the running application instead of submitting again
    retry = make_context(store, try_number=2)
    with pytest.raises(TaskDeferred) as again:
        operator(spark_on_yarn, job_jar, 15000).execute(retry)
    assert again.value.trigger.application_ids == [app_id]
    assert len(YarnHook().list_applications()) == before

    result = operator(spark_on_yarn, job_jar, 15000).execute_complete(retry, fire(again.value.trigger))
    assert result["status"] == "success"
    (job,) = result["jobs"]
    assert (job["state"], job["final_status"], job["application_type"]) == ("FINISHED", "SUCCEEDED", "SPARK")
    assert job["memory_seconds"] > 0


def test_killing_the_deferred_task_kills_the_spark_application(spark_on_yarn, job_jar):
    with pytest.raises(TaskDeferred) as deferred:
        operator(spark_on_yarn, job_jar, 600000).execute(make_context(TaskStateStore()))
    trigger = deferred.value.trigger
    (app_id,) = trigger.application_ids
    asyncio.run(trigger.on_kill())
    event = fire(type(trigger)(application_ids=[app_id], poll_interval=1, retry_budget=60))
    assert event["status"] == "killed" and event["jobs"][0]["state"] == "KILLED"
