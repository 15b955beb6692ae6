"""Zone promotion: ours (lake manifests, rules, quarantine with rule names, counts, one commit) against the same
five filters written directly in DuckDB and in pyarrow compute, without any of our bookkeeping.

    .venv/bin/python benchmarks/promote.py                 # 10M rows
    .venv/bin/python benchmarks/promote.py --rows 1000000  # quicker

Each engine runs in its own child process (so peak memory is its own, read with ``wait4``) over the same committed
raw partition, writing zstd Parquet. Prints seconds, rows/s, peak RSS and the ratio baseline_time / our_time
(>= 0.5 is the goal: ours at least half as fast as the bare engine).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RAW = ("raw", "bench", "orders")
MAX_ORDER_VALUE = 40000
ENGINES = ("ours", "duckdb", "pyarrow", "duckdb-filters", "pyarrow-filters")
RULES = [
    {"rule": "not_null", "column": "customer"},
    {"rule": "range", "column": "amount", "min": 0, "max": 10000},
    {"rule": "allowed_values", "column": "status", "values": ["NEW", "PAID", "SHIPPED"]},
    {"rule": "regex", "column": "email", "pattern": "^[a-z0-9.]+@[a-z0-9]+\\.[a-z]+$"},
    {"rule": "sql", "expression": f"qty * amount < {MAX_ORDER_VALUE}", "name": "order_value"},
]
# The same five rules as bare DuckDB SQL (TRUE = the row is good) and as pyarrow compute.
DUCKDB_GOOD = (
    "customer IS NOT NULL AND COALESCE(amount BETWEEN 0 AND 10000, TRUE) "
    "AND COALESCE(status IN ('NEW', 'PAID', 'SHIPPED'), TRUE) "
    "AND COALESCE(regexp_matches(email, '^[a-z0-9.]+@[a-z0-9]+\\.[a-z]+$'), TRUE) "
    f"AND COALESCE(qty * amount < {MAX_ORDER_VALUE}, TRUE)"
)


def make_raw(root: str, rows: int) -> None:
    import numpy as np
    import pyarrow as pa

    from airflow_zaloni.lake import DatasetRef, Lake

    rng = np.random.default_rng(7)
    statuses = pa.array(["NEW", "PAID", "SHIPPED", "VOID"])
    emails = pa.array(["ann.lee@example.com", "bob@shop.org", "BAD EMAIL", "carl@mail.net", "dee@corp.io"])
    lake = Lake(root)
    with lake.transaction(run_id="bench") as txn:
        w = txn.writer(DatasetRef(*RAW), "dt=2026-01-01")
        done = 0
        while done < rows:
            n = min(1_000_000, rows - done)
            customer = pa.array(rng.integers(0, 1_000_000, n), pa.int64(), mask=rng.random(n) < 0.005)
            w.write_batch(
                pa.record_batch(
                    {
                        "id": pa.array(np.arange(done, done + n), pa.int64()),
                        "customer": customer,
                        "amount": pa.array(rng.normal(300, 120, n).round(2)),
                        "qty": pa.array(rng.integers(1, 100, n), pa.int32()),
                        "status": statuses.take(pa.array(rng.choice(4, n, p=[0.4, 0.3, 0.29, 0.01]))),
                        "email": emails.take(pa.array(rng.choice(5, n, p=[0.3, 0.3, 0.01, 0.2, 0.19]))),
                        "created": pa.array(
                            np.datetime64("2026-01-01") + rng.integers(0, 86_400_000, n).astype("m8[ms]")
                        ),
                    }
                )
            )
            done += n


def run_ours(root: str) -> dict:
    from airflow_zaloni.lake import DatasetRef, Lake
    from airflow_zaloni.lake.promote import promote

    raw = DatasetRef(*RAW)
    report = promote(Lake(root), source=raw, partitions=["dt=2026-01-01"], target=raw.with_zone("trusted"), rules=RULES)
    return {"passed": report["passed"], "quarantined": report["quarantined"]}


def run_duckdb(root: str, out: str) -> dict:
    import duckdb

    from airflow_zaloni.lake import DatasetRef, Lake

    files = Lake(root).data_files(DatasetRef(*RAW), "dt=2026-01-01")
    con = duckdb.connect()
    src = f"read_parquet([{', '.join(repr(f) for f in files)}])"
    # One pass, both outputs: Hive-partitioned by the verdict (good=true / good=false).
    con.execute(
        f"COPY (SELECT *, ({DUCKDB_GOOD}) AS good FROM {src}) TO '{out}/split' "
        "(FORMAT parquet, PARTITION_BY (good), COMPRESSION zstd)"
    )
    verdicts = con.execute(
        f"SELECT good::BOOLEAN, count(*) FROM read_parquet('{out}/split/*/*.parquet', hive_partitioning=true) "
        "GROUP BY 1"
    ).fetchall()
    counts = dict(verdicts)
    good, bad = counts.get(True, 0), counts.get(False, 0)
    return {"passed": good, "quarantined": bad}


def pyarrow_good(batch: Any) -> Any:
    """The five rules in pyarrow compute: TRUE where the row is good (NULL passes value rules, as in ours)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    amount = batch.column("amount")
    allowed = pa.array(["NEW", "PAID", "SHIPPED"])
    checks = [
        pc.and_kleene(pc.greater_equal(amount, 0), pc.less_equal(amount, 10000)),
        pc.is_in(batch.column("status"), value_set=allowed),
        pc.match_substring_regex(batch.column("email"), "^[a-z0-9.]+@[a-z0-9]+\\.[a-z]+$"),
        pc.less(pc.multiply(batch.column("qty"), amount), MAX_ORDER_VALUE),
    ]
    ok = pc.is_valid(batch.column("customer"))
    for check in checks:
        ok = pc.and_(ok, pc.fill_null(check, True))
    return ok


