"""Wait in the triggerer until a lake dataset's partition is committed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


def committed_partition(
    lake_root: str, zone: str, system: str, name: str, partition: str, lake_conn_id: str | None = None
) -> dict[str, Any] | None:
    """A small summary of the committed partition, or ``None`` while it is not committed.

    For a table (zones raw/trusted/refined) the partition counts once the table's current snapshot holds it (the
    summary then names the ``snapshot_id``); for a file dataset, once its manifest is published.
    """
    from airflow_zaloni.lake import DatasetRef, Lake

    ref = DatasetRef(zone, system, name)
    lake = Lake(lake_root, conn_id=lake_conn_id)
    table = lake.table(ref)
    snapshot = table.current_snapshot() if table is not None else None
    if table is not None and partition not in lake.partitions(ref, snapshot_id=snapshot and snapshot.snapshot_id):
        return None
    manifest = lake.manifest(ref, partition)
    if manifest is None:
        return None
    summary = {
        "dataset": ref.key,
        "partition": partition,
        "rows": manifest.get("totals", {}).get("rows"),
        "txn_id": manifest.get("txn_id"),
        "run_id": manifest.get("run_id"),
    }
    if snapshot is not None:
        summary["snapshot_id"] = snapshot.snapshot_id
    return summary


class LakeDatasetTrigger(BaseTrigger):
    """Fire once ``<zone>/<system>/<name>/<partition>`` of the lake at ``lake_root`` is committed (in the table's
    snapshot for a table, by its manifest for a file dataset: see :func:`committed_partition`).

    Events: ``{"status": "committed", "partition": {...summary}}`` or ``{"status": "timeout", "message": ...}``.
    The check reads one small file; it runs in a thread so a slow filesystem (WebHDFS) never blocks the event loop.

    :param lake_root: root URI of the lake (resolved by the sensor, so the triggerer needs no ``[zaloni]`` config).
    :param lake_conn_id: Airflow connection of the lake's store (resolved by the sensor as well); ``None``: none.
    :param zone: zone of the dataset.
    :param system: system folder of the dataset.
    :param name: name of the dataset.
    :param partition: the partition to wait for, e.g. ``dt=2026-11-25``.
    :param poll_interval: seconds between two checks.
    :param deadline: epoch seconds after which the trigger fires ``timeout`` (absolute: a triggerer restart does not
        extend it).
    """

    def __init__(
        self,
        *,
        lake_root: str,
        zone: str,
        system: str,
        name: str,
        partition: str,
        lake_conn_id: str | None = None,
        poll_interval: float = 60.0,
        deadline: float | None = None,
    ) -> None:
        super().__init__()
        self.lake_root = lake_root
        self.zone = zone
        self.system = system
        self.name = name
        self.partition = partition
        self.lake_conn_id = lake_conn_id
        self.poll_interval = poll_interval
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "lake_root": self.lake_root,
                "zone": self.zone,
                "system": self.system,
                "name": self.name,
                "partition": self.partition,
                "lake_conn_id": self.lake_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        what = f"{self.zone}/{self.system}/{self.name} {self.partition}"
        while True:
            found = await asyncio.to_thread(
                committed_partition,
                self.lake_root,
                self.zone,
                self.system,
                self.name,
                self.partition,
                self.lake_conn_id,
            )
            if found is not None:
                self.log.info("%s is committed (transaction %s)", what, found["txn_id"])
                yield TriggerEvent({"status": "committed", "partition": found})
                return
            if self.deadline is not None and time.time() >= self.deadline:
                yield TriggerEvent({"status": "timeout", "message": f"{what} was not committed in time"})
                return
            self.log.info("%s is not committed yet; next check in %ss", what, self.poll_interval)
            await asyncio.sleep(self.poll_interval)
