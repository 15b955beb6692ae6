"""One small interface for listing and reading files wherever they are: local disk, SFTP, FTP/FTPS, WebHDFS, fsspec.

Every implementation takes a ready client in its constructor (a paramiko ``SFTPClient``, an ``ftplib.FTP``, an
``hdfs`` client, an fsspec filesystem), so the module imports and tests without Airflow. :func:`connect` is the one
place that turns a location (``/data/drop``, ``sftp:///incoming``, ``ftp:///out``, ``webhdfs:///landing``,
``s3://bucket/prefix``...) plus an Airflow connection id into a filesystem, importing Airflow's hooks lazily.

Paths are POSIX strings. Listings never trust the names a server sends: a name that could climb out of the listed
folder (``..``, ``/``, ``\\``, a drive letter, control characters) is refused with :class:`UnsafeNameError` when it
is used (a file the pattern selects, a sub-folder a recursive listing enters); an odd name nobody asked for is left
alone, so it cannot block the other files of the folder.
"""

from __future__ import annotations

import contextlib
import ftplib
import io
import logging
import os
import posixpath
import stat as stat_module
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.utils.retry import RetryError, RetryPolicy, retry_call

if TYPE_CHECKING:
    import fsspec
    import paramiko

log = logging.getLogger(__name__)


class UnsafeNameError(SourceError):
    """A server listed a name that could escape the folder it was listed in."""


class FileVanishedError(SourceError):
    """A listed file was gone (or changed size) when it was read."""

    def __init__(self, message: str, *, before_read: bool = False) -> None:
        super().__init__(message)
        self.before_read = before_read


@dataclass(frozen=True)
class RemoteFile:
    """A file as listed: where it is, how big, when last modified (seconds since the epoch, UTC)."""

    path: str
    """Full path on its filesystem."""
    relative: str
    """Path relative to the listed folder, ``/``-separated; what patterns match and what the ledger keys on."""
    size: int
    mtime: float


def check_name(name: str, *, where: str) -> str:
    """Return ``name`` if it is a plain file name, else raise :class:`UnsafeNameError` naming it and ``where``."""
    bad = (
        name in ("", ".", "..")
        or "/" in name
        or "\\" in name
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in name)
        or (len(name) >= 2 and name[1] == ":" and name[0].isalpha())
    )
    if bad:
        raise UnsafeNameError(f"refusing unsafe file name {name!r} listed in {where}")
    return name


