"""Land X (Twitter) posts about Apache Airflow in the lake every hour, with their authors, media and places.

Needs a connection ``twitter_default`` of type ``twitter`` with the app's bearer token in its Password field
(Basic access or higher: the Free tier cannot search). Without that connection the DAG is skipped with a message
that says so, instead of failing.

Each run asks only for posts newer than the last committed one (the ``since_id`` watermark of the dataset), so the
posts land once. The datasets ``raw/twitter/airflow_posts`` (posts) and ``airflow_posts_users``,
``airflow_posts_media``, ``airflow_posts_places`` (what the expansions bring) are published in one commit.
``max_pages`` caps what one run may read, to protect the monthly post cap.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from airflow_zaloni.operators.twitter import TwitterToLakeOperator
from airflow_zaloni.utils.connections import require_connection

CONN_ID = "twitter_default"

with DAG(
    dag_id="zaloni_twitter_ingest",
    schedule="@hourly",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    params={"query": "#ApacheAirflow -is:retweet"},
    tags=["zaloni", "dca", "twitter"],
    doc_md=__doc__,
):

    @task
    def check_connection() -> str:
        """Skip the run, with a clear message, when no X connection is configured."""
        return require_connection(CONN_ID, "type 'twitter', with the X app's bearer token in its Password field")

    land = TwitterToLakeOperator(
        task_id="land_posts",
        twitter_conn_id=CONN_ID,
        dataset="airflow_posts",
        endpoint="recent_search",
        query="{{ params.query }}",
        expansions=["author_id", "attachments.media_keys", "geo.place_id"],
        max_pages=20,
    )

    check_connection() >> land
