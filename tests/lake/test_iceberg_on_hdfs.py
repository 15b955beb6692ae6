"""Iceberg tables on a real HDFS through :class:`~airflow_zaloni.lake.iceberg_io.LakeFileIO`: WebHDFS with HA
NameNodes through an Airflow connection (``webhdfs://<conn_id>@/path``) and HDFS RPC (``hdfs://``, hdfs-native).

pyiceberg alone cannot do this without a JVM on the worker (its PyArrowFileIO loads libhdfs over JNI, its
FsspecFileIO has no HDFS scheme); these tests are what a user of an HDFS lake relies on: a table created, appended
to, overwritten and scanned back exactly, and table metadata files that are never silently replaced.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_zaloni.lake import DatasetRef, Lake
from airflow_zaloni.lake.iceberg_io import LakeFileIO
from airflow_zaloni.lake.iceberg_spark import spark_catalog_conf
from airflow_zaloni.lake.table_catalog import CATALOG_NAME, catalog_properties
from tests.hdfs_lake import client, lake_on_hdfs, unique_folder
from tests.lake.test_iceberg_io import SCHEMA, batch, check_metadata_files_are_never_replaced, check_table_round_trip

pytestmark = [pytest.mark.hadoop, pytest.mark.timeout(240)]


@pytest.fixture(params=["webhdfs", "hdfs"])
def root(request: pytest.FixtureRequest, hadoop_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh folder on the cluster: ``webhdfs://`` through an Airflow connection (both NameNodes), or ``hdfs://``
    through the cluster's client configuration."""
    if request.param == "webhdfs":
        return lake_on_hdfs(hadoop_cluster, monkeypatch)
    monkeypatch.setenv("HADOOP_CONF_DIR", str(hadoop_cluster.conf_dir))
    return f"hdfs://{hadoop_cluster.nameservice}{unique_folder('native')}"


def test_a_table_on_hdfs_is_created_appended_overwritten_and_scanned_back(
    hadoop_cluster: Any, root: str, tmp_path: Any
) -> None:
    table = check_table_round_trip(root, tmp_path)
    # Every file of the table is on HDFS, under the warehouse, as the cluster's own client sees it.
    assert table.location().startswith(root)
    listed = client(hadoop_cluster).find(urlsplit(table.location()).path)
    assert any(p.endswith(".metadata.json") for p in listed)
    assert any(p.endswith(".avro") for p in listed)
    assert sum(p.endswith(".parquet") for p in listed) == 3


def test_metadata_files_are_never_replaced_on_hdfs(hadoop_cluster: Any, root: str) -> None:
    check_metadata_files_are_never_replaced(root)


def test_an_hdfs_lake_commits_and_replaces_its_tables_through_lake_file_io(hadoop_cluster: Any, root: str) -> None:
    lake = Lake(root)
    ref = DatasetRef("raw", "test", "orders")

    def ingest(partition: str, start: int, count: int, run_id: str) -> None:
        with lake.transaction(run_id=run_id) as txn:
            txn.writer(ref, partition, schema=SCHEMA).write_table(batch(start, count))

    ingest("dt=2026-11-25", 0, 1500, "first")
    ingest("dt=2026-11-26", 5000, 300, "second")
    ingest("dt=2026-11-25", 100, 7, "rerun")  # a re-run replaces its partition in the table as in the folder

    table = lake.table(ref)
    assert isinstance(table.io, LakeFileIO)
    assert table.metadata_location.startswith(f"{root}/raw/test/orders/")
    scanned = table.scan().to_arrow()
    assert sorted(scanned["id"].to_pylist()) == [*range(100, 107), *range(5000, 5300)]
    assert sorted(zip(scanned["id"].to_pylist(), scanned["lake_partition"].to_pylist()))[:2] == [
        (100, "dt=2026-11-25"),
        (101, "dt=2026-11-25"),
    ]
    assert sorted(lake.read_table(ref)["id"].to_pylist()) == sorted(scanned["id"].to_pylist())
    assert [s.summary["zaloni.run-id"] for s in table.snapshots()] == ["first", "second", "rerun"]


@pytest.mark.slow
def test_spark_reads_the_tables_of_an_hdfs_lake_by_name(
    hadoop_cluster: Any, spark_iceberg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HADOOP_CONF_DIR", str(hadoop_cluster.conf_dir))
    root = f"hdfs://{hadoop_cluster.nameservice}{unique_folder('spark')}"
    lake = Lake(root)
    ref = DatasetRef("raw", "test", "orders")
    for partition, start, count in (("dt=2026-11-25", 0, 1000), ("dt=2026-11-26", 2000, 10)):
        with lake.transaction(run_id=partition) as txn:
            txn.writer(ref, partition, schema=SCHEMA).write_table(batch(start, count))

    # Spark's own HDFS client (the Hadoop jars in pyspark) reads the files: the nameservice for this catalog only
    conf = spark_catalog_conf(catalog_properties(lake), CATALOG_NAME, hadoop_conf=hadoop_cluster.client_conf())
    spark = spark_iceberg.session(conf)
    frame = spark.sql("SELECT * FROM zaloni.raw.test.orders")
    assert frame.dtypes == [
        ("id", "bigint"),
        ("name", "string"),
        ("amount", "decimal(18,2)"),
        ("lake_partition", "string"),
    ]
    got = sorted((r["id"], r["name"], r["lake_partition"]) for r in frame.collect())
    want = [(i, None if i % 7 == 0 else f"n{i}", "dt=2026-11-25") for i in range(1000)]
    want += [(i, None if i % 7 == 0 else f"n{i}", "dt=2026-11-26") for i in range(2000, 2010)]
    assert got == want
