"""Ingest a drop folder into the lake, each file exactly once: wait for the producer's ``_SUCCESS``, land, archive.

``make_drop_files`` plays the producer: it writes a few gzipped CSV files of orders and then the ``_SUCCESS`` marker
into ``$AIRFLOW_HOME/drop/orders`` (or the folder in the DAG param ``drop``). The sensor waits (deferred, in the
triggerer) for the marker; the ingest lands the files' bytes in ``landing/drop/orders``, their rows in
``raw/drop/orders`` and the file ledger in ``landing/drop/orders.files``, all in one commit, then moves the files to
``archive``. Run the DAG twice: the second run's producer writes the same files again, and they are recognised
(same content) and only archived, not ingested twice.

Against a real server, point ``source`` at it and name the connection::

    FileToLakeOperator(
        task_id="land_orders",
        source="sftp:///outgoing/orders",      # or ftp://, ftps://, webhdfs://, s3://bucket/prefix, ...
        conn_id="partner_sftp",
        pattern="orders_*.csv.gz",
        min_age=timedelta(minutes=5),          # skip files still being uploaded
        dataset="orders",
        completion="move",
        archive_folder="/outgoing/orders/done",
    )
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, Param, task
from demo_samples import home, write_drop_files

from airflow_zaloni.operators.files import FileToLakeOperator
from airflow_zaloni.sensors.files import FilePatternSensor

DEFAULT_DROP = str(home() / "drop" / "orders")

with DAG(
    dag_id="zaloni_file_ingest",
    schedule="@daily",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    params={"drop": Param(DEFAULT_DROP, type="string", description="folder the producer writes to")},
    tags=["zaloni", "dca", "files"],
    doc_md=__doc__,
):

    @task
    def make_drop_files(params: dict[str, str] | None = None) -> list[str]:
        """Write three gzipped CSV files of orders and the ``_SUCCESS`` marker (the same bytes on every run)."""
        return write_drop_files(Path((params or {}).get("drop", DEFAULT_DROP)))

    wait = FilePatternSensor(
        task_id="wait_for_drop",
        source="{{ params.drop }}",
        pattern="orders_*.csv.gz",
        trigger_file="_SUCCESS",
        poke_interval=5,
        timeout=600,
    )

    land = FileToLakeOperator(
        task_id="land_orders",
        source="{{ params.drop }}",
        pattern="orders_*.csv.gz",
        dataset="orders",
        system="drop",
        schema={"order_id": "int64", "customer": "string", "amount": "decimal(9,2)", "currency": "string"},
        file_column="source_file",
        trigger_file="_SUCCESS",  # archived with the batch: the next batch brings a fresh one
        completion="move",
        archive_folder="{{ params.drop }}/../archive",
    )

    make_drop_files() >> wait >> land
