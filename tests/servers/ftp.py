"""A real FTP (and FTPS) server for tests: pyftpdlib serving one folder on 127.0.0.1.

API::

    from tests.servers.ftp import ftp_server

    with ftp_server(tmp_path, users={"alice": "pw"}) as srv:           # plain FTP
        srv.host, srv.port, srv.root                                   # root: the served folder (a pathlib.Path)
        srv.connection_uri("alice")                                    # "ftp://alice:pw@127.0.0.1:PORT"
        srv.commands                                                   # every command received ("PASS ***")
    with ftp_server(tmp_path, tls=True) as srv:                        # FTPS (explicit, AUTH TLS), trustme cert
        srv.ca_pem                                                     # path of the CA that signed the server cert

The port is free and listening (the 220 banner was received) when the block starts; the server stops when it ends.
Users get full permissions on the served folder (list, read, write, rename, delete).
"""

from __future__ import annotations

import socket
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

__all__ = ["FTPServerInfo", "ftp_server"]


@dataclass(frozen=True)
class FTPServerInfo:
    host: str
    port: int
    root: Path
    users: Mapping[str, str]
    ca_pem: Path | None = None
    commands: list[str] = field(default_factory=list)

    def connection_uri(self, user: str) -> str:
        auth = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(self.users[user], safe='')}"
        return f"{'ftps' if self.ca_pem else 'ftp'}://{auth}@{self.host}:{self.port}"


def _tls_handler(tmp_path: Path) -> tuple[type[FTPHandler], Path]:
    import trustme
    from pyftpdlib.handlers import TLS_FTPHandler

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_pem, ca_pem = tmp_path / "ftps-server.pem", tmp_path / "ftps-ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_pem))
    ca.cert_pem.write_to_path(str(ca_pem))
    handler = type("TestFTPSHandler", (TLS_FTPHandler,), {"certfile": str(cert_pem), "tls_control_required": True})
    return handler, ca_pem


@contextmanager
def ftp_server(
    tmp_path: Path, users: Mapping[str, str] | None = None, *, tls: bool = False, mlsd: bool = True
) -> Iterator[FTPServerInfo]:
    """Serve ``tmp_path / "ftp-root"`` over FTP (or FTPS with ``tls=True``) for the ``with`` block; ``mlsd=False``
    answers ``MLSD`` with 500, as servers older than RFC 3659 do."""
    root = Path(tmp_path) / "ftp-root"
    root.mkdir(parents=True, exist_ok=True)
    passwords = dict(users) if users is not None else {"alice": "pw"}
    authorizer = DummyAuthorizer()
    for user, password in passwords.items():
        authorizer.add_user(user, password, str(root), perm="elradfmwMT")
    base, ca_pem = _tls_handler(Path(tmp_path)) if tls else (FTPHandler, None)
    commands: list[str] = []

    def pre_process_command(self: FTPHandler, line: str, cmd: str, arg: str) -> None:
        commands.append("PASS ***" if cmd == "PASS" else line)
        base.pre_process_command(self, line, cmd, arg)

    # auth_failed_timeout: pyftpdlib pauses 3 s after a wrong password; tests of wrong credentials need no pause.
    attributes: dict[str, Any] = {
        "authorizer": authorizer,
        "banner": "test FTP server ready",
        "auth_failed_timeout": 0.05,
        "pre_process_command": pre_process_command,
    }
    if not mlsd:
        attributes["proto_cmds"] = {k: v for k, v in base.proto_cmds.items() if k not in ("MLSD", "MLST")}
    handler = type("TestFTPHandler", (base,), attributes)
    server = FTPServer(("127.0.0.1", 0), handler)
    host, port = server.address[:2]
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            server.ioloop.loop(0.05, blocking=False)
        server.close_all()

    thread = threading.Thread(target=loop, name="test-ftp-server", daemon=True)
    thread.start()
    try:
        with socket.create_connection((host, port), timeout=5) as probe:
            probe.recv(1024)  # the banner: the loop is serving
        yield FTPServerInfo(host, port, root, passwords, ca_pem, commands)
    finally:
        stop.set()
        thread.join(10)
