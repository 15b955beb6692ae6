"""One filesystem contract, run against real servers: local disk, SFTP (asyncssh), FTP and FTPS (pyftpdlib), HDFS
(Hadoop's MiniDFSCluster through WebHDFS) -- each reached through Airflow's own hook and connection."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.sources.files.client import UnsafeNameError, check_name, connect
from tests.hdfs_lake import HdfsPath, client, hdfs_user, unique_folder
from tests.servers.ftp import ftp_server
from tests.servers.sftp import make_client_key, sftp_server

pytestmark = pytest.mark.timeout(60)


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, uri: str) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", uri)


HDFS = pytest.mark.hadoop


@pytest.fixture(
    params=[
        "local",
        "sftp",
        "ftp",
        "ftp-nlst",
        "ftps",
        pytest.param("webhdfs", marks=HDFS),
        pytest.param("fsspec", marks=HDFS),
    ]
)
def place(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    """``(location, served folder)``: the location names the folder ``/drop`` of the server (on HDFS a folder of
    its own). ``fsspec`` is fsspec's own WebHDFS client (what ``ObjectStoragePath`` URLs get) against the same
    NameNode."""
    kind = request.param
    if kind == "local":
        (tmp_path / "drop").mkdir()
        yield str(tmp_path / "drop"), tmp_path / "drop"
    elif kind == "sftp":
        with sftp_server(tmp_path) as srv:
            set_conn(monkeypatch, "files_sftp", srv.connection_uri("alice") + "?no_host_key_check=true")
            (srv.root / "drop").mkdir()
            yield "sftp://files_sftp@/drop", srv.root / "drop"
    elif kind in ("ftp", "ftp-nlst", "ftps"):
        with ftp_server(tmp_path, tls=kind == "ftps", mlsd=kind != "ftp-nlst") as srv:
            if srv.ca_pem is not None:
                monkeypatch.setenv("SSL_CERT_FILE", str(srv.ca_pem))  # what ssl.create_default_context() trusts
            set_conn(monkeypatch, "files_ftp", srv.connection_uri("alice"))
            (srv.root / "drop").mkdir()
            yield f"{kind.split('-')[0]}://files_ftp@/drop", srv.root / "drop"
    else:
        cluster = request.getfixturevalue("hadoop_cluster")
        active = cluster.namenode_http[cluster.active_namenode()]
        folder = HdfsPath(client(cluster), unique_folder("drop"))
        folder.mkdir()
        if kind == "webhdfs":
            set_conn(
                monkeypatch, "files_hdfs", f"webhdfs://{hdfs_user(cluster)}@{active}"
            )  # the provider's WebHDFSHook
            yield f"webhdfs://files_hdfs@{folder.path}", folder
        else:
            # An fsspec protocol no Airflow provider registers: connect() falls back to fsspec with the connection's
            # extras as storage options. "webhdfs" itself is registered by this provider, so alias it.
            from fsspec.implementations.webhdfs import WebHDFS
            from fsspec.registry import register_implementation

            register_implementation("testwebhdfs", WebHDFS, clobber=True)
            host, port = active.rsplit(":", 1)
            extras = quote(json.dumps({"host": host, "port": int(port), "user": hdfs_user(cluster)}))
            set_conn(monkeypatch, "files_fsspec", f"generic://?__extra__={extras}")
            yield f"testwebhdfs://files_fsspec@{folder.path}", folder


def set_mtime(path: Path | HdfsPath, seconds: float) -> None:
    if isinstance(path, HdfsPath):
        path.set_mtime(seconds)
    else:
        os.utime(path, (seconds, seconds))


@pytest.mark.filterwarnings("ignore:UPath 'testwebhdfs' filesystem not explicitly implemented")
def test_list_stat_read_move_delete(place: tuple[str, Any]) -> None:
    location, folder = place
    (folder / "a.csv").write_bytes(b"id\n1\n")
    (folder / "sub").mkdir()
    (folder / "sub" / "b.csv").write_bytes(b"x" * 300_000)
    set_mtime(folder / "a.csv", 1_700_000_000)
    fs, path = connect(location)
    try:
        flat = list(fs.list(path))
        assert [(f.relative, f.size) for f in flat] == [("a.csv", 5)]
        assert int(flat[0].mtime) == 1_700_000_000
        deep = sorted((f.relative, f.size) for f in fs.list(path, recursive=True))
        assert deep == [("a.csv", 5), ("sub/b.csv", 300_000)]
        with fs.open(f"{path}/sub/b.csv") as stream:
            assert stream.read() == b"x" * 300_000
        with fs.open(f"{path}/a.csv") as stream:  # the connection is still usable after a full download
            assert stream.read() == b"id\n1\n"
        stat = fs.stat(f"{path}/a.csv")
        assert stat is not None and stat.size == 5
        assert fs.stat(f"{path}/missing.csv") is None
        fs.move(f"{path}/a.csv", f"{path}/archive/2026/a.csv")
        assert (folder / "archive" / "2026" / "a.csv").read_bytes() == b"id\n1\n"
        fs.delete(f"{path}/sub/b.csv")
        assert not (folder / "sub" / "b.csv").exists()
        with pytest.raises(FileNotFoundError), fs.open(f"{path}/gone.csv") as stream:
            stream.read()
    finally:
        fs.close()


def test_sftp_key_auth_and_host_key_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = make_client_key(tmp_path)
    with sftp_server(tmp_path, users={}, authorized_keys={"bob": [key.public_line]}) as srv:
        (srv.root / "f.txt").write_bytes(b"hello")
        good = f"sftp://bob@127.0.0.1:{srv.port}?key_file={key.private_path}&host_key={quote(srv.host_key_public)}"
        set_conn(monkeypatch, "sftp_key", good)
        fs, path = connect("sftp://sftp_key@/")
        try:
            assert [f.relative for f in fs.list(path)] == ["f.txt"]
        finally:
            fs.close()
        other = make_client_key(tmp_path, "other").public_line  # an Ed25519 key that is not the server's
        wrong = f"sftp://bob@127.0.0.1:{srv.port}?key_file={key.private_path}&host_key={quote(other)}"
        set_conn(monkeypatch, "sftp_key", wrong)
        with pytest.raises(SourceError, match=r"host key .* does not match the connection's host_key"):
            connect("sftp://sftp_key@/")


def test_wrong_credentials_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with sftp_server(tmp_path) as srv:
        set_conn(monkeypatch, "bad_sftp", f"sftp://alice:nope@127.0.0.1:{srv.port}?no_host_key_check=true")
        with pytest.raises(SourceError, match="SFTP authentication failed for connection 'bad_sftp'"):
            connect("sftp://bad_sftp@/")
    with ftp_server(tmp_path) as srv:
        set_conn(monkeypatch, "bad_ftp", f"ftp://alice:nope@127.0.0.1:{srv.port}")
        with pytest.raises(SourceError, match="FTP login failed for connection 'bad_ftp': 530"):
            connect("ftp://bad_ftp@/")


@pytest.mark.parametrize("name", ["..", "../etc", "a/b", "C:x", "tab\there", "nul\x00", "back\\slash"])
def test_listed_names_that_could_escape_are_refused(name: str) -> None:
    with pytest.raises(UnsafeNameError, match="refusing unsafe file name"):
        check_name(name, where="sftp:/drop")


def test_a_password_in_the_location_is_refused() -> None:
    with pytest.raises(SourceError, match="put credentials in an Airflow connection"):
        connect("sftp://alice:secret@example.com/drop")
