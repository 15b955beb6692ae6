"""Helpers for tests against the real HDFS of the ``hadoop_cluster`` fixture (tests/servers/hadoop.py).

Each test works under its own HDFS folder, so tests share the session's cluster without seeing each other's files.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from airflow_zaloni.lake.webhdfs_fs import HAWebHDFS


def hdfs_user(cluster: Any) -> str:
    """The HDFS user of the cluster's own connection (the one that started it: permissions are on)."""
    uri = cluster.webhdfs_conn_uri
    if uri.lstrip().startswith("{"):
        return str(json.loads(uri).get("login") or "hdfs")
    return unquote(urlsplit(uri).username or "") or "hdfs"


def unique_folder(prefix: str = "t") -> str:
    return f"/tests/{prefix}-{uuid.uuid4().hex[:10]}"


def ha_connection(cluster: Any, **extra: Any) -> str:
    """A ``webhdfs`` connection (JSON form) naming both NameNodes of the cluster, in the order nn1, nn2."""
    conn: dict[str, Any] = {
        "conn_type": "webhdfs",
        "host": ",".join(cluster.namenode_http),
        "login": hdfs_user(cluster),
    }
    if extra:
        conn["extra"] = extra
    return json.dumps(conn)


def lake_on_hdfs(cluster: Any, monkeypatch: pytest.MonkeyPatch, conn_id: str = "hdfs_lake", **extra: Any) -> str:
    """A fresh ``webhdfs://<conn_id>@/...`` lake root on the cluster, its connection set in the environment."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", ha_connection(cluster, **extra))
    return f"webhdfs://{conn_id}@{unique_folder('lake')}"


def client(cluster: Any) -> HAWebHDFS:
    """A WebHDFS client of the cluster (both NameNodes) for looking at HDFS from the test's side."""
    namenodes = [(a.rsplit(":", 1)[0], int(a.rsplit(":", 1)[1])) for a in cluster.namenode_http]
    return HAWebHDFS(namenodes, user=hdfs_user(cluster), skip_instance_cache=True)


class HdfsPath:
    """The few ``pathlib.Path`` methods the file-ingest tests use, on an HDFS path (to put and check files)."""

    def __init__(self, fs: HAWebHDFS, path: str) -> None:
        self.fs = fs
        self.path = "/" + path.strip("/")

    def __truediv__(self, name: str) -> HdfsPath:
        return HdfsPath(self.fs, f"{self.path}/{name}")

    def __repr__(self) -> str:
        return f"HdfsPath({self.path!r})"

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def parent(self) -> HdfsPath:
        return HdfsPath(self.fs, self.path.rsplit("/", 1)[0] or "/")

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        self.fs.makedirs(self.path, exist_ok=True)

    def write_bytes(self, data: bytes) -> None:
        self.fs.pipe_file(self.path, data)

    def read_bytes(self) -> bytes:
        return bytes(self.fs.cat_file(self.path))

    def exists(self) -> bool:
        return bool(self.fs.exists(self.path))

    def iterdir(self) -> list[HdfsPath]:
        return [HdfsPath(self.fs, p) for p in self.fs.ls(self.path, detail=False)]

    def set_mtime(self, seconds: float) -> None:
        """WebHDFS SETTIMES (milliseconds), what ``os.utime`` is for a local file."""
        self.fs._call("SETTIMES", method="put", path=self.path, modificationtime=int(seconds * 1000), accesstime=-1)
