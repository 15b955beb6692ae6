"""Fan-out across edge workers: the same DAG run with ONE Edge worker, then with TWO, on a real deployment.

The deployment is the one the deployment test starts (``tests/deployment/cluster.py``): PostgreSQL metadata DB, API
server, scheduler, DAG processor, triggerer, and Edge executor workers (concurrency 1 each), every one an
``airflow`` process of its own. The DAG (``benchmarks/dags/fanout_bench.py``) fans out, one after the other:

(a) a generated mainframe file (``--size-mb``, RECFM ``--recfm``) cut into ``--parts`` byte ranges at record
    boundaries (``MainframeSplitPlanOperator`` -> mapped ``MainframeToLakeOperator`` -> ``LakeCommitOperator``);
(b) a SQLite table of ``--rows`` rows cut into ``--parts`` ranges of its key (``SqlSplitPlanOperator`` -> mapped
    ``SqlToLakeOperator`` -> ``LakeCommitOperator``).

The DAG is run ``--repeat`` times with worker ``a`` alone, then worker ``b`` is started and it runs as often again.
Each fan-out phase is timed from the task instances' start and end dates in the REST API: from the first mapped
part's start to the last one's end (task start-up and the gaps between tasks included, as a user sees them). It
prints the median seconds of each, the speed-up ratio, the summed durations of the parts (the work, without the
gaps: it grows when the two workers slow each other down), the rows committed and which node ran each part.

    .venv/bin/python benchmarks/fanout.py                        # 1000 MB fixed-length, 4M rows, 4 parts
    .venv/bin/python benchmarks/fanout.py --size-mb 2000 --rows 6000000 --recfm VB

``--scan-cost`` measures instead, in this process and without Airflow, what cutting a VB file costs: the CPU seconds
of planning the ranges (framing headers only), of decoding the whole file, and of decoding each range (a V/VB part
walks the headers from the start of the file to its range).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.deployment.cluster import EdgeCluster, edge_cluster  # noqa: E402
from tests.fanout_data import COPYBOOK, VB_OPTIONS, customer_records, vb_bytes, write_repeated  # noqa: E402

DAG_ID = "zaloni_fanout_bench"
PHASES = {"mainframe": ("mf_plan", "mf_part", "mf_commit"), "table": ("sql_plan", "sql_part", "sql_commit")}


def make_inputs(folder: Path, size_mb: int, rows: int, recfm: str) -> dict[str, Any]:
    """The mainframe file (whole records or blocks of the example's customers repeated) and the SQLite table."""
    records = customer_records(20_000)
    unit = vb_bytes(records) if recfm == "VB" else b"".join(records)
    options = dict(VB_OPTIONS) if recfm == "VB" else {"record_format": "F"}
    copies = write_repeated(folder / "BIG.DAT", unit, size_mb * 1_000_000)
    (folder / "customers.cpy").write_text(COPYBOOK)
    (folder / "options.json").write_text(json.dumps(options))
    with sqlite3.connect(folder / "warehouse.sqlite") as db:
        db.executescript(
            f"""
            CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id INTEGER, amount REAL, status TEXT,
                                 ordered_at TEXT, note TEXT);
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {int(rows)})
            INSERT INTO orders
            SELECT i, 1 + i % 5000, (i * 37 % 100000) / 100.0, CASE i % 3 WHEN 0 THEN 'new' WHEN 1 THEN 'shipped'
                   ELSE 'returned' END, datetime(1700000000 + i * 17, 'unixepoch'), printf('order %d of the bench', i)
            FROM n;
            """
        )
    return {"file_bytes": (folder / "BIG.DAT").stat().st_size, "records": copies * len(records), "rows": rows}


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def wait_for_worker(cluster: EdgeCluster, node: str) -> None:
    def ready() -> bool:
        workers = cluster.api("GET", f"/edge_worker/ui/worker?worker_name_pattern=edge-{node}")["workers"]
        return any(w["state"] in ("idle", "running") for w in workers)

    cluster.wait_for(f"edge worker {node} to come online", ready, timeout=180)


def run_once(cluster: EdgeCluster, timeout: float) -> dict[str, Any]:
    run = cluster.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None})
    run_path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}"
    state = cluster.wait_for(
        "the benchmark run to finish",
        lambda: (s := cluster.api("GET", run_path)["state"]) in ("success", "failed") and s,
        timeout=timeout,
        interval=2,
    )
    if state != "success":
        raise RuntimeError(f"the benchmark run {run['dag_run_id']} {state}; see {cluster.home}/*.log")
    tis = cluster.api("GET", f"{run_path}/taskInstances?limit=100")["task_instances"]
    result: dict[str, Any] = {}
    for phase, (plan, part, commit) in PHASES.items():
        parts = [t for t in tis if t["task_id"] == part]
        start = min(when(t["start_date"]) for t in parts)
        end = max(when(t["end_date"]) for t in parts)
        [plan_ti] = [t for t in tis if t["task_id"] == plan]
        [commit_ti] = [t for t in tis if t["task_id"] == commit]
        xcom = cluster.api("GET", f"{run_path}/taskInstances/{commit}/xcomEntries/return_value")
        value = xcom["value"] if isinstance(xcom["value"], dict) else json.loads(xcom["value"])
        result[phase] = {
            "seconds": (end - start).total_seconds(),
            "plan_to_commit": (when(commit_ti["end_date"]) - when(plan_ti["start_date"])).total_seconds(),
            "part_seconds": sorted(float(t["duration"] or 0) for t in parts),
            "nodes": sorted(t["hostname"] for t in parts),
            "rows": value["rows"],
            "parts": len(parts),
        }
    return result


