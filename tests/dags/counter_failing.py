"""A DAG whose source raises in the middle of the stream (used to test that nothing is published)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_zaloni.operators.base import LakeIngestOperator
from tests.sources_for_tests import CounterSource


class FailingCounterToLakeOperator(LakeIngestOperator):
    default_system = "test"

    def make_source(self, context, watermark):
        return CounterSource(lower=watermark, upper=5000, batch_rows=500, fail_after=2000)


with DAG("counter_failing", schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False):
    FailingCounterToLakeOperator(task_id="land", dataset="counter")
