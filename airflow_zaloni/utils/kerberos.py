"""What to tell a user when a Hadoop web endpoint (WebHDFS, the YARN RM REST API) refuses a request with SPNEGO.

requests' SPNEGO handlers (requests-kerberos, requests-gssapi) only log when they cannot make a token and hand back
the server's bare ``401``; the user then sees "Authentication required" and no reason. The usual reason is that the
worker has no Kerberos ticket (no ``kinit``, the ``airflow kerberos`` renewer not running, an expired ticket), which
GSSAPI can tell directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

#: What a worker does to get a ticket; said in every "no ticket" message.
GET_A_TICKET = (
    "run `kinit` (or Airflow's `airflow kerberos` ticket renewer with a keytab), or point KRB5_CLIENT_KTNAME at a "
    "keytab of the user"
)


def wants_spnego(status_code: int, headers: Mapping[str, str]) -> bool:
    """A ``401`` whose ``WWW-Authenticate`` offers ``Negotiate`` (SPNEGO)."""
    return status_code == 401 and "negotiate" in (headers.get("WWW-Authenticate") or "").lower()


def ticket_problem() -> str | None:
    """``None`` when GSSAPI has credentials to start a Kerberos context with, else why not (for a message)."""
    cache = os.environ.get("KRB5CCNAME") or "the default ticket cache"
    try:
        import gssapi
        from gssapi.exceptions import GSSError
    except ImportError:
        return "no way to use a Kerberos ticket: the gssapi package is not installed"
    try:
        credentials = gssapi.Credentials(usage="initiate")
        if credentials.lifetime == 0:
            return f"no Kerberos ticket: the ticket of {credentials.name} in {cache} has expired"
    except GSSError as error:
        reason = " ".join(str(error).split())
        return f"no Kerberos ticket in {cache} ({reason})"
    return None


def spnego_refused(server: str, *, enabled: bool, how_to_enable: str) -> str:
    """Why ``server`` (e.g. "the NameNode 10.0.0.1:9870") answered 401 Negotiate, and what to do about it."""
    if not enabled:
        return f"{server} wants Kerberos (SPNEGO) authentication: {how_to_enable}"
    problem = ticket_problem()
    if problem:
        return f"{server} wants Kerberos (SPNEGO) authentication and there is {problem}: {GET_A_TICKET}"
    return (
        f"{server} refused the worker's Kerberos ticket (SPNEGO): check that the ticket's realm is trusted by the "
        "server and that the server's HTTP/<host> principal is in its keytab"
    )
