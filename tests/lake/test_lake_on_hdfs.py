"""The lake on a real HDFS: Hadoop's MiniDFSCluster with HA NameNodes, through WebHDFS (``webhdfs://<conn_id>@/path``)
and through the native RPC protocol (``hdfs://<nameservice>/path``, hdfs-native).

What a user of an HDFS lake relies on: a commit publishes, a re-commit replaces, of two racing writers one
publishes and the other is told, ``zaloni lake verify`` checks the bytes on HDFS, an ingest survives a NameNode
failover, and a sensor sees a partition committed on HDFS.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from airflow_zaloni.lake import CommitConflictError, DatasetRef, Lake
from airflow_zaloni.lake.storage_hdfs import NativeHDFSStorage
from airflow_zaloni.lake.storage_webhdfs import WebHDFSStorage
from airflow_zaloni.sensors.lake import LakeDatasetSensor
from tests.hdfs_lake import client, lake_on_hdfs, unique_folder
from tests.sources_for_tests import CounterSource

pytestmark = [pytest.mark.hadoop, pytest.mark.timeout(240)]

REF = DatasetRef("raw", "test", "orders")


@pytest.fixture(params=["webhdfs", "hdfs"])
def root(request: pytest.FixtureRequest, hadoop_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh lake root on the cluster: ``webhdfs://`` through an Airflow connection, or ``hdfs://`` through the
    cluster's client configuration (``HADOOP_CONF_DIR``, as every Hadoop client reads it)."""
    if request.param == "webhdfs":
        return lake_on_hdfs(hadoop_cluster, monkeypatch)
    monkeypatch.setenv("HADOOP_CONF_DIR", str(hadoop_cluster.conf_dir))
    return f"hdfs://{hadoop_cluster.nameservice}{unique_folder('native')}"


def hdfs_path(root: str) -> str:
    return urlsplit(root).path


def ingest(lake: Lake, partition: str, lower: int | None, upper: int, *, run_id: str = "r") -> dict[str, Any]:
    source = CounterSource(lower=lower, upper=upper, batch_rows=500)
    with lake.transaction(run_id=run_id, try_number=1) as txn:
        writer = txn.writer(REF, partition, schema=source.schema, source=source.describe())
        for batch in source.batches():
            writer.write_batch(batch)
        txn.set_watermark(REF, source.cursor, before=lower)
    return txn.summary


def test_commit_then_recommit_replaces_the_partition_on_hdfs(hadoop_cluster: Any, root: str) -> None:
    lake = Lake(root)
    assert isinstance(lake.storage, WebHDFSStorage if root.startswith("webhdfs") else NativeHDFSStorage)
    ingest(lake, "dt=2026-11-25", None, 1500)
    fs = client(hadoop_cluster)
    partition = f"{hdfs_path(root)}/raw/test/orders/dt=2026-11-25"
    txn = lake.manifest(REF, "dt=2026-11-25")["txn_id"]  # file names carry the transaction id
    assert sorted(p.rsplit("/", 1)[1] for p in fs.ls(partition)) == ["_manifest.json", f"part-{txn}-00000.parquet"]
    # What a Spark or Hive reader of the HDFS folder sees (pyarrow over the same WebHDFS):
    table = ds.dataset(partition, filesystem=lake.storage.arrow_filesystem(), format="parquet").to_table()
    assert sorted(table["id"].to_pylist()) == list(range(1, 1501))
    assert lake.watermark(REF) == 1500

    ingest(lake, "dt=2026-11-25", None, 700, run_id="rerun")  # a re-run of the interval replaces it whole
    assert sorted(lake.read_table(REF)["id"].to_pylist()) == list(range(1, 701))
    manifest = lake.manifest(REF, "dt=2026-11-25")
    assert manifest is not None and manifest["run_id"] == "rerun" and manifest["totals"]["rows"] == 700
    assert lake.watermark(REF) == 1500  # watermarks only move forward
    dataset = f"{hdfs_path(root)}/raw/test/orders"
    names = sorted(p.rsplit("/", 1)[1] for p in fs.ls(dataset))
    assert [n for n in names if not n.startswith("_")] == ["dt=2026-11-25"]
    for leftover in ("_trash", "_staging"):  # the replaced partition and the staging area are gone
        assert leftover not in names or fs.ls(f"{dataset}/{leftover}") == []
    assert lake.verify() == []


