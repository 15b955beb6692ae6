"""Publish a fan-out: the parts that mapped ingest tasks prepared, in one commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_zaloni import config
from airflow_zaloni.lake import DatasetRef, LakeError
from airflow_zaloni.operators.base import fanout_txn_id, lake_asset

if TYPE_CHECKING:
    from airflow.sdk import Context


class LakeCommitOperator(BaseOperator):
    """Commits the parts prepared by a mapped ingest task (``fanout=True``) of the same run, all or nothing.

    ::

        parts = SqlToLakeOperator.partial(task_id="orders_part", dataset="orders", ..., fanout=True).expand(
            split=plan_splits()
        )
        LakeCommitOperator(task_id="orders_commit", parts_task_id="orders_part", dataset="orders", system="warehouse")

    If a part is missing (a mapped instance failed for good), nothing is published and the error names it; a retry
    of this task after the part is re-run publishes everything once.

    :param parts_task_id: task id of the mapped ingest task whose parts to publish.
    :param dataset: dataset the parts were written to. (templated)
    :param zone: its zone. (templated)
    :param system: its system folder. (templated)
    :param lake_root: root of the lake; defaults to ``[zaloni] lake_root``. (templated)
    :param lake_conn_id: Airflow connection of the lake's store (an ``aws`` connection for ``s3://`` roots);
        defaults to ``[zaloni] lake_conn_id``. (templated)
    """

    template_fields: Sequence[str] = ("dataset", "zone", "system", "lake_root", "lake_conn_id")
    ui_color = "#aed6f1"

    def __init__(
        self,
        *,
        parts_task_id: str,
        dataset: str,
        system: str,
        zone: str = "raw",
        lake_root: str | None = None,
        lake_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("outlets", [lake_asset(zone, system, dataset)] if "{{" not in dataset else [])
        super().__init__(**kwargs)
        self.parts_task_id = parts_task_id
        self.dataset = dataset
        self.zone = zone
        self.system = system
        self.lake_root = lake_root
        self.lake_conn_id = lake_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        prepared = ti.xcom_pull(task_ids=self.parts_task_id)  # every map index of the mapped task
        if isinstance(prepared, dict):
            prepared = [prepared]
        prepared = [p for p in (prepared or []) if p]
        if not prepared:
            raise LakeError(f"task {self.parts_task_id!r} prepared no parts in run {context['run_id']}")
        ref = DatasetRef(self.zone, self.system, self.dataset)
        txn_id = fanout_txn_id(ti.dag_id, context["run_id"], ref)
        wrong = {p["txn_id"] for p in prepared} - {txn_id}
        if wrong:
            raise LakeError(f"parts of {self.parts_task_id!r} belong to {sorted(wrong)}, not to {txn_id} ({ref})")
        targets = sorted({(DatasetRef.parse(d["dataset"]), d["partition"]) for p in prepared for d in p["datasets"]})
        parts = sorted({p["part"] for p in prepared})
        lake = config.open_lake(self.lake_root, self.lake_conn_id)
        summary = lake.commit_parts(
            txn_id,
            targets,
            parts,
            run_id=context["run_id"],
            try_number=ti.try_number,
            producer=f"{type(self).__module__}.{type(self).__name__}",
        )
        rows = sum(d["rows"] or 0 for d in summary["datasets"])
        self.log.info("Committed %d part(s) of %s: %s rows (transaction %s)", len(parts), ref, f"{rows:,}", txn_id)
        return {"dataset": ref.key, "parts": len(parts), "rows": rows, **summary}