class FileSystem(Protocol):
    """What file ingest needs from a place that holds files."""

    kind: str

    def list(
        self, folder: str, *, recursive: bool = False, accept: Callable[[str], bool] | None = None
    ) -> Iterator[RemoteFile]:
        """Yield the regular files in ``folder`` (and below it when ``recursive``).

        :param accept: only files whose relative path it accepts are yielded, and only their names are checked.
        """
        ...

    def stat(self, path: str) -> RemoteFile | None:
        """The file at ``path`` now, or ``None`` if there is none."""
        ...

    def open(self, path: str) -> contextlib.AbstractContextManager[IO[bytes]]:
        """Open ``path`` for sequential binary reading."""
        ...

    def move(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst`` (replacing ``dst``), creating the parent folder of ``dst`` if needed."""
        ...

    def delete(self, path: str) -> None: ...

    def close(self) -> None: ...


def _walk(
    folder: str,
    recursive: bool,
    entries: Callable[[str], Iterator[tuple[str, bool, int, float]]],
    where: str,
    accept: Callable[[str], bool] | None = None,
) -> Iterator[RemoteFile]:
    """Shared recursive walk: ``entries(dir)`` yields ``(name, is_dir, size, mtime)``.

    Only the names that are used are checked, so one odd name in a drop folder (``junk\\x01.txt``) does not block
    every pattern: a file name when ``accept(relative path)`` takes it (every file when ``accept`` is ``None``),
    a folder name before the walk descends into it. A sub-folder with an unsafe name is not descended into (a
    warning names it); a matching file with an unsafe name raises :class:`UnsafeNameError`.
    """
    stack = [("", folder)]
    while stack:
        rel_dir, abs_dir = stack.pop()
        for name, is_dir, size, mtime in sorted(entries(abs_dir)):
            rel = f"{rel_dir}{name}"
            if is_dir:
                if not recursive:
                    continue
                try:
                    check_name(name, where=f"{where}:{abs_dir}")
                except UnsafeNameError as err:
                    log.warning("Not descending into a sub-folder: %s", err)
                    continue
                stack.append((rel + "/", posixpath.join(abs_dir, name)))
            elif accept is None or accept(rel):
                check_name(name, where=f"{where}:{abs_dir}")
                yield RemoteFile(path=posixpath.join(abs_dir, name), relative=rel, size=size, mtime=mtime)


class LocalFileSystem:
    """The local disk (or anything mounted on it)."""

    kind = "local"

    def list(
        self, folder: str, *, recursive: bool = False, accept: Callable[[str], bool] | None = None
    ) -> Iterator[RemoteFile]:
        def entries(path: str) -> Iterator[tuple[str, bool, int, float]]:
            with os.scandir(path) as it:
                for entry in it:
                    try:
                        st = entry.stat()
                    except FileNotFoundError:  # removed between readdir and stat
                        continue
                    if stat_module.S_ISDIR(st.st_mode) or stat_module.S_ISREG(st.st_mode):
                        yield entry.name, stat_module.S_ISDIR(st.st_mode), st.st_size, st.st_mtime

        return _walk(folder, recursive, entries, "local", accept)

    def stat(self, path: str) -> RemoteFile | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        return RemoteFile(path=path, relative=posixpath.basename(path), size=st.st_size, mtime=st.st_mtime)

    def open(self, path: str) -> contextlib.AbstractContextManager[IO[bytes]]:
        return open(path, "rb")

    def move(self, src: str, dst: str) -> None:
        os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
        os.replace(src, dst)

    def delete(self, path: str) -> None:
        os.remove(path)

    def close(self) -> None:
        pass


class SFTPFileSystem:
    """An SFTP server through a paramiko ``SFTPClient`` (what Airflow's ``SFTPHook`` hands out)."""

    kind = "sftp"

    def __init__(self, client: paramiko.SFTPClient, *, on_close: Callable[[], None] | None = None) -> None:
        self._client = client
        self._on_close = on_close

    def list(
        self, folder: str, *, recursive: bool = False, accept: Callable[[str], bool] | None = None
    ) -> Iterator[RemoteFile]:
        def entries(path: str) -> Iterator[tuple[str, bool, int, float]]:
            for attr in self._client.listdir_attr(path):
                mode = attr.st_mode or 0
                if stat_module.S_ISDIR(mode) or stat_module.S_ISREG(mode):
                    yield attr.filename, stat_module.S_ISDIR(mode), attr.st_size or 0, float(attr.st_mtime or 0)

        return _walk(folder, recursive, entries, "sftp", accept)

    def stat(self, path: str) -> RemoteFile | None:
        try:
            attr = self._client.stat(path)
        except FileNotFoundError:
            return None
        return RemoteFile(path, posixpath.basename(path), attr.st_size or 0, float(attr.st_mtime or 0))

    @contextlib.contextmanager
    def open(self, path: str) -> Iterator[IO[bytes]]:
        with self._client.open(path, "rb") as handle:
            handle.prefetch()  # pipelined reads: an order of magnitude faster than one request per block
            yield handle  # type: ignore[misc]

    def move(self, src: str, dst: str) -> None:
        self._makedirs(posixpath.dirname(dst))
        self._client.posix_rename(src, dst)

    def _makedirs(self, folder: str) -> None:
        if not folder or folder == "/":
            return
        try:
            self._client.stat(folder)
        except FileNotFoundError:
            self._makedirs(posixpath.dirname(folder))
            self._client.mkdir(folder)

    def delete(self, path: str) -> None:
        self._client.remove(path)

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()


def _ftp_time(value: str) -> float:
    """An FTP ``YYYYMMDDHHMMSS[.sss]`` (UTC, RFC 3659) time as epoch seconds."""
    whole, _, fraction = value.partition(".")
    stamp = datetime.strptime(whole, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc).timestamp()
    return stamp + (float(f"0.{fraction}") if fraction else 0.0)


class _FtpDownload(io.RawIOBase):
    """A RETR data connection read as a file; closing it waits for the server's transfer-complete reply."""

    def __init__(self, ftp: ftplib.FTP, path: str) -> None:
        ftp.voidcmd("TYPE I")
        self._ftp = ftp
        self._sock = ftp.transfercmd(f"RETR {path}")
        self._path = path

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._sock.recv_into(buffer)

    def close(self) -> None:
        if self.closed:
            return
        try:
            # A TLS data channel must be shut down cleanly, as ftplib's own retrbinary does.
            unwrap = getattr(self._sock, "unwrap", None)
            if unwrap is not None:
                with contextlib.suppress(OSError, ValueError):
                    unwrap()
            self._sock.close()
            self._ftp.voidresp()
        finally:
            super().close()


class FTPFileSystem:
    """An FTP or FTPS server through ``ftplib`` (what Airflow's ``FTPHook``/``FTPSHook`` hand out)."""

    kind = "ftp"

    def __init__(self, ftp: ftplib.FTP, *, on_close: Callable[[], None] | None = None) -> None:
        self._ftp = ftp
        self._on_close = on_close
        self._mlsd: bool | None = None

    def _entries(self, path: str) -> Iterator[tuple[str, bool, int, float]]:
        if self._mlsd is not False:
            try:
                listing = list(self._ftp.mlsd(path, facts=["type", "size", "modify"]))
                self._mlsd = True
            except ftplib.error_perm as err:
                # 500/502/504: no MLSD; 501: no "OPTS MLST", which ftplib sends first to choose the facts
                if str(err)[:3] not in ("500", "501", "502", "504"):
                    raise
                self._mlsd = False  # an old server: fall back to NLST + SIZE + MDTM below
            else:
                for name, facts in listing:
                    kind = facts.get("type", "file").lower()
                    if kind in ("file", "dir"):
                        mtime = _ftp_time(facts["modify"]) if "modify" in facts else 0.0
                        yield name, kind == "dir", int(facts.get("size", 0)), mtime
                return
        for full in self._ftp.nlst(path):
            name = posixpath.basename(full.rstrip("/"))
            child = self.stat(posixpath.join(path, name))
            if child is None:
                yield name, True, 0, 0.0
            else:
                yield name, False, child.size, child.mtime

    def list(
        self, folder: str, *, recursive: bool = False, accept: Callable[[str], bool] | None = None
    ) -> Iterator[RemoteFile]:
        return _walk(folder, recursive, self._entries, "ftp", accept)

    def stat(self, path: str) -> RemoteFile | None:
        try:
            self._ftp.voidcmd("TYPE I")  # SIZE is only meaningful in binary mode
            size = self._ftp.size(path)
            modified = self._ftp.voidcmd(f"MDTM {path}").split()[-1]
        except ftplib.error_perm:  # 550: not a plain file
            return None
        return RemoteFile(path, posixpath.basename(path), int(size or 0), _ftp_time(modified))

    @contextlib.contextmanager
    def open(self, path: str) -> Iterator[IO[bytes]]:
        try:
            raw = _FtpDownload(self._ftp, path)
        except ftplib.error_perm as err:
            raise FileNotFoundError(f"{path}: {err}") from err
        with io.BufferedReader(raw, buffer_size=1 << 20) as handle:
            yield handle

    def move(self, src: str, dst: str) -> None:
        self._makedirs(posixpath.dirname(dst))
        with contextlib.suppress(ftplib.error_perm):
            self._ftp.delete(dst)  # RNTO does not replace on every server
        self._ftp.rename(src, dst)

    def _makedirs(self, folder: str) -> None:
        if not folder or folder == "/":
            return
        try:
            self._ftp.mkd(folder)
        except ftplib.error_perm:
            # Either it exists already, or its parent is missing: create the parent and try once more.
            self._makedirs(posixpath.dirname(folder))
            with contextlib.suppress(ftplib.error_perm):
                self._ftp.mkd(folder)

    def delete(self, path: str) -> None:
        self._ftp.delete(path)

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()
        else:
            with contextlib.suppress(Exception):
                self._ftp.quit()


class WebHDFSFileSystem:
    """HDFS through the WebHDFS REST API, using the ``hdfs`` library client (what ``WebHDFSHook`` hands out)."""

    kind = "webhdfs"

    def __init__(self, client: Any) -> None:
        self._client = client

    def list(
        self, folder: str, *, recursive: bool = False, accept: Callable[[str], bool] | None = None
    ) -> Iterator[RemoteFile]:
        def entries(path: str) -> Iterator[tuple[str, bool, int, float]]:
            for name, status in self._client.list(path, status=True):
                is_dir = status["type"] == "DIRECTORY"
                yield name, is_dir, int(status.get("length", 0)), status.get("modificationTime", 0) / 1000.0

        return _walk(folder, recursive, entries, "webhdfs", accept)

    def stat(self, path: str) -> RemoteFile | None:
        status = self._client.status(path, strict=False)
        if status is None or status["type"] != "FILE":
            return None
        return RemoteFile(path, posixpath.basename(path), int(status["length"]), status["modificationTime"] / 1000.0)

    @contextlib.contextmanager
    def open(self, path: str) -> Iterator[IO[bytes]]:
        from hdfs.util import HdfsError

        try:
            reader_cm = self._client.read(path)
            reader = reader_cm.__enter__()
        except HdfsError as err:
            # A real NameNode says "File /x not found." with the Java class in err.exception.
            if getattr(err, "exception", None) == "FileNotFoundException" or "does not exist" in str(err):
                raise FileNotFoundError(f"{path}: {err}") from err
            raise
        try:
            yield reader
        finally:
            reader_cm.__exit__(None, None, None)

    def move(self, src: str, dst: str) -> None:
        self._client.makedirs(posixpath.dirname(dst))
        if self._client.status(dst, strict=False) is not None:
            self._client.delete(dst)
        self._client.rename(src, dst)

    def delete(self, path: str) -> None:
        self._client.delete(path)

    def close(self) -> None:
        pass


def _fsspec_mtime(info: dict[str, Any]) -> float:
    for key in ("mtime", "LastModified", "last_modified", "modificationTime", "updated", "created"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value) / (1000.0 if key == "modificationTime" else 1.0)
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    return 0.0


class FsspecFileSystem:
    """Any fsspec filesystem (what Airflow's ``ObjectStoragePath`` uses): S3, GCS, ABFS, memory, ..."""

    kind = "fsspec"

    def __init__(self, fs: fsspec.AbstractFileSystem) -> None:
        self._fs = fs

    def list(
        self, folder: str, *, recursive: bool = False, accept: Callable[[str], bool] | None = None
    ) -> Iterator[RemoteFile]:
        def entries(path: str) -> Iterator[tuple[str, bool, int, float]]:
            for info in self._fs.ls(path, detail=True):
                name = posixpath.basename(str(info["name"]).rstrip("/"))
                if str(info["name"]).rstrip("/") == path.rstrip("/"):
                    continue  # some stores list the folder itself
                is_dir = info.get("type") == "directory"
                yield name, is_dir, int(info.get("size") or 0), _fsspec_mtime(info)

        protocol = self._fs.protocol
        where = protocol if isinstance(protocol, str) else protocol[0]
        return _walk(folder.rstrip("/"), recursive, entries, where, accept)

    def stat(self, path: str) -> RemoteFile | None:
        try:
            info = self._fs.info(path)
        except FileNotFoundError:
            return None
        if info.get("type") == "directory":
            return None
        return RemoteFile(path, posixpath.basename(path), int(info.get("size") or 0), _fsspec_mtime(info))

    def open(self, path: str) -> contextlib.AbstractContextManager[IO[bytes]]:
        return self._fs.open(path, "rb")  # type: ignore[no-any-return]

    def move(self, src: str, dst: str) -> None:
        self._fs.makedirs(posixpath.dirname(dst), exist_ok=True)
        self._fs.mv(src, dst)

    def delete(self, path: str) -> None:
        self._fs.rm(path)

    def close(self) -> None:
        pass


def split_location(location: str) -> tuple[str, str | None, str]:
    """Split ``scheme://[conn_id@]host/path`` into ``(scheme, conn_id in the URL or None, path)``.

    A plain path (``/data/drop``, ``C:/drop`` is not supported) or ``file://`` is the local disk.
    """
    parts = urlsplit(location)
    if parts.scheme in ("", "file"):
        return "file", None, parts.path if parts.scheme else location
    if parts.password is not None:
        # A location is logged, templated, stored in manifests and trigger rows: secrets belong in a connection.
        raise SourceError(f"{parts.scheme}:// location has a password in it; put credentials in an Airflow connection")
    return parts.scheme.lower(), parts.username, parts.path or "/"


def connect(location: str, conn_id: str | None = None, *, retry: RetryPolicy | None = None) -> tuple[FileSystem, str]:
    """Open the filesystem behind ``location`` and return it with the folder path on it.

    ``sftp://``, ``ftp://``, ``ftps://`` and ``webhdfs://``/``hdfs://`` use Airflow's SFTPHook, FTPHook/FTPSHook and
    WebHDFSHook with ``conn_id`` (or the connection named in the URL's user part, ``sftp://my_conn@/incoming``); any
    other scheme goes through Airflow's ``ObjectStoragePath`` (falling back to plain fsspec with the connection's
    extras as storage options when no Airflow provider registers the scheme). Needs Airflow except for local paths.

    Network failures (refused, reset, timed out) are retried within ``retry`` (default: 60 s); a wrong password or
    host key is not, since trying again cannot fix it.
    """
    scheme, url_conn, path = split_location(location)
    conn_id = conn_id or url_conn
    policy = retry or RetryPolicy(budget=60)
    if scheme == "file":
        return LocalFileSystem(), path
    if scheme == "sftp":
        from airflow.providers.sftp.hooks.sftp import SFTPHook

        # One attempt per hook call: the hook's own retry also retries refused logins, with 3-5 s pauses.
        sftp_hook = SFTPHook(ssh_conn_id=conn_id or SFTPHook.default_conn_name, conn_retry_attempts=1)
        managed = sftp_hook.get_managed_conn()
        client = _friendly_connect(managed.__enter__, "SFTP", conn_id, policy)

        def close() -> None:
            managed.__exit__(None, None, None)

        return SFTPFileSystem(client, on_close=close), path
    if scheme in ("ftp", "ftps"):
        from airflow.providers.ftp.hooks.ftp import FTPHook, FTPSHook

        ftp_hook = (FTPSHook if scheme == "ftps" else FTPHook)(ftp_conn_id=conn_id or FTPHook.default_conn_name)
        ftp = _friendly_connect(ftp_hook.get_conn, scheme.upper(), conn_id, policy)
        return FTPFileSystem(ftp, on_close=ftp_hook.close_conn), path
    if scheme in ("webhdfs", "hdfs"):
        from airflow.providers.apache.hdfs.hooks.webhdfs import WebHDFSHook

        hdfs_hook = WebHDFSHook(webhdfs_conn_id=conn_id or WebHDFSHook.default_conn_name)
        return WebHDFSFileSystem(_friendly_connect(hdfs_hook.get_conn, "WebHDFS", conn_id, policy)), path
    return _connect_object_store(location, conn_id)


def _connect_object_store(location: str, conn_id: str | None) -> tuple[FileSystem, str]:
    from airflow.sdk import ObjectStoragePath

    parts = urlsplit(location)
    try:
        store_path = ObjectStoragePath(location, conn_id=conn_id)
        fs = store_path.fs
        return FsspecFileSystem(fs), fs._strip_protocol(location)
    except ValueError as err:
        if "No filesystem registered" not in str(err):
            raise
    import fsspec

    options: dict[str, Any] = {}
    if conn_id:
        from airflow.sdk import BaseHook

        options = dict(BaseHook.get_connection(conn_id).extra_dejson)
    # The user part names an Airflow connection, not a bucket: drop it from what fsspec parses.
    clean = location.replace(f"{parts.username}@", "", 1) if parts.username else location
    fs = fsspec.filesystem(parts.scheme, **options)
    return FsspecFileSystem(fs), fs._strip_protocol(clean)


def _friendly_connect(open_client: Callable[[], Any], what: str, conn_id: str | None, policy: RetryPolicy) -> Any:
    """Connect (retrying network failures), turning login and host-key failures into errors that say what to fix."""
    try:
        return retry_call(open_client, policy, retry_on=(OSError, EOFError), what=f"{what} connect ({conn_id})")
    except RetryError as err:
        raise SourceError(f"{what} server of connection {conn_id!r} unreachable: {err}") from err
    except ftplib.error_perm as err:
        raise SourceError(f"{what} login failed for connection {conn_id!r}: {err}") from err
    except Exception as err:
        name = type(err).__name__
        if name == "BadHostKeyException":
            raise SourceError(
                f"{what} host key of the server behind connection {conn_id!r} does not match the connection's "
                "host_key extra; fix host_key, or set no_host_key_check=true in its extras if you accept any key"
            ) from err
        if name == "AuthenticationException":
            raise SourceError(f"{what} authentication failed for connection {conn_id!r}: {err}") from err
        raise


class Writable(Protocol):
    def write(self, data: Any, /) -> Any: ...


def copy_stream(src: IO[bytes], *targets: Writable | None, chunk: int = 8 << 20) -> int:
    """Copy ``src`` into every target (``None`` ones are skipped); return the number of bytes copied.

    Reads into one reused buffer: allocating a fresh 8 MB ``bytes`` per read costs page faults that make a Python
    copy three times slower than ``readinto`` (measured: 3.9 s vs 1.3 s per 512 MB with sha256).
    """
    outs = [t for t in targets if t is not None]
    readinto = getattr(src, "readinto", None)
    total = 0
    if readinto is None:
        while block := src.read(chunk):
            for out in outs:
                out.write(block)
            total += len(block)
        return total
    buffer = bytearray(chunk)
    view = memoryview(buffer)
    while n := readinto(view):
        for out in outs:
            out.write(view[:n])
        total += n
    return total


__all__ = [
    "FTPFileSystem",
    "FileSystem",
    "FileVanishedError",
    "FsspecFileSystem",
    "LocalFileSystem",
    "RemoteFile",
    "SFTPFileSystem",
    "UnsafeNameError",
    "WebHDFSFileSystem",
    "check_name",
    "connect",
    "copy_stream",
    "split_location",
]
