"""Clients that read mainframe data sets: z/OS FTP (and FTPS), SFTP (z/OS OpenSSH), and local files.

Airflow-free: :class:`~airflow_zaloni.hooks.mainframe.MainframeHook` builds one of these from a connection, and tests
or scripts can build them directly. Every client has the same small surface::

    client.check()                -> None, or the error that connecting/logging in raises
    client.list(pattern)          -> list[DatasetInfo]   (z/OS patterns: * one qualifier, ** any, % one character)
    client.open(name, rdw=False)  -> binary file-like, streamed from the server (never read into memory whole)
    client.close()

Data set names are fully qualified (``HLQ.DATA.SET``, quotes optional); a name containing ``/`` is a path (a z/OS
UNIX file, or a local file).

How z/OS FTP transfers records: in binary (``TYPE I``) a fixed-length data set arrives as its records back to back; a
variable-length (V/VB) one loses its record boundaries unless ``SITE RDW`` is in effect, in which case every record
keeps its 4-byte record descriptor word (length including itself, big endian). The FTP client therefore sends
``SITE RDW`` before retrieving a V/VB data set and ``SITE NORDW`` before anything else.
"""

from __future__ import annotations

import builtins
import contextlib
import ftplib
import io
import posixpath
import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeVar

from airflow_zaloni.utils.retry import RetryError, RetryPolicy, retry_call

T = TypeVar("T")

__all__ = [
    "DatasetInfo",
    "DatasetNotFoundError",
    "LocalClient",
    "MainframeAuthError",
    "MainframeClient",
    "MainframeTransferError",
    "SftpClient",
    "ZosFtpClient",
    "normalize_dataset_name",
    "parse_dataset_list",
    "pattern_regex",
]

#: Bytes per read from a data connection; large enough that Python overhead per chunk is negligible.
CHUNK_BYTES = 1 << 20

_QUALIFIER = r"[A-Z#@$][A-Z0-9#@$\-{}]{0,7}"
_DSN = re.compile(rf"^{_QUALIFIER}(\.{_QUALIFIER})*(\((?:[A-Z#@$][A-Z0-9#@$]{{0,7}}|[+-]?\d{{1,3}})\))?$")
_LIST_HEADER = "Volume Unit"


class MainframeTransferError(Exception):
    """A transfer from the mainframe failed; the message names the host, the data set and the server's reply."""


class MainframeAuthError(MainframeTransferError):
    """The server refused the login (the message names host and user, never the password)."""


class DatasetNotFoundError(MainframeTransferError):
    """The data set (or the GDG generation) does not exist on the server."""


def _connect_retrying(connect: Any, where: str, budget: float) -> Any:
    """Run ``connect()``, retrying network failures (refused, reset, timed out) for ``budget`` seconds; a host that
    stays unreachable raises :class:`MainframeTransferError` naming it. Other errors (a refused login) are not
    retried."""
    try:
        return retry_call(connect, RetryPolicy(budget=budget), retry_on=(OSError,), what=f"connecting to {where}")
    except RetryError as err:
        raise MainframeTransferError(
            f"cannot connect to {where} ({err.attempts} attempt(s) in {err.elapsed:.0f}s): {err.last}"
        ) from err.last


@dataclass(frozen=True)
class DatasetInfo:
    """A data set as the server's listing describes it; attributes are ``None`` where the server does not say."""

    name: str
    recfm: str | None = None
    lrecl: int | None = None
    blksize: int | None = None
    dsorg: str | None = None
    volume: str | None = None
    referred: str | None = None
    migrated: bool = False

    @property
    def is_variable(self) -> bool:
        """True for V, VB, VBS, VBA ... (records carry RDWs on the host)."""
        return (self.recfm or "").upper().startswith("V")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class MainframeClient(Protocol):
    """What the hook needs from a transport."""

    def check(self) -> None: ...

    def list(self, pattern: str) -> list[DatasetInfo]: ...

    def open(self, name: str, *, rdw: bool = False) -> BinaryIO: ...

    def close(self) -> None: ...

    @property
    def where(self) -> str: ...


