"""A real SFTP server for tests: asyncssh, in-process, on 127.0.0.1.

The server runs in a background thread with its own asyncio event loop, listens on a free port of 127.0.0.1, accepts
password and public-key authentication, and serves one folder as its root (a virtual chroot: clients see ``/`` and
cannot leave it). A fresh Ed25519 host key is generated for every server.

API::

    from tests.servers.sftp import sftp_server, make_client_key

    key = make_client_key(tmp_path)                       # ClientKey(private_path, public_line)
    with sftp_server(tmp_path, users={"alice": "pw"}, authorized_keys={"bob": [key.public_line]}) as srv:
        srv.host, srv.port          # "127.0.0.1", the port it listens on
        srv.root                    # pathlib.Path of the served folder (``tmp_path / "sftp-root"`` by default)
        srv.host_key_public         # "ssh-ed25519 AAAA..." (OpenSSH line; also what SFTPHook takes as ``host_key``)
        srv.host_key_base64         # "AAAA..." (the bare base64 body)
        srv.host_key_fingerprint    # "SHA256:..."
        srv.known_hosts_line()      # "[127.0.0.1]:PORT ssh-ed25519 AAAA..." for a known_hosts file
        srv.connection_uri("alice") # "sftp://alice:pw@127.0.0.1:PORT" (Airflow connection URI, password quoted)

``sftp_server(tmp_path, ...)`` is a context manager: the server is stopped when the block ends. ``users`` maps user
names to passwords; ``authorized_keys`` maps user names to lists of OpenSSH public key lines (a user may have both).
``root`` overrides the served folder. Wrap it in a fixture where a test module wants one::

    @pytest.fixture
    def sftp(tmp_path):
        with sftp_server(tmp_path) as srv:
            yield srv

Paths are mapped as asyncssh's chroot does: a client path is normalised and joined under the root, so a z/OS
OpenSSH style name such as ``//'HLQ.DATA.SET'`` names the file ``'HLQ.DATA.SET'`` (with the quotes) in the root.
"""

from __future__ import annotations

import asyncio
import hmac
import threading
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncssh

__all__ = ["ClientKey", "SFTPServerInfo", "make_client_key", "sftp_server"]

_START_TIMEOUT = 10.0


@dataclass(frozen=True)
class ClientKey:
    """A client key pair for a test: the private key file (OpenSSH format, no passphrase) and its public line."""

    private_path: Path
    public_line: str


@dataclass(frozen=True)
class SFTPServerInfo:
    """Where a running test SFTP server listens and how a client recognises it."""

    host: str
    port: int
    root: Path
    host_key_public: str
    host_key_fingerprint: str
    users: Mapping[str, str]

    @property
    def host_key_base64(self) -> str:
        """The base64 body of the host public key (SFTPHook reads a bare body as RSA: give it ``host_key_public``)."""
        return self.host_key_public.split()[1]

    def known_hosts_line(self) -> str:
        """A known_hosts entry for this server (non-standard port, so the host is in brackets)."""
        return f"[{self.host}]:{self.port} {self.host_key_public}"

    def connection_uri(self, user: str, scheme: str = "sftp") -> str:
        """An Airflow connection URI for ``user`` with its password (when it has one), URL-quoted."""
        password = self.users.get(user)
        auth = urllib.parse.quote(user, safe="")
        if password is not None:
            auth += ":" + urllib.parse.quote(password, safe="")
        return f"{scheme}://{auth}@{self.host}:{self.port}"


def make_client_key(tmp_path: Path, name: str = "id_ed25519") -> ClientKey:
    """Generate an Ed25519 client key pair under ``tmp_path`` (private file mode 0600)."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    private_path = Path(tmp_path) / name
    private_path.write_bytes(key.export_private_key("openssh"))
    private_path.chmod(0o600)
    public_line = key.export_public_key("openssh").decode().strip()
    Path(f"{private_path}.pub").write_text(public_line + "\n")
    return ClientKey(private_path=private_path, public_line=public_line)


class _AuthServer(asyncssh.SSHServer):
    """Password and public-key authentication against the tables the test gave."""

    def __init__(self, passwords: Mapping[str, str], keys: Mapping[str, Sequence[asyncssh.SSHKey]]) -> None:
        self._passwords = passwords
        self._keys = keys

    def begin_auth(self, username: str) -> bool:
        return True  # always require authentication

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        expected = self._passwords.get(username)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        offered = key.public_data
        return any(k.public_data == offered for k in self._keys.get(username, ()))


class _ServerThread(threading.Thread):
    """Runs an event loop until stopped; the asyncssh acceptor lives on that loop."""

    def __init__(self) -> None:
        super().__init__(name="test-sftp-server", daemon=True)
        self.loop = asyncio.new_event_loop()

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        self.loop.close()


@contextmanager
def sftp_server(
    tmp_path: Path,
    users: Mapping[str, str] | None = None,
    authorized_keys: Mapping[str, Sequence[str]] | None = None,
    *,
    root: Path | None = None,
) -> Iterator[SFTPServerInfo]:
    """Run an SFTP server on 127.0.0.1 for the duration of the ``with`` block (see the module docstring)."""
    passwords = dict(users) if users is not None else {"alice": "pw"}
    keys = {
        user: [asyncssh.import_public_key(line) for line in lines] for user, lines in (authorized_keys or {}).items()
    }
    served = Path(root) if root is not None else Path(tmp_path) / "sftp-root"
    served.mkdir(parents=True, exist_ok=True)
    served = served.resolve()
    host_key = asyncssh.generate_private_key("ssh-ed25519")

    def sftp_factory(chan: asyncssh.SSHServerChannel) -> asyncssh.SFTPServer:
        return asyncssh.SFTPServer(chan, chroot=str(served).encode())

    async def _listen() -> asyncssh.SSHAcceptor:
        return await asyncssh.create_server(
            lambda: _AuthServer(passwords, keys),
            "127.0.0.1",
            0,
            server_host_keys=[host_key],
            sftp_factory=sftp_factory,
            allow_scp=False,
        )

    thread = _ServerThread()
    thread.start()
    try:
        acceptor = asyncio.run_coroutine_threadsafe(_listen(), thread.loop).result(_START_TIMEOUT)
        port = acceptor.sockets[0].getsockname()[1]
        try:
            yield SFTPServerInfo(
                host="127.0.0.1",
                port=port,
                root=served,
                host_key_public=host_key.export_public_key("openssh").decode().strip(),
                host_key_fingerprint=host_key.get_fingerprint("sha256"),
                users=passwords,
            )
        finally:

            async def _close() -> None:
                acceptor.close()
                await acceptor.wait_closed()
                # Sessions a client left open would otherwise die with the loop and warn "Task was destroyed".
                pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

            asyncio.run_coroutine_threadsafe(_close(), thread.loop).result(_START_TIMEOUT)
    finally:
        thread.loop.call_soon_threadsafe(thread.loop.stop)
        thread.join(_START_TIMEOUT)
