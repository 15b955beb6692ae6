"""The commit protocol under SIGKILL at random moments of writing and committing, on local disk, HDFS and S3.

Each interval is ingested by a child process that is killed at a random moment, several times, and then run to
completion (the retry). After every kill the test looks at the lake as a reader sees it, before anything recovers
it: each visible partition must be complete, in the folders and in the Iceberg table (its snapshot's metadata,
and a pyiceberg scan whenever no commit is half-applied). On local disk the folder reader is pyarrow listing the
partition folders (renames are atomic there); on S3 (moto_server) it is a reader that trusts the manifests, which
is what the object store publish guarantees (see ``airflow_zaloni/lake/storage_object.py``); on HDFS (the real cluster,
``webhdfs://`` naming both NameNodes) it is pyarrow listing the folders as on local disk, with fewer kills (every
child is a new WebHDFS client). At the end the dataset must hold exactly
the source rows, and the watermark must match the data.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from airflow_zaloni.lake import Lake
from airflow_zaloni.lake.storage_open import open_storage
from airflow_zaloni.lake.tables import live_data_files
from tests.hdfs_lake import hdfs_user, unique_folder
from tests.lake.kill_target import REF

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Backend:
    """Where the killed lake lives, how big the run is there, and how a reader looks at it."""

    name: str
    root: str
    probe_root: str
    storage_options: dict[str, Any] | None
    rows: int
    days: int
    kills_per_day: int
    reader: str = "folders"  # "folders": pyarrow lists partition folders; "manifests": trusts only manifests

    def lake(self) -> Lake:
        return Lake(self.root, storage_options=self.storage_options)

    def visible_partitions(self) -> dict[str, list[int]]:
        """What a reader sees right now: partition -> sorted ids."""
        seen: dict[str, list[int]] = {}
        if self.reader == "folders":  # pyarrow listing the folders (hidden ``_`` paths are skipped by pyarrow)
            storage = open_storage(self.root)  # only looks: nothing is recovered
            base = storage.join(REF.zone, REF.system, REF.name)
            for name in storage.listdir(base):
                if not name.startswith(("_", ".")):
                    table = ds.dataset(f"{base}/{name}", filesystem=storage.arrow_filesystem(), format="parquet")
                    seen[name] = sorted(table.to_table(columns=["id"])["id"].to_pylist())
            return seen
        lake = self.lake()  # through the manifests, without recovering anything first
        for partition in lake.manifest_partitions(REF):
            manifest = lake.manifest(REF, partition)
            if manifest is None:
                continue  # the publish of this partition is under way: absent
            base = lake.partition_path(REF, partition)
            ids: list[int] = []
            for f in manifest["files"]:
                with lake.storage.open_read(f"{base}/{f['path']}") as handle:
                    ids.extend(pq.read_table(handle, columns=["id"])["id"].to_pylist())
            seen[partition] = sorted(ids)
        return seen

    def table_view(self, *, scan: bool) -> dict[str, list[int]]:
        """What a reader of the Iceberg table sees, through the catalog, without recovering anything: partition ->
        sorted ids from pyiceberg's own scan (``scan``), or partition -> [rows of its files] from the snapshot's
        metadata alone (a scan can meet a file replaced between the folder publish and the snapshot commit)."""
        lake = self.lake()
        table = lake.table(REF)
        if table is None or table.current_snapshot() is None:
            return {}
        seen: dict[str, list[int]] = {}
        if scan:
            for row in table.scan(selected_fields=("id", "lake_partition")).to_arrow().to_pylist():
                seen.setdefault(row["lake_partition"], []).append(row["id"])
            return {p: sorted(ids) for p, ids in seen.items()}
        for data_file in live_data_files(table, table.current_snapshot()):
            seen.setdefault(str(data_file.partition[0]), []).append(data_file.record_count)
        return {p: [sum(rows)] for p, rows in seen.items()}

    def journal_pending(self) -> bool:
        storage = self.lake().storage
        return any(n.endswith(".json") for n in storage.listdir(storage.join("_zaloni", "txn")))


@pytest.fixture(params=["local", pytest.param("hdfs", marks=pytest.mark.hadoop), "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        return Backend("local", str(tmp_path / "lake"), str(tmp_path / "probe"), None, 20_000, 3, 7)
    if request.param == "hdfs":
        cluster = request.getfixturevalue("hadoop_cluster")
        base = f"webhdfs://{hdfs_user(cluster)}@{','.join(cluster.namenode_http)}"
        return Backend(
            "hdfs", f"{base}{unique_folder('killed')}", f"{base}{unique_folder('probe')}", None, 20_000, 2, 4
        )
    s3 = request.getfixturevalue("s3_server")
    # Fewer, smaller runs on S3: each child start and commit costs more round trips (about a minute in all).
    return Backend("s3", s3.new_root("killed"), s3.new_root("probe"), s3.storage_options, 10_000, 2, 6, "manifests")


def start(backend: Backend, root: str, day: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-m", "tests.lake.kill_target", root, str(day), str(backend.rows)]
    if backend.storage_options is not None:
        args.append(json.dumps(backend.storage_options))
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(proc: subprocess.Popen[bytes], marker: bytes) -> None:
    """Block until the child prints ``marker`` (READY: about to write; COMMITTING: about to publish)."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == marker, line + (proc.stderr.read() if proc.stderr else b"")


