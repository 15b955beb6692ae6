"""HadoopJarOperator with a stand-in ``hadoop`` command that submits to the local ResourceManager server."""

# ruff: noqa: F811  (pytest fixtures imported from tests.servers are redefined as test parameters)
from __future__ import annotations

import asyncio
import json

import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from airflow_zaloni.operators.hadoop import HadoopJarOperator, application_ids
from airflow_zaloni.triggers.yarn import YarnApplicationTrigger
from tests.job_context import TaskStateStore, make_context
from tests.servers import fake_hadoop
from tests.servers.yarn_rm import yarn_cluster, yarn_rm  # noqa: F401

pytestmark = pytest.mark.timeout(60)

TRICKY_ARGS = ["/data/in put", "$HOME;rm -rf /", "it's", "--flag=a b"]


@pytest.fixture
def hadoop(tmp_path, yarn_rm, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_YARN_JOBS", json.dumps({"conn_type": "yarn", "host": yarn_rm.address, "login": "etl"})
    )
    monkeypatch.setenv("FAKE_HADOOP_RM", yarn_rm.url)
    monkeypatch.setenv("FAKE_HADOOP_ARGV", str(tmp_path / "argv.json"))
    return fake_hadoop.install(tmp_path / "bin")


def make(hadoop, **kwargs) -> HadoopJarOperator:
    defaults = {
        "task_id": "wordcount",
        "jar": "/opt/jobs/wordcount.jar",
        "main_class": "org.example.WordCount",
        "arguments": TRICKY_ARGS,
        "properties": {"mapreduce.job.queuename": "etl"},
        "hadoop_binary": str(hadoop),
        "yarn_conn_id": "yarn_jobs",
        "poll_interval": 0.01,
    }
    return HadoopJarOperator(**{**defaults, **kwargs})


def fire(trigger: YarnApplicationTrigger) -> dict:
    return asyncio.run(anext(trigger.run())).payload


def test_runs_argument_list_waits_for_each_application_and_reattaches(hadoop, yarn_cluster, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_HADOOP_APPS", "2")
    store = TaskStateStore()
    context = make_context(store)
    with pytest.raises(TaskDeferred) as deferred:
        make(hadoop).execute(context)

    argv = json.loads((tmp_path / "argv.json").read_text())
    assert argv == [
        "jar",
        "/opt/jobs/wordcount.jar",
        "org.example.WordCount",
        "-Dmapreduce.job.queuename=etl",
        *TRICKY_ARGS,
    ]
    ids = sorted(yarn_cluster.apps)
    assert deferred.value.trigger.application_ids == ids == store.get("yarn_application_ids")
    assert context["ti"].xcoms["tracking_url"].endswith(f"/cluster/app/{ids[0]}")

    # the worker is lost; the retry reattaches to the running applications and does not run the jar again
    (tmp_path / "argv.json").unlink()
    retry = make_context(store, try_number=2)
    with pytest.raises(TaskDeferred) as again:
        make(hadoop).execute(retry)
    assert again.value.trigger.application_ids == ids and not (tmp_path / "argv.json").exists()

    event = fire(again.value.trigger)
    result = make(hadoop).execute_complete(retry, event)
    assert result["status"] == "success"
    assert [j["application_id"] for j in result["jobs"]] == ids
    assert all(j["final_status"] == "SUCCEEDED" and j["vcore_seconds"] > 0 for j in result["jobs"])
    assert len(yarn_cluster.apps) == 2


def test_failed_application_fails_the_task_with_diagnostics(hadoop, yarn_rm):
    yarn_rm.submitted_outcome = "FAILED"
    yarn_rm.submitted_diagnostics = "Task failed task_1_0001_m_000000: java.lang.OutOfMemoryError"
    context = make_context()
    with pytest.raises(AirflowException, match=r"FAILED/FAILED: Task failed .*OutOfMemoryError"):
        make(hadoop, deferrable=False).execute(context)
    assert context["ti"].xcoms["job_status"]["jobs"][0]["diagnostics"].endswith("OutOfMemoryError")


def test_bad_runs_give_clear_errors(hadoop, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_HADOOP_EXIT", "2")
    with pytest.raises(
        AirflowException, match=r"(?s)exited with code 2 \(YARN applications seen: \['application_.*Job failed!"
    ):
        make(hadoop).execute(make_context())

    monkeypatch.setenv("FAKE_HADOOP_EXIT", "0")
    monkeypatch.setenv("FAKE_HADOOP_APPS", "0")
    with pytest.raises(AirflowException, match="ended without printing a YARN application id"):
        make(hadoop).execute(make_context())
    result = make(hadoop, require_application=False).execute(make_context())
    assert result == {"status": "success", "jobs": []}

    with pytest.raises(AirflowException, match="cannot run '/nonexistent/hadoop'"):
        make(hadoop, hadoop_binary="/nonexistent/hadoop").execute(make_context())


def test_application_ids_from_output():
    lines = [
        "INFO mapreduce.JobSubmitter: Submitting tokens for job: job_1700000000000_0007",
        "INFO impl.YarnClientImpl: Submitted application application_1700000000000_0007",
        "INFO impl.YarnClientImpl: Submitted application application_1700000000000_0008",
        "some other application_x_y text",
    ]
    assert application_ids(lines) == ["application_1700000000000_0007", "application_1700000000000_0008"]
