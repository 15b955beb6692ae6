"""``webhdfs://<conn_id>@/path`` for Airflow's ObjectStoragePath and for lake roots.

The HDFS provider defines the ``webhdfs`` connection type but registers no filesystem, so ``ObjectStoragePath``
refuses ``webhdfs://`` URLs. Airflow calls :func:`get_fs` (listed under ``filesystems`` in provider info) with the
user part of the URL as the connection id.

The connection is read as the provider's ``WebHDFSHook`` reads it, so one connection serves the hook and the lake:

* **Host**: one NameNode, or the NameNodes of an HA pair as a list ``nn1,nn2``; each entry may carry its own port
  (``nn1:9870,nn2:9871``), otherwise **Port** (default 9870, 9871 with TLS) applies to all of them. Requests go to
  the active NameNode; a standby one (``StandbyException``) or one that does not answer is skipped and the next is
  tried, for up to ``failover_timeout`` seconds, which covers a NameNode failover in the middle of a task.
* **Login**: the HDFS user (``user.name``) in simple security; with a **Password**, HTTP basic auth (a gateway).
* **Schema**: a URL path prefix in front of ``/webhdfs/v1`` (a Knox-style gateway), as the hook uses it.
* Kerberos (SPNEGO, the worker's ticket cache) when Airflow's ``[core] security`` is ``kerberos``, as for the hook,
  or when the extra ``use_kerberos`` is true; the Login is then not sent (the ticket names the user).
* **Extra**: ``use_ssl`` (https), ``verify`` (a CA bundle path or a boolean), ``cert`` and ``key`` (client TLS),
  ``cookies``, ``headers``, ``failover_timeout``; booleans may be given as JSON booleans or as strings
  (``"False"`` is false).
"""

from __future__ import annotations

import http.client
import io
import logging
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from fsspec.implementations.webhdfs import WebHDFS

from airflow_zaloni.utils.connections import extra_flag
from airflow_zaloni.utils.kerberos import spnego_refused, wants_spnego

schemes = ["webhdfs"]

log = logging.getLogger(__name__)

DEFAULT_HTTP_PORT = 9870
DEFAULT_HTTPS_PORT = 9871
DEFAULT_FAILOVER_TIMEOUT = 60.0
#: (connect, read) seconds for a NameNode request: an address that does not answer must not hang a task forever.
REQUEST_TIMEOUT = (10.0, 300.0)

#: Bytes collected before a piece is handed to the upload thread, and pieces in flight (bounded memory).
UPLOAD_PIECE = 16 << 20
UPLOAD_DEPTH = 3

#: Remote exceptions after which the request was certainly not carried out, so it may go to another NameNode.
_FAILOVER_EXCEPTIONS = frozenset({"StandbyException", "RetriableException", "ObserverRetryOnActiveException"})


class WebHDFSRemoteError(OSError):
    """A WebHDFS ``RemoteException`` that has no closer Python equivalent; ``java_class`` names the Hadoop one."""

    def __init__(self, exception: str, java_class: str, message: str) -> None:
        super().__init__(f"{exception}: {message}")
        self.exception = exception
        self.java_class = java_class


