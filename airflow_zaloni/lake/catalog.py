"""What the lake holds, read from manifests: one summary per dataset (for ``zaloni lake ls`` and the Lake view)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

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

    @property
    def key(self) -> str:
        return f"{self.zone}/{self.system}/{self.name}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["dataset"] = self.key
        return data


def summarize(lake: Lake, ref: DatasetRef, *, now: float | None = None) -> DatasetSummary:
    """Totals, partitions, freshness, latest schema and quarantine count of one dataset."""
    partitions = []
    schema: list[dict[str, Any]] = []
    for partition in lake.partitions(ref):
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
            )
        )
        if manifest.get("schema"):
            schema = manifest["schema"]["fields"]
    state = lake.state(ref)
    last = state.get("last_commit", {}).get("committed_at")
    quarantine = (
        DatasetRef(ref.zone, ref.system, ref.name + QUARANTINE_SUFFIX)
        if not ref.name.endswith(QUARANTINE_SUFFIX)
        else None
    )
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
    )


def catalog(lake: Lake, zone: str | None = None) -> list[DatasetSummary]:
    """Every dataset of the lake (after rolling forward any interrupted commit)."""
    lake.recover()
    now = time.time()
    return [summarize(lake, ref, now=now) for ref in lake.datasets(zone)]