def test_two_racing_writers_exactly_one_publishes(root: str) -> None:
    lake = Lake(root, lock_wait=60)
    barrier = threading.Barrier(2)
    outcome: dict[str, Any] = {}

    def writer(name: str, rows: int) -> None:
        try:
            with lake.transaction(run_id=name, try_number=1) as txn:
                txn.writer(REF, "dt=2026-11-25").write_table(pa.table({"id": list(range(rows)), "who": [name] * rows}))
                barrier.wait()  # both have written their files before either commits
            outcome[name] = "published"
        except CommitConflictError as exc:
            outcome[name] = exc

    threads = [threading.Thread(target=writer, args=(n, r)) for n, r in (("a", 10), ("b", 20))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    published = [n for n, o in outcome.items() if o == "published"]
    assert len(published) == 1, outcome
    loser = "b" if published == ["a"] else "a"
    assert isinstance(outcome[loser], CommitConflictError)
    assert "committed by run" in str(outcome[loser]) and "publishes nothing" in str(outcome[loser])
    table = lake.read_table(REF)
    assert set(table["who"].to_pylist()) == set(published) and table.num_rows == (10 if published == ["a"] else 20)
    assert lake.verify() == []


def test_zaloni_lake_verify_checks_the_bytes_on_hdfs(hadoop_cluster: Any, root: str) -> None:
    lake = Lake(root)
    ingest(lake, "dt=2026-11-25", None, 1000)

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "airflow_zaloni.cli", "lake", "verify", root],
            capture_output=True,
            text=True,
            env=os.environ.copy(),  # the connection of the root is in the environment
            timeout=120,
        )

    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr
    fs = client(hadoop_cluster)
    partition = f"{hdfs_path(root)}/raw/test/orders/dt=2026-11-25"
    [victim] = [p for p in fs.ls(partition, detail=False) if p.endswith("-00000.parquet")]
    data = fs.cat_file(victim)
    fs.pipe_file(victim, data[:-10] + b"0123456789")  # bit rot, same size
    result = verify()
    assert result.returncode == 1
    assert victim.rsplit("/", 1)[1] in result.stdout and "1 problem(s)" in result.stdout


def test_an_ingest_survives_a_namenode_failover_in_the_middle(hadoop_cluster: Any, root: str) -> None:
    lake = Lake(root, max_rows_per_file=2000)
    source = CounterSource(lower=None, upper=6000, batch_rows=500)
    with lake.transaction(run_id="failover", try_number=1) as txn:
        writer = txn.writer(REF, "dt=2026-11-25", schema=source.schema, source=source.describe())
        for i, batch in enumerate(source.batches()):
            writer.write_batch(batch)
            if i == 5:  # a file is half written: its upload is streaming to the DataNode
                before = hadoop_cluster.active_namenode()
                hadoop_cluster.failover_namenode()
                assert hadoop_cluster.active_namenode() != before
        txn.set_watermark(REF, source.cursor)
    assert sorted(lake.read_table(REF)["id"].to_pylist()) == list(range(1, 6001))
    assert lake.watermark(REF) == 6000
    assert lake.verify() == []
    if isinstance(lake.storage, WebHDFSStorage):
        assert lake.storage.fs.active_namenode == hadoop_cluster.namenode_http[hadoop_cluster.active_namenode()]


def test_lake_dataset_sensor_waits_for_a_partition_on_hdfs(root: str) -> None:
    day = datetime(2026, 11, 25, tzinfo=timezone.utc)
    context = {"data_interval_start": day, "data_interval_end": day + timedelta(days=1), "run_id": "scheduled__x"}
    poker = LakeDatasetSensor(task_id="wait", dataset="orders", system="test", lake_root=root, deferrable=False)
    assert poker.poke(context) is False  # type: ignore[arg-type]

    sensor = LakeDatasetSensor(task_id="wait", dataset="orders", system="test", lake_root=root, poke_interval=0.2)
    from airflow.sdk.exceptions import TaskDeferred

    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)  # type: ignore[arg-type]
    trigger = deferred.value.trigger

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    timer = threading.Timer(1.0, ingest, args=(Lake(root), "dt=2026-11-25", None, 300))
    timer.start()
    try:
        payload = asyncio.run(first_event())
    finally:
        timer.join()
    assert payload["status"] == "committed" and payload["partition"]["rows"] == 300
    assert sensor.execute_complete(context, payload)["rows"] == 300  # type: ignore[arg-type]
    done = poker.poke(context)  # type: ignore[arg-type]
    assert done.is_done and done.xcom_value["partition"] == "dt=2026-11-25"


def test_object_storage_path_knows_webhdfs_urls(hadoop_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk import ObjectStoragePath

    root = lake_on_hdfs(hadoop_cluster, monkeypatch)
    folder = hdfs_path(root)
    fs = client(hadoop_cluster)
    fs.pipe_file(f"{folder}/landing/hello.txt", b"hello lake")
    conn_id = root.split("://", 1)[1].split("@", 1)[0]
    path = ObjectStoragePath(f"webhdfs://{conn_id}@{folder}/landing/hello.txt")
    assert path.read_bytes() == b"hello lake"
    assert [p.name for p in ObjectStoragePath(f"webhdfs://{conn_id}@{folder}/landing").iterdir()] == ["hello.txt"]
    (ObjectStoragePath(f"webhdfs://{conn_id}@{folder}/landing") / "written.txt").write_bytes(b"from Airflow")
    assert fs.cat_file(f"{folder}/landing/written.txt") == b"from Airflow"
