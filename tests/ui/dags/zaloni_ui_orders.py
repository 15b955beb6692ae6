"""The DAG that the browser test triggers from the UI: one table of a SQLite warehouse into the lake.

The test writes the warehouse file and defines the connection ``zaloni_ui_warehouse`` in the environment of the
Airflow processes, so the DAG itself is the two lines a user would write.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_zaloni.operators.warehouse import SqlToLakeOperator

with DAG(
    dag_id="zaloni_ui_orders",
    schedule=None,
    start_date=datetime(2026, 11, 1),
    catchup=False,
    tags=["zaloni", "dca", "warehouse"],
):
    SqlToLakeOperator(task_id="land_orders", conn_id="zaloni_ui_warehouse", table="orders", dataset="orders")