def expected_ids(rows: int, day: int) -> list[int]:
    return list(range((day - 1) * rows + 1, day * rows + 1))


@pytest.mark.timeout(300)
def test_sigkill_at_random_moments_never_shows_partial_data_and_lands_exactly_once(backend: Backend) -> None:
    rng = random.Random(20261126)
    proc = start(backend, backend.probe_root, 1)
    wait_for(proc, b"READY")
    t0 = time.monotonic()
    wait_for(proc, b"COMMITTING")
    t1 = time.monotonic()
    wait_for(proc, b"COMMITTED")
    t2 = time.monotonic()
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    write_time, commit_time = t1 - t0, t2 - t1

    kills = 0
    killed_after_commit_point = 0
    for day in range(1, backend.days + 1):
        for attempt in range(backend.kills_per_day):
            proc = start(backend, backend.root, day)
            wait_for(proc, b"READY")
            if attempt % 2:  # a moment while the files are being written
                time.sleep(rng.uniform(0.0, 1.0) * write_time)
            else:  # a moment of the commit itself (manifests, locks, journal, publish, state)
                wait_for(proc, b"COMMITTING")
                time.sleep(rng.uniform(0.0, 1.2) * commit_time)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            kills += 1
            if backend.journal_pending():
                killed_after_commit_point += 1
            for partition, ids in backend.visible_partitions().items():
                d = int(partition.rsplit("-", 1)[1])
                assert ids == expected_ids(backend.rows, d), f"partial or duplicated partition {partition} visible"
            # Through the catalog: the table's snapshot holds whole partitions only (every snapshot is one commit).
            for partition, rows in backend.table_view(scan=False).items():
                assert rows == [backend.rows], f"partial or duplicated partition {partition} in the table"
            if not backend.journal_pending():  # no commit half-applied: every file the snapshot names is there
                for partition, ids in backend.table_view(scan=True).items():
                    d = int(partition.rsplit("-", 1)[1])
                    assert ids == expected_ids(backend.rows, d), f"partial partition {partition} in the table scan"
        proc = start(backend, backend.root, day)
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()

    assert kills == backend.days * backend.kills_per_day
    lake = backend.lake()
    everything = sorted(lake.read_table(REF)["id"].to_pylist())
    assert everything == list(range(1, backend.days * backend.rows + 1))  # no loss, no duplicates
    assert lake.watermark(REF) == backend.days * backend.rows
    for day in range(1, backend.days + 1):
        manifest = lake.manifest(REF, f"dt=2026-01-{day:02d}")
        assert manifest is not None and manifest["totals"]["rows"] == backend.rows
        assert manifest["watermark"] == {"before": (day - 1) * backend.rows or None, "after": day * backend.rows}
    assert lake.verify() == []
    if lake.table_catalog() is not None:  # (an HDFS lake has tables once an Iceberg FileIO reaches WebHDFS)
        # The table holds every row once, and its current snapshot carries the watermark of the state file.
        scanned = backend.table_view(scan=True)
        assert sorted(i for ids in scanned.values() for i in ids) == list(range(1, backend.days * backend.rows + 1))
        summary = lake.table(REF).current_snapshot().summary
        assert json.loads(summary["zaloni.watermark-after"]) == lake.state(REF)["watermark"]
        assert summary["zaloni.txn-id"] == lake.state(REF)["last_commit"]["txn_id"]
    print(f"{backend.name}: {kills} kills, {killed_after_commit_point} after the commit point (rolled forward)")
