"""Mainframe ingest end to end over z/OS FTP: ours (stream once through a tee) against the naive way, side by side.

Both land a fixed-length EBCDIC data set (the example DAG's customer layout, 50-byte records) from the z/OS-like FTP
test server into a lake partition: the original bytes in ``landing`` and the decoded rows as Parquet in ``raw``.

* ours: ``MainframeToLakeOperator.execute`` -- the download streams through a tee into the landing file while the
  decoder reads it, batches go to the lake writer.
* naive: ``ftplib.retrbinary`` into memory, write the landing file, ``decode_file(bytes)`` into one table,
  ``pyarrow.parquet.write_table`` -- what a quick script does.

Each run is a fresh child process so its peak RSS is its own. Run::

    .venv/bin/python benchmarks/mainframe_transfer.py            # 50 MB and 200 MB
    .venv/bin/python benchmarks/mainframe_transfer.py --sizes 100 400
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

USER, PASSWORD = "BENCH", "bench-pw"


def _sample_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("make_sample", REPO / "example_dags" / "data" / "make_sample.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def child(kind: str, port: int, dataset: str, copybook: str, lake: str) -> None:
    # Imports happen before the clock starts: Airflow's own import time is not what is measured.
    import ftplib

    import pyarrow as pa
    import pyarrow.parquet as pq

    from airflow_zaloni.mainframe import decode_file
    from airflow_zaloni.operators.mainframe import MainframeToLakeOperator
    from airflow_zaloni.sources.mainframe import MainframeSource  # noqa: F401 (imported by the operator on use)

    started = time.perf_counter()
    if kind == "ours":
        os.environ["AIRFLOW_CONN_BENCH"] = json.dumps(
            {"conn_type": "mainframe", "host": "127.0.0.1", "port": port, "login": USER, "password": PASSWORD}
        )
        op = MainframeToLakeOperator(
            task_id="bench", dataset="bench", dataset_name=dataset, copybook=copybook, mainframe_conn_id="bench",
            lake_root=lake,
        )  # fmt: skip
        start = datetime(2026, 11, 25, tzinfo=timezone.utc)
        rows = op.execute(
            {"data_interval_start": start, "data_interval_end": start.replace(day=26), "run_id": "b", "ti": None}  # type: ignore[arg-type]
        )["rows"]
    else:
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", port)
        ftp.login(USER, PASSWORD)
        buffer = io.BytesIO()
        ftp.retrbinary(f"RETR '{dataset}'", buffer.write)
        ftp.quit()
        data = buffer.getvalue()
        Path(lake, "landing.dat").write_bytes(data)
        table = pa.Table.from_batches(list(decode_file(data, copybook)))
        pq.write_table(table, Path(lake, "raw.parquet"), compression="zstd")
        rows = table.num_rows
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200], help="data set sizes in MB")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, port, dataset, copybook, lake = args.child
        child(kind, int(port), dataset, copybook, lake)
        return

    from tests.servers.zos_ftp import zos_ftp_server

    sample = _sample_module()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        copybook, one = sample.make(tmp, records=20_000)  # 1 MB of records, repeated
        block = one.read_bytes()
        env = {**os.environ, "AIRFLOW_HOME": str(tmp / "airflow"), "PYTHONPATH": str(REPO)}
        print(f"{'size':>7} {'way':>6} {'rows':>10} {'seconds':>8} {'MB/s':>7} {'peak RSS MB':>12}")
        with zos_ftp_server(tmp, users={USER: PASSWORD}) as srv:
            for size in args.sizes:
                name = f"BENCH.CUST.M{size}"
                path = srv.catalog.root / "seed"
                with path.open("wb") as f:
                    for _ in range(size):
                        f.write(block)
                ds = srv.catalog.add(name, b"", recfm="FB", lrecl=sample.LRECL)
                path.replace(ds.path)
                megabytes = ds.path.stat().st_size / 1e6
                results = {}
                for kind in ("ours", "naive"):
                    lake = tmp / f"lake-{kind}-{size}"
                    lake.mkdir()
                    out = subprocess.run(
                        [sys.executable, __file__, "--child", kind, str(srv.port), name, str(copybook), str(lake)],
                        capture_output=True, text=True, env=env, check=True,
                    )  # fmt: skip
                    result = json.loads(out.stdout.strip().splitlines()[-1])
                    results[kind] = result
                    print(
                        f"{megabytes:>5.0f}MB {kind:>6} {result['rows']:>10,} {result['seconds']:>8.2f} "
                        f"{megabytes / result['seconds']:>7.1f} {result['peak_mb']:>12.0f}"
                    )
                ours, naive = results["ours"], results["naive"]
                print(
                    f"{megabytes:>5.0f}MB  ratio: ours is {naive['seconds'] / ours['seconds']:.2f}x the naive speed "
                    f"at {ours['peak_mb'] / naive['peak_mb']:.2f}x its peak memory"
                )
                ds.path.unlink()


if __name__ == "__main__":
    main()
