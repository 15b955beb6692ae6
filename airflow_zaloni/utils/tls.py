"""TLS settings and failures of the HTTPS clients (Salesforce, X): one home for what both need.

* :class:`PinnedVerifySession` -- a ``requests.Session`` whose own ``verify`` (the CA setting that came from the
  connection) is what every request uses. Plain requests lets ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` from the
  environment override ``Session.verify``, which turns a CA bundle set on purpose into a certificate failure.
  The environment still applies when the session has no CA of its own (``verify=True``), as requests documents.
* :func:`pin_verify` -- the same for a session made elsewhere (one simple-salesforce built): pass ``verify``
  explicitly on each request.
* :func:`describe_tls_failure` -- an ``SSLError`` is a ``ConnectionError`` to requests, but a bad certificate does
  not cure itself: callers fail at once, with the host and the certificate problem in the message.
* :func:`verify_setting` -- the ``verify`` extra of a connection: ``true``/``false`` or the path of a CA bundle.
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit

import requests


def verify_setting(value: Any) -> bool | str:
    """A connection's ``verify`` extra as requests takes it: ``True`` (default), ``False``, or a CA bundle path."""
    if isinstance(value, bool) or value is None:
        return True if value is None else value
    text = str(value).strip()
    if text.lower() in ("true", "1", "yes", ""):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    return text


def pin_verify(session: requests.Session, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` of ``session.request`` with ``verify`` set to the session's own, unless the caller chose one."""
    kwargs.setdefault("verify", session.verify)
    return kwargs


class PinnedVerifySession(requests.Session):
    """A session whose ``verify`` is not overridden by ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``."""

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        return super().request(method, url, *args, **pin_verify(self, kwargs))


def _ssl_cause(error: BaseException) -> ssl.SSLError | None:
    """The ``ssl`` error under requests' and urllib3's wrappers (``args[0]``, ``reason``, ``__cause__``)."""
    seen: set[int] = set()
    todo: list[Any] = [error]
    while todo:
        current = todo.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return current
        todo.extend([*current.args, getattr(current, "reason", None), current.__cause__, current.__context__])
    return None


def describe_tls_failure(error: requests.exceptions.SSLError, host: str | None = None) -> str:
    """``TLS with host:port failed: certificate verify failed: self-signed certificate``, for an error message."""
    if host is None and error.request is not None and error.request.url:
        host = urlsplit(str(error.request.url)).netloc
    cause = _ssl_cause(error)
    if isinstance(cause, ssl.SSLCertVerificationError):
        problem = f"certificate verify failed: {cause.verify_message}"
    elif cause is not None:
        problem = cause.reason or str(cause)
    else:
        problem = str(error)
    return f"TLS with {host or 'the server'} failed: {problem}"
