"""Mainframe fan-out in a real DAG run: byte ranges planned, decoded by mapped tasks, committed once, and the same
rows as the file decoded by one task; the original bytes landed once."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_zaloni.lake import DatasetRef, Lake
from airflow_zaloni.operators.mainframe import MainframeToLakeOperator, checked_byte_range
from tests.airflow_helpers import run_dag
from tests.fanout_data import COPYBOOK, LRECL, customer_records, vb_bytes

pytestmark = pytest.mark.timeout(120)

PARTITION = "dt=2026-07-01"


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lake:
    root = tmp_path / "lake"
    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_ROOT", str(root))
    return Lake(str(root))


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "customers.cpy").write_text(COPYBOOK)
    records = customer_records(3000)
    (folder / "FIXED.DAT").write_bytes(b"".join(records))
    (folder / "VB.DAT").write_bytes(vb_bytes(records))
    monkeypatch.setenv("ZALONI_TEST_FANOUT_DIR", str(folder))
    return {"fixed": folder / "FIXED.DAT", "vb": folder / "VB.DAT"}


def test_fanned_out_decode_equals_the_single_task_decode_and_lands_the_file_once(
    airflow_db: Path, lake: Lake, files: dict[str, Path]
) -> None:
    dag_run = run_dag("tests/dags/mainframe_fanout.py", logical_date=datetime(2026, 7, 2, tzinfo=timezone.utc))
    assert dag_run.state == "success"
    for kind, path in files.items():
        fanned = DatasetRef("raw", "mainframe", f"{kind}_fanned")
        whole = DatasetRef("raw", "mainframe", f"{kind}_whole")
        # Row for row, in file order: the parts' files are read in part order, each part in record order.
        fanned_rows = lake.read_table(fanned)
        assert fanned_rows.num_rows == 3000
        assert fanned_rows.column("Record_Id").to_pylist() == list(range(3000))
        assert fanned_rows.equals(lake.read_table(whole)), kind

        manifest = lake.manifest(fanned, PARTITION)
        assert manifest["producer"].endswith("LakeCommitOperator")
        parts = manifest["extra"]["parts"]
        assert sorted(parts) == ["00000", "00001", "00002"]
        ranges = [parts[p]["mainframe"]["source"]["byte_range"] for p in sorted(parts)]
        assert ranges[0][0] == 0 and ranges[-1][1] == path.stat().st_size
        assert all(ranges[i][1] == ranges[i + 1][0] for i in range(2))
        assert sum(parts[p]["mainframe"]["records"] for p in parts) == 3000
        if kind == "fixed":
            assert all(start % LRECL == 0 for start, _ in ranges)

        # The original bytes: one file, landed by the part that starts at byte 0, identical to the source.
        landing = DatasetRef("landing", "mainframe", f"{kind}_fanned")
        landed = lake.manifest(landing, PARTITION)
        assert [f["path"] for f in landed["files"]] == [path.name]
        assert landed["files"][0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        target = Path(lake.partition_path(landing, PARTITION)) / path.name
        assert target.read_bytes() == path.read_bytes()
    assert lake.verify() == []


def test_byte_range_is_only_for_fanned_out_parts_of_a_local_file() -> None:
    with pytest.raises(ValueError, match="byte_range needs path="):
        MainframeToLakeOperator(
            task_id="t", dataset="d", copybook=COPYBOOK, dataset_name="HLQ.X", byte_range=[0, 10], fanout=True
        )
    with pytest.raises(ValueError, match="use it on a mapped task with fanout=True"):
        MainframeToLakeOperator(task_id="t", dataset="d", copybook=COPYBOOK, path="/x", byte_range=[0, 10])


@pytest.mark.parametrize("bad", [[10, 5], [-1, 5], "0-5", [0], [0, True]])
def test_a_malformed_byte_range_is_refused_naming_it(bad: object) -> None:
    with pytest.raises(ValueError, match=r"byte_range must be \[start, end\] with 0 <= start <= end, got"):
        checked_byte_range(bad)
