"""Serve a stdlib HTTP server over TLS for a test: a fresh trustme CA, the server in a thread, stopped at exit.

The local servers that stand in for HTTPS APIs (X, Salesforce, ...) need the same few steps; this is their one home::

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with serve_https(server, tmp_path, "x-api") as ca_path:
        url = f"https://127.0.0.1:{server.server_address[1]}"   # trust ``ca_path`` in the client (requests' verify)
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import HTTPServer
from pathlib import Path

import trustme

__all__ = ["serve_https"]


@contextmanager
def serve_https(server: HTTPServer, tmp_path: Path, name: str) -> Iterator[str]:
    """Wrap ``server``'s socket in TLS (certificate for 127.0.0.1 and localhost), serve it, yield the CA bundle path."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    ca_path = tmp_path / f"{name}-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield str(ca_path)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
