"""The ingest base: the one place where an operator wires a hook, a source and the lake writer.

Every ingest operator takes ``dataset``, ``zone`` (default ``raw``), ``system``, ``lake_root`` (default
``[zaloni] lake_root``) and ``lake_conn_id`` (default ``[zaloni] lake_conn_id``) the same way, writes the partition of
the run's data interval in one transaction, emits an Asset event for the dataset, returns a small XCom summary and
reports OpenLineage facets (guarded: lineage never fails a task).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator

from airflow_zaloni import config
from airflow_zaloni.lake import DatasetRef, Lake, LakeWriter, Transaction, partition_of_run
from airflow_zaloni.utils.progress import ProgressLogger

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_zaloni.sources.base import Source


def lake_asset(zone: str, system: str, dataset: str) -> Asset:
    """The Airflow Asset that stands for a lake dataset (whatever the lake's root)."""
    return Asset(name=f"zaloni/{zone}/{system}/{dataset}", uri=f"zaloni://lake/{zone}/{system}/{dataset}")


def fanout_txn_id(dag_id: str, run_id: str, ref: DatasetRef) -> str:
    """The shared transaction of a fan-out: the same for every mapped part and the commit task of one run."""
    digest = hashlib.sha256(f"{dag_id}\0{run_id}\0{ref.key}".encode()).hexdigest()[:20]
    return f"fanout-{digest}"


def task_record(context: Context) -> dict[str, Any]:
    """Which Airflow task wrote a partition, for its manifest's ``extra.airflow`` (the Lake view links to it)."""
    ti = context.get("ti")
    record: dict[str, Any] = {
        "dag_id": getattr(ti, "dag_id", None),
        "task_id": getattr(ti, "task_id", None),
        "map_index": getattr(ti, "map_index", -1),
    }
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is not None and end is not None:
        record["data_interval"] = [start.isoformat(), end.isoformat()]
    return record


def templated(*values: Any) -> bool:
    """Whether any of ``values`` is a Jinja template, known only when the task runs (so no Asset can name it yet)."""
    return any(isinstance(v, str) and "{{" in v for v in values)


class LakeIngestOperator(BaseOperator):
    """Base class of every ``<Source>ToLakeOperator``.

    A subclass implements :meth:`make_source` for one dataset, or overrides :meth:`ingest` to land several datasets
    in one commit (calling :meth:`land` for each). The partition replaced is the one of the run's data interval, so a
    re-run lands the same data again instead of appending it.

    :param dataset: name of the dataset in the lake. (templated)
    :param zone: zone to write, ``raw`` by default. (templated)
    :param system: source-system folder of the dataset; defaults to the operator's ``default_system``. (templated)
    :param lake_root: root URI of the lake; defaults to ``[zaloni] lake_root``. (templated)
    :param lake_conn_id: Airflow connection of the lake's store (an ``aws`` connection for ``s3://`` roots);
        defaults to ``[zaloni] lake_conn_id``. (templated)
    :param partition: partition to write (``key=value``); defaults to one derived from the data interval. (templated)
    :param fanout: set on a mapped task (``.partial(..., fanout=True).expand(...)``): each mapped instance prepares
        its part of one shared transaction and a :class:`~airflow_zaloni.operators.commit.LakeCommitOperator`
        downstream publishes all parts in one commit.
    """

    template_fields: Sequence[str] = ("dataset", "zone", "system", "lake_root", "lake_conn_id", "partition")
    ui_color = "#d6eaf8"
    #: Folder under the zone that groups this operator's datasets, e.g. ``mainframe`` or ``warehouse``.
    default_system: str = "files"

    def __init__(
        self,
        *,
        dataset: str,
        zone: str = "raw",
        system: str | None = None,
        lake_root: str | None = None,
        lake_conn_id: str | None = None,
        partition: str | None = None,
        fanout: bool = False,
        **kwargs: Any,
    ) -> None:
        system = system or self.default_system
        if fanout:
            kwargs.setdefault("outlets", [])  # the commit task announces the dataset, not each part
        if "outlets" not in kwargs and not templated(dataset, zone, system):
            kwargs["outlets"] = [lake_asset(zone, system, dataset)]
        super().__init__(**kwargs)
        self.dataset = dataset
        self.zone = zone
        self.system = system
        self.lake_root = lake_root
        self.lake_conn_id = lake_conn_id
        self.partition = partition
        self.fanout = fanout
        self._file_prefix = "part"
        #: Upper bound of an incremental re-run (see :meth:`Lake.incremental_window`); ``None`` means open.
        self.watermark_upper: Any = None
        self._summary: dict[str, Any] = {}
        self._sources: list[dict[str, Any]] = []
        self._task_record: dict[str, Any] = {}

    # -- what subclasses implement ------------------------------------------------------------------------------------
    def make_source(self, context: Context, watermark: Any) -> Source:
        """The source of the dataset; ``watermark`` is the exclusive lower bound of an incremental read."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_source() or ingest()")

    def ingest(self, txn: Transaction, context: Context, partition: str) -> None:
        """Write the run's data into ``txn``; the default lands :meth:`make_source` into :attr:`dataset_ref`."""
        ref = self.dataset_ref
        lower, self.watermark_upper = txn.lake.incremental_window(ref, partition)
        self.land(txn, ref, partition, self.make_source(context, lower), watermark_before=lower)

    # -- helpers for subclasses -----------------------------------------------------------------------------------
    @property
    def dataset_ref(self) -> DatasetRef:
        return DatasetRef(self.zone, self.system, self.dataset)

    def get_lake(self) -> Lake:
        return config.open_writing_lake(self.lake_root, self.lake_conn_id)

    def land(
        self,
        txn: Transaction,
        ref: DatasetRef,
        partition: str,
        source: Source,
        *,
        watermark_before: Any = None,
        **writer_options: Any,
    ) -> LakeWriter:
        """Stream ``source`` into ``partition`` of ``ref``, logging progress; set the watermark it reached."""
        description = source.describe()
        writer_options.setdefault("file_prefix", self._file_prefix)
        writer = txn.writer(ref, partition, schema=source.schema, source=description, **writer_options)
        if self._task_record:
            writer.extra.setdefault("airflow", self._task_record)
        progress = ProgressLogger(self.log, f"{ref} {partition}", interval=config.progress_interval())
        for batch in source.batches():
            writer.write_batch(batch)
            progress.update(batch.num_rows, batch.nbytes)
        progress.done()
        cursor = source.cursor
        if cursor is not None:
            txn.set_watermark(ref, cursor, before=watermark_before)
        self._sources.append(description)
        return writer

    # -- Airflow ---------------------------------------------------------------------------------------------------
    def execute(self, context: Context) -> dict[str, Any]:
        lake = self.get_lake()
        partition = self.partition or partition_of_run(context)
        ti = context.get("ti")
        producer = f"{type(self).__module__}.{type(self).__name__}"
        self._task_record = task_record(context)
        if self.fanout:
            return self._prepare_part(context, lake, partition, producer)
        with lake.transaction(
            run_id=context.get("run_id"), try_number=getattr(ti, "try_number", None), producer=producer
        ) as txn:
            self.ingest(txn, context, partition)
        summary = self._make_summary(lake, txn, partition)
        self._emit_asset_events(context, summary)
        self.log.info(
            "Committed %s: %s rows, %.1f MB in %s file(s) to %s (transaction %s)",
            ", ".join(f"{d['dataset']} {d['partition']}" for d in summary["datasets"]) or "nothing",
            f"{summary['rows']:,}",
            summary["bytes"] / 1e6,
            summary["files"],
            lake.root,
            summary["txn_id"],
        )
        self._summary = summary
        return summary

    def _prepare_part(self, context: Context, lake: Lake, partition: str, producer: str) -> dict[str, Any]:
        """One mapped instance of a fan-out: write this part into the run's shared transaction, publish nothing."""
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        part = f"{max(map_index, 0):05d}"
        self._file_prefix = f"part{part}"
        txn_id = fanout_txn_id(ti.dag_id, context["run_id"], self.dataset_ref)
        txn = lake.transaction(
            txn_id=txn_id, shared=True, run_id=context["run_id"], try_number=ti.try_number, producer=producer
        )
        with txn:
            self.ingest(txn, context, partition)
            prepared = txn.prepare(part)
        rows = sum(d["rows"] or 0 for d in prepared["datasets"])
        self.log.info("Prepared part %s of %s (%s rows); the commit task publishes it", part, txn_id, f"{rows:,}")
        return {**prepared, "partition": partition, "rows": rows}

    def _make_summary(self, lake: Lake, txn: Transaction, partition: str) -> dict[str, Any]:
        datasets = txn.summary.get("datasets", [])
        main = next((d for d in datasets if d["dataset"] == self.dataset_ref.key), datasets[0] if datasets else {})
        return {
            "lake_root": lake.root,
            "dataset": self.dataset_ref.key,
            "partition": partition,
            "rows": main.get("rows") or 0,
            "bytes": sum(d["bytes"] for d in datasets),
            "files": sum(d["files"] for d in datasets),
            "watermark": main.get("watermark"),
            "txn_id": txn.txn_id,
            "datasets": datasets,
        }

    def _emit_asset_events(self, context: Context, summary: dict[str, Any]) -> None:
        events = context.get("outlet_events")
        if events is None:
            return
        for d in summary["datasets"]:
            zone, system, name = d["dataset"].split("/")
            asset = lake_asset(zone, system, name)
            if not any(isinstance(o, Asset) and o.uri == asset.uri for o in self.outlets):
                continue
            try:
                events[asset].extra = {k: d[k] for k in ("partition", "rows", "bytes", "files")}
            except Exception as exc:  # an event without extra is still an event
                self.log.debug("could not attach extra to the asset event of %s: %s", asset.uri, exc)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Inputs from the source descriptions, outputs the lake datasets written; never fails the task."""
        try:
            from airflow.providers.common.compat.openlineage.facet import Dataset
            from airflow.providers.openlineage.extractors import OperatorLineage

            namespace = self.lake_root or config.lake_root()
            inputs = [
                Dataset(namespace=str(s.get("system", "source")), name=str(s.get("name") or s.get("object") or s))
                for s in self._sources
            ]
            outputs = [Dataset(namespace=namespace, name=d["dataset"]) for d in self._summary.get("datasets", [])]
            return OperatorLineage(inputs=inputs, outputs=outputs)
        except Exception as exc:
            self.log.info("OpenLineage facets not produced: %s", exc)
            return None
