"""Hook for the X (Twitter) API v2: a tweepy client built from an Airflow connection of type ``twitter``.

Connection fields:

* **Password**: the app's OAuth 2.0 bearer token (app-only auth, what searches and timelines need).
* **Host**: API base URL, default ``https://api.x.com`` (a proxy or a test server may be set here).
* Extra fields ``consumer_key``, ``consumer_secret``, ``access_token``, ``access_token_secret``: OAuth 1.0a user
  context, used when ``auth_type`` is ``oauth1`` (or when there is no bearer token).
* Extra ``auth_type`` (``bearer`` / ``oauth1``), ``verify`` (``true``/``false`` or a CA bundle path), ``timeout``
  (seconds), ``rate_limit_budget`` (seconds the task may wait for rate-limit windows; default 900).

Every secret is registered with Airflow's secrets masker before the client exists, so none of them reaches a task
log (tweepy's debug log prints request headers, including the bearer token).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from airflow_zaloni.sources.twitter.client import DEFAULT_API_HOST, XClient
from airflow_zaloni.utils.retry import RetryPolicy
from airflow_zaloni.utils.tls import verify_setting

try:  # the Task SDK's masker (Airflow 3)
    from airflow.sdk.log import mask_secret
except ImportError:  # pragma: no cover - older layouts
    from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef]

_OAUTH1_FIELDS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
_SECRET_FIELDS = ("consumer_secret", "access_token", "access_token_secret")


class TwitterHook(BaseHook):
    """Builds an :class:`~airflow_zaloni.sources.twitter.client.XClient` (tweepy ``Client``) from a connection.

    :param twitter_conn_id: connection of type ``twitter``.
    :param rate_limit_budget: seconds the client may wait in total for rate-limit windows to reset; overrides the
        connection's ``rate_limit_budget`` extra.
    :param retry: backoff for 5xx answers and connection errors.
    """

    conn_name_attr = "twitter_conn_id"
    default_conn_name = "twitter_default"
    conn_type = "twitter"
    hook_name = "Twitter / X"

    def __init__(
        self,
        twitter_conn_id: str = default_conn_name,
        *,
        rate_limit_budget: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__()
        self.twitter_conn_id = twitter_conn_id
        self.rate_limit_budget = rate_limit_budget
        self.retry = retry

    @cached_property
    def _settings(self) -> dict[str, Any]:
        conn = self.get_connection(self.twitter_conn_id)
        extra = conn.extra_dejson

        def field(name: str) -> Any:
            value = extra.get(name, extra.get(f"extra__twitter__{name}"))
            return value if value not in ("", None) else None

        oauth1 = {name: field(name) for name in _OAUTH1_FIELDS}
        bearer = conn.password or field("bearer_token")
        default_auth = "oauth1" if not bearer and any(oauth1.values()) else "bearer"
        auth_type = (field("auth_type") or default_auth).lower()
        if auth_type not in ("bearer", "oauth1"):
            raise ValueError(
                f"connection {self.twitter_conn_id!r}: auth_type must be 'bearer' or 'oauth1', got {auth_type!r}"
            )
        if auth_type == "bearer" and not bearer:
            raise ValueError(
                f"connection {self.twitter_conn_id!r} has no bearer token: put the app's bearer token in the "
                "Password field, or fill the OAuth 1.0a fields and set auth_type to 'oauth1'"
            )
        if auth_type == "oauth1" and not all(oauth1.values()):
            missing = ", ".join(name for name, value in oauth1.items() if not value)
            raise ValueError(f"connection {self.twitter_conn_id!r}: OAuth 1.0a user context needs {missing}")
        for secret in (bearer, *(oauth1[name] for name in _SECRET_FIELDS)):
            if secret:
                mask_secret(secret)
        host = (conn.host or "").strip() or DEFAULT_API_HOST
        if "://" not in host:
            scheme = conn.schema or "https"
            host = f"{scheme}://{host}"
        if conn.port and host.count(":") < 2:
            host = f"{host}:{conn.port}"
        budget = self.rate_limit_budget if self.rate_limit_budget is not None else field("rate_limit_budget")
        return {
            "bearer_token": bearer,
            **oauth1,
            "auth_type": auth_type,
            "api_host": host,
            "verify": verify_setting(field("verify")),
            "timeout": float(field("timeout") or 60),
            "rate_limit_budget": float(budget if budget is not None else 900),
        }

    @property
    def user_auth(self) -> bool:
        """Whether requests use OAuth 1.0a user context (``auth_type`` ``oauth1``) rather than the bearer token."""
        return bool(self._settings["auth_type"] == "oauth1")

    @property
    def api_host(self) -> str:
        return str(self._settings["api_host"])

    def get_conn(self) -> XClient:
        """The client of this hook (one per hook, so the rate-limit budget is shared by all its calls)."""
        return self._client

    @cached_property
    def _client(self) -> XClient:
        s = self._settings
        return XClient(
            s["bearer_token"],
            s["consumer_key"],
            s["consumer_secret"],
            s["access_token"],
            s["access_token_secret"],
            api_host=s["api_host"],
            timeout=s["timeout"],
            verify=s["verify"],
            rate_limit_budget=s["rate_limit_budget"],
            retry=self.retry,
        )

    def test_connection(self) -> tuple[bool, str]:
        """Check the credentials without reading posts (the monthly post cap is not touched).

        OAuth 1.0a: ``GET /2/users/me``; bearer token: ``GET /2/usage/tweets``.
        """
        try:
            client = self.get_conn()
            if self.user_auth:
                me = client.get_me(user_auth=True)
                return True, f"Connected to {self.api_host} as @{me['data']['username']}"
            client.request("GET", "/2/usage/tweets")
            return True, f"Connected to {self.api_host} with the app's bearer token"
        except Exception as error:
            return False, str(error)
