"""Sensors waiting on YARN applications of the local RM server (the test passes the ids in the run's conf)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_zaloni.sensors.yarn import YarnApplicationSensor

with DAG("yarn_sensors", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    YarnApplicationSensor(
        task_id="by_id_deferred",
        application_id="{{ dag_run.conf['app_id'] }}",
        yarn_conn_id="yarn_sensor_test",
        poke_interval=0.05,
        timeout=20,
        retries=0,
    )
    YarnApplicationSensor(
        task_id="by_name_and_tags_poking",
        application_name="{{ dag_run.conf['name'] }}",
        application_tags=["{{ dag_run.conf['tag'] }}"],
        yarn_conn_id="yarn_sensor_test",
        deferrable=False,
        poke_interval=0.05,
        timeout=20,
        retries=0,
    )
