"""LakePromoteOperator: move a dataset from one zone to the next through data-quality rules.

Thin glue around :func:`airflow_zaloni.lake.promote.promote`: it resolves the lake and the run's partition, passes
the (templated) rules, logs the counts, emits the Asset event of the promoted dataset and returns a small summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_zaloni import config
from airflow_zaloni.lake import DatasetRef, Lake, partition_of_run
from airflow_zaloni.lake.promote import QUARANTINE_SUFFIX, ChangeCapture, QualityError, promote
from airflow_zaloni.lake.quality import Rule
from airflow_zaloni.operators.base import lake_asset, task_record, templated

if TYPE_CHECKING:
    from airflow.sdk import Context


class LakePromoteOperator(BaseOperator):
    """Promote committed partitions of a dataset to the next zone, quarantining the rows that break the rules.

    The passing rows go to ``<to_zone>/<system>/<target_dataset>``, the failing rows to
    ``<to_zone>/<system>/<target_dataset>__quarantine`` (with ``_dq_failed_rules`` and ``_dq_partition``), both in
    one lake commit. With ``key`` the target keeps the latest row per key (change capture). A broken threshold fails
    the task without retries (the same data would fail again) and publishes nothing.

    :param dataset: name of the source dataset. (templated)
    :param system: source-system folder of the dataset, e.g. ``warehouse``. (templated)
    :param from_zone: zone read, ``raw`` by default. (templated)
    :param to_zone: zone written, ``trusted`` by default. (templated)
    :param target_dataset: name in ``to_zone``; the source name by default. (templated)
    :param rules: data-quality rules as dicts (``{"rule": "not_null", "column": "id"}``) or rule objects; see
        :mod:`airflow_zaloni.lake.quality`. (templated: strings inside the dicts are rendered)
    :param key: key column(s) for change capture; ``None`` promotes partition by partition. (templated)
    :param order_by: column(s) ordering the versions of a key (required with ``key``). (templated)
    :param delete_column: column marking deleted rows, e.g. ``IsDeleted``. (templated)
    :param delete_values: values of ``delete_column`` meaning deleted; default: the column is true. (templated)
    :param partitions: source partitions to promote; default the partition of the run's data interval. (templated)
    :param target_partition: with ``key``, the snapshot partition to write; default the last source partition.
        (templated)
    :param quarantine_dataset: name of the quarantine dataset in ``to_zone``; default ``<target>__quarantine``.
        (templated)
    :param max_quarantined_rows: fail when more rows of a partition are quarantined. (templated)
    :param max_quarantined_fraction: fail when a larger fraction (0..1) of a partition is quarantined. (templated)
    :param lake_root: root URI of the lake; defaults to ``[zaloni] lake_root``. (templated)
    :param lake_conn_id: Airflow connection of the lake's store (an ``aws`` connection for ``s3://`` roots);
        defaults to ``[zaloni] lake_conn_id``. (templated)
    :param memory_limit: memory limit of the single-node engine (DuckDB), e.g. ``"2GB"``. (templated)
    :param threads: threads of the single-node engine; default all cores.
    """

    template_fields: Sequence[str] = (
        "dataset",
        "system",
        "from_zone",
        "to_zone",
        "target_dataset",
        "rules",
        "key",
        "order_by",
        "delete_column",
        "delete_values",
        "partitions",
        "target_partition",
        "quarantine_dataset",
        "max_quarantined_rows",
        "max_quarantined_fraction",
        "lake_root",
        "lake_conn_id",
        "memory_limit",
    )
    template_fields_renderers = {"rules": "json"}
    ui_color = "#d5f5e3"

    def __init__(
        self,
        *,
        dataset: str,
        system: str,
        from_zone: str = "raw",
        to_zone: str = "trusted",
        target_dataset: str | None = None,
        rules: Sequence[Rule | Mapping[str, Any]] = (),
        key: str | Sequence[str] | None = None,
        order_by: str | Sequence[str] | None = None,
        delete_column: str | None = None,
        delete_values: Sequence[Any] | None = None,
        partitions: str | Sequence[str] | None = None,
        target_partition: str | None = None,
        quarantine_dataset: str | None = None,
        max_quarantined_rows: int | str | None = None,
        max_quarantined_fraction: float | str | None = None,
        lake_root: str | None = None,
        lake_conn_id: str | None = None,
        memory_limit: str | None = "1GB",
        threads: int | None = None,
        **kwargs: Any,
    ) -> None:
        target_name = target_dataset or dataset
        if "outlets" not in kwargs and not templated(target_name, to_zone, system):
            kwargs["outlets"] = [lake_asset(to_zone, system, target_name)]
        if "inlets" not in kwargs and not templated(dataset, from_zone, system):
            kwargs["inlets"] = [lake_asset(from_zone, system, dataset)]
        super().__init__(**kwargs)
        if key is None and (order_by or delete_column):
            raise ValueError(f"{self.task_id}: order_by and delete_column need key (change capture)")
        self.dataset = dataset
        self.system = system
        self.from_zone = from_zone
        self.to_zone = to_zone
        self.target_dataset = target_dataset
        # Rule objects become their dict form so that Airflow renders the strings inside them.
        self.rules = [r.to_dict() if isinstance(r, Rule) else dict(r) for r in rules]
        self.key = key
        self.order_by = order_by
        self.delete_column = delete_column
        self.delete_values = delete_values
        self.partitions = partitions
        self.target_partition = target_partition
        self.quarantine_dataset = quarantine_dataset
        self.max_quarantined_rows = max_quarantined_rows
        self.max_quarantined_fraction = max_quarantined_fraction
        self.lake_root = lake_root
        self.lake_conn_id = lake_conn_id
        self.memory_limit = memory_limit
        self.threads = threads

    @property
    def source_ref(self) -> DatasetRef:
        return DatasetRef(self.from_zone, self.system, self.dataset)

    @property
    def target_ref(self) -> DatasetRef:
        return DatasetRef(self.to_zone, self.system, self.target_dataset or self.dataset)

    @property
    def quarantine_ref(self) -> DatasetRef:
        name = self.quarantine_dataset or f"{self.target_ref.name}{QUARANTINE_SUFFIX}"
        return DatasetRef(self.to_zone, self.system, name)

    def get_lake(self) -> Lake:
        return config.open_writing_lake(self.lake_root, self.lake_conn_id)

    def _partitions(self, context: Context) -> list[str]:
        if self.partitions:
            parts = self.partitions.split(",") if isinstance(self.partitions, str) else list(self.partitions)
            return [p.strip() for p in parts if p.strip()]
        return [partition_of_run(context)]

    def _change_capture(self) -> ChangeCapture | None:
        if not self.key:
            return None
        return ChangeCapture(
            key=[self.key] if isinstance(self.key, str) else list(self.key),
            order_by=[self.order_by] if isinstance(self.order_by, str) else list(self.order_by or []),
            delete_column=self.delete_column,
            delete_values=list(self.delete_values) if self.delete_values is not None else None,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        lake = self.get_lake()
        ti = context.get("ti")
        reference_time = context.get("data_interval_end") or context.get("logical_date")
        try:
            report = promote(
                lake,
                source=self.source_ref,
                partitions=self._partitions(context),
                target=self.target_ref,
                rules=self.rules,
                cdc=self._change_capture(),
                target_partition=self.target_partition or None,
                quarantine=self.quarantine_ref,
                max_quarantined_rows=None
                if self.max_quarantined_rows in (None, "")
                else int(self.max_quarantined_rows),
                max_quarantined_fraction=(
                    None if self.max_quarantined_fraction in (None, "") else float(self.max_quarantined_fraction)
                ),
                reference_time=reference_time,
                run_id=context.get("run_id"),
                try_number=getattr(ti, "try_number", None),
                producer=f"{type(self).__module__}.{type(self).__name__}",
                task=task_record(context),
                memory_limit=self.memory_limit,
                threads=self.threads,
                progress=self.log.info,
            )
        except QualityError as exc:
            self.log.error("Data-quality report: %s", _short(exc.report))
            # The same data would break the same threshold on a retry: fail without retrying.
            raise AirflowFailException(str(exc)) from exc
        summary = _short(report)
        self.log.info(
            "Promoted %s -> %s: %s rows in, %s passed, %s quarantined to %s (transaction %s)",
            report["source"],
            report["target"],
            f"{report['rows_in']:,}",
            f"{report['passed']:,}",
            f"{report['quarantined']:,}",
            report["quarantine"],
            report["txn_id"],
        )
        for name, failed in report["failed_by_rule"].items():
            if failed:
                self.log.info("  rule %s: %s rows", name, f"{failed:,}")
        self._emit_asset_event(context, summary)
        return summary

    def _emit_asset_event(self, context: Context, summary: dict[str, Any]) -> None:
        events = context.get("outlet_events")
        target = lake_asset(self.to_zone, self.system, self.target_ref.name)
        if events is None or not any(isinstance(o, Asset) and o.uri == target.uri for o in self.outlets):
            return
        try:
            events[target].extra = {
                k: summary[k] for k in ("partitions", "rows_in", "passed", "quarantined", "txn_id") if k in summary
            }
        except Exception as exc:  # an event without extra is still an event
            self.log.debug("could not attach extra to the asset event of %s: %s", target.uri, exc)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Input: the source dataset; outputs: the target and its quarantine. Never fails the task."""
        try:
            from airflow.providers.common.compat.openlineage.facet import Dataset
            from airflow.providers.openlineage.extractors import OperatorLineage

            namespace = self.lake_root or config.lake_root()
            return OperatorLineage(
                inputs=[Dataset(namespace=namespace, name=self.source_ref.key)],
                outputs=[Dataset(namespace=namespace, name=r.key) for r in (self.target_ref, self.quarantine_ref)],
            )
        except Exception as exc:
            self.log.info("OpenLineage facets not produced: %s", exc)
            return None


def _short(report: Mapping[str, Any]) -> dict[str, Any]:
    """The XCom summary: counts without the per-partition detail (that is in the manifests)."""
    keys = (
        "source",
        "target",
        "quarantine",
        "partitions",
        "target_partitions",
        "rows_in",
        "passed",
        "quarantined",
        "failed_by_rule",
        "cdc_counts",
        "failures",
        "txn_id",
        "seconds",
    )
    out = {k: report[k] for k in keys if k in report}
    checks = {
        name: check["passed"] for p in report.get("by_partition", []) for name, check in p.get("checks", {}).items()
    }
    if checks:
        out["dataset_checks_passed"] = checks
    return out