def run_duckdb_filters(root: str) -> dict:
    """The engine alone: evaluate the five rules and count, no output (DuckDB)."""
    import duckdb

    from airflow_zaloni.lake import DatasetRef, Lake

    files = Lake(root).data_files(DatasetRef(*RAW), "dt=2026-01-01")
    src = f"read_parquet([{', '.join(repr(f) for f in files)}])"
    good, total = (
        duckdb.connect().execute(f"SELECT count(*) FILTER (WHERE {DUCKDB_GOOD}), count(*) FROM {src}").fetchall()[0]
    )
    return {"passed": good, "quarantined": total - good}


def run_pyarrow_filters(root: str) -> dict:
    """The engine alone: evaluate the five rules and count, no output (pyarrow compute, streaming)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from airflow_zaloni.lake import DatasetRef, Lake

    good = total = 0
    for path in Lake(root).data_files(DatasetRef(*RAW), "dt=2026-01-01"):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1_000_000):
            good += pc.sum(pyarrow_good(batch)).as_py() or 0
            total += batch.num_rows
    return {"passed": good, "quarantined": total - good}


def run_pyarrow(root: str, out: str) -> dict:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from airflow_zaloni.lake import DatasetRef, Lake

    files = Lake(root).data_files(DatasetRef(*RAW), "dt=2026-01-01")
    schema = pq.read_schema(files[0])
    good_w = pq.ParquetWriter(f"{out}/good.parquet", schema, compression="zstd")
    bad_w = pq.ParquetWriter(f"{out}/bad.parquet", schema, compression="zstd")
    good = bad = 0
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1_000_000):
            ok = pyarrow_good(batch)
            g = batch.filter(ok)
            b = batch.filter(pc.invert(ok))
            good_w.write_batch(g)
            bad_w.write_batch(b)
            good += g.num_rows
            bad += b.num_rows
    good_w.close()
    bad_w.close()
    return {"passed": good, "quarantined": bad}


def child(engine: str, root: str) -> None:
    # Import what every engine uses before the clock starts: the figure is the work, not the interpreter start.
    import duckdb  # noqa: F401
    import pyarrow.compute
    import pyarrow.parquet  # noqa: F401

    import airflow_zaloni.lake.promote  # noqa: F401

    out = tempfile.mkdtemp(dir=root)
    started = time.perf_counter()
    if engine == "ours":
        counts = run_ours(root)
    elif engine == "duckdb":
        counts = run_duckdb(root, out)
    elif engine == "pyarrow":
        counts = run_pyarrow(root, out)
    elif engine == "duckdb-filters":
        counts = run_duckdb_filters(root)
    else:
        counts = run_pyarrow_filters(root)
    seconds = time.perf_counter() - started
    shutil.rmtree(out, ignore_errors=True)
    print(json.dumps({"seconds": seconds, **counts}))


def measure(engine: str, root: str) -> dict:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", engine, "--root", root], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{engine} failed with status {status}")
    result = json.loads(output.strip().splitlines()[-1])
    result["peak_mb"] = usage.ru_maxrss / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--child", choices=ENGINES)
    parser.add_argument("--root")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.root)
        return
    root = tempfile.mkdtemp(prefix="zaloni-bench-promote-")
    try:
        t = time.perf_counter()
        make_raw(root, args.rows)
        print(f"raw partition: {args.rows:,} rows x 7 columns written in {time.perf_counter() - t:.1f}s", flush=True)
        results = {engine: measure(engine, root) for engine in ENGINES}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ours = results["ours"]
    print(f"{'engine':<34}{'seconds':>9}{'Mrows/s':>9}{'peak MB':>9}{'passed':>12}{'quarantined':>13}")
    labels = {
        "ours": "ours (promote, 1 commit)",
        "duckdb": "DuckDB alone (1 COPY, 2 outputs)",
        "pyarrow": "pyarrow compute alone (1 pass)",
        "duckdb-filters": "rules only, count: DuckDB",
        "pyarrow-filters": "rules only, count: pyarrow",
    }
    for engine, r in results.items():
        print(
            f"{labels[engine]:<34}{r['seconds']:>9.2f}{args.rows / r['seconds'] / 1e6:>9.2f}{r['peak_mb']:>9.0f}"
            f"{r['passed']:>12,}{r['quarantined']:>13,}"
        )
    for engine in ("duckdb", "pyarrow"):
        r = results[engine]
        if (r["passed"], r["quarantined"]) != (ours["passed"], ours["quarantined"]):
            print(f"WARNING: {engine} split the rows differently from ours")
        print(f"ratio {engine}/ours: {r['seconds'] / ours['seconds']:.2f}x (goal >= 0.5x)")


if __name__ == "__main__":
    main()
