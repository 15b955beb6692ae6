"""The whole lake in one DAG: every source lands into ``raw``, quality rules promote to ``trusted``, Spark refines.

This is what ``make demo`` runs, on the embedded defaults: the SQLite metadata DB, a lake folder, and sample data
made on the spot (``demo_samples.py``):

* ``land_drop_files`` -- a drop folder of gzipped CSV files (``FileToLakeOperator``: bytes to ``landing``, rows to
  ``raw/drop/orders``, each file exactly once, then archived);
* ``land_mainframe`` -- an EBCDIC file with its COBOL copybook (``MainframeToLakeOperator``: bytes to ``landing``,
  decoded rows to ``raw/mainframe/customers``, one commit);
* ``land_warehouse`` -- a SQLite warehouse table, incrementally (``SqlToLakeOperator``: only orders above the
  committed watermark);
* ``promote_orders`` -- the warehouse orders to ``trusted`` through data-quality rules, bad rows to
  ``trusted/warehouse/orders__quarantine``;
* ``refine_revenue`` -- a Spark job (local mode) over the drop-folder orders into ``refined/sales/customer_revenue``,
  committed by the operator through the lake's protocol; skipped with a message when pyspark is not installed;
* ``plan_spark_promotion`` -> ``promote_on_spark`` -> ``publish_spark_promotion`` -- the same data-quality rules run
  as a Spark job (the engine for data that does not fit one worker): the drop-folder orders to
  ``trusted/drop/orders`` and its quarantine, published in one commit once the job has succeeded;
* ``land_salesforce`` and ``land_twitter`` -- skipped with a message naming the connection to add
  (``salesforce_default``, ``twitter_default``) until you add it.
"""

from __future__ import annotations

import shutil
import sys
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task
from airflow.sdk.exceptions import AirflowSkipException
from demo_samples import (
    MAINFRAME_COPYBOOK,
    MAINFRAME_DATA,
    REFINE_JOB,
    SPARK_CONN_ID,
    WAREHOUSE_CONN_ID,
    define_demo_connections,
    grow_warehouse,
    home,
    warehouse_path,
    write_drop_files,
)

import airflow_zaloni.lake.promote_spark as promote_spark
from airflow_zaloni.operators.files import FileToLakeOperator
from airflow_zaloni.operators.mainframe import MainframeToLakeOperator
from airflow_zaloni.operators.promote import LakePromoteOperator
from airflow_zaloni.operators.salesforce import SalesforceToLakeOperator
from airflow_zaloni.operators.spark import SparkJobOperator
from airflow_zaloni.operators.twitter import TwitterToLakeOperator
from airflow_zaloni.operators.warehouse import SqlToLakeOperator
from airflow_zaloni.utils.connections import require_connection

define_demo_connections()
DROP = home() / "drop" / "orders"

ORDER_RULES = [
    {"rule": "not_null", "column": ["order_id", "customer_id"]},
    {"rule": "unique", "column": "order_id"},
    {"rule": "range", "column": "amount", "min": 1, "max": 10000},
    {"rule": "allowed_values", "column": "status", "values": ["new", "shipped", "returned"]},
]
DROP_RULES = [
    {"rule": "not_null", "column": ["order_id", "customer"]},
    {"rule": "range", "column": "amount", "min": 5},
    {"rule": "regex", "column": "customer", "pattern": "^C[0-9]{4}$"},
]