def normalize_dataset_name(name: str) -> str:
    """``'hlq.data.set'`` -> ``HLQ.DATA.SET``; a path (contains ``/``) is returned unchanged.

    :raises ValueError: the name breaks the MVS naming rules (1-8 character qualifiers, 44 characters).
    """
    name = name.strip()
    if "/" in name:
        return name
    if len(name) >= 2 and name[0] == name[-1] == "'":
        name = name[1:-1]
    name = name.upper()
    base = name.split("(", 1)[0]
    if len(base) > 44 or not _DSN.match(name):
        raise ValueError(
            f"invalid data set name {name!r}: qualifiers of 1-8 characters (letter or #@$ first), "
            "separated by dots, at most 44 characters, optionally (MEMBER) or a GDG generation like (0) or (-1)"
        )
    return name


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """Regex for a z/OS name pattern: ``*`` within one qualifier, ``**`` across qualifiers, ``%`` one character."""
    parts = []
    for token in re.split(r"(\*\*|\*|%)", pattern.upper()):
        if token == "**":
            parts.append(r"[^']*")
        elif token == "*":
            parts.append(r"[^.']*")
        elif token == "%":
            parts.append(r"[^.']")
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts))


def parse_dataset_list(lines: list[str], prefix: str = "") -> list[DatasetInfo]:
    """Parse a z/OS dataset-level ``LIST`` (``Volume Unit Referred Ext Used Recfm Lrecl BlkSz Dsorg Dsname``).

    Fields are taken from the end of the line because the Ext and Used columns run together when Used is wide, and
    tape, migrated and VSAM entries carry fewer columns. Unquoted names are relative to ``prefix``.
    """
    out = []
    for line in lines:
        tokens = line.split()
        if not tokens or line.startswith(_LIST_HEADER):
            continue
        raw_name = tokens[-1]
        name = raw_name[1:-1] if raw_name.startswith("'") and raw_name.endswith("'") else prefix + raw_name
        if tokens[0] == "Migrated" or len(tokens) < 9:
            dsorg = "VS" if "VSAM" in tokens else None
            out.append(DatasetInfo(name=name, migrated=tokens[0] == "Migrated", volume=tokens[0], dsorg=dsorg))
            continue
        recfm, lrecl, blksize, dsorg = tokens[-5], tokens[-4], tokens[-3], tokens[-2]
        out.append(
            DatasetInfo(
                name=name,
                recfm=None if recfm == "NONE" else recfm,
                lrecl=int(lrecl) if lrecl.isdigit() else None,
                blksize=int(blksize) if blksize.isdigit() else None,
                dsorg=dsorg,
                volume=tokens[0],
                referred=tokens[2] if re.fullmatch(r"\d{4}/\d\d/\d\d", tokens[2]) else None,
            )
        )
    return out


class _FtpDownload(io.RawIOBase):
    """The data connection of one ``RETR`` as a raw binary stream; the server's final reply is checked at EOF."""

    def __init__(self, client: ZosFtpClient, sock: socket.socket, name: str) -> None:
        super().__init__()
        self._client = client
        self._sock = sock
        self._name = name
        self._finished = False
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._finished:
            return 0
        n = self._sock.recv_into(buffer)
        if n == 0:
            self._finish()
        self.bytes_read += n
        return n

    def _finish(self) -> None:
        self._finished = True
        self._sock.close()
        ftp = self._client.ftp
        try:
            ftp.voidresp()
        except ftplib.Error as err:
            # A transfer the server reports as failed (for example 451 after a broken read) must not look like a
            # short data set: the caller sees an error, not a truncated file.
            raise MainframeTransferError(
                f"transfer of {self._name} from {self._client.where} failed after {self.bytes_read} bytes: {err}"
            ) from err

    def close(self) -> None:
        if not self.closed and not self._finished:
            # Abandoned mid-transfer: the control connection is in an unknown state, so drop it.
            self._finished = True
            self._sock.close()
            self._client.reset()
        super().close()


