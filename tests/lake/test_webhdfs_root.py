"""``webhdfs://<conn_id>@/path`` lake roots and ObjectStoragePath URLs, through the HDFS provider's connection.

No HDFS can run here: the server is a local one that answers the documented WebHDFS REST API (tests/servers/webhdfs.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_zaloni.lake import DatasetRef, Lake
from tests.servers.webhdfs import webhdfs_server
from tests.sources_for_tests import CounterSource

REF = DatasetRef("raw", "test", "orders")


@pytest.fixture
def hdfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with webhdfs_server(tmp_path / "hdfs") as srv:
        monkeypatch.setenv("AIRFLOW_CONN_HDFS_LAKE", srv.connection_uri())
        yield srv


def test_lake_on_webhdfs_commits_and_reads_back(hdfs) -> None:
    lake = Lake("webhdfs://hdfs_lake@/data/lake")
    source = CounterSource(lower=None, upper=1500, batch_rows=500)
    with lake.transaction(run_id="r", try_number=1) as txn:
        writer = txn.writer(REF, "dt=2026-11-25", schema=source.schema, source=source.describe())
        for batch in source.batches():
            writer.write_batch(batch)
        txn.set_watermark(REF, source.cursor)
    # the bytes really are on the "HDFS" side, where a Hive or Spark reader would find them
    published = hdfs.root / "data/lake/raw/test/orders/dt=2026-11-25"
    assert sorted(p.name for p in published.iterdir()) == ["_manifest.json", "part-00000.parquet"]
    assert sorted(lake.read_table(REF)["id"].to_pylist()) == list(range(1, 1501))
    assert lake.watermark(REF) == 1500
    assert lake.verify() == []
    assert any(op == "RENAME" for _, op, _ in hdfs.requests)  # published by rename, as on a real namenode


def test_object_storage_path_knows_webhdfs_urls(hdfs) -> None:
    from airflow.sdk import ObjectStoragePath

    (hdfs.root / "landing").mkdir()
    (hdfs.root / "landing/hello.txt").write_bytes(b"hello lake")
    path = ObjectStoragePath("webhdfs://hdfs_lake@/landing/hello.txt")
    assert path.read_bytes() == b"hello lake"
    assert [p.name for p in ObjectStoragePath("webhdfs://hdfs_lake@/landing").iterdir()] == ["hello.txt"]
