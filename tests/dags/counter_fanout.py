"""A fan-out: three mapped ingest tasks each land a range of ids; one commit task publishes them together."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from airflow_zaloni.operators.base import LakeIngestOperator
from airflow_zaloni.operators.commit import LakeCommitOperator
from tests.sources_for_tests import CounterSource


class RangeToLakeOperator(LakeIngestOperator):
    default_system = "test"
    template_fields = (*LakeIngestOperator.template_fields, "split")

    def __init__(self, *, split, **kwargs):
        super().__init__(**kwargs)
        self.split = split

    def make_source(self, context, watermark):
        lower, upper = self.split
        return CounterSource(lower=lower, upper=upper, batch_rows=400)


with DAG("counter_fanout", schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False):

    @task
    def plan_splits() -> list[list[int]]:
        return [[0, 1000], [1000, 2500], [2500, 3000]]

    parts = RangeToLakeOperator.partial(task_id="land_part", dataset="fanned", fanout=True).expand(split=plan_splits())
    parts >> LakeCommitOperator(task_id="commit", parts_task_id="land_part", dataset="fanned", system="test")
