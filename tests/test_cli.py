"""The ``zaloni`` command as a user runs it: a real subprocess against a real lake."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa

from airflow_zaloni.lake import DatasetRef, Lake
from tests.sources_for_tests import CounterSource

REF = DatasetRef("raw", "test", "orders")


def zaloni(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "airflow_zaloni.cli", *args], capture_output=True, text=True)


def make_lake(root: Path) -> Lake:
    lake = Lake(str(root))
    for day, upper in ((24, 100), (25, 250)):
        lower = lake.watermark(REF)
        source = CounterSource(lower=lower, upper=upper)
        with lake.transaction(run_id=f"scheduled__{day}", try_number=1) as txn:
            writer = txn.writer(REF, f"dt=2026-11-{day}", schema=source.schema, source=source.describe())
            for batch in source.batches():
                writer.write_batch(batch)
            txn.set_watermark(REF, source.cursor)
    return lake


def test_ls_lists_datasets_with_partitions_rows_and_watermark(lake_root: Path) -> None:
    make_lake(lake_root)
    result = zaloni("lake", "ls", f"file://{lake_root}", "--json")
    assert result.returncode == 0, result.stderr
    [entry] = json.loads(result.stdout)
    assert entry["zone"] == "raw" and entry["dataset"] == "raw/test/orders"
    assert len(entry["partitions"]) == 2 and entry["rows"] == 250 and entry["watermark"] == 250
    assert entry["schema"][0] == {"name": "id", "type": "int64", "nullable": True}
    table = zaloni("lake", "ls", str(lake_root))
    assert "test/orders" in table.stdout and "ROWS" in table.stdout
    assert "  250  " in table.stdout.split("\n")[1]  # an id stays as it is (no separators)


def test_ls_shows_a_file_ledger_watermark_as_a_time(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    ledger = DatasetRef("landing", "drop", "orders.files")  # what FileToLakeOperator keeps: newest mtime, epoch
    batch = pa.record_batch({"path": ["a.csv"]})
    with lake.transaction(run_id="r", try_number=1) as txn:
        txn.writer(ledger, "dt=2026-11-25", schema=batch.schema).write_batch(batch)
        txn.set_watermark(ledger, 1764000000.25)
    table = zaloni("lake", "ls", str(lake_root))
    assert table.returncode == 0, table.stderr
    assert "2025-11-24 16:00:00 UTC" in table.stdout and "1764000000.25" not in table.stdout


def test_show_prints_manifest_and_schema(lake_root: Path) -> None:
    make_lake(lake_root)
    result = zaloni("lake", "show", str(lake_root), "raw/test/orders")
    assert result.returncode == 0, result.stderr
    assert "dt=2026-11-25" in result.stdout and "decimal128(12, 2)" in result.stdout
    assert "100 -> 250" in result.stdout
    as_json = json.loads(
        zaloni("lake", "show", str(lake_root), "raw/test/orders", "--partition", "dt=2026-11-24", "--json").stdout
    )
    assert as_json["totals"]["rows"] == 100
    missing = zaloni("lake", "show", str(lake_root), "raw/test/nothing")
    assert missing.returncode == 1 and "no committed partitions" in missing.stderr


def test_verify_exits_1_and_names_the_corrupted_file(lake_root: Path) -> None:
    make_lake(lake_root)
    assert zaloni("lake", "verify", str(lake_root)).returncode == 0
    [victim] = (lake_root / "raw/test/orders/dt=2026-11-25").glob("part-*-00000.parquet")
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")
    result = zaloni("lake", "verify", str(lake_root))
    assert result.returncode == 1
    assert str(victim) in result.stdout and "1 problem(s)" in result.stdout


def test_bad_dataset_name_is_reported_not_a_traceback(lake_root: Path) -> None:
    result = zaloni("lake", "show", str(lake_root), "raw/../etc")
    assert result.returncode == 2 and "must not contain '..'" in result.stderr


def test_verify_reports_strings_that_are_not_utf8(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    batch = pa.record_batch({"v": pa.array([b"caf\xe9"], pa.binary()).view(pa.string())})
    with lake.transaction(run_id="r", try_number=1) as txn:
        txn.writer(REF, "dt=2026-11-24", schema=batch.schema, source={"system": "test"}).write_batch(batch)
    result = zaloni("lake", "verify", str(lake_root))
    assert result.returncode == 1
    assert "column 'v', row 1: invalid UTF-8" in result.stdout and "1 problem(s)" in result.stdout