class ZosFtpClient:
    """z/OS FTP or FTPS (explicit TLS, ``AUTH TLS`` + ``PROT P``) client with MVS dataset semantics.

    The server type is read from ``SYST``: on a server that is not MVS, names are sent as plain paths and no ``SITE``
    commands are sent, so the same client reads files from any FTP server.
    """

    def __init__(
        self,
        host: str,
        port: int | None,
        user: str,
        password: str,
        *,
        tls: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        passive: bool = True,
        timeout: float = 60.0,
        connect_retry_seconds: float = 0.0,
    ) -> None:
        self.host = host
        self.port = port or 21
        self.connect_retry_seconds = connect_retry_seconds
        self.user = user
        self._password = password
        self.tls = tls
        self._ssl_context = ssl_context
        self.passive = passive
        self.timeout = timeout
        self._ftp: ftplib.FTP | None = None
        self.is_mvs = False
        self._rdw: bool | None = None

    @property
    def where(self) -> str:
        return f"{'ftps' if self.tls else 'ftp'}://{self.user}@{self.host}:{self.port}"

    @property
    def ftp(self) -> ftplib.FTP:
        if self._ftp is None:
            self._ftp = self._connect()
        return self._ftp

    def _connect(self) -> ftplib.FTP:
        ftp: ftplib.FTP
        if self.tls:
            ftp = ftplib.FTP_TLS(context=self._ssl_context or ssl.create_default_context(), timeout=self.timeout)
        else:
            ftp = ftplib.FTP(timeout=self.timeout)
        _connect_retrying(
            lambda: ftp.connect(self.host, self.port, timeout=self.timeout), self.where, self.connect_retry_seconds
        )
        if isinstance(ftp, ftplib.FTP_TLS):
            try:
                ftp.auth()
            except (OSError, ftplib.Error) as err:  # ssl.SSLError is an OSError
                with contextlib.suppress(OSError, ftplib.Error):
                    ftp.close()
                raise MainframeTransferError(f"TLS negotiation with {self.where} failed: {err}") from err
        try:
            ftp.login(self.user, self._password)
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
        except ftplib.error_perm as err:
            with contextlib.suppress(OSError, ftplib.Error):
                ftp.close()
            raise MainframeAuthError(f"login to {self.where} as user {self.user!r} was refused: {err}") from None
        ftp.set_pasv(self.passive)
        try:
            self.is_mvs = "MVS" in ftp.sendcmd("SYST").upper()
        except ftplib.Error:
            self.is_mvs = False
        if self.is_mvs:
            ftp.sendcmd("SITE FILETYPE=SEQ")
        self._rdw = False  # z/OS starts every session with RDW off
        return ftp

    def check(self) -> None:
        self.ftp.voidcmd("NOOP")

    def _remote_name(self, name: str) -> str:
        return f"'{name}'" if self.is_mvs and "/" not in name else name

    def _set_rdw(self, rdw: bool) -> None:
        if self.is_mvs and rdw != self._rdw:
            self.ftp.sendcmd("SITE RDW" if rdw else "SITE NORDW")
            self._rdw = rdw

    def list(self, pattern: str) -> list[DatasetInfo]:
        ftp = self.ftp
        if not self.is_mvs:
            return self._list_folder(pattern)
        lines: list[str] = []
        try:
            ftp.retrlines(f"LIST {self._remote_name(pattern)}", lines.append)
        except ftplib.error_perm as err:
            if str(err).startswith("550"):  # "550 No data sets found."
                return []
            raise MainframeTransferError(f"LIST {pattern} on {self.where} failed: {err}") from err
        return parse_dataset_list(lines)

    def _list_folder(self, pattern: str) -> builtins.list[DatasetInfo]:
        """A UNIX-like server: names of the pattern's folder (NLST), matched here (servers differ on wildcards)."""
        folder, wanted = posixpath.split(pattern)
        regex = pattern_regex(wanted)
        try:
            names = self.ftp.nlst(folder or ".")
        except ftplib.error_perm as err:
            if str(err).startswith("550"):
                return []
            raise MainframeTransferError(f"NLST {folder} on {self.where} failed: {err}") from err
        bare = sorted(posixpath.basename(n) for n in names)
        return [DatasetInfo(name=posixpath.join(folder, n)) for n in bare if regex.fullmatch(n.upper())]

    def open(self, name: str, *, rdw: bool = False) -> BinaryIO:
        self._set_rdw(rdw)
        ftp = self.ftp
        ftp.voidcmd("TYPE I")  # retrlines (LIST) switches the session to ASCII
        try:
            sock = ftp.transfercmd(f"RETR {self._remote_name(name)}")
        except ftplib.error_perm as err:
            if str(err).startswith("550"):
                raise DatasetNotFoundError(f"data set {name} not found on {self.where}: {err}") from None
            raise MainframeTransferError(f"RETR {name} on {self.where} failed: {err}") from err
        return io.BufferedReader(_FtpDownload(self, sock, name), buffer_size=CHUNK_BYTES)  # type: ignore[return-value]

    def reset(self) -> None:
        """Forget the control connection (after an abandoned transfer); the next call reconnects."""
        if self._ftp is not None:
            with contextlib.suppress(OSError, ftplib.Error):
                self._ftp.close()
        self._ftp = None

    def close(self) -> None:
        if self._ftp is not None:
            with contextlib.suppress(OSError, ftplib.Error, EOFError):
                self._ftp.quit()
        self.reset()


