"""What Iceberg tables cost the lake's commit, and how the lake's table writes compare with pyiceberg's own.

    .venv/bin/python benchmarks/lake_commit.py                         # all of it (a few minutes)
    .venv/bin/python benchmarks/lake_commit.py --only commits --ingests 100
    .venv/bin/python benchmarks/lake_commit.py --only bulk --rows 1000000 --repeat 1

**(a) commit cost** (``--only commits``): ``--ingests`` small ingests (``--ingest-rows`` rows each) through the lake,
each a whole transaction (writer, manifest, commit), first each into a new partition, then a re-run of each (which
replaces its partition: an Iceberg overwrite of that partition); then one ingest that writes ``P`` partitions in one
commit, for each ``P`` of ``--partitions``, re-run ``--wide-runs`` times. Two local lakes, one with tables (the
embedded SQLite catalog, one Iceberg snapshot per commit) and one with ``catalog="none"`` (the file-only protocol the
lake had before tables), in one fresh process with their ingests interleaved, so the load of a shared machine falls
on both alike. Printed: ms per ingest (mean and median), how it moves from the first to the last tenth of the
ingests (the table's history grows), and ms per partition of the multi-partition commits.

**(b) bulk** (``--only bulk``): ``--rows`` rows (7 columns: bigint, int, decimal(12,2), string, timestamptz, date,
boolean), built in memory the same way by both sides, then written into a table:

* ours:  the lake's writer (Parquet files of the lake's row groups) and the commit that registers them in the table;
* floor: pyiceberg's own ``Table.append`` of the same Arrow table into a table of a SqlCatalog on SQLite.

Each side runs in a fresh process, alternating, best of ``--repeat``; 'work' is the time of the write after the
data was built, 'peak RSS' the process's peak (``wait4``), which holds the Arrow data on both sides.
ratio = floor / ours (above 1: ours faster).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Fresh-process timing and peak RSS are those of benchmarks/files.py.
from files import timed, warm_bytecode

REPO = Path(__file__).resolve().parents[1]
PARTITION = "dt=2026-11-25"


# -- data ---------------------------------------------------------------------------------------------------------
def orders(rows: int, start: int = 0) -> Any:
    """``rows`` deterministic order rows as one Arrow table (vectorised: 5M rows in about a second)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = np.arange(start, start + rows, dtype=np.int64)
    customer = pa.array((ids * 7919) % 100_000, pa.int64()).cast(pa.int32())
    # decimal128 values are 16-byte little-endian integers of the unscaled value: cents in the low half
    unscaled = np.zeros((rows, 2), dtype=np.int64)
    unscaled[:, 0] = (ids * 104_729) % 10_000_000
    amount = pa.Array.from_buffers(pa.decimal128(12, 2), rows, [None, pa.py_buffer(unscaled.tobytes())])
    names = pc.binary_join_element_wise("customer-", pc.cast(customer, pa.string()), "")
    return pa.table(
        {
            "order_id": pa.array(ids),
            "customer_id": customer,
            "amount": amount,
            "customer": names,
            "ordered_at": pa.array(1_764_000_000_000_000 + ids * 1_000_003, pa.timestamp("us", tz="UTC")),
            "day": pa.array(20_000 + (ids % 365), pa.int32()).cast(pa.date32()),
            "paid": pa.array(ids % 3 != 0),
        }
    )


