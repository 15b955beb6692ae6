"""Errors of the Salesforce source, and how Salesforce's error answers are read and classified.

Salesforce answers a failed REST or Bulk API 2.0 call with a JSON list ``[{"message": ..., "errorCode": ...}]``
(OAuth endpoints use ``{"error": ..., "error_description": ...}``). The classification below decides what the
client does next: retry with backoff (server errors, row locks, query timeouts), wait for a concurrency slot,
re-authenticate once (expired session), or stop with a clear message.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_zaloni.sources.base import SourceError

#: Error codes worth another try after a pause: the same request can succeed a moment later.
TRANSIENT_ERROR_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "QUERY_TIMEOUT", "SERVER_UNAVAILABLE"})


class SalesforceApiError(SourceError):
    """Salesforce refused or failed a call; names the call, the HTTP status and Salesforce's error code."""

    def __init__(self, what: str, status: int, error_code: str, message: str) -> None:
        super().__init__(f"{what}: HTTP {status} {error_code}: {message}")
        self.what = what
        self.status = status
        self.error_code = error_code
        self.sf_message = message

    @classmethod
    def from_response(cls, what: str, status: int, body: bytes) -> SalesforceApiError:
        """Build the error from a response body in any of Salesforce's error shapes."""
        code, message = parse_error_body(body)
        if is_concurrency_limit(status, code, message):
            return ConcurrencyLimitError(what, status, code, message)
        if status >= 500 or code in TRANSIENT_ERROR_CODES:
            return TransientApiError(what, status, code, message)
        if code == "INVALID_SESSION_ID":
            return SessionExpiredError(what, status, code, message)
        return cls(what, status, code, message)


class TransientApiError(SalesforceApiError):
    """A server error, a locked row or a query timeout: retried with backoff."""


class ConcurrencyLimitError(SalesforceApiError):
    """The org's concurrent long-running request limit (or HTTP 429): wait for a free slot and resume."""


class SessionExpiredError(SalesforceApiError):
    """``INVALID_SESSION_ID``: the access token expired or was revoked; the client re-authenticates once."""


class ApiBudgetExceeded(SourceError):
    """Reading would use more of the org's daily API requests than the configured share allows."""


class BulkJobError(SourceError):
    """A Bulk API 2.0 query job failed, was aborted, or did not finish in the allowed time."""

    def __init__(self, message: str, *, job_id: str, state: str, timed_out: bool = False) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.state = state
        #: True when Salesforce gave up because the query ran too long: a narrower query may succeed.
        self.timed_out = timed_out


def parse_error_body(body: bytes) -> tuple[str, str]:
    """Return ``(errorCode, message)`` from a Salesforce error body, whatever its shape."""
    try:
        data: Any = json.loads(body or b"null")
    except ValueError:
        return "UNKNOWN", body[:500].decode("utf-8", "replace").strip() or "(empty body)"
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    if isinstance(data, dict):
        code = data.get("errorCode") or data.get("error") or "UNKNOWN"
        message = data.get("message") or data.get("error_description") or ""
        return str(code), str(message)
    return "UNKNOWN", str(data)[:500]


def is_concurrency_limit(status: int, code: str, message: str) -> bool:
    """Whether the answer says "too many requests at once" (retry later) rather than "daily limit spent"."""
    if status == 429:
        return True
    return code in {"REQUEST_LIMIT_EXCEEDED", "LIMIT_EXCEEDED"} and "concurrent" in message.lower()
