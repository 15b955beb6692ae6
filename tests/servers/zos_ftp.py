"""A real FTP server for tests that answers the way the z/OS FTP server does for MVS data sets.

pyftpdlib serves the FTP protocol (control and data connections, PASV, TYPE, authentication); a handler subclass
replaces the file-system commands with z/OS dataset semantics, following IBM's z/OS Communications Server FTP
documentation and published protocol captures of a z/OS 3.1 server:

* ``SYST`` -> ``215 MVS is the operating system of this server. FTP Server is running on z/OS.``
* data set names: ``'HLQ.DATA.SET'`` (quoted: fully qualified) or ``DATA.SET`` (appended to the working prefix,
  initially ``USERID.``); ``CWD`` only changes the prefix (``250 "HLQ.X." is the working directory name prefix.``),
  ``PWD`` -> ``257 "'HLQ.X.'" is working directory.``
* ``LIST [name|pattern]``: the dataset-level listing ``Volume Unit    Referred Ext Used Recfm Lrecl BlkSz Dsorg
  Dsname`` with fixed columns; ``*`` matches within one qualifier, ``**`` across qualifiers, ``%`` one character; a
  name without wildcards lists that data set or, if there is none, the level below it; names are shown quoted and
  fully qualified for a quoted argument, relative to the prefix otherwise; no match -> ``550 No data sets found.``
  ``NLST`` gives the names only.
* ``RETR``: binary transfers of the stored records. For RECFM V/VB/VBS the records are stored with their record
  descriptor words (RDW, ``LL 00``, LL counting itself) and the RDWs are only sent when ``SITE RDW`` is in effect
  (``SITE NORDW`` turns it off), as z/OS does; F/FB data sets are sent as stored. A missing data set ->
  ``550 Data set HLQ.X not found``. A relative GDG generation ``'HLQ.GDG(0)'`` / ``(-1)`` is resolved by the server.
* ``SITE`` accepts ``RDW``, ``NORDW``, ``FILETYPE=SEQ``, ``LRECL=``, ``RECFM=``, ``BLKSIZE=`` (several in one command);
  unknown parameters get ``200-Unrecognized parameter '...' on SITE command.`` as z/OS answers.
* ``SIZE`` -> ``501 command aborted -- FTP server not configured for SIZE/MDTM``; a wrong password ->
  ``530 PASS command failed``. The server is read-only (STOR and friends -> 550).

API::

    from tests.servers.zos_ftp import zos_ftp_server

    with zos_ftp_server(tmp_path, users={"ALICE": "secret"}) as srv:
        srv.host, srv.port                       # 127.0.0.1, a free port (listening when the block starts)
        srv.catalog.add("HLQ.CUST.DATA", data, recfm="FB", lrecl=80)        # bytes as stored
        srv.catalog.add("HLQ.TXN.DATA", records=[b"...", ...], recfm="VB", lrecl=84)  # V/VB: RDWs added
        srv.catalog.add_gdg("HLQ.DAILY", [gen1_bytes, gen2_bytes], recfm="FB", lrecl=80)  # G0001V00, G0002V00
        srv.commands                             # every command line received (PASS masked), for assertions

    with zos_ftp_server(tmp_path, tls=True) as srv:    # FTPS: AUTH TLS and PROT P required
        srv.ca_file                              # the test CA's certificate, for the client to trust

User names are case-insensitive (z/OS folds them to upper case). Data set contents live as files under
``tmp_path / "zos-catalog"``, so large test data is never held in memory by the server.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pyftpdlib.authorizers import AuthenticationFailed, DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.handlers.ftp.producers import BufferedIteratorProducer, FileProducer
from pyftpdlib.servers import FTPServer

__all__ = ["LIST_HEADER", "SYST_REPLY", "ZosCatalog", "ZosDataset", "ZosFTPServerInfo", "zos_ftp_server"]

SYST_REPLY = "215 MVS is the operating system of this server. FTP Server is running on z/OS."
LIST_HEADER = "Volume Unit    Referred Ext Used Recfm Lrecl BlkSz Dsorg Dsname"
_VARIABLE = ("V", "VB", "VBS", "VS")
_GENERATION = re.compile(r"^(?P<base>.+)\((?P<rel>[+-]?\d+)\)$")
_GDG_NAME = re.compile(r"\.G(\d{4})V(\d{2})$")


@dataclass
class ZosDataset:
    """One cataloged data set: its attributes as the listing shows them and the file holding its records."""

    name: str
    path: Path
    recfm: str = "FB"
    lrecl: int = 80
    blksize: int = 27920
    dsorg: str = "PS"
    volume: str = "ZOS001"
    unit: str = "3390"
    referred: str = "2026/11/25"
    migrated: bool = False
    #: Simulate an I/O error on the volume after this many bytes of a RETR (the server then answers 426).
    fail_after: int | None = None

    def list_line(self, shown_name: str) -> str:
        if self.migrated:
            return f"{'Migrated':<56}{shown_name}"
        used = max(1, self.path.stat().st_size // 56_664 + 1)  # 3390 track capacity
        return (
            f"{self.volume:<6} {self.unit:<4}   {self.referred:<10}{1:>3}{used:>5}  "
            f"{self.recfm:<4}{self.lrecl:>6}{self.blksize:>6}  {self.dsorg:<4}{shown_name}"
        )


@dataclass
class ZosCatalog:
    """The server's catalog: data sets by fully qualified name, contents stored under ``root``."""

    root: Path
    datasets: dict[str, ZosDataset] = field(default_factory=dict)

    def add(
        self,
        name: str,
        data: bytes | None = None,
        *,
        records: Sequence[bytes] | None = None,
        recfm: str = "FB",
        lrecl: int = 80,
        blksize: int | None = None,
        **attrs: Any,
    ) -> ZosDataset:
        """Catalog a data set. ``data`` is stored as is (for V/VB: records with RDWs); ``records`` get RDWs added
        for V/VB and are concatenated for F/FB."""
        name = name.upper()
        recfm = recfm.upper()
        if (data is None) == (records is None):
            raise ValueError("give exactly one of data= or records=")
        if records is not None:
            if recfm in _VARIABLE:
                data = b"".join(struct.pack(">HH", len(r) + 4, 0) + r for r in records)
            else:
                data = b"".join(records)
        path = self.root / name
        path.write_bytes(data or b"")
        if blksize is None:
            blksize = 27998 if recfm in _VARIABLE else (27920 // lrecl) * lrecl or lrecl
        ds = ZosDataset(name=name, path=path, recfm=recfm, lrecl=lrecl, blksize=blksize, **attrs)
        self.datasets[name] = ds
        return ds

    def add_gdg(self, base: str, generations: Sequence[bytes], **attrs: Any) -> list[ZosDataset]:
        """Catalog generations ``BASE.G0001V00``, ``BASE.G0002V00``, ... (oldest first) of a GDG."""
        first = len(self.generations(base)) + 1
        return [self.add(f"{base}.G{first + i:04d}V00", data, **attrs) for i, data in enumerate(generations)]

    def generations(self, base: str) -> list[ZosDataset]:
        prefix = base.upper() + "."
        gens = [ds for n, ds in self.datasets.items() if n.startswith(prefix) and _GDG_NAME.search(n[len(base) :])]
        return sorted(gens, key=lambda ds: ds.name)

    def resolve(self, name: str) -> ZosDataset | None:
        match = _GENERATION.match(name)
        if match:
            gens = self.generations(match["base"])
            rel = int(match["rel"])
            if rel > 0 or -rel >= len(gens):
                return None
            return gens[len(gens) - 1 + rel]
        return self.datasets.get(name)

    def match(self, pattern: str) -> list[ZosDataset]:
        """Data sets matching a z/OS name pattern (``*`` one qualifier, ``**`` any, ``%`` one character)."""
        if not any(c in pattern for c in "*%"):
            if pattern in self.datasets:
                return [self.datasets[pattern]]
            pattern += ".**"
        regex = re.compile(_pattern_regex(pattern))
        return [ds for name, ds in sorted(self.datasets.items()) if regex.fullmatch(name)]


def _pattern_regex(pattern: str) -> str:
    out = []
    for token in re.split(r"(\*\*|\*|%)", pattern):
        if token == "**":
            out.append(r"[A-Z0-9@#$.\-{}]*")
        elif token == "*":
            out.append(r"[A-Z0-9@#$\-{}]*")
        elif token == "%":
            out.append(r"[A-Z0-9@#$\-{}]")
        else:
            out.append(re.escape(token))
    return "".join(out)


class _RdwStripper:
    """File-like view of a V/VB data set without its RDWs (what z/OS sends when SITE RDW is off)."""

    def __init__(self, path: Path) -> None:
        self._file: IO[bytes] = path.open("rb")
        self.name = str(path)
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        out = bytearray()
        while size < 0 or len(out) < size:
            rdw = self._file.read(4)
            if len(rdw) < 4:
                break
            (length,) = struct.unpack(">H", rdw[:2])
            out += self._file.read(length - 4)
        return bytes(out)

    def close(self) -> None:
        self.closed = True
        self._file.close()


class _FailingReader:
    """Reads normally until ``limit`` bytes, then fails as a damaged volume would."""

    def __init__(self, inner: Any, limit: int) -> None:
        self._inner = inner
        self._left = limit
        self.name = getattr(inner, "name", "dataset")
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            raise OSError(5, "I/O error reading the data set")
        data = self._inner.read(min(size, self._left) if size >= 0 else self._left)
        self._left -= len(data)
        return bytes(data)

    def close(self) -> None:
        self.closed = True
        self._inner.close()


class _ZosFTPHandler(FTPHandler):
    """FTPHandler with z/OS MVS dataset semantics; the per-server subclass sets ``catalog`` and ``command_log``."""

    catalog: ZosCatalog
    command_log: list[str]
    banner = "TCPFTP1 IBM FTP CS V2R5 at 127.0.0.1, ready."
    auth_failed_timeout = 0.05  # pyftpdlib waits 3 s before answering a failed login; tests need not
    _MVS_COMMANDS = frozenset({"CWD", "XCWD", "CDUP", "XCUP", "PWD", "XPWD", "LIST", "NLST", "RETR", "SIZE", "SITE"})
    _REFUSED = frozenset({"STOR", "APPE", "STOU", "DELE", "MKD", "XMKD", "RMD", "XRMD", "RNFR", "RNTO", "MLSD", "MLST"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prefix = ""
        self.rdw = False

    # -- dispatch ------------------------------------------------------------------------------------------------

    def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
        self.command_log.append("PASS ******" if cmd == "PASS" else line)
        if cmd == "SYST":
            self.respond(SYST_REPLY)
            return
        if cmd in self._MVS_COMMANDS or cmd in self._REFUSED:
            if not self.authenticated:
                self.respond("530 Not logged in.")
                return
            if cmd in self._REFUSED:
                self.respond(f"550 {cmd} is not supported by this test server.")
                return
            getattr(self, f"mvs_{cmd.lstrip('X')}")(arg.strip())
            return
        super().pre_process_command(line, cmd, arg)

    def handle_auth_success(self, home: str, password: str, msg_login: str) -> None:
        self.prefix = self.username.upper() + "."
        user = self.username.upper()
        super().handle_auth_success(home, password, f'{user} is logged on.  Working directory is "{self.prefix}".')

    # -- names ---------------------------------------------------------------------------------------------------

    def qualify(self, arg: str) -> tuple[str, bool]:
        """Fully qualified upper-case name of a command argument, and whether it was quoted."""
        if len(arg) >= 2 and arg.startswith("'") and arg.endswith("'"):
            return arg[1:-1].upper(), True
        return (self.prefix + arg).upper(), False

    # -- commands ------------------------------------------------------------------------------------------------

    def mvs_CWD(self, arg: str) -> None:
        if arg in ("..", ""):
            self.mvs_CDUP("")
            return
        name, _ = self.qualify(arg)
        self.prefix = name.rstrip(".") + "."
        self.respond(f'250 "{self.prefix}" is the working directory name prefix.')

    def mvs_CDUP(self, arg: str) -> None:
        quals = self.prefix.rstrip(".").split(".")[:-1]
        self.prefix = ".".join(quals) + "." if quals else ""
        self.respond(f'250 "{self.prefix}" is the working directory name prefix.')

    def mvs_PWD(self, arg: str) -> None:
        self.respond(f"257 \"'{self.prefix}'\" is working directory.")

    def mvs_SIZE(self, arg: str) -> None:
        self.respond("501 command aborted -- FTP server not configured for SIZE/MDTM")

    def mvs_SITE(self, arg: str) -> None:
        warnings = []
        for param in arg.split():
            key, _, value = param.upper().partition("=")
            if key == "RDW":
                self.rdw = True
            elif key == "NORDW":
                self.rdw = False
            elif key == "FILETYPE" and value == "SEQ":
                pass
            elif key in ("LRECL", "BLKSIZE", "BLKSIZ") and value.isdigit():
                pass  # allocation parameters of new data sets; this server is read-only
            elif key == "RECFM" and value in ("F", "FB", "V", "VB", "U", "VBS", "FBA", "VBA"):
                pass
            else:
                warnings.append(f"200-Unrecognized parameter '{param}' on SITE command.\r\n")
        self.respond("".join(warnings) + "200 SITE command was accepted")

    def _listing(self, arg: str) -> list[tuple[ZosDataset, str]] | None:
        args = [a for a in arg.split() if not a.startswith("-")]
        target = args[0] if args else ""
        if target:
            pattern, quoted = self.qualify(target)
        else:
            pattern, quoted = self.prefix.rstrip(".") or "**", False
        found = self.catalog.match(pattern)
        if not found:
            self.respond("550 No data sets found.")
            return None
        shown = []
        for ds in found:
            if quoted:
                shown.append((ds, f"'{ds.name}'"))
            elif self.prefix and ds.name.startswith(self.prefix):
                shown.append((ds, ds.name[len(self.prefix) :]))
            else:
                shown.append((ds, f"'{ds.name}'"))
        return shown

    def mvs_LIST(self, arg: str) -> None:
        shown = self._listing(arg)
        if shown is None:
            return
        lines = [LIST_HEADER] + [ds.list_line(name) for ds, name in shown]
        self._send(BufferedIteratorProducer(iter([f"{line}\r\n".encode() for line in lines])), "125 List started OK")

    def mvs_NLST(self, arg: str) -> None:
        shown = self._listing(arg)
        if shown is None:
            return
        names = [f"{name}\r\n".encode() for _, name in shown]
        self._send(BufferedIteratorProducer(iter(names)), "125 List started OK")

    def mvs_RETR(self, arg: str) -> None:
        name, _ = self.qualify(arg)
        ds = self.catalog.resolve(name)
        if ds is None or ds.migrated:
            self.respond(f"550 Data set {name} not found")
            return
        fd: Any = _RdwStripper(ds.path) if ds.recfm in _VARIABLE and not self.rdw else ds.path.open("rb")
        if ds.fail_after is not None:
            fd = _FailingReader(fd, ds.fail_after)
        recfm_word = "VARrecfm" if ds.recfm in _VARIABLE else "FIXrecfm"
        self._send(FileProducer(fd, self._current_type), f"125 Sending data set {ds.name} {recfm_word} {ds.lrecl}", fd)

    def _send(self, producer: Any, reply: str, file: Any = None) -> None:
        """pyftpdlib's push_dtp_data with the z/OS preliminary reply instead of its own wording."""
        if self.data_channel is not None:
            self.respond(reply)
            if file is not None:
                self.data_channel.file_obj = file
            self.data_channel.push_with_producer(producer)
            self.data_channel.cmd = "RETR" if file is not None else "LIST"
            self.data_channel.close_when_done()
        else:
            self.respond(reply.replace("125", "150", 1))
            self._out_dtp_queue = (producer, True, file, "RETR" if file is not None else "LIST")


class _Authorizer(DummyAuthorizer):
    """Case-insensitive user names, and z/OS's reply to a wrong password."""

    def validate_authentication(self, username: str, password: str, handler: Any) -> None:
        try:
            super().validate_authentication(username.upper(), password, handler)
        except AuthenticationFailed:
            raise AuthenticationFailed("PASS command failed") from None

    def has_user(self, username: str) -> bool:
        return super().has_user(username.upper())

    def get_home_dir(self, username: str) -> str:
        return str(super().get_home_dir(username.upper()))

    def has_perm(self, username: str, perm: str, path: str | None = None) -> bool:
        return bool(super().has_perm(username.upper(), perm, path))

    def get_perms(self, username: str) -> str:
        return str(super().get_perms(username.upper()))

    def get_msg_login(self, username: str) -> str:
        return str(super().get_msg_login(username.upper()))

    def get_msg_quit(self, username: str) -> str:
        return str(super().get_msg_quit(username.upper()))


@dataclass(frozen=True)
class ZosFTPServerInfo:
    host: str
    port: int
    catalog: ZosCatalog
    commands: list[str]
    #: With ``tls=True``: the CA certificate (PEM) that signed the server's certificate, for the client to trust.
    ca_file: Path | None = None


def _wait_for_port(host: str, port: int, timeout: float = 5.0) -> None:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.recv(1024)  # the 220 banner: the server loop is serving


def _tls_handler(base: type, folder: Path) -> tuple[type, Path]:
    """A handler class that requires explicit TLS (AUTH TLS, PROT P) with a certificate for 127.0.0.1 from a fresh
    test CA (trustme); returns the class and the CA certificate file."""
    import trustme
    from pyftpdlib.handlers import TLS_FTPHandler

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    pem = folder / "zos-ftps-server.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(pem))
    ca_file = folder / "zos-ftps-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    attrs = {"certfile": str(pem), "tls_control_required": True, "tls_data_required": True, "ssl_context": None}
    return type("ZosFTPSHandler", (base, TLS_FTPHandler), attrs), ca_file


@contextmanager
def zos_ftp_server(
    tmp_path: Path, users: Mapping[str, str] | None = None, *, tls: bool = False
) -> Iterator[ZosFTPServerInfo]:
    """Run the z/OS-like FTP server on 127.0.0.1 for the duration of the ``with`` block (see module docstring)."""
    root = Path(tmp_path) / "zos-catalog"
    root.mkdir(parents=True, exist_ok=True)
    home = Path(tmp_path) / "zos-home"  # pyftpdlib wants a home folder; no command of ours reads it
    home.mkdir(exist_ok=True)
    catalog = ZosCatalog(root=root)
    commands: list[str] = []

    authorizer = _Authorizer()
    for user, password in (users if users is not None else {"ALICE": "secret"}).items():
        authorizer.add_user(user.upper(), password, str(home), perm="elr")
    handler: Any = type("ZosFTPHandler", (_ZosFTPHandler,), {"catalog": catalog, "command_log": commands})
    ca_file = None
    if tls:
        handler, ca_file = _tls_handler(handler, Path(tmp_path))
    handler.authorizer = authorizer
    handler.passive_ports = None
    server = FTPServer(("127.0.0.1", 0), handler)
    host, port = server.address[:2]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            server.ioloop.loop(0.05, blocking=False)  # serve_forever(blocking=False) logs a start line per call
        server.close_all()

    thread = threading.Thread(target=serve, name="test-zos-ftp-server", daemon=True)
    thread.start()
    try:
        _wait_for_port(host, port)
        yield ZosFTPServerInfo(host=host, port=port, catalog=catalog, commands=commands, ca_file=ca_file)
    finally:
        stop.set()
        thread.join(10)
