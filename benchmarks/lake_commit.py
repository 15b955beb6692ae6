"""What Iceberg tables cost the lake's commit, and how the lake's table writes compare with pyiceberg's own.

    .venv/bin/python benchmarks/lake_commit.py                         # all of it (a few minutes)
    .venv/bin/python benchmarks/lake_commit.py --only commits --ingests 100 --repeat 3
    .venv/bin/python benchmarks/lake_commit.py --only bulk --rows 1000000 --repeat 1
    .venv/bin/python benchmarks/lake_commit.py --only large --large-rows 200000 --large-partitions 20

**(a) commit cost** (``--only commits``): ``--ingests`` small ingests (``--ingest-rows`` rows each) through the lake,
each a whole transaction (writer, manifest, commit), first each into a new partition, then a re-run of each (which
replaces its partition: an Iceberg overwrite of that partition); then one ingest that writes ``P`` partitions in one
commit, for each ``P`` of ``--partitions``, re-run ``--wide-runs`` times. Two local lakes, one with tables (the
embedded SQLite catalog, one Iceberg snapshot per commit) and one with ``catalog="none"`` (the file-only protocol the
lake had before tables), in one fresh process with their ingests interleaved, so the load of a shared machine falls
on both alike; ``--repeat`` times, with fresh lakes each time. Printed: ms per ingest (mean and median), the cost of
commit 1, 10, 50, 100... as the table's history grows (median over the repeats of the five commits around it) with
the table's size after it (metadata file, manifests of the current snapshot, snapshots kept), ms per partition of
the multi-partition commits, and the process's peak memory.

**(b) bulk** (``--only bulk``): ``--rows`` rows (7 columns: bigint, int, decimal(12,2), string, timestamptz, date,
boolean), built in memory the same way by both sides, then written into a table:

* ours:  the lake's writer (Parquet files of the lake's row groups) and the commit that registers them in the table;
* floor: pyiceberg's own ``Table.append`` of the same Arrow table into a table of a SqlCatalog on SQLite.

Each side runs in a fresh process, alternating, best of ``--repeat``; 'work' is the time of the write after the
data was built, 'peak RSS' the process's peak (``wait4``), which holds the Arrow data on both sides.
ratio = floor / ours (above 1: ours faster).

**(c) large commits and reads** (``--only large``): ``--large-rows`` rows a commit (the test suite's counter source,
batches of 100,000 rows, built before the clock starts) into ``--large-partitions`` partitions, one commit each, then
a re-run of the first one, into a fresh lake with tables and one without, ``--repeat`` times, alternating, in one
process. Printed: the median seconds per commit of each, the median time of a read of the whole dataset through the
catalog (with tables) and through the manifests (without), their ratios, and the process's peak memory.
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
def side_commits(work: str, ingests: str, ingest_rows: str, partitions: str, wide_runs: str, repeat: str) -> None:
    """Both lakes in one process, their ingests interleaved, so load on the machine hits both sides alike."""
    import resource

    sys.path.insert(0, str(REPO))
    from airflow_zaloni.lake import DatasetRef, Lake

    data = orders(int(ingest_rows))
    widths = [int(p) for p in partitions.split(",")]
    days = partition_names(max([int(ingests), *widths]))
    # per side and kind: one list of ms per repeat; "history" (tables only, first repeat): the table's size after
    # each new-partition commit
    times: dict[str, dict[str, Any]] = {side: {"new": [], "rerun": [], "wide": {}} for side in ("off", "on")}
    history: list[dict[str, int]] = []

    def ingest(lake: Lake, ref: DatasetRef, targets: list[str], run_id: str) -> float:
        started = time.perf_counter()
        with lake.transaction(run_id=run_id) as txn:
            for partition in targets:
                txn.writer(ref, partition, schema=data.schema).write_table(data)
        return (time.perf_counter() - started) * 1000

    ref = DatasetRef("raw", "bench", "orders")
    for r in range(int(repeat)):
        lakes = {"off": Lake(f"{work}/{r}/files-only", catalog="none"), "on": Lake(f"{work}/{r}/tables")}
        for side, lake in lakes.items():  # imports and the catalog's first open are not a commit's cost
            ingest(lake, DatasetRef("raw", "bench", "warm_up"), [days[0]], "warm-up")
            times[side]["new"].append([])
            times[side]["rerun"].append([])
        for kind in ("new", "rerun"):
            for n, day in enumerate(days[: int(ingests)]):
                for side, lake in lakes.items():
                    times[side][kind][r].append(ingest(lake, ref, [day], f"{kind}-{n}"))
                if r == 0 and kind == "new":
                    history.append(table_size(lakes["on"], ref))
        for count in widths:  # created once, then re-run (each re-run replaces all its partitions)
            wide_ref = DatasetRef("raw", "bench", f"wide_{count}")
            for lake in lakes.values():
                ingest(lake, wide_ref, days[:count], "create")
            for n in range(int(wide_runs)):
                for side, lake in lakes.items():
                    wide = times[side]["wide"].setdefault(str(count), [])
                    wide.append(ingest(lake, wide_ref, days[:count], f"w{count}-{n}"))
        shutil.rmtree(f"{work}/{r}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps({"times": times, "history": history, "peak_mb": peak_mb}))


def table_size(lake: Any, ref: Any) -> dict[str, int]:
    """What a commit of the table has to read and rewrite: its metadata file, manifests and snapshots."""
    table = lake.table(ref)
    snapshot = table.current_snapshot()
    return {
        "metadata_bytes": os.path.getsize(table.metadata_location.removeprefix("file://")),
        "manifests": len(snapshot.manifests(table.io)),
        "snapshots": len(table.snapshots()),
    }


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


def side_large(work: str, rows: str, partitions: str, repeat: str) -> None:
    """Large commits and a read of everything, with tables and without, alternating (see (c) above)."""
    import resource

    sys.path.insert(0, str(REPO))
    from airflow_zaloni.lake import DatasetRef, Lake
    from tests.sources_for_tests import CounterSource

    ref = DatasetRef("raw", "bench", "orders")
    n_rows, n_partitions = int(rows), int(partitions)

    def ingest(lake: Lake, partition: str, lower: int, upper: int) -> float:
        source = CounterSource(lower=lower, upper=upper, batch_rows=100_000)
        batches = list(source.batches())  # the source's own time stays out of the figure
        started = time.perf_counter()
        with lake.transaction(run_id=partition) as txn:
            writer = txn.writer(ref, partition, schema=source.schema)
            for batch in batches:
                writer.write_batch(batch)
            txn.set_watermark(ref, upper, before=lower)
        return time.perf_counter() - started

    def run(catalog: str | None, root: str) -> tuple[list[float], float]:
        lake = Lake(root, catalog=catalog)
        days = partition_names(n_partitions)
        seconds = [ingest(lake, day, p * n_rows, (p + 1) * n_rows) for p, day in enumerate(days)]
        seconds.append(ingest(lake, days[0], 0, n_rows))  # a re-run replaces its partition
        started = time.perf_counter()
        assert lake.read_table(ref, columns=["id"]).num_rows == n_rows * n_partitions
        return seconds, time.perf_counter() - started

    run(None, f"{work}/warm-up")  # imports (pyiceberg, SQLAlchemy) and the first catalog
    shutil.rmtree(f"{work}/warm-up")
    figures: dict[str, dict[str, list[float]]] = {side: {"commit": [], "read": []} for side in ("on", "off")}
    for n in range(int(repeat)):
        for side, catalog in (("on", None), ("off", "none")):
            commits, read = run(catalog, f"{work}/large-{side}-{n}")
            figures[side]["commit"].extend(commits)
            figures[side]["read"].append(read)
            shutil.rmtree(f"{work}/large-{side}-{n}")
    figures["peak_mb"] = {"all": [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]}
    print("RESULT " + json.dumps(figures))


SIDES = {"commits": side_commits, "ours": side_ours, "floor": side_floor, "large": side_large}


# -- the driver ---------------------------------------------------------------------------------------------------
def side_command(name: str, work: Path, *args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--side", name, str(work), *args]


def side_result(cmd: list[str]) -> Any:
    """Run a side in a fresh process; its ``RESULT`` line, decoded."""
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def commit_costs(args: argparse.Namespace, tmp: Path) -> None:
    cmd = side_command(
        "commits",
        tmp,
        str(args.ingests),
        str(args.ingest_rows),
        args.partitions,
        str(args.wide_runs),
        str(args.repeat),
    )
    results = side_result(cmd)
    times, history = results["times"], results["history"]
    median = statistics.median
    n = args.ingests
    print(
        f"\n(a) commit cost: {n} ingests of {args.ingest_rows} rows, local lake, {args.repeat} repeats, "
        "ms (mean / median of all)"
    )
    print(f"{'':40}{'files only':>16}{'with tables':>17}{'tables add':>13}")
    for key, label in (("new", "ingest into a new partition"), ("rerun", "re-run (replaces the partition)")):
        off, on = ([ms for run in times[side][key] for ms in run] for side in ("off", "on"))
        print(
            f"{label:40}{statistics.mean(off):>9.1f} / {median(off):>5.1f}"
            f"{statistics.mean(on):>9.1f} / {median(on):>5.1f}{median(on) - median(off):>9.1f} (median)"
        )
    print(
        "per commit as the history grows, ms (median over the repeats of commits k-2..k+2); the table after "
        "new-partition commit k:"
    )
    print(f"{'':28}{'files only':>11}{'with tables':>12}{'metadata KB':>13}{'manifests':>11}{'snapshots':>11}")
    for k in checkpoints(n):
        for key, label in (("new", f"new partition, commit {k}"), ("rerun", f"re-run {k} (history {n + k})")):
            window = range(max(0, k - 3), min(n, k + 2))
            off = median([runs[i] for runs in times["off"][key] for i in window])
            on = median([runs[i] for runs in times["on"][key] for i in window])
            table = ""
            if key == "new":
                size = history[k - 1]
                table = f"{size['metadata_bytes'] / 1024:>13.1f}{size['manifests']:>11}{size['snapshots']:>11}"
            print(f"  {label:<26}{off:>11.1f}{on:>12.1f}{table}")
    print(f"one commit re-running P partitions, median of {args.wide_runs} runs x {args.repeat} repeats, ms:")
    for count in times["off"]["wide"]:
        off, on = median(times["off"]["wide"][count]), median(times["on"]["wide"][count])
        print(
            f"  P = {count:>3}: files only {off:>7.1f}, with tables {on:>7.1f}; per partition "
            f"{off / int(count):.1f} vs {on / int(count):.1f} (tables add {(on - off) / int(count):.1f})"
        )
    print(f"peak memory of the process (both lakes): {results['peak_mb']:.0f} MB")


def checkpoints(ingests: int) -> list[int]:
    """Commits 1, 10, 50, 100, ... up to ``ingests``, and the last one."""
    marks = [k for k in (1, 10, 50, 100, 200, 500, 1000) if k <= ingests]
    return marks if marks[-1] == ingests else [*marks, ingests]


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


def large(args: argparse.Namespace, tmp: Path) -> None:
    cmd = side_command("large", tmp, str(args.large_rows), str(args.large_partitions), str(args.repeat))
    figures = side_result(cmd)
    median = statistics.median
    commit = {side: median(figures[side]["commit"]) for side in ("on", "off")}
    read = {side: median(figures[side]["read"]) for side in ("on", "off")}
    print(
        f"\n(c) {args.large_rows:,} rows a commit, {args.large_partitions} partitions + 1 re-run, "
        f"{args.repeat} repeats, local lake, medians"
    )
    for side, label in (("on", "with tables"), ("off", "files only")):
        print(f"  {label:<12} commit {commit[side]:.3f} s   read all {read[side]:.3f} s")
    print(
        f"  ratio with tables / files only: commit {commit['on'] / commit['off']:.2f}x, "
        f"read {read['on'] / read['off']:.2f}x; peak memory of the process {figures['peak_mb']['all'][0]:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["commits", "bulk", "large"])
    parser.add_argument("--ingests", type=int, default=50)
    parser.add_argument("--ingest-rows", type=int, default=100)
    parser.add_argument("--partitions", default="1,10,50", help="partitions of the one-commit ingests")
    parser.add_argument("--wide-runs", type=int, default=5, help="re-runs of each one-commit ingest")
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each side, alternating")
    parser.add_argument("--large-rows", type=int, default=1_000_000, help="rows a commit of (c)")
    parser.add_argument("--large-partitions", type=int, default=5, help="partitions (commits) of (c)")
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
        if args.only in (None, "large"):
            large(args, tmp)


if __name__ == "__main__":
    main()
