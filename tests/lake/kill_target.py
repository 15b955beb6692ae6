"""One incremental ingest, run as a child process by the SIGKILL test: ``python kill_target.py ROOT DAY ROWS [OPTS]``.

``OPTS`` is a JSON object of fsspec storage options (the S3 variant passes the moto_server's endpoint and keys, so
the child does not need Airflow to resolve a connection).

Interval ``DAY`` owns the ids ``((DAY-1)*ROWS, DAY*ROWS]``; the run reads from the lake's incremental window, as an
ingest operator does, so a retry after a kill neither skips nor repeats rows.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from airflow_zaloni.lake import DatasetRef, Lake
from tests.sources_for_tests import CounterSource

REF = DatasetRef("raw", "test", "killed")


def main(root: str, day: int, rows: int, storage_options: dict[str, Any] | None = None) -> None:
    lake = Lake(root, storage_options=storage_options, row_group_rows=4000, max_rows_per_file=8000)
    partition = f"dt=2026-01-{day:02d}"
    lower, upper = lake.incremental_window(REF, partition)
    end = day * rows if upper is None else min(day * rows, upper)
    source = CounterSource(lower=lower, upper=end, batch_rows=2000, delay=0.002)
    print("READY", flush=True)
    with lake.transaction(run_id=f"run{day}", try_number=1) as txn:
        writer = txn.writer(REF, partition, schema=source.schema, source=source.describe())
        for batch in source.batches():
            writer.write_batch(batch)
        if source.cursor is not None:
            txn.set_watermark(REF, source.cursor, before=lower)
        print("COMMITTING", flush=True)  # leaving the block publishes
    print("COMMITTED", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4]) if len(sys.argv) > 4 else None)
