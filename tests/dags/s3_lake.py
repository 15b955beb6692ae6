"""Ingest, wait and promote on a lake on S3, reached through the lake's Airflow connection (tests/lake/test_s3_dag.py).

The ingest and the sensor name the connection (``lake_conn_id``, templated from the run's conf); the promotion names
only the root and takes the connection from ``[zaloni] lake_conn_id``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_zaloni.operators.promote import LakePromoteOperator
from airflow_zaloni.sensors.lake import LakeDatasetSensor
from tests.dags.counter_ingest import CounterToLakeOperator

ROOT = "{{ dag_run.conf['lake_root'] }}"

with DAG("s3_lake", schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False):
    land = CounterToLakeOperator(
        task_id="land",
        dataset="counter",
        upper="{{ dag_run.conf.get('upper', 1000) }}",
        lake_root=ROOT,
        lake_conn_id="{{ dag_run.conf['lake_conn_id'] }}",
    )
    wait = LakeDatasetSensor(
        task_id="wait",
        dataset="counter",
        system="test",
        lake_root=ROOT,
        lake_conn_id="{{ dag_run.conf['lake_conn_id'] }}",
        poke_interval=1,
        timeout=60,
    )
    promote = LakePromoteOperator(
        task_id="promote",
        dataset="counter",
        system="test",
        rules=[{"rule": "range", "column": "id", "min": 1, "max": 900}],
        lake_root=ROOT,
    )
    land >> wait >> promote
