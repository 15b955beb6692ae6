"""What the Iceberg tables cost a lake commit: the same ingests into a lake with tables and into one without.

Each run lands ``--rows`` rows (``--partitions`` partitions, one commit each, then a re-run of the first one, which
replaces its partition) into a fresh local lake, once with the embedded SQLite catalog (the default) and once with
``catalog="none"`` (files and manifests only, the layout before tables). It prints the median seconds per commit of
each, their ratio, the peak memory of the process (ru_maxrss), and how long a read of the whole dataset through the
catalog takes next to a read through the manifests.

    .venv/bin/python benchmarks/lake_tables.py                   # 1M rows a partition, 5 partitions, 3 repeats
    .venv/bin/python benchmarks/lake_tables.py --rows 200000 --partitions 20
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from airflow_zaloni.lake import DatasetRef, Lake  # noqa: E402
from tests.sources_for_tests import CounterSource  # noqa: E402

REF = DatasetRef("raw", "bench", "orders")


def ingest(lake: Lake, partition: str, lower: int, upper: int) -> float:
    source = CounterSource(lower=lower, upper=upper, batch_rows=100_000)
    batches = list(source.batches())  # the source's own time stays out of the figure
    started = time.perf_counter()
    with lake.transaction(run_id=partition) as txn:
        writer = txn.writer(REF, partition, schema=source.schema)
        for batch in batches:
            writer.write_batch(batch)
        txn.set_watermark(REF, upper, before=lower)
    return time.perf_counter() - started


def run(catalog: str | None, rows: int, partitions: int) -> tuple[list[float], float]:
    root = Path(tempfile.mkdtemp(prefix="zaloni-bench-tables-"))
    try:
        lake = Lake(str(root), catalog=catalog)
        seconds = [ingest(lake, f"dt=2026-01-{p + 1:02d}", p * rows, (p + 1) * rows) for p in range(partitions)]
        seconds.append(ingest(lake, "dt=2026-01-01", 0, rows))  # a re-run replaces its partition
        started = time.perf_counter()
        assert lake.read_table(REF, columns=["id"]).num_rows == rows * partitions
        return seconds, time.perf_counter() - started
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    run(None, 1000, 1)  # warm-up: imports (pyiceberg, SQLAlchemy) and the first catalog
    figures: dict[str, tuple[list[float], list[float]]] = {"tables": ([], []), "files only": ([], [])}
    for _ in range(args.repeat):
        for name, catalog in (("tables", None), ("files only", "none")):
            commits, read = run(catalog, args.rows, args.partitions)
            figures[name][0].extend(commits)
            figures[name][1].append(read)
    commit = {name: statistics.median(c) for name, (c, _r) in figures.items()}
    read = {name: statistics.median(r) for name, (_c, r) in figures.items()}
    print(f"{args.rows:,} rows a commit, {args.partitions} partitions + 1 re-run, {args.repeat} repeats")
    for name in figures:
        print(f"  {name:<11} commit median {commit[name]:.3f} s   read all median {read[name]:.3f} s")
    print(
        f"  ratio tables / files only: commit {commit['tables'] / commit['files only']:.2f}x, "
        f"read {read['tables'] / read['files only']:.2f}x"
    )
    print(f"  peak memory of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
