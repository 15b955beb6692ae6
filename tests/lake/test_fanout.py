"""Fan-out: several tasks prepare parts of one shared transaction; one commit publishes them all."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_zaloni.lake import DatasetRef, Lake, LakeError
from tests.sources_for_tests import CounterSource

REF = DatasetRef("raw", "test", "big")
PART = "dt=2026-11-25"
TXN = "fanout-run1"


def prepare(lake: Lake, index: int, lower: int, upper: int, *, fail_after: int | None = None) -> dict:
    """What one mapped task does: write its split into the shared transaction and prepare it."""
    source = CounterSource(lower=lower, upper=upper, batch_rows=100, fail_after=fail_after)
    txn = lake.transaction(txn_id=TXN, shared=True, run_id="run1", try_number=1)
    with txn:
        writer = txn.writer(REF, PART, schema=source.schema, source=source.describe(), file_prefix=f"part{index:04d}")
        for batch in source.batches():
            writer.write_batch(batch)
        txn.set_watermark(REF, source.cursor, before=None)
        return txn.prepare(f"{index:04d}")


def test_parts_prepared_by_separate_tasks_are_published_in_one_commit(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    for index, (lower, upper) in enumerate([(0, 1000), (1000, 2000), (2000, 3000)]):
        prepare(lake, index, lower, upper)
    assert lake.partitions(REF) == []  # prepared, not published
    summary = lake.commit_parts(TXN, [(REF, PART)], ["0000", "0001", "0002"], run_id="run1")
    assert summary["datasets"][0]["rows"] == 3000
    assert sorted(lake.read_table(REF)["id"].to_pylist()) == list(range(1, 3001))
    manifest = lake.manifest(REF, PART)
    assert sorted(manifest["extra"]["parts"]) == ["0000", "0001", "0002"]
    assert lake.watermark(REF) == 3000
    assert lake.verify() == []
    assert not (lake_root / "raw/test/big" / PART / "_parts").exists()


def test_a_failed_part_retried_replaces_its_own_files_only(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    prepare(lake, 0, 0, 1000)
    with pytest.raises(RuntimeError, match="source failed"):
        prepare(lake, 1, 1000, 2000, fail_after=500)
    prepare(lake, 1, 1000, 2000)  # the retry of the mapped task
    lake.commit_parts(TXN, [(REF, PART)], ["0000", "0001"])
    assert sorted(lake.read_table(REF)["id"].to_pylist()) == list(range(1, 2001))


def test_a_missing_part_publishes_nothing_and_keeps_the_others_for_a_retry(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    prepare(lake, 0, 0, 1000)
    with pytest.raises(LakeError, match="parts 0001 of transaction fanout-run1 were never prepared"):
        lake.commit_parts(TXN, [(REF, PART)], ["0000", "0001"])
    assert lake.partitions(REF) == []
    prepare(lake, 1, 1000, 2000)
    lake.commit_parts(TXN, [(REF, PART)], ["0000", "0001"])
    assert len(lake.read_table(REF)) == 2000


def test_parts_of_an_earlier_plan_are_not_published(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    for index in range(3):  # a first try planned three splits ...
        prepare(lake, index, index * 100, index * 100 + 100)
    for index in range(2):  # ... the retry planned two, over the same rows
        prepare(lake, index, index * 150, index * 150 + 150)
    lake.commit_parts(TXN, [(REF, PART)], ["0000", "0001"])
    assert sorted(lake.read_table(REF)["id"].to_pylist()) == list(range(1, 301))


def test_staging_of_a_fanout_survives_the_cleanup_of_other_attempts(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    prepare(lake, 0, 0, 100)
    source = CounterSource(lower=None, upper=5)  # an ordinary attempt on the same dataset meanwhile
    with lake.transaction(run_id="other") as txn:
        writer = txn.writer(REF, "dt=2026-11-24", schema=source.schema)
        for batch in source.batches():
            writer.write_batch(batch)
    prepare(lake, 1, 100, 200)
    lake.commit_parts(TXN, [(REF, PART)], ["0000", "0001"])
    assert len(lake.read_table(REF, PART)) == 200


def test_a_spark_jobs_staging_survives_commits_of_others_while_the_task_is_away(lake_root: Path) -> None:
    """The job writes into staging while its task is deferred (its process gone); another commit meanwhile must
    not clean that staging up as if it were an abandoned attempt."""
    import json
    import subprocess
    import sys

    import pyarrow as pa
    import pyarrow.parquet as pq

    from airflow_zaloni.jobs.output import JobOutput

    lake = Lake(str(lake_root))
    job = JobOutput(lake, REF, PART, run_key="dag/run1/refine")
    folder = Path(job.staging_path(fresh=True))
    pq.write_table(pa.table({"id": [1, 2, 3]}), folder / "part-00000-4f2c.snappy.parquet")  # what Spark writes
    owner = folder.parent / "_owner.json"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    record = json.loads(owner.read_text())
    owner.write_text(json.dumps({**record, "pid": int(gone.stdout)}))  # the submitting task process has ended

    source = CounterSource(lower=None, upper=5)
    with lake.transaction(run_id="other") as txn:  # meanwhile, another run commits to the same dataset
        writer = txn.writer(REF, "dt=2026-11-24", schema=source.schema)
        for batch in source.batches():
            writer.write_batch(batch)

    job.commit(run_id="run1", try_number=1, producer="test", source={})
    assert lake.read_table(REF, PART)["id"].to_pylist() == [1, 2, 3]
