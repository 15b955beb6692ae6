"""A DAG whose sensor must defer: the files arrive while it waits (used by tests of FilePatternSensor)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_zaloni.sensors.files import FilePatternSensor

with DAG("files_deferred", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    FilePatternSensor(
        task_id="wait",
        source="{{ dag_run.conf['source'] }}",
        conn_id="{{ dag_run.conf.get('conn_id') or '' }}",
        pattern="*.csv",
        trigger_file="_SUCCESS",
        poke_interval=0.2,
        timeout=60,
    )