class HAWebHDFS(WebHDFS):
    """fsspec's ``WebHDFS`` that talks to whichever of several NameNodes is active.

    :param namenodes: ``[(host, port), ...]`` in the order to try; the first one that is active is kept.
    :param path_prefix: URL path in front of ``/webhdfs/v1`` (the connection's Schema).
    :param failover_timeout: seconds to keep looking for an active NameNode before a request fails.
    :param session_headers: HTTP headers sent with every request.
    :param session_cookies: cookies sent with every request.

    Other parameters are those of fsspec's ``WebHDFS``. Files opened for writing (``"wb"``) are uploaded with one
    ``CREATE`` streamed to the DataNode (:class:`WebHDFSUpload`) rather than a ``CREATE`` plus an ``APPEND`` per
    block. Remote errors are raised as the closest Python exception: ``FileNotFoundError``, ``FileExistsError``,
    ``PermissionError``, ``ValueError``, else :class:`WebHDFSRemoteError`.
    """

    protocol = ("webhdfs", "webHDFS")

    def __init__(
        self,
        namenodes: list[tuple[str, int]],
        *,
        path_prefix: str = "",
        failover_timeout: float = DEFAULT_FAILOVER_TIMEOUT,
        session_headers: dict[str, str] | None = None,
        session_cookies: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        if self._cached:
            return
        if not namenodes:
            raise ValueError("HAWebHDFS needs at least one NameNode address")
        self.namenodes = [(str(h), int(p)) for h, p in namenodes]
        self.path_prefix = "/" + path_prefix.strip("/") if path_prefix.strip("/") else ""
        self.failover_timeout = float(failover_timeout)
        self._session_headers = dict(session_headers or {})
        self._session_cookies = dict(session_cookies or {})
        self._scheme = "https" if kwargs.get("use_https") else "http"
        self._active = 0
        host, port = self.namenodes[0]
        super().__init__(host, port=port, **kwargs)
        self._use(0)

    def _connect(self) -> None:
        super()._connect()
        self.session.headers.update(self._session_headers)
        self.session.cookies.update(self._session_cookies)

    def _use(self, index: int) -> None:
        self._active = index
        host, port = self.namenodes[index]
        self.url = f"{self._scheme}://{host}:{port}{self.path_prefix}/webhdfs/v1"

    @property
    def active_namenode(self) -> str:
        """``host:port`` of the NameNode that requests currently go to."""
        return _address(self.namenodes[self._active])

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if mode == "wb":  # one streamed CREATE instead of fsspec's CREATE plus an APPEND per block
            return WebHDFSUpload(self, self._strip_protocol(path), overwrite=True)
        return super()._open(path, mode=mode, **kwargs)

    def ensure_active(self) -> None:
        """Make sure requests go to the active NameNode (a read that a standby refuses).

        A standby NameNode still answers ``CREATE`` with a redirect to a DataNode, naming itself as the NameNode the
        DataNode should use unless a nameservice is configured; the upload then fails at the DataNode. Writers call
        this first so that a failover is noticed before any byte is sent.
        """
        self._call("GETFILESTATUS", path="/")

    def standby_seen(self, address: str | None = None) -> None:
        """A request failed with ``StandbyException`` at a DataNode: the next request goes to another NameNode."""
        self._use((self._active + 1) % len(self.namenodes))

    def _call(
        self,
        op: str,
        method: str = "get",
        path: str | None = None,
        data: Any = None,
        redirect: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        deadline = time.monotonic() + self.failover_timeout
        delay = 0.2
        tried = 0
        while True:
            index = self._active
            try:
                return self._call_one(op, method, path, data, redirect, **kwargs)
            except (StandbyError, requests.ConnectionError) as exc:
                # Only failures that prove the request was not carried out: a standby or unreachable NameNode.
                tried += 1
                if self._active == index:
                    self._use((index + 1) % len(self.namenodes))
                if time.monotonic() >= deadline:
                    raise ConnectionError(
                        f"WebHDFS {op} {path or '/'}: no active NameNode among "
                        f"{', '.join(map(_address, self.namenodes))} after {self.failover_timeout:.0f}s "
                        f"({exc})"
                    ) from exc
                if tried % len(self.namenodes) == 0:  # every NameNode said no: a failover is under way, wait
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
                log.info(
                    "WebHDFS %s: NameNode %s is not active (%s), trying %s",
                    op,
                    _address(self.namenodes[index]),
                    exc,
                    self.active_namenode,
                )

    def _call_one(
        self, op: str, method: str, path: str | None, data: Any, redirect: bool, **kwargs: Any
    ) -> requests.Response:
        path = self._strip_protocol(path) if path is not None else ""
        url = self._apply_proxy(self.url + quote(path, safe="/="))
        params = {**kwargs, **self.pars, "op": op.upper()}
        out = self.session.request(
            method=method.upper(), url=url, params=params, data=data, allow_redirects=redirect, timeout=REQUEST_TIMEOUT
        )
        if wants_spnego(out.status_code, out.headers):
            raise PermissionError(
                f"WebHDFS {op.upper()} {path or '/'}: "
                + spnego_refused(
                    f"the NameNode {self.active_namenode}",
                    enabled=bool(self.kerb),
                    how_to_enable="set the extra use_kerberos on the connection (or [core] security = kerberos)",
                )
            )
        if out.status_code >= 400:
            raise_remote_error(out, f"WebHDFS {op.upper()} {path or '/'}")
        return out


def _address(namenode: tuple[str, int]) -> str:
    return f"{namenode[0]}:{namenode[1]}"


class StandbyError(ConnectionError):
    """The NameNode asked is standby (or in a transition): the request was not carried out."""


def raise_remote_error(response: requests.Response, what: str) -> None:
    """Raise the Python exception closest to a WebHDFS error answer (a ``RemoteException`` JSON body)."""
    try:
        remote = response.json()["RemoteException"]
        exception, java_class, message = remote["exception"], remote.get("javaClassName", ""), remote["message"]
    except (ValueError, KeyError, TypeError):
        response.raise_for_status()
        raise OSError(f"{what}: HTTP {response.status_code}") from None
    if exception in _FAILOVER_EXCEPTIONS:
        raise StandbyError(f"{exception}: {message}")
    text = f"{what}: {message}"
    if exception == "FileNotFoundException":
        raise FileNotFoundError(text)
    if exception in ("FileAlreadyExistsException", "AlreadyBeingCreatedException"):
        raise FileExistsError(text)
    if exception in ("AccessControlException", "SecurityException", "AuthorizationException"):
        raise PermissionError(text)
    if exception in ("IllegalArgumentException", "UnsupportedOperationException", "InvalidPathException"):
        raise ValueError(text)
    raise WebHDFSRemoteError(exception, java_class, text)


def _kerberos_security() -> bool:
    """Airflow's ``[core] security`` setting, which the provider's hook uses to choose Kerberos."""
    try:
        from airflow.configuration import conf
    except ImportError:  # the Airflow-free core
        return False
    return str(conf.get("core", "security", fallback="") or "").lower() == "kerberos"


def parse_namenodes(host: str | None, port: int | None, *, https: bool, conn_id: str) -> list[tuple[str, int]]:
    """``nn1,nn2`` (or ``nn1:9870,nn2:9871``) from a connection's Host and Port, in the order given."""
    default_port = port or (DEFAULT_HTTPS_PORT if https else DEFAULT_HTTP_PORT)
    namenodes: list[tuple[str, int]] = []
    for entry in (host or "localhost").split(","):
        entry = entry.strip()
        if not entry:
            continue
        name, sep, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if not sep:
            namenodes.append((entry, default_port))
            continue
        if not entry_port.isdigit():
            raise ValueError(f"connection {conn_id!r}: NameNode {entry!r} in Host has a port that is not a number")
        namenodes.append((name, int(entry_port)))
    if not namenodes:
        raise ValueError(f"connection {conn_id!r}: Host names no NameNode")
    return namenodes


def options_from_connection(conn: Any, conn_id: str) -> dict[str, Any]:
    """Keyword arguments of :class:`HAWebHDFS` for an Airflow ``webhdfs`` connection."""
    extra = conn.extra_dejson
    https = extra_flag(extra, "use_ssl", False, conn_id=conn_id)
    kerberos = _kerberos_security() or extra_flag(extra, "use_kerberos", False, conn_id=conn_id)
    options: dict[str, Any] = {
        "namenodes": parse_namenodes(conn.host, conn.port, https=https, conn_id=conn_id),
        "use_https": https,
        "kerberos": kerberos,
        "path_prefix": conn.schema or "",
        "failover_timeout": float(extra.get("failover_timeout", DEFAULT_FAILOVER_TIMEOUT)),
    }
    if kerberos:
        if conn.login:
            log.debug("connection %r: Kerberos names the user; the Login %r is not sent", conn_id, conn.login)
    elif conn.login:
        options["user"] = conn.login
        if conn.password:
            options["password"] = conn.password
    if https:
        verify = extra.get("verify", True)
        if isinstance(verify, bool) or str(verify).lower() in ("true", "false"):
            verify = extra_flag(extra, "verify", True, conn_id=conn_id)
        options["session_verify"] = verify
        if extra.get("cert"):
            options["session_cert"] = (extra["cert"], extra["key"]) if extra.get("key") else extra["cert"]
    if isinstance(extra.get("headers"), dict):
        options["session_headers"] = extra["headers"]
    if isinstance(extra.get("cookies"), dict):
        options["session_cookies"] = extra["cookies"]
    return options


def get_fs(conn_id: str | None, storage_options: dict[str, Any] | None = None) -> Any:
    """An fsspec WebHDFS filesystem (:class:`HAWebHDFS`) configured from the Airflow connection ``conn_id``.

    ``storage_options`` override what the connection says; fsspec's ``host`` and ``port`` are accepted too (a host
    list ``nn1,nn2`` as in a connection), and ``namenodes`` (``[(host, port), ...]``) wins over both.
    """
    options: dict[str, Any] = {}
    if conn_id:
        from airflow.sdk import BaseHook

        options = options_from_connection(BaseHook.get_connection(conn_id), conn_id)
    given = dict(storage_options or {})
    host, port = given.pop("host", None), given.pop("port", None)
    options.update(given)
    if (host is not None or port is not None) and "namenodes" not in given:
        options["namenodes"] = parse_namenodes(
            host,
            int(port) if port else None,
            https=bool(options.get("use_https")),
            conn_id=conn_id or "storage options",
        )
    options.setdefault("namenodes", [("localhost", DEFAULT_HTTP_PORT)])
    return HAWebHDFS(**options)


class WebHDFSUpload(io.RawIOBase):
    """A write-only stream that uploads a file in one WebHDFS ``CREATE``, streamed in pieces from a thread.

    The NameNode answers ``CREATE`` with a redirect to a DataNode; the bytes then go to that DataNode in a single
    chunked ``PUT`` whose body is fed by :meth:`write` through a bounded queue. The file is complete once
    :meth:`close` returns.

    Each byte is copied once in Python, into one of a few reused piece buffers (the caller may reuse its buffer once
    :meth:`write` returns); the upload thread hands those buffers to the socket as they are (``http.client``: no
    chunk-framing copy as in urllib3, no fresh memory per piece). With TLS, a proxy or a gateway's credentials the
    body goes through the ``requests`` session, which carries those settings.
    """

    def __init__(self, fs: HAWebHDFS, path: str, *, overwrite: bool) -> None:
        super().__init__()
        self.path = path
        self._fs = fs
        fs.ensure_active()
        response = fs._call("CREATE", method="put", path=path, redirect=False, overwrite=str(overwrite).lower())
        location = response.headers.get("Location")
        if not location:
            raise OSError(f"WebHDFS CREATE {path}: the NameNode sent no DataNode location")
        self._queue: queue.Queue[memoryview | None] = queue.Queue(maxsize=UPLOAD_DEPTH)
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()  # pieces the upload thread is done with
        self._buffer: bytearray | None = None
        self._filled = 0
        self._written = 0
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._upload, args=(fs, fs._apply_proxy(location)), name=f"webhdfs-create {path}", daemon=True
        )
        self._thread.start()

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._written

    def write(self, data: Any) -> int:
        self._check()
        view = memoryview(data).cast("B")
        size = view.nbytes
        while view.nbytes:
            if self._buffer is None:
                self._buffer = self._take_buffer()
            n = min(view.nbytes, UPLOAD_PIECE - self._filled)
            self._buffer[self._filled : self._filled + n] = view[:n]
            self._filled += n
            view = view[n:]
            if self._filled == UPLOAD_PIECE:
                self._send_piece()
        self._written += size
        return size

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._thread.is_alive():
                if self._filled:
                    self._send_piece()
                self._send(None)
            self._thread.join()
            self._check()
        finally:
            super().close()

    # -- internals ---------------------------------------------------------------------------------------------
    def _take_buffer(self) -> bytearray:
        try:
            return self._free.get_nowait()
        except queue.Empty:  # at most UPLOAD_DEPTH + 2 exist: the queue is bounded
            return bytearray(UPLOAD_PIECE)

    def _send_piece(self) -> None:
        assert self._buffer is not None
        self._send(memoryview(self._buffer)[: self._filled])
        self._buffer, self._filled = None, 0

    def _send(self, piece: memoryview | None) -> None:
        while True:
            try:
                self._queue.put(piece, timeout=1.0)
                return
            except queue.Full:
                self._check()
                if not self._thread.is_alive():
                    raise OSError(f"WebHDFS CREATE {self.path}: the upload stopped") from self._error

    def _check(self) -> None:
        if isinstance(self._error, StandbyError):
            self._fs.standby_seen()
            raise StandbyError(
                f"WebHDFS CREATE {self.path}: the DataNode was sent to a standby NameNode"
            ) from self._error
        if self._error is not None:
            raise OSError(f"WebHDFS CREATE {self.path}: upload to the DataNode failed: {self._error}") from self._error

    def _body(self) -> Iterator[memoryview]:
        while (piece := self._queue.get()) is not None:
            yield piece
            self._free.put(piece.obj)  # type: ignore[arg-type]  # sent: the writer may fill it again

    def _upload(self, fs: HAWebHDFS, location: str) -> None:
        try:
            if _direct_upload(fs, location):
                response = _put_chunked(location, self._body())
            else:
                response = fs.session.put(
                    location, data=self._body(), headers={"content-type": "application/octet-stream"}
                )
            if response.status_code >= 400:
                raise_remote_error(response, f"WebHDFS CREATE {self.path}")
        except BaseException as exc:  # handed to the writing thread, which raises it
            self._error = exc


def _direct_upload(fs: HAWebHDFS, location: str) -> bool:
    """Whether the body may go by ``http.client``: only where ``requests`` would add nothing to the request (plain
    HTTP, no proxy, no gateway credentials, headers or cookies of the connection). A Kerberos session is fine: the
    DataNode takes the delegation token in the URL, it does not ask for SPNEGO."""
    if urlsplit(location).scheme != "http" or fs.session.proxies or requests.utils.get_environ_proxies(location):
        return False
    if fs._session_headers or fs._session_cookies:
        return False
    return not isinstance(fs.session.auth, (tuple, requests.auth.HTTPBasicAuth))


def _put_chunked(url: str, body: Iterator[memoryview]) -> requests.Response:
    """``PUT url`` with a chunked body, each piece handed to the socket without a copy; the answer as requests'."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "localhost", parts.port or 80, timeout=REQUEST_TIMEOUT[1])
    try:
        conn.putrequest("PUT", f"{parts.path or '/'}?{parts.query}" if parts.query else parts.path or "/")
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for piece in body:
            conn.send(b"%x\r\n" % piece.nbytes)
            conn.send(piece)
            conn.send(b"\r\n")
        conn.send(b"0\r\n\r\n")
        answer = conn.getresponse()
        response = requests.Response()
        response.status_code = answer.status
        response.reason = answer.reason
        response.headers = requests.structures.CaseInsensitiveDict(answer.getheaders())
        response._content = answer.read()
        response.url = url
        return response
    finally:
        conn.close()
