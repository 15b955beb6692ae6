"""A local HTTP server that answers the documented WebHDFS REST API, backed by a folder (no HDFS can run here).

It follows the Apache Hadoop "WebHDFS REST API" page: ``/webhdfs/v1/<path>?op=...`` with ``user.name``;
``GETFILESTATUS``, ``LISTSTATUS``, ``GETHOMEDIRECTORY``, ``GETCONTENTSUMMARY`` and ``GETFILECHECKSUM`` answer JSON
in the documented shapes; ``OPEN`` (``offset``, ``length``), ``CREATE`` (``overwrite``) and ``APPEND`` answer
``307 Temporary Redirect`` to a "datanode" URL (the same server with ``datanode=true``), which then serves or takes
the bytes, as a real namenode does; ``MKDIRS``, ``RENAME`` (``destination``) and ``DELETE`` (``recursive``) answer
``{"boolean": ...}``; errors answer ``{"RemoteException": {"exception", "javaClassName", "message"}}`` with 404, 403
or 400. Modification times are milliseconds since the epoch.

API::

    from tests.servers.webhdfs import webhdfs_server

    with webhdfs_server(tmp_path) as srv:
        srv.host, srv.port, srv.root       # root: the folder that is "/" in HDFS
        srv.requests                       # ("GET", "LISTSTATUS", "/path") per namenode request, for assertions
        srv.connection_uri()               # "webhdfs://hdfs@127.0.0.1:PORT" (Airflow connection URI)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

__all__ = ["WebHDFSServerInfo", "webhdfs_server"]

PREFIX = "/webhdfs/v1"


@dataclass
class WebHDFSServerInfo:
    host: str
    port: int
    root: Path
    requests: list[tuple[str, str, str]] = field(default_factory=list)

    def connection_uri(self, user: str = "hdfs") -> str:
        return f"webhdfs://{user}@{self.host}:{self.port}"


class _RemoteError(Exception):
    def __init__(self, status: int, exception: str, java_class: str, message: str) -> None:
        super().__init__(message)
        self.status, self.exception, self.java_class, self.message = status, exception, java_class, message


def _not_found(path: str) -> _RemoteError:
    return _RemoteError(404, "FileNotFoundException", "java.io.FileNotFoundException", f"File does not exist: {path}")


class _Handler(BaseHTTPRequestHandler):
    root: Path
    log: list[tuple[str, str, str]]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    # -- plumbing -------------------------------------------------------------------------------------------------
    def _local(self, hdfs_path: str) -> Path:
        parts = [p for p in hdfs_path.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise _RemoteError(400, "IllegalArgumentException", "java.lang.IllegalArgumentException", "Invalid path")
        return self.root.joinpath(*parts)

    def _send_json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _redirect(self, query: dict[str, str], path: str) -> None:
        params = "&".join(f"{k}={quote(v)}" for k, v in {**query, "datanode": "true"}.items())
        host, port = self.server.server_address[:2]  # type: ignore[misc,str-unpack,index]
        self.send_response(307)
        self.send_header("Location", f"http://{host}:{port}{PREFIX}{quote(path)}?{params}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _status(self, path: Path, suffix: str) -> dict[str, Any]:
        st = path.stat()
        is_dir = path.is_dir()
        return {
            "accessTime": int(st.st_atime * 1000),
            "blockSize": 0 if is_dir else 134217728,
            "childrenNum": len(os.listdir(path)) if is_dir else 0,
            "fileId": st.st_ino,
            "group": "supergroup",
            "length": 0 if is_dir else st.st_size,
            "modificationTime": int(st.st_mtime * 1000),
            "owner": "hdfs",
            "pathSuffix": suffix,
            "permission": "755" if is_dir else "644",
            "replication": 0 if is_dir else 3,
            "storagePolicy": 0,
            "type": "DIRECTORY" if is_dir else "FILE",
        }

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if not url.path.startswith(PREFIX):
            self._send_json(404, {"RemoteException": {"exception": "NotFound", "message": url.path}})
            return
        hdfs_path = unquote(url.path[len(PREFIX) :]) or "/"
        op = query.get("op", "").upper()
        datanode = query.get("datanode") == "true"
        if not datanode:
            self.log.append((method, op, hdfs_path))
        try:
            self._operation(method, op, hdfs_path, query, datanode)
        except _RemoteError as err:
            if method in ("PUT", "POST") and not datanode:
                self._body()
            body = {"exception": err.exception, "javaClassName": err.java_class, "message": err.message}
            self._send_json(err.status, {"RemoteException": body})

    def _operation(self, method: str, op: str, hdfs_path: str, query: dict[str, str], datanode: bool) -> None:
        local = self._local(hdfs_path)
        if (method, op) == ("GET", "GETFILESTATUS"):
            if not local.exists():
                raise _not_found(hdfs_path)
            self._send_json(200, {"FileStatus": self._status(local, "")})
        elif (method, op) == ("GET", "LISTSTATUS"):
            if not local.exists():
                raise _not_found(hdfs_path)
            if local.is_dir():
                statuses = [self._status(local / n, n) for n in sorted(os.listdir(local))]
            else:
                statuses = [self._status(local, "")]
            self._send_json(200, {"FileStatuses": {"FileStatus": statuses}})
        elif (method, op) == ("GET", "GETHOMEDIRECTORY"):
            self._send_json(200, {"Path": f"/user/{query.get('user.name', 'hdfs')}"})
        elif (method, op) == ("GET", "GETCONTENTSUMMARY"):
            if not local.exists():
                raise _not_found(hdfs_path)
            files = [local] if local.is_file() else [p for p in local.rglob("*") if p.is_file()]
            dirs = 0 if local.is_file() else 1 + sum(1 for p in local.rglob("*") if p.is_dir())
            length = sum(p.stat().st_size for p in files)
            summary = {"directoryCount": dirs, "fileCount": len(files), "length": length, "quota": -1}
            self._send_json(200, {"ContentSummary": {**summary, "spaceConsumed": length, "spaceQuota": -1}})
        elif (method, op) == ("GET", "GETFILECHECKSUM"):
            if not local.is_file():
                raise _not_found(hdfs_path)
            digest = hashlib.md5(local.read_bytes()).hexdigest()  # a stand-in: real HDFS sends MD5-of-CRC32
            self._send_json(200, {"FileChecksum": {"algorithm": "MD5-of-0MD5-of-512CRC32C", "bytes": digest}})
        elif (method, op) == ("GET", "OPEN"):
            if not local.is_file():
                raise _not_found(hdfs_path)
            if not datanode:
                self._redirect(query, hdfs_path)
                return
            self._send_file(local, int(query.get("offset", 0)), query.get("length"))
        elif (method, op) == ("PUT", "CREATE"):
            if local.exists() and query.get("overwrite", "false").lower() != "true":
                raise _RemoteError(
                    403,
                    "FileAlreadyExistsException",
                    "org.apache.hadoop.fs.FileAlreadyExistsException",
                    f"{hdfs_path} for client 127.0.0.1 already exists",
                )
            if not datanode:
                self._body()
                self._redirect(query, hdfs_path)
                return
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(self._body())
            self.send_response(201)
            self.send_header("Location", f"hdfs://127.0.0.1{hdfs_path}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif (method, op) == ("POST", "APPEND"):
            if not local.is_file():
                raise _not_found(hdfs_path)
            if not datanode:
                self._body()
                self._redirect(query, hdfs_path)
                return
            with local.open("ab") as out:
                out.write(self._body())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif (method, op) == ("PUT", "MKDIRS"):
            self._body()
            if local.is_file():
                raise _RemoteError(
                    403,
                    "FileAlreadyExistsException",
                    "org.apache.hadoop.fs.FileAlreadyExistsException",
                    f"Path is not a directory: {hdfs_path}",
                )
            local.mkdir(parents=True, exist_ok=True)
            self._send_json(200, {"boolean": True})
        elif (method, op) == ("PUT", "RENAME"):
            self._body()
            target = self._local(query.get("destination", ""))
            if not local.exists() or target.exists() or not target.parent.is_dir():
                self._send_json(200, {"boolean": False})  # HDFS answers false, not an error, for these cases
                return
            os.rename(local, target)
            self._send_json(200, {"boolean": True})
        elif (method, op) == ("DELETE", "DELETE"):
            if not local.exists():
                self._send_json(200, {"boolean": False})
                return
            if local.is_dir():
                if os.listdir(local) and query.get("recursive", "false").lower() != "true":
                    raise _RemoteError(
                        403,
                        "PathIsNotEmptyDirectoryException",
                        "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException",
                        f"`{hdfs_path} is non empty': Directory is not empty",
                    )
                shutil.rmtree(local)
            else:
                local.unlink()
            self._send_json(200, {"boolean": True})
        else:
            raise _RemoteError(
                400,
                "IllegalArgumentException",
                "java.lang.IllegalArgumentException",
                f'Invalid value for webhdfs parameter "op": {op} is not a valid {method} operation',
            )

    def _send_file(self, local: Path, offset: int, length: str | None) -> None:
        size = local.stat().st_size
        end = size if length is None else min(size, offset + int(length))
        count = max(0, end - offset)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(count))
        self.end_headers()
        with local.open("rb") as source:
            source.seek(offset)
            while count > 0:
                block = source.read(min(count, 1 << 20))
                if not block:
                    break
                self.wfile.write(block)
                count -= len(block)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")


@contextmanager
def webhdfs_server(tmp_path: Path, *, root: Path | None = None) -> Iterator[WebHDFSServerInfo]:
    """Serve a folder as HDFS over the WebHDFS REST API on 127.0.0.1 for the ``with`` block."""
    served = Path(root) if root is not None else Path(tmp_path) / "hdfs-root"
    served.mkdir(parents=True, exist_ok=True)
    log: list[tuple[str, str, str]] = []
    handler = type("WebHDFSHandler", (_Handler,), {"root": served, "log": log})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield WebHDFSServerInfo("127.0.0.1", server.server_address[1], served, log)  # listening since bind()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
