"""Ingests routed by queue to two edge nodes; the shared one can run on either (used by the deployment test)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import DAG

from airflow_zaloni.operators.base import LakeIngestOperator
from tests.sources_for_tests import CounterSource


class NodeCounterToLakeOperator(LakeIngestOperator):
    """Lands ids 1..upper; leaves a marker naming the try and the edge node that ran it."""

    default_system = "edge"

    def __init__(self, *, upper: int, batch_rows: int = 1000, delay: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.upper = upper
        self.batch_rows = batch_rows
        self.delay = delay

    def make_source(self, context, watermark):
        node = os.environ.get("ZALONI_EDGE_NODE", "unknown")
        markers = Path(os.environ["ZALONI_TEST_MARKERS"])
        (markers / f"{self.task_id}.try{context['ti'].try_number}.{node}").touch()
        return CounterSource(lower=watermark, upper=self.upper, batch_rows=self.batch_rows, delay=self.delay)


with DAG("edge_lake", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    mainframe = NodeCounterToLakeOperator(task_id="mainframe_ingest", queue="mainframe", dataset="small_a", upper=1000)
    warehouse = NodeCounterToLakeOperator(task_id="warehouse_ingest", queue="warehouse", dataset="small_b", upper=1000)
    shared = NodeCounterToLakeOperator(
        task_id="shared_ingest",
        queue="shared",
        dataset="big",
        upper=300_000,
        batch_rows=10_000,
        delay=0.5,
        retries=2,
        retry_delay=timedelta(seconds=2),
    )
    [mainframe, warehouse] >> shared
