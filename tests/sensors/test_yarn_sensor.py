"""YarnApplicationSensor: deferred and poking, in a real DAG run (dag.test) against the local RM server."""

# ruff: noqa: F811  (pytest fixtures imported from tests.servers are redefined as test parameters)
from __future__ import annotations

import asyncio
import json

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, TaskDeferred

from airflow_zaloni.sensors.yarn import YarnApplicationSensor
from airflow_zaloni.triggers.yarn import YarnApplicationTrigger
from tests.airflow_helpers import run_dag
from tests.servers.yarn_rm import yarn_cluster, yarn_rm  # noqa: F401

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def conn(yarn_rm, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_YARN_SENSOR_TEST", json.dumps({"conn_type": "yarn", "host": yarn_rm.address, "login": "etl"})
    )
    return "yarn_sensor_test"


def xcoms(dag_run, task_id: str) -> dict:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(run_id=dag_run.run_id, task_id=task_id).all()
        return {r.key: XComModel.deserialize_value(r) for r in rows}


def states(dag_run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


class _TI:
    """Airflow's task instance, for the one call execute_complete makes on it (xcom_push)."""

    def __init__(self) -> None:
        self.xcoms: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.xcoms[key] = value


def test_sensors_report_success_to_xcom_and_link(airflow_db, yarn_rm, yarn_cluster, conn):
    app = yarn_cluster.add_app("nightly-refine", running_polls=2)
    tagged = yarn_cluster.add_app("nightly-refine", tags=["run-7"], running_polls=1)
    dag_run = run_dag("tests/dags/yarn_sensors.py", conf={"app_id": app.id, "name": "nightly-refine", "tag": "run-7"})

    assert states(dag_run) == {"by_id_deferred": "success", "by_name_and_tags_poking": "success"}
    deferred = xcoms(dag_run, "by_id_deferred")
    assert deferred["return_value"]["status"] == "success"
    (job,) = deferred["return_value"]["jobs"]
    assert (job["application_id"], job["state"], job["final_status"]) == (app.id, "FINISHED", "SUCCEEDED")
    assert job["memory_seconds"] > 0 and job["elapsed_seconds"] >= 0
    assert deferred["tracking_url"] == f"{yarn_rm.url}/proxy/{app.id}/"
    assert deferred["_link_JobTrackingLink"] == deferred["tracking_url"]  # the task's extra link, as Airflow stored it
    poked = xcoms(dag_run, "by_name_and_tags_poking")
    assert poked["return_value"]["jobs"][0]["application_id"] == tagged.id


def test_failed_application_fails_the_sensor_with_diagnostics(airflow_db, yarn_cluster, conn):
    app = yarn_cluster.add_app("x", outcome="FAILED", diagnostics="Container exited with a non-zero exit code 13")
    other = yarn_cluster.add_app("y", tags=["t"], outcome="KILLED")
    dag_run = run_dag("tests/dags/yarn_sensors.py", conf={"app_id": app.id, "name": "y", "tag": "t"})
    assert states(dag_run) == {"by_id_deferred": "failed", "by_name_and_tags_poking": "failed"}
    failed = xcoms(dag_run, "by_id_deferred")["job_status"]
    assert failed["status"] == "failed" and "exit code 13" in failed["jobs"][0]["diagnostics"]
    assert xcoms(dag_run, "by_name_and_tags_poking")["job_status"]["jobs"][0]["application_id"] == other.id


def test_deferred_sensor_times_out(yarn_cluster, conn):
    app = yarn_cluster.add_app(outcome=None)
    sensor = YarnApplicationSensor(
        task_id="t", application_id=app.id, yarn_conn_id=conn, poke_interval=0.05, timeout=0.3
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, YarnApplicationTrigger) and deferred.value.method_name == "execute_complete"
    event = asyncio.run(anext(trigger.run())).payload
    with pytest.raises(AirflowSensorTimeout, match=f"timed out waiting for YARN application\\(s\\) {app.id}"):
        sensor.execute_complete({"ti": _TI()}, event)


def test_killed_application_fails_a_deferred_sensor(yarn_cluster, conn):
    app = yarn_cluster.add_app(outcome=None)
    app.kill("ops")
    sensor = YarnApplicationSensor(task_id="t", application_id=app.id, yarn_conn_id=conn, poke_interval=0.01)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    event = asyncio.run(anext(deferred.value.trigger.run())).payload
    ti = _TI()
    with pytest.raises(AirflowException, match="KILLED/KILLED: Application killed by user ops"):
        sensor.execute_complete({"ti": ti}, event)
    assert ti.xcoms["tracking_url"].endswith(f"/proxy/{app.id}/")


def test_needs_an_id_or_a_name():
    with pytest.raises(ValueError, match="give application_id, or application_name"):
        YarnApplicationSensor(task_id="nothing")
