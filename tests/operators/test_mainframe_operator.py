"""MainframeToLakeOperator end to end: real z/OS-like FTP and SFTP servers, the real decoder, the real lake."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import struct
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from airflow_zaloni.hooks.mainframe import DatasetNotFoundError, MainframeAuthError, MainframeTransferError
from airflow_zaloni.lake import DatasetRef, Lake
from airflow_zaloni.mainframe import DecodeError
from airflow_zaloni.operators.mainframe import MainframeToLakeOperator, landing_file_name
from tests.servers.sftp import make_client_key, sftp_server
from tests.servers.zos_ftp import ZosFTPServerInfo, zos_ftp_server

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]
PARTITION = "dt=2026-11-25"
RAW = DatasetRef("raw", "mainframe", "customers")
LANDING = DatasetRef("landing", "mainframe", "customers")


def _load_sample_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_sample", REPO / "example_dags" / "data" / "make_sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sample = _load_sample_module()

SEGMENTED_COPYBOOK = """\
       01  REC.
           05  SEG-ID        PIC X(1).
           05  CUSTOMER.
               10  CUST-ID   PIC 9(4).
               10  NAME      PIC X(10).
           05  ACCOUNT REDEFINES CUSTOMER.
               10  ACCT-NO   PIC 9(6).
