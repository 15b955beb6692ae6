"""Airflow hook for reading mainframe data sets over z/OS FTP, FTPS, SFTP, or from local files.

The connection (type ``mainframe``) holds host, port, login and password; its extra chooses the protocol and its
options (see :class:`MainframeHook`). The transport clients live in :mod:`airflow_zaloni.sources.mainframe.client`
and do not need Airflow.
"""

from __future__ import annotations

import os
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from airflow.sdk import BaseHook

from airflow_zaloni.sources.mainframe.client import (
    CHUNK_BYTES,
    DatasetInfo,
    DatasetNotFoundError,
    LocalClient,
    MainframeAuthError,
    MainframeClient,
    MainframeTransferError,
    SftpClient,
    ZosFtpClient,
    normalize_dataset_name,
)

__all__ = [
    "DatasetNotFoundError",
    "DatasetStream",
    "MainframeAuthError",
    "MainframeHook",
    "MainframeTransferError",
    "RetrieveResult",
]

PROTOCOLS = ("ftp", "ftps", "sftp", "local")
_RELATIVE_GENERATION = re.compile(r"^(?P<base>[^()]+)\((?P<gen>[+-]?\d+)\)$")
_GENERATION_QUALIFIER = re.compile(r"^G(?P<gen>\d{4})V(?P<ver>\d{2})$")


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


class DatasetStream:
    """A data set being read: a binary file-like object plus what was read (resolved name, attributes, RDW)."""

    def __init__(self, raw: BinaryIO, info: DatasetInfo, *, rdw: bool, where: str) -> None:
        self._raw = raw
        self.info = info
        self.rdw = rdw
        self.where = where

    @property
    def name(self) -> str:
        return self.info.name

    def read(self, size: int = -1) -> bytes:
        return self._raw.read(size)

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return bool(self._raw.closed)

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> DatasetStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass(frozen=True)
class RetrieveResult:
    """What :meth:`MainframeHook.retrieve` copied."""

    dataset: DatasetInfo
    bytes: int
    rdw: bool
    source: str
    extra: dict[str, Any] = field(default_factory=dict)


