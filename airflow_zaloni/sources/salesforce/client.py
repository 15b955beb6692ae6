"""One HTTP door to a Salesforce org: authentication, retries, concurrency waits and the API budget.

The client rides on a simple-salesforce ``Salesforce`` object (what Airflow's ``SalesforceHook`` hands out): it
borrows its ``requests`` session (proxies, TLS settings), instance and access token, but sends requests itself so
that it can stream large bodies, page through results one at a time, and apply one policy to every call:

* server errors (5xx), ``UNABLE_TO_LOCK_ROW``, ``QUERY_TIMEOUT`` and dropped connections are retried with
  exponential backoff inside a time budget (:mod:`airflow_zaloni.utils.retry`); a TLS failure (a certificate
  that does not verify) is not retried, since it does not cure itself: it fails at once naming host and problem;
* the session's CA setting (``verify``) is sent with every request, so ``REQUESTS_CA_BUNDLE`` /
  ``CURL_CA_BUNDLE`` in the environment cannot override a CA bundle chosen on purpose
  (:mod:`airflow_zaloni.utils.tls`);
* the org's concurrency limit (``REQUEST_LIMIT_EXCEEDED`` ... "Concurrent...", HTTP 429) is waited out with its
  own, longer budget, then the call resumes;
* an expired session (``INVALID_SESSION_ID``) triggers one re-authentication through the ``connect`` factory
  and one resend; a second refusal is an error;
* every response's ``Sforce-Limit-Info`` header feeds :class:`ApiBudget`, which stops the read before it uses
  more than the configured share of the org's daily API requests.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import requests

from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.sources.salesforce.errors import (
    ApiBudgetExceeded,
    ConcurrencyLimitError,
    SalesforceApiError,
    SessionExpiredError,
    TransientApiError,
)
from airflow_zaloni.utils.retry import RetryError, RetryPolicy, retry_call
from airflow_zaloni.utils.tls import describe_tls_failure, pin_verify

if TYPE_CHECKING:
    from simple_salesforce import Salesforce

log = logging.getLogger(__name__)

#: Retry policy for transient failures: up to five minutes, 1 s doubling to 30 s between attempts.
DEFAULT_RETRY = RetryPolicy(budget=300.0, initial=1.0, factor=2.0, maximum=30.0)
#: Waiting for a concurrency slot: up to 30 minutes, 5 s growing to 2 minutes between attempts.
DEFAULT_CONCURRENCY_WAIT = RetryPolicy(budget=1800.0, initial=5.0, factor=1.5, maximum=120.0)

_API_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


class ApiBudget:
    """Keeps a read within ``max_share`` of the org's daily API requests (``DailyApiRequests``).

    :param max_share: fraction of the daily maximum (0 < share <= 1) that may be in use, counting every
        consumer of the org, before this read refuses to continue.
    """

    def __init__(self, max_share: float) -> None:
        if not 0 < max_share <= 1:
            raise ValueError(f"max_api_share must be in (0, 1], got {max_share!r}")
        self.max_share = max_share
        self.used: int | None = None
        self.maximum: int | None = None

    @property
    def allowed(self) -> int | None:
        """The usage level at which the read stops, or None before the first observation."""
        return None if self.maximum is None else int(self.maximum * self.max_share)

    def check_limits(self, limits: dict[str, Any]) -> None:
        """Check the answer of ``/limits`` before the read starts."""
        daily = limits.get("DailyApiRequests")
        if not isinstance(daily, dict) or "Max" not in daily or "Remaining" not in daily:
            raise SourceError("Salesforce /limits answer has no DailyApiRequests {Max, Remaining}: cannot budget")
        self.maximum = int(daily["Max"])
        self.used = self.maximum - int(daily["Remaining"])
        self._enforce(0, when="before starting")

    def require(self, needed: int) -> None:
        """Stop now if about ``needed`` more requests would take the org past the budget."""
        if self.used is not None:
            self._enforce(needed, when="before starting")

    def observe(self, limit_info: str) -> None:
        """Record a ``Sforce-Limit-Info`` header value (``api-usage=USED/MAX``); past the budget, stop the read.

        Only enforced once :meth:`check_limits` has run, so that the first call's header does not pre-empt the
        fuller message of the ``/limits`` check.
        """
        match = _API_USAGE.search(limit_info)
        if match:
            checked = self.used is not None
            self.used, self.maximum = int(match.group(1)), int(match.group(2))
            if checked:
                self._enforce(0, when="while reading")

    def _enforce(self, needed: int, *, when: str) -> None:
        assert self.used is not None and self.maximum is not None
        allowed = self.allowed or 0
        if self.used + needed > allowed or self.used >= allowed:
            need = f" and this read needs about {needed} more" if needed else ""
            raise ApiBudgetExceeded(
                f"Salesforce API budget: the org has used {self.used} of its {self.maximum} daily API requests"
                f"{need}; the configured limit is {self.max_share:.0%} ({allowed}). Stopped {when}; "
                "nothing was published. Raise max_api_share or run later."
            )


class SalesforceClient:
    """Sends REST and Bulk API 2.0 requests for a source, with the policies described in the module docstring.

    :param connect: returns an authenticated simple-salesforce ``Salesforce``; called lazily once, and once more
        to re-authenticate when the session expires (e.g. ``lambda: SalesforceHook(conn_id).get_conn()``).
    :param retry: backoff policy for transient failures.
    :param concurrency_wait: policy for waiting out the org's concurrency limit.
    :param max_api_share: if set, the :class:`ApiBudget` share of daily API requests this client may reach.
    :param timeout: seconds to wait for the server to answer (connect and each read).
    """

    def __init__(
        self,
        connect: Callable[[], Salesforce],
        *,
        retry: RetryPolicy | None = None,
        concurrency_wait: RetryPolicy | None = None,
        max_api_share: float | None = None,
        timeout: float = 300.0,
    ) -> None:
        self._connect = connect
        self._sf: Salesforce | None = None
        self.retry = retry or DEFAULT_RETRY
        self.concurrency_wait = concurrency_wait or DEFAULT_CONCURRENCY_WAIT
        self.budget = ApiBudget(max_api_share) if max_api_share is not None else None
        self.timeout = timeout
        #: Requests sent (attempts included): what this read cost the org's daily API allowance, roughly.
        self.requests_sent = 0
        self.reauthentications = 0

    @property
    def sf(self) -> Salesforce:
        if self._sf is None:
            try:
                self._sf = self._connect()
            except requests.exceptions.SSLError as exc:
                raise SourceError(f"Salesforce login: {_tls_advice(exc)}") from exc
        return self._sf

    @property
    def api_version(self) -> str:
        return str(self.sf.sf_version)

    def data_path(self, suffix: str) -> str:
        """Absolute path of a REST resource: ``data_path("limits/")`` -> ``/services/data/v59.0/limits/``."""
        return f"/services/data/v{self.api_version}/{suffix}"

    # -- public calls -----------------------------------------------------------------------------------------

    def get_json(
        self,
        path: str,
        *,
        what: str,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        retry_query_timeout: bool = True,
    ) -> Any:
        """GET a JSON resource (path from ``/services/...``) with every policy applied."""
        response = self.request(
            "GET", path, what=what, params=params, headers=headers, retry_query_timeout=retry_query_timeout
        )
        return response.json()

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
        retry_query_timeout: bool = True,
    ) -> requests.Response:
        """Send one logical request; transient failures and concurrency limits are retried as configured.

        With ``stream=True`` the caller must consume or close the returned response. ``retry_query_timeout=False``
        hands a ``QUERY_TIMEOUT`` straight back (for a caller that has a cheaper way out than asking again).
        """

        def once() -> requests.Response:
            try:
                return self._send_authenticated(
                    method, path, what=what, params=params, json=json, headers=headers, stream=stream
                )
            except TransientApiError as exc:
                if retry_query_timeout or exc.error_code != "QUERY_TIMEOUT":
                    raise
                raise SalesforceApiError(exc.what, exc.status, exc.error_code, exc.sf_message) from exc

        def with_backoff() -> requests.Response:
            try:
                return retry_call(once, self.retry, retry_on=(TransientApiError,), what=what)
            except RetryError as exc:
                raise _gave_up(what, exc, "retrying") from exc.last

        try:
            return retry_call(
                with_backoff,
                self.concurrency_wait,
                retry_on=(ConcurrencyLimitError,),
                what=f"{what} (waiting for the org's concurrency limit)",
            )
        except RetryError as exc:
            raise _gave_up(what, exc, "waiting for a free concurrency slot") from exc.last

    def limits(self) -> dict[str, Any]:
        """The org's limits (``/limits``): ``{"DailyApiRequests": {"Max": n, "Remaining": m}, ...}``."""
        result: dict[str, Any] = self.get_json(self.data_path("limits/"), what="GET /limits")
        return result

    def describe(self, sobject: str) -> dict[str, Any]:
        """The object's describe (fields with name, type, precision, scale, compoundFieldName, ...)."""
        result: dict[str, Any] = self.get_json(
            self.data_path(f"sobjects/{sobject}/describe/"), what=f"describe {sobject}"
        )
        return result

    # -- internals --------------------------------------------------------------------------------------------

    def _send_authenticated(self, method: str, path: str, *, what: str, **kwargs: Any) -> requests.Response:
        try:
            return self._send(method, path, what=what, **kwargs)
        except SessionExpiredError:
            log.warning("%s: Salesforce session expired (INVALID_SESSION_ID); re-authenticating once", what)
            self._reauthenticate(what)
        try:
            return self._send(method, path, what=what, **kwargs)
        except SessionExpiredError as exc:
            raise SalesforceApiError(
                what,
                exc.status,
                exc.error_code,
                f"{exc.sf_message} (still refused after re-authenticating: check the connection's credentials; "
                "a connection holding a fixed session id cannot be refreshed)",
            ) from exc

    def _reauthenticate(self, what: str) -> None:
        try:
            self._sf = self._connect()
        except Exception as exc:
            raise SourceError(f"{what}: re-authentication to Salesforce failed: {exc}") from exc
        self.reauthentications += 1

    def _send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict[str, Any] | None,
        json: Any,
        headers: dict[str, str] | None,
        stream: bool,
    ) -> requests.Response:
        sf = self.sf
        url = path if path.startswith("https://") else f"https://{sf.sf_instance}{path}"
        all_headers = {"Authorization": f"Bearer {sf.session_id}", "Accept-Encoding": "gzip"}
        if json is not None:
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        self.requests_sent += 1
        try:
            response = sf.session.request(
                method,
                url,
                **pin_verify(
                    sf.session,
                    {"params": params, "json": json, "headers": all_headers, "stream": stream, "timeout": self.timeout},
                ),
            )
        except requests.exceptions.SSLError as exc:  # a ConnectionError to requests, but no retry can cure it
            raise SourceError(f"{what}: {_tls_advice(exc)}") from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientApiError(what, 0, "CONNECTION_ERROR", str(exc)) from exc
        if self.budget is not None and "Sforce-Limit-Info" in response.headers:
            self.budget.observe(response.headers["Sforce-Limit-Info"])
        if response.status_code >= 300:
            body = response.content
            response.close()
            raise SalesforceApiError.from_response(what, response.status_code, body)
        return response


def _tls_advice(exc: requests.exceptions.SSLError) -> str:
    return (
        f"{describe_tls_failure(exc)}. Check the instance URL, or the CA bundle in the connection's 'verify' extra "
        "(the path of a PEM file; false turns checking off)"
    )


def _gave_up(what: str, exc: RetryError, doing: str) -> SalesforceApiError:
    last = exc.last
    if isinstance(last, SalesforceApiError):
        return SalesforceApiError(
            what,
            last.status,
            last.error_code,
            f"{last.sf_message} (gave up after {exc.attempts} attempts over {exc.elapsed:.0f}s of {doing})",
        )
    return SalesforceApiError(what, 0, "UNKNOWN", f"{last} (gave up after {exc.attempts} attempts)")
