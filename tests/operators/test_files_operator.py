"""FileToLakeOperator end to end: the example DAG through Airflow, and the operator against real SFTP, FTP and HDFS
(Hadoop's MiniDFSCluster through WebHDFS) servers (Airflow connections from the environment, as a deployment has
them)."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_zaloni.lake import DatasetRef, Lake
from airflow_zaloni.operators.files import FileToLakeOperator
from airflow_zaloni.sources.base import SourceError
from tests.hdfs_lake import HdfsPath, client, hdfs_user, lake_on_hdfs, unique_folder
from tests.servers.ftp import ftp_server
from tests.servers.sftp import sftp_server

pytestmark = pytest.mark.timeout(120)

RAW = DatasetRef("raw", "files", "orders")
LEDGER = DatasetRef("landing", "files", "orders.files")


def context(day: int) -> dict[str, Any]:
    start = datetime(2026, 11, day, tzinfo=timezone.utc)
    return {"data_interval_start": start, "data_interval_end": start.replace(day=day + 1), "run_id": f"r{day}"}


def set_mtime(path: Path | HdfsPath, seconds: float) -> None:
    if isinstance(path, HdfsPath):
        path.set_mtime(seconds)
    else:
        os.utime(path, (seconds, seconds))


@pytest.fixture(params=["sftp", "ftp", pytest.param("webhdfs", marks=pytest.mark.hadoop)])
def server(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Any, str]]:
    """``(source location, served drop folder, the drop folder's parent on the server)`` of a real server, with its
    connection in the environment."""
    if request.param == "sftp":
        with sftp_server(tmp_path) as srv:
            monkeypatch.setenv("AIRFLOW_CONN_DROP", srv.connection_uri("alice") + "?no_host_key_check=true")
            (srv.root / "drop").mkdir()
            yield "sftp://drop@/drop", srv.root / "drop", ""
    elif request.param == "ftp":
        with ftp_server(tmp_path) as srv:
            monkeypatch.setenv("AIRFLOW_CONN_DROP", srv.connection_uri("alice"))
            (srv.root / "drop").mkdir()
            yield "ftp://drop@/drop", srv.root / "drop", ""
    else:
        cluster = request.getfixturevalue("hadoop_cluster")
        # The source side reads through the HDFS provider's own WebHDFSHook (one port for its host list).
        monkeypatch.setenv(
            "AIRFLOW_CONN_DROP", f"webhdfs://{hdfs_user(cluster)}@{cluster.namenode_http[cluster.active_namenode()]}"
        )
        parent = unique_folder("drop")
        drop = HdfsPath(client(cluster), f"{parent}/drop")
        drop.mkdir()
        yield f"webhdfs://drop@{parent}/drop", drop, parent


def test_remote_files_land_once_then_are_archived(server: tuple[str, Any, str], lake_root: Path) -> None:
    source, drop, parent = server
    (drop / "a.csv.gz").write_bytes(gzip.compress(b"id,amount\n1,1.50\n2,2.50\n"))
    (drop / "b.csv").write_bytes(b"id,amount\n3,3.50\n")
    (drop / "notes.txt").write_bytes(b"not matched")
    for name in ("a.csv.gz", "b.csv"):
        set_mtime(drop / name, 1_700_000_000)

    def operator(**kwargs: Any) -> FileToLakeOperator:
        return FileToLakeOperator(
            task_id="land",
            source=source,
            pattern="*.csv*",
            dataset="orders",
            lake_root=str(lake_root),
            schema={"id": "int64", "amount": "decimal(9,2)"},
            **kwargs,
        )

    summary = operator().execute(context(1))  # type: ignore[arg-type]
    assert summary["rows"] == 3 and summary["ingest"]["files_ingested"] == 2
    lake = Lake(str(lake_root))
    assert sorted(lake.read_table(RAW).column("id").to_pylist()) == [1, 2, 3]
    assert (drop / "b.csv").exists()  # completion "leave"

    # The next day the same files are still there: nothing lands twice; "move" archives them on the server.
    summary = operator(completion="move", archive_folder=f"{parent}/archive").execute(context(2))  # type: ignore[arg-type]
    assert summary["ingest"]["files_ingested"] == 0 and summary["ingest"]["files_skipped"] == 2
    assert sorted(lake.read_table(RAW).column("id").to_pylist()) == [1, 2, 3]
    assert not (drop / "b.csv").exists() and (drop.parent / "archive" / "b.csv").read_bytes() == b"id,amount\n3,3.50\n"
    assert sorted(r["path"] for r in lake.read_table(LEDGER).to_pylist()) == ["a.csv.gz", "b.csv"]


def test_truncated_gzip_fails_and_leaves_lake_and_folder_untouched(tmp_path: Path, lake_root: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "good.csv").write_bytes(b"id\n1\n")
    (drop / "cut.csv.gz").write_bytes(gzip.compress(b"id\n" + b"2\n" * 50_000)[:-100])
    task = FileToLakeOperator(
        task_id="land", source=str(drop), dataset="orders", lake_root=str(lake_root), completion="delete"
    )
    with pytest.raises(SourceError, match=r"cut\.csv\.gz: compressed data is truncated"):
        task.execute(context(1))  # type: ignore[arg-type]
    assert Lake(str(lake_root)).partitions(RAW) == []
    assert sorted(p.name for p in drop.iterdir()) == ["cut.csv.gz", "good.csv"]  # nothing deleted


def test_archive_inside_a_recursive_drop_is_not_ingested_again(tmp_path: Path, lake_root: Path) -> None:
    drop = tmp_path / "drop"
    (drop / "2026").mkdir(parents=True)
    (drop / "2026" / "a.csv").write_bytes(b"id\n1\n")
    task = FileToLakeOperator(
        task_id="land",
        source=str(drop),
        recursive=True,
        dataset="orders",
        lake_root=str(lake_root),
        completion="move",
        archive_folder=str(drop / "done"),
    )
    assert task.execute(context(1))["ingest"]["files_ingested"] == 1  # type: ignore[arg-type]
    assert (drop / "done" / "2026" / "a.csv").exists()
    assert task.execute(context(2))["ingest"]["files_ingested"] == 0  # type: ignore[arg-type]


@pytest.mark.hadoop
def test_a_lake_on_hdfs_keeps_a_rerun_whole(
    tmp_path: Path, hadoop_cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lake root on the real HDFS: the ledger, the landing copies and the carry-forward of a re-run all go through
    WebHDFS to Hadoop's NameNodes."""
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.csv").write_bytes(b"id\n1\n")
    root = lake_on_hdfs(hadoop_cluster, monkeypatch)

    def land() -> dict[str, Any]:
        task = FileToLakeOperator(
            task_id="land",
            source=str(drop),
            dataset="orders",
            lake_root=root,
            completion="move",
            archive_folder=str(tmp_path / "archive"),
        )
        return task.execute(context(1))  # type: ignore[arg-type]

    assert land()["ingest"]["files_ingested"] == 1
    (drop / "b.csv").write_bytes(b"id\n2\n")
    again = land()["ingest"]  # a re-run of the same interval: a.csv was archived, b.csv is new
    assert (again["files_ingested"], again["files_carried_forward"]) == (1, 1)
    lake = Lake(root)
    assert sorted(lake.read_table(RAW).column("id").to_pylist()) == [1, 2]
    assert lake.verify() == []
    landing = lake.partitions(DatasetRef("landing", "files", "orders"))
    assert landing, "the landing copies are on HDFS"


@pytest.mark.usefixtures("airflow_db")
def test_example_dag_ingests_the_drop_folder_once(airflow_home: Path) -> None:
    from tests.airflow_helpers import run_dag

    lake = Lake(os.environ["AIRFLOW__ZALONI__LAKE_ROOT"])
    orders = DatasetRef("raw", "drop", "orders")
    run = run_dag("example_dags/file_ingest.py", logical_date=datetime(2026, 11, 2, tzinfo=timezone.utc))
    assert run.state == "success"
    table = lake.read_table(orders)
    assert table.num_rows == 3000 and str(table.schema.field("amount").type) == "decimal128(9, 2)"
    archive = airflow_home / "drop" / "archive"
    assert sorted(p.name for p in archive.iterdir()) == ["_SUCCESS", *(f"orders_0{n}.csv.gz" for n in range(3))]

    # The producer writes the same files again on the next day: they are recognised and only archived.
    run = run_dag("example_dags/file_ingest.py", logical_date=datetime(2026, 11, 3, tzinfo=timezone.utc))
    assert run.state == "success"
    assert lake.read_table(orders).num_rows == 3000
    assert not list((airflow_home / "drop" / "orders").iterdir())  # the files and their _SUCCESS marker
    assert (archive / "_SUCCESS").exists()


def test_a_first_run_on_an_empty_folder_succeeds_and_publishes_nothing(tmp_path: Path, lake_root: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    task = FileToLakeOperator(
        task_id="land", source=str(drop), pattern="*.csv", dataset="orders", lake_root=str(lake_root)
    )
    summary = task.execute(context(1))  # type: ignore[arg-type]
    assert summary["rows"] == 0 and summary["datasets"] == [] and summary["ingest"]["files_ingested"] == 0
    assert Lake(str(lake_root)).partitions(RAW) == [] and Lake(str(lake_root)).partitions(LEDGER) == []
    climbing = FileToLakeOperator(
        task_id="land", source=str(drop), pattern="../*.csv", dataset="orders", lake_root=str(lake_root)
    )
    with pytest.raises(SourceError, match=r"pattern '\.\./\*\.csv' must be relative to the source folder"):
        climbing.execute(context(2))  # type: ignore[arg-type]


def test_a_relative_archive_folder_is_inside_the_source_folder(
    tmp_path: Path, lake_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.csv").write_bytes(b"id\n1\n")
    elsewhere = tmp_path / "worker-cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a worker's working directory has nothing to do with the drop folder
    task = FileToLakeOperator(
        task_id="land",
        source=str(drop),
        dataset="orders",
        lake_root=str(lake_root),
        completion="move",
        archive_folder="done",
        empty_files="error",
    )
    assert task.execute(context(1))["ingest"]["files_ingested"] == 1  # type: ignore[arg-type]
    assert (drop / "done" / "a.csv").read_bytes() == b"id\n1\n" and not (elsewhere / "done").exists()
    (drop / "b.csv").write_bytes(b"")
    with pytest.raises(SourceError, match=r"b\.csv is empty \(0 bytes\)"):
        task.execute(context(2))  # type: ignore[arg-type]