class MainframeHook(BaseHook):
    """Read mainframe data sets over z/OS FTP/FTPS, SFTP (z/OS OpenSSH), or from local files.

    Connection fields: host, port, login, password. Extra (all optional):

    * ``protocol``: ``ftp`` (default), ``ftps`` (explicit TLS with ``PROT P``), ``sftp`` or ``local``.
    * ``passive`` (ftp/ftps, default true), ``timeout`` seconds (default 60), ``connect_retry_seconds`` (how long
      to keep retrying a host that refuses or drops the connection, default 30; logins are never retried).
    * ``ca_file`` (ftps: a CA bundle to trust), ``verify`` (ftps, default true).
    * ``key_file`` / ``private_key`` (sftp: a private key path / the key text), ``host_key`` (sftp: the server's public
      key line ``ssh-ed25519 AAAA...``), ``no_host_key_check`` (sftp, default false),
      ``path_template`` (sftp: how a data set name becomes a path, default ``//'{name}'``).
    * ``root`` (local: the folder holding the data set files).

    Transfers stream: :meth:`open_dataset` returns a file-like object read straight from the server's data
    connection, :meth:`retrieve` copies it to a writer in chunks of 1 MiB. A data set is never held in memory whole.

    :param mainframe_conn_id: Airflow connection id of type ``mainframe``.
    """

    conn_name_attr = "mainframe_conn_id"
    default_conn_name = "mainframe_default"
    conn_type = "mainframe"
    hook_name = "Mainframe (z/OS FTP/SFTP)"

    def __init__(self, mainframe_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mainframe_conn_id = mainframe_conn_id
        self._client: MainframeClient | None = None

    # -- connection ----------------------------------------------------------------------------------------------

    def get_conn(self) -> MainframeClient:
        """The transport client for the connection (made on first use, reused after)."""
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def _make_client(self) -> MainframeClient:
        conn = self.get_connection(self.mainframe_conn_id)
        extra = conn.extra_dejson
        protocol = str(extra.get("protocol") or "ftp").lower()
        timeout = float(extra.get("timeout") or 60)
        retry = float(extra.get("connect_retry_seconds", 30) or 0)
        if protocol not in PROTOCOLS:
            raise ValueError(
                f"connection {self.mainframe_conn_id!r}: protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}"
            )
        if protocol == "local":
            return LocalClient(extra.get("root") or conn.host or None)
        if not conn.host:
            raise ValueError(f"connection {self.mainframe_conn_id!r} has no host")
        if protocol == "sftp":
            return SftpClient(
                conn.host,
                conn.port,
                conn.login or "",
                conn.password or None,
                key_file=extra.get("key_file"),
                private_key=extra.get("private_key"),
                host_key=extra.get("host_key"),
                no_host_key_check=_truthy(extra.get("no_host_key_check", False)),
                path_template=extra.get("path_template") or "//'{name}'",
                timeout=timeout,
                connect_retry_seconds=retry,
            )
        context = None
        if protocol == "ftps":
            context = ssl.create_default_context(cafile=extra.get("ca_file") or None)
            if not _truthy(extra.get("verify", True)):
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        return ZosFtpClient(
            conn.host,
            conn.port,
            conn.login or "",
            conn.password or "",
            tls=protocol == "ftps",
            ssl_context=context,
            passive=_truthy(extra.get("passive", True)),
            timeout=timeout,
            connect_retry_seconds=retry,
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> MainframeHook:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def test_connection(self) -> tuple[bool, str]:
        """Connect and log in: the UI's "Test" button."""
        try:
            client = self.get_conn()
            client.check()
            return True, f"Connected to {client.where}"
        except Exception as err:
            return False, str(err)
        finally:
            self.close()

    # -- data sets -----------------------------------------------------------------------------------------------

    def list_datasets(self, pattern: str) -> list[DatasetInfo]:
        """Data sets matching a z/OS pattern (``*`` one qualifier, ``**`` any, ``%`` one character), with RECFM,
        LRECL, BLKSIZE and DSORG where the server reports them (z/OS FTP does; SFTP and local do not)."""
        return self.get_conn().list(normalize_pattern(pattern))

    def dataset_info(self, name: str) -> DatasetInfo:
        """The listing entry of one data set (GDG relative generations resolved).

        :raises DatasetNotFoundError: no such data set.
        """
        resolved = self.resolve_name(name)
        if "/" in resolved:
            return DatasetInfo(name=resolved)
        for info in self.get_conn().list(resolved):
            if info.name == resolved:
                return info
        raise DatasetNotFoundError(f"data set {resolved} not found on {self.get_conn().where}")

    def resolve_name(self, name: str) -> str:
        """Normalise a data set name and turn a GDG relative generation (``BASE(0)``, ``BASE(-1)``) into the absolute
        generation name (``BASE.G0042V00``) by listing the GDG's generations."""
        name = normalize_dataset_name(name)
        match = _RELATIVE_GENERATION.match(name)
        if not match:
            return name
        base, relative = match["base"], int(match["gen"])
        if relative > 0:
            raise ValueError(f"{name}: only existing generations (0, -1, -2, ...) can be read")
        generations = sorted(
            (info.name for info in self.get_conn().list(f"{base}.*")),
            key=lambda n: n.rsplit(".", 1)[-1],
        )
        generations = [n for n in generations if _GENERATION_QUALIFIER.match(n.rsplit(".", 1)[-1])]
        if -relative >= len(generations):
            raise DatasetNotFoundError(
                f"GDG {base} on {self.get_conn().where} has {len(generations)} generation(s); "
                f"generation ({relative}) does not exist"
            )
        return generations[len(generations) - 1 + relative]

    def open_dataset(self, name: str, *, rdw: bool | None = None) -> DatasetStream:
        """Open a data set for streaming reads.

        :param name: fully qualified data set name (quotes optional), a GDG relative generation, or a path.
        :param rdw: keep record descriptor words; by default on for V/VB data sets when the server reports RECFM, so
            record boundaries survive the binary transfer.
        :raises DatasetNotFoundError: the data set does not exist.
        :raises MainframeAuthError: the login was refused.
        """
        client = self.get_conn()
        resolved = self.resolve_name(name)
        info = DatasetInfo(name=resolved)
        if isinstance(client, ZosFtpClient) and "/" not in resolved:
            # The listing says whether it is V/VB (so SITE RDW is needed) and gives RECFM/LRECL for the manifest.
            info = next((i for i in client.list(resolved) if i.name == resolved), info)
            if info.migrated:
                raise MainframeTransferError(f"data set {resolved} on {client.where} is migrated (HSM); recall it")
        keep_rdw = info.is_variable if rdw is None else rdw
        raw = client.open(resolved, rdw=keep_rdw)
        return DatasetStream(raw, info, rdw=keep_rdw and isinstance(client, ZosFtpClient), where=client.where)

    @staticmethod
    def open_path(path: str | os.PathLike[str]) -> DatasetStream:
        """Open a local file as a data set, without a connection (data already copied off the host)."""
        file = Path(path)
        try:
            raw = file.open("rb")
        except FileNotFoundError:
            raise DatasetNotFoundError(f"no file {file}") from None
        except IsADirectoryError:
            raise MainframeTransferError(f"{file} is a folder, not a data set") from None
        return DatasetStream(raw, DatasetInfo(name=str(file)), rdw=False, where=f"local file {file}")

    def retrieve(self, name: str, writer: Any, *, rdw: bool | None = None) -> RetrieveResult:
        """Copy a data set to ``writer`` (a binary file object or a callable taking bytes) in 1 MiB chunks."""
        write = writer if callable(writer) else writer.write
        total = 0
        with self.open_dataset(name, rdw=rdw) as stream:
            while chunk := stream.read(CHUNK_BYTES):
                write(chunk)
                total += len(chunk)
        return RetrieveResult(dataset=stream.info, bytes=total, rdw=stream.rdw, source=stream.where)


def normalize_pattern(pattern: str) -> str:
    """A listing pattern: quotes stripped, upper case (paths, with ``/``, unchanged)."""
    pattern = pattern.strip()
    if "/" in pattern:
        return pattern
    return pattern.strip("'").upper()
