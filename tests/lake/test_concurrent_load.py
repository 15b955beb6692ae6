"""Load: 20 ingests at once into one lake (four datasets, five partitions each) -- nothing lost or duplicated.

Every commit of a dataset takes the same commit lock, so the 20 processes queue on four locks while they publish.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from airflow_zaloni.lake import DatasetRef, Lake
from tests.sources_for_tests import CounterSource

DATASETS = [DatasetRef("raw", "load", f"d{i}") for i in range(4)]
TASKS = 20
ROWS = 2000


def ingest(root: str, task: int) -> str:
    """Task ``task`` lands ids ``(task*ROWS, (task+1)*ROWS]`` into its own partition of dataset ``task % 4``."""
    ref = DATASETS[task % len(DATASETS)]
    lake = Lake(root, row_group_rows=2000)
    source = CounterSource(lower=task * ROWS, upper=(task + 1) * ROWS, batch_rows=1000)
    with lake.transaction(run_id=f"task{task}", try_number=1) as txn:
        writer = txn.writer(ref, f"task={task:02d}", schema=source.schema, source=source.describe())
        for batch in source.batches():
            writer.write_batch(batch)
    return "committed"


@pytest.mark.timeout(240)
def test_twenty_concurrent_ingests_into_one_lake(tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(TASKS) as pool:
        results = pool.starmap(ingest, [(root, task) for task in range(TASKS)])
    assert results == ["committed"] * TASKS

    lake = Lake(root)
    for d, ref in enumerate(DATASETS):
        mine = [t for t in range(TASKS) if t % len(DATASETS) == d]
        assert lake.partitions(ref) == [f"task={t:02d}" for t in mine]  # each partition committed once
        ids = lake.read_table(ref)["id"].to_pylist()
        expected = [i for t in mine for i in range(t * ROWS + 1, (t + 1) * ROWS + 1)]
        assert sorted(ids) == expected  # nothing lost, nothing duplicated
        assert lake.state(ref)["version"] == len(mine)  # every commit counted, none lost to a race
        txn_ids = {lake.manifest(ref, p)["txn_id"] for p in lake.partitions(ref)}
        assert len(txn_ids) == len(mine)
    assert lake.verify() == []
    assert not list((tmp_path / "lake" / "_zaloni" / "txn").iterdir())