class SftpClient:
    """SFTP client (paramiko) for z/OS OpenSSH or any SSH server.

    A data set name becomes a path through ``path_template`` (default ``//'{name}'``, the MVS data set syntax of z/OS
    SFTP servers); a name with ``/`` is used as the path itself. SFTP servers do not report RECFM/LRECL, and whether
    V/VB records keep their RDWs depends on the server's own settings: ``rdw`` is ignored here.
    """

    def __init__(
        self,
        host: str,
        port: int | None,
        user: str,
        password: str | None = None,
        *,
        key_file: str | None = None,
        private_key: str | None = None,
        host_key: str | None = None,
        no_host_key_check: bool = False,
        path_template: str = "//'{name}'",
        timeout: float = 60.0,
        connect_retry_seconds: float = 0.0,
    ) -> None:
        self.host = host
        self.port = port or 22
        self.connect_retry_seconds = connect_retry_seconds
        self.user = user
        self._password = password
        self.key_file = key_file
        self._private_key = private_key
        self.host_key = host_key
        self.no_host_key_check = no_host_key_check
        self.path_template = path_template
        self.timeout = timeout
        self._ssh: Any = None
        self._sftp: Any = None

    @property
    def where(self) -> str:
        return f"sftp://{self.user}@{self.host}:{self.port}"

    @property
    def sftp(self) -> Any:
        if self._sftp is None:
            self._sftp = self._connect()
        return self._sftp

    def _pkey(self) -> Any:
        import paramiko

        if not self._private_key:
            return None
        for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
            try:
                return key_class.from_private_key(io.StringIO(self._private_key))
            except paramiko.SSHException:
                continue
        raise MainframeTransferError(f"the private key of the connection to {self.where} cannot be read")

    def _connect(self) -> Any:
        import paramiko

        ssh = paramiko.SSHClient()
        if self.host_key:
            key_type, key_b64 = self.host_key.split()[:2]
            host_id = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
            ssh.get_host_keys().add(host_id, key_type, paramiko.PKey.from_type_string(key_type, _b64(key_b64)))
            ssh.set_missing_host_key_policy(paramiko.RejectPolicy())
        elif self.no_host_key_check:
            ssh.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        else:
            ssh.load_system_host_keys()
            ssh.set_missing_host_key_policy(paramiko.RejectPolicy())
        pkey = self._pkey()

        def connect() -> None:
            ssh.connect(
                self.host,
                self.port,
                username=self.user,
                password=self._password,
                pkey=pkey,
                key_filename=self.key_file,
                look_for_keys=False,
                allow_agent=False,
                timeout=self.timeout,
                banner_timeout=self.timeout,
                auth_timeout=self.timeout,
            )

        try:
            _connect_retrying(connect, self.where, self.connect_retry_seconds)
        except paramiko.AuthenticationException as err:
            ssh.close()
            raise MainframeAuthError(f"login to {self.where} as user {self.user!r} was refused: {err}") from None
        except paramiko.SSHException as err:
            ssh.close()
            raise MainframeTransferError(f"cannot connect to {self.where}: {err}") from err
        except MainframeTransferError:
            ssh.close()
            raise
        self._ssh = ssh
        return ssh.open_sftp()

    def check(self) -> None:
        self.sftp.stat(".")

    def path(self, name: str) -> str:
        return name if "/" in name else self.path_template.format(name=name)

    def list(self, pattern: str) -> list[DatasetInfo]:
        path = self.path(pattern)
        folder = posixpath.dirname(path)
        regex = pattern_regex(posixpath.basename(path).strip("'") if "/" not in pattern else posixpath.basename(path))
        try:
            names = self.sftp.listdir(folder)
        except FileNotFoundError:
            return []
        out = []
        for entry in sorted(names):
            bare = entry.strip("'")
            if regex.fullmatch(bare.upper() if "/" not in pattern else bare):
                out.append(DatasetInfo(name=bare if "/" not in pattern else posixpath.join(folder, entry)))
        return out

    def open(self, name: str, *, rdw: bool = False) -> BinaryIO:
        path = self.path(name)
        try:
            handle = self.sftp.open(path, "rb", bufsize=CHUNK_BYTES)
        except FileNotFoundError:
            raise DatasetNotFoundError(f"data set {name} not found on {self.where} (path {path})") from None
        except OSError as err:
            raise MainframeTransferError(f"cannot open {path} on {self.where}: {err}") from err
        handle.prefetch()  # pipelined reads: SFTP round trips would otherwise bound the speed
        return handle  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
        if self._ssh is not None:
            self._ssh.close()
        self._sftp = self._ssh = None