# -- the sides, each run as `python benchmarks/lake_commit.py --side NAME WORKDIR [ARGS...]` -------------------------
def side_commits(work: str, ingests: str, ingest_rows: str, partitions: str, wide_runs: str) -> None:
    """Both lakes in one process, their ingests interleaved, so load on the machine hits both sides alike."""
    sys.path.insert(0, str(REPO))
    from airflow_zaloni.lake import DatasetRef, Lake

    lakes = {"off": Lake(f"{work}/files-only", catalog="none"), "on": Lake(f"{work}/tables")}
    data = orders(int(ingest_rows))
    widths = [int(p) for p in partitions.split(",")]
    days = partition_names(max([int(ingests), *widths]))
    times: dict[str, dict[str, Any]] = {side: {"new": [], "rerun": [], "wide": {}} for side in lakes}

    def ingest(side: str, ref: DatasetRef, targets: list[str], run_id: str) -> float:
        started = time.perf_counter()
        with lakes[side].transaction(run_id=run_id) as txn:
            for partition in targets:
                txn.writer(ref, partition, schema=data.schema).write_table(data)
        return (time.perf_counter() - started) * 1000

    def both(kind: str, ref: DatasetRef, targets: list[str], run_id: str) -> None:
        for side in lakes:
            times[side][kind].append(ingest(side, ref, targets, run_id))

    ref = DatasetRef("raw", "bench", "orders")
    for side in lakes:  # imports and the catalog's first open are not a commit's cost
        ingest(side, DatasetRef("raw", "bench", "warm_up"), [days[0]], "warm-up")
    for n, day in enumerate(days[: int(ingests)]):
        both("new", ref, [day], f"new-{n}")
    for n, day in enumerate(days[: int(ingests)]):
        both("rerun", ref, [day], f"rerun-{n}")
    for count in widths:  # created once, then re-run (each re-run replaces all its partitions)
        wide_ref = DatasetRef("raw", "bench", f"wide_{count}")
        for side in lakes:
            ingest(side, wide_ref, days[:count], "create")
            times[side]["wide"][count] = []
        for n in range(int(wide_runs)):
            for side in lakes:
                times[side]["wide"][count].append(ingest(side, wide_ref, days[:count], f"w{count}-{n}"))
    print("RESULT " + json.dumps(times))


def partition_names(count: int) -> list[str]:
    """``count`` distinct daily partitions (28 days a month, 12 months a year: names only)."""
    return [f"dt={2000 + n // 336}-{1 + n % 336 // 28:02d}-{1 + n % 28:02d}" for n in range(count)]


def preload() -> None:
    """The modules that both bulk sides use, imported before their clocks start (imports are not the write)."""
    import pyiceberg.catalog.sql
    import pyiceberg.io.pyarrow
    import pyiceberg.table  # noqa: F401


def side_ours(work: str, rows: str) -> None:
    sys.path.insert(0, str(REPO))
    from airflow_zaloni.lake import DatasetRef, Lake

    preload()
    data = orders(int(rows))
    started = time.perf_counter()
    lake = Lake(work)
    ref = DatasetRef("raw", "bench", "orders")
    with lake.transaction(run_id="bench") as txn:
        writer = txn.writer(ref, PARTITION, schema=data.schema)
        for batch in data.to_batches(max_chunksize=65_536):  # as a source hands them over
            writer.write_batch(batch)
    elapsed = time.perf_counter() - started
    table = lake.table(ref)
    assert table is not None and table.scan().count() == int(rows), "the table does not hold the rows"
    print(f"WORK {elapsed:.3f}")


def side_floor(work: str, rows: str) -> None:
    from pyiceberg.catalog import load_catalog

    preload()
    data = orders(int(rows))
    started = time.perf_counter()
    catalog = load_catalog("bench", type="sql", uri=f"sqlite:///{work}/catalog.db", warehouse=f"file://{work}")
    catalog.create_namespace(("raw", "bench"))
    table = catalog.create_table(("raw", "bench", "orders"), schema=data.schema)
    table.append(data)
    elapsed = time.perf_counter() - started
    assert table.scan().count() == int(rows)
    print(f"WORK {elapsed:.3f}")


SIDES = {"commits": side_commits, "ours": side_ours, "floor": side_floor}


