"""A DAG that lands generated rows through the ingest base (used by tests of the base operator)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_zaloni.operators.base import LakeIngestOperator
from tests.sources_for_tests import CounterSource


class CounterToLakeOperator(LakeIngestOperator):
    default_system = "test"
    template_fields = (*LakeIngestOperator.template_fields, "upper")

    def __init__(self, *, upper: int | str, **kwargs):
        super().__init__(**kwargs)
        self.upper = upper

    def make_source(self, context, watermark):
        upper = int(self.upper)
        if self.watermark_upper is not None:
            upper = min(upper, int(self.watermark_upper))
        return CounterSource(lower=watermark, upper=upper, batch_rows=250)


with DAG("counter_ingest", schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False):
    CounterToLakeOperator(task_id="land", dataset="counter", upper="{{ dag_run.conf.get('upper', 1000) }}")
