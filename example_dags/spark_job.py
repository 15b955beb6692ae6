"""Ingest orders into the raw zone, refine them with Spark into the refined zone, then check the result.

The Spark job (``jobs/refine_orders.py``) reads the committed raw partition and writes Parquet into the lake's
staging area for the refined dataset; ``SparkJobOperator(lake_output=...)`` commits that partition once the job has
succeeded, through the same commit protocol as every ingest (manifest, checksums, all or nothing). A failed or
killed job publishes nothing.

The ``spark_local`` connection runs Spark in local mode inside the task (``make demo`` defines it). Point it at a
cluster to let go of the worker while the job runs::

    AIRFLOW_CONN_SPARK_LOCAL='{"conn_type": "spark", "host": "spark://master", "port": 6066,
                               "extra": {"deploy-mode": "cluster", "rest-port": 6066}}'

(on a cluster, the job must see the lake under the same path, or set ``lake_path_prefix``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
from airflow.sdk import DAG, Param, task

from airflow_zaloni.operators.base import LakeIngestOperator
from airflow_zaloni.operators.spark import SparkJobOperator

JOB = str(Path(__file__).resolve().parent / "jobs" / "refine_orders.py")
ORDERS = pa.schema([("order_id", pa.int64()), ("customer", pa.string()), ("amount", pa.decimal128(10, 2))])


class DemoOrdersSource:
    """``rows`` orders of 50 customers, the same on every run (a stand-in for a real source system)."""

    def __init__(self, rows: int) -> None:
        self.rows = rows

    schema = ORDERS
    cursor = None

    def describe(self) -> dict[str, Any]:
        return {"system": "demo", "name": "orders", "rows": self.rows}

    def batches(self) -> Iterator[pa.RecordBatch]:
        rng = random.Random(7)
        ids = list(range(self.rows))
        customers = [f"C{rng.randrange(50):03d}" for _ in ids]
        amounts = [Decimal(rng.randrange(100, 50000)) / 100 for _ in ids]
        yield pa.record_batch([ids, customers, amounts], schema=ORDERS)


class DemoOrdersToLakeOperator(LakeIngestOperator):
    default_system = "demo"

    def make_source(self, context: Any, watermark: Any) -> DemoOrdersSource:
        return DemoOrdersSource(rows=int(context["params"]["rows"]))


with DAG(
    dag_id="zaloni_spark_job",
    schedule="@daily",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    params={
        "rows": Param(5000, type="integer", description="orders to ingest"),
        "job": Param(JOB, type="string", description="the PySpark job file"),
    },
    tags=["zaloni", "wfe", "spark"],
    doc_md=__doc__,
):
    ingest = DemoOrdersToLakeOperator(task_id="ingest_orders", dataset="orders")

    refine = SparkJobOperator(
        task_id="refine_revenue",
        application="{{ params.job }}",
        application_args=[
            "{{ ti.xcom_pull(task_ids='ingest_orders')['lake_root'] }}/raw/demo/orders/"
            "{{ ti.xcom_pull(task_ids='ingest_orders')['partition'] }}",
            "{lake_staging}",
        ],
        conn_id="spark_local",
        name="zaloni-refine-orders",
        conf={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2"},
        driver_memory="512m",
        lake_output="refined/sales/customer_revenue",
    )

    @task
    def check_refined(refined: dict[str, Any]) -> dict[str, Any]:
        """Downstream: read the committed refined partition back and verify it against its manifest."""
        from airflow_zaloni import config
        from airflow_zaloni.lake import DatasetRef, Lake

        lake = Lake(config.lake_root())
        ref = DatasetRef("refined", "sales", "customer_revenue")
        (committed,) = refined["lake"]["datasets"]
        table = lake.read_table(ref, committed["partition"])
        problems = lake.verify([ref])
        if problems:
            raise ValueError(f"refined dataset does not match its manifest: {problems}")
        total_orders = sum(table.column("orders").to_pylist())
        print(f"{table.num_rows} customers, {total_orders} orders in {ref} {committed['partition']}")
        return {"customers": table.num_rows, "orders": total_orders, "partition": committed["partition"]}

    ingest >> refine >> check_refined(refine.output)
