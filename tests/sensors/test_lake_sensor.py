"""LakeDatasetSensor and LakeDatasetTrigger on a real lake folder: a partition committed later, timeouts, deferral."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred

from airflow_zaloni.lake import DatasetRef, Lake
from airflow_zaloni.sensors.lake import LakeDatasetSensor
from airflow_zaloni.triggers.lake import LakeDatasetTrigger, committed_partition

pytestmark = pytest.mark.timeout(60)
REF = DatasetRef("raw", "shop", "orders")
DAY = datetime(2026, 11, 25, tzinfo=timezone.utc)


def context() -> dict[str, Any]:
    return {"data_interval_start": DAY, "data_interval_end": DAY + timedelta(days=1), "run_id": "scheduled__x"}


def commit(lake: Lake, partition: str = "dt=2026-11-25", rows: int = 3) -> None:
    with lake.transaction(run_id="ingest-run") as txn:
        txn.writer(REF, partition).write_table(pa.table({"id": list(range(rows))}))


async def first_event(trigger: LakeDatasetTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger ended without an event")


def trigger(lake_root: Path, **kwargs: Any) -> LakeDatasetTrigger:
    return LakeDatasetTrigger(
        lake_root=str(lake_root), zone="raw", system="shop", name="orders", partition="dt=2026-11-25", **kwargs
    )


def test_trigger_fires_when_the_partition_is_committed_later(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    commit(lake, "dt=2026-11-24")  # another partition does not count
    timer = threading.Timer(0.5, commit, args=(lake,))
    timer.start()
    try:
        started = time.monotonic()
        payload = asyncio.run(first_event(trigger(lake_root, poll_interval=0.1)))
    finally:
        timer.join()
    assert time.monotonic() - started >= 0.4
    assert payload["status"] == "committed"
    assert payload["partition"]["dataset"] == "raw/shop/orders" and payload["partition"]["rows"] == 3
    assert payload["partition"]["run_id"] == "ingest-run"


def test_trigger_times_out_at_its_deadline_and_serializes(lake_root: Path) -> None:
    t = trigger(lake_root, poll_interval=0.05, deadline=time.time() + 0.3)
    payload = asyncio.run(first_event(t))
    assert payload == {"status": "timeout", "message": "raw/shop/orders dt=2026-11-25 was not committed in time"}
    path, kwargs = t.serialize()
    again = LakeDatasetTrigger(**kwargs)
    assert path == "airflow_zaloni.triggers.lake.LakeDatasetTrigger" and again.serialize() == (path, kwargs)


def test_sensor_defers_with_the_interval_partition_then_completes(lake_root: Path) -> None:
    sensor = LakeDatasetSensor(
        task_id="wait", dataset="orders", system="shop", lake_root=str(lake_root), poke_interval=7, timeout=120
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context())  # type: ignore[arg-type]
    t = deferred.value.trigger
    assert isinstance(t, LakeDatasetTrigger)
    assert (t.partition, t.poll_interval, t.lake_root) == ("dt=2026-11-25", 7.0, str(lake_root))
    assert deferred.value.method_name == "execute_complete"

    commit(Lake(str(lake_root)))
    payload = asyncio.run(first_event(t))
    assert sensor.execute_complete(context(), payload)["rows"] == 3  # type: ignore[arg-type]
    # Already committed: no deferral at all.
    assert sensor.execute(context())["partition"] == "dt=2026-11-25"  # type: ignore[arg-type]
    with pytest.raises(AirflowSensorTimeout, match="not committed in time"):
        sensor.execute_complete(context(), {"status": "timeout", "message": "x was not committed in time"})  # type: ignore[arg-type]


def test_poke_mode(lake_root: Path) -> None:
    sensor = LakeDatasetSensor(
        task_id="wait", dataset="orders", system="shop", lake_root=str(lake_root), deferrable=False
    )
    assert sensor.poke(context()) is False  # type: ignore[arg-type]
    commit(Lake(str(lake_root)))
    result = sensor.poke(context())  # type: ignore[arg-type]
    assert isinstance(result, PokeReturnValue) and result.is_done and result.xcom_value["rows"] == 3


def test_bad_partition_or_dataset_is_named(lake_root: Path) -> None:
    from airflow_zaloni.lake import LakeError

    with pytest.raises(LakeError, match=r"partition '\.\./etc' is not allowed"):
        LakeDatasetSensor(
            task_id="w", dataset="orders", system="shop", partition="../etc", lake_root=str(lake_root)
        ).poke(
            context()  # type: ignore[arg-type]
        )
    with pytest.raises(LakeError, match="zone 'gold' is unknown"):
        LakeDatasetSensor(task_id="w", dataset="orders", system="shop", zone="gold", lake_root=str(lake_root)).poke(
            context()  # type: ignore[arg-type]
        )


def test_a_table_partition_counts_once_the_snapshot_holds_it(lake_root: Path) -> None:
    """A partition folder whose commit has not reached the table yet (killed between the publish and the snapshot
    commit) is not committed for the sensor: what follows reads through the catalog."""
    lake = Lake(str(lake_root))
    commit(lake, "dt=2026-11-24")
    # A partition published as files whose table commit is pending: a copy of the manifest under a new partition.
    done = lake_root / "raw/shop/orders/dt=2026-11-24"
    pending = lake_root / "raw/shop/orders/dt=2026-11-25"
    pending.mkdir()
    for f in done.iterdir():
        (pending / f.name).write_bytes(f.read_bytes())
    assert lake.manifest(REF, "dt=2026-11-25") is not None
    assert committed_partition(str(lake_root), "raw", "shop", "orders", "dt=2026-11-25") is None
    for f in pending.iterdir():
        f.unlink()
    pending.rmdir()
    commit(lake)
    found = committed_partition(str(lake_root), "raw", "shop", "orders", "dt=2026-11-25")
    assert found is not None and found["snapshot_id"] == lake.table(REF).current_snapshot().snapshot_id
