"""Iceberg tables on a real HDFS through :class:`~airflow_zaloni.lake.iceberg_io.LakeFileIO`: WebHDFS with HA
NameNodes through an Airflow connection (``webhdfs://<conn_id>@/path``) and HDFS RPC (``hdfs://``, hdfs-native).

pyiceberg alone cannot do this without a JVM on the worker (its PyArrowFileIO loads libhdfs over JNI, its
FsspecFileIO has no HDFS scheme); these tests are what a user of an HDFS lake relies on: a table created, appended
to, overwritten and scanned back exactly, and table metadata files that are never silently replaced.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pytest
from pyiceberg.catalog import load_catalog

from airflow_zaloni.lake.iceberg_io import LakeFileIO
from tests.hdfs_lake import client, lake_on_hdfs, unique_folder

pytestmark = [pytest.mark.hadoop, pytest.mark.timeout(240)]

SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string()), ("amount", pa.decimal128(18, 2))])


@pytest.fixture(params=["webhdfs", "hdfs"])
def root(request: pytest.FixtureRequest, hadoop_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh folder on the cluster: ``webhdfs://`` through an Airflow connection (both NameNodes), or ``hdfs://``
    through the cluster's client configuration."""
    if request.param == "webhdfs":
        return lake_on_hdfs(hadoop_cluster, monkeypatch)
    monkeypatch.setenv("HADOOP_CONF_DIR", str(hadoop_cluster.conf_dir))
    return f"hdfs://{hadoop_cluster.nameservice}{unique_folder('native')}"


def catalog_on(root: str, tmp_path: Any) -> Any:
    return load_catalog(
        "zaloni",
        type="sql",
        uri=f"sqlite:///{tmp_path}/catalog.db",
        warehouse=root,
        **{"py-io-impl": "airflow_zaloni.lake.iceberg_io.LakeFileIO", "zaloni.lake-root": root},
    )


def batch(start: int, count: int) -> pa.Table:
    ids = list(range(start, start + count))
    return pa.table(
        {"id": ids, "name": [None if i % 7 == 0 else f"n{i}" for i in ids], "amount": [None] * count}, schema=SCHEMA
    )


def test_a_table_on_hdfs_is_created_appended_overwritten_and_scanned_back(
    hadoop_cluster: Any, root: str, tmp_path: Any
) -> None:
    catalog = catalog_on(root, tmp_path)
    catalog.create_namespace(("raw", "files"))
    table = catalog.create_table(("raw", "files", "orders"), schema=SCHEMA)
    assert isinstance(table.io, LakeFileIO)
    table.append(batch(0, 3000))
    table.append(batch(3000, 500))
    assert sorted(catalog.load_table(("raw", "files", "orders")).scan().to_arrow()["id"].to_pylist()) == list(
        range(3500)
    )
    table.overwrite(batch(10, 20))
    scanned = catalog.load_table(("raw", "files", "orders")).scan().to_arrow()
    assert scanned.sort_by("id").to_pylist() == batch(10, 20).to_pylist()
    assert len(table.history()) == 4  # two appends and the overwrite's delete + append

    # Every file of the table is on HDFS, under the warehouse, as the cluster's own client sees it.
    assert table.location().startswith(root)
    listed = client(hadoop_cluster).find(urlsplit(table.location()).path)
    assert any(p.endswith(".metadata.json") for p in listed)
    assert any(p.endswith(".avro") for p in listed)
    assert sum(p.endswith(".parquet") for p in listed) == 3


def test_metadata_files_are_never_replaced_on_hdfs(hadoop_cluster: Any, root: str) -> None:
    io = LakeFileIO({"zaloni.lake-root": root})
    location = f"{root}/t/metadata/00001-x.metadata.json"
    with io.new_output(location).create() as out:
        out.write(b'{"v": 1}')
    with pytest.raises(FileExistsError):
        io.new_output(location).create()

    # Two writers that both found the name free: exactly one publishes, the other is told, the file is whole.
    streams = [io.new_output(f"{root}/t/metadata/00002-x.metadata.json").create() for _ in range(2)]
    for n, stream in enumerate(streams):
        stream.write(b'{"writer": %d}' % n)
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def close(stream: Any) -> None:
        start.wait()
        try:
            stream.close()
            outcomes.append("published")
        except FileExistsError:
            outcomes.append("refused")

    threads = [threading.Thread(target=close, args=(s,)) for s in streams]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["published", "refused"]
    with io.new_input(f"{root}/t/metadata/00002-x.metadata.json").open() as f:
        assert f.read() in (b'{"writer": 0}', b'{"writer": 1}')

    # A write that fails half-way publishes nothing; a seekable read; delete.
    with pytest.raises(RuntimeError), io.new_output(f"{root}/t/metadata/00003-x.metadata.json").create() as out:
        out.write(b"{")
        raise RuntimeError("the writer died")
    assert not io.new_input(f"{root}/t/metadata/00003-x.metadata.json").exists()
    data = io.new_input(location)
    assert len(data) == 8
    with data.open() as f:
        f.seek(6)
        assert f.read(1) == b"1"
        assert f.tell() == 7
    io.delete(location)
    assert not data.exists()
    with pytest.raises(FileNotFoundError):
        io.delete(location)