def _b64(text: str) -> bytes:
    import base64

    return base64.b64decode(text)


class LocalClient:
    """Data sets as files in a folder (the embedded default, and data already copied off the host).

    A data set name ``HLQ.DATA.SET`` is the file of that name in ``root``; a name with ``/`` is a path (relative
    paths under ``root``). GDG generations are files named ``BASE.G0001V00`` ...
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root else Path.cwd()

    @property
    def where(self) -> str:
        return f"local folder {self.root}"

    def check(self) -> None:
        if not self.root.is_dir():
            raise MainframeTransferError(f"{self.where} does not exist")

    def path(self, name: str) -> Path:
        return self.root / name

    def list(self, pattern: str) -> list[DatasetInfo]:
        target = self.path(pattern)
        folder = target.parent
        regex = pattern_regex(target.name)
        if not folder.is_dir():
            return []
        names = sorted(p.name for p in folder.iterdir() if p.is_file())
        relative = "/" in pattern
        matched = [n for n in names if regex.fullmatch(n if relative else n.upper())]
        return [DatasetInfo(name=str(folder / n) if relative else n) for n in matched]

    def open(self, name: str, *, rdw: bool = False) -> BinaryIO:
        path = self.path(name)
        try:
            return path.open("rb")
        except FileNotFoundError:
            raise DatasetNotFoundError(f"data set {name} not found: no file {path}") from None
        except IsADirectoryError:
            raise MainframeTransferError(f"{path} is a folder, not a data set") from None

    def close(self) -> None:
        pass


def iter_chunks(stream: BinaryIO, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Read a stream in chunks of ``size`` bytes until EOF."""
    while chunk := stream.read(size):
        yield chunk