# -- the driver ---------------------------------------------------------------------------------------------------
def side_command(name: str, work: Path, *args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--side", name, str(work), *args]


def commit_costs(args: argparse.Namespace, tmp: Path) -> None:
    cmd = side_command("commits", tmp, str(args.ingests), str(args.ingest_rows), args.partitions, str(args.wide_runs))
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    results = json.loads(line[len("RESULT ") :])
    median = statistics.median
    print(f"\n(a) commit cost: {args.ingests} ingests of {args.ingest_rows} rows, local lake, ms (mean / median)")
    print(f"{'':40}{'files only':>16}{'with tables':>17}{'tables add':>13}")
    for key, label in (("new", "ingest into a new partition"), ("rerun", "re-run (replaces the partition)")):
        off, on = results["off"][key], results["on"][key]
        print(
            f"{label:40}{statistics.mean(off):>9.1f} / {median(off):>5.1f}"
            f"{statistics.mean(on):>9.1f} / {median(on):>5.1f}{median(on) - median(off):>9.1f} (median)"
        )
    tenth = max(1, args.ingests // 10)
    for key in ("new", "rerun"):
        on, off = results["on"][key], results["off"][key]
        print(
            f"  {key}: first {tenth} vs last {tenth} ingests, median: files only {median(off[:tenth]):.1f} vs "
            f"{median(off[-tenth:]):.1f}, with tables {median(on[:tenth]):.1f} vs {median(on[-tenth:]):.1f}"
        )
    print(f"one commit re-running P partitions, median of {args.wide_runs} runs, ms:")
    for count in results["off"]["wide"]:
        off, on = median(results["off"]["wide"][count]), median(results["on"]["wide"][count])
        print(
            f"  P = {count:>3}: files only {off:>7.1f}, with tables {on:>7.1f}; per partition "
            f"{off / int(count):.1f} vs {on / int(count):.1f} (tables add {(on - off) / int(count):.1f})"
        )


def bulk(args: argparse.Namespace, tmp: Path) -> None:
    best: dict[str, tuple[float, float, float]] = {}
    for n in range(args.repeat):
        for name in ("ours", "floor"):
            work = tmp / f"bulk-{name}-{n}"
            work.mkdir()
            result = timed(side_command(name, work, str(args.rows)))
            if name not in best or result[1] < best[name][1]:
                best[name] = result
            shutil.rmtree(work)
    print(f"\n(b) {args.rows:,} rows x 7 columns into an Iceberg table, local disk, best of {args.repeat}")
    print(f"{'':44}{'wall s':>8}{'work s':>8}{'peak RSS MB':>13}")
    labels = {"ours": "ours: lake writer + commit (table snapshot)", "floor": "floor: pyiceberg Table.append"}
    for name in ("ours", "floor"):
        wall, work_s, peak = best[name]
        print(f"{labels[name]:44}{wall:>8.2f}{work_s:>8.2f}{peak:>13.0f}")
    print(
        f"ratio floor/ours: work {best['floor'][1] / best['ours'][1]:.2f}, "
        f"wall {best['floor'][0] / best['ours'][0]:.2f}"
        f"; peak RSS ours/floor {best['ours'][2] / best['floor'][2]:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["commits", "bulk"])
    parser.add_argument("--ingests", type=int, default=50)
    parser.add_argument("--ingest-rows", type=int, default=100)
    parser.add_argument("--partitions", default="1,10,50", help="partitions of the one-commit ingests")
    parser.add_argument("--wide-runs", type=int, default=5, help="re-runs of each one-commit ingest")
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each bulk side, alternating; the best counts")
    parser.add_argument("--side", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        SIDES[args.side[0]](*args.side[1:])
        return
    with tempfile.TemporaryDirectory(prefix="zaloni-bench-commit-", dir=os.environ.get("BENCH_TMP")) as name:
        tmp = Path(name)
        warm_bytecode(tmp, "import pyarrow, pyiceberg.catalog.sql, pyiceberg.io.pyarrow; import airflow_zaloni.lake")
        if args.only in (None, "commits"):
            commit_costs(args, tmp)
        if args.only in (None, "bulk"):
            bulk(args, tmp)


if __name__ == "__main__":
    main()
