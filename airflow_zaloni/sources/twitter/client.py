"""A tweepy ``Client`` for the X API v2 that can be pointed at any host and survives X's rate limits.

tweepy 4.17 builds every URL from the hard-coded origin ``https://api.twitter.com``, sends requests without a
timeout, and on a 429 either raises or sleeps until the window resets, however many hours away that is. This
module keeps tweepy (its endpoint methods, parameters and :class:`tweepy.Paginator`) and changes only the transport:

* :class:`_HostSession`, the ``requests`` session of one client, sends tweepy's requests to the configured host
  (default the current X API host, ``https://api.x.com``) with a timeout; nothing in tweepy is patched globally;
* :class:`XClient.request` waits for ``x-rate-limit-reset`` on a 429 only while a per-client time budget lasts,
  retries 5xx answers and connection errors with backoff (:mod:`airflow_zaloni.utils.retry`), and turns every
  other failure into a :class:`TwitterError` subclass that names the problem in X's own words.

Airflow-free: the hook builds an :class:`XClient` from a connection, tests build one against a local server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import requests
import tweepy

from airflow_zaloni.sources.base import SourceError
from airflow_zaloni.utils.retry import RetryError, RetryPolicy, retry_call
from airflow_zaloni.utils.tls import PinnedVerifySession, describe_tls_failure

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_API_HOST",
    "TwitterAccessError",
    "TwitterAuthError",
    "TwitterError",
    "TwitterNotFoundError",
    "TwitterRateLimitError",
    "TwitterRequestError",
    "TwitterUnavailableError",
    "TwitterUsageCapError",
    "XClient",
    "describe_api_errors",
]

#: The current X API host. ``api.twitter.com`` still answers, but X documents ``api.x.com``.
DEFAULT_API_HOST = "https://api.x.com"

#: Origins tweepy hard-codes into its URLs (the second in case a later tweepy switches to it).
_TWEEPY_ORIGINS = ("https://api.twitter.com", "https://api.x.com")

#: Server errors worth another try: X answers these while a node restarts or is overloaded.
_RETRYABLE_STATUS = frozenset({500, 502, 503, 504})


class TwitterError(SourceError):
    """The X API refused or failed a request; the message names the endpoint and X's reason."""

    def __init__(self, message: str, *, status: int | None = None, route: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.route = route


class TwitterRequestError(TwitterError):
    """400: X rejected a parameter, e.g. an invalid search query. The message carries X's error text."""


class TwitterAuthError(TwitterError):
    """401: the bearer token or the OAuth 1.0a keys are wrong, expired or revoked."""


class TwitterAccessError(TwitterError):
    """403 / 453: the access tier (Free, Basic, Pro, Enterprise) or the app's project does not allow this endpoint,
    or the resource is protected."""


class TwitterNotFoundError(TwitterError):
    """The user, list or resource does not exist (deleted, renamed or suspended)."""


class TwitterRateLimitError(TwitterError):
    """429 that could not be waited out within the rate-limit budget."""

    def __init__(self, message: str, *, reset_at: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reset_at = reset_at


class TwitterUsageCapError(TwitterRateLimitError):
    """429 ``UsageCapExceeded``: the monthly post cap of the project is used up; waiting minutes does not help."""


class TwitterUnavailableError(TwitterError):
    """5xx answers or connection failures that outlasted the retries."""


def describe_api_errors(payload: Any) -> str:
    """X's own words from an error body: problem details (``title``/``detail``), ``errors[].message``/``detail``.

    Works for the RFC 7807 problem bodies of v2, the ``{"errors": [{"code", "message"}]}`` bodies of the older
    platform (codes such as 453), and the partial ``errors`` of a 200 answer.
    """
    if not isinstance(payload, dict):
        return str(payload)[:500] if payload else ""
    parts: list[str] = []
    title, detail = payload.get("title"), payload.get("detail")
    if title or detail:
        parts.append(": ".join(str(p) for p in (title, detail) if p))
    for error in payload.get("errors") or []:
        if isinstance(error, dict):
            text = error.get("message") or error.get("detail") or error.get("title") or str(error)
            code = error.get("code")
            parts.append(f"[{code}] {text}" if code is not None else str(text))
        else:
            parts.append(str(error))
    if payload.get("reason"):
        parts.append(f"reason: {payload['reason']}")
    if payload.get("required_enrollment"):
        parts.append(f"required enrollment: {payload['required_enrollment']}")
    return "; ".join(dict.fromkeys(parts))  # keep order, drop repeats (title+detail often repeat a message)


def _body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


class _HostSession(PinnedVerifySession):
    """The session of one :class:`XClient`: sends tweepy's requests to ``base_url`` and applies a timeout.

    The rewrite happens before the request is prepared, so an OAuth 1.0a signature covers the real URL.
    """

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        url = url.decode() if isinstance(url, bytes) else url
        method = method.decode() if isinstance(method, bytes) else method
        for origin in _TWEEPY_ORIGINS:
            if url.startswith(origin + "/"):
                url = self.base_url + url[len(origin) :]
                break
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)  # the session's CA wins over REQUESTS_CA_BUNDLE


class _Retryable(Exception):
    """Internal marker: a failure that another attempt may cure (5xx, connection error, timeout)."""

    def __init__(self, description: str, status: int | None) -> None:
        super().__init__(description)
        self.status = status


class XClient(tweepy.Client):
    """tweepy's API v2 ``Client`` with a configurable host and X-aware retries.

    Answers come back as plain dicts (``return_type=dict``): the source turns them into Arrow without building
    tweepy model objects first.

    :param bearer_token: app-only OAuth 2.0 bearer token.
    :param consumer_key: OAuth 1.0a consumer (API) key, for user-context requests.
    :param consumer_secret: OAuth 1.0a consumer secret.
    :param access_token: OAuth 1.0a access token of the user.
    :param access_token_secret: OAuth 1.0a access token secret.
    :param api_host: base URL of the API (scheme and host, optionally a port).
    :param timeout: seconds to wait for the server to connect and to send each part of an answer.
    :param verify: TLS verification: True, False or the path of a CA bundle.
    :param rate_limit_budget: total seconds this client may sleep waiting for rate-limit windows to reset. A 429
        whose reset lies beyond what is left fails at once with :class:`TwitterRateLimitError`.
    :param retry: backoff for 5xx answers and connection errors (per request).
    :param sleep: how to wait (tests pass a recorder; production uses :func:`time.sleep`).
    """

    def __init__(
        self,
        bearer_token: str | None = None,
        consumer_key: str | None = None,
        consumer_secret: str | None = None,
        access_token: str | None = None,
        access_token_secret: str | None = None,
        *,
        api_host: str = DEFAULT_API_HOST,
        timeout: float = 60.0,
        verify: bool | str = True,
        rate_limit_budget: float = 900.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            bearer_token,
            consumer_key,
            consumer_secret,
            access_token,
            access_token_secret,
            return_type=dict,
            wait_on_rate_limit=False,  # we wait ourselves, within a budget
        )
        if not api_host.startswith(("http://", "https://")):
            raise ValueError(f"api_host must be an http(s) URL such as {DEFAULT_API_HOST!r}, got {api_host!r}")
        self.session = _HostSession(api_host, timeout)
        self.session.verify = verify
        self.api_host = self.session.base_url
        self.rate_limit_budget = rate_limit_budget
        self.rate_limit_waited = 0.0
        self._blind_waits = 0
        self.retry = retry or RetryPolicy(budget=120.0, initial=1.0, maximum=30.0)
        self._sleep = sleep

    def request(  # type: ignore[override]
        self,
        method: str,
        route: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
        user_auth: bool = False,
    ) -> requests.Response:
        """One API call: rate-limit waits within the budget, transient failures retried, errors translated."""
        what = f"{method} {route}"
        while True:
            try:
                return retry_call(
                    lambda: self._request_once(method, route, params, json, user_auth),
                    self.retry,
                    retry_on=(_Retryable,),
                    what=f"X API {what}",
                    sleep=self._sleep,
                )
            except RetryError as error:
                last = error.last
                status = last.status if isinstance(last, _Retryable) else None
                raise TwitterUnavailableError(
                    f"X API {what} ({self.api_host}) still failing after {error.attempts} attempt(s) over "
                    f"{error.elapsed:.1f}s: {last}",
                    status=status,
                    route=route,
                ) from error
            except tweepy.TooManyRequests as error:
                self._wait_for_reset(error, what, route)

    def _make_request(self, method: str, route: str, *args: Any, **kwargs: Any) -> Any:
        """tweepy's request-and-decode step; an answer that is not a JSON object (a proxy's HTML page, a
        truncated body) becomes a :class:`TwitterError` instead of a decoding error deep in tweepy."""
        try:
            answer = super()._make_request(method, route, *args, **kwargs)
        except ValueError as error:  # requests' JSONDecodeError
            raise TwitterError(
                f"X API {method} {route} ({self.api_host}): the answer is not JSON: {error}", route=route
            ) from error
        if not isinstance(answer, dict):
            raise TwitterError(
                f"X API {method} {route} ({self.api_host}): expected a JSON object, got {str(answer)[:200]!r}",
                route=route,
            )
        return answer

    def _request_once(
        self, method: str, route: str, params: dict[str, Any] | None, json: Any, user_auth: bool
    ) -> requests.Response:
        what = f"X API {method} {route}"
        try:
            return super().request(method, route, params=params, json=json, user_auth=user_auth)
        except requests.exceptions.SSLError as error:  # a certificate problem does not cure itself
            raise TwitterError(
                f"{what}: {describe_tls_failure(error)}. Check the host, or the CA bundle set in the "
                "connection's 'verify' extra.",
                route=route,
            ) from error
        except (requests.ConnectionError, requests.Timeout) as error:
            raise _Retryable(f"{type(error).__name__}: {error}", None) from error
        except tweepy.TwitterServerError as error:
            status = error.response.status_code
            text = describe_api_errors(_body(error.response)) or error.response.reason
            if status in _RETRYABLE_STATUS:
                raise _Retryable(f"HTTP {status} {text}", status) from error
            raise TwitterUnavailableError(f"{what} failed: HTTP {status} {text}", status=status, route=route) from error
        except tweepy.TooManyRequests:
            raise
        except tweepy.HTTPException as error:
            raise self._translate(error, what, route) from error

    def _translate(self, error: tweepy.HTTPException, what: str, route: str) -> TwitterError:
        response = error.response
        status = response.status_code
        body = _body(response)
        text = describe_api_errors(body) or f"{status} {response.reason}"
        if status == 400:
            return TwitterRequestError(f"{what} rejected by X (400 Bad Request): {text}", status=status, route=route)
        if status == 401:
            return TwitterAuthError(
                f"{what}: X refused the credentials (401 Unauthorized: {text}). The bearer token or OAuth 1.0a keys "
                "in the connection are wrong, expired or revoked; generate new ones in the X developer portal.",
                status=status,
                route=route,
            )
        if status == 403:
            codes = set(error.api_codes)
            problem = body.get("type", "") if isinstance(body, dict) else ""
            if 453 in codes or problem.endswith("/client-forbidden"):
                return TwitterAccessError(
                    f"{what}: the access tier of this X app does not include this endpoint (403"
                    f"{', code 453' if 453 in codes else ''}: {text}). Full-archive search needs Pro or Enterprise "
                    "access, search and timelines need Basic or higher, and the app must belong to a Project.",
                    status=status,
                    route=route,
                )
            return TwitterAccessError(f"{what}: forbidden by X (403: {text})", status=status, route=route)
        if status == 404:
            return TwitterNotFoundError(f"{what}: not found (404: {text})", status=status, route=route)
        return TwitterError(f"{what} failed: HTTP {status} {text}", status=status, route=route)

    def _wait_for_reset(self, error: tweepy.TooManyRequests, what: str, route: str) -> None:
        """Sleep until the rate-limit window resets if the budget allows it, else raise a clear error."""
        body = _body(error.response)
        if isinstance(body, dict) and (
            body.get("title") == "UsageCapExceeded" or str(body.get("type", "")).endswith("/usage-capped")
        ):
            raise TwitterUsageCapError(
                f"X API {what}: the post cap of this X project is used up ({describe_api_errors(body)}). Reads "
                "stay refused until the cap resets (see the usage page of the developer portal) or the access tier "
                "is upgraded; waiting for the rate-limit window does not help.",
                status=429,
                route=route,
            ) from error
        left = self.rate_limit_budget - self.rate_limit_waited
        reset_at = float(error.reset_time) if error.reset_time is not None else None
        if reset_at is None:
            # No reset header: X always sends one, but a proxy might not. Wait a short, growing while.
            self._blind_waits += 1
            wait = min(2.0**self._blind_waits, 60.0)
        else:
            wait = max(reset_at - time.time(), 0.0) + 1.0  # the window resets at the start of that second
        if wait > left:
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(reset_at)) if reset_at is not None else "unknown"
            limit = error.response.headers.get("x-rate-limit-limit", "?")
            raise TwitterRateLimitError(
                f"X API {what}: rate limit reached (429; limit {limit} requests per window). The window resets at "
                f"{when}, {wait:.0f}s from now, which is beyond the remaining rate-limit wait budget of "
                f"{max(left, 0):.0f}s (rate_limit_budget={self.rate_limit_budget:.0f}s). Retry the task later, lower "
                "the request rate or raise the budget.",
                reset_at=reset_at,
                status=429,
                route=route,
            ) from error
        log.warning(
            "X API %s: rate limit reached; waiting %.0fs for the window to reset (%.0fs of the %.0fs budget left)",
            what,
            wait,
            left,
            self.rate_limit_budget,
        )
        self.rate_limit_waited += wait
        self._sleep(wait)
