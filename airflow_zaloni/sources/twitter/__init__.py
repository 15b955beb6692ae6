"""X (Twitter) API v2 as a source: posts, and the users, media, places and polls they expand to, into Arrow.

* :mod:`.client` -- :class:`XClient`, a tweepy ``Client`` pointed at any host that survives X's rate limits, and
  the errors it raises;
* :mod:`.schema` -- the Arrow schemas of posts and expanded objects, and X's JSON to Arrow batches;
* :mod:`.source` -- :class:`TwitterPostsSource`, one endpoint paged into batches, incremental by ``since_id``.
"""

from __future__ import annotations

from airflow_zaloni.sources.twitter.client import (
    DEFAULT_API_HOST,
    TwitterAccessError,
    TwitterAuthError,
    TwitterError,
    TwitterNotFoundError,
    TwitterRateLimitError,
    TwitterRequestError,
    TwitterUnavailableError,
    TwitterUsageCapError,
    XClient,
    describe_api_errors,
)
from airflow_zaloni.sources.twitter.schema import (
    MEDIA_SCHEMA,
    PLACE_SCHEMA,
    POLL_SCHEMA,
    POST_SCHEMA,
    USER_SCHEMA,
    to_batch,
)
from airflow_zaloni.sources.twitter.source import (
    DEFAULT_EXPANSIONS,
    DEFAULT_MEDIA_FIELDS,
    DEFAULT_PLACE_FIELDS,
    DEFAULT_TWEET_FIELDS,
    DEFAULT_USER_FIELDS,
    ENDPOINTS,
    EXPANSION_KINDS,
    INCLUDE_KINDS,
    Endpoint,
    IncludedObjectsSource,
    IncludeKind,
    IncludesCollector,
    TwitterPostsSource,
    include_kinds_for,
)

__all__ = [
    "DEFAULT_API_HOST",
    "DEFAULT_EXPANSIONS",
    "DEFAULT_MEDIA_FIELDS",
    "DEFAULT_PLACE_FIELDS",
    "DEFAULT_TWEET_FIELDS",
    "DEFAULT_USER_FIELDS",
    "ENDPOINTS",
    "EXPANSION_KINDS",
    "INCLUDE_KINDS",
    "MEDIA_SCHEMA",
    "PLACE_SCHEMA",
    "POLL_SCHEMA",
    "POST_SCHEMA",
    "USER_SCHEMA",
    "Endpoint",
    "IncludeKind",
    "IncludedObjectsSource",
    "IncludesCollector",
    "TwitterAccessError",
    "TwitterAuthError",
    "TwitterError",
    "TwitterNotFoundError",
    "TwitterPostsSource",
    "TwitterRateLimitError",
    "TwitterRequestError",
    "TwitterUnavailableError",
    "TwitterUsageCapError",
    "XClient",
    "describe_api_errors",
    "include_kinds_for",
    "to_batch",
]