"""
SEGMENTED_OPTIONS = {
    "segment_field": "SEG_ID",
    "redefine_segment_id_map:1": "CUSTOMER => C",
    "redefine-segment-id-map:2": "ACCOUNT => A",
}


def segmented_records() -> list[bytes]:
    records = []
    for i in range(3):
        records.append(sample.text("C", 1) + sample.zoned(1000 + i, 4) + sample.text(f"NAME{i}", 10))
        for j in range(i + 1):
            records.append(sample.text("A", 1) + sample.zoned(500_000 + 10 * i + j, 6))
    return records


def run(op: MainframeToLakeOperator) -> dict[str, Any]:
    start = datetime(2026, 11, 25, tzinfo=timezone.utc)
    context = {"data_interval_start": start, "data_interval_end": start.replace(day=26), "run_id": "test", "ti": None}
    return op.execute(context)  # type: ignore[arg-type]


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "mainframe", **fields}))


def assert_nothing_published(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    assert lake.partitions(RAW) == [] and lake.partitions(LANDING) == []
    assert lake.manifest(RAW, PARTITION) is None and lake.manifest(LANDING, PARTITION) is None


@pytest.fixture
def customers(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "sample"
    folder.mkdir()
    return sample.make(folder, records=120)


@pytest.fixture
def zos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, customers: tuple[Path, Path]) -> Iterator[ZosFTPServerInfo]:
    with zos_ftp_server(tmp_path, users={"BATCH1": "pa55word"}) as srv:
        srv.catalog.add_gdg("PROD.CUST.MASTER", [b"", customers[1].read_bytes()], recfm="FB", lrecl=sample.LRECL)
        srv.catalog.add("PROD.CUST.SEGMENTS", records=segmented_records(), recfm="VB", lrecl=19)
        set_conn(monkeypatch, "zos", host=srv.host, port=srv.port, login="batch1", password="pa55word")
        yield srv


def test_lands_original_bytes_and_decoded_rows_in_one_commit(
    zos: ZosFTPServerInfo, lake_root: Path, customers: tuple[Path, Path]
) -> None:
    copybook, data = customers
    op = MainframeToLakeOperator(
        task_id="land",
        dataset="customers",
        dataset_name="PROD.CUST.MASTER(0)",
        copybook=str(copybook),
        options={"ebcdic_code_page": "cp037"},
        mainframe_conn_id="zos",
        lake_root=str(lake_root),
    )
    summary = run(op)
    lake = Lake(str(lake_root))

    # landing: the bytes exactly as the mainframe holds them, named after the absolute generation
    landing_manifest = lake.manifest(LANDING, PARTITION)
    assert landing_manifest is not None
    landed = Path(lake.partition_path(LANDING, PARTITION)) / "PROD.CUST.MASTER.G0002V00"
    assert landed.read_bytes() == data.read_bytes()

    # raw: the rows, decoded
    table = lake.read_table(RAW, partition=PARTITION)
    assert table.num_rows == 120 == summary["rows"]
    first = table.slice(0, 1).to_pylist()[0]
    assert first["CUST_ID"] == 100_000
    assert isinstance(first["BALANCE"], Decimal) and first["BALANCE"].as_tuple().exponent == -2
    assert first["CUST_NAME"].strip() == data.read_bytes()[6:26].decode("cp037").strip()

    # the manifest says what was read and how
    extra = lake.manifest(RAW, PARTITION)["extra"]["mainframe"]  # type: ignore[index]
    assert extra["source"]["dataset"]["name"] == "PROD.CUST.MASTER.G0002V00"
    assert (extra["source"]["dataset"]["recfm"], extra["source"]["dataset"]["lrecl"]) == ("FB", 50)
    assert extra["source"]["bytes"] == data.stat().st_size
    assert extra["source"]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert extra["copybook_sha256"] == hashlib.sha256(copybook.read_bytes()).hexdigest()
    assert extra["options"] == {"ebcdic_code_page": "cp037"}
    assert extra["records"] == 120
    assert "pa55word" not in json.dumps(lake.manifest(RAW, PARTITION))


def test_variable_length_multisegment_dataset_keeps_records_and_counts_segments(
    zos: ZosFTPServerInfo, lake_root: Path
) -> None:
    op = MainframeToLakeOperator(
        task_id="land",
        dataset="customers",
        dataset_name="'prod.cust.segments'",
        copybook=SEGMENTED_COPYBOOK,
        options=SEGMENTED_OPTIONS,
        mainframe_conn_id="zos",
        lake_root=str(lake_root),
    )
    run(op)
    lake = Lake(str(lake_root))
    rows = lake.read_table(RAW, partition=PARTITION).to_pylist()
    assert [r["SEG_ID"] for r in rows] == ["C", "A", "C", "A", "A", "C", "A", "A", "A"]
    assert [r["ACCOUNT"]["ACCT_NO"] for r in rows if r["SEG_ID"] == "A"] == [
        500000,
        500010,
        500011,
        500020,
        500021,
        500022,
    ]
    extra = lake.manifest(RAW, PARTITION)["extra"]["mainframe"]  # type: ignore[index]
    assert extra["records_per_segment"] == {"C": 3, "A": 6}
    # added because the transfer kept IBM RDWs (big endian, length including the RDW)
    assert extra["options"] == {
        **SEGMENTED_OPTIONS,
        "record_format": "V",
        "is_rdw_big_endian": "true",
        "is_rdw_part_of_record_length": "true",
    }
    assert extra["source"]["rdw"] is True
    landed = Path(lake.partition_path(LANDING, PARTITION)) / "PROD.CUST.SEGMENTS"
    assert landed.read_bytes() == b"".join(struct.pack(">HH", len(r) + 4, 0) + r for r in segmented_records())


def test_sftp_with_key_and_a_rerun_replaces_the_partition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lake_root: Path, customers: tuple[Path, Path]
) -> None:
    copybook, data = customers
    key = make_client_key(tmp_path)
    with sftp_server(tmp_path, users={}, authorized_keys={"batch1": [key.public_line]}) as srv:
        shutil.copy(data, srv.root / "'PROD.CUST.MASTER'")
        extra = {"protocol": "sftp", "key_file": str(key.private_path), "host_key": srv.host_key_public}
        set_conn(monkeypatch, "mf_sftp", host=srv.host, port=srv.port, login="batch1", extra=extra)
        for _ in range(2):
            run(
                MainframeToLakeOperator(
                    task_id="land",
                    dataset="customers",
                    dataset_name="PROD.CUST.MASTER",
                    copybook=copybook.read_text(),
                    mainframe_conn_id="mf_sftp",
                    lake_root=str(lake_root),
                )
            )
    lake = Lake(str(lake_root))
    assert lake.read_table(RAW, partition=PARTITION).num_rows == 120  # replaced, not appended
    assert lake.partitions(LANDING) == [PARTITION]


# -- bad input: an error that says what and where, and nothing in the lake ---------------------------------------


def test_wrong_password_publishes_nothing(
    zos: ZosFTPServerInfo, monkeypatch: pytest.MonkeyPatch, lake_root: Path, customers: tuple[Path, Path]
) -> None:
    set_conn(monkeypatch, "zos_bad", host=zos.host, port=zos.port, login="batch1", password="guessed")
    op = MainframeToLakeOperator(
        task_id="land",
        dataset="customers",
        dataset_name="PROD.CUST.MASTER(0)",
        copybook=str(customers[0]),
        mainframe_conn_id="zos_bad",
        lake_root=str(lake_root),
    )
    with pytest.raises(MainframeAuthError, match=rf"127\.0\.0\.1:{zos.port} as user 'batch1'") as err:
        run(op)
    assert "guessed" not in str(err.value)
    assert_nothing_published(lake_root)


def test_missing_dataset_publishes_nothing(
    zos: ZosFTPServerInfo, lake_root: Path, customers: tuple[Path, Path]
) -> None:
    op = MainframeToLakeOperator(
        task_id="land",
        dataset="customers",
        dataset_name="PROD.CUST.NOTTHERE",
        copybook=str(customers[0]),
        mainframe_conn_id="zos",
        lake_root=str(lake_root),
    )
    with pytest.raises(DatasetNotFoundError, match=r"PROD\.CUST\.NOTTHERE not found"):
        run(op)
    assert_nothing_published(lake_root)


def test_transfer_broken_midway_publishes_nothing(
    zos: ZosFTPServerInfo, lake_root: Path, customers: tuple[Path, Path]
) -> None:
    zos.catalog.add("PROD.CUST.DAMAGED", customers[1].read_bytes(), recfm="FB", lrecl=50, fail_after=3000)
    op = MainframeToLakeOperator(
        task_id="land",
        dataset="customers",
        dataset_name="PROD.CUST.DAMAGED",
        copybook=str(customers[0]),
        mainframe_conn_id="zos",
        lake_root=str(lake_root),
    )
    with pytest.raises(MainframeTransferError, match=r"PROD\.CUST\.DAMAGED .* failed after 3000 bytes"):
        run(op)
    assert_nothing_published(lake_root)


def test_truncated_variable_length_file_publishes_nothing(tmp_path: Path, lake_root: Path) -> None:
    records = segmented_records()
    data = b"".join(struct.pack(">HH", len(r) + 4, 0) + r for r in records)
    truncated = tmp_path / "SEGMENTS.DAT"
    truncated.write_bytes(data[:-5])  # the last record's RDW promises more bytes than the file has
    op = MainframeToLakeOperator(
        task_id="land",
        dataset="customers",
        path=str(truncated),
        copybook=SEGMENTED_COPYBOOK,
        options={**SEGMENTED_OPTIONS, "record_format": "V", "is_rdw_big_endian": "true", "rdw_adjustment": "-4"},
        lake_root=str(lake_root),
    )
    with pytest.raises(DecodeError, match=r"SEGMENTS\.DAT"):
        run(op)
    assert_nothing_published(lake_root)


def test_corrupt_value_with_error_policy_publishes_nothing(
    tmp_path: Path, lake_root: Path, customers: tuple[Path, Path]
) -> None:
    copybook, data = customers
    damaged = bytearray(data.read_bytes())
    damaged[3 * 50 + 26] = 0xFF  # record 4: the packed BALANCE gets an invalid digit nibble
    bad = tmp_path / "DAMAGED.DAT"
    bad.write_bytes(bytes(damaged))
    op = MainframeToLakeOperator(
        task_id="land",
        dataset="customers",
        path=str(bad),
        copybook=str(copybook),
        options={"corrupt_policy": "error"},
        lake_root=str(lake_root),
    )
    with pytest.raises(DecodeError, match=r"record 3.*BALANCE|BALANCE.*record 3"):
        run(op)
    assert_nothing_published(lake_root)


def test_corrupt_values_are_counted_when_kept(tmp_path: Path, lake_root: Path, customers: tuple[Path, Path]) -> None:
    copybook, data = customers
    damaged = bytearray(data.read_bytes())
    damaged[3 * 50 + 26] = 0xFF
    damaged[7 * 50 + 26] = 0xFF
    bad = tmp_path / "DAMAGED.DAT"
    bad.write_bytes(bytes(damaged))
    run(
        MainframeToLakeOperator(
            task_id="land",
            dataset="customers",
            path=str(bad),
            copybook=str(copybook),
            options={"generate_corrupt_fields": "true"},
            lake_root=str(lake_root),
        )
    )
    lake = Lake(str(lake_root))
    assert lake.manifest(RAW, PARTITION)["extra"]["mainframe"]["corrupt_values"] == 2  # type: ignore[index]
    balances = lake.read_table(RAW, partition=PARTITION).column("BALANCE").to_pylist()
    assert balances[3] is None and balances[7] is None and balances[4] is not None


def test_missing_copybook_file_is_named(tmp_path: Path, lake_root: Path, customers: tuple[Path, Path]) -> None:
    op = MainframeToLakeOperator(
        task_id="land", dataset="customers", path=str(customers[1]), copybook=str(tmp_path / "nope.cpy"),
        lake_root=str(lake_root),
    )  # fmt: skip
    with pytest.raises(FileNotFoundError, match=r"copybook file .*nope\.cpy does not exist"):
        run(op)
    assert_nothing_published(lake_root)


def test_exactly_one_input_is_required() -> None:
    with pytest.raises(ValueError, match="exactly one of dataset_name"):
        MainframeToLakeOperator(task_id="x", dataset="d", copybook="c", dataset_name="A.B", path="/tmp/x")


def test_landing_file_names_are_path_safe() -> None:
    assert landing_file_name("PROD.CUST.MASTER.G0002V00") == "PROD.CUST.MASTER.G0002V00"
    assert landing_file_name("PROD.PDS(MEMBER)") == "PROD.PDS_MEMBER"
    assert landing_file_name("/u/batch/in/cust file.dat") == "cust_file.dat"


# -- the example DAG, run with dag.test() ------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_example_dag_runs(airflow_db: Path, dags_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.airflow_helpers import run_dag

    shutil.copytree(REPO / "example_dags" / "data", dags_folder / "data", dirs_exist_ok=True)
    lake_root = tmp_path / "lake"
    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_ROOT", str(lake_root))
    dag_run = run_dag(REPO / "example_dags" / "mainframe_ingest.py")
    assert dag_run.state == "success"
    lake = Lake(str(lake_root))
    raw = DatasetRef("raw", "mainframe", "customers")
    (partition,) = lake.partitions(raw)
    assert lake.read_table(raw, partition=partition).num_rows == sample.RECORDS
    assert lake.manifest(raw, partition)["extra"]["mainframe"]["records"] == sample.RECORDS  # type: ignore[index]
