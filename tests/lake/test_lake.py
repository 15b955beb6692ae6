"""The lake's contract: atomic, idempotent commits; manifests; watermarks; clear errors on bad input."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from airflow_zaloni.lake import CommitConflictError, DatasetRef, Lake, LakeError, partition_for_interval
from tests.sources_for_tests import CounterSource

REF = DatasetRef("raw", "test", "orders")
PART = "dt=2026-11-25"


def land(lake: Lake, source: CounterSource, partition: str = PART, ref: DatasetRef = REF, **txn_kwargs) -> dict:
    with lake.transaction(run_id="r", try_number=1, **txn_kwargs) as txn:
        writer = txn.writer(ref, partition, schema=source.schema, source=source.describe())
        for batch in source.batches():
            writer.write_batch(batch)
        if source.cursor is not None:
            txn.set_watermark(ref, source.cursor)
    return txn.summary


def ids_visible_to_pyarrow(lake_root: Path, ref: DatasetRef = REF) -> list[int]:
    path = lake_root / ref.zone / ref.system / ref.name
    if not path.exists():
        return []
    return sorted(ds.dataset(path, format="parquet", partitioning="hive").to_table(columns=["id"])["id"].to_pylist())


def test_commit_publishes_files_manifest_and_watermark(lake_root: Path) -> None:
    lake = Lake(str(lake_root), row_group_rows=300, max_rows_per_file=1000)
    summary = land(lake, CounterSource(lower=None, upper=2500, batch_rows=100))

    assert summary["datasets"][0]["rows"] == 2500
    assert ids_visible_to_pyarrow(lake_root) == list(range(1, 2501))
    manifest = lake.manifest(REF, PART)
    assert manifest is not None
    assert [f["rows"] for f in manifest["files"]] == [1000, 1000, 500]  # files roll over at max_rows_per_file
    assert manifest["totals"] == {"rows": 2500, "bytes": sum(f["bytes"] for f in manifest["files"]), "files": 3}
    assert manifest["watermark"] == {"before": None, "after": 2500}
    assert manifest["schema"]["fields"][2] == {"name": "amount", "type": "decimal128(12, 2)", "nullable": True}
    assert manifest["source"]["name"] == "counter"
    assert lake.watermark(REF) == 2500
    # row groups are coalesced from the small batches instead of one per batch
    import pyarrow.parquet as pq

    first = pq.ParquetFile(lake_root / "raw/test/orders" / PART / manifest["files"][0]["path"])
    assert first.metadata.num_row_groups == 4  # 300 + 300 + 300 + 100 rows
    assert not list((lake_root / "raw/test/orders/_staging").iterdir())


def test_rerun_of_an_interval_replaces_its_partition(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    land(lake, CounterSource(lower=None, upper=100))
    first = lake.manifest(REF, PART)
    land(lake, CounterSource(lower=None, upper=100))
    assert ids_visible_to_pyarrow(lake_root) == list(range(1, 101))  # replaced, not appended
    assert lake.manifest(REF, PART)["txn_id"] != first["txn_id"]


def test_incremental_rerun_replays_the_same_range(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    land(lake, CounterSource(lower=None, upper=100), partition="dt=2026-11-24")
    lower, upper = lake.incremental_window(REF, "dt=2026-11-25")
    assert (lower, upper) == (100, None)
    land(lake, CounterSource(lower=lower, upper=250), partition="dt=2026-11-25")
    # re-running the older interval replays exactly its range (0, 100], so nothing is duplicated
    lower, upper = lake.incremental_window(REF, "dt=2026-11-24")
    assert (lower, upper) == (None, 100)
    land(lake, CounterSource(lower=lower, upper=upper), partition="dt=2026-11-24")
    assert ids_visible_to_pyarrow(lake_root) == list(range(1, 251))
    assert lake.watermark(REF) == 250  # a replay of an old range never moves the watermark back


def test_source_failure_mid_stream_publishes_nothing(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    land(lake, CounterSource(lower=None, upper=100))
    with pytest.raises(RuntimeError, match="source failed after 500 rows"):
        land(lake, CounterSource(lower=None, upper=1000, batch_rows=100, fail_after=500))
    assert ids_visible_to_pyarrow(lake_root) == list(range(1, 101))
    assert lake.watermark(REF) == 100
    assert not list((lake_root / "raw/test/orders/_staging").iterdir())


def test_transaction_commits_several_datasets_together(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    landing = REF.with_zone("landing")
    with lake.transaction(run_id="r", try_number=1) as txn:
        with txn.open_file(landing, PART, "ORDERS.DAT") as f:
            f.write(b"\xc1\xc2\xc3" * 1000)
        writer = txn.writer(REF, PART)
        writer.write_batch(pa.record_batch({"id": [1, 2, 3]}))
    assert (lake_root / "landing/test/orders" / PART / "ORDERS.DAT").read_bytes() == b"\xc1\xc2\xc3" * 1000
    entry = lake.manifest(landing, PART)["files"][0]
    assert entry["bytes"] == 3000 and entry["rows"] is None
    assert lake.manifest(REF, PART)["txn_id"] == lake.manifest(landing, PART)["txn_id"]


def test_racing_attempts_cannot_both_publish(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    a = lake.transaction(run_id="r", try_number=1)
    b = lake.transaction(run_id="r", try_number=2)
    wa = a.writer(REF, PART)
    wb = b.writer(REF, PART)
    wa.write_batch(pa.record_batch({"id": [1, 2]}))
    wb.write_batch(pa.record_batch({"id": [3, 4]}))
    a.commit()
    with pytest.raises(CommitConflictError, match="committed by run r try 1"):
        b.commit()
    assert lake.read_table(REF)["id"].to_pylist() == [1, 2]
    assert not (lake_root / "raw/test/orders/_staging" / b.txn_id).exists()


def test_live_lock_of_another_process_refuses_the_commit_after_waiting(lake_root: Path) -> None:
    lake = Lake(str(lake_root), lock_wait=0.5)
    land(lake, CounterSource(lower=None, upper=10))
    lock = lake_root / "raw/test/orders/_commit.lock"
    lock.write_text(json.dumps({"host": os.uname().nodename, "pid": 1, "txn_id": "other", "created": 0}))
    with pytest.raises(CommitConflictError, match="another attempt is committing"):
        land(lake, CounterSource(lower=None, upper=20))
    lock.unlink()
    assert ids_visible_to_pyarrow(lake_root) == list(range(1, 11))


def test_verify_names_a_corrupted_file(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    land(lake, CounterSource(lower=None, upper=500))
    assert lake.verify() == []
    # file names carry the transaction id (Iceberg tables track files by path: a re-run never reuses a name)
    [path] = (lake_root / "raw/test/orders" / PART).glob("part-*-00000.parquet")
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    problems = lake.verify()
    assert len(problems) == 1 and path.name in problems[0] and "sha256" in problems[0]


def test_verify_names_a_string_column_that_is_not_utf8(lake_root: Path) -> None:
    # A producer that breaks Arrow's UTF-8 promise (as pyarrow's JSON reader did with latin-1 bytes): the file's
    # sha256 matches its manifest, but reading it back as text fails; verify must say so.
    lake = Lake(str(lake_root))
    text = pa.array([b"ok", None, b"caf\xe9"], pa.binary()).view(pa.string())
    batch = pa.record_batch({"id": pa.array([1, 2, 3], pa.int64()), "v": text})
    with lake.transaction(run_id="r", try_number=1) as txn:
        txn.writer(REF, PART, schema=batch.schema, source={"system": "test"}).write_batch(batch)
    problems = lake.verify()
    assert len(problems) == 1 and "-00000.parquet" in problems[0]
    assert "column 'v', row 3: invalid UTF-8 in a string column" in problems[0]


@pytest.mark.parametrize("name", ["a/b", "..", "x..y", "bad\nname", "_hidden", ".hidden", ""])
def test_dataset_names_that_could_escape_or_hide_are_refused(name: str) -> None:
    with pytest.raises(LakeError, match="dataset name"):
        DatasetRef("raw", "test", name)


def test_unknown_zone_and_bad_partition_are_refused(lake_root: Path) -> None:
    with pytest.raises(LakeError, match="zone 'gold' is unknown"):
        DatasetRef("gold", "test", "x")
    txn = Lake(str(lake_root)).transaction()
    with pytest.raises(LakeError, match=r"partition '\.\./x' is not allowed"):
        txn.writer(REF, "../x")


def test_unknown_lake_root_scheme_is_a_clear_error() -> None:
    with pytest.raises(LakeError, match="not available"):
        Lake("nosuchfs://bucket/lake")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere; permission bits do not stop it")
def test_unwritable_lake_root_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "ro"
    root.mkdir(mode=0o500)
    with pytest.raises(LakeError, match="not writable"):
        Lake(str(root)).transaction()


def test_unwritable_lake_root_is_a_clear_error_for_root_too(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(LakeError, match="is not writable"):
        Lake(str(blocker / "lake")).transaction()


def test_full_disk_fails_the_commit_and_publishes_nothing(tmp_path: Path) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {result.stderr.decode().strip()}")
    try:
        lake = Lake(str(mount), row_group_rows=10_000)
        land(lake, CounterSource(lower=None, upper=100))
        with pytest.raises(OSError, match="No space left"):
            land(lake, CounterSource(lower=None, upper=3_000_000, batch_rows=50_000))
        assert ids_visible_to_pyarrow(mount) == list(range(1, 101))
        assert lake.watermark(REF) == 100
        assert not list((mount / "raw/test/orders/_staging").iterdir())  # the failed attempt cleaned up
        lake.close()  # its SQLite catalog lives on the mount
    finally:
        result = subprocess.run(["umount", str(mount)], capture_output=True)
    assert result.returncode == 0, result.stderr.decode()


def test_partition_is_derived_from_the_data_interval() -> None:
    from datetime import datetime, timezone

    day = datetime(2026, 11, 25, tzinfo=timezone.utc)
    assert partition_for_interval(day, datetime(2026, 11, 26, tzinfo=timezone.utc)) == "dt=2026-11-25"
    hour = datetime(2026, 11, 25, 6, tzinfo=timezone.utc)
    assert partition_for_interval(hour, datetime(2026, 11, 25, 7, tzinfo=timezone.utc)) == "dt=2026-11-25T06-00-00Z"
    assert partition_for_interval(None, None, run_id="manual__2026-11-25T06:00:00+00:00") == (
        "run=manual__2026-11-25T06-00-00-00-00"
    )


def test_the_lake_works_on_any_fsspec_filesystem() -> None:
    import uuid

    root = f"memory://lake-{uuid.uuid4().hex}"
    lake = Lake(root)
    land(lake, CounterSource(lower=None, upper=300, batch_rows=100))
    land(lake, CounterSource(lower=300, upper=400), partition="dt=2026-11-26")
    assert sorted(lake.read_table(REF)["id"].to_pylist()) == list(range(1, 401))
    assert lake.partitions(REF) == ["dt=2026-11-25", "dt=2026-11-26"]
    assert lake.watermark(REF) == 400
    assert lake.verify() == []
    assert lake.datasets() == [REF]