def scan_cost(size_mb: int, parts: int) -> None:
    from airflow_zaloni.mainframe import decode_file, decode_range
    from airflow_zaloni.mainframe.ranges import plan_byte_ranges

    tmp = Path(tempfile.mkdtemp(prefix="zaloni-fanout-"))
    try:
        path = tmp / "VB.DAT"
        write_repeated(path, vb_bytes(customer_records(20_000)), size_mb * 1_000_000)

        def cpu(work: Any) -> tuple[float, Any]:
            began = time.process_time()
            result = work()
            return time.process_time() - began, result

        plan_s, ranges = cpu(lambda: plan_byte_ranges(path, COPYBOOK, VB_OPTIONS, parts))
        whole_s, records = cpu(lambda: sum(b.num_rows for b in decode_file(path, COPYBOOK, VB_OPTIONS)))
        print(f"VB {path.stat().st_size / 1e6:,.0f} MB, {records:,} records (CPU seconds of this process)")
        print(f"  plan {len(ranges)} ranges: {plan_s:.2f} s;  decode the whole file: {whole_s:.2f} s")
        for k, (start, end) in enumerate(ranges):
            part_s, rows = cpu(
                lambda a=start, b=end: sum(x.num_rows for x in decode_range(path, COPYBOOK, VB_OPTIONS, a, b))
            )
            print(f"  part {k}: bytes [{start:,}, {end:,}) {rows:,} records: {part_s:.2f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def runs_after_adding_worker(cluster: EdgeCluster, worker: str, label: str, args: argparse.Namespace) -> list[Any]:
    """Start Edge worker ``worker`` (concurrency 1) beside those running, then time ``args.repeat`` DAG runs."""
    cluster.start_worker(worker, "default", concurrency=1)
    wait_for_worker(cluster, worker)
    results = []
    for _ in range(args.repeat):
        results.append(run_once(cluster, args.timeout))
        print(f"{label}: {json.dumps(results[-1])}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1000, help="mainframe file size (default 1000)")
    parser.add_argument("--recfm", choices=["F", "VB"], default="F", help="record format of the file (default F)")
    parser.add_argument("--rows", type=int, default=4_000_000, help="rows of the table (default 4,000,000)")
    parser.add_argument("--parts", type=int, default=4, help="parts of each fan-out (default 4)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration; medians are compared")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for one DAG run")
    parser.add_argument("--scan-cost", action="store_true", help="only measure the cost of cutting a VB file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, lake)")
    args = parser.parse_args()
    if args.scan_cost:
        scan_cost(args.size_mb, args.parts)
        return

    tmp = Path(tempfile.mkdtemp(prefix="zaloni-fanout-"))
    try:
        data = tmp / "data"
        data.mkdir()
        began = time.monotonic()
        inputs = make_inputs(data, args.size_mb, args.rows, args.recfm)
        print(
            f"inputs: {inputs['file_bytes'] / 1e6:,.0f} MB RECFM={args.recfm} ({inputs['records']:,} records), "
            f"{inputs['rows']:,} table rows; written in {time.monotonic() - began:.0f} s",
            flush=True,
        )
        dags = tmp / "dags"
        dags.mkdir()
        shutil.copy(REPO / "benchmarks" / "dags" / "fanout_bench.py", dags / "fanout_bench.py")
        env = {"ZALONI_BENCH_DIR": str(data), "ZALONI_BENCH_PARTS": str(args.parts)}
        with edge_cluster(tmp, dags, extra_env=env) as cluster:
            cluster.wait_for("the DAG to be parsed", lambda: cluster.api("GET", f"/api/v2/dags/{DAG_ID}"), timeout=240)
            cluster.api("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
            ones = runs_after_adding_worker(cluster, "a", "1 worker ", args)
            twos = runs_after_adding_worker(cluster, "b", "2 workers", args)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(f"fan-out phase, {args.parts} parts, Edge workers of concurrency 1 (first part start -> last part end)")
    print(f"{'source':<40} {'rows':>12} {'1 worker':>10} {'2 workers':>10} {'speed-up':>9}   sum of part durations")
    labels = {
        "mainframe": f"mainframe {inputs['file_bytes'] / 1e6:,.0f} MB RECFM={args.recfm}",
        "table": "SQLite table",
    }
    for phase in PHASES:
        expected = inputs["records"] if phase == "mainframe" else inputs["rows"]
        assert all(r[phase]["rows"] == expected for r in ones + twos), (phase, expected, ones, twos)
        a = statistics.median(r[phase]["seconds"] for r in ones)
        b = statistics.median(r[phase]["seconds"] for r in twos)
        work_a = statistics.median(sum(r[phase]["part_seconds"]) for r in ones)
        work_b = statistics.median(sum(r[phase]["part_seconds"]) for r in twos)
        print(
            f"{labels[phase]:<40} {expected:>12,} {a:>9.1f}s {b:>9.1f}s {a / b:>8.2f}x   "
            f"{work_a:.1f} s (1 worker), {work_b:.1f} s (2 workers)"
        )
    for phase in PHASES:
        for n, run in [("1 worker", r) for r in ones] + [("2 workers", r) for r in twos]:
            r = run[phase]
            parts = ", ".join(f"{s:.1f}" for s in r["part_seconds"])
            print(
                f"  {phase:<9} {n:<9}: phase {r['seconds']:.1f} s, plan->commit {r['plan_to_commit']:.1f} s; parts "
                f"[{parts}] s on "
                f"{', '.join(r['nodes'])}"
            )


if __name__ == "__main__":
    main()