with DAG(
    dag_id="zaloni_lake_end_to_end",
    schedule="@daily",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    tags=["zaloni", "demo"],
    doc_md=__doc__,
):

    @task
    def make_samples(data_interval_start: datetime | None = None) -> dict[str, object]:
        """Stand in for the source systems: a drop folder and a warehouse that grows by a day of orders."""
        files = write_drop_files(DROP)
        warehouse = grow_warehouse(warehouse_path(), data_interval_start or datetime(2026, 11, 1))
        return {"drop_files": files, **warehouse}

    samples = make_samples()

    land_drop_files = FileToLakeOperator(
        task_id="land_drop_files",
        source=str(DROP),
        pattern="orders_*.csv.gz",
        dataset="orders",
        system="drop",
        schema={"order_id": "int64", "customer": "string", "amount": "decimal(9,2)", "currency": "string"},
        trigger_file="_SUCCESS",
        completion="move",
        archive_folder=str(DROP.parent / "archive"),
    )
    land_mainframe = MainframeToLakeOperator(
        task_id="land_mainframe",
        dataset="customers",
        path=str(MAINFRAME_DATA),
        copybook=str(MAINFRAME_COPYBOOK),
        options={"ebcdic_code_page": "cp037", "generate_corrupt_fields": "true"},
    )
    land_warehouse = SqlToLakeOperator(
        task_id="land_warehouse",
        conn_id=WAREHOUSE_CONN_ID,
        table="orders",
        dataset="orders",
        incremental_column="order_id",
        reconcile=True,
    )
    promote_orders = LakePromoteOperator(
        task_id="promote_orders",
        dataset="orders",
        system="warehouse",
        rules=ORDER_RULES,
        max_quarantined_fraction=0.2,
    )

    @task
    def check_spark() -> None:
        """The Spark step needs full pyspark (``pip install 'airflow-zaloni[spark]'``)."""
        import importlib.util

        if importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("pyspark.sql") is None:
            raise AirflowSkipException("pyspark is not installed: pip install 'airflow-zaloni[spark]' to run Spark")

    refine_revenue = SparkJobOperator(
        task_id="refine_revenue",
        application=str(REFINE_JOB),
        application_args=[
            "{{ ti.xcom_pull(task_ids='land_drop_files')['lake_root'] }}/raw/drop/orders/"
            "{{ ti.xcom_pull(task_ids='land_drop_files')['partition'] }}",
            "{lake_staging}",
        ],
        conn_id=SPARK_CONN_ID,
        name="zaloni-refine-revenue",
        conf={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2"},
        driver_memory="512m",
        lake_output="refined/sales/customer_revenue",
    )

    @task
    def plan_spark_promotion(ti: Any = None, run_id: str | None = None) -> dict[str, Any]:
        """Input files from the committed manifests, a fresh output folder for the job."""
        from airflow_zaloni import config
        from airflow_zaloni.lake import DatasetRef, Lake
        from airflow_zaloni.lake.promote import spark_spec

        landed = ti.xcom_pull(task_ids="land_drop_files")
        output = home() / "spark-promotion" / (run_id or "run").replace(":", "-").replace("+", "-")
        shutil.rmtree(output, ignore_errors=True)  # a retry starts from a clean folder
        return spark_spec(
            Lake(config.lake_root()),
            source=DatasetRef("raw", "drop", "orders"),
            partitions=[landed["partition"]],
            target=DatasetRef("trusted", "drop", "orders"),
            rules=DROP_RULES,
            output=str(output),
            max_quarantined_fraction=0.2,
        )

    @task.short_circuit
    def new_drop_files(ti: Any = None) -> bool:
        """The Spark steps read this run's raw partition of the drop folder: skip them when no new file landed
        (a second run over the same files lands nothing -- each file is ingested once)."""
        return bool((ti.xcom_pull(task_ids="land_drop_files") or {}).get("rows"))

    fresh_files = new_drop_files()
    spark_plan = plan_spark_promotion()
    promote_on_spark = SparkJobOperator(
        task_id="promote_on_spark",
        application=promote_spark.__file__,
        application_args=["{{ ti.xcom_pull(task_ids='plan_spark_promotion') | tojson }}"],
        conn_id=SPARK_CONN_ID,
        name="zaloni-promote-drop-orders",
        conf={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2"},
        env_vars={"PYSPARK_PYTHON": sys.executable},  # the driver imports the rules from this package
        driver_memory="512m",
    )

    @task
    def publish_spark_promotion(spec: dict[str, Any], run_id: str | None = None, ti: Any = None) -> dict[str, Any]:
        """Passing rows and quarantine in one commit, or nothing if the job reported a broken threshold."""
        from airflow.sdk import get_current_context

        from airflow_zaloni import config
        from airflow_zaloni.lake import Lake
        from airflow_zaloni.lake.promote import publish_spark_output
        from airflow_zaloni.operators.base import task_record

        return publish_spark_output(
            Lake(config.lake_root()),
            spec,
            run_id=run_id,
            try_number=getattr(ti, "try_number", None),
            task=task_record(get_current_context()),  # the Lake view links the partitions to this run and task
        )

    @task
    def check_salesforce() -> str:
        return require_connection("salesforce_default", "type 'salesforce' (username, password, security token)")

    @task
    def check_twitter() -> str:
        return require_connection("twitter_default", "type 'twitter' (a bearer token in the password field)")

    land_salesforce = SalesforceToLakeOperator(
        task_id="land_salesforce", salesforce_conn_id="salesforce_default", sobject="Account", dataset="accounts"
    )
    land_twitter = TwitterToLakeOperator(
        task_id="land_twitter",
        twitter_conn_id="twitter_default",
        endpoint="recent_search",
        query="from:ApacheAirflow -is:retweet",
        dataset="airflow_posts",
    )

    samples >> [land_drop_files, land_mainframe, land_warehouse]
    land_warehouse >> promote_orders
    spark_ready = check_spark()
    land_drop_files >> fresh_files
    [fresh_files, spark_ready] >> refine_revenue
    [fresh_files, spark_ready] >> spark_plan >> promote_on_spark >> publish_spark_promotion(spark_plan)
    check_salesforce() >> land_salesforce
    check_twitter() >> land_twitter
