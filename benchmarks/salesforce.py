"""Salesforce ingest memory and speed: our streaming source vs ``SalesforceHook.make_query`` (``query_all``).

One run starts the local HTTPS Salesforce server (``tests/servers/salesforce.py``) in its own process with N
generated Accounts (20 fields each), then reads all of them, each reader in a fresh process so that its peak
memory (``ru_maxrss``) is its own:

* ``hook``: Airflow's ``SalesforceHook.make_query`` -- simple-salesforce ``query_all`` -- every record in one list;
* ``ours-rest``: ``SalesforceSource`` over the REST API: one page at a time turned into an Arrow batch;
* ``ours-bulk``: ``SalesforceSource`` over Bulk API 2.0: CSV result pages streamed into Arrow batches;
* ``ours-bulk-lake``: the same, landed in a lake partition as the operator does (LakeWriter with its default
  row groups of up to 1M rows / 128 MB, Parquet, commit).

The first three only read, like for like. The hook runs with Airflow imported, as in a task; our source is
Airflow-free and runs without it (in a task the Airflow imports add the same to both). "growth" is the peak minus
the process's size before the read.
Usage::

    .venv/bin/python benchmarks/salesforce.py                  # 200,000 records
    .venv/bin/python benchmarks/salesforce.py --records 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the local Salesforce server lives in tests/servers
CONN_ID = "sf_bench"


def _connection(instance_url: str) -> str:
    from tests.servers.salesforce import API_VERSION, CLIENT_ID, CLIENT_SECRET, PASSWORD, USERNAME, hook_domain

    extra = {
        "consumer_key": CLIENT_ID,
        "consumer_secret": CLIENT_SECRET,
        "domain": hook_domain(instance_url),
        "version": API_VERSION,
    }
    return json.dumps({"conn_type": "salesforce", "login": USERNAME, "password": PASSWORD, "extra": extra})


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, out_dir: str) -> dict[str, Any]:
    """Read every Account in this process and report rows, seconds and peak memory."""
    import pyarrow as pa

    pa.array(["warm-up"])  # pyarrow imports pandas on first use: keep that out of the timings
    if mode == "hook":
        from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

        hook = SalesforceHook(salesforce_conn_id=CONN_ID)
        hook.get_conn()
        before, started = _peak_mb(), time.perf_counter()
        rows = len(hook.make_query(f"SELECT {_select_list()} FROM Account")["records"])
    else:
        # The source is Airflow-free: it needs only a simple-salesforce client (logged in here the way the hook
        # logs in, OAuth username-password flow), so this process does not import Airflow.
        from airflow_zaloni.lake import DatasetRef, Lake
        from airflow_zaloni.sources.salesforce import BulkOptions, SalesforceClient, SalesforceSource
        from tests.servers.salesforce import connect

        sf = connect(os.environ["SF_BENCH_INSTANCE_URL"], os.environ["REQUESTS_CA_BUNDLE"])
        before, started = _peak_mb(), time.perf_counter()
        source = SalesforceSource(
            SalesforceClient(lambda: sf),
            "Account",
            api="rest" if mode == "ours-rest" else "bulk",
            incremental=False,
            bulk=BulkOptions(poll_initial=0.2, page_records=100_000),
        )
        rows = 0
        if mode != "ours-bulk-lake":
            for batch in source.batches():
                rows += batch.num_rows
        else:
            lake = Lake(str(Path(out_dir) / "lake"))
            with lake.transaction(run_id=mode, try_number=1, producer="benchmarks/salesforce.py") as txn:
                ref = DatasetRef("raw", "salesforce", "accounts")
                writer = txn.writer(ref, "dt=2026-11-26", schema=source.schema, source=source.describe())
                for batch in source.batches():
                    writer.write_batch(batch)
                    rows += batch.num_rows
    seconds = time.perf_counter() - started
    return {"mode": mode, "rows": rows, "seconds": seconds, "peak_mb": _peak_mb(), "before_mb": before}


def _select_list() -> str:
    from tests.servers.salesforce import account_fields

    return ", ".join(f["name"] for f in account_fields() if f["type"] not in ("base64", "address"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.out)))
        return

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.servers.salesforce", "--records", str(args.records)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        where = json.loads(server.stdout.readline())
        with tempfile.TemporaryDirectory(prefix="sf-bench-") as tmp:
            env.update(
                {
                    "AIRFLOW_HOME": tmp,
                    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                    f"AIRFLOW_CONN_{CONN_ID.upper()}": _connection(where["instance_url"]),
                    "REQUESTS_CA_BUNDLE": where["ca_path"],
                    "SF_BENCH_INSTANCE_URL": where["instance_url"],
                }
            )
            results = []
            for mode in ("ours-rest", "ours-bulk", "ours-bulk-lake", "hook"):
                done = subprocess.run(
                    [sys.executable, __file__, "--child", mode, "--out", tmp],
                    cwd=REPO,
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        server.terminate()
        server.wait(10)

    print(f"{args.records:,} Accounts x 20 fields from the local HTTPS Salesforce server\n")
    print(f"{'reader':<38} {'records/s':>10} {'seconds':>8} {'peak MB':>8} {'growth MB':>10}")
    names = {
        "hook": "SalesforceHook.make_query (query_all)",
        "ours-rest": "ours, REST API",
        "ours-bulk": "ours, Bulk API 2.0",
        "ours-bulk-lake": "ours, Bulk API 2.0 -> lake",
    }
    for r in results:
        assert r["rows"] == args.records, r
        print(
            f"{names[r['mode']]:<38} {r['rows'] / r['seconds']:>10,.0f} {r['seconds']:>8.1f} {r['peak_mb']:>8.0f} "
            f"{r['peak_mb'] - r['before_mb']:>10.0f}"
        )
    by = {r["mode"]: r for r in results}
    print(
        f"\npeak memory, hook / ours-rest: {by['hook']['peak_mb'] / by['ours-rest']['peak_mb']:.1f}x; "
        f"records/s, ours-rest / hook: {by['hook']['seconds'] / by['ours-rest']['seconds']:.2f}x, "
        f"ours-bulk / hook: {by['hook']['seconds'] / by['ours-bulk']['seconds']:.2f}x"
    )


if __name__ == "__main__":
    main()
