"""What the lake holds, read from manifests: one summary per dataset (for ``zaloni lake ls`` and the Lake view)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_zaloni.lake.errors import LakeError
from airflow_zaloni.lake.lake import Lake
from airflow_zaloni.lake.paths import QUARANTINE_SUFFIX, DatasetRef


@dataclass
class PartitionSummary:
    partition: str
    rows: int | None
    bytes: int
    files: int
    committed_at: float | None
    run_id: str | None
    quality: dict[str, Any] | None = None
    #: The Airflow task that committed the partition (``dag_id``, ``task_id``, ``map_index``, data interval), from
    #: the manifest's ``extra.airflow``, when the producer recorded it.
    task: dict[str, Any] | None = None


@dataclass
class DatasetSummary:
    zone: str
    system: str
    name: str
    partitions: list[PartitionSummary]
    rows: int | None
    bytes: int
    last_commit: float | None
    freshness_seconds: float | None
    watermark: Any
    schema: list[dict[str, Any]] = field(default_factory=list)
    quarantined_rows: int | None = None
    #: The source description of the latest partition (e.g. its ``incremental_column``).
    source: dict[str, Any] = field(default_factory=dict)
    #: What could not be read (a truncated manifest, a bad partition name), shown next to the dataset.
    errors: list[str] = field(default_factory=list)
    #: The Iceberg table of the dataset (``name``, ``snapshot_id``, ``timestamp_ms``, ``operation``), or ``None``.
    table: dict[str, Any] | None = None
    #: Why a dataset of a table zone is files only (its types, no catalog), or ``None``.
    files_only: str | None = None

    @property
    def key(self) -> str:
        return f"{self.zone}/{self.system}/{self.name}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["dataset"] = self.key
        return data


#: What reading one manifest or state file can raise: storage errors, bad JSON, bad names, missing fields.
READ_ERRORS = (LakeError, OSError, ValueError, KeyError, TypeError, AttributeError)


def summarize(lake: Lake, ref: DatasetRef, *, now: float | None = None, collect_errors: bool = False) -> DatasetSummary:
    """Totals, partitions, freshness, latest schema and quarantine count of one dataset.

    :param collect_errors: skip a partition whose manifest cannot be read and name it in ``errors`` (the Lake view)
        instead of raising.
    """
    partitions = []
    errors: list[str] = []
    schema: list[dict[str, Any]] = []
    source: dict[str, Any] = {}
    table, files_only = table_status(lake, ref)
    for partition in lake.partitions(ref):
        try:
            manifest = lake.manifest(ref, partition)
            if manifest is None:
                continue
            partitions.append(
                PartitionSummary(
                    partition=partition,
                    rows=manifest["totals"]["rows"],
                    bytes=manifest["totals"]["bytes"],
                    files=manifest["totals"]["files"],
                    committed_at=manifest.get("timings", {}).get("written"),
                    run_id=manifest.get("run_id"),
                    quality=(manifest.get("extra") or {}).get("quality"),
                    task=(manifest.get("extra") or {}).get("airflow"),
                )
            )
        except READ_ERRORS as exc:
            if not collect_errors:
                raise
            errors.append(f"partition {partition!r} skipped: its manifest cannot be read: {exc}")
            continue
        if manifest.get("schema"):
            schema = manifest["schema"]["fields"]
        source = manifest.get("source") or source
    state = lake.state(ref)
    last = state.get("last_commit", {}).get("committed_at")
    quarantine = ref.quarantine if not ref.name.endswith(QUARANTINE_SUFFIX) else None
    quarantined = None
    quarantine_parts = lake.partitions(quarantine) if quarantine is not None else []
    if quarantine is not None and quarantine_parts:
        quarantined = sum(
            (lake.manifest(quarantine, p) or {}).get("totals", {}).get("rows") or 0 for p in quarantine_parts
        )
    return DatasetSummary(
        zone=ref.zone,
        system=ref.system,
        name=ref.name,
        partitions=partitions,
        # raw files (the landing zone) have no row count: None, not a misleading 0
        rows=None if partitions and all(p.rows is None for p in partitions) else sum(p.rows or 0 for p in partitions),
        bytes=sum(p.bytes for p in partitions),
        last_commit=last,
        freshness_seconds=None if last is None else max(0.0, (now or time.time()) - float(last)),
        watermark=state.get("watermark"),
        schema=schema,
        quarantined_rows=quarantined,
        source=source,
        errors=errors,
        table=table,
        files_only=files_only,
    )


def table_status(lake: Lake, ref: DatasetRef) -> tuple[dict[str, Any] | None, str | None]:
    """The table of ``ref`` and its current snapshot, or why a dataset of a table zone is kept as files."""
    from airflow_zaloni.lake.tables import is_table_zone, not_a_table_reason, snapshot_info, table_name

    if not is_table_zone(ref):
        return None, None
    table = lake.table(ref)
    if table is None:
        if lake.table_catalog() is None:
            return None, "the lake has no Iceberg catalog"
        return None, not_a_table_reason(lake, ref) or "not registered (zaloni lake migrate)"
    info = snapshot_info(table) or {"table": table_name(ref), "snapshot_id": None, "timestamp_ms": None}
    info.pop("summary", None)
    return info, None


def catalog(
    lake: Lake, zone: str | None = None, *, read_only: bool = False, collect_errors: bool = False
) -> list[DatasetSummary]:
    """Every dataset of the lake (after rolling forward any interrupted commit).

    :param read_only: do not roll forward interrupted commits (a reader such as the Lake view never writes; a
        commit killed after its commit point shows up once the next writer or ``zaloni lake ls`` recovers it).
    :param collect_errors: a dataset that cannot be read is listed with its ``errors`` instead of failing the
        whole catalog.
    """
    if not read_only:
        lake.recover()
    now = time.time()
    summaries = []
    for ref in lake.datasets(zone):
        try:
            summaries.append(summarize(lake, ref, now=now, collect_errors=collect_errors))
        except READ_ERRORS as exc:
            if not collect_errors:
                raise
            summaries.append(
                DatasetSummary(ref.zone, ref.system, ref.name, [], None, 0, None, None, None, errors=[str(exc)])
            )
    return summaries
