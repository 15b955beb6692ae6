"""X (Twitter) API v2 as a source: posts, and the users, media, places and polls they expand to, into Arrow.

* :mod:`.client` -- :class:`XClient`, a tweepy ``Client`` pointed at any host that survives X's rate limits, and
  the errors it raises;
* :mod:`.schema` -- the Arrow schemas of posts and expanded objects, and X's JSON to Arrow batches;
* :mod:`.source` -- :class:`TwitterPostsSource`, one endpoint paged into batches, incremental by ``since_id``.
"""

from __future__ import annotations

from airflow_zaloni.sources.twitter import client, schema, source
from airflow_zaloni.sources.twitter.client import *  # noqa: F403 (each module's __all__ is the package's API)
from airflow_zaloni.sources.twitter.schema import *  # noqa: F403
from airflow_zaloni.sources.twitter.source import *  # noqa: F403

__all__ = [*client.__all__, *schema.__all__, *source.__all__]
